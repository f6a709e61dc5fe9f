/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The v3 engine (agent/migrate.c, migrate-job.c, recover.c, orchestrate.c)
 * driven end to end between two in-process agents through a fake
 * hv_driver (fake-hv.c): every step, every failure rule of
 * docs/control-api.md "Migration", "A client that goes away" and "An
 * agent that restarts", checked on the calls the driver received and on
 * where the guest and its definitions end up. Nothing here knows QEMU or
 * Xen. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cleanup.h"
#include "engine-harness.h"
#include "fake-hv.h"
#include "json-cleanup.h"

/* ---- 1. success ---- */

static void test_success_v3(void **state)
{
    struct ferry_error err = {0};

    (void)state;
    guest_start(A, true);
    assert_int_equal(orchestrate("{\"flags\": [\"live\"]}", &err), 0);
    assert_log("A:begin B:prepare A:perform B:finish(ok) A:confirm(ok)");
    assert_runs_on(B);
    assert_no_guest_on(A);
    assert_job_field(A, true, "status", "completed");
    assert_job_field(B, true, "status", "completed");
    assert_job_field(A, true, "error", "");
    assert_no_job_record(A);
    assert_no_job_record(B);
    /* Without flags the definitions stay where they were: A keeps its
     * (now inactive) definition, B runs the guest transient. */
    assert_true(is_persistent(A));
    assert_false(is_persistent(B));
}

static void test_success_persistent(void **state)
{
    struct ferry_error err = {0};

    (void)state;
    guest_start(A, true);
    assert_int_equal(orchestrate("{\"flags\": [\"live\", \"persist_dest\"]}", &err), 0);
    assert_log("A:begin B:prepare A:perform B:finish(ok) A:confirm(ok)");
    assert_runs_on(B);
    assert_true(is_persistent(B));
    assert_true(is_persistent(A));
}

static void test_success_undefine_source(void **state)
{
    struct ferry_error err = {0};

    (void)state;
    guest_start(A, true);
    assert_int_equal(
        orchestrate("{\"flags\": [\"live\", \"persist_dest\", \"undefine_source\"]}", &err), 0);
    assert_log("A:begin B:prepare A:perform B:finish(ok) A:confirm(ok)");
    assert_runs_on(B);
    assert_true(is_persistent(B));
    /* The definition left with the guest: nothing of it stays on A. */
    assert_false(has_domain(A));
    assert_false(is_persistent(A));
}

static void test_success_transient(void **state)
{
    struct ferry_error err = {0};

    (void)state;
    guest_start(A, false);
    assert_int_equal(orchestrate("{\"flags\": [\"live\"]}", &err), 0);
    assert_runs_on(B);
    assert_false(is_persistent(B));
    assert_false(has_domain(A)); /* a transient guest that left is forgotten */
}

/* ---- 2. a step that fails ---- */

/* A failure anywhere before Confirm: the guest runs on A again, B keeps
 * nothing, both jobs are over, no record is left. */
static void assert_back_on_a(void)
{
    assert_runs_on(A);
    assert_false(has_domain(B));
    assert_false(fake_guest_exists(B, GUEST));
    assert_true(is_persistent(A));
    assert_no_job_record(A);
    assert_no_job_record(B);
}

static void test_fail_begin(void **state)
{
    struct ferry_error err = {0};

    (void)state;
    guest_start(A, true);
    fake_fail_at(A, "begin");
    assert_true(orchestrate("{\"flags\": [\"live\"]}", &err) < 0);
    assert_non_null(strstr(ferry_error_msg(&err), "begin: the fake driver fails here"));
    /* Nothing started: no cleanup call is due. */
    assert_log("A:begin!");
    assert_back_on_a();
    assert_job_field(A, true, "status", "failed");
    assert_job_error_has(A, "begin: the fake driver fails here");
}

