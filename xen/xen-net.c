/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sockets of a Xen migration (xen-net.h). */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
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
#include "xen-net.h"

#define TOKEN_TIMEOUT_MS 10000 /* a connection must name its token this fast */

/* Compares without an early exit, so timing says nothing about the token. */
bool xen_token_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char diff = la != lb;

    for (size_t i = 0; i < lb; i++)
        diff |= (unsigned char)(b[i] ^ (i < la ? a[i] : 0));
    return diff == 0;
}

/* Reads the token line of a new connection; true when it is ours. */
bool xen_token_ok(int fd, const char *token)
{
    char line[64];
    size_t n = 0;
    int64_t deadline = ferry_now_ms() + TOKEN_TIMEOUT_MS;

    while (n < sizeof line - 1) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int left = ferry_ms_left(deadline);
        if (left == 0 || poll(&p, 1, left) <= 0)
            return false;
        /* One byte at a time: what follows the newline is xl's stream. */
        if (read(fd, &line[n], 1) != 1)
            return false;
        if (line[n] == '\n') {
            line[n] = '\0';
            return xen_token_equal(line, token);
        }
        n++;
    }
    return false;
}

/* A listening TCP socket on HOST (NULL: any) and PORT (0: any). */
int xen_listen_on(const char *host, unsigned port, unsigned *ret_port, struct ferry_error *err)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    char ps[8];
    int fd = -1, r;

    snprintf(ps, sizeof ps, "%u", port);
    r = getaddrinfo(host, ps, &hints, &res);
    if (r != 0)
        return ferry_error_set(err, EADDRNOTAVAIL, "prepare: listen address '%s': %s",
                               host ? host : "*", gai_strerror(r));
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 4) < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return ferry_error_set_errno(err, errno, "prepare: cannot listen on %s:%u",
                                     host ? host : "*", port);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        close(fd);
        return ferry_error_set_errno(err, errno, "prepare: getsockname");
    }
    if (ret_port)
        /* getsockname() filled ss; clang 14's analyzer does not model it. */
        // NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult)
        *ret_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                   : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

/* A listening unix socket at PATH (replacing a stale one). */
int xen_listen_unix_path(const char *path, struct ferry_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof sa.sun_path)
        return ferry_error_set(err, ENAMETOOLONG, "socket path '%s' is too long", path);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    unlink(path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ferry_error_set_errno(err, errno, "socket");
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 1) < 0) {
        int e = errno;
        close(fd);
        return ferry_error_set_errno(err, e, "cannot listen on '%s'", path);
    }
    return fd;
}

/* "xl+tcp://HOST:PORT/TOKEN" (HOST may be "[v6]"); TOKEN may be absent
 * when parsing a requested listen URI. */
int xen_parse_uri(const char *uri, char *host, size_t hl, unsigned *port, char *token, size_t tl,
                  struct ferry_error *err)
{
    const char *s = uri;
    uint64_t v;

    if (strncmp(s, "xl+tcp://", 9) == 0)
        s += 9;
    else if (strncmp(s, "tcp:", 4) == 0)
        s += 4 + (strncmp(s + 4, "//", 2) == 0 ? 2 : 0);
    else
        return ferry_error_set(err, EINVAL, "migration URI '%s' is not xl+tcp://HOST:PORT", uri);
    const char *slash = strchr(s, '/');
    size_t hp_len = slash ? (size_t)(slash - s) : strlen(s);
    _cleanup_free_ char *hp = strndup(s, hp_len);
    if (!hp)
        abort();
    char *colon = strrchr(hp, ':');
    if (!colon || ferry_parse_u64(colon + 1, &v) < 0 || v > 65535)
        return ferry_error_set(err, EINVAL, "migration URI '%s' has no valid port", uri);
    *colon = '\0';
    char *h = hp;
    if (h[0] == '[') {
        h++;
        h[strcspn(h, "]")] = '\0';
    }
    snprintf(host, hl, "%s", h);
    *port = (unsigned)v;
    if (token)
        snprintf(token, tl, "%s", slash ? slash + 1 : "");
    return 0;
}
