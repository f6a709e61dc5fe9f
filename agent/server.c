/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Accept loop and per-connection threads. A connection starts with a HELLO
 * from the client and our HELLO back; then each CALL gets one REPLY or
 * ERROR with the same request id. A frame whose header is bad closes the
 * connection (the stream cannot be resynchronised); a frame with a valid
 * header but a bad payload gets an ERROR, then the connection closes.
 * Nothing a client sends affects other connections. */
#include "server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "api.h"
#include "cleanup.h"
#include "json-cleanup.h"
#include "tls.h"
#include "wire.h"

#define HELLO_TIMEOUT_MS 10000
#define FRAME_TIMEOUT_MS 30000

static int unix_fd = -1;
static int tcp_fd = -1;
static int tcp_port = 0;
/* The TLS listener: configured once before server_listen(), then only read.
 * tls_srv lives as long as the process (client threads may outlive
 * server_run()). */
static const char *tls_listen_spec;
static struct tls_server *tls_srv;
static int tls_fd = -1;
static int tls_port = 0;
static int n_clients = 0;
static uint64_t next_conn_id = 1; /* under clients_lock; 0 means "no connection" */
static pthread_mutex_t clients_lock = PTHREAD_MUTEX_INITIALIZER;

int server_tcp_port(void)
{
    return tcp_port;
}

int server_tls_port(void)
{
    return tls_port;
}

int server_tls_configure(const char *listen, const char *dir, char *const *allowed_dn,
                         size_t n_allowed, struct ferry_error *err)
{
    int r;

    assert(!tls_srv);
    r = tls_server_new(dir, allowed_dn, n_allowed, &tls_srv, err);
    if (r < 0)
        return r;
    tls_listen_spec = listen;
    return 0;
}

static int listen_unix(const char *path, struct ferry_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    _cleanup_close_ int fd = -1;
    mode_t old;

    if (strlen(path) >= sizeof sa.sun_path)
        return ferry_error_set(err, ENAMETOOLONG, "control socket path '%s' is too long", path);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ferry_error_set_errno(err, errno, "socket");
    unlink(path);
    /* Mode 0600 from the start: no window where others could connect. */
    old = umask(0177);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        umask(old);
        return ferry_error_set_errno(err, errno, "cannot bind '%s'", path);
    }
    umask(old);
    if (listen(fd, 64) < 0)
        return ferry_error_set_errno(err, errno, "listen on '%s'", path);
    return TAKE_FD(fd);
}

static int listen_tcp(const char *spec, int *ret_port, struct ferry_error *err)
{
    _cleanup_free_ char *host = NULL;
    const char *colon = strrchr(spec, ':');
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    _cleanup_close_ int fd = -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int one = 1, r;

    if (!colon)
        return ferry_error_set(err, EINVAL, "listen address '%s': expected ADDR:PORT", spec);
    host = ferry_strdup(spec); /* aborts on OOM, like every ferry_ allocation */
    host[colon - spec] = '\0';
    if (host[0] == '[') { /* [::1]:port */
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    r = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
    if (r != 0)
        return ferry_error_set(err, EINVAL, "listen address '%s': %s", spec, gai_strerror(r));
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        freeaddrinfo(res);
        return ferry_error_set_errno(err, errno, "socket");
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0) {
        r = errno;
        freeaddrinfo(res);
        return ferry_error_set_errno(err, r, "cannot bind %s", spec);
    }
    freeaddrinfo(res);
    if (listen(fd, 64) < 0)
        return ferry_error_set_errno(err, errno, "listen on %s", spec);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        /* getsockname() filled ss; clang 14's analyzer does not model it. */
        // NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult)
        *ret_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    return TAKE_FD(fd);
}

int server_listen(struct agent *ag, struct ferry_error *err)
{
    int fd;

    fd = listen_unix(ag->cfg.control, err);
    if (fd < 0)
        return fd;
    unix_fd = fd;
    if (ag->cfg.listen) {
        fd = listen_tcp(ag->cfg.listen, &tcp_port, err);
        if (fd < 0)
            return fd;
        tcp_fd = fd;
    }
    if (tls_srv) {
        fd = listen_tcp(tls_listen_spec, &tls_port, err);
        if (fd < 0) {
            ferry_error_prefix(err, "--tls-listen");
            return fd;
        }
        tls_fd = fd;
    }
    return 0;
}

struct client {
    struct agent *ag;
    int fd;
    bool tcp;
    bool tls; /* accepted on the TLS listener */
    uint64_t id;
};

static void send_error(struct wire_conn *wc, uint32_t id, int r, const char *msg)
{
    _cleanup_(json_object_putp) json_object *e = wire_make_error(wire_errno_code(r), -r, msg);

    wire_conn_send_json(wc, WIRE_ERROR, id, e, NULL);
}

static void event_sink(json_object *ev, void *opaque)
{
    struct wire_conn *wc = opaque;

    wire_conn_send_json(wc, WIRE_EVENT, 0, ev, NULL);
}

