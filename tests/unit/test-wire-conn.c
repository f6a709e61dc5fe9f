/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* wire_conn over real socketpairs and pipes: whole frames, deadlines that
 * cover a whole frame, desynchronised streams, the reply promised for bad
 * payloads, concurrent senders, and a peer that stops reading or leaves. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
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

struct pair {
    struct wire_conn *a;
    struct wire_conn *b;
};

static int setup_pair(void **state)
{
    int sv[2];
    struct pair *p = ferry_calloc(1, sizeof *p);

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -1;
    p->a = wire_conn_new(sv[0]);
    p->b = wire_conn_new(sv[1]);
    *state = p;
    return 0;
}

static int teardown_pair(void **state)
{
    struct pair *p = *state;

    wire_conn_free(p->a);
    wire_conn_free(p->b);
    free(p);
    return 0;
}

static void raw_frame(int fd, uint16_t type, uint32_t id, const void *payload, uint32_t len)
{
    uint8_t h[WIRE_HEADER_SIZE];
    struct wire_header hd = {
        .magic = WIRE_MAGIC, .version = WIRE_VERSION, .type = type, .id = id, .length = len};

    wire_header_encode(&hd, h);
    assert_int_equal(ferry_write_full(fd, h, sizeof h), 0);
    if (len)
        assert_int_equal(ferry_write_full(fd, payload, len), 0);
}

static void test_json_roundtrip(void **state)
{
    struct pair *p = *state;
    _cleanup_(json_object_putp) struct json_object *call =
        wire_make_call("domain-start", json_object_new_object());
    _cleanup_(json_object_putp) struct json_object *got = NULL;
    void *payload = (void *)1;
    struct wire_header h;
    struct ferry_error err = {0};
    const char *method;
    struct json_object *params;

    assert_int_equal(wire_conn_send_json(p->a, WIRE_CALL, 42, call, &err), 0);
    assert_int_equal(wire_conn_recv(p->b, 1000, &h, &got, &payload, &err), 0);
    assert_int_equal(h.type, WIRE_CALL);
    assert_int_equal(h.id, 42);
    assert_null(payload);
    assert_int_equal(wire_call_parse(got, &method, &params, &err), 0);
    assert_string_equal(method, "domain-start");
}

static void test_data_frames(void **state)
{
    struct pair *p = *state;
    static const char bytes[] = "\0\1\2binary\xff";
    struct json_object *j = (void *)1;
    _cleanup_free_ void *payload = NULL;
    _cleanup_free_ void *empty = NULL;
    struct wire_header h;

    assert_int_equal(wire_conn_send(p->a, WIRE_DATA, 0, 7, bytes, sizeof bytes, NULL), 0);
    assert_int_equal(wire_conn_send(p->a, WIRE_DATA, WIRE_FLAG_EOF, 7, NULL, 0, NULL), 0);
    assert_int_equal(wire_conn_recv(p->b, 1000, &h, &j, &payload, NULL), 0);
    assert_null(j);
    assert_int_equal(h.length, sizeof bytes);
    assert_memory_equal(payload, bytes, sizeof bytes);
    assert_int_equal(wire_conn_recv(p->b, 1000, &h, &j, &empty, NULL), 0);
    assert_int_equal(h.flags, WIRE_FLAG_EOF);
    assert_int_equal(h.length, 0);
    assert_non_null(empty);
}

