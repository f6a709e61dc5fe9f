/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The command side of a QMP connection: connecting (with retry while QEMU
 * creates its socket), the capabilities handshake, sending commands with
 * our own ids and waiting for their replies, and tearing down. */
#include "qmp-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "util.h"

/* Raw text logged per message at debug level; the rest is elided. */
#define LOG_RAW_MAX 4096

void qmp_internal_log_raw(const struct qmp_conn *conn, const char *dir, const char *text,
                          size_t len)
{
    if (!ferry_log_enabled(FERRY_LOG_DEBUG))
        return;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    if (len > LOG_RAW_MAX)
        ferry_debug("qmp '%s' %s %.*s... (%zu bytes)", conn->path, dir, LOG_RAW_MAX, text, len);
    else
        ferry_debug("qmp '%s' %s %.*s", conn->path, dir, (int)len, text);
}

void qmp_internal_mark_closed(struct qmp_conn *conn, const char *fmt, ...)
{
    va_list ap;

    if (conn->closed)
        return;
    conn->closed = true;
    va_start(ap, fmt);
    vsnprintf(conn->close_reason, sizeof conn->close_reason, fmt, ap);
    va_end(ap);
    pthread_cond_broadcast(&conn->cond);
}

int qmp_internal_wait(struct qmp_conn *conn, int64_t deadline_ms)
{
    struct timespec ts;

    if (deadline_ms < 0) {
        pthread_cond_wait(&conn->cond, &conn->lock);
        return 0;
    }
    if (ferry_now_ms() >= deadline_ms)
        return ETIMEDOUT;
    ts.tv_sec = deadline_ms / 1000;
    ts.tv_nsec = (deadline_ms % 1000) * 1000000;
    return pthread_cond_timedwait(&conn->cond, &conn->lock, &ts) == ETIMEDOUT ? ETIMEDOUT : 0;
}

void qmp_internal_release_fd(struct qmp_conn *conn)
{
    if (!conn->close_requested || !conn->reader_done || conn->fd < 0)
        return;
    /* A writer checked CLOSED before it started and uses the fd without
     * the lock: let it finish (the shutdown makes that quick). */
    while (conn->writing)
        pthread_cond_wait(&conn->cond, &conn->lock);
    close(conn->fd);
    conn->fd = -1;
}

void qmp_internal_leave(struct qmp_conn *conn)
{
    conn->users--;
    if (conn->freeing && conn->users == 0)
        pthread_cond_broadcast(&conn->cond);
}

/* Connects to PATH, retrying while the socket is absent or not listening
 * yet. Returns the fd (O_CLOEXEC) or a negative errno. */
static int connect_retry(const char *path, int64_t deadline, struct ferry_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int delay_ms = 5;

    if (strlen(path) >= sizeof sa.sun_path)
        return ferry_error_set(err, ENAMETOOLONG, "QMP socket path '%s' is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    for (;;) {
        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int e, left;

        if (fd < 0)
            return ferry_error_set_errno(err, errno, "QMP socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
            return TAKE_FD(fd);
        e = errno;
        if (e != ENOENT && e != ECONNREFUSED && e != EAGAIN && e != EINTR)
            return ferry_error_set_errno(err, e, "cannot connect to QMP socket '%s'", path);
        left = ferry_ms_left(deadline);
        if (left == 0)
            return ferry_error_set(err, ETIMEDOUT, "QMP socket '%s' not ready in time: %s", path,
                                   strerror(e));
        if (left > 0 && left < delay_ms)
            delay_ms = left;
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = (long)delay_ms * 1000000}, NULL);
        if (delay_ms < 100)
            delay_ms *= 2;
    }
}

/* One send of BUF; with PASS_FD >= 0 the descriptor travels with it as
 * SCM_RIGHTS ancillary data (QEMU queues it for the next getfd). */
