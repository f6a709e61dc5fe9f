/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qmp/ event handling against a fake QMP server: events interleaved with
 * replies, sequence numbers and after_seq, predicates, the bounded log, the
 * event callback. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "test-qmp-client.h"

static const char *event_name(struct json_object *ev)
{
    return json_object_get_string(json_object_object_get(ev, "event"));
}

/* Answers every "emit" command by sending the events named in its
 * arguments {"events": [..]} before the reply, until "done". */
static void script_emit(struct fake *f, int fd)
{
    for (;;) {
        struct json_object *cmd = fake_recv(f, fd);
        const char *exec = json_object_get_string(json_object_object_get(cmd, "execute"));
        struct json_object *args = json_object_object_get(cmd, "arguments");
        struct json_object *events = json_object_object_get(args, "events");
        bool after = json_object_get_boolean(json_object_object_get(args, "after"));

        if (!cmd || strcmp(exec, "done") == 0) {
            json_object_put(cmd);
            return;
        }
        FAKE_CHECK(f, strcmp(exec, "emit") == 0);
        if (after)
            fake_reply(fd, cmd, "{}");
        for (size_t i = 0; i < json_object_array_length(events); i++) {
            char data[64];

            if (after)
                usleep(100 * 1000);
            snprintf(data, sizeof data, "{\"i\": %zu}", i + 1);
            fake_event(fd, json_object_get_string(json_object_array_get_idx(events, i)), data);
        }
        if (!after)
            fake_reply(fd, cmd, "{}");
        json_object_put(cmd);
    }
}

/* Runs "emit" for the NULL-terminated event names; AFTER: reply first. */
static void emit(struct qmp_conn *conn, int after, ...)
{
    struct json_object *args = json_object_new_object();
    struct json_object *events = json_object_new_array();
    struct ferry_error err = {0};
    const char *name;
    va_list ap;

    va_start(ap, after);
    while ((name = va_arg(ap, const char *)))
        json_object_array_add(events, json_object_new_string(name));
    va_end(ap);
    json_object_object_add(args, "events", events);
    json_object_object_add(args, "after", json_object_new_boolean(after != 0));
    assert_int_equal(qmp_conn_execute(conn, "emit", args, 5000, NULL, &err), 0);
}

static void done(struct qmp_conn *conn, struct fake *f)
{
    struct ferry_error err = {0};

    /* No reply comes to "done"; a short timeout is the expected outcome. */
    assert_int_equal(qmp_conn_execute(conn, "done", NULL, 50, NULL, &err), -ETIMEDOUT);
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(f), 0);
}

static void test_events_before_reply_are_queued(void **state)
{
    struct fake f = {0};
    struct json_object *ev = NULL;
    struct qmp_conn *conn;
    uint64_t seq0, seq = 0;

    fake_start(&f, script_emit, NULL);
    conn = open_fake(&f);
    seq0 = qmp_conn_event_seq(conn);
    assert_int_equal(seq0, 0);
    emit(conn, false, "STOP", "RESUME", (const char *)NULL);
    /* Both arrived before the reply, so they are in the log already. */
    assert_int_equal(qmp_conn_event_seq(conn), seq0 + 2);
    assert_int_equal(
        qmp_conn_wait_event(conn, seq0, qmp_event_is, (void *)"RESUME", 0, &ev, &seq, NULL), 0);
    assert_string_equal(event_name(ev), "RESUME");
    assert_int_equal(seq, seq0 + 2);
    assert_non_null(json_object_object_get(ev, "timestamp"));
    json_object_put(ev);
    assert_int_equal(
        qmp_conn_wait_event(conn, seq0, qmp_event_is, (void *)"STOP", 0, NULL, &seq, NULL), 0);
    assert_int_equal(seq, seq0 + 1);
    done(conn, &f);
}

