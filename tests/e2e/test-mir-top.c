/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine's top-only copy (MIR_COPY_TOP_ONLY, --copy-storage-inc) with
 * real servers: a qcow2 top over a base (raw, or qcow2 with holes) whose
 * data the top does not all cover, read through qemu-nbd -r -A, copied into
 * qemu-nbd serving a new qcow2 over the same base. The destination must
 * read identical to the source, and its top must allocate no cluster the
 * source's top does not (the base's data stays in the base). Also: without
 * qemu:allocation-depth the open is refused; without the pass flag the
 * same copy puts the base into the top (so the allocation check can fail).
 * Exits 77 without qemu-img/qemu-io/qemu-nbd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mir-sync.h"
#include "util.h"

#define TEST_ALARM_S 240
#define CMD_TIMEOUT  60
#define MIB          (1024u * 1024)
#define DISK_SIZE    (24u * MIB)

struct env {
    char dir[64];
    char base[128], top[128], dst[128];
    char src_sock[128], dst_sock[128];
    pid_t src_pid, dst_pid;
};

/* Runs ARGV (NULL-terminated) with a time limit; its stdout (up to MAX-1
 * bytes) into OUT when OUT is not NULL. Returns the exit status, or -1. */
static int run(const char *const argv[], char *out, size_t max)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null < 0 || dup2(null, 0) < 0 || dup2(pfd[1], 1) < 0 || dup2(null, 2) < 0)
            _exit(126);
        alarm(CMD_TIMEOUT);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t len = 0;
    char sink[4096];
    for (;;) {
        char *p = out && len + 1 < max ? out + len : sink;
        size_t room = out && len + 1 < max ? max - 1 - len : sizeof(sink);
        ssize_t n = read(pfd[0], p, room);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (p != sink)
            len += (size_t)n;
    }
    close(pfd[0]);
    if (out)
        out[len] = '\0';
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void must_run(const char *const argv[])
{
    int r = run(argv, NULL, 0);
    if (r != 0)
        fail_msg("%s %s failed (%d)", argv[0], argv[1], r);
}

static bool have(const char *prog)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

/* qemu-nbd on SOCK serving IMG (qcow2) with ARGS; waits (10 s at most) for
 * the socket. */
static pid_t start_nbd(const char *sock, const char *img, const char *a1, const char *a2)
{
    const char *argv[16];
    unsigned n = 0;
    argv[n++] = "qemu-nbd";
    argv[n++] = "-t";
    argv[n++] = "-k";
    argv[n++] = sock;
    argv[n++] = "-f";
    argv[n++] = "qcow2";
    if (a1)
        argv[n++] = a1;
    if (a2)
        argv[n++] = a2;
    argv[n++] = img;
    argv[n] = NULL;
    unlink(sock);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0)
            _exit(126);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) {
        struct stat st;
        if (stat(sock, &st) == 0 && S_ISSOCK(st.st_mode))
            return pid;
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("qemu-nbd on %s did not start", sock);
    return -1;
}

static void stop_nbd(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGTERM);
        waitpid(*pid, NULL, 0);
        *pid = 0;
    }
}

static void qemu_io(const char *fmt, const char *img, const char *const cmds[])
{
    const char *argv[40];
    unsigned n = 0;
    argv[n++] = "qemu-io";
    argv[n++] = "-f";
    argv[n++] = fmt;
    for (unsigned i = 0; cmds[i]; i++) {
        argv[n++] = "-c";
        argv[n++] = cmds[i];
    }
    argv[n++] = img;
    argv[n] = NULL;
    must_run(argv);
}

/* The chain: BASE (BASE_FMT) with data over 0-8 MiB and 12-14 MiB (and,
 * as qcow2, holes elsewhere); TOP qcow2 over it with writes of its own:
 * over the base's data, partly over it (one cluster copied up), where the
 * base has nothing, zeros over the base's data, and a discard. The
 * destination: DST, a new qcow2 over the same base. */
static void make_chain(struct env *e, const char *base_fmt)
{
    snprintf(e->base, sizeof(e->base), "%s/base.%s", e->dir, base_fmt);
    char size[32];
    snprintf(size, sizeof(size), "%u", DISK_SIZE);
    const char *mk_base[] = {"qemu-img", "create", "-q", "-f", base_fmt, e->base, size, NULL};
    must_run(mk_base);
    const char *base_w[] = {"write -P 0x11 0 8M", "write -P 0x12 12M 2M", NULL};
    qemu_io(base_fmt, e->base, base_w);

    const char *mk_top[] = {"qemu-img", "create", "-q",     "-f",   "qcow2", "-b",
                            e->base,    "-F",     base_fmt, e->top, NULL};
    must_run(mk_top);
    const char *top_w[] = {"write -P 0x21 1M 256k",  /* over the base's data */
                           "write -P 0x22 3M 512",   /* one cluster copied up */
                           "write -P 0x23 9M 1M",    /* where the base has nothing */
                           "write -z 5M 128k",       /* zeros over the base's data */
                           "write -P 0x24 23M 512k", /* the end of the disk */
                           "discard 13M 64k",        /* a discard over the base's data */
                           "write -P 0x25 20M 4k",   /* a lone 4 KiB in a hole of both */
                           NULL};
    qemu_io("qcow2", e->top, top_w);

    const char *mk_dst[] = {"qemu-img", "create", "-q",     "-f",   "qcow2", "-b",
                            e->base,    "-F",     base_fmt, e->dst, NULL};
    must_run(mk_dst);
}