static ssize_t send_some(int fd, const char *buf, size_t len, int pass_fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    struct cmsghdr *c;

    if (pass_fd < 0)
        return send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    return sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Sends all of BUF before DEADLINE, one writer at a time so commands never
 * interleave on the wire; PASS_FD (-1: none) goes with the first bytes. On
 * a write error, or a timeout after a partial write (the stream is then out
 * of sync), the connection is failed. */
static int send_all(struct qmp_conn *conn, const char *command, const char *buf, size_t len,
                    int pass_fd, int64_t deadline, int timeout_ms, struct ferry_error *err)
{
    bool timed_out = false;
    size_t off = 0;
    int r = 0;

    pthread_mutex_lock(&conn->lock);
    while (conn->writing && !conn->closed && !timed_out)
        timed_out = qmp_internal_wait(conn, deadline) == ETIMEDOUT;
    if (conn->closed)
        r = ferry_error_set(err, ECONNRESET, "%s: QMP monitor '%s' closed: %s", command, conn->path,
                            conn->close_reason);
    else if (conn->writing)
        r = ferry_error_set(err, ETIMEDOUT, "%s: QMP monitor '%s' busy, not sent within %d ms",
                            command, conn->path, timeout_ms);
    else
        conn->writing = true;
    pthread_mutex_unlock(&conn->lock);
    if (r < 0)
        return r;

    while (off < len && r == 0) {
        ssize_t n = send_some(conn->fd, buf + off, len - off, off == 0 ? pass_fd : -1);
        struct pollfd pfd = {.fd = conn->fd, .events = POLLOUT};
        int e;

        if (n >= 0) {
            off += (size_t)n;
            continue;
        }
        e = errno;
        if (e == EINTR)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            int left = ferry_ms_left(deadline);

            if (left != 0 && poll(&pfd, 1, left) != 0)
                continue; /* writable, hung up or EINTR: try again */
            pthread_mutex_lock(&conn->lock);
            if (off > 0)
                qmp_internal_mark_closed(conn, "write timed out, stream out of sync");
            pthread_mutex_unlock(&conn->lock);
            if (off > 0)
                shutdown(conn->fd, SHUT_RDWR);
            r = ferry_error_set(err, ETIMEDOUT, "%s: QMP monitor '%s' not writable within %d ms",
                                command, conn->path, timeout_ms);
            break;
        }
        pthread_mutex_lock(&conn->lock);
        qmp_internal_mark_closed(conn, "write failed: %s", strerror(e));
        r = ferry_error_set(err, ECONNRESET, "%s: QMP monitor '%s' closed: %s", command, conn->path,
                            conn->close_reason);
        pthread_mutex_unlock(&conn->lock);
        shutdown(conn->fd, SHUT_RDWR);
    }

    pthread_mutex_lock(&conn->lock);
    conn->writing = false;
    pthread_cond_broadcast(&conn->cond);
    pthread_mutex_unlock(&conn->lock);
    return r;
}

/* Sends MSG (taken; an object without "id"), with PASS_FD (-1: none) as
 * ancillary data, and waits for the reply. COMMAND names it in messages.
 * On success *ret_reply owns the whole reply object. */
static int execute_msg(struct qmp_conn *conn, const char *command, struct json_object *msg_in,
                       int pass_fd, int timeout_ms, struct json_object **ret_reply,
                       struct ferry_error *err)
{
    _cleanup_(json_object_putp) struct json_object *msg = msg_in;
    int64_t deadline = timeout_ms < 0 ? -1 : ferry_now_ms() + timeout_ms;
    struct qmp_pending p = {0};
    _cleanup_free_ char *text = NULL;
    bool timed_out = false;
    char id[32];
    int r;

    pthread_mutex_lock(&conn->lock);
    if (conn->closed) {
        r = ferry_error_set(err, ECONNRESET, "%s: QMP monitor '%s' closed: %s", command, conn->path,
                            conn->close_reason);
        pthread_mutex_unlock(&conn->lock);
        return r;
    }
    p.id = ++conn->next_id;
    p.next = conn->pending;
    /* P lives on this stack frame and is unlinked below before returning. */
    // cppcheck-suppress autoVariables
    conn->pending = &p;
    conn->users++;
    pthread_mutex_unlock(&conn->lock);

