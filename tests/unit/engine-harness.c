/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Two in-process agents for test-migrate-engine.c, started and stopped as
 * ferryd starts and stops (ferryd/ferryd.c), both on the fake driver
 * (fake-hv.c); the calls a client makes to them, whole migrations and
 * single steps; and what a test asks of them afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine-harness.h"

#include "cleanup.h"
#include "fake-hv.h"
#include "json-cleanup.h"
#include "migparams.h"
#include "orchestrate.h"
#include "volumes.h"

static const char *const host_uuids[2] = {"0a0a0a0a-0000-4000-8000-00000000000a",
                                          "0b0b0b0b-0000-4000-8000-00000000000b"};
const char *const host_names[2] = {"hostA", "hostB"};
struct engine_world W;

/* ---- two agents ---- */

static void recovered_sink(json_object *ev, void *opaque)
{
    json_object *name = NULL, *data = NULL, *action = NULL;
    size_t used = strlen(W.recovered);

    (void)opaque;
    if (!json_object_object_get_ex(ev, "event", &name) ||
        strcmp(json_object_get_string(name), "migration-recovered") != 0)
        return;
    if (json_object_object_get_ex(ev, "data", &data) &&
        json_object_object_get_ex(data, "action", &action))
        snprintf(W.recovered + used, sizeof W.recovered - used, "%s;",
                 json_object_get_string(action));
}

/* ferryd's start-up order (ferryd/ferryd.c). */
static void host_start(int i)
{
    struct host *h = &W.h[i];
    struct ferry_error err = {0};

    h->ag = ferry_calloc(1, sizeof *h->ag);
    h->ag->cfg.state_dir = h->state_dir;
    h->ag->cfg.image_dir = h->image_dir;
    h->ag->cfg.hostname = (char *)host_names[i];
    h->ag->cfg.host_uuid = (char *)host_uuids[i];
    h->ag->cfg.max_version = h->max_version;
    h->ag->driver = &fake_driver;
    if (agent_init(h->ag, &err) < 0 || agent_volumes_init(h->ag, &err) < 0)
        fail_msg("agent %s: %s", host_names[i], ferry_error_msg(&err));
    agent_restore_running(h->ag);
    agent_recover_jobs(h->ag);
}

/* ferryd's exit: the guests (the fake's process table) stay. */
static void host_stop(int i)
{
    struct host *h = &W.h[i];

    if (!h->ag)
        return;
    agent_volumes_fini(h->ag);
    agent_fini(h->ag);
    pthread_mutex_destroy(&h->ag->lock);
    free(h->ag);
    h->ag = NULL;
}

/* Stops host I and starts it again on the same state dir; CRASHED: from
 * what the fake put aside at its crash (fake_crash_at). */
void host_restart(int i, bool crashed)
{
    host_stop(i);
    if (crashed)
        assert_int_equal(fake_crash_restore(i, W.h[i].state_dir), 0);
    fake_log_clear();
    W.recovered[0] = '\0';
    host_start(i);
}

static int setup_versions(unsigned max_a, unsigned max_b)
{
    char tmpl[] = "/tmp/ferry-engine-XXXXXX";

    fake_reset();
    memset(&W, 0, sizeof W);
    W.next_conn = 100;
    W.version = 3;
    if (!mkdtemp(tmpl))
        return -1;
    W.top = ferry_strdup(tmpl);
    for (int i = 0; i < 2; i++) {
        W.h[i].state_dir = ferry_strdup_printf("%s/state%c", W.top, 'A' + i);
        W.h[i].image_dir = ferry_strdup_printf("%s/images%c", W.top, 'A' + i);
        W.h[i].max_version = i == 0 ? max_a : max_b;
        host_start(i);
    }
    W.event_token = agent_events_subscribe(W.h[A].ag, recovered_sink, NULL);
    return W.event_token > 0 ? 0 : -1;
}

int setup(void **state)
{
    (void)state;
    return setup_versions(3, 3);
}

int setup_b_v2(void **state)
{
    (void)state;
    return setup_versions(3, 2);
}

int teardown(void **state)
{
    (void)state;
    agent_events_unsubscribe(NULL, W.event_token);
    for (int i = 0; i < 2; i++) {
        host_stop(i);
        free(W.h[i].state_dir);
        free(W.h[i].image_dir);
    }
    fake_rm_rf(W.top);
    free(W.top);
    fake_reset();
    return 0;
}

/* ---- calls ---- */

/* One control-API call on host I, as a client on connection CONN_ID
 * (CONN: its wire connection, or NULL). PARAMS is taken. */
