/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qmp/ against a fake QMP server that misbehaves: a reply after its
 * timeout, the monitor closing mid-command or no longer reading,
 * oversized, garbage and too deep JSON, and free/close while threads
 * wait. Nothing may hang; every blocked caller gets an error. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "test-qmp-client.h"

/* ---- timeouts and a dying monitor ---- */

static void script_late_reply(struct fake *f, int fd)
{
    struct json_object *slow = fake_expect(f, fd, "slow");
    struct json_object *fast = fake_expect(f, fd, "fast");

    /* The reply to the abandoned command comes first and must be dropped. */
    fake_reply(fd, slow, "{\"which\": \"slow\"}");
    fake_reply(fd, fast, "{\"which\": \"fast\"}");
    json_object_put(slow);
    json_object_put(fast);
}

static void test_timeout_then_late_reply_discarded(void **state)
{
    struct fake f = {0};
    struct ferry_error err = {0};
    struct json_object *ret = NULL;
    struct qmp_conn *conn;
    int64_t t0, took;

    fake_start(&f, script_late_reply, NULL);
    conn = open_fake(&f);
    t0 = ferry_now_ms();
    assert_int_equal(qmp_conn_execute(conn, "slow", NULL, 200, &ret, &err), -ETIMEDOUT);
    took = ferry_now_ms() - t0;
    assert_true(took >= 190 && took < PROMPT_MS);
    assert_null(ret);
    assert_non_null(strstr(err.msg, "slow: no reply"));
    assert_true(qmp_conn_alive(conn));

    assert_int_equal(qmp_conn_execute(conn, "fast", NULL, 5000, &ret, NULL), 0);
    assert_string_equal(json_object_get_string(json_object_object_get(ret, "which")), "fast");
    json_object_put(ret);
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
}

struct waiter {
    struct qmp_conn *conn;
    int r;
    struct ferry_error err;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;

    w->r = qmp_conn_wait_event(w->conn, qmp_conn_event_seq(w->conn), qmp_event_is, (void *)"NEVER",
                               -1, NULL, NULL, &w->err);
    return NULL;
}

static void *hung_caller_main(void *arg)
{
    struct waiter *w = arg;

    w->r = qmp_conn_execute(w->conn, "hang", NULL, -1, NULL, &w->err);
    return NULL;
}

static void script_close_mid_command(struct fake *f, int fd)
{
    json_object_put(fake_expect(f, fd, "stop"));
    /* QEMU dies with the command in flight. */
    shutdown(fd, SHUT_RDWR);
}

static void cb_count_close(struct qmp_conn *conn, const char *name, struct json_object *data,
                           void *opaque)
{
    if (!name)
        __atomic_add_fetch((int *)opaque, 1, __ATOMIC_SEQ_CST);
}

static void test_monitor_closes_mid_command(void **state)
{
    struct fake f = {0};
    struct ferry_error err = {0};
    struct waiter w = {0};
    struct qmp_conn *conn;
    pthread_t t;
    int closes = 0;
    int64_t t0, took;

    fake_start(&f, script_close_mid_command, NULL);
    conn = open_fake(&f);
    qmp_conn_set_event_cb(conn, cb_count_close, &closes);
    w.conn = conn;
    assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);

    t0 = ferry_now_ms();
    assert_int_equal(qmp_conn_execute(conn, "stop", NULL, 30000, NULL, &err), -ECONNRESET);
    took = ferry_now_ms() - t0;
    assert_true(took < PROMPT_MS);
    assert_non_null(strstr(err.msg, "stop: QMP monitor"));
    assert_non_null(strstr(err.msg, "closed: end of file"));
    pthread_join(t, NULL);
    assert_int_equal(w.r, -ECONNRESET);
    assert_false(qmp_conn_alive(conn));
    /* The close notification runs on the reader after waking callers. */
    for (int64_t end = ferry_now_ms() + PROMPT_MS;
         !__atomic_load_n(&closes, __ATOMIC_SEQ_CST) && ferry_now_ms() < end;)
        usleep(1000);
    assert_int_equal(__atomic_load_n(&closes, __ATOMIC_SEQ_CST), 1);

    /* Later calls fail at once, without writing to the dead socket. */
    ferry_error_clear(&err);
    t0 = ferry_now_ms();
    assert_int_equal(qmp_conn_execute(conn, "cont", NULL, -1, NULL, &err), -ECONNRESET);
    assert_true(ferry_now_ms() - t0 < PROMPT_MS);
    qmp_conn_free(conn);
    assert_int_equal(__atomic_load_n(&closes, __ATOMIC_SEQ_CST), 1);
    assert_int_equal(fake_stop(&f), 0);
}

