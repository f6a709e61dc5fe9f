/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mirror/sync.c's final pass against a real source QEMU and an nbdkit target
 * (file plugin behind the log filter, so every request the target sees is
 * on record, in the order nbdkit handled it). Checks, with and without
 * multi-conn on the target:
 *  - durability: after the last write or zero the target answered, the
 *    target handled a flush that succeeded, before mir_sync_final_pass()
 *    returned (whether that flush was sent between passes or by the final
 *    pass);
 *  - when the dirty passes have copied and flushed everything before the
 *    guest stops, the final pass sends the target nothing at all and
 *    leaves no export behind;
 *  - the target equals the source byte for byte.
 * Exits 77 without QEMU or nbdkit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry-config.h"
#include "mir-sync.h"
#include "qmp.h"
#include "util.h"

#define TEST_ALARM_S 120
#define CMD_MS       30000
#define DISK_SIZE    (32u * 1024 * 1024)
#define LOG_MAX      (64u * 1024 * 1024)

struct env {
    char dir[64];
    char src[128], dst[128], qmp_sock[160], qemu_log[160];
    char nbd_sock[160], nbd_log[160], uri[256];
    pid_t qemu, nbdkit;
    struct qmp_conn *qmp;
};

static const char *qemu_binary(void)
{
    const char *e = getenv("FERRY_QEMU");
    return e && *e ? e : FERRY_QEMU_BINARY;
}

static void run(const char *cmd)
{
    int r = system(cmd);
    if (r != 0)
        fail_msg("'%s' exited %d", cmd, r);
}

static pid_t spawn(const char *const argv[], const char *out)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int log = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (null < 0 || log < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
            _exit(126);
        execvp(argv[0], (char **)argv);
        _exit(127);
    }
    return pid;
}

static void stop_pid(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
        *pid = 0;
    }
}

