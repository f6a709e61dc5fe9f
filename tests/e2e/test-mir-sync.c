/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* mirror/sync.c against real QEMUs: a source QEMU with a disk (raw, raw with
 * cache=none, or qcow2 read through an NBD export) and a destination QEMU
 * (-incoming defer) exporting a writable target. Guest writes are injected
 * through the device (qemu-io on virtio-backend) before the session, during
 * the bulk pass, between dirty passes and after convergence; then the source
 * stops, the final pass runs, and the destination image must equal the
 * source byte for byte. Also: cancel mid-copy leaves no bitmap or export
 * behind. Exits 77 without QEMU. */
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

#define TEST_ALARM_S 150
#define CMD_MS       30000
#define DISK_SIZE    (48u * 1024 * 1024)

struct vm {
    pid_t pid;
    char sock[160];
    char log[160];
    struct qmp_conn *qmp;
};

#define MAX_DISKS 2
static const char *const DEVS[MAX_DISKS] = {"vda", "vdb"};

struct env {
    char dir[64];
    unsigned ndisks;
    char src[MAX_DISKS][128];
    char dst[MAX_DISKS][128];
    struct vm s, d;
};

static const char *qemu_binary(void)
{
    const char *e = getenv("FERRY_QEMU");
    return e && *e ? e : FERRY_QEMU_BINARY;
}

static void dump_log(const struct vm *vm)
{
    char buf[4096];
    FILE *f = fopen(vm->log, "re");
    if (!f)
        return;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    if (n)
        fprintf(stderr, "--- %s ---\n%s\n---\n", vm->log, buf);
}

/* Starts QEMU with virtio-blk disks vda (and vdb) on IMGS: format node
 * f-<dev> over protocol node p-<dev>, as the agent's QEMU driver does. */
