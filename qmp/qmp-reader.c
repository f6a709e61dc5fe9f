/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The reader thread of a QMP connection: splits QEMU's output into lines,
 * parses each as one bounded JSON message and dispatches it as the
 * greeting, a reply (matched by id) or an event. Anything that breaks the
 * protocol (oversized line, invalid JSON, no greeting) closes the
 * connection: we cannot resynchronise with a monitor we do not trust. */
#include "qmp-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "util.h"

/* Bytes read from the socket per recv(). */
#define READ_CHUNK ((size_t)64 * 1024)

static inline void json_tokener_freep(struct json_tokener **t)
{
    if (*t)
        json_tokener_free(*t);
}

static int json_int_member(struct json_object *o, const char *key)
{
    struct json_object *v = json_object_object_get(o, key);

    return json_object_is_type(v, json_type_int) ? json_object_get_int(v) : 0;
}

static void handle_greeting(struct qmp_conn *conn, struct json_object *msg)
{
    struct json_object *qmp = json_object_object_get(msg, "QMP");
    struct json_object *version = json_object_object_get(qmp, "version");
    struct json_object *qemu = json_object_object_get(version, "qemu");

    pthread_mutex_lock(&conn->lock);
    if (!conn->greeted) {
        conn->version[0] = json_int_member(qemu, "major");
        conn->version[1] = json_int_member(qemu, "minor");
        conn->version[2] = json_int_member(qemu, "micro");
        conn->greeted = true;
        pthread_cond_broadcast(&conn->cond);
    } else {
        ferry_debug("qmp '%s': second greeting ignored", conn->path);
    }
    pthread_mutex_unlock(&conn->lock);
}

/* Parses "ferry-<n>"; false for ids we did not make. */
static bool parse_id(struct json_object *id, uint64_t *ret)
{
    const char *s;

    if (!json_object_is_type(id, json_type_string))
        return false;
    s = json_object_get_string(id);
    if (strncmp(s, QMP_ID_PREFIX, strlen(QMP_ID_PREFIX)) != 0)
        return false;
    return ferry_parse_u64(s + strlen(QMP_ID_PREFIX), ret) == 0;
}

/* Hands MSG (taken) to the caller waiting for its id, or drops it. The
 * reader keeps no reference: json-c reference counts are not atomic, so an
 * object must have one owning thread at a time. */
static void handle_reply(struct qmp_conn *conn, struct json_object *msg_in)
{
    _cleanup_(json_object_putp) struct json_object *msg = msg_in;
    struct json_object *id_obj = json_object_object_get(msg, "id");
    uint64_t id;

    if (!parse_id(id_obj, &id)) {
        ferry_debug("qmp '%s': reply without one of our ids discarded", conn->path);
        return;
    }
    pthread_mutex_lock(&conn->lock);
    for (struct qmp_pending *p = conn->pending; p; p = p->next) {
        if (p->id == id && !p->reply) {
            p->reply = TAKE_PTR(msg);
            pthread_cond_broadcast(&conn->cond);
            pthread_mutex_unlock(&conn->lock);
            return;
        }
    }
    pthread_mutex_unlock(&conn->lock);
    /* The caller gave up (timeout) or the id is forged. */
    ferry_debug("qmp '%s': reply to unknown id %" PRIu64 " discarded", conn->path, id);
}

static void handle_event(struct qmp_conn *conn, struct json_object *msg, size_t size)
{
    struct json_object *name_obj = json_object_object_get(msg, "event");
    const char *name = json_object_get_string(name_obj);
    struct json_object *data = json_object_object_get(msg, "data");

    pthread_mutex_lock(&conn->lock);
    /* The log takes one reference; ours keeps NAME and DATA alive for the
     * callback even if the log drops the event meanwhile. Both references
     * only ever change on this thread (waiters get deep copies). */
    qmp_internal_event_push(conn, json_object_get(msg), name, size);
    pthread_mutex_unlock(&conn->lock);
    qmp_internal_event_notify(conn, name, data);
}

static bool all_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* Handles one line (without its '\n'). Returns 0, or -EPROTO with *REASON
 * set when the connection must be closed. */