    /* Registered before sending: the reply may beat us back. */
    snprintf(id, sizeof id, QMP_ID_PREFIX "%" PRIu64, p.id);
    json_object_object_add(msg, "id", json_object_new_string(id));
    text = ferry_strdup_printf("%s\n",
                               json_object_to_json_string_ext(
                                   msg, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    qmp_internal_log_raw(conn, ">>>", text, strlen(text));
    r = send_all(conn, command, text, strlen(text), pass_fd, deadline, timeout_ms, err);

    pthread_mutex_lock(&conn->lock);
    while (r == 0 && !p.reply && !conn->closed && !timed_out)
        timed_out = qmp_internal_wait(conn, deadline) == ETIMEDOUT;
    if (r < 0) {
        /* already reported */
    } else if (p.reply) {
        *ret_reply = TAKE_PTR(p.reply);
    } else if (conn->closed) {
        r = ferry_error_set(err, ECONNRESET, "%s: QMP monitor '%s' closed: %s", command, conn->path,
                            conn->close_reason);
    } else {
        r = ferry_error_set(err, ETIMEDOUT, "%s: no reply from QMP monitor '%s' within %d ms",
                            command, conn->path, timeout_ms);
    }
    for (struct qmp_pending **pp = &conn->pending; *pp; pp = &(*pp)->next) {
        if (*pp == &p) {
            *pp = p.next;
            break;
        }
    }
    qmp_internal_leave(conn);
    pthread_mutex_unlock(&conn->lock);
    json_object_put(p.reply); /* a reply that raced with an error */
    return r;
}

/* Turns a reply into the caller's view: its "return" or QEMU's error. */
static int interpret_reply(const char *command, struct json_object *reply,
                           struct json_object **ret_return, struct qmp_error_info *ret_qemu_err,
                           struct ferry_error *err)
{
    struct json_object *error = json_object_object_get(reply, "error");
    struct json_object *ret;

    if (error) {
        const char *cls = json_object_get_string(json_object_object_get(error, "class"));
        const char *desc = json_object_get_string(json_object_object_get(error, "desc"));

        if (ret_qemu_err) {
            snprintf(ret_qemu_err->cls, sizeof ret_qemu_err->cls, "%s", cls ? cls : "");
            snprintf(ret_qemu_err->desc, sizeof ret_qemu_err->desc, "%s", desc ? desc : "");
        }
        return ferry_error_set(err, EIO, "%s: %s: %s", command, cls ? cls : "UnknownError",
                               desc ? desc : "(no description)");
    }
    ret = json_object_object_get(reply, "return");
    if (ret_return)
        *ret_return = ret ? json_object_get(ret) : json_object_new_object();
    return 0;
}

int qmp_conn_execute_full(struct qmp_conn *conn, const char *command, struct json_object *args,
                          int timeout_ms, struct json_object **ret_return,
                          struct qmp_error_info *ret_qemu_err, struct ferry_error *err)
{
    _cleanup_(json_object_putp) struct json_object *reply = NULL;
    struct json_object *msg = json_object_new_object();
    int r;

    json_object_object_add(msg, "execute", json_object_new_string(command));
    if (args)
        json_object_object_add(msg, "arguments", args);
    r = execute_msg(conn, command, msg, -1, timeout_ms, &reply, err);
    if (r < 0)
        return r;
    return interpret_reply(command, reply, ret_return, ret_qemu_err, err);
}

int qmp_conn_getfd(struct qmp_conn *conn, const char *fdname, int fd, int timeout_ms,
                   struct ferry_error *err)
{
    _cleanup_(json_object_putp) struct json_object *reply = NULL;
    struct json_object *msg = json_object_new_object();
    struct json_object *args = json_object_new_object();
    int r;

    if (fd < 0) {
        json_object_put(msg);
        json_object_put(args);
        return ferry_error_set(err, EBADF, "getfd '%s': no descriptor to pass", fdname);
    }
    json_object_object_add(args, "fdname", json_object_new_string(fdname));
    json_object_object_add(msg, "execute", json_object_new_string("getfd"));
    json_object_object_add(msg, "arguments", args);
    r = execute_msg(conn, "getfd", msg, fd, timeout_ms, &reply, err);
    if (r < 0)
        return r;
    return interpret_reply("getfd", reply, NULL, NULL, err);
}

int qmp_conn_execute_str(struct qmp_conn *conn, const char *text, int timeout_ms,
                         struct json_object **ret_return, struct qmp_error_info *ret_qemu_err,
                         struct ferry_error *err)
{
    _cleanup_(json_object_putp) struct json_object *in = NULL;
    _cleanup_(json_object_putp) struct json_object *reply = NULL;
    struct json_tokener *tok;
    struct json_object *msg, *execute, *args = NULL;
    _cleanup_free_ char *command = NULL;
    size_t len = strlen(text);
    bool ok;
    int r;

    if (len > (size_t)QMP_MAX_MESSAGE)
        return ferry_error_set(err, EINVAL, "QMP command text longer than %u bytes",
                               QMP_MAX_MESSAGE);
    tok = json_tokener_new_ex(QMP_MAX_DEPTH);
    if (!tok)
        return ferry_error_set(err, ENOMEM, "out of memory");
    in = json_tokener_parse_ex(tok, text, (int)len);
    ok = in && json_tokener_get_error(tok) == json_tokener_success &&
         strspn(text + json_tokener_get_parse_end(tok), " \t\r\n") ==
             len - json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!ok)
        return ferry_error_set(err, EINVAL, "QMP command text is not valid JSON");
    if (!json_object_is_type(in, json_type_object))
        return ferry_error_set(err, EINVAL, "QMP command text is not a JSON object");
    json_object_object_foreach (in, key, val) {
        if (strcmp(key, "execute") == 0) {
            if (!json_object_is_type(val, json_type_string) || !*json_object_get_string(val))
                return ferry_error_set(err, EINVAL, "QMP command: \"execute\" must be a name");
        } else if (strcmp(key, "arguments") == 0) {
            if (!json_object_is_type(val, json_type_object))
                return ferry_error_set(err, EINVAL, "QMP command: \"arguments\" must be an object");
            args = val;
        } else if (strcmp(key, "id") != 0) {
            return ferry_error_set(err, EINVAL, "QMP command: unsupported member \"%s\"", key);
        }
    }
    if (!json_object_object_get_ex(in, "execute", &execute))
        return ferry_error_set(err, EINVAL, "QMP command: \"execute\" is missing");
    command = ferry_strdup(json_object_get_string(execute));

    msg = json_object_new_object();
    json_object_object_add(msg, "execute", json_object_new_string(command));
    if (args)
        json_object_object_add(msg, "arguments", json_object_get(args));
    r = execute_msg(conn, command, msg, -1, timeout_ms, &reply, err);
    if (r < 0)
        return r;
    return interpret_reply(command, reply, ret_return, ret_qemu_err, err);
}

int qmp_conn_hmp(struct qmp_conn *conn, const char *cmdline, int timeout_ms, char **ret_output,
                 struct ferry_error *err)
{
    _cleanup_(json_object_putp) struct json_object *ret = NULL;
    struct json_object *args = json_object_new_object();
    int r;

