/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qmp/ against a fake QMP server with canned replies: handshake, replies
 * and QEMU errors, id matching under concurrency, raw commands and HMP.
 * The misbehaving monitor is test-qmp-dying.c's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test-qmp-client.h"

/* ---- handshake ---- */

static void test_open_greeting(void **state)
{
    struct fake f = {0};
    struct qmp_conn *conn;
    int major = -1, minor = -1, micro = -1;

    fake_start(&f, NULL, NULL);
    conn = open_fake(&f);
    qmp_conn_version(conn, &major, &minor, &micro);
    assert_int_equal(major, 7);
    assert_int_equal(minor, 2);
    assert_int_equal(micro, 0);
    assert_true(qmp_conn_alive(conn));
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
}

static void test_open_retries_until_socket_exists(void **state)
{
    struct fake f = {.listen_delay_ms = 300};
    struct qmp_conn *conn;
    int64_t t0 = ferry_now_ms();

    fake_start(&f, NULL, NULL);
    conn = open_fake(&f);
    assert_true(ferry_now_ms() - t0 >= 250);
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
}

static void test_open_times_out_without_socket(void **state)
{
    struct ferry_error err = {0};
    struct qmp_conn *conn = NULL;
    int64_t t0 = ferry_now_ms();
    int r = qmp_conn_open("/tmp/ferry-qmp-test-no-such-dir/qmp.sock", 200, &conn, &err);
    int64_t took = ferry_now_ms() - t0;

    assert_int_equal(r, -ETIMEDOUT);
    assert_null(conn);
    assert_int_equal(err.code, ETIMEDOUT);
    assert_non_null(strstr(err.msg, "not ready"));
    assert_true(took >= 190 && took < PROMPT_MS);
}

static void test_open_times_out_without_greeting(void **state)
{
    struct fake f = {.no_handshake = true};
    struct ferry_error err = {0};
    struct qmp_conn *conn = NULL;
    int64_t t0 = ferry_now_ms();
    int r;

    fake_start(&f, NULL, NULL);
    r = qmp_conn_open(f.path, 300, &conn, &err);
    assert_int_equal(r, -ETIMEDOUT);
    assert_null(conn);
    assert_non_null(strstr(err.msg, "no greeting"));
    assert_true(ferry_now_ms() - t0 < PROMPT_MS);
    assert_int_equal(fake_stop(&f), 0);
}

static void script_not_a_greeting(struct fake *f, int fd)
{
    fake_send(fd, "{\"return\": {}}");
}

static void test_open_rejects_missing_greeting(void **state)
{
    struct fake f = {.no_handshake = true};
    struct ferry_error err = {0};
    struct qmp_conn *conn = NULL;

    fake_start(&f, script_not_a_greeting, NULL);
    assert_int_equal(qmp_conn_open(f.path, 5000, &conn, &err), -ECONNRESET);
    assert_null(conn);
    assert_non_null(strstr(err.msg, "greeting"));
    assert_int_equal(fake_stop(&f), 0);
}

static void script_capabilities_error(struct fake *f, int fd)
{
    struct json_object *cmd;

    fake_greeting(fd);
    cmd = fake_expect(f, fd, "qmp_capabilities");
    fake_error(fd, cmd, "GenericError", "Capabilities negotiation is already complete");
    json_object_put(cmd);
}

static void test_open_reports_capabilities_error(void **state)
{
    struct fake f = {.no_handshake = true};
    struct ferry_error err = {0};
    struct qmp_conn *conn = NULL;

    fake_start(&f, script_capabilities_error, NULL);
    assert_int_equal(qmp_conn_open(f.path, 5000, &conn, &err), -EIO);
    assert_null(conn);
    assert_string_equal(err.msg, "QMP handshake: qmp_capabilities: GenericError: Capabilities "
                                 "negotiation is already complete");
    assert_int_equal(fake_stop(&f), 0);
}

/* ---- replies ---- */

static void script_query_status(struct fake *f, int fd)
{
    struct json_object *cmd = fake_expect(f, fd, "query-status");

    FAKE_CHECK(f, cmd && !json_object_object_get_ex(cmd, "arguments", NULL));
    fake_reply(fd, cmd, "{\"status\": \"running\", \"singlestep\": false, \"running\": true}");
    json_object_put(cmd);
    /* Arguments arrive intact and the reply carries them back. */
    cmd = fake_expect(f, fd, "echo");
    fake_reply(fd, cmd, json_object_to_json_string(json_object_object_get(cmd, "arguments")));
    json_object_put(cmd);
}

