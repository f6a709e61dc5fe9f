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

#include "acl.h"
#include "conn-limits.h"
#include "api.h"
#include "auth.h"
#include "cleanup.h"
#include "json-cleanup.h"
#include "tls.h"
#include "wire.h"

/* From accept to a completed HELLO (TLS handshake and authentication
 * included): a client that has not made it by then is closed, and its
 * slot in the pending budgets (agent/conn-limits.h) freed. */
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
/* Shared-key authentication on the TCP listener: set once before
 * server_listen(), then only read. */
static const struct wire_auth_key *auth_key;
static bool auth_insecure;
static const struct acl *acl;     /* --acl; NULL: every authenticated client is admin */
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

void server_auth_configure(const struct wire_auth_key *key, bool insecure, const struct acl *rules)
{
    auth_key = key;
    auth_insecure = insecure;
    acl = rules;
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
    int64_t hello_deadline; /* ms: TLS handshake, HELLO and authentication end by then */
    struct adm_slot slot;
    /* Who the client is, once authenticated (for refusals and the audit
     * log), and what it may do (agent/acl.h). */
    char who[TLS_MAX_DN + 96];
    enum acl_role role;
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

/* The shared-key exchange after the client's HELLO H (parsed into
 * ctx->peer, raw in OBJ): our challenge, its proof, checked in constant
 * time. 0 when the client proved the key; *ret_nonces then hold both
 * nonces for our own proof. A failure has been answered (ERROR) already. */
static int hello_auth(struct client *cl, struct api_ctx *ctx, const struct wire_header *h,
                      json_object *obj, uint8_t ret_nonces[2][WIRE_AUTH_NONCE],
                      const struct wire_auth_key **ret_key, struct ferry_error *err)
{
    const struct wire_auth_key *key;
    const char *key_name = NULL;
    char key_id[17] = "";
    _cleanup_(json_object_putp) json_object *challenge = json_object_new_object();
    _cleanup_(json_object_putp) json_object *answer = NULL;
    _cleanup_free_ void *payload = NULL;
    uint8_t proof[WIRE_AUTH_PROOF], want[WIRE_AUTH_PROOF];
    struct wire_header ah;
    int r;

    r = wire_auth_get(obj, "nonce", ret_nonces[0], err);
    if (r == 0) {
        r = wire_auth_get_key_id(obj, key_id, err);
        r = r == -ENOENT ? 0 : r;
    }
    if (r == 0)
        r = wire_auth_nonce(ret_nonces[1], err);
    if (r < 0) {
        send_error(ctx->conn, h->id, r, ferry_error_msg(err));
        return r;
    }
    /* An unknown key gets the same challenge and the same refusal as a
     * wrong one: nobody learns which fingerprints this agent knows. */
    key = acl_key_find(acl, auth_key, wire_auth_present(obj) && key_id[0] ? key_id : NULL,
                       &cl->role, &key_name);
    /* The challenge says nothing about this host: only "ferry" and a nonce. */
    json_object_object_add(challenge, "agent", json_object_new_string("ferry"));
    json_object_object_add(challenge, "auth", wire_auth_to_json(ret_nonces[1], NULL));
    r = wire_conn_send_json(ctx->conn, WIRE_HELLO, h->id, challenge, err);
    if (r < 0)
        return r;
    r = wire_conn_recv(ctx->conn, ferry_ms_left(cl->hello_deadline), &ah, &answer, &payload, err);
    if (r < 0)
        return r;
    if (ah.type != WIRE_HELLO) {
        r = ferry_error_set(err, EPROTO, "expected the HELLO with the key's proof, got type %u",
                            ah.type);
        send_error(ctx->conn, ah.id, r, ferry_error_msg(err));
        return r;
    }
    r = wire_auth_get(answer, "proof", proof, err);
    if (r == -ENOENT)
        r = ferry_error_set(err, EPROTO, "hello: the second HELLO has no \"auth\" proof");
    if (r < 0) {
        send_error(ctx->conn, ah.id, r, ferry_error_msg(err));
        return r;
    }
    if (key)
        wire_auth_proof(key, WIRE_AUTH_SIDE_CLIENT, ret_nonces[0], ret_nonces[1],
                        ctx->peer.host_uuid, want);
    if (!key || !wire_auth_proof_equal(proof, want)) {
        r = ferry_error_set(err, EACCES,
                            "authentication failed: the client does not hold this agent's key");
        send_error(ctx->conn, ah.id, r, ferry_error_msg(err));
        return r;
    }
    snprintf(cl->who, sizeof cl->who, "key %s (%s) from %s", key->fingerprint, key_name,
             cl->slot.addr);
    *ret_key = key;
    return 0;
}

static int do_hello(struct client *cl, struct api_ctx *ctx, struct ferry_error *err)
{
    struct wire_header h;
    _cleanup_(json_object_putp) json_object *obj = NULL;
    _cleanup_(json_object_putp) json_object *ours = NULL;
    _cleanup_free_ void *payload = NULL;
    struct wire_hello mine;
    uint8_t nonces[2][WIRE_AUTH_NONCE];
    const struct wire_auth_key *key = NULL;
    int r;

    r = wire_conn_recv(ctx->conn, ferry_ms_left(cl->hello_deadline), &h, &obj, &payload, err);
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
    /* The plain TCP listener: the shared key, unless --insecure lets
     * clients without one in. TLS clients were checked by certificate and
     * unix clients by the socket's mode. */
    if (cl->tcp && !cl->tls) {
        if ((auth_key || acl) && wire_auth_present(obj)) {
            r = hello_auth(cl, ctx, &h, obj, nonces, &key, err);
            if (r < 0)
                return r;
        } else if (auth_insecure) {
            cl->role = ACL_ROLE_ADMIN;
            snprintf(cl->who, sizeof cl->who, "unauthenticated client (--insecure) from %s",
                     cl->slot.addr);
        } else {
            r = ferry_error_set(
                err, EACCES,
                "authentication required: this agent's TCP listener accepts only clients that "
                "prove its shared key in HELLO (\"auth\", scheme %s, feature %s); connect with "
                "--auth-key FILE, or over ferry+tls://",
                WIRE_AUTH_SCHEME, WIRE_AUTH_FEATURE);
            send_error(ctx->conn, h.id, r, ferry_error_msg(err));
            return r;
        }
    }
    api_fill_hello(ctx->ag, &mine);
    if (auth_key)
        wire_hello_add_feature(&mine, WIRE_AUTH_FEATURE);
    ours = wire_hello_to_json(&mine);
    if (key) {
        uint8_t proof[WIRE_AUTH_PROOF];
        wire_auth_proof(key, WIRE_AUTH_SIDE_SERVER, nonces[0], nonces[1], mine.host_uuid, proof);
        json_object_object_add(ours, "auth", wire_auth_to_json(NULL, proof));
    }
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
    int r = wire_conn_recv(wc, 2000, &h, &obj, &payload, &rerr);

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
    int r = tls_server_accept(tls_srv, wc, ferry_ms_left(cl->hello_deadline), &how, &dn, &err);

    if (r == 0) {
        ferry_debug("client %" PRIu64 ": TLS client '%s' accepted", cl->id, dn);
        cl->role = acl_role_for_dn(acl, dn);
        snprintf(cl->who, sizeof cl->who, "certificate '%s' from %s", dn, cl->slot.addr);
        return 0;
    }
    adm_log_refusal("TLS listener: refusing client %" PRIu64 " from %s: %s", cl->id, cl->slot.addr,
                    ferry_error_msg(&err));
    if (how == TLS_ACCEPT_REFUSED || how == TLS_ACCEPT_PLAIN_CLIENT)
        refuse_client(wc, &err);
    return r;
}

/* The role check before a method runs, and the audit line after every
 * call that can change something (those that need more than read-only):
 * who, what, on which domain, and how it ended. */
static int authorized_dispatch(struct client *cl, struct api_ctx *ctx, const char *method,
                               json_object *params, json_object **ret, struct ferry_error *err)
{
    enum acl_role need = acl_method_role(method);
    json_object *name = NULL;
    const char *dom = "";
    int r;

    if (params && json_object_object_get_ex(params, "name", &name) &&
        json_object_is_type(name, json_type_string))
        dom = json_object_get_string(name);
    if (cl->role < need)
        r = ferry_error_set(err, EACCES,
                            "permission denied: '%.64s' needs role %s; this client (%s) has role "
                            "%s",
                            method, acl_role_name(need), cl->who, acl_role_name(cl->role));
    else
        r = api_dispatch(ctx, method, params, ret, err);
    /* define and prepare carry XML: the name is in their result. */
    if (!dom[0] && r == 0 && *ret && json_object_object_get_ex(*ret, "name", &name) &&
        json_object_is_type(name, json_type_string))
        dom = json_object_get_string(name);
    if (need >= ACL_ROLE_MIGRATE)
        ferry_info("audit: %s: %.64s%s%.64s%s: %s%s%s", cl->who, method, dom[0] ? " '" : "", dom,
                   dom[0] ? "'" : "", r < 0 ? wire_errno_code(r) : "ok", r < 0 ? ": " : "",
                   r < 0 ? ferry_error_msg(err) : "");
    return r;
}

static void serve(struct client *cl)
{
    struct api_ctx ctx = {.ag = cl->ag, .conn_id = cl->id};
    struct ferry_error err = {0};

    ctx.conn = wire_conn_new(cl->fd);
    if (!cl->tcp) {
        /* The control socket is 0600: its clients are the agent's own user. */
        struct ucred uc = {0};
        socklen_t ul = sizeof uc;
        getsockopt(cl->fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul);
        cl->role = ACL_ROLE_ADMIN;
        snprintf(cl->who, sizeof cl->who, "control socket (uid %u, pid %d)", (unsigned)uc.uid,
                 (int)uc.pid);
    }
    if (cl->tls && tls_accept_client(cl, ctx.conn) < 0)
        goto out;
    if (do_hello(cl, &ctx, &err) < 0) {
        if (err.code == EACCES)
            adm_log_refusal("%s listener: refusing client %" PRIu64 " from %s: %s",
                            cl->tls ? "TLS" : "TCP", cl->id, cl->slot.addr, ferry_error_msg(&err));
        else
            ferry_debug("client %" PRIu64 ": hello failed: %s", cl->id, ferry_error_msg(&err));
        goto out;
    }
    adm_established(&cl->slot);
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
            if (cl->role < ACL_ROLE_MIGRATE) {
                send_error(ctx.conn, h.id, -EACCES,
                           "permission denied: tunnelled streams need role migrate");
                continue;
            }
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
        r = authorized_dispatch(cl, &ctx, json_object_get_string(m), params, &result, &err);
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
    adm_release(&cl->slot);
    free(cl);
    return NULL;
}

static void accept_one(struct agent *ag, int lfd, enum adm_listener which)
{
    pthread_t t;
    pthread_attr_t attr;
    struct client *cl;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    struct adm_slot slot;
    const char *why;
    bool tcp = which != ADM_UNIX;
    uint64_t id;
    int fd, one = 1;

    fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
    if (fd < 0)
        return;
    /* Refused before any thread or buffer exists for it: a flood costs an
     * accept() and a close() per connection. */
    if (adm_admit(which, tcp ? (struct sockaddr *)&ss : NULL, sl, &slot, &why) < 0) {
        adm_log_refusal("refusing a %s connection%s%s: %s",
                        which == ADM_UNIX  ? "control socket"
                        : which == ADM_TLS ? "TLS"
                                           : "TCP",
                        tcp ? " from " : "", tcp ? slot.addr : "", why);
        close(fd);
        return;
    }
    pthread_mutex_lock(&clients_lock);
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
    cl->tls = which == ADM_TLS;
    cl->id = id;
    cl->slot = slot;
    cl->hello_deadline = ferry_now_ms() + HELLO_TIMEOUT_MS;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, client_thread, cl) != 0) {
        close(fd);
        adm_release(&cl->slot);
        free(cl);
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
            accept_one(ag, unix_fd, ADM_UNIX);
        if (tcp_fd >= 0 && (pfd[1].revents & POLLIN))
            accept_one(ag, tcp_fd, ADM_TCP);
        if (tls_fd >= 0 && (pfd[2].revents & POLLIN))
            accept_one(ag, tls_fd, ADM_TLS);
    }
    close(unix_fd);
    unlink(ag->cfg.control);
    if (tcp_fd >= 0)
        close(tcp_fd);
    if (tls_fd >= 0)
        close(tls_fd);
    return 0;
}
