/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Incoming tunnelled streams on the destination agent: DATA frames that
 * arrive on a control connection are written into the unix socket where the
 * destination hypervisor listens (and, for duplex streams, what it writes
 * back is sent as DATA frames). Prepare registers a stream, Finish drops it. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "api.h"
#include "cleanup.h"
#include "tunnel.h"
#include "wire.h"

#define MAX_TUNNELS 16

/* Incoming tunnelled streams: DATA frames of stream ID go to the unix
 * socket PATH where the destination hypervisor listens. A duplex stream
 * (hv.h: tunnel_duplex) also has a reader thread that sends what the
 * receiver writes back as DATA frames on the connection the stream's frames
 * came in on; the thread is joined before that connection goes away
 * (api_tunnel_conn_closed) and before Finish answers (tunnel_drop). */
struct tunnel_reader {
    uint32_t id;
    int fd; /* borrowed from the tunnel */
    struct wire_conn *conn;
    volatile bool stop;
    pthread_t thread;
};

struct tunnel {
    uint32_t id;
    int fd;
    bool duplex;
    bool failed;                  /* a write failed: the error was reported once */
    struct wire_conn *conn;       /* duplex: where the stream's frames come from */
    struct tunnel_reader *reader; /* duplex: running reader, or NULL */
    char path[1024];
    char dom[65];
};

#define TUNNEL_READ_CHUNK (64u * 1024)
#define TUNNEL_POLL_MS    200
#define TUNNEL_SNDTIMEO_S 60

static pthread_mutex_t tunnels_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tunnel tunnels[MAX_TUNNELS];

static void *tunnel_reader_main(void *arg)
{
    struct tunnel_reader *rd = arg;
    _cleanup_free_ char *buf = malloc(TUNNEL_READ_CHUNK);
    uint32_t end = WIRE_FLAG_ABORT;

    while (buf && !rd->stop) {
        struct pollfd pfd = {.fd = rd->fd, .events = POLLIN};
        int r = poll(&pfd, 1, TUNNEL_POLL_MS);
        if (r == 0 || (r < 0 && errno == EINTR))
            continue;
        if (r < 0)
            break;
        ssize_t n = read(rd->fd, buf, TUNNEL_READ_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            end = n == 0 ? WIRE_FLAG_EOF : WIRE_FLAG_ABORT;
            break;
        }
        /* Bounded: the wire's send timeout (and SO_SNDTIMEO on accepted
         * sockets). A failed send breaks the connection for everyone. */
        if (wire_conn_send(rd->conn, WIRE_DATA, 0, rd->id, buf, (size_t)n, NULL) < 0)
            return NULL;
    }
    if (!rd->stop || end == WIRE_FLAG_EOF)
        wire_conn_send(rd->conn, WIRE_DATA, end, rd->id, NULL, 0, NULL);
    return NULL;
}

static void tunnel_reader_stop(struct tunnel_reader *rd)
{
    if (!rd)
        return;
    rd->stop = true;
    pthread_join(rd->thread, NULL);
    free(rd);
}

int tunnel_register(uint32_t id, const char *path, const char *dom, bool duplex,
                    struct ferry_error *err)
{
    int r = ferry_error_set(err, EBUSY, "too many tunnelled migrations at once (%d)", MAX_TUNNELS);

    pthread_mutex_lock(&tunnels_lock);
    for (size_t i = 0; i < MAX_TUNNELS; i++) {
        if (tunnels[i].id == 0) {
            tunnels[i].id = id;
            tunnels[i].fd = -1;
            tunnels[i].duplex = duplex;
            snprintf(tunnels[i].path, sizeof tunnels[i].path, "%s", path);
            snprintf(tunnels[i].dom, sizeof tunnels[i].dom, "%s", dom);
            ferry_error_clear(err);
            r = 0;
            break;
        }
    }
    pthread_mutex_unlock(&tunnels_lock);
    return r;
}

void tunnel_drop(const char *dom)
{
    struct tunnel gone[MAX_TUNNELS];
    size_t n = 0;

    pthread_mutex_lock(&tunnels_lock);
    for (size_t i = 0; i < MAX_TUNNELS; i++) {
        if (tunnels[i].id && strcmp(tunnels[i].dom, dom) == 0) {
            gone[n++] = tunnels[i];
            memset(&tunnels[i], 0, sizeof tunnels[i]);
        }
    }
    pthread_mutex_unlock(&tunnels_lock);
    /* Outside the lock: a reader may be in a bounded send. */
    for (size_t i = 0; i < n; i++) {
        tunnel_reader_stop(gone[i].reader);
        if (gone[i].fd >= 0)
            close(gone[i].fd);
        /* The incoming QEMU's listening socket: QEMU leaves the file behind
         * when the stream never completes (a migration cut mid-RAM). */
        if (gone[i].path[0])
            unlink(gone[i].path);
    }
}