/* Ranges IMG allocates in its own file (qemu-img map depth 0), in order. */
static void top_ranges(const char *img, struct mir_extent_list *ret)
{
    char *out = calloc(1, 1 << 20);
    assert_non_null(out);
    const char *argv[] = {"qemu-img", "map", "-U", "--output=json", img, NULL};
    assert_int_equal(run(argv, out, 1 << 20), 0);
    json_object *map = json_tokener_parse(out);
    free(out);
    assert_non_null(map);
    assert_true(json_object_is_type(map, json_type_array));
    for (size_t i = 0; i < json_object_array_length(map); i++) {
        json_object *ent = json_object_array_get_idx(map, i), *v;
        assert_true(json_object_object_get_ex(ent, "depth", &v));
        if (json_object_get_int(v) != 0)
            continue;
        uint64_t start, len;
        assert_true(json_object_object_get_ex(ent, "start", &v));
        start = (uint64_t)json_object_get_int64(v);
        assert_true(json_object_object_get_ex(ent, "length", &v));
        len = (uint64_t)json_object_get_int64(v);
        assert_int_equal(mir_extent_list_add(ret, start, len), 0);
    }
    json_object_put(map);
    mir_extent_list_normalize(ret);
}

/* Bytes of A not covered by B (both normalized). */
static uint64_t not_covered(const struct mir_extent_list *a, const struct mir_extent_list *b)
{
    uint64_t out = 0;
    for (size_t i = 0; i < a->n; i++) {
        uint64_t pos = a->v[i].offset, end = pos + a->v[i].length;
        for (size_t j = 0; j < b->n && pos < end; j++) {
            uint64_t bs = b->v[j].offset, be = bs + b->v[j].length;
            if (be <= pos)
                continue;
            if (bs >= end)
                break;
            if (bs > pos)
                out += bs - pos;
            pos = be;
        }
        if (pos < end)
            out += end - pos;
    }
    return out;
}