static void vm_start(struct env *e, struct vm *vm, const char *name, char imgs[][128],
                     const char *fmt, bool direct, bool incoming)
{
    char qmp_arg[200], file_arg[MAX_DISKS][300], fmt_arg[MAX_DISKS][200], dev_arg[MAX_DISKS][100];
    const char *argv[64];
    unsigned n = 0;

    snprintf(vm->sock, sizeof(vm->sock), "%s/%s.qmp", e->dir, name);
    snprintf(vm->log, sizeof(vm->log), "%s/%s.log", e->dir, name);
    snprintf(qmp_arg, sizeof(qmp_arg), "unix:%s,server=on,wait=off", vm->sock);
    argv[n++] = qemu_binary();
    argv[n++] = "-nodefaults";
    argv[n++] = "-nographic";
    argv[n++] = "-machine";
    argv[n++] = "accel=kvm:tcg";
    argv[n++] = "-m";
    argv[n++] = "64";
    argv[n++] = "-qmp";
    argv[n++] = qmp_arg;
    for (unsigned i = 0; i < e->ndisks; i++) {
        snprintf(file_arg[i], sizeof(file_arg[i]),
                 "driver=file,filename=%s,node-name=p-%s,discard=unmap,cache.direct=%s", imgs[i],
                 DEVS[i], direct ? "on" : "off");
        snprintf(fmt_arg[i], sizeof(fmt_arg[i]), "driver=%s,file=p-%s,node-name=f-%s,discard=unmap",
                 fmt, DEVS[i], DEVS[i]);
        snprintf(dev_arg[i], sizeof(dev_arg[i]), "virtio-blk-pci,drive=f-%s,id=%s", DEVS[i],
                 DEVS[i]);
        argv[n++] = "-blockdev";
        argv[n++] = file_arg[i];
        argv[n++] = "-blockdev";
        argv[n++] = fmt_arg[i];
        argv[n++] = "-device";
        argv[n++] = dev_arg[i];
    }
    if (incoming) {
        argv[n++] = "-incoming";
        argv[n++] = "defer";
    }
    argv[n] = NULL;

    vm->pid = fork();
    assert_true(vm->pid >= 0);
    if (vm->pid == 0) {
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int log = open(vm->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (null < 0 || log < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
            _exit(126);
        execv(argv[0], (char **)argv);
        _exit(127);
    }
    struct ferry_error err = {0};
    if (qmp_conn_open(vm->sock, 30000, &vm->qmp, &err) < 0) {
        dump_log(vm);
        fail_msg("qmp_conn_open %s: %s", name, ferry_error_msg(&err));
    }
}

static void vm_stop(struct vm *vm)
{
    qmp_conn_free(vm->qmp);
    vm->qmp = NULL;
    if (vm->pid > 0) {
        kill(vm->pid, SIGKILL);
        waitpid(vm->pid, NULL, 0);
        vm->pid = 0;
    }
    unlink(vm->sock);
    unlink(vm->log);
}

static void qmp_ok(struct vm *vm, const char *cmd, const char *args_json)
{
    struct ferry_error err = {0};
    struct json_object *args = args_json ? json_tokener_parse(args_json) : NULL;
    if (qmp_conn_execute(vm->qmp, cmd, args, CMD_MS, NULL, &err) < 0)
        fail_msg("%s: %s", cmd, ferry_error_msg(&err));
}

/* A guest write through the device, so bitmaps see it. qemu-io reports its
 * own errors on QEMU's stdout, so the data is checked by the final compare. */
static void guest_write(struct vm *vm, const char *dev, uint64_t off, uint64_t len, int pattern)
{
    char cmd[256], op[64];
    struct ferry_error err = {0};
    char *out = NULL;
    if (pattern < 0)
        snprintf(op, sizeof(op), "write -z");
    else
        snprintf(op, sizeof(op), "write -P 0x%02x", pattern);
    snprintf(cmd, sizeof(cmd),
             "qemu-io -d /machine/peripheral/%s/virtio-backend \"%s %" PRIu64 " %" PRIu64 "\"", dev,
             op, off, len);
    if (qmp_conn_hmp(vm->qmp, cmd, CMD_MS, &out, &err) < 0)
        fail_msg("hmp: %s", ferry_error_msg(&err));
    if (out && strstr(out, "error"))
        fail_msg("qemu-io: %s", out);
    free(out);
}

/* Random 512-aligned writes on random disks, some as zero writes. */
static void random_writes(struct env *e, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t len = (uint64_t)(1 + rand() % 256) * 512;
        uint64_t off = (uint64_t)(rand() % ((DISK_SIZE - len) / 512)) * 512;
        guest_write(&e->s, DEVS[(unsigned)rand() % e->ndisks], off, len,
                    rand() % 8 == 0 ? -1 : 1 + rand() % 254);
    }
}

static int env_setup(void **state)
{
    if (access(qemu_binary(), X_OK) != 0) {
        printf("SKIP: no %s\n", qemu_binary());
        exit(77);
    }
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    snprintf(e->dir, sizeof(e->dir), "/tmp/ferry-mir-sync-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    for (unsigned i = 0; i < MAX_DISKS; i++) {
        snprintf(e->src[i], sizeof(e->src[i]), "%s/src-%s.img", e->dir, DEVS[i]);
        snprintf(e->dst[i], sizeof(e->dst[i]), "%s/dst-%s.img", e->dir, DEVS[i]);
    }
    e->ndisks = 1;
    *state = e;
    return 0;
}

static int env_teardown(void **state)
{
    struct env *e = *state;
    vm_stop(&e->s);
    vm_stop(&e->d);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", e->dir);
    free(e);
    return 0;
}

static void run(const char *cmd)
{
    int r = system(cmd);
    if (r != 0)
        fail_msg("'%s' exited %d", cmd, r);
}

/* Sources: random data in a few places, zeros elsewhere, holes. */
static void make_sources(struct env *e, const char *fmt)
{
    char cmd[700];
    for (unsigned i = 0; i < e->ndisks; i++) {
        snprintf(cmd, sizeof(cmd),
                 "set -e; f=%s/raw.img; rm -f $f; truncate -s %u $f;"
                 "dd if=/dev/urandom of=$f bs=1M count=6 seek=%u conv=notrunc status=none;"
                 "dd if=/dev/zero of=$f bs=1M count=3 seek=20 conv=notrunc status=none;"
                 "dd if=/dev/urandom of=$f bs=64k count=3 seek=%u conv=notrunc status=none;"
                 "qemu-img convert -q -f raw -O %s $f %s",
                 e->dir, DISK_SIZE, 2 + 7 * i, 500 + 11 * i, fmt, e->src[i]);
        run(cmd);
    }
}

/* Destination QEMU serving its (inactive) disks as writable exports. With
 * GARBAGE the images are full of random bytes instead of new and sparse. */
static void start_destination(struct env *e, char uris[][200], bool garbage)
{
    char cmd[400];
    for (unsigned i = 0; i < e->ndisks; i++) {
        if (garbage)
            snprintf(cmd, sizeof(cmd), "head -c %u /dev/urandom > %s", DISK_SIZE, e->dst[i]);
        else
            snprintf(cmd, sizeof(cmd), "rm -f %s && truncate -s %u %s", e->dst[i], DISK_SIZE,
                     e->dst[i]);
        run(cmd);
    }
    vm_start(e, &e->d, "dst", e->dst, "raw", false, true);
    char args[300];
    snprintf(args, sizeof(args), "{\"addr\":{\"type\":\"unix\",\"data\":{\"path\":\"%s/d.nbd\"}}}",
             e->dir);
    qmp_ok(&e->d, "nbd-server-start", args);
    for (unsigned i = 0; i < e->ndisks; i++) {
        snprintf(args, sizeof(args),
                 "{\"type\":\"nbd\",\"id\":\"%s\",\"node-name\":\"f-%s\",\"name\":\"%s\","
                 "\"writable\":true}",
                 DEVS[i], DEVS[i], DEVS[i]);
        qmp_ok(&e->d, "block-export-add", args);
        snprintf(uris[i], 200, "nbd+unix:///%s?socket=%s/d.nbd", DEVS[i], e->dir);
    }
}

static void check_equal(struct env *e, const char *fmt)
{
    char cmd[600];
    for (unsigned i = 0; i < e->ndisks; i++) {
        /* Flushed by the final pass; QEMU's writes are in the page cache. The
         * images are still open (and locked) by the QEMUs, hence -U. */
        snprintf(cmd, sizeof(cmd), "qemu-img convert -U -q -f %s -O raw %s %s/src-now.raw", fmt,
                 e->src[i], e->dir);
        run(cmd);
        snprintf(cmd, sizeof(cmd), "cmp %s/src-now.raw %s", e->dir, e->dst[i]);
        run(cmd);
    }
}

static int wait_converged(struct mir_sync *s, int ms)
{
    struct ferry_error err = {0};
    int r = mir_sync_wait_converged(s, ms, &err);
    if (r < 0)
        fail_msg("wait_converged: %s", ferry_error_msg(&err));
    return r;
}

static pid_t spawn(const char *const argv[])
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execvp(argv[0], (char **)argv);
        _exit(127);
    }
    return pid;
}