static void test_event_seq_and_after_seq(void **state)
{
    struct fake f = {0};
    struct ferry_error err = {0};
    struct json_object *ev = NULL;
    struct qmp_conn *conn;
    uint64_t seq = 0, prev;
    int64_t t0, took;

    fake_start(&f, script_emit, NULL);
    conn = open_fake(&f);
    emit(conn, false, "A", "B", "C", (const char *)NULL);
    assert_int_equal(qmp_conn_event_seq(conn), 3);

    /* With no predicate, after_seq walks the log one event at a time. */
    prev = 0;
    for (int i = 0; i < 3; i++) {
        const char *want[] = {"A", "B", "C"};

        assert_int_equal(qmp_conn_wait_event(conn, prev, NULL, NULL, 0, &ev, &seq, NULL), 0);
        assert_string_equal(event_name(ev), want[i]);
        assert_int_equal(seq, prev + 1);
        json_object_put(ev);
        prev = seq;
    }
    /* An event at or before after_seq is never returned. */
    assert_int_equal(qmp_conn_wait_event(conn, 1, qmp_event_is, (void *)"A", 0, NULL, NULL, &err),
                     -ETIMEDOUT);
    ferry_error_clear(&err);
    t0 = ferry_now_ms();
    assert_int_equal(qmp_conn_wait_event(conn, 3, NULL, NULL, 200, NULL, NULL, &err), -ETIMEDOUT);
    took = ferry_now_ms() - t0;
    assert_true(took >= 190 && took < PROMPT_MS);
    assert_int_equal(err.code, ETIMEDOUT);
    done(conn, &f);
}

static bool data_i_is(const char *name, struct json_object *data, void *opaque)
{
    return json_object_get_int(json_object_object_get(data, "i")) == *(int *)opaque;
}

static void test_predicate_sees_data(void **state)
{
    struct fake f = {0};
    struct json_object *ev = NULL;
    struct qmp_conn *conn;
    uint64_t seq = 0;
    int want = 2;

    fake_start(&f, script_emit, NULL);
    conn = open_fake(&f);
    emit(conn, false, "JOB_STATUS_CHANGE", "JOB_STATUS_CHANGE", "JOB_STATUS_CHANGE",
         (const char *)NULL);
    assert_int_equal(qmp_conn_wait_event(conn, 0, data_i_is, &want, 0, &ev, &seq, NULL), 0);
    assert_int_equal(seq, 2);
    assert_int_equal(
        json_object_get_int(json_object_object_get(json_object_object_get(ev, "data"), "i")), 2);
    json_object_put(ev);
    done(conn, &f);
}

static void test_wait_blocks_until_event_arrives(void **state)
{
    struct fake f = {0};
    struct json_object *ev = NULL;
    struct qmp_conn *conn;
    uint64_t seq0, seq = 0;

    fake_start(&f, script_emit, NULL);
    conn = open_fake(&f);
    seq0 = qmp_conn_event_seq(conn);
    /* The reply comes first; the events follow 100 ms apart. */
    emit(conn, true, "BLOCK_JOB_READY", "MIGRATION", (const char *)NULL);
    assert_int_equal(
        qmp_conn_wait_event(conn, seq0, qmp_event_is, (void *)"MIGRATION", 5000, &ev, &seq, NULL),
        0);
    assert_string_equal(event_name(ev), "MIGRATION");
    assert_int_equal(seq, seq0 + 2);
    json_object_put(ev);
    done(conn, &f);
}

static void test_event_log_is_bounded(void **state)
{
    struct fake f = {0};
    struct json_object *args = json_object_new_object();
    struct json_object *events = json_object_new_array();
    struct json_object *ev = NULL;
    struct qmp_conn *conn;
    uint64_t seq = 0;

    fake_start(&f, script_emit, NULL);
    conn = open_fake(&f);
    for (int i = 0; i < QMP_EVENT_LOG_MAX + 10; i++)
        json_object_array_add(events, json_object_new_string(i < 10 ? "OLD" : "NEW"));
    json_object_object_add(args, "events", events);
    assert_int_equal(qmp_conn_execute(conn, "emit", args, 10000, NULL, NULL), 0);
    assert_int_equal(qmp_conn_event_seq(conn), QMP_EVENT_LOG_MAX + 10);
    /* The ten oldest were dropped; the log starts at seq 11. */
    assert_int_equal(qmp_conn_wait_event(conn, 0, NULL, NULL, 0, &ev, &seq, NULL), 0);
    assert_int_equal(seq, 11);
    assert_string_equal(event_name(ev), "NEW");
    json_object_put(ev);
    assert_int_equal(qmp_conn_wait_event(conn, 0, qmp_event_is, (void *)"OLD", 0, NULL, NULL, NULL),
                     -ETIMEDOUT);
    done(conn, &f);
}

