/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qmp/ against a real qemu-system-x86_64 (KVM or TCG, no guest OS):
 * handshake, status, STOP/RESUME events, QEMU errors, HMP, raw commands,
 * descriptor passing (getfd: QEMU's NBD server on a socket we made), and
 * QEMU killed while a thread waits (-ECONNRESET, promptly). Each test
 * starts its own QEMU and kills it by pid. Exits 77 without QEMU. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry-config.h"
#include "qmp.h"
#include "util.h"

/* Whole-run bound; QEMU dies with us (PR_SET_PDEATHSIG). */
#define TEST_ALARM_S    240
#define OPEN_TIMEOUT_MS 30000
#define CMD_TIMEOUT_MS  30000
/* "Promptly" for a dead monitor, generous for a loaded machine. */
#define PROMPT_MS 3000

struct vm {
    char dir[64];
    char sock[128];
    char log[128];
    pid_t pid;
    struct qmp_conn *conn;
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
    size_t n;

    if (!f)
        return;
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    if (n)
        fprintf(stderr, "--- QEMU log ---\n%s\n---\n", buf);
}

static pid_t spawn_qemu(struct vm *vm)
{
    char qmp_arg[200];
    pid_t pid;

    snprintf(qmp_arg, sizeof qmp_arg, "unix:%s,server=on,wait=off", vm->sock);
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int log = open(vm->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (null < 0 || log < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0)
            _exit(126);
        execl(qemu_binary(), qemu_binary(), "-nodefaults", "-nographic", "-machine",
              "accel=kvm:tcg", "-m", "64", "-qmp", qmp_arg, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int vm_setup(void **state)
{
    struct vm *vm = calloc(1, sizeof *vm);
    struct ferry_error err = {0};
    int r;

    assert_non_null(vm);
    snprintf(vm->dir, sizeof vm->dir, "/tmp/ferry-qmp-e2e-XXXXXX");
    assert_non_null(mkdtemp(vm->dir));
    snprintf(vm->sock, sizeof vm->sock, "%s/qmp.sock", vm->dir);
    snprintf(vm->log, sizeof vm->log, "%s/qemu.log", vm->dir);
    vm->pid = spawn_qemu(vm);
    assert_true(vm->pid > 0);
    *state = vm;
    r = qmp_conn_open(vm->sock, OPEN_TIMEOUT_MS, &vm->conn, &err);
    if (r < 0) {
        fprintf(stderr, "qmp_conn_open: %s\n", ferry_error_msg(&err));
        dump_log(vm);
    }
    assert_int_equal(r, 0);
    return 0;
}

static int vm_teardown(void **state)
{
    struct vm *vm = *state;

    if (!vm)
        return 0;
    qmp_conn_free(vm->conn);
    if (vm->pid > 0) {
        kill(vm->pid, SIGKILL);
        waitpid(vm->pid, NULL, 0);
    }
    unlink(vm->sock);
    unlink(vm->log);
    rmdir(vm->dir);
    free(vm);
    return 0;
}

static const char *status_of(struct qmp_conn *conn, struct json_object **keep)
{
    struct ferry_error err = {0};
    int r = qmp_conn_execute(conn, "query-status", NULL, CMD_TIMEOUT_MS, keep, &err);

    if (r < 0)
        fail_msg("query-status: %s", ferry_error_msg(&err));
    return json_object_get_string(json_object_object_get(*keep, "status"));
}

static void test_status_stop_cont_events(void **state)
{
    struct vm *vm = *state;
    struct ferry_error err = {0};
    struct json_object *st = NULL, *ev = NULL;
    int major = 0, minor = -1;
    uint64_t seq, got = 0;

    qmp_conn_version(vm->conn, &major, &minor, NULL);
    assert_true(major >= 7);
    assert_true(minor >= 0);

    assert_string_equal(status_of(vm->conn, &st), "running");
    assert_true(json_object_get_boolean(json_object_object_get(st, "running")));
    json_object_put(st);

    seq = qmp_conn_event_seq(vm->conn);
    assert_int_equal(qmp_conn_execute(vm->conn, "stop", NULL, CMD_TIMEOUT_MS, NULL, &err), 0);
    assert_int_equal(qmp_conn_wait_event(vm->conn, seq, qmp_event_is, (void *)"STOP",
                                         CMD_TIMEOUT_MS, &ev, &got, &err),
                     0);
    assert_true(got > seq);
    assert_non_null(json_object_object_get(ev, "timestamp"));
    json_object_put(ev);
    assert_string_equal(status_of(vm->conn, &st), "paused");
    json_object_put(st);

    seq = qmp_conn_event_seq(vm->conn);
    assert_int_equal(qmp_conn_execute(vm->conn, "cont", NULL, CMD_TIMEOUT_MS, NULL, &err), 0);
    assert_int_equal(qmp_conn_wait_event(vm->conn, seq, qmp_event_is, (void *)"RESUME",
                                         CMD_TIMEOUT_MS, NULL, NULL, &err),
                     0);
    assert_string_equal(status_of(vm->conn, &st), "running");
    json_object_put(st);
    /* Nothing else: a STOP after the RESUME must not be found. */
    assert_int_equal(
        qmp_conn_wait_event(vm->conn, seq, qmp_event_is, (void *)"STOP", 200, NULL, NULL, &err),
        -ETIMEDOUT);
}

static void test_qemu_errors(void **state)
{
    struct vm *vm = *state;
    struct ferry_error err = {0};
    struct qmp_error_info info = {0};
    struct json_object *args = json_object_new_object();

    assert_int_equal(
        qmp_conn_execute_full(vm->conn, "no-such-command", NULL, CMD_TIMEOUT_MS, NULL, &info, &err),
        -EIO);
    assert_string_equal(info.cls, "CommandNotFound");
    assert_non_null(strstr(err.msg, "no-such-command: CommandNotFound: "));
    assert_non_null(strstr(info.desc, "no-such-command"));

    ferry_error_clear(&err);
    json_object_object_add(args, "device", json_object_new_string("no-such-job"));
    assert_int_equal(qmp_conn_execute_full(vm->conn, "block-job-cancel", args, CMD_TIMEOUT_MS, NULL,
                                           &info, &err),
                     -EIO);
    assert_true(strcmp(info.cls, "GenericError") == 0 || strcmp(info.cls, "DeviceNotActive") == 0);
    assert_non_null(strstr(info.desc, "no-such-job"));
    /* An error is not a broken connection. */
    assert_true(qmp_conn_alive(vm->conn));
}

static void test_hmp_and_raw(void **state)
{
    struct vm *vm = *state;
    struct ferry_error err = {0};
    struct json_object *ret = NULL;
    char *out = NULL;
    char want[32];
    int major = 0, minor = 0, micro = 0;

    qmp_conn_version(vm->conn, &major, &minor, &micro);
    snprintf(want, sizeof want, "%d.%d.%d", major, minor, micro);
    assert_int_equal(qmp_conn_hmp(vm->conn, "info version", CMD_TIMEOUT_MS, &out, &err), 0);
    assert_non_null(out);
    assert_true(strncmp(out, want, strlen(want)) == 0);
    free(out);

    assert_int_equal(qmp_conn_execute_str(vm->conn, "{\"execute\": \"query-version\"}",
                                          CMD_TIMEOUT_MS, &ret, NULL, &err),
                     0);
    assert_int_equal(
        json_object_get_int(json_object_object_get(json_object_object_get(ret, "qemu"), "major")),
        major);
    json_object_put(ret);
    ret = NULL;
    assert_int_equal(qmp_conn_execute_str(vm->conn,
                                          "{\"execute\": \"query-name\", \"arguments\": "
                                          "{\"bogus\": 1}}",
                                          CMD_TIMEOUT_MS, &ret, NULL, &err),
                     -EIO);
    assert_null(ret);
}

/* getfd hands QEMU a listening socket of ours; nbd-server-start serves on
 * it (the NBD greeting arrives on our connection). A descriptor that is
 * not there is refused before anything is sent. */
static void test_getfd_nbd_listener(void **state)
{
    struct vm *vm = *state;
    struct ferry_error err = {0};
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    struct json_object *args, *addr, *data;
    char magic[8] = {0};
    int one = 1, lfd, cfd;

    assert_int_equal(qmp_conn_getfd(vm->conn, "none", -1, CMD_TIMEOUT_MS, &err), -EBADF);
    assert_true(qmp_conn_alive(vm->conn));

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    assert_int_equal(setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    ferry_error_clear(&err);
    assert_int_equal(qmp_conn_getfd(vm->conn, "nbd-listen", lfd, CMD_TIMEOUT_MS, &err), 0);
    close(lfd); /* QEMU holds its own copy now */

    args = json_object_new_object();
    addr = json_object_new_object();
    data = json_object_new_object();
    json_object_object_add(data, "str", json_object_new_string("nbd-listen"));
    json_object_object_add(addr, "type", json_object_new_string("fd"));
    json_object_object_add(addr, "data", data);
    json_object_object_add(args, "addr", addr);
    assert_int_equal(
        qmp_conn_execute(vm->conn, "nbd-server-start", args, CMD_TIMEOUT_MS, NULL, &err), 0);

    cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(cfd >= 0);
    assert_int_equal(connect(cfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(read(cfd, magic, sizeof magic), (ssize_t)sizeof magic);
    assert_memory_equal(magic, "NBDMAGIC", sizeof magic);
    close(cfd);
    assert_int_equal(
        qmp_conn_execute(vm->conn, "nbd-server-stop", NULL, CMD_TIMEOUT_MS, NULL, &err), 0);
}

struct waiter {
    struct qmp_conn *conn;
    int r;
    int64_t done_ms;
    struct ferry_error err;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;

    w->r = qmp_conn_wait_event(w->conn, qmp_conn_event_seq(w->conn), qmp_event_is, (void *)"NEVER",
                               -1, NULL, NULL, &w->err);
    w->done_ms = ferry_now_ms();
    return NULL;
}

static void test_killed_qemu_resets_waiters(void **state)
{
    struct vm *vm = *state;
    struct ferry_error err = {0};
    struct waiter w = {.conn = vm->conn};
    pthread_t t;
    int64_t killed_ms;

    assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
    usleep(100 * 1000);
    killed_ms = ferry_now_ms();
    assert_int_equal(kill(vm->pid, SIGKILL), 0);
    pthread_join(t, NULL);
    assert_int_equal(w.r, -ECONNRESET);
    assert_true(w.done_ms - killed_ms < PROMPT_MS);
    assert_non_null(strstr(w.err.msg, "closed"));
    assert_false(qmp_conn_alive(vm->conn));

    /* Commands fail at once and writing to the dead socket raises no
     * SIGPIPE (it would kill this test). */
    assert_int_equal(qmp_conn_execute(vm->conn, "query-status", NULL, -1, NULL, &err), -ECONNRESET);
    waitpid(vm->pid, NULL, 0);
    vm->pid = 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_status_stop_cont_events, vm_setup, vm_teardown),
        cmocka_unit_test_setup_teardown(test_qemu_errors, vm_setup, vm_teardown),
        cmocka_unit_test_setup_teardown(test_hmp_and_raw, vm_setup, vm_teardown),
        cmocka_unit_test_setup_teardown(test_getfd_nbd_listener, vm_setup, vm_teardown),
        cmocka_unit_test_setup_teardown(test_killed_qemu_resets_waiters, vm_setup, vm_teardown),
    };

    if (access(qemu_binary(), X_OK) != 0) {
        printf("SKIP: QEMU binary '%s' not executable (set FERRY_QEMU)\n", qemu_binary());
        return 77;
    }
    alarm(TEST_ALARM_S);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