void api_tunnel_conn_closed(struct agent *ag, struct wire_conn *conn)
{
    struct tunnel_reader *stop[MAX_TUNNELS];
    size_t n = 0;

    (void)ag;
    pthread_mutex_lock(&tunnels_lock);
    for (size_t i = 0; i < MAX_TUNNELS; i++) {
        if (tunnels[i].id && tunnels[i].conn == conn) {
            if (tunnels[i].reader)
                stop[n++] = tunnels[i].reader;
            tunnels[i].reader = NULL;
            tunnels[i].conn = NULL;
            tunnels[i].failed = true;
            /* The source is gone: the receiver sees the stream end. */
            if (tunnels[i].fd >= 0)
                shutdown(tunnels[i].fd, SHUT_RDWR);
        }
    }
    pthread_mutex_unlock(&tunnels_lock);
    for (size_t i = 0; i < n; i++)
        tunnel_reader_stop(stop[i]);
}

/* Duplex streams report one error, then drop the stream's frames quietly:
 * the source stops on the first error, and an ERROR frame per DATA frame
 * could fill a connection nobody reads until Perform ends. */
static int tunnel_fail(struct tunnel *t, int r, struct ferry_error *err)
{
    bool quiet;

    pthread_mutex_lock(&tunnels_lock);
    quiet = t->duplex && t->failed;
    if (t->duplex)
        t->failed = true;
    pthread_mutex_unlock(&tunnels_lock);
    if (quiet) {
        ferry_error_clear(err);
        return 0;
    }
    return r;
}

int api_tunnel_data(struct agent *ag, struct wire_conn *conn, uint32_t stream, uint32_t flags,
                    const void *buf, size_t len, struct ferry_error *err)
{
    struct tunnel *t = NULL;
    bool duplex = false, failed = false;
    int fd, r;

    (void)ag;
    pthread_mutex_lock(&tunnels_lock);
    for (size_t i = 0; i < MAX_TUNNELS; i++)
        if (stream && tunnels[i].id == stream)
            t = &tunnels[i];
    if (t && t->duplex && t->conn && t->conn != conn) {
        pthread_mutex_unlock(&tunnels_lock);
        return ferry_error_set(err, EPROTO, "stream %u belongs to another connection", stream);
    }
    if (t && t->fd < 0 && !t->failed) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", t->path);
        t->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (t->fd >= 0 && connect(t->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
            close(t->fd);
            t->fd = -1;
        }
        if (t->fd >= 0 && t->duplex) {
            /* A receiver that stops reading (while a child of it keeps the
             * socket open) must not hold this connection thread forever. */
            struct timeval tv = {.tv_sec = TUNNEL_SNDTIMEO_S};
            setsockopt(t->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            struct tunnel_reader *rd = ferry_calloc(1, sizeof *rd);
            rd->id = t->id;
            rd->fd = t->fd;
            rd->conn = conn;
            t->conn = conn;
            if (pthread_create(&rd->thread, NULL, tunnel_reader_main, rd) != 0) {
                free(rd);
                close(t->fd);
                t->fd = -1;
            } else {
                t->reader = rd;
            }
        }
    }
    if (t) {
        fd = t->fd;
        duplex = t->duplex;
        failed = t->failed;
    } else {
        fd = -1;
    }
    pthread_mutex_unlock(&tunnels_lock);
    if (!t)
        return ferry_error_set(err, ENOENT, "no tunnelled migration with stream %u", stream);
    if (duplex && failed)
        return tunnel_fail(t, 0, err);
    if (fd < 0)
        return tunnel_fail(
            t, ferry_error_set(err, EIO, "stream %u: the incoming guest is not listening", stream),
            err);
    if (flags & WIRE_FLAG_ABORT) {
        shutdown(fd, SHUT_RDWR);
        return 0;
    }
    /* One connection thread feeds one stream, in order; Finish (which
     * closes the fd) comes after the last frame on the same connection. */
    r = len ? ferry_write_full(fd, buf, len) : 0;
    if (r < 0)
        return tunnel_fail(
            t, ferry_error_set_errno(err, -r, "stream %u: writing to the incoming guest", stream),
            err);
    if (duplex && (flags & WIRE_FLAG_EOF))
        shutdown(fd, SHUT_WR);
    return 0;
}
