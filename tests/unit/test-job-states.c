/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The migration job's state machine (agent/job.c): every move the v3,
 * v2 and v1 sequences make is allowed, moves no sequence makes are
 * refused, a refused move leaves the job where it was, and phase names
 * round-trip through the job record's spelling. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "job.h"

static void walk(const enum agent_job_phase *seq, size_t n)
{
    struct agent_job job;

    memset(&job, 0, sizeof job);
    snprintf(job.operation, sizeof job.operation, "test");
    job.phase = JOB_NONE;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(agent_job_enter(&job, seq[i]), 0);
        assert_int_equal(job.phase, seq[i]);
    }
}

static void test_sequences(void **state)
{
    (void)state;
    /* v3 source, success and a cancel after Begin; a recovery repeating
     * Confirm. */
    const enum agent_job_phase src[] = {JOB_BEGIN, JOB_PERFORM, JOB_CONFIRM, JOB_DONE};
    const enum agent_job_phase src_cancel[] = {JOB_BEGIN, JOB_CONFIRM, JOB_CONFIRM, JOB_DONE};
    /* destination: Prepare, Finish (entered twice: the step, then its
     * common path), end */
    const enum agent_job_phase dst[] = {JOB_PREPARE, JOB_FINISH, JOB_FINISH, JOB_DONE};
    /* v2/v1 source: Perform without Begin ends through Confirm's path */
    const enum agent_job_phase v2[] = {JOB_PERFORM, JOB_CONFIRM, JOB_DONE};
    /* a failed Begin or Prepare ends at once; a done job starts again */
    const enum agent_job_phase fail[] = {JOB_BEGIN, JOB_DONE, JOB_NONE, JOB_PREPARE, JOB_DONE};

    walk(src, sizeof src / sizeof src[0]);
    walk(src_cancel, sizeof src_cancel / sizeof src_cancel[0]);
    walk(dst, sizeof dst / sizeof dst[0]);
    walk(v2, sizeof v2 / sizeof v2[0]);
    walk(fail, sizeof fail / sizeof fail[0]);
}

static void test_refused(void **state)
{
    static const struct {
        enum agent_job_phase from, to;
    } bad[] = {
        {JOB_NONE, JOB_FINISH},     /* Finish without Prepare */
        {JOB_NONE, JOB_DONE},       /* nothing to end */
        {JOB_BEGIN, JOB_PREPARE},   /* a source job never prepares */
        {JOB_BEGIN, JOB_FINISH},    /* nor finishes */
        {JOB_PREPARE, JOB_PERFORM}, /* a destination job never performs */
        {JOB_PREPARE, JOB_CONFIRM}, /* nor confirms */
        {JOB_PERFORM, JOB_BEGIN},   /* no way back */
        {JOB_PERFORM, JOB_PERFORM}, /* one Perform per job */
        {JOB_CONFIRM, JOB_PERFORM}, {JOB_FINISH, JOB_PREPARE},
        {JOB_DONE, JOB_BEGIN}, /* a new job starts at NONE */
        {JOB_DONE, JOB_CONFIRM},
    };
    struct agent_job job;

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(&job, 0, sizeof job);
        job.phase = bad[i].from;
        assert_false(agent_job_can_enter(bad[i].from, bad[i].to));
        assert_int_equal(agent_job_enter(&job, bad[i].to), -EINVAL);
        assert_int_equal(job.phase, bad[i].from);
    }
    assert_false(agent_job_can_enter((enum agent_job_phase)99, JOB_NONE));
    assert_false(agent_job_can_enter(JOB_NONE, (enum agent_job_phase)99));
}

static void test_names(void **state)
{
    (void)state;
    for (int p = JOB_NONE; p <= JOB_DONE; p++)
        assert_int_equal(agent_job_phase_from_name(agent_job_phase_name((enum agent_job_phase)p)),
                         p);
    assert_string_equal(agent_job_phase_name(JOB_PERFORM), "perform");
    assert_int_equal(agent_job_phase_from_name("performing"), -1);
    assert_int_equal(agent_job_phase_from_name(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequences),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