static void test_fail_prepare(void **state)
{
    struct ferry_error err = {0};

    (void)state;
    guest_start(A, true);
    fake_fail_at(B, "prepare");
    assert_true(orchestrate("{\"flags\": [\"live\"]}", &err) < 0);
    assert_non_null(strstr(ferry_error_msg(&err), "prepare: the fake driver fails here"));
    /* "If migrate.prepare fails, call migrate.confirm with cancelled". */
    assert_log("A:begin B:prepare! A:confirm(cancelled)");
    assert_back_on_a();
    /* The orchestrator hands the reason to Confirm (its "error"): A's job
     * records why, not only that it was cancelled. */
    assert_job_field(A, true, "status", "failed");
    assert_job_error_has(A, "prepare on the destination: prepare 'g1': prepare: the fake driver "
                            "fails here");
}

static void test_fail_perform(void **state)
{
    struct ferry_error err = {0};

    (void)state;
    guest_start(A, true);
    fake_fail_at(A, "perform");
    assert_true(orchestrate("{\"flags\": [\"live\"]}", &err) < 0);
    assert_non_null(strstr(ferry_error_msg(&err), "perform: the fake driver fails here"));
    /* Finish cancelled on B, then Confirm cancelled on A. */
    assert_log("A:begin B:prepare A:perform! B:finish(cancelled) A:confirm(cancelled)");
    assert_back_on_a();
    assert_job_field(A, true, "status", "failed");
    assert_job_error_has(A, "perform: the fake driver fails here");
}

/* ---- the timeline (job.info "timeline") ---- */

/* The completed job's timeline on host I, as phase names in the order
 * they started (the JSON's order), each checked to have ended no earlier
 * than it started. *RET_START gets each one's start_ms. */
static size_t timeline_of(int i, const char *names[], double starts[], size_t max)
{
    _cleanup_(json_object_putp) json_object *info = NULL;
    json_object *tl = NULL;
    size_t n;

    call_ok(i, "job.info", jparse("{\"name\": \"%s\", \"completed\": true}", GUEST), &info);
    assert_true(json_object_object_get_ex(info, "timeline", &tl));
    n = json_object_array_length(tl);
    assert_true(n <= max);
    for (size_t k = 0; k < n; k++) {
        json_object *p = json_object_array_get_idx(tl, k), *end = NULL;
        /* Names outlive INFO: they are ours, compared right away. */
        names[k] = ferry_strdup(json_object_get_string(json_object_object_get(p, "phase")));
        starts[k] = json_object_get_double(json_object_object_get(p, "start_ms"));
        assert_true(json_object_object_get_ex(p, "end_ms", &end));
        assert_true(json_object_get_double(end) >= starts[k]);
    }
    return n;
}

static void assert_timeline(int i, const char *const want[], size_t nwant)
{
    const char *names[COOKIE_MAX_PHASES];
    double starts[COOKIE_MAX_PHASES];
    size_t n = timeline_of(i, names, starts, COOKIE_MAX_PHASES);

    for (size_t k = 0; k < n && k < nwant; k++)
        if (strcmp(names[k], want[k]) != 0)
            fail_msg("step %zu of %s's timeline is '%s', not '%s'", k, i == A ? "A" : "B", names[k],
                     want[k]);
    assert_int_equal(n, nwant);
    for (size_t k = 1; k < n; k++)
        assert_true(starts[k] >= starts[k - 1] - 0.1);
    for (size_t k = 0; k < n; k++)
        free((char *)names[k]);
}

static void test_timeline_v3(void **state)
{
    struct ferry_error err = {0};
    /* The source sees the destination's steps through the cookies of
     * Prepare (at Perform) and Finish (at Confirm); the destination its
     * own. The fake driver marks nothing of its own. */
    const char *const src[] = {"begin", "dest:prepare", "perform", "dest:finish", "confirm"};
    const char *const dst[] = {"prepare", "finish"};

    (void)state;
    guest_start(A, true);
    assert_int_equal(orchestrate("{\"flags\": [\"live\"]}", &err), 0);
    assert_timeline(A, src, ARRAY_SIZE(src));
    assert_timeline(B, dst, ARRAY_SIZE(dst));
}

