/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Frames of the agent protocol: header encoding and validation, JSON payload
 * parsing under limits, and a connection that sends whole frames under a
 * write lock and receives them with a deadline. The layout and the rules on
 * bad frames are in docs/protocol.md; this file implements exactly those. */
#include "wire.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "util.h"

struct wire_conn {
    int fd;
    bool is_socket;      /* MSG_NOSIGNAL/MSG_DONTWAIT usable */
    int send_timeout_ms; /* no-progress bound for one send; -1 forever */
    pthread_mutex_t wlock;
    bool send_broken; /* under wlock: part of a frame may have been sent */
    bool recv_broken; /* reader thread only: stream position unknown */
    /* Optional layer (TLS); NULL means frames go to the fd as they are. */
    const struct wire_transport_ops *ops;
    void *opaque;
};

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static bool type_known(uint32_t type)
{
    return type >= WIRE_HELLO && type <= WIRE_PONG;
}

static bool type_is_keepalive(uint32_t type)
{
    return type == WIRE_PING || type == WIRE_PONG;
}

static bool type_is_json(uint32_t type)
{
    return type != WIRE_DATA && !type_is_keepalive(type);
}

static uint32_t type_max_len(uint32_t type)
{
    if (type_is_keepalive(type))
        return 0;
    return type_is_json(type) ? WIRE_MAX_JSON : WIRE_MAX_PAYLOAD;
}

void wire_header_encode(const struct wire_header *h, uint8_t buf[WIRE_HEADER_SIZE])
{
    put_be32(buf + 0, h->magic);
    put_be16(buf + 4, h->version);
    put_be16(buf + 6, h->type);
    put_be32(buf + 8, h->flags);
    put_be32(buf + 12, h->id);
    put_be32(buf + 16, h->length);
    put_be32(buf + 20, 0);
}

int wire_header_decode(const uint8_t buf[WIRE_HEADER_SIZE], struct wire_header *h,
                       struct ferry_error *err)
{
    struct wire_header d = {
        .magic = get_be32(buf + 0),
        .version = get_be16(buf + 4),
        .type = get_be16(buf + 6),
        .flags = get_be32(buf + 8),
        .id = get_be32(buf + 12),
        .length = get_be32(buf + 16),
    };
    uint32_t reserved = get_be32(buf + 20);

    /* A TLS record header (handshake, version 3.x) where a frame should
     * be: a ferry+tls:// client on a plain port. Say so. */
    if (buf[0] == 0x16 && buf[1] == 0x03)
        return ferry_error_set(err, EPROTO,
                               "frame header: bad magic 0x%08x: a TLS handshake (a ferry+tls:// "
                               "client on a plain ferry+tcp:// port?)",
                               d.magic);
    if (d.magic != WIRE_MAGIC)
        return ferry_error_set(err, EPROTO, "frame header: bad magic 0x%08x (expected 0x%08x)",
                               d.magic, WIRE_MAGIC);
    if (d.version != WIRE_VERSION)
        return ferry_error_set(err, EPROTO, "frame header: unsupported frame version %u",
                               d.version);
    if (!type_known(d.type))
        return ferry_error_set(err, EPROTO, "frame header: unknown frame type %u", d.type);
    if (d.flags & ~(uint32_t)WIRE_FLAGS_KNOWN)
        return ferry_error_set(err, EPROTO, "frame header: unknown flags 0x%x",
                               d.flags & ~(uint32_t)WIRE_FLAGS_KNOWN);
    if (d.flags && d.type != WIRE_DATA)
        return ferry_error_set(err, EPROTO, "frame header: flags 0x%x on a non-DATA frame",
                               d.flags);
    if (reserved != 0)
        return ferry_error_set(err, EPROTO, "frame header: reserved field is 0x%x, not zero",
                               reserved);
    /* Length last: a caller that gets -EMSGSIZE may trust the other fields. */
    *h = d;
    if (d.length > type_max_len(d.type))
        return ferry_error_set(err, EMSGSIZE,
                               "frame header: payload of %u bytes exceeds the limit of %u",
                               d.length, type_max_len(d.type));
    return 0;
}

int wire_json_parse(const char *payload, size_t len, struct json_object **ret,
                    struct ferry_error *err)
{
    struct json_tokener *tok;
    _cleanup_(json_object_putp) struct json_object *obj = NULL;
    enum json_tokener_error jerr;
    size_t end;

