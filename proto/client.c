/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Control-protocol client: connect, HELLO, CALL and wait for the matching
 * REPLY or ERROR; EVENT frames that arrive meanwhile are queued. */
#include "client.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "auth.h"
#include "cleanup.h"
#include "json-cleanup.h"
#include "tls.h"
#include "util.h"

#define MAX_QUEUED_EVENTS 1024

/* Set once by main() before any connection (ctl_client_set_tls_dir). */
static const char *tls_dir;

void ctl_client_set_tls_dir(const char *dir)
{
    tls_dir = dir;
}

/* Does HOSTPORT (no scheme) end in ":DIGITS" after its host part? */
static bool has_port(const char *hostport)
{
    const char *c = hostport[0] == '[' ? strchr(hostport, ']') : hostport;
    const char *colon = c ? strrchr(c, ':') : NULL;

    return colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1);
}

char *ctl_uri_normalize(const char *uri)
{
    const char *scheme = NULL, *rest = uri;
    _cleanup_free_ char *hp = NULL;
    char *out;

    if (strncmp(uri, "ferry+tcp://", 12) == 0 || strncmp(uri, "ferry+tls://", 12) == 0) {
        scheme = strncmp(uri, "ferry+tls://", 12) == 0 ? "ferry+tls://" : "ferry+tcp://";
        rest = uri + 12;
    } else if (strncmp(uri, "ferry://", 8) == 0) {
        scheme = "ferry+tcp://"; /* plain TCP, as libvirt's qemu:// URIs mean its default */
        rest = uri + 8;
    } else if (!strstr(uri, "://") && strncmp(uri, "unix:", 5) != 0 && !strchr(uri, '/') &&
               has_port(uri) && uri[0] != ':') {
        /* HOST:PORT, with no slash: a socket path always has one here
         * unless it is a bare name, and a bare name has no ":PORT". */
        scheme = "ferry+tcp://";
    }
    if (!scheme)
        return ferry_strdup(uri);
    hp = ferry_strdup(rest);
    hp[strcspn(hp, "/?")] = '\0';
    if (has_port(hp))
        out = ferry_strdup_printf("%s%s", scheme, hp);
    else
        out = ferry_strdup_printf("%s%s:%d", scheme, hp, CTL_DEFAULT_PORT);
    return out;
}

/* Set once by main() before any connection (ctl_client_set_auth_key). */
static const struct wire_auth_key *auth_key;

void ctl_client_set_auth_key(const struct wire_auth_key *key)
{
    auth_key = key;
}

char *ctl_uri_host(const char *uri)
{
    _cleanup_free_ char *n = ctl_uri_normalize(uri);
    char *h;

    if (strncmp(n, "ferry+tcp://", 12) != 0 && strncmp(n, "ferry+tls://", 12) != 0)
        return NULL;
    h = ferry_strdup(n + 12);
    h[strcspn(h, "/?")] = '\0';
    if (strrchr(h, ':'))
        *strrchr(h, ':') = '\0';
    if (h[0] == '[') {
        memmove(h, h + 1, strlen(h));
        h[strcspn(h, "]")] = '\0';
    }
    return h;
}

struct ctl_client {
    struct wire_conn *wc;
    struct wire_hello peer;
    uint32_t next_id;
    json_object *events; /* array, queued EVENT payloads */
    /* One reader at a time (callers, and the keepalive tick with a
     * trylock); held across a whole wait for a reply or a frame. */
    pthread_mutex_t rlock;
    /* ferry_now_ms() of the last frame from the peer (atomic): the
     * keepalive's measure of a peer that still answers. */
    int64_t last_rx_ms;
    uint32_t next_ping;
    /* The send queue at the last tick (SIOCOUTQ): a peer that drains a
     * queue we filled (a tunnelled stream) is alive even when our PING
     * waits behind the stream or its PONG behind the peer's work. */
    int last_outq;
    /* A frame the keepalive tick read that was neither PONG nor EVENT:
     * handed to the next reader before anything else (under rlock). */
    bool stashed;
    struct wire_header stash_h;
    json_object *stash_obj;
    void *stash_payload;
};

