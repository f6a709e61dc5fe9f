/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QMP client: one connection to one QEMU monitor over a unix socket.
 *
 * Threads: a connection owns a reader thread that parses everything QEMU
 * sends. Replies are matched to callers by command id; asynchronous events
 * are appended to a bounded per-connection log with increasing sequence
 * numbers. Any number of threads may call qmp_conn_execute() and
 * qmp_conn_wait_event() concurrently. When QEMU goes away (EOF, reset),
 * every pending and future call fails promptly with -ECONNRESET and a
 * message that says the monitor closed; nothing hangs. */
#ifndef FERRY_QMP_H
#define FERRY_QMP_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"

struct qmp_conn;

/* Upper bound on one message from QEMU (a reply or an event). Larger lines
 * close the connection: a monitor that floods us is not trusted. */
#define QMP_MAX_MESSAGE (16u * 1024 * 1024)
/* Events kept in the log; the oldest are dropped first. */
#define QMP_EVENT_LOG_MAX 1024
/* Bytes of event text kept in the log (sum of the events' line lengths);
 * the oldest are dropped first, the newest event is always kept. */
#define QMP_EVENT_LOG_MAX_BYTES ((size_t)8 * 1024 * 1024)
/* Nesting depth of one message; deeper documents close the connection.
 * Generous enough for query-block on long backing chains. */
#define QMP_MAX_DEPTH 128

/* QEMU's error, as carried in {"error": {"class": ..., "desc": ...}}. */
struct qmp_error_info {
    char cls[64]; /* e.g. "GenericError", "CommandNotFound"; "" if none */
    char desc[512];
};

/* Connects to the unix socket PATH, reads the greeting and runs
 * qmp_capabilities. Retries connecting until TIMEOUT_MS has elapsed (QEMU
 * may still be creating the socket). On success *ret owns the connection:
 * free with qmp_conn_free(). */
int qmp_conn_open(const char *path, int timeout_ms, struct qmp_conn **ret, struct ferry_error *err);

/* Closes the socket, stops the reader thread, frees. NULL is fine.
 * Threads already blocked in qmp_conn_execute*() / qmp_conn_wait_event() on
 * CONN are woken with -ECONNRESET and free waits for them to return; the
 * caller must make sure no thread *enters* a call on CONN once free has
 * begun. Must not be called from the event callback. */
void qmp_conn_free(struct qmp_conn *conn);

/* Shuts the monitor connection down without freeing it: every pending and
 * future call fails with -ECONNRESET ("closed by client"). CONN stays valid
 * until qmp_conn_free(). Safe from any thread, including the callback. */
void qmp_conn_close(struct qmp_conn *conn);

/* The greeting's QEMU version, e.g. {7, 2, 0}. */
void qmp_conn_version(struct qmp_conn *conn, int *major, int *minor, int *micro);

/* False once the monitor has closed or failed. */
bool qmp_conn_alive(struct qmp_conn *conn);

/* Runs COMMAND with ARGS (taken, may be NULL) and waits up to TIMEOUT_MS
 * (-1: no limit) for its reply.
 * Success: returns 0 and, if RET_RETURN is not NULL, stores the "return"
 * value (caller puts it with json_object_put; may be an empty object).
 * QEMU error: returns -EIO, fills ERR with "COMMAND: CLASS: DESC" and, if
 * RET_QEMU_ERR is not NULL, the class and description.
 * -ETIMEDOUT when no reply came in time (the late reply is discarded),
 * -ECONNRESET when the monitor closed. */
int qmp_conn_execute_full(struct qmp_conn *conn, const char *command, struct json_object *args,
                          int timeout_ms, struct json_object **ret_return,
                          struct qmp_error_info *ret_qemu_err, struct ferry_error *err);

static inline int qmp_conn_execute(struct qmp_conn *conn, const char *command,
                                   struct json_object *args, int timeout_ms,
                                   struct json_object **ret_return, struct ferry_error *err)
{
    return qmp_conn_execute_full(conn, command, args, timeout_ms, ret_return, NULL, err);
}