static void script_stop_reading(struct fake *f, int fd)
{
    struct json_object *cmd = fake_expect(f, fd, "query-status");
    int *done_pipe = f->opaque;
    struct pollfd pfd = {.fd = done_pipe[0], .events = POLLIN};

    /* The monitor stops reading before it answers: the next command
     * written hits EPIPE, which must not raise SIGPIPE in the daemon. */
    shutdown(fd, SHUT_RD);
    fake_reply(fd, cmd, "{\"status\": \"running\"}");
    json_object_put(cmd);
    /* Keep the socket open (no EOF for the client) until it has written. */
    FAKE_CHECK(f, poll(&pfd, 1, FAKE_IO_TIMEOUT_MS) == 1);
}

static void test_write_to_dead_monitor_no_sigpipe(void **state)
{
    struct fake f = {0};
    struct ferry_error err = {0};
    struct qmp_conn *conn;
    int done_pipe[2];
    int r;

    assert_int_equal(pipe2(done_pipe, O_CLOEXEC), 0);
    fake_start(&f, script_stop_reading, done_pipe);
    conn = open_fake(&f);
    assert_int_equal(qmp_conn_execute(conn, "query-status", NULL, 5000, NULL, NULL), 0);
    /* SIGPIPE's default action would end this test here. */
    r = qmp_conn_execute(conn, "cont", NULL, 5000, NULL, &err);
    assert_int_equal(write(done_pipe[1], "x", 1), 1);
    assert_int_equal(r, -ECONNRESET);
    assert_non_null(strstr(err.msg, "cont: QMP monitor"));
    assert_non_null(strstr(err.msg, "write failed"));
    assert_false(qmp_conn_alive(conn));
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
    close(done_pipe[0]);
    close(done_pipe[1]);
}