static void test_timeline_failed_perform(void **state)
{
    struct ferry_error err = {0};
    /* Perform failed: every step still has an end. The orchestrator
     * gives the cancelled Confirm no Finish cookie (as libvirt), so the
     * source knows the destination's Prepare only. */
    const char *const src[] = {"begin", "dest:prepare", "perform", "confirm"};

    (void)state;
    guest_start(A, true);
    fake_fail_at(A, "perform");
    assert_true(orchestrate("{\"flags\": [\"live\"]}", &err) < 0);
    assert_timeline(A, src, ARRAY_SIZE(src));
}

static void test_fail_finish(void **state)
{
    struct ferry_error err = {0};

    (void)state;
    guest_start(A, true);
    fake_fail_at(B, "finish");
    assert_true(orchestrate("{\"flags\": [\"live\", \"persist_dest\"]}", &err) < 0);
    assert_non_null(strstr(ferry_error_msg(&err), "finish: the fake driver fails here"));
    /* "If migrate.finish fails, call migrate.confirm with cancelled". */
    assert_log("A:begin B:prepare A:perform B:finish(ok)! A:confirm(cancelled)");
    assert_back_on_a();
    assert_job_field(A, true, "status", "failed");
    assert_job_error_has(A, "finish on the destination: finish: the fake driver fails here");
}

/* ---- 3. protocol versions ---- */

/* v2 (B offers only 2): no Begin, no Confirm step of the orchestrator's;
 * Perform ends the source job itself, through the driver's Confirm. */
static void test_v2(void **state)
{
    struct ferry_error err = {0};

    (void)state;
    guest_start(A, true);
    assert_int_equal(orchestrate("{\"flags\": [\"live\"]}", &err), 0);
    assert_log("B:prepare A:perform A:confirm(ok) B:finish(ok)");
    assert_runs_on(B);
    assert_no_guest_on(A);
    assert_job_field(A, true, "status", "completed");
    assert_job_field(B, true, "status", "completed");
}

static void test_v2_perform_fails(void **state)
{
    struct ferry_error err = {0};

    (void)state;
    guest_start(A, true);
    fake_fail_at(A, "perform");
    assert_true(orchestrate("{\"flags\": [\"live\"]}", &err) < 0);
    /* "on failure it resumes it", then Finish cancelled. */
    assert_log("B:prepare A:perform! A:confirm(cancelled) B:finish(cancelled)");
    assert_back_on_a();
}

/* v1 carries no XML: a driver with min_version 2 never offers it, and
 * its Prepare refuses it. */
static void test_v1_refused(void **state)
{
    struct ferry_error err = {0};
    struct wire_hello hb;
    json_object *p;

    (void)state;
    guest_start(A, true);
    W.h[B].max_version = 1;
    host_restart(B, false);
    api_fill_hello(W.h[B].ag, &hb);
    assert_int_equal(hb.versions, 0);
    assert_true(orchestrate("{\"flags\": [\"live\"]}", &err) < 0);
    assert_non_null(strstr(ferry_error_msg(&err), "no common migration protocol version"));

    ferry_error_clear(&err);
    p = jparse("{\"version\": 1, \"source_name\": \"%s\", \"params\": {\"flags\": [\"live\"]}}",
               GUEST);
    assert_int_equal(call_on(B, W.next_conn++, NULL, "migrate.prepare", p, NULL, &err), -ENOTSUP);
    assert_non_null(strstr(ferry_error_msg(&err), "needs the domain XML in Prepare"));
    assert_log("");
    assert_false(has_domain(B));
    assert_runs_on(A);
}

/* ---- 4. job.abort during Perform ---- */

struct orch_run {
    const char *params;
    int r;
    struct ferry_error err;
};

static void *orch_main(void *arg)
{
    struct orch_run *o = arg;

    o->r = orchestrate(o->params, &o->err);
    return NULL;
}