    if (len > WIRE_MAX_JSON)
        return ferry_error_set(err, EMSGSIZE, "JSON payload of %zu bytes exceeds the limit of %u",
                               len, WIRE_MAX_JSON);
    if (len == 0)
        return ferry_error_set(err, EBADMSG, "empty JSON payload");
    tok = json_tokener_new_ex(WIRE_MAX_DEPTH);
    if (!tok)
        return ferry_error_set(err, ENOMEM, "out of memory parsing JSON");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    obj = json_tokener_parse_ex(tok, payload, (int)len);
    jerr = json_tokener_get_error(tok);
    end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (jerr == json_tokener_continue)
        return ferry_error_set(err, EBADMSG, "invalid JSON payload: truncated document");
    if (jerr != json_tokener_success || !obj)
        return ferry_error_set(err, EBADMSG, "invalid JSON payload at byte %zu: %s", end,
                               json_tokener_error_desc(jerr));
    /* The tokener stops after one value; anything but whitespace after it
     * (a second document, a stray NUL) makes the frame ambiguous. */
    for (size_t i = end; i < len; i++) {
        if (payload[i] != ' ' && payload[i] != '\t' && payload[i] != '\n' && payload[i] != '\r')
            return ferry_error_set(err, EBADMSG, "invalid JSON payload: trailing data at byte %zu",
                                   i);
    }
    if (!json_object_is_type(obj, json_type_object))
        return ferry_error_set(err, EBADMSG, "JSON payload is a %s, not an object",
                               json_type_to_name(json_object_get_type(obj)));
    *ret = TAKE_PTR(obj);
    return 0;
}

struct wire_conn *wire_conn_new(int fd)
{
    struct wire_conn *c;
    struct stat st;

    if (fd < 0)
        return NULL;
    c = ferry_calloc(1, sizeof *c);
    c->fd = fd;
    c->is_socket = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
    c->send_timeout_ms = WIRE_SEND_TIMEOUT_MS;
    pthread_mutex_init(&c->wlock, NULL);
    return c;
}

void wire_conn_free(struct wire_conn *c)
{
    if (!c)
        return;
    if (c->ops)
        c->ops->close(c->opaque);
    if (c->fd >= 0)
        close(c->fd);
    pthread_mutex_destroy(&c->wlock);
    free(c);
}

int wire_conn_fd(struct wire_conn *c)
{
    return c->fd;
}

void wire_conn_set_transport(struct wire_conn *c, const struct wire_transport_ops *ops,
                             void *opaque)
{
    assert(!c->ops);
    c->ops = ops;
    c->opaque = opaque;
}

bool wire_conn_has_buffered(struct wire_conn *c)
{
    return c->ops && c->ops->pending(c->opaque) > 0;
}

void wire_conn_set_send_timeout(struct wire_conn *c, int timeout_ms)
{
    pthread_mutex_lock(&c->wlock);
    c->send_timeout_ms = timeout_ms < 0 ? -1 : timeout_ms;
    pthread_mutex_unlock(&c->wlock);
}

/* Waits until FD is ready for EVENTS or the deadline passes. Returns 0,
 * -ETIMEDOUT, or a negative errno. POLLHUP/POLLERR count as ready: the
 * following read or write reports what happened. */
static int wait_fd(int fd, short events, int64_t deadline_ms)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events};
        int left = ferry_ms_left(deadline_ms);
        int r;

        if (deadline_ms >= 0 && left == 0)
            return -ETIMEDOUT;
        r = poll(&pfd, 1, left);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -ETIMEDOUT;
        if (pfd.revents & POLLNVAL)
            return -EBADF;
        return 0;
    }
}

/* Writes the whole iovec array, waiting at most timeout_ms for each bit of
 * progress. *sent counts the bytes that left. */