static void wait_socket(const char *path)
{
    for (int i = 0; i < 100; i++) {
        if (access(path, F_OK) == 0)
            return;
        usleep(100000);
    }
    fail_msg("socket %s did not appear", path);
}

static void touch(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    close(fd);
}

struct variant {
    const char *fmt;
    bool direct;  /* source QEMU uses cache=none, engine O_DIRECT */
    bool via_nbd; /* engine reads the source through an NBD export */
    bool flaky;   /* vda's target fails writes for a while (nbdkit proxy) */
    bool garbage; /* destination images are full of random bytes */
    unsigned ndisks;
    unsigned threads; /* engine lanes per disk */
};

/* With FLAKY, vda's destination is reached through an nbdkit proxy whose
 * writes fail with EIO while the file ERRFILE exists: during the start of
 * the bulk pass and once between dirty passes. The session must retry. */
static bool has_bitmaps(struct vm *vm);

/* Block exports on VM whose id starts with PREFIX. */
static size_t count_exports(struct vm *vm, const char *prefix)
{
    struct ferry_error err = {0};
    struct json_object *ret = NULL;
    assert_int_equal(qmp_conn_execute(vm->qmp, "query-block-exports", NULL, CMD_MS, &ret, &err), 0);
    size_t n = 0;
    for (size_t i = 0; i < json_object_array_length(ret); i++) {
        struct json_object *id = json_object_object_get(json_object_array_get_idx(ret, i), "id");
        if (id && strncmp(json_object_get_string(id), prefix, strlen(prefix)) == 0)
            n++;
    }
    json_object_put(ret);
    return n;
}