static void test_execute_return(void **state)
{
    struct fake f = {0};
    struct ferry_error err = {0};
    struct json_object *ret = NULL, *args;
    struct qmp_conn *conn;

    fake_start(&f, script_query_status, NULL);
    conn = open_fake(&f);
    assert_int_equal(qmp_conn_execute(conn, "query-status", NULL, 5000, &ret, &err), 0);
    assert_string_equal(json_object_get_string(json_object_object_get(ret, "status")), "running");
    assert_true(json_object_get_boolean(json_object_object_get(ret, "running")));
    json_object_put(ret);

    args = json_object_new_object();
    json_object_object_add(args, "device", json_object_new_string("drive-vda"));
    json_object_object_add(args, "speed", json_object_new_int64(1LL << 40));
    assert_int_equal(qmp_conn_execute(conn, "echo", args, 5000, &ret, &err), 0);
    assert_string_equal(json_object_get_string(json_object_object_get(ret, "device")), "drive-vda");
    assert_int_equal(json_object_get_int64(json_object_object_get(ret, "speed")), 1LL << 40);
    json_object_put(ret);
    assert_false(ferry_error_is_set(&err));
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
}

static void script_qemu_error(struct fake *f, int fd)
{
    struct json_object *cmd = fake_expect(f, fd, "no-such-command");

    fake_error(fd, cmd, "CommandNotFound", "The command no-such-command has not been found");
    json_object_put(cmd);
}

static void test_execute_qemu_error(void **state)
{
    struct fake f = {0};
    struct ferry_error err = {0};
    struct qmp_error_info info = {0};
    struct json_object *ret = NULL;
    struct qmp_conn *conn;

    fake_start(&f, script_qemu_error, NULL);
    conn = open_fake(&f);
    assert_int_equal(qmp_conn_execute_full(conn, "no-such-command", NULL, 5000, &ret, &info, &err),
                     -EIO);
    assert_null(ret);
    assert_int_equal(err.code, EIO);
    assert_string_equal(err.msg, "no-such-command: CommandNotFound: The command "
                                 "no-such-command has not been found");
    assert_string_equal(info.cls, "CommandNotFound");
    assert_string_equal(info.desc, "The command no-such-command has not been found");
    assert_true(qmp_conn_alive(conn));
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
}

static void script_big_reply(struct fake *f, int fd)
{
    struct json_object *cmd = fake_expect(f, fd, "big");
    size_t n = (size_t)2 * 1024 * 1024;
    char *s = malloc(n + 3);

    s[0] = '"';
    memset(s + 1, 'x', n);
    s[n + 1] = '"';
    s[n + 2] = '\0';
    fake_reply(fd, cmd, s);
    free(s);
    json_object_put(cmd);
}

static void test_large_reply_under_limit(void **state)
{
    struct fake f = {0};
    struct json_object *ret = NULL;
    struct qmp_conn *conn;

    fake_start(&f, script_big_reply, NULL);
    conn = open_fake(&f);
    assert_int_equal(qmp_conn_execute(conn, "big", NULL, 5000, &ret, NULL), 0);
    assert_int_equal(json_object_get_string_len(ret), 2 * 1024 * 1024);
    json_object_put(ret);
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
}

/* ---- id matching ---- */

static void script_unknown_ids(struct fake *f, int fd)
{
    struct json_object *cmd = fake_expect(f, fd, "query-name");
    const char *id = json_object_get_string(json_object_object_get(cmd, "id"));
    char next[64];

    fake_send(fd, "{\"return\": {\"bad\": 1}}");
    fake_send(fd, "{\"return\": {\"bad\": 2}, \"id\": \"ferry-999999\"}");
    fake_send(fd, "{\"return\": {\"bad\": 3}, \"id\": \"someone-else\"}");
    fake_send(fd, "{\"return\": {\"bad\": 4}, \"id\": 17}");
    fake_send(fd, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"bad 5\"}}");
    fake_send(fd, "[1, 2, 3]");
    fake_send(fd, "{\"something\": \"else\"}");
    /* Same prefix, but a different number: must not match either. */
    snprintf(next, sizeof next, "{\"return\": {\"bad\": 6}, \"id\": \"%s0\"}", id ? id : "");
    fake_send(fd, next);
    fake_reply(fd, cmd, "{\"name\": \"good\"}");
    json_object_put(cmd);
}

