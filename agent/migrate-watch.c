/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The watcher that runs beside Perform: the client's connection closing,
 * and in peer-to-peer mode the destination agent's connection closing or
 * falling silent (the keepalive, docs/protocol.md), each cancel the
 * migration while the guest still runs here. Split from migrate.c, which
 * runs the steps. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "migrate-priv.h"
#include "util.h"

#define PEER_GONE_MSG "peer-to-peer: the connection to the destination agent closed during Perform"

/* The application keepalive on the peer connection (docs/protocol.md,
 * "Keepalive"), like libvirt's virKeepAlive: a PING every interval, and a
 * peer that sent nothing for KEEPALIVE_DEAD_MS is dead. TCP keepalive
 * alone takes ~30 s for a vanished host and never notices a hung agent
 * whose kernel still acknowledges. The watcher wakes every
 * KEEPALIVE_TICK_MS, so a dead peer is declared within DEAD + TICK. */
#define KEEPALIVE_INTERVAL_MS 1000
#define KEEPALIVE_TICK_MS     500
#define KEEPALIVE_DEAD_MS     3000

static void *watch_main(void *arg)
{
    struct conn_watch *w = arg;
    struct agent_job *job = &w->dom->job;
    bool peer = false;
    char why[256] = "";
    int64_t next_ping = 0;

    for (;;) {
        struct pollfd pfd[3] = {{.fd = w->conn_fd, .events = POLLRDHUP},
                                {.fd = w->peer_fd, .events = POLLRDHUP},
                                {.fd = w->stop[0], .events = POLLIN}};
        int r = poll(pfd, 3, w->keepalive ? KEEPALIVE_TICK_MS : -1);

        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 || pfd[2].revents)
            return NULL;
        if (pfd[0].revents & (POLLRDHUP | POLLHUP | POLLERR))
            break;
        if (pfd[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
            peer = true;
            break;
        }
        if (w->keepalive) {
            struct ferry_error kerr = {0};
            bool ping = ferry_now_ms() >= next_ping;
            int64_t idle = ctl_client_keepalive_tick(w->peer, ping, &kerr);

            if (ping)
                next_ping = ferry_now_ms() + KEEPALIVE_INTERVAL_MS;
            if (idle < 0) {
                peer = true;
                snprintf(why, sizeof why,
                         "peer-to-peer: the connection to the destination agent failed during "
                         "Perform: %s",
                         ferry_error_msg(&kerr));
                break;
            }
            if (idle > KEEPALIVE_DEAD_MS) {
                peer = true;
                snprintf(why, sizeof why,
                         "peer-to-peer: the destination agent answered no keepalive for %" PRId64
                         " ms during Perform (its host vanished or the agent hangs)",
                         idle);
                /* Calls still to come (Finish) must fail at once, not wait
                 * minutes for a peer that will not answer. */
                ctl_client_shutdown(w->peer);
                break;
            }
        }
    }
    if (peer && !why[0])
        snprintf(why, sizeof why, "%s", PEER_GONE_MSG);
    ferry_warn("migration of '%s': %s: cancelling it", w->dom->def->name,
               peer ? why : CLIENT_GONE_MSG " during Perform");
    pthread_mutex_lock(&job->lock);
    if (peer)
        snprintf(job->abort_reason, sizeof job->abort_reason, "%s", why);
    else
        job->orphaned = true;
    job->abort_requested = true;
    snprintf(job->stats.status, sizeof job->stats.status, "cancelled");
    if (job->ctx && w->ag->driver->migrate_cancel)
        w->ag->driver->migrate_cancel(job->ctx);
    pthread_mutex_unlock(&job->lock);
    if (!peer)
        mig_publish_abandoned(w->ag, w->dom, "perform", "cancelling");
    return NULL;
}

/* Starts watching CONN and PEER (either may be NULL: nothing to watch). A
 * watcher that cannot start only loses the early cancel; the close still
 * cleans up. */
void mig_watch_start(struct conn_watch *w, struct agent *ag, struct agent_domain *dom,
                     struct wire_conn *conn, struct ctl_client *peer)
{
    memset(w, 0, sizeof *w);
    w->stop[0] = w->stop[1] = -1;
    if (!conn && !peer)
        return;
    w->ag = ag;
    w->dom = dom;
    w->conn_fd = conn ? wire_conn_fd(conn) : -1;
    w->peer_fd = peer ? ctl_client_fd(peer) : -1;
    w->peer = peer;
    w->keepalive = peer && ctl_client_keepalive_supported(peer);
    if (pipe2(w->stop, O_CLOEXEC) < 0) {
        w->stop[0] = w->stop[1] = -1;
        return;
    }
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        close(w->stop[0]);
        close(w->stop[1]);
        w->stop[0] = w->stop[1] = -1;
        return;
    }
    w->running = true;
}

void mig_watch_stop(struct conn_watch *w)
{
    if (w->running) {
        char c = 0;
        ssize_t n;

        do
            n = write(w->stop[1], &c, 1);
        while (n < 0 && errno == EINTR);
        pthread_join(w->thread, NULL);
        w->running = false;
    }
    if (w->stop[0] >= 0)
        close(w->stop[0]);
    if (w->stop[1] >= 0)
        close(w->stop[1]);
    w->stop[0] = w->stop[1] = -1;
}