static int write_all(struct wire_conn *c, struct iovec *iov, int iovcnt, size_t *sent)
{
    *sent = 0;
    while (iovcnt > 0) {
        ssize_t n;

        if (iov->iov_len == 0) {
            iov++;
            iovcnt--;
            continue;
        }
        if (c->ops) {
            /* One piece at a time: after -EAGAIN the layer wants the same
             * buffer again. Each call moves at most one TLS record. */
            long t = c->ops->send(c->opaque, iov->iov_base, iov->iov_len);
            if (t == -EAGAIN) {
                int r = wait_fd(c->fd, POLLOUT,
                                c->send_timeout_ms < 0 ? -1 : ferry_now_ms() + c->send_timeout_ms);
                if (r < 0)
                    return r;
                continue;
            }
            if (t < 0)
                return (int)t;
            n = t;
        } else if (c->is_socket) {
            struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)iovcnt};
            n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
        } else {
            int r = wait_fd(c->fd, POLLOUT,
                            c->send_timeout_ms < 0 ? -1 : ferry_now_ms() + c->send_timeout_ms);
            if (r < 0)
                return r;
            n = writev(c->fd, iov, iovcnt);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int r = wait_fd(c->fd, POLLOUT,
                                c->send_timeout_ms < 0 ? -1 : ferry_now_ms() + c->send_timeout_ms);
                if (r < 0)
                    return r;
                continue;
            }
            return -errno;
        }
        *sent += (size_t)n;
        while (n > 0 && iovcnt > 0) {
            if ((size_t)n >= iov->iov_len) {
                n -= (ssize_t)iov->iov_len;
                iov++;
                iovcnt--;
            } else {
                iov->iov_base = (char *)iov->iov_base + n;
                iov->iov_len -= (size_t)n;
                n = 0;
            }
        }
    }
    return 0;
}

/* An error from the socket or from the transport layer, which may say
 * more than the errno does (a TLS alert, a failed record check). */
static int layer_error(struct wire_conn *c, struct ferry_error *err, int r, bool sending,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int layer_error(struct wire_conn *c, struct ferry_error *err, int r, bool sending,
                       const char *fmt, ...)
{
    const char *why = c->ops && c->ops->describe ? c->ops->describe(c->opaque, sending) : NULL;
    char what[128];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (why)
        return ferry_error_set(err, -r, "%s: %s", what, why);
    return ferry_error_set_errno(err, r, "%s", what);
}

static const char *type_name(uint32_t type)
{
    static const char *const names[] = {"?",     "HELLO", "CALL", "REPLY", "ERROR",
                                        "EVENT", "DATA",  "PING", "PONG"};

    return type_known(type) ? names[type] : "?";
}

int wire_conn_send(struct wire_conn *c, enum wire_type type, uint32_t flags, uint32_t id,
                   const void *payload, size_t len, struct ferry_error *err)
{
    uint8_t hbuf[WIRE_HEADER_SIZE];
    struct wire_header h = {
        .magic = WIRE_MAGIC,
        .version = WIRE_VERSION,
        .type = (uint16_t)type,
        .flags = flags,
        .id = id,
    };
    struct iovec iov[2];
    size_t sent = 0;
    int r;

    if (!type_known(type))
        return ferry_error_set(err, EINVAL, "send: unknown frame type %d", (int)type);
    if ((flags & ~(uint32_t)WIRE_FLAGS_KNOWN) || (flags && type != WIRE_DATA))
        return ferry_error_set(err, EINVAL, "send: flags 0x%x not allowed on a %s frame", flags,
                               type_name(type));
    if (len > type_max_len(type))
        return ferry_error_set(err, EMSGSIZE,
                               "send: %s payload of %zu bytes exceeds the limit of %u",
                               type_name(type), len, type_max_len(type));
    h.length = (uint32_t)len;
    wire_header_encode(&h, hbuf);
    iov[0] = (struct iovec){.iov_base = hbuf, .iov_len = sizeof hbuf};
    iov[1] = (struct iovec){.iov_base = (void *)payload, .iov_len = len};

    pthread_mutex_lock(&c->wlock);
    if (c->send_broken) {
        pthread_mutex_unlock(&c->wlock);
        return ferry_error_set(err, EPIPE, "send: connection broken by an earlier failed send");
    }
    r = write_all(c, iov, 2, &sent);
    if (r < 0)
        c->send_broken = true;
    pthread_mutex_unlock(&c->wlock);
    if (r == -ETIMEDOUT)
        return ferry_error_set(err, ETIMEDOUT,
                               "send: %s frame: peer accepted nothing for %d ms (%zu of %zu "
                               "bytes sent)",
                               type_name(type), c->send_timeout_ms, sent, len + sizeof hbuf);
    if (r < 0)
        return layer_error(c, err, r, true, "send: %s frame", type_name(type));
    ferry_debug("wire: sent %s id=%u len=%zu flags=0x%x", type_name(type), id, len, flags);
    return 0;
}

int wire_conn_send_nowait(struct wire_conn *c, enum wire_type type, uint32_t id,
                          struct ferry_error *err)
{
    uint8_t hbuf[WIRE_HEADER_SIZE];
    struct wire_header h = {
        .magic = WIRE_MAGIC, .version = WIRE_VERSION, .type = (uint16_t)type, .id = id};
    struct iovec iov = {.iov_base = hbuf, .iov_len = sizeof hbuf};
    struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};
    size_t sent = 0;
    int r;

    if (!type_is_keepalive(type))
        return ferry_error_set(err, EINVAL, "send: %s frames are not sent without waiting",
                               type_name(type));
    wire_header_encode(&h, hbuf);
    if (pthread_mutex_trylock(&c->wlock) != 0)
        return -EAGAIN;
    if (c->send_broken) {
        pthread_mutex_unlock(&c->wlock);
        return ferry_error_set(err, EPIPE, "send: connection broken by an earlier failed send");
    }
    /* POLLOUT on a stream socket means room for far more than 24 bytes
     * (a third of the buffer), so the write below does not wait. */
    if (poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLOUT)) {
        pthread_mutex_unlock(&c->wlock);
        return -EAGAIN;
    }
    r = write_all(c, &iov, 1, &sent);
    if (r < 0)
        c->send_broken = true;
    pthread_mutex_unlock(&c->wlock);
    if (r < 0)
        return layer_error(c, err, r, true, "send: %s frame", type_name(type));
    return 0;
}

