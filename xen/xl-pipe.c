/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferry-xl-pipe: the transport command ferry gives `xl migrate` instead of
 * ssh. xl runs it with the migration stream on stdin (to send) and stdout
 * (what the receiver answers); it connects to the destination agent's
 * listener for this migration and copies both ways, passing each direction's
 * end on (stdin EOF becomes a TCP half-close, socket EOF closes stdout) so
 * that either side failing is seen at once by the other.
 *
 *   ferry-xl-pipe HOST PORT TOKEN [STATSFILE]
 *   ferry-xl-pipe unix:PATH TOKEN [STATSFILE]
 *
 * The unix form connects to the source agent itself, which carries the
 * stream inside the agents' connection (peer-to-peer migration).
 * TOKEN (a line the listener checks first) ties the connection to one
 * prepared migration. STATSFILE, when given, holds one fixed-width line
 * "SENT RECEIVED\n" (bytes), rewritten at most every 100 ms and at the end:
 * the driver's progress figures. Exit status: 0 when both directions ended cleanly,
 * 1 otherwise, with a message on stderr (xl shows it). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"

#define CONNECT_TIMEOUT_S 30
#define BUF_SIZE          (256 * 1024)
#define LINGER_MS         10000 /* after stdin ends, for the peer's end */

static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res = NULL;
    int fd = -1, r;

    r = getaddrinfo(host, port, &hints, &res);
    if (r != 0) {
        fprintf(stderr, "ferry-xl-pipe: %s:%s: %s\n", host, port, gai_strerror(r));
        return -1;
    }
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            r = errno;
            close(fd);
            fd = -1;
            errno = r;
        }
    }
    if (fd < 0)
        fprintf(stderr, "ferry-xl-pipe: cannot connect to %s:%s: %s\n", host, port,
                strerror(errno));
    freeaddrinfo(res);
    return fd;
}

static int connect_unix_path(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "ferry-xl-pipe: socket path '%s' is too long\n", path);
        return -1;
    }
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        fd = -1;
        errno = e;
    }
    if (fd < 0)
        fprintf(stderr, "ferry-xl-pipe: cannot connect to %s: %s\n", path, strerror(errno));
    return fd;
}

static void write_stats(int fd, uint64_t sent, uint64_t received)
{
    char line[64];
    int n;

    if (fd < 0)
        return;
    n = snprintf(line, sizeof line, "%20" PRIu64 " %20" PRIu64 "\n", sent, received);
    if (pwrite(fd, line, (size_t)n, 0) < 0) {
        /* Progress figures only: the stream matters, not them. */
    }
}

int main(int argc, char **argv)
{
    bool unix_mode = argc >= 2 && strncmp(argv[1], "unix:", 5) == 0;
    int nargs = unix_mode ? 3 : 4; /* before STATSFILE */
    if (argc != nargs && argc != nargs + 1) {
        fprintf(stderr, "usage: ferry-xl-pipe HOST PORT TOKEN [STATSFILE]\n"
                        "       ferry-xl-pipe unix:PATH TOKEN [STATSFILE]\n");
        return 1;
    }
    const char *token = argv[nargs - 1];
    _cleanup_close_ int stats =
        argc == nargs + 1 ? open(argv[nargs], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    uint64_t sent = 0, received = 0;
    int64_t last_stats = 0, linger_until = 0;
    signal(SIGPIPE, SIG_IGN);
    alarm(CONNECT_TIMEOUT_S);
    _cleanup_close_ int sock =
        unix_mode ? connect_unix_path(argv[1] + 5) : connect_to(argv[1], argv[2]);
    if (sock < 0)
        return 1;
    _cleanup_free_ char *hello = ferry_strdup_printf("%s\n", token);
    if (ferry_write_full(sock, hello, strlen(hello)) < 0) {
        fprintf(stderr, "ferry-xl-pipe: sending the token failed\n");
        return 1;
    }
    alarm(0);

    _cleanup_free_ char *buf = malloc(BUF_SIZE);
    bool in_open = true, sock_open = true;
    int status = 0;

    if (!buf)
        return 1;
    /* in: stdin -> sock. out: sock -> stdout. */
    while (in_open || sock_open) {
        if (!in_open && ferry_now_ms() >= linger_until) {
            /* The receiver keeps its end open (a daemon holding it, say):
             * everything xl needed has been said. */
            break;
        }
        if (stats >= 0 && ferry_now_ms() - last_stats >= 100) {
            write_stats(stats, sent, received);
            last_stats = ferry_now_ms();
        }
        struct pollfd p[2] = {{.fd = in_open ? 0 : -1, .events = POLLIN},
                              {.fd = sock_open ? sock : -1, .events = POLLIN}};
        if (poll(p, 2, 100) < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        if (in_open && (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(0, buf, BUF_SIZE);
            if (n < 0 && errno == EINTR)
                continue;
            if (n > 0)
                sent += (uint64_t)n;
            if (n <= 0 || ferry_write_full(sock, buf, (size_t)n) < 0) {
                if (n != 0)
                    status = 1;
                /* xl is done sending (or the peer is gone): pass the end on,
                 * and give the peer a bounded time to end its side too. */
                shutdown(sock, SHUT_WR);
                in_open = false;
                linger_until = ferry_now_ms() + LINGER_MS;
            }
        }
        if (sock_open && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = read(sock, buf, BUF_SIZE);
            if (n < 0 && errno == EINTR)
                continue;
            if (n > 0)
                received += (uint64_t)n;
            if (n <= 0 || ferry_write_full(1, buf, (size_t)n) < 0) {
                if (n != 0)
                    status = 1;
                close(1);
                sock_open = false;
                /* Nobody will read what xl still sends. */
                if (in_open) {
                    shutdown(sock, SHUT_WR);
                    in_open = false;
                }
            }
        }
    }
    write_stats(stats, sent, received);
    return status;
}