static void reader_unlockp(struct ctl_client **c)
{
    if (*c)
        pthread_mutex_unlock(&(*c)->rlock);
}
/* Holds C's reader lock until the end of the enclosing block. */
#define READER_GUARD(c)                                                                            \
    _cleanup_(reader_unlockp) __attribute__((unused)) struct ctl_client *reader_guard_ =           \
        (pthread_mutex_lock(&(c)->rlock), (c))

/* wire_conn_recv for a reader holding rlock: the stashed frame first, then
 * the connection. Every frame marks the peer alive. Callers skip PING and
 * PONG as they skip any frame they do not wait for (a client is never
 * pinged; a PONG only says the peer lives). */
static int recv_frame(struct ctl_client *c, int timeout_ms, struct wire_header *ret_h,
                      json_object **ret_obj, void **ret_payload, struct ferry_error *err)
{
    int r;

    if (c->stashed) {
        c->stashed = false;
        *ret_h = c->stash_h;
        *ret_obj = TAKE_PTR(c->stash_obj);
        *ret_payload = TAKE_PTR(c->stash_payload);
        return 0;
    }
    r = wire_conn_recv(c->wc, timeout_ms, ret_h, ret_obj, ret_payload, err);
    if (r == 0)
        __atomic_store_n(&c->last_rx_ms, ferry_now_ms(), __ATOMIC_RELAXED);
    return r;
}

static int connect_unix(const char *path, struct ferry_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    _cleanup_close_ int fd = -1;

    if (strlen(path) >= sizeof sa.sun_path)
        return ferry_error_set(err, ENAMETOOLONG, "socket path '%s' is too long", path);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ferry_error_set_errno(err, errno, "socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        return ferry_error_set_errno(err, errno, "cannot connect to '%s'", path);
    return TAKE_FD(fd);
}

/* Non-blocking connect bounded by TIMEOUT_MS so an unreachable peer gives
 * an answer in bounded time, not after the kernel's SYN retries. */
static int connect_tcp(const char *hostport, int timeout_ms, struct ferry_error *err)
{
    _cleanup_free_ char *host = NULL;
    const char *colon = strrchr(hostport, ':');
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL, *ai;
    int r, last = ECONNREFUSED;
    int64_t deadline = ferry_now_ms() + timeout_ms;

    if (!colon || colon == hostport || !colon[1])
        return ferry_error_set(err, EINVAL, "'%s': expected HOST:PORT", hostport);
    host = ferry_strdup(hostport); /* aborts on OOM, like every ferry_ allocation */
    host[colon - hostport] = '\0';
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    r = getaddrinfo(host, colon + 1, &hints, &res);
    if (r != 0)
        return ferry_error_set(err, EHOSTUNREACH, "cannot resolve '%s': %s", host, gai_strerror(r));
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        struct pollfd pfd;
        int soerr = 0, one = 1;
        socklen_t sl = sizeof soerr;

        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
            last = errno;
            close(fd);
            continue;
        }
        pfd.fd = fd;
        pfd.events = POLLOUT;
        r = poll(&pfd, 1, ferry_ms_left(deadline));
        if (r <= 0) {
            last = r == 0 ? ETIMEDOUT : errno;
            close(fd);
            continue;
        }
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
        if (soerr) {
            last = soerr;
            close(fd);
            continue;
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* A peer host that vanishes mid-migration ends this connection in
         * bounded time, as it does the peer's side. */
        wire_set_keepalive(fd);
        freeaddrinfo(res);
        return fd;
    }
    freeaddrinfo(res);
    return ferry_error_set_errno(err, last, "cannot connect to %s", hostport);
}

int ctl_code_errno(const char *code)
{
    static const struct {
        const char *code;
        int e;
    } map[] = {
        {"invalid-argument", EINVAL},
        {"not-found", ENOENT},
        {"exists", EEXIST},
        {"busy", EBUSY},
        {"unsupported", ENOTSUP},
        {"timeout", ETIMEDOUT},
        {"io-error", EIO},
        {"protocol-error", EPROTO},
        {"permission-denied", EACCES},
        {"operation-failed", EIO},
        {"internal-error", EFAULT},
    };

    for (size_t i = 0; code && i < ARRAY_SIZE(map); i++)
        if (strcmp(map[i].code, code) == 0)
            return map[i].e;
    return EIO;
}