static int do_hello(struct api_ctx *ctx, struct ferry_error *err)
{
    struct wire_header h;
    _cleanup_(json_object_putp) json_object *obj = NULL;
    _cleanup_(json_object_putp) json_object *ours = NULL;
    _cleanup_free_ void *payload = NULL;
    struct wire_hello mine;
    int r;

    r = wire_conn_recv(ctx->conn, HELLO_TIMEOUT_MS, &h, &obj, &payload, err);
    if (r < 0)
        return r;
    if (h.type != WIRE_HELLO) {
        r = ferry_error_set(err, EPROTO, "expected HELLO as the first frame, got type %u", h.type);
        send_error(ctx->conn, h.id, r, ferry_error_msg(err));
        return r;
    }
    r = wire_hello_from_json(obj, &ctx->peer, err);
    if (r < 0) {
        send_error(ctx->conn, h.id, r, ferry_error_msg(err));
        return r;
    }
    api_fill_hello(ctx->ag, &mine);
    ours = wire_hello_to_json(&mine);
    return wire_conn_send_json(ctx->conn, WIRE_HELLO, h.id, ours, err);
}

/* Tells a client we refuse (WHY) in answer to its HELLO, then the caller
 * closes. Reading the HELLO first (bounded) lets the ERROR frame arrive:
 * closing with unread data would reset the connection and lose it. */
static void refuse_client(struct wire_conn *wc, const struct ferry_error *why)
{
    struct wire_header h = {0};
    _cleanup_(json_object_putp) json_object *obj = NULL;
    _cleanup_free_ void *payload = NULL;
    struct ferry_error rerr = {0};
    int r = wire_conn_recv(wc, HELLO_TIMEOUT_MS, &h, &obj, &payload, &rerr);

    if (r < 0 && r != -EBADMSG && r != -EMSGSIZE)
        return;
    send_error(wc, h.id, -EACCES, ferry_error_msg(why));
}

/* The TLS listener's part, before HELLO: handshake and client checks in
 * this connection's thread, never in the accept loop. Returns 0 when the
 * client may go on to HELLO. */
static int tls_accept_client(struct client *cl, struct wire_conn *wc)
{
    enum tls_accept_result how;
    _cleanup_free_ char *dn = NULL;
    struct ferry_error err = {0};
    int r = tls_server_accept(tls_srv, wc, TLS_HANDSHAKE_TIMEOUT, &how, &dn, &err);

    if (r == 0) {
        ferry_debug("client %" PRIu64 ": TLS client '%s' accepted", cl->id, dn);
        return 0;
    }
    ferry_warn("TLS listener: refusing a client: %s", ferry_error_msg(&err));
    if (how == TLS_ACCEPT_REFUSED || how == TLS_ACCEPT_PLAIN_CLIENT)
        refuse_client(wc, &err);
    return r;
}

