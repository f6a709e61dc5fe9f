/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A fake QMP server for the qmp/ unit tests: one thread, one unix socket in
 * a mkdtemp directory, one connection, and a per-test script that plays
 * QEMU's side with canned messages. Scripts run off the cmocka thread, so
 * they record failures with FAKE_CHECK and the test asserts afterwards. */
#ifndef FERRY_TEST_QMP_FAKE_H
#define FERRY_TEST_QMP_FAKE_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>

/* Every blocking step of the fake is bounded by this. */
#define FAKE_IO_TIMEOUT_MS 10000

struct fake;
typedef void (*fake_script)(struct fake *f, int fd);

struct fake {
    char dir[64];
    char path[128];
    fake_script script;
    void *opaque;
    bool no_handshake;   /* the script plays the greeting itself */
    int listen_delay_ms; /* create the socket only after this long */

    pthread_t thread;
    char rbuf[64 * 1024];
    size_t rlen;

    int failures; /* written by the fake thread, read after fake_stop */
    char first_failure[256];
};

#define FAKE_CHECK(f, cond)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fake_fail((f), __FILE__, __LINE__, #cond);                                             \
    } while (0)

void fake_fail(struct fake *f, const char *file, int line, const char *what);

/* Creates the directory, starts the thread (which listens, accepts one
 * client, does greeting + qmp_capabilities unless no_handshake, runs
 * SCRIPT, then waits for the client to hang up). */
void fake_start(struct fake *f, fake_script script, void *opaque);
/* Joins the thread, removes the socket and directory. Returns the number
 * of failed checks (and prints the first). */
int fake_stop(struct fake *f);

/* Removes the sockets and directories of fakes a failed test (which
 * longjmps past fake_stop) left behind. Call at the end of main. */
void fake_cleanup_all(void);

/* Sends TEXT plus a newline; errors are ignored (the client may be gone). */
void fake_send(int fd, const char *text);
/* Reads one command; NULL on EOF/timeout. Caller puts it. */
struct json_object *fake_recv(struct fake *f, int fd);
/* Reads one command and checks its "execute" is NAME; NULL on mismatch. */
struct json_object *fake_expect(struct fake *f, int fd, const char *name);
/* Replies to CMD with {"return": RETURN_JSON, "id": CMD.id}. */
void fake_reply(int fd, struct json_object *cmd, const char *return_json);
/* Replies to CMD with a QEMU error. */
void fake_error(int fd, struct json_object *cmd, const char *cls, const char *desc);
/* Sends {"event": NAME, "data": DATA_JSON (may be NULL), "timestamp": ..}. */
void fake_event(int fd, const char *name, const char *data_json);
/* The greeting of a QEMU 7.2.0. */
void fake_greeting(int fd);
/* Waits until the client closes (or the timeout). */
void fake_wait_eof(struct fake *f, int fd);

#endif