static void test_abort_during_perform(void **state)
{
    struct orch_run o = {.params = "{\"flags\": [\"live\"]}"};
    pthread_t t;

    (void)state;
    guest_start(A, true);
    fake_perform_waits(A, true);
    assert_int_equal(pthread_create(&t, NULL, orch_main, &o), 0);
    assert_true(fake_wait_perform_entered(A));
    assert_job_field(A, false, "phase", "perform");
    call_ok(A, "job.abort", jparse("{\"name\": \"%s\"}", GUEST), NULL);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(o.r < 0);
    assert_non_null(strstr(ferry_error_msg(&o.err), "cancelled"));
    assert_log("A:begin B:prepare A:perform A:cancel B:finish(cancelled) A:confirm(cancelled)");
    assert_back_on_a();
    assert_job_field(A, true, "status", "cancelled");
}

/* ---- 5. a client that goes away ---- */

static void test_client_gone_after_begin(void **state)
{
    _cleanup_(json_object_putp) json_object *begun = NULL;
    struct client c;

    (void)state;
    guest_start(A, true);
    client_open(&c);
    begun = do_begin(&c);
    /* Another connection's close is not the owner's. */
    api_migrate_conn_closed(W.h[A].ag, c.id + 1000);
    assert_job_field(A, false, "phase", "begin");
    api_migrate_conn_closed(W.h[A].ag, c.id);
    client_free(&c);
    assert_log("A:begin A:confirm(cancelled)");
    assert_runs_on(A);
    assert_job_field(A, true, "status", "cancelled");
    assert_job_error_has(A, "the client that started the migration went away");
    assert_no_job_record(A);
}

static void test_client_gone_after_prepare(void **state)
{
    _cleanup_(json_object_putp) json_object *begun = NULL, *prepared = NULL;
    struct client ca, cb;

    (void)state;
    guest_start(A, true);
    client_open(&ca);
    client_open(&cb);
    begun = do_begin(&ca);
    prepared = do_prepare(&cb, begun);
    assert_true(fake_guest_incoming(B, GUEST));
    /* Destination, before Finish (v3): torn down. */
    api_migrate_conn_closed(W.h[B].ag, cb.id);
    assert_log("A:begin B:prepare B:finish(cancelled)");
    assert_false(has_domain(B));
    assert_false(fake_guest_exists(B, GUEST));
    assert_no_job_record(B);
    /* Source, after Begin: cancelled. */
    api_migrate_conn_closed(W.h[A].ag, ca.id);
    assert_log("A:begin B:prepare B:finish(cancelled) A:confirm(cancelled)");
    client_free(&ca);
    client_free(&cb);
    assert_back_on_a();
    assert_job_error_has(A, "the client that started the migration went away");
}

/* Source, after Perform succeeded and was answered: the point of no
 * return. Nothing happens until someone decides. */
static void test_client_gone_after_perform(void **state)
{
    _cleanup_(json_object_putp) json_object *begun = NULL, *prepared = NULL, *performed = NULL;
    _cleanup_free_ char *orphaned = NULL;
    struct client ca, cb;

    (void)state;
    guest_start(A, true);
    client_open(&ca);
    client_open(&cb);
    begun = do_begin(&ca);
    prepared = do_prepare(&cb, begun);
    performed = do_perform(&ca, prepared);
    api_migrate_conn_closed(W.h[A].ag, ca.id);
    assert_log("A:begin B:prepare A:perform");
    assert_true(fake_guest_exists(A, GUEST));
    assert_true(fake_guest_paused(A, GUEST));
    orphaned = job_field(A, false, "orphaned");
    assert_non_null(strstr(orphaned, "the guest stays paused"));
    /* B tears its side down when its client goes: the guest runs
     * nowhere, paused on A, until job.abort resumes it there. */
    api_migrate_conn_closed(W.h[B].ag, cb.id);
    call_ok(A, "job.abort", jparse("{\"name\": \"%s\"}", GUEST), NULL);
    assert_log("A:begin B:prepare A:perform B:finish(cancelled) A:confirm(cancelled)");
    client_free(&ca);
    client_free(&cb);
    assert_back_on_a();
}