static void test_send_validates(void **state)
{
    struct pair *p = *state;
    struct ferry_error err = {0};
    _cleanup_(json_object_putp) struct json_object *arr = json_object_new_array();

    assert_int_equal(wire_conn_send(p->a, WIRE_CALL, WIRE_FLAG_EOF, 1, "{}", 2, &err), -EINVAL);
    ferry_error_clear(&err);
    assert_int_equal(wire_conn_send(p->a, (enum wire_type)9, 0, 1, "{}", 2, &err), -EINVAL);
    ferry_error_clear(&err);
    assert_int_equal(wire_conn_send(p->a, WIRE_CALL, 0, 1, NULL, WIRE_MAX_JSON + 1, &err),
                     -EMSGSIZE);
    ferry_error_clear(&err);
    assert_int_equal(wire_conn_send_json(p->a, WIRE_DATA, 1, arr, &err), -EINVAL);
    ferry_error_clear(&err);
    assert_int_equal(wire_conn_send_json(p->a, WIRE_CALL, 1, arr, &err), -EINVAL);
    /* None of this reached the wire, and the connection still works. */
    assert_int_equal(wire_conn_send(p->a, WIRE_REPLY, 0, 3, "{}", 2, NULL), 0);
    {
        struct wire_header h;
        _cleanup_(json_object_putp) struct json_object *j = NULL;
        void *d;
        assert_int_equal(wire_conn_recv(p->b, 1000, &h, &j, &d, NULL), 0);
        assert_int_equal(h.id, 3);
    }
}

static void test_timeout_before_frame_keeps_conn(void **state)
{
    struct pair *p = *state;
    struct wire_header h;
    _cleanup_(json_object_putp) struct json_object *j = NULL;
    void *d = NULL;
    struct ferry_error err = {0};
    int64_t t0 = ferry_now_ms();

    assert_int_equal(wire_conn_recv(p->b, 150, &h, &j, &d, &err), -ETIMEDOUT);
    assert_true(ferry_now_ms() - t0 >= 140);
    assert_int_equal(wire_conn_send(p->a, WIRE_REPLY, 0, 9, "{}", 2, NULL), 0);
    assert_int_equal(wire_conn_recv(p->b, 1000, &h, &j, &d, NULL), 0);
    assert_int_equal(h.id, 9);
}

static void test_partial_frame_timeout_breaks_conn(void **state)
{
    struct pair *p = *state;
    uint8_t hb[WIRE_HEADER_SIZE];
    struct wire_header hd = {
        .magic = WIRE_MAGIC, .version = WIRE_VERSION, .type = WIRE_REPLY, .id = 5, .length = 10};
    struct wire_header h;
    struct json_object *j = NULL;
    void *d = NULL;
    struct ferry_error err = {0};

    wire_header_encode(&hd, hb);
    assert_int_equal(ferry_write_full(wire_conn_fd(p->a), hb, sizeof hb), 0);
    assert_int_equal(ferry_write_full(wire_conn_fd(p->a), "{\"a\"", 4), 0);
    assert_int_equal(wire_conn_recv(p->b, 100, &h, &j, &d, &err), -ETIMEDOUT);
    assert_non_null(strstr(err.msg, "4 of 10 payload bytes"));
    /* The rest arrives, but the reader no longer knows where frames start. */
    assert_int_equal(ferry_write_full(wire_conn_fd(p->a), ":1}  ", 6), 0);
    ferry_error_clear(&err);
    assert_int_equal(wire_conn_recv(p->b, 100, &h, &j, &d, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "desynchronised"));
}

struct dribble {
    int fd;
    int delay_ms;
};

static void *dribble_thread(void *arg)
{
    struct dribble *dr = arg;
    uint8_t buf[WIRE_HEADER_SIZE + 2];
    struct wire_header hd = {
        .magic = WIRE_MAGIC, .version = WIRE_VERSION, .type = WIRE_REPLY, .id = 1, .length = 2};

    wire_header_encode(&hd, buf);
    memcpy(buf + WIRE_HEADER_SIZE, "{}", 2);
    for (size_t i = 0; i < sizeof buf; i++) {
        if (write(dr->fd, buf + i, 1) != 1)
            break;
        usleep((useconds_t)dr->delay_ms * 1000);
    }
    return NULL;
}

/* A peer sending one byte every 40 ms never lets a per-read timeout expire;
 * the deadline covers the whole frame. */
