/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tunnelled transport of a Xen migration (xen-relay.h): xl's stream
 * over the agents' connection, both directions. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"
#include "xen-dom.h"
#include "xen-net.h"
#include "xen-relay.h"

#define RELAY_CHUNK      (256u * 1024)
#define RELAY_POLL_MS    200
#define RELAY_ACCEPT_MS  30000
#define RELAY_SNDTIMEO_S 30

static void relay_error(struct xl_relay *rl, const struct ferry_error *e)
{
    pthread_mutex_lock(&rl->lock);
    if (!ferry_error_is_set(&rl->err) && e && ferry_error_is_set(e))
        rl->err = *e;
    pthread_mutex_unlock(&rl->lock);
}

static void *relay_down(void *arg)
{
    struct xl_relay *rl = arg;
    struct mig_ctx *m = rl->m;

    while (!rl->stop) {
        struct ferry_error e = {0};
        _cleanup_free_ void *buf = NULL;
        uint32_t flags = 0;
        size_t len = 0;
        int r = m->tunnel_recv(m->tunnel_opaque, rl->stream, RELAY_POLL_MS, &flags, &buf, &len, &e);

        if (r == -ETIMEDOUT)
            continue;
        if (r < 0) {
            ferry_error_prefix(&e, "tunnel from the destination agent");
            relay_error(rl, &e);
            rl->failed = true;
            shutdown(rl->fd, SHUT_RDWR); /* xl sees the failure at once */
            if (r == -ECONNRESET || r == -EPROTO || r == -ETIMEDOUT)
                break;
            continue; /* the destination refused a frame: keep draining */
        }
        if (len && !rl->failed && ferry_write_full(rl->fd, buf, len) < 0) {
            rl->failed = true;
            shutdown(rl->fd, SHUT_RDWR);
        }
        if (flags & HV_TUNNEL_ABORT) {
            ferry_error_set(&e, EIO, "tunnel: the destination's xl stream broke off");
            relay_error(rl, &e);
            shutdown(rl->fd, SHUT_RDWR);
            break;
        }
        if (flags & HV_TUNNEL_EOF) {
            shutdown(rl->fd, SHUT_WR);
            break;
        }
    }
    return NULL;
}

static bool relay_accept(struct xl_relay *rl)
{
    int64_t deadline = ferry_now_ms() + RELAY_ACCEPT_MS;

    for (int bad = 0; bad < MAX_BAD_CONNECTIONS && !rl->stop;) {
        struct pollfd pfd = {.fd = rl->listen_fd, .events = POLLIN};
        if (ferry_ms_left(deadline) == 0)
            return false;
        if (poll(&pfd, 1, RELAY_POLL_MS) <= 0)
            continue;
        int fd = accept4(rl->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        if (xen_token_ok(fd, rl->token)) {
            struct timeval tv = {.tv_sec = RELAY_SNDTIMEO_S};
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            rl->fd = fd;
            return true;
        }
        close(fd);
        bad++;
    }
    return false;
}

static void *relay_up(void *arg)
{
    struct xl_relay *rl = arg;
    struct mig_ctx *m = rl->m;
    _cleanup_free_ char *buf = malloc(RELAY_CHUNK);
    struct ferry_error e = {0};
    uint32_t end = HV_TUNNEL_ABORT;

    if (!buf || !relay_accept(rl)) {
        if (!rl->stop) {
            ferry_error_set(&e, ETIMEDOUT, "tunnel: xl's transport command did not connect");
            relay_error(rl, &e);
        }
        return NULL;
    }
    if (pthread_create(&rl->down, NULL, relay_down, rl) != 0) {
        ferry_error_set(&e, EAGAIN, "tunnel: cannot start the relay");
        relay_error(rl, &e);
        shutdown(rl->fd, SHUT_RDWR);
        /* buf is _cleanup_free_: cppcheck does not follow the attribute. */
        // cppcheck-suppress memleak
        return NULL;
    }
    rl->down_started = true;
    if (m->tunnel_send(m->tunnel_opaque, rl->stream, 0, NULL, 0, &e) < 0)
        goto broken;
    while (!rl->stop && !rl->failed) {
        struct pollfd pfd = {.fd = rl->fd, .events = POLLIN};
        int r = poll(&pfd, 1, RELAY_POLL_MS);
        if (r == 0 || (r < 0 && errno == EINTR))
            continue;
        if (r < 0)
            break;
        ssize_t n = read(rl->fd, buf, RELAY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            end = n == 0 ? HV_TUNNEL_EOF : HV_TUNNEL_ABORT;
            break;
        }
        if (m->tunnel_send(m->tunnel_opaque, rl->stream, 0, buf, (size_t)n, &e) < 0)
            goto broken;
    }
    /* The end of xl's stream (or its loss) reaches the receiver too. */
    m->tunnel_send(m->tunnel_opaque, rl->stream, end, NULL, 0, NULL);
    return NULL;

broken:
    ferry_error_prefix(&e, "tunnel to the destination agent");
    relay_error(rl, &e);
    rl->failed = true;
    shutdown(rl->fd, SHUT_RDWR);
    return NULL;
}

int xen_relay_start(struct mig_ctx *m, struct xl_relay *rl, struct ferry_error *err)
{
    uint64_t id;
    int r;

    memset(rl, 0, sizeof *rl);
    rl->m = m;
    rl->listen_fd = rl->fd = -1;
    pthread_mutex_init(&rl->lock, NULL);
    if (!m->uri || strncmp(m->uri, "tunnel:", 7) != 0 || ferry_parse_u64(m->uri + 7, &id) < 0 ||
        !id || id > UINT32_MAX)
        return ferry_error_set(err, EPROTO, "perform: bad tunnelled stream URI '%s'",
                               m->uri ? m->uri : "");
    rl->stream = (uint32_t)id;
    ferry_uuid_generate(rl->token);
    if (strlen(m->agent->run_dir) + strlen(m->dom->def->name) + 13 >= sizeof rl->path)
        return ferry_error_set(err, ENAMETOOLONG,
                               "perform: run directory '%s' is too long for a unix socket",
                               m->agent->run_dir);
    snprintf(rl->path, sizeof rl->path, "%s/%s.xl-out.sock", m->agent->run_dir, m->dom->def->name);
    rl->listen_fd = xen_listen_unix_path(rl->path, err);
    if (rl->listen_fd < 0) {
        ferry_error_prefix(err, "perform");
        return rl->listen_fd;
    }
    if ((r = pthread_create(&rl->up, NULL, relay_up, rl)) != 0) {
        close(rl->listen_fd);
        unlink(rl->path);
        rl->listen_fd = -1;
        return ferry_error_set_errno(err, r, "perform: cannot start the relay");
    }
    rl->up_started = true;
    return 0;
}

/* After xl migrate ended: nothing of the stream matters any more. */
void xen_relay_stop(struct xl_relay *rl)
{
    rl->stop = true;
    if (rl->up_started)
        pthread_join(rl->up, NULL);
    if (rl->down_started)
        pthread_join(rl->down, NULL);
    if (rl->fd >= 0)
        close(rl->fd);
    if (rl->listen_fd >= 0) {
        close(rl->listen_fd);
        unlink(rl->path);
    }
    pthread_mutex_destroy(&rl->lock);
}