static void test_reply_with_unknown_id_ignored(void **state)
{
    struct fake f = {0};
    struct json_object *ret = NULL;
    struct qmp_conn *conn;

    fake_start(&f, script_unknown_ids, NULL);
    conn = open_fake(&f);
    assert_int_equal(qmp_conn_execute(conn, "query-name", NULL, 5000, &ret, NULL), 0);
    assert_string_equal(json_object_get_string(json_object_object_get(ret, "name")), "good");
    json_object_put(ret);
    assert_true(qmp_conn_alive(conn));
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
}

struct caller {
    struct qmp_conn *conn;
    int n;
    int r;
    int got;
    struct ferry_error err;
};

static void *caller_main(void *arg)
{
    struct caller *c = arg;
    struct json_object *args = json_object_new_object();
    struct json_object *ret = NULL;

    json_object_object_add(args, "n", json_object_new_int(c->n));
    c->r = qmp_conn_execute(c->conn, "echo", args, 5000, &ret, &c->err);
    c->got = json_object_get_int(json_object_object_get(ret, "n"));
    json_object_put(ret);
    return NULL;
}

static void script_interleaved(struct fake *f, int fd)
{
    struct json_object *cmd[3];

    for (int i = 0; i < 3; i++)
        cmd[i] = fake_expect(f, fd, "echo");
    /* All three are in flight: answer them neither in the order sent nor
     * in reverse. */
    for (int k = 0; k < 3; k++) {
        struct json_object *c = cmd[(k + 1) % 3];

        fake_reply(fd, c, json_object_to_json_string(json_object_object_get(c, "arguments")));
    }
    for (int i = 0; i < 3; i++)
        json_object_put(cmd[i]);
}

static void test_interleaved_replies(void **state)
{
    struct fake f = {0};
    struct caller c[3] = {{.n = 1}, {.n = 2}, {.n = 3}};
    pthread_t t[3];

    fake_start(&f, script_interleaved, NULL);
    c[0].conn = c[1].conn = c[2].conn = open_fake(&f);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&t[i], NULL, caller_main, &c[i]), 0);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(c[i].r, 0);
        assert_int_equal(c[i].got, c[i].n);
    }
    qmp_conn_free(c[0].conn);
    assert_int_equal(fake_stop(&f), 0);
}

#define STRESS_THREADS 8
#define STRESS_CALLS   50

static void script_stress(struct fake *f, int fd)
{
    for (int i = 0; i < STRESS_THREADS * STRESS_CALLS; i++) {
        struct json_object *cmd = fake_expect(f, fd, "echo");

        if (!cmd)
            return;
        if (i % 7 == 0)
            fake_event(fd, "TICK", NULL);
        fake_reply(fd, cmd, json_object_to_json_string(json_object_object_get(cmd, "arguments")));
        json_object_put(cmd);
    }
}

struct stress {
    struct qmp_conn *conn;
    int base;
    int wrong;
};

static void *stress_main(void *arg)
{
    struct stress *st = arg;

    for (int i = 0; i < STRESS_CALLS; i++) {
        struct json_object *args = json_object_new_object();
        struct json_object *ret = NULL;

        json_object_object_add(args, "n", json_object_new_int(st->base + i));
        if (qmp_conn_execute(st->conn, "echo", args, 10000, &ret, NULL) < 0 ||
            json_object_get_int(json_object_object_get(ret, "n")) != st->base + i)
            st->wrong++;
        json_object_put(ret);
    }
    return NULL;
}

static void test_many_concurrent_callers(void **state)
{
    struct fake f = {0};
    struct stress st[STRESS_THREADS];
    pthread_t t[STRESS_THREADS];
    struct qmp_conn *conn;

    fake_start(&f, script_stress, NULL);
    conn = open_fake(&f);
    for (int i = 0; i < STRESS_THREADS; i++) {
        st[i] = (struct stress){.conn = conn, .base = i * 1000};
        assert_int_equal(pthread_create(&t[i], NULL, stress_main, &st[i]), 0);
    }
    for (int i = 0; i < STRESS_THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(st[i].wrong, 0);
    }
    assert_int_equal(qmp_conn_event_seq(conn), (STRESS_THREADS * STRESS_CALLS + 6) / 7);
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
}

/* ---- raw commands and HMP ---- */