static void test_timeout_covers_whole_frame(void **state)
{
    struct pair *p = *state;
    struct dribble dr = {.fd = wire_conn_fd(p->a), .delay_ms = 40};
    pthread_t t;
    struct wire_header h;
    struct json_object *j = NULL;
    void *d = NULL;
    struct ferry_error err = {0};
    int64_t t0 = ferry_now_ms(), elapsed;

    assert_int_equal(pthread_create(&t, NULL, dribble_thread, &dr), 0);
    assert_int_equal(wire_conn_recv(p->b, 300, &h, &j, &d, &err), -ETIMEDOUT);
    elapsed = ferry_now_ms() - t0;
    assert_true(elapsed >= 290 && elapsed < 700);
    assert_non_null(strstr(err.msg, "incomplete"));
    pthread_join(t, NULL);
}

static void test_peer_close_between_frames(void **state)
{
    struct pair *p = *state;
    struct wire_header h;
    struct json_object *j = NULL;
    void *d = NULL;
    struct ferry_error err = {0};

    shutdown(wire_conn_fd(p->a), SHUT_WR);
    assert_int_equal(wire_conn_recv(p->b, 1000, &h, &j, &d, &err), -EPIPE);
    assert_non_null(strstr(err.msg, "peer closed"));
}

static void test_peer_close_inside_frame(void **state)
{
    struct pair *p = *state;
    struct wire_header h;
    struct json_object *j = NULL;
    void *d = NULL;
    struct ferry_error err = {0};

    assert_int_equal(ferry_write_full(wire_conn_fd(p->a), "FRRY\0\1", 6), 0);
    shutdown(wire_conn_fd(p->a), SHUT_WR);
    assert_int_equal(wire_conn_recv(p->b, 1000, &h, &j, &d, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "inside a frame header"));
}

/* Bad magic: no reply (the stream cannot be resynchronised), conn broken. */
static void test_bad_magic_no_reply(void **state)
{
    struct pair *p = *state;
    struct wire_header h = {0};
    struct json_object *j = NULL;
    void *d = NULL;
    struct ferry_error err = {0};
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    assert_int_equal(ferry_write_full(wire_conn_fd(p->a), http, sizeof http - 1), 0);
    assert_int_equal(wire_conn_recv(p->b, 1000, &h, &j, &d, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "bad magic"));
    assert_int_equal(wire_conn_reject(p->b, -EPROTO, &h, &err), 0);
    ferry_error_clear(&err);
    assert_int_equal(wire_conn_recv(p->a, 100, &h, &j, &d, &err), -ETIMEDOUT);
    ferry_error_clear(&err);
    assert_int_equal(wire_conn_recv(p->b, 100, &h, &j, &d, &err), -EPROTO);
}

static void expect_protocol_error_reply(struct wire_conn *c, uint32_t id, const char *needle)
{
    struct wire_header h;
    _cleanup_(json_object_putp) struct json_object *j = NULL;
    void *d = NULL;
    struct ferry_error err = {0};

    assert_int_equal(wire_conn_recv(c, 1000, &h, &j, &d, NULL), 0);
    assert_int_equal(h.type, WIRE_ERROR);
    assert_int_equal(h.id, id);
    assert_int_equal(wire_error_parse(j, &err), -EPROTO);
    if (!strstr(err.msg, needle))
        fail_msg("'%s' lacks '%s'", err.msg, needle);
    assert_string_equal(
        json_object_get_string(json_object_object_get(json_object_object_get(j, "error"), "code")),
        "protocol-error");
}

