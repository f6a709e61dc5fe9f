/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tunnelled migration, source side: QEMU migrates into a unix socket the
 * agent listens on, and a relay thread sends what QEMU writes to the
 * destination agent as DATA frames of the migration's stream. Moved out of
 * qemu-migrate.c unchanged. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "qemu-priv.h"

#define QMP_TIMEOUT_MS 30000

#define RELAY_CHUNK (256u * 1024)

/* After QEMU reports "completed", the tail of its stream may still sit in
 * the socket (and in this relay's hands): Perform waits this long for the
 * relay to reach QEMU's end of stream before it calls the stream lost. */
#define RELAY_DRAIN_TIMEOUT_MS 60000

static void *relay_main(void *arg)
{
    struct qemu_relay *rl = arg;
    _cleanup_free_ char *buf = malloc(RELAY_CHUNK);
    int64_t deadline = ferry_now_ms() + QMP_TIMEOUT_MS;

    if (!buf) {
        rl->result = ferry_error_set(&rl->err, ENOMEM, "tunnel: out of memory");
        return NULL;
    }
    while (!rl->stop) {
        struct pollfd pfd = {.fd = rl->listen_fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) > 0) {
            rl->conn_fd = accept4(rl->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (rl->conn_fd >= 0)
                break;
        }
        if (ferry_now_ms() > deadline) {
            rl->result = ferry_error_set(&rl->err, ETIMEDOUT, "tunnel: QEMU did not connect");
            __atomic_store_n(&rl->done, true, __ATOMIC_RELEASE);
            return NULL;
        }
    }
    while (!rl->stop && rl->conn_fd >= 0) {
        ssize_t n = read(rl->conn_fd, buf, RELAY_CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            /* QEMU closed its end: the stream is complete (or QEMU gave up,
             * which the migration status reports). */
            rl->m->tunnel_send(rl->m->tunnel_opaque, rl->stream,
                               n == 0 ? HV_TUNNEL_EOF : HV_TUNNEL_ABORT, NULL, 0, NULL);
            break;
        }
        rl->result =
            rl->m->tunnel_send(rl->m->tunnel_opaque, rl->stream, 0, buf, (size_t)n, &rl->err);
        if (rl->delay_ms)
            usleep(rl->delay_ms * 1000u);
        if (rl->result < 0) {
            ferry_error_prefix(&rl->err, "tunnel to the destination agent");
            /* Make QEMU's migration fail instead of blocking. */
            shutdown(rl->conn_fd, SHUT_RDWR);
            break;
        }
    }
    __atomic_store_n(&rl->done, true, __ATOMIC_RELEASE);
    return NULL;
}

int qemu_relay_start(struct mig_ctx *m, struct qemu_relay *rl, char **ret_uri,
                     struct ferry_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    uint64_t id;
    int r;

    memset(rl, 0, sizeof *rl);
    rl->m = m;
    rl->listen_fd = rl->conn_fd = -1;
    if (strncmp(m->uri, "tunnel:", 7) != 0 || ferry_parse_u64(m->uri + 7, &id) < 0 || !id ||
        id > UINT32_MAX)
        return ferry_error_set(err, EPROTO, "tunnelled migration: bad stream URI '%s'", m->uri);
    rl->stream = (uint32_t)id;
    /* Tests only (e2e test_tunnelled_lagging_relay): pause after each
     * chunk, so that QEMU completes while its stream's tail is unsent. */
    const char *delay = getenv("FERRY_TEST_RELAY_DELAY_MS");
    uint64_t ms;
    if (delay && ferry_parse_u64(delay, &ms) == 0 && ms <= 1000)
        rl->delay_ms = (unsigned)ms;
    snprintf(rl->path, sizeof rl->path, "%s/%s.tunnel-out", qemu_socket_dir(), m->dom->def->name);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", rl->path);
    unlink(rl->path);
    rl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (rl->listen_fd < 0 || bind(rl->listen_fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        listen(rl->listen_fd, 1) < 0 || qemu_give_to_user(m->agent, rl->path, NULL) < 0) {
        r = ferry_error_set_errno(err, errno, "tunnel: cannot listen on '%s'", rl->path);
        if (rl->listen_fd >= 0)
            close(rl->listen_fd);
        rl->listen_fd = -1;
        return r;
    }
    if ((r = pthread_create(&rl->thread, NULL, relay_main, rl)) != 0) {
        close(rl->listen_fd);
        rl->listen_fd = -1;
        return ferry_error_set_errno(err, r, "tunnel: cannot start the relay");
    }
    *ret_uri = ferry_strdup_printf("unix:%s", rl->path);
    return 0;
}

/* Ends the relay. DRAIN (the migration completed): first let it forward
 * everything QEMU wrote, up to QEMU's end of stream; stopping at once would
 * drop the stream's tail and leave the destination waiting for it. Returns
 * -ETIMEDOUT (with the relay's error set) when the stream did not drain. */
int qemu_relay_stop(struct qemu_relay *rl, bool drain)
{
    int r = 0;

    if (rl->listen_fd < 0)
        return 0;
    if (drain) {
        int64_t deadline = ferry_now_ms() + RELAY_DRAIN_TIMEOUT_MS;
        while (!__atomic_load_n(&rl->done, __ATOMIC_ACQUIRE) && ferry_now_ms() < deadline)
            usleep(5 * 1000);
        if (!__atomic_load_n(&rl->done, __ATOMIC_ACQUIRE))
            r = -ETIMEDOUT;
    }
    rl->stop = true;
    if (rl->conn_fd >= 0)
        shutdown(rl->conn_fd, SHUT_RDWR);
    pthread_join(rl->thread, NULL);
    if (rl->conn_fd >= 0)
        close(rl->conn_fd);
    close(rl->listen_fd);
    unlink(rl->path);
    rl->listen_fd = -1;
    if (r < 0 && rl->result >= 0)
        rl->result = ferry_error_set(&rl->err, ETIMEDOUT,
                                     "tunnel: QEMU's migration stream did not reach its end "
                                     "within %d s of completing",
                                     RELAY_DRAIN_TIMEOUT_MS / 1000);
    return rl->result < 0 ? rl->result : 0;
}
