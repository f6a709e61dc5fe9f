/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Post-copy migration: the postcopy flag and parameters in JSON, the
 * combinations the agent refuses by name (the same check ferryctl runs, so
 * an orchestrator that skips ferryctl meets it too), and the QEMU driver's
 * migrate.start_postcopy against a fake QMP server: when QEMU is asked, and
 * what it is asked, and that the job record says so before QEMU hears of
 * it. */
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
#include <unistd.h>

#include "cleanup.h"
#include "migparams.h"
#include "qemu-priv.h"
#include "test-qmp-fake.h"

/* The agent library names the driver table only through this (ferryd
 * links agent/drivers.c); the functions under test need no driver. */

/* ---- parameters ---- */

static int params_from(const char *text, struct mig_params *p, struct ferry_error *err)
{
    json_object *o = json_tokener_parse(text);
    int r;

    assert_non_null(o);
    r = mig_params_from_json(o, p, err);
    json_object_put(o);
    return r;
}

static void test_json_round_trip(void **state)
{
    struct mig_params p, q;
    json_object *o;

    (void)state;
    assert_int_equal(params_from("{\"flags\": [\"live\", \"postcopy\"], "
                                 "\"postcopy_after_precopy\": true, \"postcopy_bandwidth\": 7}",
                                 &p, NULL),
                     0);
    assert_int_equal(p.flags, MIG_LIVE | MIG_POSTCOPY);
    assert_true(p.postcopy_after_precopy);
    assert_int_equal(p.postcopy_bandwidth_mib, 7);
    assert_string_equal(mig_flag_name(MIG_POSTCOPY), "postcopy");
    o = mig_params_to_json(&p);
    assert_int_equal(mig_params_from_json(o, &q, NULL), 0);
    json_object_put(o);
    assert_int_equal(q.flags, p.flags);
    assert_true(q.postcopy_after_precopy);
    assert_int_equal(q.postcopy_bandwidth_mib, 7);
    mig_params_clear(&p);
    mig_params_clear(&q);
    /* libvirt's number: 1 << 15 in an integer bitmask. */
    assert_int_equal(params_from("{\"flags\": 32769}", &p, NULL), 0);
    assert_int_equal(p.flags, MIG_LIVE | MIG_POSTCOPY);
    mig_params_clear(&p);
}

static void test_json_bad_types(void **state)
{
    struct ferry_error err = {0};
    struct mig_params p;

    (void)state;
    assert_int_equal(params_from("{\"postcopy_after_precopy\": 1}", &p, &err), -EINVAL);
    assert_non_null(strstr(ferry_error_msg(&err), "'postcopy_after_precopy' must be a boolean"));
    ferry_error_clear(&err);
    assert_int_equal(params_from("{\"postcopy_bandwidth\": -1}", &p, &err), -EINVAL);
    assert_non_null(strstr(ferry_error_msg(&err), "postcopy_bandwidth"));
}

static const struct {
    unsigned flags;
    bool after, bandwidth, parallel_n;
    const char *msg; /* NULL: allowed */
} combos[] = {
    {MIG_POSTCOPY | MIG_OFFLINE | MIG_PERSIST_DEST, false, false, false,
     "--postcopy makes no sense with --offline"},
    {MIG_POSTCOPY, false, false, false, "--postcopy requires --live"},
    {MIG_POSTCOPY | MIG_LIVE | MIG_PAUSED, false, false, false, "--postcopy and --suspend"},
    {MIG_POSTCOPY | MIG_LIVE | MIG_PEER2PEER | MIG_TUNNELLED, false, false, false,
     "--postcopy is not supported with --tunnelled"},
    {MIG_POSTCOPY | MIG_LIVE | MIG_PARALLEL, false, false, false,
     "--postcopy cannot be used with --parallel"},
    {MIG_POSTCOPY | MIG_LIVE, false, false, true, "--postcopy cannot be used with --parallel"},
    {MIG_LIVE, true, false, false, "--postcopy-after-precopy requires --postcopy"},
    {MIG_LIVE, false, true, false, "--postcopy-bandwidth requires --postcopy"},
    {MIG_POSTCOPY | MIG_LIVE, true, true, false, NULL},
    {MIG_POSTCOPY | MIG_LIVE | MIG_AUTO_CONVERGE | MIG_NON_SHARED_DISK | MIG_PEER2PEER, true, false,
     false, NULL},
};