int call_on(int i, uint64_t conn_id, struct wire_conn *conn, const char *method,
            json_object *params, json_object **ret, struct ferry_error *err)
{
    struct api_ctx ctx = {.ag = W.h[i].ag, .conn = conn, .conn_id = conn_id};
    json_object *res = NULL;
    int r = api_dispatch(&ctx, method, params, &res, err);

    json_object_put(params);
    if (ret)
        *ret = res;
    else
        json_object_put(res);
    return r;
}

json_object *jparse(const char *fmt, ...)
{
    _cleanup_free_ char *text = NULL;
    json_object *o;
    va_list ap;

    va_start(ap, fmt);
    assert_true(vasprintf(&text, fmt, ap) >= 0);
    va_end(ap);
    o = json_tokener_parse(text);
    if (!o)
        fail_msg("bad JSON in the test: %s", text);
    return o;
}

void call_ok(int i, const char *method, json_object *params, json_object **ret)
{
    struct ferry_error err = {0};

    if (call_on(i, W.next_conn++, NULL, method, params, ret, &err) < 0)
        fail_msg("%s on %s: %s", method, host_names[i], ferry_error_msg(&err));
}

/* GUEST defined and running on host I; PERSISTENT false leaves it
 * transient (undefined while it runs). */
void guest_start(int i, bool persistent)
{
    call_ok(i, "domain.define",
            jparse("{\"xml\": \"<domain type='kvm'><name>%s</name><uuid>%s</uuid>"
                   "<memory>131072</memory><vcpu>1</vcpu></domain>\"}",
                   GUEST, GUEST_UUID),
            NULL);
    call_ok(i, "domain.start", jparse("{\"name\": \"%s\"}", GUEST), NULL);
    if (!persistent)
        call_ok(i, "domain.undefine", jparse("{\"name\": \"%s\"}", GUEST), NULL);
    assert_true(fake_guest_exists(i, GUEST));
    fake_log_clear();
}

struct peer {
    int host;
    uint64_t conn_id; /* one logical connection per peer */
};

static int peer_call(void *opaque, const char *method, json_object *params, int timeout_ms,
                     json_object **ret, struct ferry_error *err)
{
    struct peer *p = opaque;

    (void)timeout_ms;
    return call_on(p->host, p->conn_id, NULL, method, params, ret, err);
}

static void params_from(const char *json, struct mig_params *mp)
{
    json_object *o = json_tokener_parse(json);
    struct ferry_error err = {0};

    assert_non_null(o);
    if (mig_params_from_json(o, mp, &err) < 0)
        fail_msg("params %s: %s", json, ferry_error_msg(&err));
    json_object_put(o);
}

/* The whole sequence A -> B as ferryctl runs it (managed mode). */
int orchestrate(const char *params_json, struct ferry_error *err)
{
    struct peer ps = {A, W.next_conn++}, pd = {B, W.next_conn++};
    struct mig_peer src = {.call = peer_call, .opaque = &ps};
    struct mig_peer dst = {.call = peer_call, .opaque = &pd};
    struct mig_params mp;
    int r;

    api_fill_hello(W.h[A].ag, &src.hello);
    api_fill_hello(W.h[B].ag, &dst.hello);
    params_from(params_json, &mp);
    r = mig_orchestrate(&src, &dst, GUEST, host_names[B], &mp, NULL, NULL, err);
    mig_params_clear(&mp);
    return r;
}

/* ---- what the hosts say ---- */

static struct agent_domain *dom_on(int i)
{
    return agent_domain_lookup(W.h[i].ag, GUEST);
}

bool has_domain(int i)
{
    struct agent_domain *d = dom_on(i);

    agent_domain_unref(W.h[i].ag, d);
    return d != NULL;
}

/* The definition on host I: in the registry and on disk. */
bool is_persistent(int i)
{
    struct agent_domain *d = dom_on(i);
    _cleanup_free_ char *path = ferry_strdup_printf("%s/%s.xml", W.h[i].ag->domains_dir, GUEST);
    bool reg = d && d->persistent_def;
    bool file = access(path, F_OK) == 0;

    agent_domain_unref(W.h[i].ag, d);
    assert_int_equal(reg, file); /* the registry and the disk agree */
    return reg;
}

bool is_active(int i)
{
    struct agent_domain *d = dom_on(i);
    bool a = d && d->active;

    agent_domain_unref(W.h[i].ag, d);
    return a;
}

/* The guest runs on host I: the agent and the process table agree. */
void assert_runs_on(int i)
{
    assert_true(is_active(i));
    assert_true(fake_guest_exists(i, GUEST));
    assert_false(fake_guest_paused(i, GUEST));
    assert_false(fake_guest_incoming(i, GUEST));
}

void assert_no_guest_on(int i)
{
    assert_false(is_active(i));
    assert_false(fake_guest_exists(i, GUEST));
}