struct cb_log {
    pthread_mutex_t lock;
    char names[8][32];
    int n;
    int closes;
    int data_i_sum;
};

static void record_cb(struct qmp_conn *conn, const char *name, struct json_object *data,
                      void *opaque)
{
    struct cb_log *log = opaque;

    pthread_mutex_lock(&log->lock);
    if (!name) {
        log->closes++;
    } else if (log->n < 8) {
        /* The event is already in the log when the callback runs. */
        if (qmp_conn_event_seq(conn) == (uint64_t)log->n + 1)
            snprintf(log->names[log->n], sizeof log->names[0], "%s", name);
        log->n++;
        log->data_i_sum += json_object_get_int(json_object_object_get(data, "i"));
    }
    pthread_mutex_unlock(&log->lock);
}

static void test_event_callback(void **state)
{
    struct fake f = {0};
    struct cb_log log = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct qmp_conn *conn;

    fake_start(&f, script_emit, NULL);
    conn = open_fake(&f);
    qmp_conn_set_event_cb(conn, record_cb, &log);
    emit(conn, false, "STOP", "RESUME", "SHUTDOWN", (const char *)NULL);
    /* Events precede the reply on the wire, so their callbacks have run. */
    pthread_mutex_lock(&log.lock);
    assert_int_equal(log.n, 3);
    assert_string_equal(log.names[0], "STOP");
    assert_string_equal(log.names[1], "RESUME");
    assert_string_equal(log.names[2], "SHUTDOWN");
    assert_int_equal(log.data_i_sum, 1 + 2 + 3);
    assert_int_equal(log.closes, 0);
    pthread_mutex_unlock(&log.lock);

    /* Removing the callback stops it; the close notice goes nowhere. */
    qmp_conn_set_event_cb(conn, NULL, NULL);
    emit(conn, false, "STOP", (const char *)NULL);
    assert_int_equal(log.n, 3);
    qmp_conn_set_event_cb(conn, record_cb, &log);
    done(conn, &f);
    /* free closed the monitor: one close notice. */
    assert_int_equal(log.closes, 1);
}

static void script_events_then_close(struct fake *f, int fd)
{
    fake_event(fd, "SHUTDOWN", "{\"guest\": false, \"reason\": \"host-signal\"}");
    shutdown(fd, SHUT_RDWR);
}

static void test_events_before_close_still_found(void **state)
{
    struct fake f = {0};
    struct ferry_error err = {0};
    struct qmp_conn *conn;
    uint64_t seq = 0;

    fake_start(&f, script_events_then_close, NULL);
    conn = open_fake(&f);
    /* Whatever the timing, SHUTDOWN is found, then NEVER fails with reset. */
    assert_int_equal(
        qmp_conn_wait_event(conn, 0, qmp_event_is, (void *)"SHUTDOWN", 5000, NULL, &seq, &err), 0);
    assert_int_equal(seq, 1);
    assert_int_equal(
        qmp_conn_wait_event(conn, 0, qmp_event_is, (void *)"NEVER", 5000, NULL, NULL, &err),
        -ECONNRESET);
    assert_int_equal(
        qmp_conn_wait_event(conn, 0, qmp_event_is, (void *)"SHUTDOWN", 0, NULL, NULL, NULL), 0);
    qmp_conn_free(conn);
    assert_int_equal(fake_stop(&f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_events_before_reply_are_queued),
        cmocka_unit_test(test_event_seq_and_after_seq),
        cmocka_unit_test(test_predicate_sees_data),
        cmocka_unit_test(test_wait_blocks_until_event_arrives),
        cmocka_unit_test(test_event_log_is_bounded),
        cmocka_unit_test(test_event_callback),
        cmocka_unit_test(test_events_before_close_still_found),
    };

    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    fake_cleanup_all();
    return failed;
}
