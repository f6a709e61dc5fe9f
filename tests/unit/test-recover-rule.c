/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The decision tables of docs/control-api.md as pure functions of a job:
 * "A client that goes away" (mig_orphan_rule) and "An agent that
 * restarts" (agent_recover_rule), one test per table with one check per
 * row, plus the inputs each rule must ignore. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "migrate-priv.h"
#include "recover.h"

/* The agent library names the driver table only through this (ferryd
 * links agent/drivers.c); the rules need no driver. */

static struct agent_job job_of(const char *op, enum agent_job_phase phase, int version,
                               bool perform_done, int ending)
{
    struct agent_job j;

    memset(&j, 0, sizeof j);
    j.active = true;
    snprintf(j.operation, sizeof j.operation, "%s", op);
    j.phase = phase;
    j.owner_version = version;
    j.perform_done = perform_done;
    j.ending = ending;
    return j;
}

#define OUT "migration-out"
#define IN  "migration-in"

static enum orphan_action orphan(const char *op, enum agent_job_phase ph, int v, bool done)
{
    struct agent_job j = job_of(op, ph, v, done, JOB_ENDING_NONE);

    return mig_orphan_rule(&j);
}

static enum recover_action restart(const char *op, enum agent_job_phase ph, int v, bool done,
                                   int ending, bool completed)
{
    struct agent_job j = job_of(op, ph, v, done, ending);

    return agent_recover_rule(&j, completed);
}

/* "A client that goes away". */
static void test_client_gone(void **state)
{
    (void)state;
    /* destination, before migrate.finish (v3): torn-down */
    assert_int_equal(orphan(IN, JOB_PREPARE, 3, false), ORPHAN_DEST_TEARDOWN);
    /* destination, before migrate.finish (v2, v1): finishing */
    assert_int_equal(orphan(IN, JOB_PREPARE, 2, false), ORPHAN_DEST_FINISH);
    assert_int_equal(orphan(IN, JOB_PREPARE, 1, false), ORPHAN_DEST_FINISH);
    /* source, after migrate.begin: cancelled */
    assert_int_equal(orphan(OUT, JOB_BEGIN, 3, false), ORPHAN_SOURCE_CANCEL);
    /* source, during migrate.perform (any version): cancelling */
    for (int v = 1; v <= 3; v++)
        assert_int_equal(orphan(OUT, JOB_PERFORM, v, false), ORPHAN_SOURCE_CANCEL);
    /* source, after migrate.perform failed: cancelled (perform_done is
     * only set by a Perform that succeeded and was answered) */
    assert_int_equal(orphan(OUT, JOB_PERFORM, 3, false), ORPHAN_SOURCE_CANCEL);
    /* source, after migrate.perform succeeded and was answered (v3) */
    assert_int_equal(orphan(OUT, JOB_PERFORM, 3, true), ORPHAN_SOURCE_KEEP);
    /* no migration: no rule */
    assert_int_equal(orphan("", JOB_NONE, 3, false), ORPHAN_NONE);
    assert_int_equal(orphan("migration-sideways", JOB_PERFORM, 3, true), ORPHAN_NONE);
}

/* The close rule goes by operation, version and perform_done only. */
static void test_client_gone_ignores(void **state)
{
    struct agent_job j = job_of(IN, JOB_PREPARE, 3, false, JOB_ENDING_NONE);

    (void)state;
    j.stepping = true;
    j.orphaned = true;
    j.abort_requested = true;
    j.owner_conn = 42;
    j.was_running = true;
    assert_int_equal(mig_orphan_rule(&j), ORPHAN_DEST_TEARDOWN);
    /* A destination has no perform_done; a stray one changes nothing. */
    j.perform_done = true;
    assert_int_equal(mig_orphan_rule(&j), ORPHAN_DEST_TEARDOWN);
}