static int env_setup(void **state)
{
    if (access(qemu_binary(), X_OK) != 0) {
        printf("SKIP: no %s\n", qemu_binary());
        exit(77);
    }
    if (system("command -v nbdkit >/dev/null") != 0) {
        printf("SKIP: nbdkit is not installed\n");
        exit(77);
    }
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    snprintf(e->dir, sizeof(e->dir), "/tmp/ferry-mir-final-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    snprintf(e->src, sizeof(e->src), "%s/src.img", e->dir);
    snprintf(e->dst, sizeof(e->dst), "%s/dst.img", e->dir);
    snprintf(e->qmp_sock, sizeof(e->qmp_sock), "%s/src.qmp", e->dir);
    snprintf(e->qemu_log, sizeof(e->qemu_log), "%s/qemu.log", e->dir);
    snprintf(e->nbd_sock, sizeof(e->nbd_sock), "%s/dst.nbd", e->dir);
    snprintf(e->nbd_log, sizeof(e->nbd_log), "%s/nbdkit-requests.log", e->dir);
    snprintf(e->uri, sizeof(e->uri), "nbd+unix:///?socket=%s", e->nbd_sock);
    *state = e;
    return 0;
}

static int env_teardown(void **state)
{
    struct env *e = *state;
    qmp_conn_free(e->qmp);
    stop_pid(&e->qemu);
    stop_pid(&e->nbdkit);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", e->dir);
    free(e);
    return 0;
}

/* Source: data at a few places, holes elsewhere; QEMU with the disk as
 * virtio-blk vda (format node f-vda over p-vda, as the agent does). The
 * target: a new sparse file served by nbdkit, every request logged. */
static void start(struct env *e, bool multi_conn)
{
    char cmd[600], qmp_arg[200], file_arg[300];
    snprintf(cmd, sizeof(cmd),
             "set -e; truncate -s %u %s; truncate -s %u %s;"
             "dd if=/dev/urandom of=%s bs=1M count=4 seek=3 conv=notrunc status=none;"
             "dd if=/dev/urandom of=%s bs=64k count=5 seek=300 conv=notrunc status=none",
             DISK_SIZE, e->src, DISK_SIZE, e->dst, e->src, e->src);
    run(cmd);

    snprintf(qmp_arg, sizeof(qmp_arg), "unix:%s,server=on,wait=off", e->qmp_sock);
    snprintf(file_arg, sizeof(file_arg),
             "driver=file,filename=%s,node-name=p-vda,discard=unmap,cache.direct=off", e->src);
    const char *qargv[] = {qemu_binary(),
                           "-nodefaults",
                           "-nographic",
                           "-machine",
                           "accel=kvm:tcg",
                           "-m",
                           "64",
                           "-qmp",
                           qmp_arg,
                           "-blockdev",
                           file_arg,
                           "-blockdev",
                           "driver=raw,file=p-vda,node-name=f-vda,discard=unmap",
                           "-device",
                           "virtio-blk-pci,drive=f-vda,id=vda",
                           NULL};
    e->qemu = spawn(qargv, e->qemu_log);
    struct ferry_error err = {0};
    if (qmp_conn_open(e->qmp_sock, 30000, &e->qmp, &err) < 0)
        fail_msg("qmp_conn_open: %s", ferry_error_msg(&err));

    char logfile[200];
    snprintf(logfile, sizeof(logfile), "logfile=%s", e->nbd_log);
    const char *nargv[] = {"nbdkit",
                           "-f",
                           "-U",
                           e->nbd_sock,
                           "--filter=log",
                           multi_conn ? "--filter=nofilter" : "--filter=multi-conn",
                           "file",
                           e->dst,
                           logfile,
                           multi_conn ? NULL : "multi-conn-mode=disable",
                           NULL};
    char out[200];
    snprintf(out, sizeof(out), "%s/nbdkit.out", e->dir);
    e->nbdkit = spawn(nargv, out);
    for (int i = 0; i < 200 && access(e->nbd_sock, F_OK) != 0; i++)
        usleep(50000);
    assert_int_equal(access(e->nbd_sock, F_OK), 0);
}

static void guest_write(struct env *e, uint64_t off, uint64_t len, int pattern)
{
    char cmd[256];
    struct ferry_error err = {0};
    char *out = NULL;
    snprintf(cmd, sizeof(cmd),
             "qemu-io -d /machine/peripheral/vda/virtio-backend \"write -P 0x%02x %" PRIu64
             " %" PRIu64 "\"",
             pattern, off, len);
    if (qmp_conn_hmp(e->qmp, cmd, CMD_MS, &out, &err) < 0)
        fail_msg("hmp: %s", ferry_error_msg(&err));
    if (out && strstr(out, "error"))
        fail_msg("qemu-io: %s", out);
    free(out);
}

static void some_writes(struct env *e, int pattern)
{
    guest_write(e, 512 * 1024, 64 * 1024, pattern);
    guest_write(e, 5u * 1024 * 1024 + 4096, 200 * 1024, pattern + 1);
    guest_write(e, DISK_SIZE - 1024 * 1024, 4096, pattern + 2);
}

/* What the target's request log says. */
struct log_facts {
    size_t bytes;     /* log size read */
    bool write_after; /* a write/zero/trim request at or after FROM */
    bool flush_after; /* a flush request at or after FROM */
    bool covered;     /* a successful flush was requested after the last
                         write/zero/trim was answered (or there was none) */
    unsigned writes;  /* write/zero/trim requests in the whole log */
};

static bool is_request(const char *line, const char *what)
{
    char pat[32];
    snprintf(pat, sizeof(pat), " %s id=", what); /* answers read "...What id=" */
    return strstr(line, pat) != NULL;
}

static bool is_answer(const char *line, const char *what)
{
    char pat[32];
    snprintf(pat, sizeof(pat), "...%s id=", what);
    return strstr(line, pat) != NULL;
}

static struct log_facts read_log(struct env *e, size_t from)
{
    struct log_facts f = {0};
    char *buf = NULL;
    size_t len = 0;
    if (ferry_read_file(e->nbd_log, LOG_MAX, &buf, &len, NULL) < 0)
        fail_msg("cannot read %s", e->nbd_log);
    f.bytes = len;
    /* Flush requests after the last answered write: "connection=C Flush
     * id=N" then "connection=C ...Flush id=N return=0". */
    char pending[16][64];
    unsigned npending = 0;
    bool covered = true;
    size_t pos = 0;
    for (char *line = buf, *next; line && *line; line = next, pos = (size_t)(line - buf)) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        bool at_from = pos >= from;
        bool w_req =
            is_request(line, "Write") || is_request(line, "Zero") || is_request(line, "Trim");
        if (w_req) {
            f.writes++;
            f.write_after |= at_from;
        }
        if (is_answer(line, "Write") || is_answer(line, "Zero") || is_answer(line, "Trim")) {
            covered = false;
            npending = 0; /* flushes sent before this answer do not cover it */
        }
        if (is_request(line, "Flush")) {
            f.flush_after |= at_from;
            const char *c = strstr(line, "connection=");
            const char *id = strstr(line, "Flush id=");
            if (c && id && npending < 16)
                snprintf(pending[npending++], sizeof(pending[0]), "%.*s ...Flush id=%d ",
                         (int)strcspn(c, " "), c, atoi(id + 9));
        }
        if (is_answer(line, "Flush") && strstr(line, "return=0")) {
            for (unsigned i = 0; i < npending; i++)
                if (strstr(line, pending[i]))
                    covered = true;
        }
    }
    f.covered = covered;
    free(buf);
    return f;
}

