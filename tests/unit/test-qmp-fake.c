/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fake QMP server used by the qmp/ unit tests; see test-qmp-fake.h. */
#include "test-qmp-fake.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Directories of fakes started and not yet stopped. */
static char live_dirs[64][64];
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;

static void live_set(const char *dir, bool add)
{
    pthread_mutex_lock(&live_lock);
    for (size_t i = 0; i < sizeof live_dirs / sizeof live_dirs[0]; i++) {
        if (add && !live_dirs[i][0]) {
            snprintf(live_dirs[i], sizeof live_dirs[i], "%s", dir);
            break;
        }
        if (!add && strcmp(live_dirs[i], dir) == 0) {
            live_dirs[i][0] = '\0';
            break;
        }
    }
    pthread_mutex_unlock(&live_lock);
}

void fake_cleanup_all(void)
{
    pthread_mutex_lock(&live_lock);
    for (size_t i = 0; i < sizeof live_dirs / sizeof live_dirs[0]; i++) {
        char sock[sizeof live_dirs[0] + sizeof "/qmp.sock"];
        size_t len = strnlen(live_dirs[i], sizeof live_dirs[0] - 1);

        if (!len)
            continue;
        memcpy(sock, live_dirs[i], len);
        memcpy(sock + len, "/qmp.sock", sizeof "/qmp.sock");
        unlink(sock);
        rmdir(live_dirs[i]);
        live_dirs[i][0] = '\0';
    }
    pthread_mutex_unlock(&live_lock);
}

void fake_fail(struct fake *f, const char *file, int line, const char *what)
{
    if (f->failures++ == 0)
        snprintf(f->first_failure, sizeof f->first_failure, "%s:%d: %s", file, line, what);
}

void fake_send(int fd, const char *text)
{
    size_t len = strlen(text), off = 0;

    while (off < len) {
        ssize_t n = send(fd, text + off, len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        off += (size_t)n;
    }
    while (send(fd, "\n", 1, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

static bool wait_readable(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};

    return poll(&pfd, 1, FAKE_IO_TIMEOUT_MS) > 0;
}

struct json_object *fake_recv(struct fake *f, int fd)
{
    for (;;) {
        char *nl = memchr(f->rbuf, '\n', f->rlen);
        ssize_t n;

        if (nl) {
            struct json_object *o;

            *nl = '\0';
            o = json_tokener_parse(f->rbuf);
            f->rlen -= (size_t)(nl + 1 - f->rbuf);
            memmove(f->rbuf, nl + 1, f->rlen);
            FAKE_CHECK(f, o != NULL);
            return o;
        }
        if (f->rlen == sizeof f->rbuf || !wait_readable(fd))
            return NULL;
        n = recv(fd, f->rbuf + f->rlen, sizeof f->rbuf - f->rlen, 0);
        if (n <= 0)
            return NULL;
        f->rlen += (size_t)n;
    }
}

struct json_object *fake_expect(struct fake *f, int fd, const char *name)
{
    struct json_object *cmd = fake_recv(f, fd);
    const char *exec = json_object_get_string(json_object_object_get(cmd, "execute"));
    const char *id = json_object_get_string(json_object_object_get(cmd, "id"));

    FAKE_CHECK(f, cmd != NULL);
    FAKE_CHECK(f, exec && strcmp(exec, name) == 0);
    FAKE_CHECK(f, id && strncmp(id, "ferry-", 6) == 0);
    if (!exec || strcmp(exec, name) != 0) {
        json_object_put(cmd);
        return NULL;
    }
    return cmd;
}

static void send_with_id(int fd, struct json_object *cmd, struct json_object *msg)
{
    struct json_object *id = json_object_object_get(cmd, "id");

    if (id)
        json_object_object_add(msg, "id", json_object_get(id));
    fake_send(fd, json_object_to_json_string_ext(msg, JSON_C_TO_STRING_PLAIN));
    json_object_put(msg);
}

void fake_reply(int fd, struct json_object *cmd, const char *return_json)
{
    struct json_object *msg = json_object_new_object();

    json_object_object_add(msg, "return", json_tokener_parse(return_json));
    send_with_id(fd, cmd, msg);
}

void fake_error(int fd, struct json_object *cmd, const char *cls, const char *desc)
{
    struct json_object *msg = json_object_new_object();
    struct json_object *e = json_object_new_object();

    json_object_object_add(e, "class", json_object_new_string(cls));
    json_object_object_add(e, "desc", json_object_new_string(desc));
    json_object_object_add(msg, "error", e);
    send_with_id(fd, cmd, msg);
}

void fake_event(int fd, const char *name, const char *data_json)
{
    char buf[4096];

    snprintf(
        buf, sizeof buf,
        "{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 1}, \"event\": \"%s\"%s%s}",
        name, data_json ? ", \"data\": " : "", data_json ? data_json : "");
    fake_send(fd, buf);
}

void fake_greeting(int fd)
{
    fake_send(fd, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
                  "\"package\": \"Debian 1:7.2+dfsg-7\"}, \"capabilities\": [\"oob\"]}}");
}

void fake_wait_eof(struct fake *f, int fd)
{
    char buf[4096];

    while (wait_readable(fd)) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n == 0 || (n < 0 && errno != EINTR))
            return;
    }
    fake_fail(f, __FILE__, __LINE__, "client did not hang up in time");
}

static void *fake_main(void *arg)
{
    struct fake *f = arg;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct pollfd pfd;
    int lfd, fd;

    if (f->listen_delay_ms > 0)
        nanosleep(&(struct timespec){.tv_sec = f->listen_delay_ms / 1000,
                                     .tv_nsec = (f->listen_delay_ms % 1000) * 1000000L},
                  NULL);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (strlen(f->path) >= sizeof sa.sun_path)
        abort();
    memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 1) < 0) {
        fake_fail(f, __FILE__, __LINE__, "cannot listen");
        if (lfd >= 0)
            close(lfd);
        return NULL;
    }
    pfd = (struct pollfd){.fd = lfd, .events = POLLIN};
    if (poll(&pfd, 1, FAKE_IO_TIMEOUT_MS) <= 0) {
        /* Tests that never connect (open timeout) end here. */
        close(lfd);
        return NULL;
    }
    fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    close(lfd);
    if (fd < 0) {
        fake_fail(f, __FILE__, __LINE__, "accept failed");
        return NULL;
    }
    if (!f->no_handshake) {
        struct json_object *cmd;

        fake_greeting(fd);
        cmd = fake_expect(f, fd, "qmp_capabilities");
        if (cmd)
            fake_reply(fd, cmd, "{}");
        json_object_put(cmd);
    }
    if (f->script)
        f->script(f, fd);
    fake_wait_eof(f, fd);
    close(fd);
    return NULL;
}

void fake_start(struct fake *f, fake_script script, void *opaque)
{
    snprintf(f->dir, sizeof f->dir, "/tmp/ferry-qmp-test-XXXXXX");
    if (!mkdtemp(f->dir)) {
        perror("mkdtemp");
        abort();
    }
    snprintf(f->path, sizeof f->path, "%s/qmp.sock", f->dir);
    live_set(f->dir, true);
    f->script = script;
    f->opaque = opaque;
    if (pthread_create(&f->thread, NULL, fake_main, f) != 0)
        abort();
}

int fake_stop(struct fake *f)
{
    pthread_join(f->thread, NULL);
    unlink(f->path);
    rmdir(f->dir);
    live_set(f->dir, false);
    if (f->failures)
        fprintf(stderr, "fake QMP server: %d failed checks, first: %s\n", f->failures,
                f->first_failure);
    return f->failures;
}