/* The rest of the shared-key exchange, after the agent answered our HELLO
 * (which carried CLIENT_NONCE) with *H / *REPLY: the agent's challenge.
 * Sends our proof, reads the agent's full HELLO (or its refusal) into *H /
 * *REPLY, and checks the agent's own proof before anything in that HELLO
 * is believed. An agent that skips the challenge (--insecure, or older than
 * authentication) is not trusted: it proved nothing. */
static int client_auth(struct ctl_client *c, const struct wire_hello *hello,
                       const uint8_t client_nonce[WIRE_AUTH_NONCE], int64_t deadline,
                       struct wire_header *h, json_object **reply, struct ferry_error *err)
{
    _cleanup_(json_object_putp) json_object *answer = json_object_new_object();
    _cleanup_free_ void *payload = NULL;
    uint8_t server_nonce[WIRE_AUTH_NONCE], proof[WIRE_AUTH_PROOF], want[WIRE_AUTH_PROOF];
    json_object *uuid = NULL;
    int r;

    r = wire_auth_get(*reply, "nonce", server_nonce, err);
    if (r == -ENOENT)
        return ferry_error_set(err, EACCES,
                               "the agent did not authenticate itself (it runs without "
                               "--auth-key, or is a ferryd older than HELLO authentication): "
                               "not trusting it with our key's connection");
    if (r < 0)
        return r;
    wire_auth_proof(auth_key, WIRE_AUTH_SIDE_CLIENT, client_nonce, server_nonce, hello->host_uuid,
                    proof);
    json_object_object_add(answer, "auth", wire_auth_to_json(NULL, proof));
    r = wire_conn_send_json(c->wc, WIRE_HELLO, 0, answer, err);
    if (r < 0)
        return r;
    json_object_put(*reply);
    *reply = NULL;
    r = wire_conn_recv(c->wc, ferry_ms_left(deadline), h, reply, &payload, err);
    if (r < 0 || h->type != WIRE_HELLO)
        return r; /* the caller reports a refusal or an odd frame */
    r = wire_auth_get(*reply, "proof", proof, err);
    if (r == -ENOENT)
        return ferry_error_set(err, EACCES, "the agent sent no proof of the key");
    if (r < 0)
        return r;
    json_object_object_get_ex(*reply, "host_uuid", &uuid);
    wire_auth_proof(
        auth_key, WIRE_AUTH_SIDE_SERVER, client_nonce, server_nonce,
        uuid && json_object_is_type(uuid, json_type_string) ? json_object_get_string(uuid) : "",
        want);
    if (!wire_auth_proof_equal(proof, want))
        return ferry_error_set(err, EACCES,
                               "the agent's proof of the key is wrong (it holds a different "
                               "--auth-key, or is not the agent you meant)");
    return 0;
}

int ctl_client_connect(const char *given_uri, const struct wire_hello *hello, int timeout_ms,
                       struct ctl_client **ret, struct ferry_error *err)
{
    _cleanup_free_ char *uri = ctl_uri_normalize(given_uri);
    _cleanup_(json_object_putp) json_object *obj = NULL;
    _cleanup_(json_object_putp) json_object *reply = NULL;
    _cleanup_free_ void *payload = NULL;
    struct ctl_client *c;
    struct wire_header h;
    bool tls = strncmp(uri, "ferry+tls://", 12) == 0;
    bool authenticating = false;
    uint8_t nonce[WIRE_AUTH_NONCE];
    int64_t deadline = ferry_now_ms() + timeout_ms;
    int fd, r;

