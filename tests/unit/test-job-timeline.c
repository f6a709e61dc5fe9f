/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The migration job's timeline (proto/cookie-timeline.c, agent/job.c):
 * how marks start, repeat and end steps, what a finished job keeps, how
 * the destination's steps merge in from a cookie, the cookie's <timeline>
 * round trip and hostile forms, and job.info's relative times. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "cleanup.h"
#include "cookie.h"
#include "job.h"
#include "json-cleanup.h"

static const struct cookie_phase *find(const struct cookie_timeline *t, const char *name)
{
    const struct cookie_phase *p = cookie_timeline_find(t, name);
    if (!p)
        fail_msg("no phase '%s'", name);
    return p;
}

static void test_mark_start_end(void **state)
{
    struct cookie_timeline t = {0};
    (void)state;

    cookie_timeline_mark(&t, "begin", false, 1000);
    assert_int_equal(t.n, 1);
    assert_int_equal(find(&t, "begin")->open, 1);
    assert_int_equal(find(&t, "begin")->end_us, 0);
    cookie_timeline_mark(&t, "begin", true, 1500);
    assert_int_equal(find(&t, "begin")->start_us, 1000);
    assert_int_equal(find(&t, "begin")->end_us, 1500);
    assert_int_equal(find(&t, "begin")->open, 0);
    /* A second end (another path ending the same step) changes nothing. */
    cookie_timeline_mark(&t, "begin", true, 9000);
    assert_int_equal(find(&t, "begin")->end_us, 1500);
    assert_int_equal(t.dropped, 0);
}

static void test_mark_repeats_count(void **state)
{
    struct cookie_timeline t = {0};
    (void)state;

    /* Two flushes in flight at once, then a third: one entry, first
     * start, last end, open while any runs. */
    cookie_timeline_mark(&t, "flush:vda", false, 100);
    cookie_timeline_mark(&t, "flush:vda", false, 200);
    cookie_timeline_mark(&t, "flush:vda", true, 300);
    assert_int_equal(find(&t, "flush:vda")->open, 1);
    cookie_timeline_mark(&t, "flush:vda", true, 400);
    cookie_timeline_mark(&t, "flush:vda", false, 500);
    cookie_timeline_mark(&t, "flush:vda", true, 700);
    assert_int_equal(t.n, 1);
    assert_int_equal(find(&t, "flush:vda")->count, 3);
    assert_int_equal(find(&t, "flush:vda")->start_us, 100);
    assert_int_equal(find(&t, "flush:vda")->end_us, 700);
    assert_int_equal(find(&t, "flush:vda")->open, 0);
}

static void test_mark_drops(void **state)
{
    struct cookie_timeline t = {0};
    char name[32];
    (void)state;

    cookie_timeline_mark(&t, "never-started", true, 5);
    cookie_timeline_mark(&t, "Bad Name", false, 5);
    cookie_timeline_mark(&t, "", false, 5);
    cookie_timeline_mark(&t, "a-name-that-is-far-too-long-for-a-phase-entry", false, 5);
    assert_int_equal(t.n, 0);
    assert_int_equal(t.dropped, 4);
    for (int i = 0; i < COOKIE_MAX_PHASES + 3; i++) {
        snprintf(name, sizeof name, "step%d", i);
        cookie_timeline_mark(&t, name, false, 10 + i);
    }
    assert_int_equal(t.n, COOKIE_MAX_PHASES);
    assert_int_equal(t.dropped, 7);
    /* A step already there still counts when the table is full. */
    cookie_timeline_mark(&t, "step0", false, 99);
    assert_int_equal(find(&t, "step0")->count, 2);
}

static void test_merge_prefix(void **state)
{
    struct cookie_timeline src = {0}, dst = {0};
    (void)state;

    cookie_timeline_mark(&dst, "begin", false, 10);
    cookie_timeline_mark(&dst, "begin", true, 20);
    cookie_timeline_mark(&src, "prepare", false, 30);
    cookie_timeline_mark(&src, "prepare", true, 80);
    cookie_timeline_merge(&dst, &src, "dest:");
    assert_int_equal(dst.n, 2);
    assert_int_equal(find(&dst, "dest:prepare")->end_us, 80);
    /* Finish's cookie repeats Prepare and adds Finish: replaced, appended. */
    cookie_timeline_mark(&src, "finish", false, 200);
    cookie_timeline_mark(&src, "finish", true, 260);
    src.p[0].end_us = 81;
    cookie_timeline_merge(&dst, &src, "dest:");
    assert_int_equal(dst.n, 3);
    assert_int_equal(find(&dst, "dest:prepare")->end_us, 81);
    assert_int_equal(find(&dst, "dest:finish")->start_us, 200);
}

static void test_job_keeps_timeline(void **state)
{
    struct agent_job job;
    struct ferry_error err = {0};
    (void)state;

    memset(&job, 0, sizeof job);
    pthread_mutex_init(&job.lock, NULL);
    agent_job_start(&job, "test");
    assert_true(job.timeline_base_us > 0);
    agent_job_mark(&job, "perform", false);
    agent_job_mark(&job, "ram", false);
    agent_job_mark(&job, "ram", true);
    /* The job fails with "perform" still running: its end closes it. */
    ferry_error_set(&err, EIO, "boom");
    agent_job_finish(&job, &err);
    assert_int_equal(job.completed_timeline.n, 2);
    assert_true(find(&job.completed_timeline, "perform")->end_us >=
                find(&job.completed_timeline, "ram")->end_us);
    assert_int_equal(find(&job.completed_timeline, "perform")->open, 0);
    /* Marks after the end go nowhere; the next job starts empty. */
    agent_job_mark(&job, "late", false);
    assert_null(cookie_timeline_find(&job.timeline, "late"));
    agent_job_start(&job, "test");
    assert_int_equal(job.timeline.n, 0);
    assert_int_equal(job.completed_timeline.n, 2);
    pthread_mutex_destroy(&job.lock);
}