static int handle_line(struct qmp_conn *conn, struct json_tokener *tok, const char *line,
                       size_t len, const char **reason)
{
    _cleanup_(json_object_putp) struct json_object *msg = NULL;
    enum json_tokener_error jerr;
    bool greeted;

    if (all_space(line, len))
        return 0;
    qmp_internal_log_raw(conn, "<<<", line, len);
    if (memchr(line, '\0', len)) {
        *reason = "monitor sent a NUL byte";
        return -EPROTO;
    }
    json_tokener_reset(tok);
    msg = json_tokener_parse_ex(tok, line, (int)len);
    jerr = json_tokener_get_error(tok);
    if (!msg || jerr != json_tokener_success ||
        !all_space(line + json_tokener_get_parse_end(tok), len - json_tokener_get_parse_end(tok))) {
        *reason = jerr == json_tokener_error_depth ? "monitor sent JSON nested too deeply"
                                                   : "monitor sent invalid JSON";
        return -EPROTO;
    }

    pthread_mutex_lock(&conn->lock);
    greeted = conn->greeted;
    pthread_mutex_unlock(&conn->lock);

    if (!json_object_is_type(msg, json_type_object)) {
        ferry_debug("qmp '%s': non-object message discarded", conn->path);
        return 0;
    }
    if (json_object_object_get_ex(msg, "QMP", NULL)) {
        handle_greeting(conn, msg);
        return 0;
    }
    if (!greeted) {
        *reason = "monitor did not start with a QMP greeting";
        return -EPROTO;
    }
    if (json_object_is_type(json_object_object_get(msg, "event"), json_type_string)) {
        handle_event(conn, msg, len);
        return 0;
    }
    if (json_object_object_get_ex(msg, "return", NULL) ||
        json_object_object_get_ex(msg, "error", NULL)) {
        handle_reply(conn, TAKE_PTR(msg));
        return 0;
    }
    ferry_debug("qmp '%s': unrecognised message discarded", conn->path);
    return 0;
}

void *qmp_internal_reader_main(void *arg)
{
    struct qmp_conn *conn = arg;
    _cleanup_(json_tokener_freep) struct json_tokener *tok = json_tokener_new_ex(QMP_MAX_DEPTH);
    _cleanup_free_ char *chunk = malloc(READ_CHUNK);
    _cleanup_free_ char *line = NULL;
    size_t line_len = 0, line_cap = 0;
    char reason[200] = "";

    if (!tok || !chunk) {
        snprintf(reason, sizeof reason, "out of memory");
        goto out;
    }
    for (;;) {
        ssize_t n = recv(conn->fd, chunk, READ_CHUNK, 0);
        const char *p = chunk;
        size_t left;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            snprintf(reason, sizeof reason, "read failed: %s", strerror(errno));
            goto out;
        }
        if (n == 0) {
            snprintf(reason, sizeof reason, "end of file");
            goto out;
        }
        left = (size_t)n;
        while (left > 0) {
            const char *nl = memchr(p, '\n', left);
            size_t seg = nl ? (size_t)(nl - p) : left;
            const char *why = NULL;

            if (seg > (size_t)QMP_MAX_MESSAGE - line_len) {
                snprintf(reason, sizeof reason, "monitor sent a message longer than %u bytes",
                         QMP_MAX_MESSAGE);
                goto out;
            }
            if (line_len + seg + 1 > line_cap) {
                size_t cap = line_cap ? line_cap : 4096;
                char *nb;

                while (cap < line_len + seg + 1)
                    cap *= 2;
                if (cap > (size_t)QMP_MAX_MESSAGE + 1)
                    cap = (size_t)QMP_MAX_MESSAGE + 1;
                nb = realloc(line, cap);
                if (!nb) {
                    snprintf(reason, sizeof reason, "out of memory");
                    goto out;
                }
                line = nb;
                line_cap = cap;
            }
            memcpy(line + line_len, p, seg);
            line_len += seg;
            line[line_len] = '\0';
            if (!nl)
                break;
            p = nl + 1;
            left -= seg + 1;
            if (handle_line(conn, tok, line, line_len, &why) < 0) {
                snprintf(reason, sizeof reason, "%s", why);
                goto out;
            }
            line_len = 0;
            /* Do not keep a huge buffer around after one big reply. */
            if (line_cap > (size_t)1024 * 1024) {
                free(line);
                line = NULL;
                line_cap = 0;
            }
        }
    }
out:
    ferry_debug("qmp '%s': reader stops: %s", conn->path, reason);
    pthread_mutex_lock(&conn->lock);
    qmp_internal_mark_closed(conn, "%s", reason);
    pthread_mutex_unlock(&conn->lock);
    /* Writers blocked on a full socket must notice too. */
    shutdown(conn->fd, SHUT_RDWR);
    qmp_internal_event_notify(conn, NULL, NULL);
    /* After the callback, which may call qmp_conn_close: the fd is ours
     * until READER_DONE, so a close asked meanwhile waits for this. */
    pthread_mutex_lock(&conn->lock);
    conn->reader_done = true;
    qmp_internal_release_fd(conn);
    pthread_mutex_unlock(&conn->lock);
    return NULL;
}