static void test_validate(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof combos / sizeof combos[0]; i++) {
        struct mig_params p = {.flags = combos[i].flags,
                               .postcopy_after_precopy = combos[i].after,
                               .postcopy_bandwidth_mib = combos[i].bandwidth ? 5 : 0,
                               .parallel_connections = combos[i].parallel_n ? 2 : 0};
        struct ferry_error err = {0};
        int r = mig_params_validate(&p, ~0u, &err);

        if (!combos[i].msg) {
            if (r != 0)
                fprintf(stderr, "combo %zu: %s\n", i, ferry_error_msg(&err));
            assert_int_equal(r, 0);
            continue;
        }
        if (r == 0 || !strstr(ferry_error_msg(&err), combos[i].msg))
            fprintf(stderr, "combo %zu: got '%s', want '%s'\n", i, ferry_error_msg(&err),
                    combos[i].msg);
        assert_true(r < 0);
        assert_non_null(strstr(ferry_error_msg(&err), combos[i].msg));
    }
}

static void test_driver_without_postcopy(void **state)
{
    struct mig_params p = {.flags = MIG_POSTCOPY | MIG_LIVE};
    struct ferry_error err = {0};

    (void)state;
    assert_int_equal(mig_params_validate(&p, ~MIG_POSTCOPY, &err), -ENOTSUP);
    assert_non_null(strstr(ferry_error_msg(&err), "'postcopy' is not supported"));
}

/* ---- migrate.start_postcopy in the QEMU driver ---- */

struct tdom {
    struct agent_domain dom;
    struct domain_def def;
    struct qemu_dom p;
    struct agent ag; /* STATE/jobs holds the job record */
    struct hv_driver drv;
    char state[64];
};

/* The job record's path, for the fake QEMU thread to read. */
static char record_path[128];

static void tdom_open(struct tdom *t, struct fake *f)
{
    struct ferry_error err = {0};
    int r;

    memset(t, 0, sizeof *t);
    snprintf(t->state, sizeof t->state, "/tmp/ferry-pc-unit-XXXXXX");
    assert_non_null(mkdtemp(t->state));
    t->ag.cfg.state_dir = t->state;
    t->ag.driver = &t->drv;
    snprintf(record_path, sizeof record_path, "%s/jobs/g.json", t->state);
    snprintf(t->dom.job.operation, sizeof t->dom.job.operation, "migration-out");
    snprintf(t->def.name, sizeof t->def.name, "g");
    t->dom.def = &t->def;
    t->dom.active = true;
    t->dom.priv = &t->p;
    pthread_mutex_init(&t->dom.lock, NULL);
    pthread_mutex_init(&t->dom.job.lock, NULL);
    r = qmp_conn_open(f->path, 5000, &t->p.qmp, &err);
    if (r < 0)
        fprintf(stderr, "open: %s\n", ferry_error_msg(&err));
    assert_int_equal(r, 0);
}

static void tdom_close(struct tdom *t)
{
    _cleanup_free_ char *jobs = ferry_strdup_printf("%s/jobs", t->state);

    unlink(record_path);
    rmdir(jobs);
    assert_int_equal(rmdir(t->state), 0);
    qmp_conn_free(t->p.qmp);
    pthread_mutex_destroy(&t->dom.lock);
    pthread_mutex_destroy(&t->dom.job.lock);
}

/* Anything QEMU is asked fails the test: the driver must not ask. */
static void script_silent(struct fake *f, int fd)
{
    json_object *cmd = fake_recv(f, fd);

    FAKE_CHECK(f, cmd == NULL);
    if (cmd)
        fake_error(fd, cmd, "GenericError", "unexpected");
    json_object_put(cmd);
}

static void test_start_before_ram_only_records(void **state)
{
    struct fake f = {0};
    struct tdom t;

    (void)state;
    fake_start(&f, script_silent, NULL);
    tdom_open(&t, &f);
    /* The disks are still being copied: Perform asks QEMU once its RAM
     * migration starts. */
    assert_int_equal(qemu_migrate_start_postcopy(&t.ag, &t.dom, NULL), 0);
    assert_true(t.p.mig_postcopy_wanted);
    /* Perform records it when it asks QEMU. */
    assert_false(t.dom.job.postcopy);
    assert_int_equal(access(record_path, F_OK), -1);
    tdom_close(&t);
    assert_int_equal(fake_stop(&f), 0);
}

/* The job record says "postcopy": true. */
static bool record_says_postcopy(void)
{
    _cleanup_free_ char *text = NULL;
    struct ferry_error err = {0};
    json_object *o, *v = NULL;
    size_t len;
    bool yes;

    if (ferry_read_file(record_path, 65536, &text, &len, &err) < 0)
        return false;
    o = json_tokener_parse(text);
    yes = o && json_object_object_get_ex(o, "postcopy", &v) && json_object_get_boolean(v);
    json_object_put(o);
    return yes;
}