static void check_equal(struct env *e)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "cmp %s %s", e->src, e->dst);
    run(cmd);
}

static size_t count_exports(struct env *e)
{
    struct ferry_error err = {0};
    struct json_object *ret = NULL;
    assert_int_equal(qmp_conn_execute(e->qmp, "query-block-exports", NULL, CMD_MS, &ret, &err), 0);
    size_t n = json_object_array_length(ret);
    json_object_put(ret);
    return n;
}

static struct mir_sync *session(struct env *e)
{
    struct ferry_error err = {0};
    struct mir_sync_disk disk = {
        .target = "vda",
        .source_path = e->src,
        .source_format = "raw",
        .dest_uri = e->uri,
        .dest_is_zero = true,
    };
    struct mir_sync_opts opts = {.socket_dir = e->dir, .converge_bytes = 1024 * 1024};
    struct mir_sync *s = NULL;
    if (mir_sync_new(e->qmp, &disk, 1, &opts, &s, &err) < 0)
        fail_msg("mir_sync_new: %s", ferry_error_msg(&err));
    if (mir_sync_start(s, &err) < 0)
        fail_msg("mir_sync_start: %s", ferry_error_msg(&err));
    if (mir_sync_wait_converged(s, 60000, &err) < 0)
        fail_msg("wait_converged: %s", ferry_error_msg(&err));
    return s;
}

static void final_pass(struct env *e, struct mir_sync *s)
{
    struct ferry_error err = {0};
    int64_t ms = -1;
    struct json_object *none = NULL;
    if (qmp_conn_execute(e->qmp, "stop", NULL, CMD_MS, &none, &err) < 0)
        fail_msg("stop: %s", ferry_error_msg(&err));
    json_object_put(none);
    if (mir_sync_final_pass(s, &ms, &err) < 0)
        fail_msg("final pass: %s", ferry_error_msg(&err));
    assert_true(ms >= 0);
}

/* Writes copied and flushed by the dirty passes while the guest ran: the
 * final pass must not touch the target, and leaves no export. */
static void clean_switchover(struct env *e, bool multi_conn)
{
    start(e, multi_conn);
    struct mir_sync *s = session(e);
    some_writes(e, 0x31);
    /* Wait (bounded) until the dirty passes have copied those writes (the
     * target equals the source) and the target has flushed after them. */
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "cmp -s %s %s", e->src, e->dst);
    struct log_facts f = {0};
    bool copied = false;
    for (int i = 0; i < 600; i++) {
        copied = copied || system(cmd) == 0;
        if (copied && (f = read_log(e, 0)).covered)
            break;
        usleep(50000);
    }
    assert_true(copied);
    assert_true(f.covered);
    final_pass(e, s);
    struct log_facts g = read_log(e, f.bytes);
    printf("# %s: %u write requests; final pass: write %d flush %d\n",
           multi_conn ? "multi-conn" : "one connection", g.writes, g.write_after, g.flush_after);
    assert_false(g.write_after);
    assert_false(g.flush_after);
    assert_true(g.covered);
    assert_int_equal(count_exports(e), 0);
    mir_sync_free(s);
    check_equal(e);
}

static void test_final_clean_multi_conn(void **state)
{
    clean_switchover(*state, true);
}

static void test_final_clean_one_connection(void **state)
{
    clean_switchover(*state, false);
}

/* Writes right before the pause: whatever the final pass copies is flushed
 * before it returns. */
static void dirty_switchover(struct env *e, bool multi_conn)
{
    start(e, multi_conn);
    struct mir_sync *s = session(e);
    for (int k = 0; k < 5; k++) {
        some_writes(e, 0x40 + 3 * k);
        usleep(30000);
    }
    some_writes(e, 0x60);
    final_pass(e, s);
    struct log_facts g = read_log(e, 0);
    printf("# %s: %u write requests, covered by a flush: %d\n",
           multi_conn ? "multi-conn" : "one connection", g.writes, g.covered);
    assert_true(g.writes > 0);
    assert_true(g.covered);
    mir_sync_free(s);
    assert_int_equal(count_exports(e), 0);
    check_equal(e);
}

static void test_final_dirty_multi_conn(void **state)
{
    dirty_switchover(*state, true);
}

static void test_final_dirty_one_connection(void **state)
{
    dirty_switchover(*state, false);
}

int main(void)
{
    alarm(TEST_ALARM_S);
    if (getenv("FERRY_TEST_DEBUG"))
        ferry_log_set_level(FERRY_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_final_clean_multi_conn, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_final_clean_one_connection, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_final_dirty_multi_conn, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_final_dirty_one_connection, env_setup, env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