static void script_hmp(struct fake *f, int fd)
{
    struct json_object *cmd = fake_expect(f, fd, "human-monitor-command");
    struct json_object *args = json_object_object_get(cmd, "arguments");
    const char *line = json_object_get_string(json_object_object_get(args, "command-line"));

    FAKE_CHECK(f, line && strcmp(line, "info version") == 0);
    fake_reply(fd, cmd, "\"7.2.0Debian 1:7.2+dfsg-7\\r\\n\"");
    json_object_put(cmd);
}

static void test_hmp_output(void **state)
{
    struct fake f = {0};
    struct ferry_error err = {0};
    struct qmp_conn *conn;
    char *out = NULL;

    fake_start(&f, script_hmp, NULL);
    conn = open_fake(&f);
    assert_int_equal(qmp_conn_hmp(conn, "info version", 5000, &out, &err), 0);
    assert_string_equal(out, "7.2.0Debian 1:7.2+dfsg-7\r\n");
    free(out);
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
}

static void script_raw(struct fake *f, int fd)
{
    struct json_object *cmd = fake_expect(f, fd, "query-status");
    const char *id = json_object_get_string(json_object_object_get(cmd, "id"));

    /* Our own id replaces the user's. */
    FAKE_CHECK(f, id && strcmp(id, "user-1") != 0);
    FAKE_CHECK(f, !json_object_object_get_ex(cmd, "arguments", NULL));
    fake_reply(fd, cmd, "{\"status\": \"paused\", \"running\": false}");
    json_object_put(cmd);

    cmd = fake_expect(f, fd, "block-job-cancel");
    FAKE_CHECK(f, cmd && strcmp(json_object_get_string(json_object_object_get(
                                    json_object_object_get(cmd, "arguments"), "device")),
                                "job0") == 0);
    fake_error(fd, cmd, "DeviceNotActive", "No active block job on device 'job0'");
    json_object_put(cmd);
}

static void test_execute_str(void **state)
{
    static const char *const bad[] = {
        "",
        "not json",
        "[1]",
        "{}",
        "{\"execute\": 5}",
        "{\"execute\": \"\"}",
        "{\"execute\": \"x\", \"arguments\": []}",
        "{\"execute\": \"x\", \"exec-oob\": \"y\"}",
        "{\"execute\": \"x\"} {\"execute\": \"y\"}",
    };
    struct fake f = {0};
    struct ferry_error err = {0};
    struct qmp_error_info info = {0};
    struct json_object *ret = NULL;
    struct qmp_conn *conn;

    fake_start(&f, script_raw, NULL);
    conn = open_fake(&f);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ferry_error_clear(&err);
        assert_int_equal(qmp_conn_execute_str(conn, bad[i], 5000, &ret, NULL, &err), -EINVAL);
        assert_null(ret);
    }
    assert_int_equal(qmp_conn_execute_str(conn,
                                          " {\"execute\": \"query-status\", \"id\": "
                                          "\"user-1\"}\n",
                                          5000, &ret, NULL, NULL),
                     0);
    assert_string_equal(json_object_get_string(json_object_object_get(ret, "status")), "paused");
    json_object_put(ret);
    ret = NULL;
    ferry_error_clear(&err);
    assert_int_equal(qmp_conn_execute_str(conn,
                                          "{\"execute\": \"block-job-cancel\", \"arguments\": "
                                          "{\"device\": \"job0\"}}",
                                          5000, &ret, &info, &err),
                     -EIO);
    assert_null(ret);
    assert_string_equal(info.cls, "DeviceNotActive");
    assert_string_equal(err.msg,
                        "block-job-cancel: DeviceNotActive: No active block job on device 'job0'");
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_greeting),
        cmocka_unit_test(test_open_retries_until_socket_exists),
        cmocka_unit_test(test_open_times_out_without_socket),
        cmocka_unit_test(test_open_times_out_without_greeting),
        cmocka_unit_test(test_open_rejects_missing_greeting),
        cmocka_unit_test(test_open_reports_capabilities_error),
        cmocka_unit_test(test_execute_return),
        cmocka_unit_test(test_execute_qemu_error),
        cmocka_unit_test(test_large_reply_under_limit),
        cmocka_unit_test(test_reply_with_unknown_id_ignored),
        cmocka_unit_test(test_interleaved_replies),
        cmocka_unit_test(test_many_concurrent_callers),
        cmocka_unit_test(test_hmp_output),
        cmocka_unit_test(test_execute_str),
    };

    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    fake_cleanup_all();
    return failed;
}