    if (tls || strncmp(uri, "ferry+tcp://", 12) == 0) {
        _cleanup_free_ char *hp = ferry_strdup(uri + 12);
        hp[strcspn(hp, "/?")] = '\0';
        fd = connect_tcp(hp, timeout_ms, err);
        if (fd < 0 && tls)
            ferry_error_prefix(err, "%s", uri);
    } else if (strncmp(uri, "unix:", 5) == 0) {
        fd = connect_unix(uri + 5, err);
    } else if (strstr(uri, "://")) {
        return ferry_error_set(
            err, EINVAL,
            "unsupported URI '%s' (use a socket path, ferry+tcp://HOST[:PORT], ferry+tls://HOST[:PORT], "
            "ferry://HOST[:PORT] or HOST:PORT)",
            uri);
    } else {
        fd = connect_unix(uri, err);
    }
    if (fd < 0)
        return fd;
    c = ferry_calloc(1, sizeof *c);
    c->wc = wire_conn_new(fd);
    c->next_id = 1;
    c->events = json_object_new_array();
    pthread_mutex_init(&c->rlock, NULL);

    if (tls) {
        _cleanup_free_ char *host = ctl_uri_host(uri);
        r = tls_client_start(c->wc, tls_dir ? tls_dir : tls_default_dir(), host,
                             ferry_ms_left(deadline), err);
        if (r < 0) {
            ferry_error_prefix(err, "%s", uri);
            ctl_client_free(c);
            return r;
        }
    }
    obj = wire_hello_to_json(hello);
    /* ferry+tcp:// authenticates with the shared key; TLS with certificates,
     * a unix socket by its file mode. */
    if (auth_key && !tls && strncmp(uri, "ferry+tcp://", 12) == 0) {
        r = wire_auth_nonce(nonce, err);
        if (r < 0) {
            ctl_client_free(c);
            return r;
        }
        json_object *a = wire_auth_to_json(nonce, NULL);
        /* Which key: an agent may accept several, each with its role. */
        json_object_object_add(a, "key", json_object_new_string(auth_key->fingerprint));
        json_object_object_add(obj, "auth", a);
        authenticating = true;
    }
    r = wire_conn_send_json(c->wc, WIRE_HELLO, 0, obj, err);
    if (r == 0)
        r = wire_conn_recv(c->wc, ferry_ms_left(deadline), &h, &reply, &payload, err);
    if (r == 0 && h.type == WIRE_HELLO && authenticating)
        r = client_auth(c, hello, nonce, deadline, &h, &reply, err);
    if (r == 0 && h.type == WIRE_ERROR) {
        json_object *e = NULL, *m = NULL, *code = NULL;
        json_object_object_get_ex(reply, "error", &e);
        json_object_object_get_ex(e, "message", &m);
        json_object_object_get_ex(e, "code", &code);
        /* A refusal keeps its code (permission-denied for TLS checks). */
        r = ferry_error_set(err, code ? ctl_code_errno(json_object_get_string(code)) : EPROTO,
                            "peer refused hello: %s", m ? json_object_get_string(m) : "no message");
    } else if (r == 0 && h.type != WIRE_HELLO) {
        r = ferry_error_set(err, EPROTO, "peer answered hello with frame type %u", h.type);
    }
    if (r == 0)
        r = wire_hello_from_json(reply, &c->peer, err);
    c->last_rx_ms = ferry_now_ms();
    if (r < 0) {
        ferry_error_prefix(err, "%s", uri);
        ctl_client_free(c);
        return r;
    }
    *ret = c;
    return 0;
}

void ctl_client_free(struct ctl_client *c)
{
    if (!c)
        return;
    wire_conn_free(c->wc);
    json_object_put(c->events);
    json_object_put(c->stash_obj);
    free(c->stash_payload);
    pthread_mutex_destroy(&c->rlock);
    free(c);
}

const struct wire_hello *ctl_client_peer(struct ctl_client *c)
{
    return &c->peer;
}

int ctl_client_fd(struct ctl_client *c)
{
    return wire_conn_fd(c->wc);
}

static void queue_event(struct ctl_client *c, json_object *ev)
{
    if (json_object_array_length(c->events) >= MAX_QUEUED_EVENTS)
        json_object_array_del_idx(c->events, 0, 1);
    json_object_array_add(c->events, json_object_get(ev));
}