static void test_json_relative(void **state)
{
    struct cookie_timeline t = {0};
    (void)state;

    cookie_timeline_mark(&t, "bulk:vda", false, 1000000 + 2500);
    cookie_timeline_mark(&t, "bulk:vda", true, 1000000 + 2830150);
    cookie_timeline_mark(&t, "ram", false, 1000000 + 2900000);
    _cleanup_(json_object_putp) json_object *a = agent_timeline_json(&t, 1000000);
    assert_int_equal(json_object_array_length(a), 2);
    json_object *b = json_object_array_get_idx(a, 0), *r = json_object_array_get_idx(a, 1);
    assert_string_equal(json_object_get_string(json_object_object_get(b, "phase")), "bulk:vda");
    assert_string_equal(json_object_to_json_string(json_object_object_get(b, "start_ms")), "2.5");
    assert_string_equal(json_object_to_json_string(json_object_object_get(b, "end_ms")), "2830.2");
    assert_string_equal(json_object_to_json_string(json_object_object_get(b, "duration_ms")),
                        "2827.7");
    assert_int_equal(json_object_get_int(json_object_object_get(b, "count")), 1);
    /* Running: a start, no end. */
    assert_non_null(json_object_object_get(r, "start_ms"));
    assert_null(json_object_object_get(r, "end_ms"));
    assert_null(json_object_object_get(r, "duration_ms"));
}

static void test_cookie_roundtrip(void **state)
{
    struct cookie c = {0}, back;
    struct ferry_error err = {0};
    (void)state;

    snprintf(c.name, sizeof c.name, "g");
    cookie_timeline_mark(&c.timeline, "prepare", false, 1765000000000000);
    cookie_timeline_mark(&c.timeline, "qemu-start", false, 1765000000001000);
    cookie_timeline_mark(&c.timeline, "qemu-start", true, 1765000000063000);
    cookie_timeline_mark(&c.timeline, "flush:vda", false, 1765000000070000);
    cookie_timeline_mark(&c.timeline, "flush:vda", true, 1765000000071000);
    cookie_timeline_mark(&c.timeline, "flush:vda", false, 1765000000072000);
    cookie_timeline_mark(&c.timeline, "flush:vda", true, 1765000000079000);
    _cleanup_free_ char *xml = cookie_format(&c);
    assert_non_null(strstr(xml, "<timeline>"));
    assert_int_equal(cookie_parse(xml, strlen(xml), &back, &err), 0);
    assert_int_equal(back.timeline.n, 3);
    /* "prepare" still ran when the cookie was made: no end. */
    assert_int_equal(find(&back.timeline, "prepare")->end_us, 0);
    assert_int_equal(find(&back.timeline, "qemu-start")->end_us, 1765000000063000);
    assert_int_equal(find(&back.timeline, "flush:vda")->count, 2);
    assert_int_equal(find(&back.timeline, "flush:vda")->start_us, 1765000000070000);
}

static void expect_bad(const char *phases, const char *needle)
{
    struct cookie c;
    struct ferry_error err = {0};
    _cleanup_free_ char *xml =
        ferry_strdup_printf("<qemu-migration><timeline>%s</timeline></qemu-migration>", phases);

    assert_int_equal(cookie_parse(xml, strlen(xml), &c, &err), -EINVAL);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void test_cookie_hostile(void **state)
{
    (void)state;
    expect_bad("<phase name='x' start='20' end='10'/>", "ends before it starts");
    expect_bad("<phase name='x' start='1'/><phase name='x' start='2'/>", "appears twice");
    expect_bad("<phase name='X Y' start='1'/>", "bad timeline phase name");
    expect_bad("<phase name='x'/>", "is not a time");
    expect_bad("<phase name='x' start='-5'/>", "is not a time");
    expect_bad("<phase name='x' start='1' count='0'/>", "bad count");
    expect_bad("<phase name='x' start='1' count='99999999999'/>", "bad count");

    /* One more phase than the limit. */
    struct ferry_buf b = {0};
    for (int i = 0; i <= COOKIE_MAX_PHASES; i++)
        ferry_buf_printf(&b, "<phase name='p%d' start='1'/>", i);
    _cleanup_free_ char *many = ferry_buf_steal(&b);
    expect_bad(many, "more than");

    /* Twice <timeline>. */
    struct cookie c;
    struct ferry_error err = {0};
    const char *twice = "<qemu-migration><timeline/><timeline/></qemu-migration>";
    assert_int_equal(cookie_parse(twice, strlen(twice), &c, &err), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mark_start_end),     cmocka_unit_test(test_mark_repeats_count),
        cmocka_unit_test(test_mark_drops),         cmocka_unit_test(test_merge_prefix),
        cmocka_unit_test(test_job_keeps_timeline), cmocka_unit_test(test_json_relative),
        cmocka_unit_test(test_cookie_roundtrip),   cmocka_unit_test(test_cookie_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