static void one_migration(struct env *e, const struct variant *v, unsigned iteration)
{
    char uris[MAX_DISKS][200], errfile[200], proxy_sock[200];
    struct ferry_error err = {0};
    pid_t proxy = 0;

    e->ndisks = v->ndisks ? v->ndisks : 1;
    make_sources(e, v->fmt);
    vm_start(e, &e->s, "src", e->src, v->fmt, v->direct, false);
    start_destination(e, uris, v->garbage);
    if (v->flaky) {
        char sockarg[220], errarg[220];
        snprintf(errfile, sizeof(errfile), "%s/errors-on", e->dir);
        snprintf(proxy_sock, sizeof(proxy_sock), "%s/proxy.nbd", e->dir);
        snprintf(sockarg, sizeof(sockarg), "socket=%s/d.nbd", e->dir);
        snprintf(errarg, sizeof(errarg), "error-pwrite-file=%s", errfile);
        touch(errfile);
        const char *argv[] = {
            "nbdkit", "-f",    "-U",         proxy_sock,         "--filter=error",
            "nbd",    sockarg, "export=vda", "error-pwrite=EIO", "error-pwrite-rate=100%",
            errarg,   NULL};
        proxy = spawn(argv);
        wait_socket(proxy_sock);
        snprintf(uris[0], sizeof(uris[0]), "nbd+unix:///?socket=%s", proxy_sock);
    }

    random_writes(e, 10); /* before the session */

    struct mir_sync_disk disks[MAX_DISKS];
    for (unsigned i = 0; i < e->ndisks; i++)
        disks[i] = (struct mir_sync_disk){
            .target = DEVS[i],
            .source_path = v->via_nbd ? NULL : e->src[i],
            .source_format = v->fmt,
            .direct = v->direct,
            .dest_uri = uris[i],
            .dest_is_zero = !v->garbage,
        };
    /* A bandwidth cap keeps the bulk pass busy long enough for writes to
     * land during it. */
    struct mir_sync_opts opts = {
        .copy = {.request_size = 256 * 1024, .bandwidth = 40u * 1024 * 1024, .threads = v->threads},
        .socket_dir = e->dir,
        .converge_bytes = 1024 * 1024,
        .pass_interval_ms = 250,
    };
    struct mir_sync *s = NULL;
    if (mir_sync_new(e->s.qmp, disks, e->ndisks, &opts, &s, &err) < 0)
        fail_msg("mir_sync_new: %s", ferry_error_msg(&err));
    assert_int_equal(mir_sync_disks(s), e->ndisks);
    if (mir_sync_start(s, &err) < 0)
        fail_msg("mir_sync_start: %s", ferry_error_msg(&err));

    /* During the bulk pass (it takes about a second at 40 MiB/s). */
    unsigned during = 0;
    for (int i = 0; i < 40; i++) {
        struct mir_progress p;
        assert_int_equal(mir_sync_progress(s, 0, &p), 0);
        if (p.pass > 1)
            break;
        random_writes(e, 2);
        during += 2;
        usleep(20000);
        if (v->flaky && i == 10)
            unlink(errfile);
    }
    assert_true(during > 0);
    if (v->flaky)
        unlink(errfile); /* the bulk pass may have ended the loop early by retrying */

    wait_converged(s, 60000);
    /* Between dirty passes, and a write after convergence. */
    for (int k = 0; k < 3; k++) {
        random_writes(e, 8);
        usleep(300000);
    }
    if (v->flaky) {
        /* Writes to vda while its target fails: the next dirty pass fails
         * and must be tried again (after 0.5 s, then 1 s). */
        touch(errfile);
        guest_write(&e->s, "vda", 4096 * 1000, 65536, 0x5a);
        usleep(1000000);
        unlink(errfile);
    }
    random_writes(e, 3);

    for (unsigned i = 0; i < e->ndisks; i++) {
        struct mir_progress p;
        mir_sync_progress(s, i, &p);
        assert_int_equal(p.size, DISK_SIZE);
        assert_true(p.pass >= 2);
        assert_true(p.copied > 0);
    }
    /* Converged once stays converged for the session (the progress flag
     * only tells about the last pass, which the writes above may have made
     * larger than converge_bytes). */
    assert_int_equal(mir_sync_wait_converged(s, 0, &err), 0);

    /* The switchover: guest paused, last extents, flush. */
    qmp_ok(&e->s, "stop", NULL);
    int64_t ms = -1;
    if (mir_sync_final_pass(s, &ms, &err) < 0)
        fail_msg("final pass: %s", ferry_error_msg(&err));
    assert_true(ms >= 0);
    for (unsigned i = 0; i < e->ndisks; i++) {
        struct mir_progress p;
        mir_sync_progress(s, i, &p);
        printf("# %u %s (%s%s%s%s%s): %u passes, %" PRIu64 " copied, %" PRIu64 " zeroed, %" PRIu64
               " skipped, %u retries, final pass %" PRId64 " ms\n",
               iteration, DEVS[i], v->fmt, v->direct ? ", cache=none" : "",
               v->via_nbd ? ", via NBD" : "", v->flaky ? ", flaky target" : "",
               v->garbage ? ", dirty target" : "", p.pass, p.copied, p.zeroed, p.skipped, p.retries,
               ms);
        if (v->flaky && i == 0)
            assert_true(p.retries >= 2);
        if (v->garbage)
            assert_true(p.zeroed > 0);
    }
    /* The final pass leaves its export (when it found anything dirty: a
     * dirty pass may have copied the last writes) and the bitmap for after
     * the switchover; cleanup removes them, and so does free (iteration 1). */
    assert_true(count_exports(&e->s, "ferry-dirty-") <= e->ndisks);
    if (iteration == 0) {
        assert_int_equal(mir_sync_cleanup(s, &err), 0);
        assert_int_equal(count_exports(&e->s, "ferry-dirty-"), 0);
    }
    mir_sync_free(s);
    assert_false(has_bitmaps(&e->s));
    if (proxy > 0) {
        kill(proxy, SIGTERM);
        waitpid(proxy, NULL, 0);
    }

    check_equal(e, v->fmt);

    /* Nothing left behind on the source. */
    struct json_object *ret = NULL;
    assert_int_equal(qmp_conn_execute(e->s.qmp, "query-block-exports", NULL, CMD_MS, &ret, &err),
                     0);
    assert_int_equal(json_object_array_length(ret), 0);
    json_object_put(ret);

    vm_stop(&e->s);
    vm_stop(&e->d);
}