int wire_conn_send_json(struct wire_conn *c, enum wire_type type, uint32_t id,
                        struct json_object *obj, struct ferry_error *err)
{
    const char *s;
    size_t len;

    if (!type_is_json(type) || !type_known(type))
        return ferry_error_set(err, EINVAL, "send: frame type %d does not carry JSON", (int)type);
    if (!obj || !json_object_is_type(obj, json_type_object))
        return ferry_error_set(err, EINVAL, "send: %s payload must be a JSON object",
                               type_name(type));
    s = json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    if (!s)
        return ferry_error_set(err, ENOMEM, "send: cannot serialise %s payload", type_name(type));
    return wire_conn_send(c, type, 0, id, s, len, err);
}

/* Reads exactly LEN bytes before DEADLINE_MS. *got counts what arrived, so
 * the caller can tell "nothing yet" from "inside a frame". */
static int read_all(struct wire_conn *c, void *buf, size_t len, int64_t deadline_ms, size_t *got)
{
    char *p = buf;

    *got = 0;
    while (*got < len) {
        ssize_t n;
        int r;

        if (c->ops) {
            /* Try first: the layer may hold decoded bytes poll() cannot see. */
            long t = c->ops->recv(c->opaque, p + *got, len - *got);
            if (t == -EAGAIN) {
                r = wait_fd(c->fd, POLLIN, deadline_ms);
                if (r < 0)
                    return r;
                continue;
            }
            if (t < 0)
                return (int)t;
            if (t == 0)
                return -EPIPE;
            *got += (size_t)t;
            continue;
        }
        r = wait_fd(c->fd, POLLIN, deadline_ms);
        if (r < 0)
            return r;
        if (c->is_socket)
            n = recv(c->fd, p + *got, len - *got, MSG_DONTWAIT);
        else
            n = read(c->fd, p + *got, len - *got);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EPIPE;
        *got += (size_t)n;
    }
    return 0;
}

int wire_conn_recv(struct wire_conn *c, int timeout_ms, struct wire_header *ret_h,
                   struct json_object **ret_json, void **ret_payload, struct ferry_error *err)
{
    int64_t deadline = timeout_ms < 0 ? -1 : ferry_now_ms() + timeout_ms;
    uint8_t hbuf[WIRE_HEADER_SIZE];
    struct wire_header h;
    _cleanup_free_ char *payload = NULL;
    struct json_object *obj = NULL;
    size_t got;
    int r;