/* Source, during Perform: the agent watches the connection and cancels at
 * once, as job.abort does; Perform then fails (the client never saw its
 * answer) and the close ends the job as a cancelled Confirm. */
struct perform_run {
    struct client *c;
    json_object *prepared;
    int r;
    struct ferry_error err;
};

static void *perform_main(void *arg)
{
    struct perform_run *p = arg;

    p->r = try_perform(p->c, p->prepared, &p->err);
    return NULL;
}

static void test_client_gone_during_perform(void **state)
{
    _cleanup_(json_object_putp) json_object *begun = NULL, *prepared = NULL;
    struct client ca, cb;
    struct perform_run run = {.c = &ca};
    pthread_t t;

    (void)state;
    guest_start(A, true);
    client_open(&ca);
    client_open(&cb);
    begun = do_begin(&ca);
    prepared = do_prepare(&cb, begun);
    run.prepared = prepared;
    fake_perform_waits(A, true);
    assert_int_equal(pthread_create(&t, NULL, perform_main, &run), 0);
    assert_true(fake_wait_perform_entered(A));
    client_hang_up(&ca);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_true(run.r < 0);
    assert_non_null(strstr(ferry_error_msg(&run.err), "went away"));
    assert_log("A:begin B:prepare A:perform A:cancel");
    /* The server's close of both connections. */
    api_migrate_conn_closed(W.h[A].ag, ca.id);
    api_migrate_conn_closed(W.h[B].ag, cb.id);
    client_free(&ca);
    client_free(&cb);
    assert_log("A:begin B:prepare A:perform A:cancel A:confirm(cancelled) B:finish(cancelled)");
    assert_back_on_a();
    assert_job_field(A, true, "status", "cancelled");
    assert_job_error_has(A, "the client that started the migration went away");
}

/* ---- 6. an agent that restarts ---- */

/* v3, between Finish and Confirm: the source keeps the guest paused, the
 * job open, whatever the stream says; a late Confirm ends it. */
static void test_restart_source_after_finish(void **state)
{
    _cleanup_(json_object_putp) json_object *begun = NULL, *prepared = NULL, *performed = NULL,
                                            *finished = NULL;
    _cleanup_free_ char *orphaned = NULL;

    (void)state;
    guest_start(A, true);
    begun = do_begin(NULL);
    prepared = do_prepare(NULL, begun);
    performed = do_perform(NULL, prepared);
    finished = do_finish(NULL, performed, false);
    assert_log("A:begin B:prepare A:perform B:finish(ok)");
    fake_stream_completed(A, false);
    host_restart(A, false);
    assert_log("A:restore A:sweep()");
    assert_string_equal(W.recovered, "kept-paused;");
    assert_true(fake_guest_paused(A, GUEST));
    assert_runs_on(B);
    orphaned = job_field(A, false, "orphaned");
    assert_non_null(strstr(orphaned, "the agent restarted"));
    do_confirm(NULL, finished, false);
    assert_log("A:restore A:sweep() A:confirm(ok)");
    assert_no_guest_on(A);
    assert_job_field(A, true, "status", "completed");
    assert_no_job_record(A);
}

/* A crash of the source inside Perform, before its answer: B is cleaned
 * by the orchestrator's Finish(cancelled); the restarted A resumes the
 * guest (v3: whatever the stream says; v2: only when it did not
 * complete). */
static void restart_in_perform(bool stream_completed, bool want_kept)
{
    struct ferry_error err = {0};

    guest_start(A, true);
    fake_crash_at(A, "perform");
    assert_true(orchestrate("{\"flags\": [\"live\"]}", &err) < 0);
    assert_false(has_domain(B));
    assert_false(fake_guest_exists(B, GUEST));
    fake_stream_completed(A, stream_completed);
    host_restart(A, true);
    if (want_kept) {
        assert_log("A:restore A:sweep()");
        assert_string_equal(W.recovered, "kept-paused;");
        assert_true(fake_guest_paused(A, GUEST));
        assert_job_field(A, false, "phase", "perform");
        /* An operator's job.abort runs it here again. */
        call_ok(A, "job.abort", jparse("{\"name\": \"%s\"}", GUEST), NULL);
        assert_log("A:restore A:sweep() A:confirm(cancelled)");
    } else {
        /* The last sweep is the one of every idle running guest, after
         * the records: the resumed guest is one now. */
        assert_log("A:restore A:sweep(cancel) A:confirm(cancelled) A:sweep()");
        assert_string_equal(W.recovered, "resumed;");
        assert_job_error_has(A, "the agent restarted during perform");
    }
    assert_back_on_a();
}

