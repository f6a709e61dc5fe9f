/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* wire_conn through a transport layer (what TLS plugs into): a fake layer
 * that reads ahead into its own buffer, as a TLS session does, so frames
 * can be waiting where poll() cannot see them; its errors and words reach
 * the caller; its close runs; send timeouts still hold. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "util.h"
#include "wire.h"

struct fake {
    int fd;
    uint8_t buf[65536];
    size_t len, off;
    int fail_recv; /* when set: recv returns it, describe says so */
    bool *closed;  /* set by close */
};

static long fake_recv(void *opaque, void *buf, size_t len)
{
    struct fake *f = opaque;
    ssize_t n;

    if (f->fail_recv)
        return f->fail_recv;
    if (f->off == f->len) {
        n = recv(f->fd, f->buf, sizeof f->buf, MSG_DONTWAIT);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
        if (n == 0)
            return 0;
        f->len = (size_t)n;
        f->off = 0;
    }
    if (len > f->len - f->off)
        len = f->len - f->off;
    memcpy(buf, f->buf + f->off, len);
    f->off += len;
    return (long)len;
}

static long fake_send(void *opaque, const void *buf, size_t len)
{
    struct fake *f = opaque;
    ssize_t n = send(f->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);

    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
    return n;
}

static size_t fake_pending(void *opaque)
{
    struct fake *f = opaque;

    return f->len - f->off;
}

static const char *fake_describe(void *opaque, bool sending)
{
    struct fake *f = opaque;

    return !sending && f->fail_recv ? "fake layer: the peer sent an alert" : NULL;
}

static void fake_close(void *opaque)
{
    struct fake *f = opaque;

    if (f->closed)
        *f->closed = true;
    free(f);
}

static const struct wire_transport_ops fake_ops = {
    .recv = fake_recv,
    .send = fake_send,
    .pending = fake_pending,
    .describe = fake_describe,
    .close = fake_close,
};

struct pair {
    struct wire_conn *a, *b;
    struct fake *fa, *fb;
    bool a_closed, b_closed;
};

static int setup(void **state)
{
    int sv[2];
    struct pair *p = ferry_calloc(1, sizeof *p);

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    p->a = wire_conn_new(sv[0]);
    p->b = wire_conn_new(sv[1]);
    p->fa = ferry_calloc(1, sizeof *p->fa);
    p->fb = ferry_calloc(1, sizeof *p->fb);
    p->fa->fd = sv[0];
    p->fb->fd = sv[1];
    p->fa->closed = &p->a_closed;
    p->fb->closed = &p->b_closed;
    wire_conn_set_transport(p->a, &fake_ops, p->fa);
    wire_conn_set_transport(p->b, &fake_ops, p->fb);
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    struct pair *p = *state;

    wire_conn_free(p->a);
    wire_conn_free(p->b);
    free(p);
    return 0;
}

static void send_call(struct wire_conn *c, uint32_t id)
{
    _cleanup_(json_object_putp) json_object *o = wire_make_call("m", NULL);

    assert_int_equal(wire_conn_send_json(c, WIRE_CALL, id, o, NULL), 0);
}

static int fd_readable(struct wire_conn *c)
{
    struct pollfd pfd = {.fd = wire_conn_fd(c), .events = POLLIN};

    return poll(&pfd, 1, 0);
}

/* Three frames arrive at once; the layer reads them all ahead. The later
 * two are received with a zero timeout although the fd is not readable,
 * and wire_conn_has_buffered() says they are there. */
static void test_buffered_frames(void **state)
{
    struct pair *p = *state;

    assert_false(wire_conn_has_buffered(p->b));
    for (uint32_t id = 1; id <= 3; id++)
        send_call(p->a, id);
    for (uint32_t id = 1; id <= 3; id++) {
        struct wire_header h;
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ void *payload = NULL;
        struct ferry_error err = {0};

        if (id > 1) {
            assert_true(wire_conn_has_buffered(p->b));
            assert_int_equal(fd_readable(p->b), 0);
        }
        assert_int_equal(wire_conn_recv(p->b, id == 1 ? 2000 : 0, &h, &o, &payload, &err), 0);
        assert_int_equal(h.type, WIRE_CALL);
        assert_int_equal(h.id, id);
    }
    assert_false(wire_conn_has_buffered(p->b));
}

/* The layer's error keeps its errno and its words. */
static void test_layer_error_described(void **state)
{
    struct pair *p = *state;
    struct wire_header h;
    json_object *o = NULL;
    void *payload = NULL;
    struct ferry_error err = {0};

    p->fb->fail_recv = -EACCES;
    assert_int_equal(wire_conn_recv(p->b, 100, &h, &o, &payload, &err), -EACCES);
    assert_non_null(strstr(err.msg, "receive: fake layer: the peer sent an alert"));
}

/* End of stream from the layer between frames is the peer closing. */
static void test_peer_closed(void **state)
{
    struct pair *p = *state;
    struct wire_header h;
    json_object *o = NULL;
    void *payload = NULL;
    struct ferry_error err = {0};

    shutdown(wire_conn_fd(p->a), SHUT_WR);
    assert_int_equal(wire_conn_recv(p->b, 2000, &h, &o, &payload, &err), -EPIPE);
    assert_non_null(strstr(err.msg, "peer closed"));
}

/* A peer that stops reading: the layer's -EAGAIN is waited on for at most
 * the send timeout, then the connection is broken for sends. */
static void test_send_timeout(void **state)
{
    struct pair *p = *state;
    size_t len = 1u << 20;
    _cleanup_free_ char *big = ferry_calloc(1, len);
    struct ferry_error err = {0};
    int64_t t0 = ferry_now_ms();
    int r = 0;

    wire_conn_set_send_timeout(p->a, 200);
    for (int i = 0; i < 64 && r == 0; i++)
        r = wire_conn_send(p->a, WIRE_DATA, 0, 1, big, len, &err);
    assert_int_equal(r, -ETIMEDOUT);
    assert_true(ferry_now_ms() - t0 < 5000);
    ferry_error_clear(&err);
    assert_int_equal(wire_conn_send(p->a, WIRE_DATA, 0, 1, "x", 1, &err), -EPIPE);
}

/* Freeing the connection ends the layer. */
static void test_close_runs(void **state)
{
    struct pair *p = *state;

    wire_conn_free(p->a);
    p->a = NULL;
    assert_true(p->a_closed);
    assert_false(p->b_closed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_buffered_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_layer_error_described, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_runs, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