static void serve(struct client *cl)
{
    struct api_ctx ctx = {.ag = cl->ag, .conn_id = cl->id};
    struct ferry_error err = {0};

    ctx.conn = wire_conn_new(cl->fd);
    if (cl->tls && tls_accept_client(cl, ctx.conn) < 0)
        goto out;
    if (do_hello(&ctx, &err) < 0) {
        ferry_debug("client: hello failed: %s", ferry_error_msg(&err));
        goto out;
    }
    while (!cl->ag->quit) {
        struct pollfd pfd = {.fd = wire_conn_fd(ctx.conn), .events = POLLIN};
        struct wire_header h;
        _cleanup_(json_object_putp) json_object *obj = NULL;
        _cleanup_(json_object_putp) json_object *result = NULL;
        _cleanup_free_ void *payload = NULL;
        json_object *m = NULL, *params = NULL;
        int r;

        /* A TLS session may hold a whole frame already: poll() cannot see it. */
        r = wire_conn_has_buffered(ctx.conn) ? 1 : poll(&pfd, 1, 500);
        if (r == 0 || (r < 0 && errno == EINTR))
            continue;
        ferry_error_clear(&err);
        r = wire_conn_recv(ctx.conn, FRAME_TIMEOUT_MS, &h, &obj, &payload, &err);
        if (r == -EPIPE)
            break;
        if (r == -EBADMSG || r == -EMSGSIZE) {
            /* Header was readable, the frame was not acceptable: say so
             * (with the request id), then close. */
            wire_conn_reject(ctx.conn, r, &h, &err);
            break;
        }
        if (r < 0) {
            ferry_debug("client: closing: %s", ferry_error_msg(&err));
            break;
        }
        if (h.type == WIRE_DATA) {
            /* A tunnelled migration stream: no reply unless it fails. */
            r = api_tunnel_data(ctx.ag, ctx.conn, h.id, h.flags, payload, h.length, &err);
            if (r < 0)
                send_error(ctx.conn, h.id, r, ferry_error_msg(&err));
            continue;
        }
        if (h.type == WIRE_PING) {
            /* Keepalive (docs/protocol.md): answered at once. During a
             * peer's Perform this thread is idle, so a PONG late by
             * seconds means this agent or its host is in trouble. */
            if (wire_conn_send(ctx.conn, WIRE_PONG, 0, h.id, NULL, 0, &err) < 0)
                break;
            continue;
        }
        if (h.type == WIRE_PONG)
            continue; /* the server pings nobody; a stray one is harmless */
        if (h.type != WIRE_CALL) {
            r = ferry_error_set(&err, EPROTO, "unexpected frame type %u from a client", h.type);
            send_error(ctx.conn, h.id, r, ferry_error_msg(&err));
            continue;
        }
        if (!json_object_object_get_ex(obj, "method", &m) ||
            !json_object_is_type(m, json_type_string)) {
            send_error(ctx.conn, h.id, -EINVAL, "CALL without a string 'method'");
            continue;
        }
        json_object_object_get_ex(obj, "params", &params);
        if (params && !json_object_is_type(params, json_type_object)) {
            send_error(ctx.conn, h.id, -EINVAL, "CALL 'params' must be an object");
            continue;
        }
        r = api_dispatch(&ctx, json_object_get_string(m), params, &result, &err);
        if (r < 0) {
            send_error(ctx.conn, h.id, r, ferry_error_msg(&err));
            continue;
        }
        {
            _cleanup_(json_object_putp) json_object *reply = wire_make_reply(TAKE_PTR(result));
            if (wire_conn_send_json(ctx.conn, WIRE_REPLY, h.id, reply, &err) < 0)
                break;
        }
        if (ctx.subscribe_after_reply && ctx.event_token == 0) {
            ctx.event_token = ctx.replay ? agent_events_subscribe_since(ctx.ag, event_sink,
                                                                        ctx.conn, ctx.replay_since)
                                         : agent_events_subscribe(ctx.ag, event_sink, ctx.conn);
            ctx.subscribe_after_reply = false;
        }
    }
out:
    if (ctx.event_token > 0)
        agent_events_unsubscribe(ctx.ag, ctx.event_token);
    api_tunnel_conn_closed(ctx.ag, ctx.conn);
    /* The client is gone (or broke the protocol, which ends it too): the
     * migrations it drove will get no further step. An agent shutting
     * down leaves them as they are. */
    if (!cl->ag->quit)
        api_migrate_conn_closed(ctx.ag, ctx.conn_id);
    wire_conn_free(ctx.conn);
}

static void *client_thread(void *arg)
{
    struct client *cl = arg;

    serve(cl);
    pthread_mutex_lock(&clients_lock);
    n_clients--;
    pthread_mutex_unlock(&clients_lock);
    free(cl);
    return NULL;
}

static void accept_one(struct agent *ag, int lfd, bool tcp, bool tls)
{
    pthread_t t;
    pthread_attr_t attr;
    struct client *cl;
    uint64_t id;
    int fd, one = 1;

    fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    pthread_mutex_lock(&clients_lock);
    if (n_clients >= AGENT_MAX_CLIENTS) {
        pthread_mutex_unlock(&clients_lock);
        ferry_warn("refusing a connection: %d clients already", AGENT_MAX_CLIENTS);
        close(fd);
        return;
    }
    n_clients++;
    id = next_conn_id++;
    pthread_mutex_unlock(&clients_lock);
    if (tcp) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        wire_set_keepalive(fd);
    }
    {
        /* A client that stops reading must not stall event delivery to
         * everyone else: sends give up after this long. */
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    cl = ferry_calloc(1, sizeof *cl);
    cl->ag = ag;
    cl->fd = fd;
    cl->tcp = tcp;
    cl->tls = tls;
    cl->id = id;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, client_thread, cl) != 0) {
        close(fd);
        free(cl);
        pthread_mutex_lock(&clients_lock);
        n_clients--;
        pthread_mutex_unlock(&clients_lock);
    }
    pthread_attr_destroy(&attr);
}

int server_run(struct agent *ag, struct ferry_error *err)
{
    (void)err;
    while (!ag->quit) {
        /* A listener that is not open has fd -1, which poll() skips. */
        struct pollfd pfd[3] = {{.fd = unix_fd, .events = POLLIN},
                                {.fd = tcp_fd, .events = POLLIN},
                                {.fd = tls_fd, .events = POLLIN}};
        int r = poll(pfd, 3, 500);

        if (r <= 0)
            continue;
        if (pfd[0].revents & POLLIN)
            accept_one(ag, unix_fd, false, false);
        if (tcp_fd >= 0 && (pfd[1].revents & POLLIN))
            accept_one(ag, tcp_fd, true, false);
        if (tls_fd >= 0 && (pfd[2].revents & POLLIN))
            accept_one(ag, tls_fd, true, true);
    }
    close(unix_fd);
    unlink(ag->cfg.control);
    if (tcp_fd >= 0)
        close(tcp_fd);
    if (tls_fd >= 0)
        close(tls_fd);
    return 0;
}