/* Passes descriptor FD (borrowed: the caller still closes its copy) to
 * QEMU over the monitor socket and names it FDNAME with getfd, for commands
 * that take a descriptor by name (nbd-server-start's "fd" address, ...).
 * Returns like qmp_conn_execute(). The name belongs to this monitor
 * connection: use it on CONN only. */
int qmp_conn_getfd(struct qmp_conn *conn, const char *fdname, int fd, int timeout_ms,
                   struct ferry_error *err);

/* Runs a raw QMP command given as JSON TEXT (borrowed), as typed by a user
 * (ferryctl qemu-monitor-command): an object with a string "execute" and
 * optionally an object "arguments"; a user "id" is ignored (our own id is
 * used), any other member is refused with -EINVAL, as is text that is not
 * such an object or longer than QMP_MAX_MESSAGE. Otherwise behaves exactly
 * like qmp_conn_execute_full() (same returns and ownership of *ret_return). */
int qmp_conn_execute_str(struct qmp_conn *conn, const char *text, int timeout_ms,
                         struct json_object **ret_return, struct qmp_error_info *ret_qemu_err,
                         struct ferry_error *err);

/* Runs a human monitor command through human-monitor-command. *ret_output
 * (may be NULL) gets the text QEMU printed; caller frees with free(). */
int qmp_conn_hmp(struct qmp_conn *conn, const char *cmdline, int timeout_ms, char **ret_output,
                 struct ferry_error *err);

/* Sequence number of the newest event received so far (0 if none). Take it
 * before triggering an action, then wait for events after it: no event can
 * be missed between the two. */
uint64_t qmp_conn_event_seq(struct qmp_conn *conn);

/* Predicate for qmp_conn_wait_event: NAME is the event name, DATA its
 * "data" member (may be NULL); both borrowed for the call only (read them,
 * do not json_object_get them: json-c reference counts are not atomic).
 * Called with the connection's lock held: it must not call back into the
 * connection. */
typedef bool (*qmp_event_pred)(const char *name, struct json_object *data, void *opaque);

/* Waits until an event with a sequence number > AFTER_SEQ satisfies PRED
 * (NULL: any event),
 * or TIMEOUT_MS (-1: no limit) passes. On success *ret_event (may be NULL)
 * gets a private copy of the whole event object {"event","data",
 * "timestamp"} (caller puts it) and *ret_seq (may be NULL) its sequence
 * number. Events dropped from a full log (QMP_EVENT_LOG_MAX) are not found:
 * wait soon after taking AFTER_SEQ.
 * -ETIMEDOUT on timeout; -ECONNRESET if the monitor closed first (events
 * queued before the close are still found). */
int qmp_conn_wait_event(struct qmp_conn *conn, uint64_t after_seq, qmp_event_pred pred,
                        void *opaque, int timeout_ms, struct json_object **ret_event,
                        uint64_t *ret_seq, struct ferry_error *err);

/* Convenience predicate: OPAQUE is a const char * event name. */
bool qmp_event_is(const char *name, struct json_object *data, void *opaque);

/* Optional callback run on the reader thread for every event as it
 * arrives (after it is in the log; NAME and DATA borrowed for the call
 * only, DATA may be NULL: keep a json_object_deep_copy, not a reference),
 * and once with NAME == NULL when the monitor closes (also during
 * qmp_conn_free). It must not call qmp_conn_execute / qmp_conn_wait_event /
 * qmp_conn_free on this connection (it would wait for itself);
 * qmp_conn_event_seq, qmp_conn_alive, qmp_conn_close and
 * qmp_conn_set_event_cb are fine. Replacing the callback waits for a
 * running call to the old one to finish (unless done from the callback
 * itself), so OPAQUE may be freed after. */
typedef void (*qmp_event_cb)(struct qmp_conn *conn, const char *name, struct json_object *data,
                             void *opaque);
void qmp_conn_set_event_cb(struct qmp_conn *conn, qmp_event_cb cb, void *opaque);

#endif
