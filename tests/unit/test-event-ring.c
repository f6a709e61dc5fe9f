/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The event bus's numbering and replay (agent/registry.c): every event
 * gets the next seq; the last AGENT_EVENTS_KEPT are kept; a subscription
 * made with agent_events_subscribe_since() gets the kept events above
 * SINCE, in order, before any later one; a plain one gets none. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "agent.h"

#define MAX_SEEN 1024

struct seen {
    size_t n;
    int64_t seq[MAX_SEEN];
    char name[MAX_SEEN][16];
};

static void sink(json_object *ev, void *opaque)
{
    struct seen *s = opaque;
    json_object *v = NULL;

    assert_true(s->n < MAX_SEEN);
    assert_true(json_object_object_get_ex(ev, "seq", &v));
    s->seq[s->n] = json_object_get_int64(v);
    assert_true(json_object_object_get_ex(ev, "event", &v));
    snprintf(s->name[s->n], sizeof s->name[0], "%s", json_object_get_string(v));
    s->n++;
}

static struct agent ag = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void emit(int i)
{
    char name[16];
    json_object *d = json_object_new_object();

    snprintf(name, sizeof name, "ev-%d", i);
    json_object_object_add(d, "i", json_object_new_int(i));
    agent_emit_event(&ag, name, "dom", d);
}

static void test_ring(void **state)
{
    static struct seen plain, all, tail, none;
    uint64_t oldest, last;
    int64_t epoch;
    int t1, t2, t3, t4;

    (void)state;
    agent_events_position(&ag, &oldest, &last, &epoch);
    assert_int_equal(oldest, 0);
    assert_int_equal(last, 0);
    for (int i = 1; i <= 10; i++)
        emit(i);
    agent_events_position(&ag, &oldest, &last, &epoch);
    assert_int_equal(oldest, 1);
    assert_int_equal(last, 10);

    /* A plain subscription sees only what comes after it. */
    t1 = agent_events_subscribe(&ag, sink, &plain);
    assert_true(t1 > 0);
    assert_int_equal(plain.n, 0);
    emit(11);
    assert_int_equal(plain.n, 1);
    assert_int_equal(plain.seq[0], 11);

    /* Wrap the ring: 300 events in all, the last 256 kept. */
    for (int i = 12; i <= 300; i++)
        emit(i);
    agent_events_position(&ag, &oldest, &last, &epoch);
    assert_int_equal(last, 300);
    assert_int_equal(oldest, 300 - AGENT_EVENTS_KEPT + 1);
    assert_int_equal(plain.n, 290);

    /* since 0: every kept event, in order, then the live ones. */
    t2 = agent_events_subscribe_since(&ag, sink, &all, 0);
    assert_int_equal(all.n, AGENT_EVENTS_KEPT);
    for (size_t i = 0; i < all.n; i++)
        assert_int_equal(all.seq[i], (int64_t)oldest + (int64_t)i);
    assert_string_equal(all.name[all.n - 1], "ev-300");
    emit(301);
    assert_int_equal(all.n, AGENT_EVENTS_KEPT + 1);
    assert_int_equal(all.seq[all.n - 1], 301);

    /* since is exclusive. */
    t3 = agent_events_subscribe_since(&ag, sink, &tail, 298);
    assert_int_equal(tail.n, 3);
    assert_int_equal(tail.seq[0], 299);
    assert_int_equal(tail.seq[2], 301);

    /* A plain subscription after them replays nothing. */
    t4 = agent_events_subscribe(&ag, sink, &none);
    assert_int_equal(none.n, 0);
    agent_events_unsubscribe(&ag, t1);
    agent_events_unsubscribe(&ag, t2);
    agent_events_unsubscribe(&ag, t3);
    agent_events_unsubscribe(&ag, t4);
    emit(302);
    assert_int_equal(none.n, 0);
    assert_int_equal(plain.n, 291);
    agent_fini(&ag); /* drops the kept events */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
