/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The per-connection event log: a bounded ring of the newest events with
 * increasing sequence numbers, waiting on it with a predicate, and the
 * optional event callback. */
#include "qmp-internal.h"

#include <errno.h>
#include <string.h>

#include "util.h"

static void drop_oldest(struct qmp_conn *conn)
{
    struct qmp_event_entry *e = &conn->events[conn->ev_head];

    ferry_debug("qmp '%s': event log full, dropping event %llu (%s)", conn->path,
                (unsigned long long)e->seq, e->name);
    conn->ev_bytes -= e->size;
    json_object_put(e->event);
    memset(e, 0, sizeof *e);
    conn->ev_head = (conn->ev_head + 1) % QMP_EVENT_LOG_MAX;
    conn->ev_count--;
}

void qmp_internal_event_push(struct qmp_conn *conn, struct json_object *event, const char *name,
                             size_t size)
{
    struct qmp_event_entry *e;

    while (conn->ev_count > 0 &&
           (conn->ev_count == QMP_EVENT_LOG_MAX || conn->ev_bytes + size > QMP_EVENT_LOG_MAX_BYTES))
        drop_oldest(conn);
    e = &conn->events[(conn->ev_head + conn->ev_count) % QMP_EVENT_LOG_MAX];
    e->seq = ++conn->event_seq;
    e->event = event;
    e->name = name;
    e->size = size;
    conn->ev_count++;
    conn->ev_bytes += size;
    pthread_cond_broadcast(&conn->cond);
}

void qmp_internal_event_notify(struct qmp_conn *conn, const char *name, struct json_object *data)
{
    pthread_mutex_lock(&conn->cb_lock);
    if (conn->cb)
        conn->cb(conn, name, data, conn->cb_opaque);
    pthread_mutex_unlock(&conn->cb_lock);
}

void qmp_conn_set_event_cb(struct qmp_conn *conn, qmp_event_cb cb, void *opaque)
{
    /* From the callback itself cb_lock is already held by this thread. */
    bool on_reader = conn->reader_started && pthread_equal(pthread_self(), conn->reader);

    if (!on_reader)
        pthread_mutex_lock(&conn->cb_lock);
    conn->cb = cb;
    conn->cb_opaque = opaque;
    if (!on_reader)
        pthread_mutex_unlock(&conn->cb_lock);
}

uint64_t qmp_conn_event_seq(struct qmp_conn *conn)
{
    uint64_t seq;

    pthread_mutex_lock(&conn->lock);
    seq = conn->event_seq;
    pthread_mutex_unlock(&conn->lock);
    return seq;
}

bool qmp_event_is(const char *name, struct json_object *data, void *opaque)
{
    return name && opaque && strcmp(name, (const char *)opaque) == 0;
}

/* Looks for the first event with seq > AFTER that satisfies PRED; lock
 * held. */
static const struct qmp_event_entry *find_event(struct qmp_conn *conn, uint64_t after,
                                                qmp_event_pred pred, void *opaque)
{
    for (size_t i = 0; i < conn->ev_count; i++) {
        const struct qmp_event_entry *e = &conn->events[(conn->ev_head + i) % QMP_EVENT_LOG_MAX];

        if (e->seq <= after)
            continue;
        if (!pred || pred(e->name, json_object_object_get(e->event, "data"), opaque))
            return e;
    }
    return NULL;
}

int qmp_conn_wait_event(struct qmp_conn *conn, uint64_t after_seq, qmp_event_pred pred,
                        void *opaque, int timeout_ms, struct json_object **ret_event,
                        uint64_t *ret_seq, struct ferry_error *err)
{
    int64_t deadline = timeout_ms < 0 ? -1 : ferry_now_ms() + timeout_ms;
    const struct qmp_event_entry *found = NULL;
    uint64_t scanned = after_seq;
    bool timed_out = false;
    int r = 0;

    pthread_mutex_lock(&conn->lock);
    conn->users++;
    for (;;) {
        /* Events up to SCANNED were already refused by PRED. */
        found = find_event(conn, scanned, pred, opaque);
        if (found)
            break;
        if (conn->event_seq > scanned)
            scanned = conn->event_seq;
        if (conn->closed) {
            r = ferry_error_set(err, ECONNRESET, "waiting for QMP event: monitor '%s' closed: %s",
                                conn->path, conn->close_reason);
            break;
        }
        if (timed_out) {
            r = ferry_error_set(err, ETIMEDOUT, "waiting for QMP event: none matched within %d ms",
                                timeout_ms);
            break;
        }
        timed_out = qmp_internal_wait(conn, deadline) == ETIMEDOUT;
    }
    if (found) {
        /* A copy, not a reference: json-c reference counts are not atomic
         * and the log's reference is dropped on the reader thread. */
        struct json_object *copy = NULL;

        if (ret_event && json_object_deep_copy(found->event, &copy, NULL) < 0)
            r = ferry_error_set(err, ENOMEM, "waiting for QMP event: out of memory");
        else if (ret_event)
            *ret_event = copy;
        if (r == 0 && ret_seq)
            *ret_seq = found->seq;
    }
    qmp_internal_leave(conn);
    pthread_mutex_unlock(&conn->lock);
    return r;
}