static bool identical(const struct env *e)
{
    const char *argv[] = {"qemu-img", "compare", "-q", "-U", e->top, e->dst, NULL};
    return run(argv, NULL, 0) == 0;
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    snprintf(e->dir, sizeof(e->dir), "/tmp/ferry-mir-top-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->top, sizeof(e->top), "%s/top.qcow2", e->dir);
    snprintf(e->dst, sizeof(e->dst), "%s/dst.qcow2", e->dir);
    snprintf(e->src_sock, sizeof(e->src_sock), "%s/src.sock", e->dir);
    snprintf(e->dst_sock, sizeof(e->dst_sock), "%s/dst.sock", e->dir);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    stop_nbd(&e->src_pid);
    stop_nbd(&e->dst_pid);
    const char *files[] = {e->base, e->top, e->dst, e->src_sock, e->dst_sock};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (files[i][0])
            unlink(files[i]);
    rmdir(e->dir);
    free(e);
    return 0;
}

/* Opens SRC -> DST as the engine, copies once with FLAGS, flushes. */
static int copy_chain(struct env *e, bool top_only, unsigned flags, struct ferry_error *err)
{
    char src_uri[200], dst_uri[200];
    snprintf(src_uri, sizeof(src_uri), "nbd+unix:///?socket=%s", e->src_sock);
    snprintf(dst_uri, sizeof(dst_uri), "nbd+unix:///?socket=%s", e->dst_sock);
    struct mir_disk_config cfg = {
        .name = "vda", .source_uri = src_uri, .target_uri = dst_uri, .top_only = top_only};
    struct mir_copy_opts opts = {.request_size = 256 * 1024, .io_timeout_ms = 30000};
    struct mir_disk *d = NULL;
    int r = mir_disk_open(&cfg, &opts, &d, err);
    if (r < 0)
        return r;
    r = mir_disk_copy(d, NULL, flags, err);
    if (r >= 0) {
        struct mir_progress p;
        mir_disk_progress(d, &p);
        printf("  copied %" PRIu64 " zeroed %" PRIu64 " skipped %" PRIu64 " bytes\n", p.copied,
               p.zeroed, p.skipped);
        r = mir_disk_flush(d, err);
    }
    mir_disk_free(d);
    return r;
}

static void top_only_copy(void **state, const char *base_fmt)
{
    struct env *e = *state;
    struct ferry_error err = {0};
    make_chain(e, base_fmt);
    e->src_pid = start_nbd(e->src_sock, e->top, "-r", "-A");
    e->dst_pid = start_nbd(e->dst_sock, e->dst, "--discard=unmap", NULL);

    int r = copy_chain(e, true, MIR_COPY_TOP_ONLY, &err);
    if (r < 0)
        fail_msg("top-only copy: %s", ferry_error_msg(&err));
    stop_nbd(&e->dst_pid);
    stop_nbd(&e->src_pid);

    assert_true(identical(e));
    struct mir_extent_list src_top, dst_top;
    mir_extent_list_init(&src_top);
    mir_extent_list_init(&dst_top);
    top_ranges(e->top, &src_top);
    top_ranges(e->dst, &dst_top);
    uint64_t extra = not_covered(&dst_top, &src_top);
    printf("  top allocates %" PRIu64 " bytes on the source, %" PRIu64
           " on the destination, %" PRIu64 " of them not in the source's top\n",
           mir_extent_list_bytes(&src_top), mir_extent_list_bytes(&dst_top), extra);
    /* The base's data (10 MiB) must not have travelled into the top. */
    assert_int_equal(extra, 0);
    /* Everything the source's top holds is in the destination's top. */
    assert_int_equal(not_covered(&src_top, &dst_top), 0);
    mir_extent_list_clear(&src_top);
    mir_extent_list_clear(&dst_top);
}

static void test_top_only_raw_base(void **state)
{
    top_only_copy(state, "raw");
}

static void test_top_only_qcow2_base(void **state)
{
    top_only_copy(state, "qcow2");
}

/* The check above can fail: a full pass (what a dirty pass does) over the
 * same chain reads the base through the top and writes it into the
 * destination's top. */
static void test_full_pass_copies_base(void **state)
{
    struct env *e = *state;
    struct ferry_error err = {0};
    make_chain(e, "raw");
    e->src_pid = start_nbd(e->src_sock, e->top, "-r", "-A");
    e->dst_pid = start_nbd(e->dst_sock, e->dst, "--discard=unmap", NULL);
    int r = copy_chain(e, true, 0, &err);
    if (r < 0)
        fail_msg("full copy: %s", ferry_error_msg(&err));
    stop_nbd(&e->dst_pid);
    stop_nbd(&e->src_pid);
    assert_true(identical(e));
    struct mir_extent_list src_top, dst_top;
    mir_extent_list_init(&src_top);
    mir_extent_list_init(&dst_top);
    top_ranges(e->top, &src_top);
    top_ranges(e->dst, &dst_top);
    assert_true(not_covered(&dst_top, &src_top) >= 4 * MIB);
    mir_extent_list_clear(&src_top);
    mir_extent_list_clear(&dst_top);
}

/* No qemu:allocation-depth on the source: refused at open, nothing copied;
 * and a top-only pass on a disk not opened top_only is a caller error. */
static void test_refused_without_depth(void **state)
{
    struct env *e = *state;
    struct ferry_error err = {0};
    make_chain(e, "raw");
    e->src_pid = start_nbd(e->src_sock, e->top, "-r", NULL);
    e->dst_pid = start_nbd(e->dst_sock, e->dst, "--discard=unmap", NULL);
    int r = copy_chain(e, true, MIR_COPY_TOP_ONLY, &err);
    assert_int_equal(r, -ENOTSUP);
    assert_int_equal(err.code, ENOTSUP);
    assert_non_null(strstr(ferry_error_msg(&err), "qemu:allocation-depth"));
    assert_non_null(strstr(ferry_error_msg(&err), "disk 'vda'"));

    ferry_error_clear(&err);
    r = copy_chain(e, false, MIR_COPY_TOP_ONLY, &err);
    assert_int_equal(r, -EINVAL);
    assert_non_null(strstr(ferry_error_msg(&err), "top_only"));
    stop_nbd(&e->dst_pid);
    stop_nbd(&e->src_pid);

    /* Nothing was written: the destination's top is still empty. */
    struct mir_extent_list dst_top;
    mir_extent_list_init(&dst_top);
    top_ranges(e->dst, &dst_top);
    assert_int_equal(mir_extent_list_bytes(&dst_top), 0);
    mir_extent_list_clear(&dst_top);
}

/* A raw file source has no chain: top_only is a caller error. */
static void test_refused_for_file(void **state)
{
    (void)state;
    struct ferry_error err = {0};
    struct mir_disk_config cfg = {.name = "vda",
                                  .source_file = "/dev/null",
                                  .target_uri = "nbd+unix:///?socket=/nonexistent",
                                  .top_only = true};
    struct mir_disk *d = NULL;
    assert_int_equal(mir_disk_open(&cfg, NULL, &d, &err), -EINVAL);
    assert_null(d);
    assert_non_null(strstr(ferry_error_msg(&err), "NBD source"));
}

int main(void)
{
    const char *progs[] = {"qemu-img", "qemu-io", "qemu-nbd"};
    for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
        if (!have(progs[i])) {
            printf("SKIP: %s not installed\n", progs[i]);
            return 77;
        }
    alarm(TEST_ALARM_S);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_top_only_raw_base, setup, teardown),
        cmocka_unit_test_setup_teardown(test_top_only_qcow2_base, setup, teardown),
        cmocka_unit_test_setup_teardown(test_full_pass_copies_base, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_without_depth, setup, teardown),
        cmocka_unit_test(test_refused_for_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