/* "An agent that restarts". */
static void test_restart(void **state)
{
    (void)state;
    /* source, Begin, or Perform not answered: resumed/cancelled */
    assert_int_equal(restart(OUT, JOB_BEGIN, 3, false, 0, false), RECOVER_SOURCE_CANCEL);
    assert_int_equal(restart(OUT, JOB_PERFORM, 3, false, 0, false), RECOVER_SOURCE_CANCEL);
    /* v3: an unanswered Perform counts as failed even if QEMU completed */
    assert_int_equal(restart(OUT, JOB_PERFORM, 3, false, 0, true), RECOVER_SOURCE_CANCEL);
    /* v2/v1 Perform whose stream did not complete */
    assert_int_equal(restart(OUT, JOB_PERFORM, 2, false, 0, false), RECOVER_SOURCE_CANCEL);
    assert_int_equal(restart(OUT, JOB_PERFORM, 1, false, 0, false), RECOVER_SOURCE_CANCEL);
    /* source, Perform answered (v3): kept-paused */
    assert_int_equal(restart(OUT, JOB_PERFORM, 3, true, 0, false), RECOVER_SOURCE_KEEP);
    assert_int_equal(restart(OUT, JOB_PERFORM, 3, true, 0, true), RECOVER_SOURCE_KEEP);
    /* v2/v1 Perform whose QEMU migration completed: kept-paused */
    assert_int_equal(restart(OUT, JOB_PERFORM, 2, false, 0, true), RECOVER_SOURCE_KEEP);
    assert_int_equal(restart(OUT, JOB_PERFORM, 1, false, 0, true), RECOVER_SOURCE_KEEP);
    /* ... but only inside Perform */
    assert_int_equal(restart(OUT, JOB_BEGIN, 2, false, 0, true), RECOVER_SOURCE_CANCEL);
    /* source, Confirm with cancelled: true under way: resumed */
    assert_int_equal(restart(OUT, JOB_CONFIRM, 3, true, JOB_ENDING_CANCELLED, false),
                     RECOVER_SOURCE_CANCEL);
    assert_int_equal(restart(OUT, JOB_CONFIRM, 2, false, JOB_ENDING_CANCELLED, true),
                     RECOVER_SOURCE_CANCEL);
    /* source, Confirm of a success under way: stopped */
    assert_int_equal(restart(OUT, JOB_CONFIRM, 3, true, JOB_ENDING_SUCCESS, false),
                     RECOVER_SOURCE_STOP);
    assert_int_equal(restart(OUT, JOB_PERFORM, 2, false, JOB_ENDING_SUCCESS, false),
                     RECOVER_SOURCE_STOP);
    /* destination, Prepare (v3), or Finish with cancelled: true: torn-down */
    assert_int_equal(restart(IN, JOB_PREPARE, 3, false, 0, false), RECOVER_DEST_TEARDOWN);
    assert_int_equal(restart(IN, JOB_FINISH, 3, false, JOB_ENDING_CANCELLED, false),
                     RECOVER_DEST_TEARDOWN);
    assert_int_equal(restart(IN, JOB_FINISH, 2, false, JOB_ENDING_CANCELLED, false),
                     RECOVER_DEST_TEARDOWN);
    /* destination, Prepare (v2, v1): finished or torn-down by Finish */
    assert_int_equal(restart(IN, JOB_PREPARE, 2, false, 0, false), RECOVER_DEST_FINISH);
    assert_int_equal(restart(IN, JOB_PREPARE, 1, false, 0, false), RECOVER_DEST_FINISH);
    /* destination, Finish of a success under way: finished */
    assert_int_equal(restart(IN, JOB_FINISH, 3, false, JOB_ENDING_SUCCESS, false),
                     RECOVER_DEST_FINISH);
    /* destination, an incoming guest with no record: recover.c makes up
     * a v3 Prepare for it, torn-down */
    assert_int_equal(restart(IN, JOB_PREPARE, 3, false, JOB_ENDING_NONE, false),
                     RECOVER_DEST_TEARDOWN);
    /* a destination never asks about a stream: the flag changes nothing */
    assert_int_equal(restart(IN, JOB_PREPARE, 3, false, 0, true), RECOVER_DEST_TEARDOWN);
    assert_int_equal(restart(IN, JOB_PREPARE, 2, false, 0, true), RECOVER_DEST_FINISH);
    /* no migration: no rule */
    assert_int_equal(restart("", JOB_PERFORM, 3, false, 0, false), RECOVER_NONE);
}