/* Valid header, bad JSON: an ERROR reply with the request id, then close. */
static void test_bad_json_gets_reply(void **state)
{
    struct pair *p = *state;
    struct wire_header h = {0};
    struct json_object *j = NULL;
    void *d = NULL;
    struct ferry_error err = {0};
    int r;

    raw_frame(wire_conn_fd(p->a), WIRE_CALL, 77, "{\"method\": ", 11);
    r = wire_conn_recv(p->b, 1000, &h, &j, &d, &err);
    assert_int_equal(r, -EBADMSG);
    assert_int_equal(h.id, 77);
    assert_null(j);
    assert_int_equal(wire_conn_reject(p->b, r, &h, &err), 0);
    expect_protocol_error_reply(p->a, 77, "invalid JSON");

    raw_frame(wire_conn_fd(p->a), WIRE_CALL, 78, "[]", 2);
    ferry_error_clear(&err);
    assert_int_equal(wire_conn_recv(p->b, 1000, &h, &j, &d, &err), -EPROTO);
}

static void test_oversize_gets_reply(void **state)
{
    struct pair *p = *state;
    uint8_t hb[WIRE_HEADER_SIZE];
    struct wire_header hd = {.magic = WIRE_MAGIC,
                             .version = WIRE_VERSION,
                             .type = WIRE_CALL,
                             .id = 99,
                             .length = WIRE_MAX_JSON + 1};
    struct wire_header h = {0};
    struct json_object *j = NULL;
    void *d = NULL;
    struct ferry_error err = {0};
    int r;

    wire_header_encode(&hd, hb);
    assert_int_equal(ferry_write_full(wire_conn_fd(p->a), hb, sizeof hb), 0);
    r = wire_conn_recv(p->b, 1000, &h, &j, &d, &err);
    assert_int_equal(r, -EMSGSIZE);
    assert_int_equal(wire_conn_reject(p->b, r, &h, &err), 0);
    expect_protocol_error_reply(p->a, 99, "exceeds the limit");
}

#define SENDERS 4
#define FRAMES  60

struct sender {
    struct wire_conn *c;
    int index;
    int result;
};

static void *sender_thread(void *arg)
{
    struct sender *s = arg;
    _cleanup_free_ uint8_t *buf = malloc(300 * 1024);

    for (int i = 0; i < FRAMES; i++) {
        uint32_t id = (uint32_t)(s->index << 16 | i);
        size_t len = 1 + (size_t)((i * 7919 + s->index * 104729) % (300 * 1024 - 1));

        memset(buf, (int)(id * 31 % 251), len);
        s->result = wire_conn_send(s->c, WIRE_DATA, 0, id, buf, len, NULL);
        if (s->result < 0)
            break;
    }
    return NULL;
}

/* Frames from several threads never interleave: every frame arrives whole
 * with its own fill byte, and each sender's frames in order. */
static void test_concurrent_senders(void **state)
{
    struct pair *p = *state;
    struct sender s[SENDERS];
    pthread_t t[SENDERS];
    int next[SENDERS] = {0};

    for (int i = 0; i < SENDERS; i++) {
        s[i] = (struct sender){.c = p->a, .index = i};
        assert_int_equal(pthread_create(&t[i], NULL, sender_thread, &s[i]), 0);
    }
    for (int n = 0; n < SENDERS * FRAMES; n++) {
        struct wire_header h;
        struct json_object *j = NULL;
        _cleanup_free_ uint8_t *d = NULL;
        int who, seq;

        assert_int_equal(wire_conn_recv(p->b, 10000, &h, &j, (void **)&d, NULL), 0);
        who = (int)(h.id >> 16);
        seq = (int)(h.id & 0xffff);
        assert_in_range(who, 0, SENDERS - 1);
        assert_int_equal(seq, next[who]);
        next[who]++;
        for (uint32_t k = 0; k < h.length; k++) {
            if (d[k] != (uint8_t)(h.id * 31 % 251))
                fail_msg("frame %#x corrupted at byte %u", h.id, k);
        }
    }
    for (int i = 0; i < SENDERS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(s[i].result, 0);
    }
}