static void test_restart_source_in_perform(void **state)
{
    (void)state;
    restart_in_perform(false, false);
}

static void test_restart_source_in_perform_completed(void **state)
{
    (void)state;
    restart_in_perform(true, false);
}

static void test_restart_source_in_perform_v2(void **state)
{
    (void)state;
    restart_in_perform(false, false);
}

static void test_restart_source_in_perform_v2_completed(void **state)
{
    (void)state;
    restart_in_perform(true, true);
}

/* A Confirm of a success under way: done again, the source stops. */
static void test_restart_source_in_confirm(void **state)
{
    struct ferry_error err = {0};

    (void)state;
    guest_start(A, true);
    fake_crash_at(A, "confirm");
    assert_true(orchestrate("{\"flags\": [\"live\"]}", &err) < 0);
    assert_non_null(strstr(ferry_error_msg(&err), "the guest now runs on the destination"));
    assert_runs_on(B);
    host_restart(A, true);
    assert_log("A:restore A:confirm(ok)");
    assert_string_equal(W.recovered, "stopped;");
    assert_no_guest_on(A);
    assert_job_field(A, true, "status", "completed");
    assert_no_job_record(A);
}

/* The guest's process died with the agent: the job can only fail. */
static void test_restart_source_guest_gone(void **state)
{
    _cleanup_(json_object_putp) json_object *begun = NULL, *prepared = NULL, *performed = NULL;

    (void)state;
    guest_start(A, true);
    begun = do_begin(NULL);
    prepared = do_prepare(NULL, begun);
    performed = do_perform(NULL, prepared);
    fake_guest_kill(A, GUEST);
    host_restart(A, false);
    assert_log("");
    assert_string_equal(W.recovered, "dropped;");
    assert_true(is_persistent(A));
    assert_false(is_active(A));
    assert_job_error_has(A, "the guest's process was gone");
    assert_no_job_record(A);
}

/* The destination restarts after Prepare, no Finish yet (v3): torn down;
 * the source's cancelled Confirm then runs the guest there again. */
static void test_restart_dest_after_prepare(void **state)
{
    _cleanup_(json_object_putp) json_object *begun = NULL, *prepared = NULL;

    (void)state;
    guest_start(A, true);
    begun = do_begin(NULL);
    prepared = do_prepare(NULL, begun);
    host_restart(B, false);
    assert_log("B:restore B:finish(cancelled)");
    assert_string_equal(W.recovered, "torn-down;");
    assert_false(has_domain(B));
    assert_false(fake_guest_exists(B, GUEST));
    assert_no_job_record(B);
    do_confirm(NULL, NULL, true);
    assert_back_on_a();
}

/* The destination restarts after a v2 Prepare: "finished or torn-down",
 * by whether the source's Perform sent the whole guest (the v2 rule of a
 * client that goes away: the source guest may have stopped already). */
static void restart_dest_v2(bool performed)
{
    _cleanup_(json_object_putp) json_object *dumped = NULL, *prepared = NULL, *perf = NULL;

    guest_start(A, true);
    W.version = 2;
    call_ok(A, "domain.xml", jparse("{\"name\": \"%s\", \"migratable\": true}", GUEST), &dumped);
    prepared = do_prepare(NULL, dumped); /* the XML, and no cookie */
    if (performed)
        perf = do_perform(NULL, prepared);
    host_restart(B, false);
    if (performed) {
        /* Then the sweep of every idle running guest: it is one now. */
        assert_log("B:restore B:sweep(server) B:finish(ok) B:sweep()");
        assert_string_equal(W.recovered, "finished;");
        assert_runs_on(B);
        assert_no_guest_on(A);
        assert_job_field(B, true, "status", "completed");
    } else {
        assert_log("B:restore B:sweep(server) B:finish(ok)");
        assert_string_equal(W.recovered, "torn-down;");
        assert_false(has_domain(B));
        assert_false(fake_guest_exists(B, GUEST));
        assert_runs_on(A);
    }
    assert_no_job_record(B);
}

