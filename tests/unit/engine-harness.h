/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Two in-process agents, A and B, on the fake driver (fake-hv.h), for the
 * v3 engine's tests: set-up and "restart" as ferryd does them, control-API
 * calls as a client makes them, and checks of where the guest is. Every
 * check fails the running cmocka test. The guest is always GUEST. */
#ifndef FERRY_TESTS_ENGINE_HARNESS_H
#define FERRY_TESTS_ENGINE_HARNESS_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "api.h"
#include "fake-hv.h"

#define GUEST      "g1"
#define GUEST_UUID "6f1d3c2a-1111-4000-8000-000000000001"
#define A          0 /* host indexes, as fake-hv.h's */
#define B          1
#define LIVE       "[\"live\"]"

struct host {
    struct agent *ag; /* NULL while stopped */
    char *state_dir, *image_dir;
    unsigned max_version;
};

struct engine_world {
    char *top; /* the test's temp dir */
    struct host h[2];
    uint64_t next_conn; /* connection ids, never 0 */
    int event_token;
    int version;         /* of the do_* steps */
    char recovered[256]; /* migration-recovered actions since the last start, "ACTION;..." */
};

extern struct engine_world W;
extern const char *const host_names[2];

/* cmocka set-ups: both agents offer v3, or B only v2; and the teardown
 * (agents stopped, temp dir removed, fake reset). */
int setup(void **state);
int setup_b_v2(void **state);
int teardown(void **state);

/* Stops host I and starts it again on its state dir; CRASHED: from what
 * the fake put aside at its crash (fake_crash_at). Clears the fake's log
 * and W.recovered first. */
void host_restart(int i, bool crashed);

/* One control-API call on host I as a client on connection CONN_ID
 * (CONN: its wire connection, or NULL). PARAMS is taken; *RET (may be
 * NULL) is the caller's. */
int call_on(int i, uint64_t conn_id, struct wire_conn *conn, const char *method,
            json_object *params, json_object **ret, struct ferry_error *err);
/* The same on a connection of its own; fails the test unless it succeeds. */
void call_ok(int i, const char *method, json_object *params, json_object **ret);
/* A new JSON object from printf-formatted text. */
json_object *jparse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* GUEST defined and running on host I; PERSISTENT false leaves it
 * transient. Clears the fake's log. */
void guest_start(int i, bool persistent);
/* The whole migration of GUEST from A to B, as ferryctl runs it. */
int orchestrate(const char *params_json, struct ferry_error *err);

/* A client connection: a wire connection over a socketpair, so the
 * engine binds the job to it (job_own() binds only a real connection). */
struct client {
    int peer_fd;
    struct wire_conn *conn;
    uint64_t id;
};
void client_open(struct client *c);
/* The client's end closes (the agent's end stays until client_free). */
void client_hang_up(struct client *c);
void client_free(struct client *c);

/* The steps one by one with the flags LIVE and version W.version, as
 * client C (NULL: a connection of their own); each fails the test unless
 * it succeeds and returns its result (caller puts it). Each takes the
 * result of the step before it (NULL: none). */
json_object *do_begin(struct client *c);
json_object *do_prepare(struct client *c, json_object *begun);
json_object *do_perform(struct client *c, json_object *prepared);
json_object *do_finish(struct client *c, json_object *performed, bool cancelled);
void do_confirm(struct client *c, json_object *finished, bool cancelled);
/* Perform as client C, for a test that expects it to fail; safe in a
 * thread of the test's own (it asserts nothing). */
int try_perform(struct client *c, json_object *prepared, struct ferry_error *err);

/* What host I says of GUEST. */
bool has_domain(int i);
bool is_persistent(int i); /* also checks that registry and disk agree */
bool is_active(int i);
void assert_runs_on(int i); /* running, not paused, not incoming */
void assert_no_guest_on(int i);
/* job.info FIELD of the running job, or (COMPLETED) of the last one; ""
 * when absent. Caller frees. */
char *job_field(int i, bool completed, const char *field);
void assert_job_field(int i, bool completed, const char *field, const char *want);
void assert_job_error_has(int i, const char *want);
void assert_no_job_record(int i);

#define assert_log(want) assert_string_equal(fake_log(), want)

#endif
