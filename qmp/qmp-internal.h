/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private state of a QMP connection, shared by the command side (qmp.c),
 * the reader thread (qmp-reader.c) and the event log (qmp-event.c). */
#ifndef FERRY_QMP_INTERNAL_H
#define FERRY_QMP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qmp.h"

/* Prefix of the ids we put on commands: "ferry-<n>". */
#define QMP_ID_PREFIX "ferry-"

/* One command waiting for its reply. Lives on the caller's stack and is
 * linked into conn->pending only while the caller is inside execute. */
struct qmp_pending {
    struct qmp_pending *next;
    uint64_t id;
    struct json_object *reply; /* set by the reader; owned by the entry */
};

struct qmp_event_entry {
    uint64_t seq;
    struct json_object *event; /* owned; the whole event object */
    const char *name;          /* points into EVENT */
    size_t size;               /* line length, for QMP_EVENT_LOG_MAX_BYTES */
};

struct qmp_conn {
    /* The socket. Set at open; closed (and set to -1) under LOCK only once
     * the connection is closed, the reader has stopped and no writer is
     * sending (see release_fd): a stopped QEMU's monitor must not hold a
     * descriptor until the domain is freed. */
    int fd;
    char *path; /* for messages */

    /* Serialises calls to the event callback with its replacement. */
    pthread_mutex_t cb_lock;
    qmp_event_cb cb; /* under cb_lock */
    void *cb_opaque; /* under cb_lock */

    pthread_t reader;
    bool reader_started;

    /* LOCK protects everything below; COND (CLOCK_MONOTONIC) is broadcast
     * on every change a waiter may care about: greeting, reply, event,
     * close, a writer finishing, the last user leaving during free. */
    pthread_mutex_t lock;
    pthread_cond_t cond;

    bool greeted;
    int version[3];

    bool writing; /* one thread is sending; others wait on COND */

    bool closed;
    char close_reason[256]; /* the first reason wins */
    bool close_requested;   /* qmp_conn_close ran: the fd goes as soon as it can */
    bool reader_done;       /* the reader thread no longer uses the fd */

    bool freeing;
    unsigned users; /* threads inside execute / wait_event */

    uint64_t next_id;
    struct qmp_pending *pending;

    /* Ring of the newest events, oldest at ev_head. */
    struct qmp_event_entry events[QMP_EVENT_LOG_MAX];
    size_t ev_head, ev_count, ev_bytes;
    uint64_t event_seq; /* seq of the newest event ever received */
};

/* All with conn->lock held. */
void qmp_internal_mark_closed(struct qmp_conn *conn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Waits on conn->cond until DEADLINE_MS (monotonic, -1: none); returns
 * ETIMEDOUT once it has passed, else 0. */
int qmp_internal_wait(struct qmp_conn *conn, int64_t deadline_ms);
void qmp_internal_leave(struct qmp_conn *conn);
/* With conn->lock held: closes the socket once qmp_conn_close() asked for
 * it and the reader has stopped, after any writer finished. */
void qmp_internal_release_fd(struct qmp_conn *conn);

/* Event log (qmp-event.c). push takes EVENT; lock held. */
void qmp_internal_event_push(struct qmp_conn *conn, struct json_object *event, const char *name,
                             size_t size);
/* Runs the callback for one event (NAME NULL: closed); lock NOT held. */
void qmp_internal_event_notify(struct qmp_conn *conn, const char *name, struct json_object *data);

/* Reader thread body (qmp-reader.c); ARG is the connection. */
void *qmp_internal_reader_main(void *arg);

/* Logs raw protocol text at debug level, shortened for huge messages. */
void qmp_internal_log_raw(const struct qmp_conn *conn, const char *dir, const char *text,
                          size_t len);

#endif