static void test_send_timeout_when_peer_stalls(void **state)
{
    struct pair *p = *state;
    _cleanup_free_ void *big = ferry_calloc(1, WIRE_MAX_PAYLOAD);
    struct ferry_error err = {0};
    int64_t t0 = ferry_now_ms();

    wire_conn_set_send_timeout(p->a, 200);
    assert_int_equal(wire_conn_send(p->a, WIRE_DATA, 0, 1, big, WIRE_MAX_PAYLOAD, &err),
                     -ETIMEDOUT);
    assert_true(ferry_now_ms() - t0 < 3000);
    assert_non_null(strstr(err.msg, "accepted nothing for 200 ms"));
    ferry_error_clear(&err);
    assert_int_equal(wire_conn_send(p->a, WIRE_REPLY, 0, 1, "{}", 2, &err), -EPIPE);
}

/* The keepalive's send never waits: it arrives whole when there is room,
 * and says -EAGAIN without sending a byte when the peer stopped reading. */
static void test_send_nowait(void **state)
{
    struct pair *p = *state;
    struct ferry_error err = {0};
    struct wire_header h;
    json_object *obj = NULL;
    void *payload = NULL;
    _cleanup_free_ void *big = ferry_calloc(1, WIRE_MAX_PAYLOAD);
    int64_t t0;

    assert_int_equal(wire_conn_send_nowait(p->a, WIRE_PING, 42, &err), 0);
    assert_int_equal(wire_conn_recv(p->b, 1000, &h, &obj, &payload, &err), 0);
    assert_int_equal(h.type, WIRE_PING);
    assert_int_equal(h.id, 42);
    assert_int_equal(h.length, 0);
    assert_null(obj);
    free(payload);
    assert_int_equal(wire_conn_send_nowait(p->a, WIRE_CALL, 1, &err), -EINVAL);
    /* Fill the socket: B never reads. */
    wire_conn_set_send_timeout(p->a, 100);
    assert_int_equal(wire_conn_send(p->a, WIRE_DATA, 0, 1, big, WIRE_MAX_PAYLOAD, &err),
                     -ETIMEDOUT);
    ferry_error_clear(&err);
    t0 = ferry_now_ms();
    /* Broken by the failed send above, so -EPIPE; never a wait. */
    assert_true(wire_conn_send_nowait(p->a, WIRE_PING, 43, &err) < 0);
    assert_true(ferry_now_ms() - t0 < 100);
}

/* A full socket that is not broken: -EAGAIN, and the connection stays
 * usable once the peer reads again. */
static void test_send_nowait_full_socket(void **state)
{
    struct pair *p = *state;
    struct ferry_error err = {0};
    char chunk[4096] = {0};
    int fd = wire_conn_fd(p->a), fl = fcntl(fd, F_GETFL);
    size_t filled = 0;

    /* Fill the buffer with raw bytes behind the wire's back (B's side is
     * never parsed in this test). */
    assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
    while (write(fd, chunk, sizeof chunk) > 0)
        filled += sizeof chunk;
    assert_true(filled > 0);
    assert_int_equal(wire_conn_send_nowait(p->a, WIRE_PONG, 7, &err), -EAGAIN);
    assert_int_equal(err.code, 0); /* -EAGAIN carries no message: not an error */
}

/* MSG_NOSIGNAL: a closed peer gives -EPIPE, not a fatal SIGPIPE. */
static void test_send_to_closed_peer(void **state)
{
    struct pair *p = *state;
    struct ferry_error err = {0};
    int r = 0;

    wire_conn_free(p->b);
    p->b = NULL;
    for (int i = 0; i < 4 && r == 0; i++)
        r = wire_conn_send(p->a, WIRE_REPLY, 0, 1, "{}", 2, &err);
    assert_true(r == -EPIPE || r == -ECONNRESET);
}