    json_object_object_add(args, "command-line", json_object_new_string(cmdline));
    r = qmp_conn_execute(conn, "human-monitor-command", args, timeout_ms, &ret, err);
    if (r < 0)
        return r;
    if (!json_object_is_type(ret, json_type_string))
        return ferry_error_set(err, EPROTO, "human-monitor-command: reply is not a string");
    if (ret_output)
        *ret_output = ferry_strdup(json_object_get_string(ret));
    return 0;
}

static struct qmp_conn *conn_new(int fd, const char *path)
{
    struct qmp_conn *conn = ferry_calloc(1, sizeof *conn);
    pthread_condattr_t ca;

    conn->fd = fd;
    conn->path = ferry_strdup(path);
    pthread_mutex_init(&conn->lock, NULL);
    pthread_mutex_init(&conn->cb_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&conn->cond, &ca);
    pthread_condattr_destroy(&ca);
    return conn;
}

/* The reader gets every signal blocked, so the daemon's handlers always
 * run on its own threads. */
static int start_reader(struct qmp_conn *conn)
{
    sigset_t all, old;
    int r;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    r = pthread_create(&conn->reader, NULL, qmp_internal_reader_main, conn);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r == 0)
        conn->reader_started = true;
    return -r;
}

int qmp_conn_open(const char *path, int timeout_ms, struct qmp_conn **ret, struct ferry_error *err)
{
    int64_t deadline = timeout_ms < 0 ? -1 : ferry_now_ms() + timeout_ms;
    struct qmp_conn *conn;
    bool timed_out = false;
    int fd, r = 0;

    fd = connect_retry(path, deadline, err);
    if (fd < 0)
        return fd;
    conn = conn_new(fd, path);
    r = start_reader(conn);
    if (r < 0) {
        ferry_error_set_errno(err, r, "QMP monitor '%s': cannot start reader thread", path);
        qmp_conn_free(conn);
        return r;
    }

    pthread_mutex_lock(&conn->lock);
    while (!conn->greeted && !conn->closed && !timed_out)
        timed_out = qmp_internal_wait(conn, deadline) == ETIMEDOUT;
    if (conn->greeted)
        r = 0;
    else if (conn->closed)
        r = ferry_error_set(err, ECONNRESET, "QMP monitor '%s' closed before its greeting: %s",
                            path, conn->close_reason);
    else
        r = ferry_error_set(err, ETIMEDOUT, "QMP monitor '%s' sent no greeting within %d ms", path,
                            timeout_ms);
    pthread_mutex_unlock(&conn->lock);
    if (r == 0)
        r = qmp_conn_execute(conn, "qmp_capabilities", NULL, ferry_ms_left(deadline), NULL, err);
    if (r < 0) {
        ferry_error_prefix(err, "QMP handshake");
        qmp_conn_free(conn);
        return r;
    }
    ferry_debug("qmp '%s': connected to QEMU %d.%d.%d", path, conn->version[0], conn->version[1],
                conn->version[2]);
    *ret = conn;
    return 0;
}