    if (c->recv_broken)
        return ferry_error_set(err, EPROTO,
                               "receive: stream desynchronised by an earlier bad or partial frame");
    r = read_all(c, hbuf, sizeof hbuf, deadline, &got);
    if (r < 0) {
        if (got == 0 && r == -ETIMEDOUT)
            return ferry_error_set(err, ETIMEDOUT, "receive: no frame within %d ms", timeout_ms);
        if (got == 0 && r == -EPIPE)
            return ferry_error_set(err, EPIPE, "receive: peer closed the connection");
        c->recv_broken = true;
        if (r == -ETIMEDOUT)
            return ferry_error_set(err, ETIMEDOUT,
                                   "receive: frame header incomplete after %d ms (%zu of %d "
                                   "bytes)",
                                   timeout_ms, got, WIRE_HEADER_SIZE);
        if (r == -EPIPE)
            return ferry_error_set(err, EPROTO,
                                   "receive: peer closed the connection inside a frame header");
        return layer_error(c, err, r, false, "receive");
    }
    r = wire_header_decode(hbuf, &h, err);
    if (r < 0) {
        c->recv_broken = true;
        if (r == -EMSGSIZE)
            *ret_h = h;
        ferry_error_prefix(err, "receive");
        return r;
    }
    payload = malloc(h.length ? h.length : 1);
    if (!payload) {
        c->recv_broken = true;
        return ferry_error_set(err, ENOMEM, "receive: out of memory for %u bytes", h.length);
    }
    r = read_all(c, payload, h.length, deadline, &got);
    if (r < 0) {
        c->recv_broken = true;
        if (r == -ETIMEDOUT)
            return ferry_error_set(err, ETIMEDOUT,
                                   "receive: %s frame incomplete after %d ms (%zu of %u payload "
                                   "bytes)",
                                   type_name(h.type), timeout_ms, got, h.length);
        if (r == -EPIPE)
            return ferry_error_set(err, EPROTO,
                                   "receive: peer closed the connection inside a %s frame (%zu "
                                   "of %u payload bytes)",
                                   type_name(h.type), got, h.length);
        return layer_error(c, err, r, false, "receive");
    }
    if (type_is_json(h.type)) {
        r = wire_json_parse(payload, h.length, &obj, err);
        if (r < 0) {
            /* The frame was consumed whole, but the peer's serialiser is
             * broken: nothing it sends next can be trusted. */
            c->recv_broken = true;
            *ret_h = h;
            ferry_error_prefix(err, "receive: %s frame id %u", type_name(h.type), h.id);
            return -EBADMSG;
        }
        *ret_json = obj;
        *ret_payload = NULL;
    } else {
        *ret_json = NULL;
        *ret_payload = TAKE_PTR(payload);
    }
    *ret_h = h;
    ferry_debug("wire: received %s id=%u len=%u flags=0x%x", type_name(h.type), h.id, h.length,
                h.flags);
    return 0;
}

int wire_conn_send_error(struct wire_conn *c, uint32_t id, int negative_errno, const char *message,
                         struct ferry_error *err)
{
    int e = negative_errno < 0 ? -negative_errno : negative_errno;
    _cleanup_(json_object_putp) struct json_object *obj =
        wire_make_error(wire_errno_code(-e), e ? e : EIO, message ? message : "");

    return wire_conn_send_json(c, WIRE_ERROR, id, obj, err);
}

int wire_conn_reject(struct wire_conn *c, int r, const struct wire_header *h,
                     const struct ferry_error *why)
{
    if (r != -EMSGSIZE && r != -EBADMSG)
        return 0;
    return wire_conn_send_error(c, h->id, -EPROTO, ferry_error_is_set(why) ? why->msg : "bad frame",
                                NULL);
}

/* TCP keepalive: an idle connection whose peer host vanished (no FIN, no
 * RST) ends after KEEPIDLE + KEEPINTVL * KEEPCNT seconds without an
 * answer, and data it cannot deliver fails after USER_TIMEOUT; either way
 * the connection's close then cleans up the migrations it owns
 * (docs/protocol.md, "Dead peers"). */
#define TCP_KEEPALIVE_IDLE_S  15
#define TCP_KEEPALIVE_INTVL_S 5
#define TCP_KEEPALIVE_CNT     3
#define TCP_USER_TIMEOUT_MS                                                                        \
    ((TCP_KEEPALIVE_IDLE_S + TCP_KEEPALIVE_INTVL_S * TCP_KEEPALIVE_CNT) * 1000)

void wire_set_keepalive(int fd)
{
    int one = 1, idle = TCP_KEEPALIVE_IDLE_S, intvl = TCP_KEEPALIVE_INTVL_S,
        cnt = TCP_KEEPALIVE_CNT;
    unsigned user_timeout = TCP_USER_TIMEOUT_MS;

    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt) < 0 ||
        setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout) < 0)
        ferry_debug("TCP keepalive: %s", strerror(errno));
}