static void test_pipes(void **state)
{
    int fds[2];
    struct wire_conn *r, *w;
    _cleanup_(json_object_putp) struct json_object *ev = json_object_new_object();
    struct json_object *got = NULL;
    void *d;
    struct wire_header h;

    assert_int_equal(pipe(fds), 0);
    r = wire_conn_new(fds[0]);
    w = wire_conn_new(fds[1]);
    json_object_object_add(ev, "event", json_object_new_string("job-progress"));
    assert_int_equal(wire_conn_send_json(w, WIRE_EVENT, 0, ev, NULL), 0);
    assert_int_equal(wire_conn_recv(r, 1000, &h, &got, &d, NULL), 0);
    assert_int_equal(h.type, WIRE_EVENT);
    assert_string_equal(json_object_get_string(json_object_object_get(got, "event")),
                        "job-progress");
    json_object_put(got);
    wire_conn_free(w);
    assert_int_equal(wire_conn_recv(r, 1000, &h, &got, &d, NULL), -EPIPE);
    wire_conn_free(r);
}

/* The example frame in docs/protocol.md, byte for byte. */
static void test_doc_example_bytes(void **state)
{
    static const uint8_t expect[] = {
        0x46, 0x52, 0x52, 0x59, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x07, 0x00, 0x00, 0x00, 0x2e, 0x00, 0x00, 0x00, 0x00, '{',  '"',  'm',  'e',
        't',  'h',  'o',  'd',  '"',  ':',  '"',  'd',  'o',  'm',  'a',  'i',  'n',  '.',
        'l',  'i',  's',  't',  '"',  ',',  '"',  'p',  'a',  'r',  'a',  'm',  's',  '"',
        ':',  '{',  '"',  'a',  'l',  'l',  '"',  ':',  't',  'r',  'u',  'e',  '}',  '}',
    };
    struct json_object *params = json_object_new_object();
    _cleanup_(json_object_putp) struct json_object *call = NULL;
    uint8_t got[sizeof expect + 1];
    int fds[2];
    struct wire_conn *w;

    json_object_object_add(params, "all", json_object_new_boolean(1));
    call = wire_make_call("domain.list", params);
    assert_int_equal(pipe(fds), 0);
    w = wire_conn_new(fds[1]);
    assert_int_equal(wire_conn_send_json(w, WIRE_CALL, 7, call, NULL), 0);
    wire_conn_free(w);
    assert_int_equal(ferry_read_full(fds[0], got, sizeof expect), 0);
    assert_memory_equal(got, expect, sizeof expect);
    /* Nothing after it. */
    assert_int_equal(read(fds[0], got, 1), 0);
    close(fds[0]);
}

#define PAIR_TEST(f) cmocka_unit_test_setup_teardown(f, setup_pair, teardown_pair)

int main(void)
{
    const struct CMUnitTest tests[] = {
        PAIR_TEST(test_json_roundtrip),
        PAIR_TEST(test_data_frames),
        PAIR_TEST(test_send_validates),
        PAIR_TEST(test_timeout_before_frame_keeps_conn),
        PAIR_TEST(test_partial_frame_timeout_breaks_conn),
        PAIR_TEST(test_timeout_covers_whole_frame),
        PAIR_TEST(test_peer_close_between_frames),
        PAIR_TEST(test_peer_close_inside_frame),
        PAIR_TEST(test_bad_magic_no_reply),
        PAIR_TEST(test_bad_json_gets_reply),
        PAIR_TEST(test_oversize_gets_reply),
        PAIR_TEST(test_concurrent_senders),
        PAIR_TEST(test_send_timeout_when_peer_stalls),
        PAIR_TEST(test_send_to_closed_peer),
        PAIR_TEST(test_send_nowait),
        PAIR_TEST(test_send_nowait_full_socket),
        cmocka_unit_test(test_pipes),
        cmocka_unit_test(test_doc_example_bytes),
    };

    /* Only the pipe test could raise SIGPIPE; it never writes to a closed
     * pipe, so the default disposition stays: a stray SIGPIPE is a bug. */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