static void script_start(struct fake *f, int fd)
{
    json_object *cmd = fake_expect(f, fd, "migrate-start-postcopy");

    FAKE_CHECK(f, cmd && !json_object_object_get_ex(cmd, "arguments", NULL));
    /* Written before QEMU is asked: an agent killed in between keeps the
     * source paused after its restart. */
    FAKE_CHECK(f, record_says_postcopy());
    if (cmd)
        fake_reply(fd, cmd, "{}");
    json_object_put(cmd);
}

static void test_start_during_ram_asks_qemu(void **state)
{
    struct fake f = {0};
    struct tdom t;

    (void)state;
    fake_start(&f, script_start, NULL);
    tdom_open(&t, &f);
    t.p.mig_ram_running = true;
    assert_int_equal(qemu_migrate_start_postcopy(&t.ag, &t.dom, NULL), 0);
    assert_true(t.p.mig_postcopy_wanted);
    assert_true(t.dom.job.postcopy);
    tdom_close(&t);
    assert_int_equal(fake_stop(&f), 0);
}

static void script_refuse(struct fake *f, int fd)
{
    json_object *cmd = fake_expect(f, fd, "migrate-start-postcopy");

    if (cmd)
        fake_error(fd, cmd, "GenericError",
                   "Enable postcopy with migrate_set_capability before the start of migration");
    json_object_put(cmd);
}

static void test_start_refused_by_qemu(void **state)
{
    struct ferry_error err = {0};
    struct fake f = {0};
    struct tdom t;

    (void)state;
    fake_start(&f, script_refuse, NULL);
    tdom_open(&t, &f);
    t.p.mig_ram_running = true;
    assert_true(qemu_migrate_start_postcopy(&t.ag, &t.dom, &err) < 0);
    /* Refused by QEMU, still recorded: the record errs on the safe side. */
    assert_true(record_says_postcopy());
    assert_non_null(strstr(ferry_error_msg(&err), "Enable postcopy"));
    tdom_close(&t);
    assert_int_equal(fake_stop(&f), 0);
}

static void test_start_twice_refused(void **state)
{
    struct ferry_error err = {0};
    struct fake f = {0};
    struct tdom t;

    (void)state;
    fake_start(&f, script_silent, NULL);
    tdom_open(&t, &f);
    t.p.mig_ram_running = true;
    t.p.mig_postcopy_active = true;
    assert_int_equal(qemu_migrate_start_postcopy(&t.ag, &t.dom, &err), -EALREADY);
    assert_non_null(strstr(ferry_error_msg(&err), "in post-copy already"));
    tdom_close(&t);
    assert_int_equal(fake_stop(&f), 0);
}

/* --timeout-postcopy (virsh's): with --timeout and --postcopy only, and
 * not with --timeout-suspend; it survives the trip through JSON. */
static void test_timeout_postcopy(void **state)
{
    static const struct {
        unsigned flags, timeout;
        bool suspend;
        const char *msg;
    } cases[] = {
        {MIG_LIVE | MIG_POSTCOPY, 5, false, NULL},
        {MIG_LIVE, 5, false, "--timeout-postcopy requires --postcopy"},
        {MIG_LIVE | MIG_POSTCOPY, 0, false, "--timeout-postcopy requires --timeout"},
        {MIG_LIVE | MIG_POSTCOPY, 5, true,
         "--timeout-suspend and --timeout-postcopy are mutually "
         "exclusive"},
    };
    struct mig_params q;
    json_object *o;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mig_params p = {.flags = cases[i].flags,
                               .timeout_s = cases[i].timeout,
                               .timeout_suspend = cases[i].suspend,
                               .timeout_postcopy = true};
        struct ferry_error err = {0};
        int r = mig_params_validate(&p, ~0u, &err);

        if (!cases[i].msg) {
            assert_int_equal(r, 0);
            o = mig_params_to_json(&p);
            assert_int_equal(mig_params_from_json(o, &q, NULL), 0);
            json_object_put(o);
            assert_true(q.timeout_postcopy);
            assert_int_equal(q.timeout_s, 5);
            mig_params_clear(&q);
            continue;
        }
        assert_true(r < 0);
        assert_non_null(strstr(ferry_error_msg(&err), cases[i].msg));
    }
    assert_int_equal(params_from("{\"timeout_postcopy\": 1}", &q, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_json_bad_types),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_driver_without_postcopy),
        cmocka_unit_test(test_start_before_ram_only_records),
        cmocka_unit_test(test_start_during_ram_asks_qemu),
        cmocka_unit_test(test_start_refused_by_qemu),
        cmocka_unit_test(test_start_twice_refused),
        cmocka_unit_test(test_timeout_postcopy),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    fake_cleanup_all();
    return failed;
}