static enum recover_action restart_pc(const char *op, enum agent_job_phase ph, bool done,
                                      int ending, bool completed)
{
    struct agent_job j = job_of(op, ph, 3, done, ending);

    j.postcopy = true;
    return agent_recover_rule(&j, completed);
}

static enum orphan_action orphan_pc(const char *op, enum agent_job_phase ph, int v, bool done)
{
    struct agent_job j = job_of(op, ph, v, done, JOB_ENDING_NONE);

    j.postcopy = true;
    return mig_orphan_rule(&j);
}

/* Past the post-copy switch (job.postcopy): a source is never resumed,
 * a destination never torn down. */
static void test_postcopy(void **state)
{
    (void)state;
    /* a client that goes away: the source keeps the guest paused even
     * before Perform was answered (the switch was asked of QEMU) */
    assert_int_equal(orphan_pc(OUT, JOB_PERFORM, 3, false), ORPHAN_SOURCE_KEEP);
    assert_int_equal(orphan_pc(OUT, JOB_PERFORM, 3, true), ORPHAN_SOURCE_KEEP);
    /* ... and the destination finishes, never tears down */
    assert_int_equal(orphan_pc(IN, JOB_PREPARE, 3, false), ORPHAN_DEST_FINISH);
    assert_int_equal(orphan_pc(IN, JOB_FINISH, 3, false), ORPHAN_DEST_FINISH);

    /* restart, source, no Finish/Confirm under way: kept-paused whatever
     * the phase and whether Perform was answered ... */
    assert_int_equal(restart_pc(OUT, JOB_PERFORM, false, 0, false), RECOVER_SOURCE_KEEP);
    assert_int_equal(restart_pc(OUT, JOB_PERFORM, true, 0, false), RECOVER_SOURCE_KEEP);
    /* ... unless QEMU's stream completed: the destination holds it all */
    assert_int_equal(restart_pc(OUT, JOB_PERFORM, false, 0, true), RECOVER_SOURCE_STOP);
    assert_int_equal(restart_pc(OUT, JOB_PERFORM, true, 0, true), RECOVER_SOURCE_STOP);
    /* Confirm with cancelled: true under way: done again, never resumed */
    assert_int_equal(restart_pc(OUT, JOB_CONFIRM, true, JOB_ENDING_CANCELLED, false),
                     RECOVER_SOURCE_POSTCOPY);
    assert_int_equal(restart_pc(OUT, JOB_CONFIRM, false, JOB_ENDING_CANCELLED, false),
                     RECOVER_SOURCE_POSTCOPY);
    assert_int_equal(restart_pc(OUT, JOB_CONFIRM, true, JOB_ENDING_CANCELLED, true),
                     RECOVER_SOURCE_STOP);
    /* Confirm of a success under way: stopped, as without post-copy */
    assert_int_equal(restart_pc(OUT, JOB_CONFIRM, true, JOB_ENDING_SUCCESS, false),
                     RECOVER_SOURCE_STOP);
    /* destination: a Finish of a success is done again (it resumes the
     * guest and waits for the pages) ... */
    assert_int_equal(restart_pc(IN, JOB_FINISH, false, JOB_ENDING_SUCCESS, false),
                     RECOVER_DEST_FINISH);
    /* ... a cancelled one keeps the guest, never tears it down */
    assert_int_equal(restart_pc(IN, JOB_FINISH, false, JOB_ENDING_CANCELLED, false),
                     RECOVER_DEST_KEEP);
    assert_int_equal(restart_pc(IN, JOB_PREPARE, false, JOB_ENDING_NONE, false), RECOVER_DEST_KEEP);
    /* the same jobs without the switch: the rules of the table above */
    assert_int_equal(restart(OUT, JOB_PERFORM, 3, false, 0, false), RECOVER_SOURCE_CANCEL);
    assert_int_equal(restart(OUT, JOB_CONFIRM, 3, true, JOB_ENDING_CANCELLED, false),
                     RECOVER_SOURCE_CANCEL);
    assert_int_equal(restart(IN, JOB_FINISH, 3, false, JOB_ENDING_CANCELLED, false),
                     RECOVER_DEST_TEARDOWN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_gone),
        cmocka_unit_test(test_client_gone_ignores),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_postcopy),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