/* job.info of host I: FIELD of the running job (COMPLETED false) or the
 * last finished one; "" when absent. Caller frees. */
char *job_field(int i, bool completed, const char *field)
{
    _cleanup_(json_object_putp) json_object *info = NULL;
    json_object *v = NULL;

    call_ok(i, "job.info",
            jparse("{\"name\": \"%s\", \"completed\": %s}", GUEST, completed ? "true" : "false"),
            &info);
    return ferry_strdup(json_object_object_get_ex(info, field, &v) ? json_object_get_string(v)
                                                                   : "");
}

void assert_job_field(int i, bool completed, const char *field, const char *want)
{
    _cleanup_free_ char *v = job_field(i, completed, field);

    assert_string_equal(v, want);
}

void assert_job_error_has(int i, const char *want)
{
    _cleanup_free_ char *v = job_field(i, true, "error");

    if (!strstr(v, want))
        fail_msg("%s's job error '%s' lacks '%s'", host_names[i], v, want);
}

void assert_no_job_record(int i)
{
    _cleanup_free_ char *path = ferry_strdup_printf("%s/jobs/%s.json", W.h[i].state_dir, GUEST);

    assert_int_not_equal(access(path, F_OK), 0);
}

/* ---- stepwise: the methods one by one, as an orchestrator calls them ---- */

void client_open(struct client *c)
{
    int fds[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    c->conn = wire_conn_new(fds[0]);
    c->peer_fd = fds[1];
    c->id = W.next_conn++;
}

void client_hang_up(struct client *c)
{
    if (c->peer_fd >= 0)
        close(c->peer_fd);
    c->peer_fd = -1;
}

void client_free(struct client *c)
{
    wire_conn_free(c->conn);
    client_hang_up(c);
}

static const char *jget(json_object *o, const char *k)
{
    json_object *v = NULL;

    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

/* A step's parameters: name (may be NULL), the flags, W.version. */
static json_object *step_params(const char *name, const char *flags)
{
    json_object *p = json_object_new_object();

    if (name)
        json_object_object_add(p, "name", json_object_new_string(name));
    json_object_object_add(p, "params", jparse("{\"flags\": %s}", flags));
    json_object_object_add(p, "version", json_object_new_int(W.version));
    return p;
}

/* Runs METHOD on host I as client C (NULL: a connection of its own) and
 * fails the test unless it succeeds. */
static json_object *step_ok(int i, struct client *c, const char *method, json_object *p)
{
    struct ferry_error err = {0};
    json_object *ret = NULL;

    if (call_on(i, c ? c->id : W.next_conn++, c ? c->conn : NULL, method, p, &ret, &err) < 0)
        fail_msg("%s on %s: %s", method, host_names[i], ferry_error_msg(&err));
    return ret;
}

json_object *do_begin(struct client *c)
{
    return step_ok(A, c, "migrate.begin", step_params(GUEST, LIVE));
}

json_object *do_prepare(struct client *c, json_object *begun)
{
    json_object *p = step_params(NULL, LIVE);

    json_object_object_add(p, "xml", json_object_new_string(jget(begun, "xml")));
    json_object_object_add(p, "cookie", json_object_new_string(jget(begun, "cookie")));
    return step_ok(B, c, "migrate.prepare", p);
}

static json_object *perform_params(json_object *prepared)
{
    json_object *p = step_params(GUEST, LIVE);

    json_object_object_add(p, "cookie", json_object_new_string(jget(prepared, "cookie")));
    json_object_object_add(p, "uri", json_object_new_string(jget(prepared, "uri")));
    return p;
}

json_object *do_perform(struct client *c, json_object *prepared)
{
    return step_ok(A, c, "migrate.perform", perform_params(prepared));
}

int try_perform(struct client *c, json_object *prepared, struct ferry_error *err)
{
    return call_on(A, c->id, c->conn, "migrate.perform", perform_params(prepared), NULL, err);
}

json_object *do_finish(struct client *c, json_object *performed, bool cancelled)
{
    json_object *p = step_params(GUEST, LIVE);

    json_object_object_add(p, "cookie",
                           json_object_new_string(performed ? jget(performed, "cookie") : ""));
    json_object_object_add(p, "cancelled", json_object_new_boolean(cancelled));
    return step_ok(B, c, "migrate.finish", p);
}

void do_confirm(struct client *c, json_object *finished, bool cancelled)
{
    json_object *p = step_params(GUEST, LIVE);

    json_object_object_add(p, "cookie",
                           json_object_new_string(finished ? jget(finished, "cookie") : ""));
    json_object_object_add(p, "cancelled", json_object_new_boolean(cancelled));
    json_object_put(step_ok(A, c, "migrate.confirm", p));
}