int ctl_client_call(struct ctl_client *c, const char *method, json_object *params, int timeout_ms,
                    json_object **ret_result, struct ferry_error *err)
{
    _cleanup_(json_object_putp) json_object *call = wire_make_call(method, params);
    uint32_t id = c->next_id++;
    int64_t deadline = timeout_ms < 0 ? -1 : ferry_now_ms() + timeout_ms;
    int r;

    if (ret_result)
        *ret_result = NULL;
    READER_GUARD(c);

    r = wire_conn_send_json(c->wc, WIRE_CALL, id, call, err);
    if (r < 0)
        return r;
    for (;;) {
        _cleanup_(json_object_putp) json_object *obj = NULL;
        _cleanup_free_ void *payload = NULL;
        struct wire_header h;

        r = recv_frame(c, deadline < 0 ? -1 : ferry_ms_left(deadline), &h, &obj, &payload, err);
        if (r == -EPIPE)
            return ferry_error_set(err, ECONNRESET, "%s: the agent closed the connection", method);
        if (r < 0)
            return r;
        if (h.type == WIRE_EVENT) {
            queue_event(c, obj);
            continue;
        }
        /* DATA frames of a tunnelled stream that ended meanwhile. */
        if (h.type == WIRE_DATA || h.id != id)
            continue;
        if (h.type == WIRE_REPLY) {
            json_object *res = NULL;
            if (ret_result && json_object_object_get_ex(obj, "result", &res) && res)
                *ret_result = json_object_get(res);
            return 0;
        }
        if (h.type == WIRE_ERROR) {
            json_object *e = NULL, *code = NULL, *msg = NULL;
            json_object_object_get_ex(obj, "error", &e);
            json_object_object_get_ex(e, "code", &code);
            json_object_object_get_ex(e, "message", &msg);
            return ferry_error_set(err, ctl_code_errno(code ? json_object_get_string(code) : NULL),
                                   "%s", msg ? json_object_get_string(msg) : "unknown error");
        }
    }
}

int ctl_client_next_event(struct ctl_client *c, int timeout_ms, json_object **ret_event,
                          struct ferry_error *err)
{
    READER_GUARD(c);

    for (;;) {
        _cleanup_(json_object_putp) json_object *obj = NULL;
        _cleanup_free_ void *payload = NULL;
        struct wire_header h;
        int r;

        if (json_object_array_length(c->events) > 0) {
            *ret_event = json_object_get(json_object_array_get_idx(c->events, 0));
            json_object_array_del_idx(c->events, 0, 1);
            return 0;
        }
        r = recv_frame(c, timeout_ms, &h, &obj, &payload, err);
        if (r == -EPIPE)
            return ferry_error_set(err, ECONNRESET, "the agent closed the connection");
        if (r < 0)
            return r;
        if (h.type == WIRE_EVENT)
            queue_event(c, obj);
    }
}

int ctl_client_send_data(struct ctl_client *c, uint32_t stream, uint32_t flags, const void *buf,
                         size_t len, struct ferry_error *err)
{
    return wire_conn_send(c->wc, WIRE_DATA, flags, stream, buf, len, err);
}

#define DATA_FRAME_TIMEOUT_MS 30000