static void test_restart_dest_after_prepare_v2(void **state)
{
    (void)state;
    restart_dest_v2(false);
}

static void test_restart_dest_after_perform_v2(void **state)
{
    (void)state;
    restart_dest_v2(true);
}

/* ---- 7. what the driver does not offer ---- */

static void assert_refused(const char *params, const char *want)
{
    struct ferry_error err = {0};
    json_object *p;

    assert_true(orchestrate(params, &err) < 0);
    if (!strstr(ferry_error_msg(&err), want))
        fail_msg("'%s' lacks '%s'", ferry_error_msg(&err), want);
    /* The destination refuses it as well, on its own. */
    ferry_error_clear(&err);
    p = jparse("{\"version\": 3, \"xml\": \"<domain/>\", \"params\": %s}", params);
    assert_true(call_on(B, W.next_conn++, NULL, "migrate.prepare", p, NULL, &err) < 0);
    if (!strstr(ferry_error_msg(&err), want))
        fail_msg("'%s' lacks '%s'", ferry_error_msg(&err), want);
    assert_log("");
    assert_runs_on(A);
    assert_job_field(A, false, "type", "none");
    assert_false(has_domain(B));
}

static void test_refuse_flag(void **state)
{
    (void)state;
    guest_start(A, true);
    assert_refused("{\"flags\": [\"live\", \"compressed\"]}",
                   "migration flag 'compressed' is not supported by this hypervisor");
    assert_refused("{\"flags\": [\"live\", \"postcopy\"]}",
                   "migration flag 'postcopy' is not supported by this hypervisor");
}

static void test_refuse_storage_engine(void **state)
{
    struct wire_hello h;
    bool ferry = false, qemu = false;

    (void)state;
    guest_start(A, true);
    api_fill_hello(W.h[A].ag, &h);
    for (size_t i = 0; i < h.n_features; i++) {
        ferry |= strcmp(h.features[i], "storage-ferry") == 0;
        qemu |= strcmp(h.features[i], "storage-qemu") == 0;
    }
    assert_true(ferry);
    assert_false(qemu);
    assert_refused("{\"flags\": [\"live\", \"non_shared_disk\"], \"storage_engine\": \"qemu\"}",
                   "storage engine 'qemu' is not offered by the fake driver");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_success_v3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeline_v3, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeline_failed_perform, setup, teardown),
        cmocka_unit_test_setup_teardown(test_success_persistent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_success_undefine_source, setup, teardown),
        cmocka_unit_test_setup_teardown(test_success_transient, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_begin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_prepare, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_perform, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_v2, setup_b_v2, teardown),
        cmocka_unit_test_setup_teardown(test_v2_perform_fails, setup_b_v2, teardown),
        cmocka_unit_test_setup_teardown(test_v1_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_during_perform, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_gone_after_begin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_gone_after_prepare, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_gone_during_perform, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_gone_after_perform, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_source_after_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_source_in_perform, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_source_in_perform_completed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_source_in_perform_v2, setup_b_v2, teardown),
        cmocka_unit_test_setup_teardown(test_restart_source_in_perform_v2_completed, setup_b_v2,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_restart_source_in_confirm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_source_guest_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_dest_after_prepare, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_dest_after_prepare_v2, setup_b_v2, teardown),
        cmocka_unit_test_setup_teardown(test_restart_dest_after_perform_v2, setup_b_v2, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_storage_engine, setup, teardown),
    };

    ferry_log_set_level(FERRY_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