static void test_sync_raw(void **state)
{
    srand(1);
    for (unsigned i = 0; i < 2; i++)
        one_migration(*state, &(struct variant){.fmt = "raw"}, i);
}

static void test_sync_raw_direct_two_disks(void **state)
{
    srand(2);
    one_migration(*state,
                  &(struct variant){.fmt = "raw", .direct = true, .ndisks = 2, .threads = 2}, 0);
}

static void test_sync_qcow2_via_nbd(void **state)
{
    srand(3);
    one_migration(*state, &(struct variant){.fmt = "qcow2", .via_nbd = true}, 0);
}

static void test_sync_dirty_target(void **state)
{
    srand(5);
    one_migration(*state, &(struct variant){.fmt = "raw", .garbage = true}, 0);
}

static void test_sync_flaky_target_retries(void **state)
{
    if (system("command -v nbdkit >/dev/null") != 0) {
        printf("# nbdkit not installed: flaky-target case not run\n");
        skip();
    }
    srand(4);
    one_migration(*state, &(struct variant){.fmt = "raw", .flaky = true, .ndisks = 2}, 0);
}

static bool has_bitmaps(struct vm *vm)
{
    struct ferry_error err = {0};
    struct json_object *ret = NULL;
    /* query-named-block-nodes lists each node's dirty-bitmaps. */
    assert_int_equal(qmp_conn_execute(vm->qmp, "query-named-block-nodes", NULL, CMD_MS, &ret, &err),
                     0);
    bool found = false;
    for (size_t i = 0; i < json_object_array_length(ret); i++) {
        struct json_object *bms = NULL;
        if (!json_object_object_get_ex(json_object_array_get_idx(ret, i), "dirty-bitmaps", &bms))
            continue;
        for (size_t j = 0; j < json_object_array_length(bms); j++) {
            struct json_object *name =
                json_object_object_get(json_object_array_get_idx(bms, j), "name");
            if (name && strncmp(json_object_get_string(name), "ferry-mir", 9) == 0)
                found = true;
        }
    }
    json_object_put(ret);
    return found;
}

/* The bandwidth cap stops at the final pass: a dirty pass still running
 * under the cap, and the final pass, finish at full speed. Capped, this
 * would take about 7 s (8 MiB at 1 MiB/s). */