static void script_oversized(struct fake *f, int fd)
{
    static char chunk[64 * 1024];
    size_t sent = 0;

    json_object_put(fake_expect(f, fd, "query-block"));
    memset(chunk, ' ', sizeof chunk);
    chunk[0] = '[';
    /* More than QMP_MAX_MESSAGE bytes without a newline. The client hangs
     * up part way, so sending stops on the first error. */
    while (sent <= (size_t)QMP_MAX_MESSAGE) {
        ssize_t n = send(fd, chunk, sizeof chunk, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        sent += (size_t)n;
        chunk[0] = ' ';
    }
}

static void test_oversized_message_closes(void **state)
{
    struct fake f = {0};
    struct ferry_error err = {0};
    struct qmp_conn *conn;

    fake_start(&f, script_oversized, NULL);
    conn = open_fake(&f);
    assert_int_equal(qmp_conn_execute(conn, "query-block", NULL, 30000, NULL, &err), -ECONNRESET);
    assert_non_null(strstr(err.msg, "longer than 16777216 bytes"));
    assert_false(qmp_conn_alive(conn));
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
}

static void script_garbage(struct fake *f, int fd)
{
    json_object_put(fake_expect(f, fd, "query-status"));
    fake_send(fd, "{\"return\": {\"status\": running}}");
}

static void test_garbage_json_closes(void **state)
{
    struct fake f = {0};
    struct ferry_error err = {0};
    struct qmp_conn *conn;

    fake_start(&f, script_garbage, NULL);
    conn = open_fake(&f);
    assert_int_equal(qmp_conn_execute(conn, "query-status", NULL, 30000, NULL, &err), -ECONNRESET);
    assert_non_null(strstr(err.msg, "invalid JSON"));
    assert_false(qmp_conn_alive(conn));
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
}

static void script_deep(struct fake *f, int fd)
{
    char buf[1024] = "{\"return\": ";
    size_t len = strlen(buf);

    json_object_put(fake_expect(f, fd, "query-status"));
    for (int i = 0; i < QMP_MAX_DEPTH + 10; i++)
        buf[len++] = '[';
    for (int i = 0; i < QMP_MAX_DEPTH + 10; i++)
        buf[len++] = ']';
    buf[len++] = '}';
    buf[len] = '\0';
    fake_send(fd, buf);
}

static void test_too_deep_json_closes(void **state)
{
    struct fake f = {0};
    struct ferry_error err = {0};
    struct qmp_conn *conn;

    fake_start(&f, script_deep, NULL);
    conn = open_fake(&f);
    assert_int_equal(qmp_conn_execute(conn, "query-status", NULL, 30000, NULL, &err), -ECONNRESET);
    assert_non_null(strstr(err.msg, "nested too deeply"));
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
}

/* Takes the command "hang", never answers, and tells the test it has it. */
static void script_hang(struct fake *f, int fd)
{
    json_object_put(fake_expect(f, fd, "hang"));
    __atomic_store_n((int *)f->opaque, 1, __ATOMIC_SEQ_CST);
}

static void wait_flag(int *flag)
{
    int64_t deadline = ferry_now_ms() + PROMPT_MS;

    while (!__atomic_load_n(flag, __ATOMIC_SEQ_CST) && ferry_now_ms() < deadline)
        usleep(1000);
    assert_int_equal(__atomic_load_n(flag, __ATOMIC_SEQ_CST), 1);
}

static void test_free_wakes_blocked_threads(void **state)
{
    struct fake f = {0};
    struct waiter w[2] = {{0}};
    pthread_t t[2];
    int got_hang = 0;

    fake_start(&f, script_hang, &got_hang);
    w[0].conn = w[1].conn = open_fake(&f);
    assert_int_equal(pthread_create(&t[0], NULL, waiter_main, &w[0]), 0);
    assert_int_equal(pthread_create(&t[1], NULL, hung_caller_main, &w[1]), 0);
    wait_users(w[0].conn, 2);
    wait_flag(&got_hang);
    /* Both threads are blocked with no time limit; free must wake them
     * and wait for them to leave. */
    qmp_conn_free(w[0].conn);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].r, -ECONNRESET);
        assert_non_null(strstr(w[i].err.msg, "closed by client"));
    }
    assert_int_equal(fake_stop(&f), 0);
}

static void test_close_wakes_blocked_threads(void **state)
{
    struct fake f = {0};
    struct waiter w[2] = {{0}};
    struct qmp_conn *conn;
    pthread_t t[2];
    int got_hang = 0;

    fake_start(&f, script_hang, &got_hang);
    conn = w[0].conn = w[1].conn = open_fake(&f);
    assert_int_equal(pthread_create(&t[0], NULL, waiter_main, &w[0]), 0);
    assert_int_equal(pthread_create(&t[1], NULL, hung_caller_main, &w[1]), 0);
    wait_users(conn, 2);
    wait_flag(&got_hang);
    qmp_conn_close(conn);
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].r, -ECONNRESET);
    }
    assert_false(qmp_conn_alive(conn));
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeout_then_late_reply_discarded),
        cmocka_unit_test(test_monitor_closes_mid_command),
        cmocka_unit_test(test_write_to_dead_monitor_no_sigpipe),
        cmocka_unit_test(test_oversized_message_closes),
        cmocka_unit_test(test_garbage_json_closes),
        cmocka_unit_test(test_too_deep_json_closes),
        cmocka_unit_test(test_free_wakes_blocked_threads),
        cmocka_unit_test(test_close_wakes_blocked_threads),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);

    fake_cleanup_all();
    return r;
}
