/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl_client's keepalive (docs/protocol.md, "Keepalive") against a fake
 * agent on a unix socket: the feature comes from HELLO, PONGs keep the
 * peer's idle time low, silence makes it grow, and a frame the tick reads
 * that is not its own waits for the next reader instead of being lost. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "client.h"
#include "json-cleanup.h"
#include "util.h"
#include "wire.h"

struct fake_agent {
    char path[108];
    int lfd;
    bool keepalive; /* offer the feature */
    bool answer;    /* answer PINGs */
    bool early;     /* send an unasked REPLY (id 1) right after HELLO */
    pthread_t thread;
};

static void *agent_main(void *arg)
{
    struct fake_agent *a = arg;
    struct wire_conn *c = wire_conn_new(accept4(a->lfd, NULL, NULL, SOCK_CLOEXEC));
    struct wire_hello me = {.role = "agent", .host = "fake", .versions = 1u << 3};
    struct ferry_error err = {0};

    if (a->keepalive)
        wire_hello_add_feature(&me, "keepalive");
    for (;;) {
        struct wire_header h;
        json_object *obj = NULL;
        void *payload = NULL;

        if (wire_conn_recv(c, 5000, &h, &obj, &payload, &err) < 0)
            break;
        if (h.type == WIRE_HELLO) {
            json_object *j = wire_hello_to_json(&me);
            wire_conn_send_json(c, WIRE_HELLO, h.id, j, &err);
            json_object_put(j);
            if (a->early) {
                json_object *r = wire_make_reply(json_object_new_string("early"));
                wire_conn_send_json(c, WIRE_REPLY, 1, r, &err);
                json_object_put(r);
            }
        } else if (h.type == WIRE_PING && a->answer) {
            wire_conn_send(c, WIRE_PONG, 0, h.id, NULL, 0, &err);
        }
        json_object_put(obj);
        free(payload);
    }
    wire_conn_free(c);
    return NULL;
}

static struct ctl_client *start(struct fake_agent *a)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct wire_hello me = {.role = "client", .host = "test", .versions = 1u << 3};
    struct ctl_client *c = NULL;
    struct ferry_error err = {0};
    char uri[128];

    snprintf(a->path, sizeof a->path, "/tmp/ferry-ka-%d-%p.sock", (int)getpid(), (void *)a);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", a->path);
    a->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(a->lfd >= 0);
    unlink(a->path);
    assert_int_equal(bind(a->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(a->lfd, 1), 0);
    assert_int_equal(pthread_create(&a->thread, NULL, agent_main, a), 0);
    snprintf(uri, sizeof uri, "unix:%s", a->path);
    assert_int_equal(ctl_client_connect(uri, &me, 5000, &c, &err), 0);
    return c;
}

static void stop(struct fake_agent *a, struct ctl_client *c)
{
    ctl_client_free(c); /* the agent's recv sees the close and returns */
    pthread_join(a->thread, NULL);
    close(a->lfd);
    unlink(a->path);
}

/* Ticks every 100 ms for MS; returns the last idle time. */
static int64_t tick_for(struct ctl_client *c, int ms)
{
    struct ferry_error err = {0};
    int64_t idle = 0;

    for (int t = 0; t < ms; t += 100) {
        idle = ctl_client_keepalive_tick(c, true, &err);
        assert_true(idle >= 0);
        usleep(100 * 1000);
    }
    return ctl_client_keepalive_tick(c, false, &err);
}

static void test_pongs_keep_idle_low(void **state)
{
    struct fake_agent a = {.keepalive = true, .answer = true};
    struct ctl_client *c = start(&a);

    assert_true(ctl_client_keepalive_supported(c));
    assert_true(tick_for(c, 800) < 600); /* silent: >= 700 */
    stop(&a, c);
}

static void test_silence_makes_idle_grow(void **state)
{
    struct fake_agent a = {.keepalive = true, .answer = false};
    struct ctl_client *c = start(&a);

    assert_true(tick_for(c, 800) >= 700);
    stop(&a, c);
}

static void test_feature_from_hello(void **state)
{
    struct fake_agent a = {.keepalive = false};
    struct ctl_client *c = start(&a);

    assert_false(ctl_client_keepalive_supported(c));
    stop(&a, c);
}

/* The tick reads a REPLY nobody waits for yet: the next reader gets it. */
static void test_foreign_frame_kept_for_reader(void **state)
{
    struct fake_agent a = {.keepalive = true, .answer = true, .early = true};
    struct ctl_client *c = start(&a);
    struct ferry_error err = {0};
    json_object *res = NULL;

    usleep(200 * 1000); /* the REPLY has arrived */
    assert_true(ctl_client_keepalive_tick(c, false, &err) >= 0);
    /* The call's id is 1: the kept REPLY answers it. */
    assert_int_equal(ctl_client_call(c, "x.y", NULL, 2000, &res, &err), 0);
    assert_string_equal(json_object_get_string(res), "early");
    json_object_put(res);
    stop(&a, c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pongs_keep_idle_low),
        cmocka_unit_test(test_silence_makes_idle_grow),
        cmocka_unit_test(test_feature_from_hello),
        cmocka_unit_test(test_foreign_frame_kept_for_reader),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