static void test_sync_final_pass_uncapped(void **state)
{
    struct env *e = *state;
    struct ferry_error err = {0};

    e->ndisks = 1;
    make_sources(e, "raw");
    vm_start(e, &e->s, "src", e->src, "raw", false, false);
    char uris[MAX_DISKS][200];
    start_destination(e, uris, false);
    struct mir_sync_disk disk = {
        .target = "vda", .source_path = e->src[0], .dest_uri = uris[0], .dest_is_zero = true};
    struct mir_sync_opts opts = {.socket_dir = e->dir, .pass_interval_ms = 100};
    struct mir_sync *s = NULL;
    assert_int_equal(mir_sync_new(e->s.qmp, &disk, 1, &opts, &s, &err), 0);
    assert_int_equal(mir_sync_start(s, &err), 0);
    wait_converged(s, 60000);
    mir_sync_set_bandwidth(s, 1024 * 1024);
    guest_write(&e->s, "vda", 8u << 20, 6u << 20, 0x6b);
    usleep(400000); /* a paced pass picks it up and crawls */
    struct mir_progress p;
    assert_int_equal(mir_sync_progress(s, 0, &p), 0);
    printf("# pass %u: %" PRIu64 " of %" PRIu64 " bytes done when the guest stops\n", p.pass,
           p.pass_done, p.pass_total);
    guest_write(&e->s, "vda", 20u << 20, 2u << 20, 0x6c);
    qmp_ok(&e->s, "stop", NULL);
    int64_t ms = -1;
    if (mir_sync_final_pass(s, &ms, &err) < 0)
        fail_msg("final pass: %s", ferry_error_msg(&err));
    printf("# final pass %" PRId64 " ms\n", ms);
    assert_true(ms < 2500);
    mir_sync_free(s);
    check_equal(e, "raw");
    vm_stop(&e->s);
    vm_stop(&e->d);
}

static void test_sync_cancel_cleans_up(void **state)
{
    struct env *e = *state;
    struct ferry_error err = {0};

    e->ndisks = 1;
    make_sources(e, "raw");
    vm_start(e, &e->s, "src", e->src, "raw", false, false);
    char uris[MAX_DISKS][200];
    start_destination(e, uris, false);
    struct mir_sync_disk disk = {
        .target = "vda", .source_path = e->src[0], .dest_uri = uris[0], .dest_is_zero = true};
    struct mir_sync_opts opts = {
        .copy = {.request_size = 64 * 1024, .bandwidth = 4u * 1024 * 1024},
        .socket_dir = e->dir,
    };
    struct mir_sync *s = NULL;
    assert_int_equal(mir_sync_new(e->s.qmp, &disk, 1, &opts, &s, &err), 0);
    assert_int_equal(mir_sync_start(s, &err), 0);
    assert_true(has_bitmaps(&e->s));
    usleep(300000);
    int64_t t0 = ferry_now_ms();
    mir_sync_cancel(s);
    assert_int_equal(mir_sync_wait_converged(s, 5000, &err), -ECANCELED);
    mir_sync_free(s);
    assert_true(ferry_now_ms() - t0 < 5000);
    assert_false(has_bitmaps(&e->s));
    struct json_object *ret = NULL;
    assert_int_equal(qmp_conn_execute(e->s.qmp, "query-block-exports", NULL, CMD_MS, &ret, &err),
                     0);
    assert_int_equal(json_object_array_length(ret), 0);
    json_object_put(ret);
    /* The NBD server is gone too: starting one again works. */
    char args[300];
    snprintf(args, sizeof(args), "{\"addr\":{\"type\":\"unix\",\"data\":{\"path\":\"%s/x.nbd\"}}}",
             e->dir);
    qmp_ok(&e->s, "nbd-server-start", args);
    vm_stop(&e->s);
    vm_stop(&e->d);
}

static void test_sync_bad_destination(void **state)
{
    struct env *e = *state;
    struct ferry_error err = {0};
    e->ndisks = 1;
    make_sources(e, "raw");
    vm_start(e, &e->s, "src", e->src, "raw", false, false);
    char uri[200];
    snprintf(uri, sizeof(uri), "nbd+unix:///vda?socket=%s/none.nbd", e->dir);
    struct mir_sync_disk disk = {.target = "vda", .source_path = e->src[0], .dest_uri = uri};
    struct mir_sync_opts opts = {.socket_dir = e->dir};
    struct mir_sync *s = NULL;
    assert_int_equal(mir_sync_new(e->s.qmp, &disk, 1, &opts, &s, &err), 0);
    assert_true(mir_sync_start(s, &err) < 0);
    assert_non_null(strstr(err.msg, "disk 'vda': target nbd+unix"));
    /* Start rolled back its bitmap and server. */
    assert_false(has_bitmaps(&e->s));
    mir_sync_free(s);
    vm_stop(&e->s);
}

int main(void)
{
    alarm(TEST_ALARM_S);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sync_raw, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_sync_raw_direct_two_disks, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_sync_dirty_target, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_sync_qcow2_via_nbd, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_sync_flaky_target_retries, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_sync_final_pass_uncapped, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_sync_cancel_cleans_up, env_setup, env_teardown),
        cmocka_unit_test_setup_teardown(test_sync_bad_destination, env_setup, env_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