int ctl_client_recv_data(struct ctl_client *c, uint32_t stream, int timeout_ms, uint32_t *ret_flags,
                         void **ret_buf, size_t *ret_len, struct ferry_error *err)
{
    int64_t deadline = timeout_ms < 0 ? -1 : ferry_now_ms() + timeout_ms;
    READER_GUARD(c);

    *ret_buf = NULL;
    *ret_len = 0;
    *ret_flags = 0;
    for (;;) {
        _cleanup_(json_object_putp) json_object *obj = NULL;
        _cleanup_free_ void *payload = NULL;
        struct pollfd pfd = {.fd = wire_conn_fd(c->wc), .events = POLLIN};
        struct wire_header h;
        int r;

        /* Poll first: a timeout while waiting for a frame to begin leaves
         * the connection in step (wire_conn keeps no read buffer; a TLS
         * session's buffered bytes count as ready). */
        r = c->stashed || wire_conn_has_buffered(c->wc)
                ? 1
                : poll(&pfd, 1, deadline < 0 ? -1 : ferry_ms_left(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return ferry_error_set_errno(err, errno, "tunnel: poll");
        if (r == 0)
            return ferry_error_set(err, ETIMEDOUT, "tunnel: no frame within %d ms", timeout_ms);
        r = recv_frame(c, DATA_FRAME_TIMEOUT_MS, &h, &obj, &payload, err);
        if (r == -EPIPE)
            return ferry_error_set(err, ECONNRESET, "tunnel: the agent closed the connection");
        if (r < 0)
            return r;
        if (h.type == WIRE_EVENT) {
            queue_event(c, obj);
            continue;
        }
        if (h.id != stream)
            continue;
        if (h.type == WIRE_ERROR) {
            json_object *e = NULL, *code = NULL, *msg = NULL;
            json_object_object_get_ex(obj, "error", &e);
            json_object_object_get_ex(e, "code", &code);
            json_object_object_get_ex(e, "message", &msg);
            return ferry_error_set(err, ctl_code_errno(code ? json_object_get_string(code) : NULL),
                                   "%s", msg ? json_object_get_string(msg) : "unknown error");
        }
        if (h.type != WIRE_DATA)
            continue;
        *ret_flags = h.flags;
        *ret_len = h.length;
        *ret_buf = h.length ? TAKE_PTR(payload) : NULL;
        return 0;
    }
}

bool ctl_client_keepalive_supported(struct ctl_client *c)
{
    return wire_hello_has_feature(&c->peer, "keepalive");
}

/* Bytes waiting in our send queue above which its draining shows the peer
 * reading: PINGs alone never reach it, and a peer's kernel acknowledges
 * small writes even when the agent is stopped. */
#define KEEPALIVE_BUSY_QUEUE (64 * 1024)

/* A frame the peer sends whole arrives in one go on a live connection; a
 * header without its (empty) payload for longer means trouble anyway. */
#define TICK_FRAME_TIMEOUT_MS 1000

int64_t ctl_client_keepalive_tick(struct ctl_client *c, bool ping, struct ferry_error *err)
{
    int r;

    if (ping) {
        r = wire_conn_send_nowait(c->wc, WIRE_PING, c->next_ping++, err);
        if (r < 0 && r != -EAGAIN)
            return r;
    }
    {
        int outq = 0;

        if (ioctl(wire_conn_fd(c->wc), SIOCOUTQ, &outq) == 0) {
            if (c->last_outq >= KEEPALIVE_BUSY_QUEUE && outq < c->last_outq)
                __atomic_store_n(&c->last_rx_ms, ferry_now_ms(), __ATOMIC_RELAXED);
            c->last_outq = outq;
        }
    }
    if (pthread_mutex_trylock(&c->rlock) == 0) {
        r = 0;
        while (!c->stashed) {
            struct pollfd pfd = {.fd = wire_conn_fd(c->wc), .events = POLLIN};
            struct wire_header h;
            json_object *obj = NULL;
            void *payload = NULL;

            if (!wire_conn_has_buffered(c->wc) && poll(&pfd, 1, 0) != 1)
                break;
            r = wire_conn_recv(c->wc, TICK_FRAME_TIMEOUT_MS, &h, &obj, &payload, err);
            if (r < 0)
                break;
            __atomic_store_n(&c->last_rx_ms, ferry_now_ms(), __ATOMIC_RELAXED);
            if (h.type == WIRE_EVENT) {
                queue_event(c, obj);
                json_object_put(obj);
                free(payload);
            } else if (h.type == WIRE_PING || h.type == WIRE_PONG) {
                json_object_put(obj);
                free(payload);
            } else {
                c->stashed = true;
                c->stash_h = h;
                c->stash_obj = obj;
                c->stash_payload = payload;
            }
        }
        /* A stashed frame blocks the view of what follows it: until a
         * reader takes it, the peer counts as alive (TCP keepalive still
         * watches the socket). */
        if (c->stashed)
            __atomic_store_n(&c->last_rx_ms, ferry_now_ms(), __ATOMIC_RELAXED);
        pthread_mutex_unlock(&c->rlock);
        if (r == -EPIPE)
            return ferry_error_set(err, ECONNRESET, "the agent closed the connection");
        if (r < 0)
            return r;
    }
    return ferry_now_ms() - __atomic_load_n(&c->last_rx_ms, __ATOMIC_RELAXED);
}

void ctl_client_shutdown(struct ctl_client *c)
{
    shutdown(wire_conn_fd(c->wc), SHUT_RDWR);
}