void qmp_conn_close(struct qmp_conn *conn)
{
    pthread_mutex_lock(&conn->lock);
    qmp_internal_mark_closed(conn, "closed by client");
    conn->close_requested = true;
    if (conn->fd >= 0)
        shutdown(conn->fd, SHUT_RDWR);
    /* Now if the reader has stopped already, else when it stops. From the
     * callback (in the reader) it is not done yet: no self-wait. */
    qmp_internal_release_fd(conn);
    pthread_mutex_unlock(&conn->lock);
}

void qmp_conn_free(struct qmp_conn *conn)
{
    if (!conn)
        return;
    pthread_mutex_lock(&conn->lock);
    conn->freeing = true;
    qmp_internal_mark_closed(conn, "closed by client");
    if (conn->fd >= 0)
        shutdown(conn->fd, SHUT_RDWR);
    pthread_mutex_unlock(&conn->lock);
    if (conn->reader_started)
        pthread_join(conn->reader, NULL);

    pthread_mutex_lock(&conn->lock);
    while (conn->users > 0)
        pthread_cond_wait(&conn->cond, &conn->lock);
    /* The event log goes with the connection (qmp-event.c fills it). */
    for (size_t i = 0; i < conn->ev_count; i++)
        json_object_put(conn->events[(conn->ev_head + i) % QMP_EVENT_LOG_MAX].event);
    conn->ev_count = 0;
    pthread_mutex_unlock(&conn->lock);

    if (conn->fd >= 0)
        close(conn->fd);
    pthread_cond_destroy(&conn->cond);
    pthread_mutex_destroy(&conn->lock);
    pthread_mutex_destroy(&conn->cb_lock);
    free(conn->path);
    free(conn);
}

void qmp_conn_version(struct qmp_conn *conn, int *major, int *minor, int *micro)
{
    pthread_mutex_lock(&conn->lock);
    if (major)
        *major = conn->version[0];
    if (minor)
        *minor = conn->version[1];
    if (micro)
        *micro = conn->version[2];
    pthread_mutex_unlock(&conn->lock);
}

bool qmp_conn_alive(struct qmp_conn *conn)
{
    bool alive;

    pthread_mutex_lock(&conn->lock);
    alive = !conn->closed;
    pthread_mutex_unlock(&conn->lock);
    return alive;
}
