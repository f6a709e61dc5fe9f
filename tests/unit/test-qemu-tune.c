/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's migration tuning (migrate-setspeed, -getspeed,
 * -setmaxdowntime, -getmaxdowntime) against a fake QMP server with canned
 * replies: the exact commands QEMU receives, the units, what a refusal
 * leaves behind, and the running migration's copy jobs. */
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

#include "qemu-priv.h"
#include "test-qmp-fake.h"

#define MIB (1ull << 20)

/* The agent library names the driver table only through this (ferryd
 * links agent/drivers.c); the functions under test need no driver. */

/* A running domain whose monitor is the fake F. */
struct tdom {
    struct agent_domain dom;
    struct domain_def def;
    struct qemu_dom p;
};

static void tdom_open(struct tdom *t, struct fake *f)
{
    struct ferry_error err = {0};
    int r;

    memset(t, 0, sizeof *t);
    snprintf(t->def.name, sizeof t->def.name, "g");
    t->dom.def = &t->def;
    t->dom.active = true;
    t->dom.priv = &t->p;
    pthread_mutex_init(&t->dom.lock, NULL);
    pthread_mutex_init(&t->dom.job.lock, NULL);
    pthread_rwlock_init(&t->p.handover_lock, NULL);
    r = qmp_conn_open(f->path, 5000, &t->p.qmp, &err);
    if (r < 0)
        fprintf(stderr, "open: %s\n", ferry_error_msg(&err));
    assert_int_equal(r, 0);
}

static void tdom_close(struct tdom *t)
{
    qmp_conn_free(t->p.qmp);
    pthread_mutex_destroy(&t->dom.lock);
    pthread_mutex_destroy(&t->dom.job.lock);
    pthread_rwlock_destroy(&t->p.handover_lock);
}

static int64_t arg_int(struct fake *f, json_object *cmd, const char *key)
{
    json_object *args = NULL, *v = NULL;

    FAKE_CHECK(f, json_object_object_get_ex(cmd, "arguments", &args));
    FAKE_CHECK(f, json_object_object_get_ex(args, key, &v));
    return v ? json_object_get_int64(v) : -1;
}

/* ---- bandwidth ---- */

static void script_speed_77(struct fake *f, int fd)
{
    json_object *cmd = fake_expect(f, fd, "migrate-set-parameters");

    FAKE_CHECK(f, cmd && arg_int(f, cmd, "max-bandwidth") == (int64_t)(77 * MIB));
    FAKE_CHECK(f, cmd && json_object_object_length(json_object_object_get(cmd, "arguments")) == 1);
    if (cmd)
        fake_reply(fd, cmd, "{}");
    json_object_put(cmd);
}

static void test_setspeed_idle_is_next_default(void **state)
{
    struct fake f = {0};
    struct tdom t;
    uint64_t v = 1;

    (void)state;
    fake_start(&f, script_speed_77, NULL);
    tdom_open(&t, &f);
    /* Before any migrate-setspeed: unlimited, and QEMU is not asked. */
    assert_int_equal(qemu_migrate_get_param(NULL, &t.dom, HV_MIG_MAX_BANDWIDTH, &v, NULL), 0);
    assert_int_equal(v, 0);
    assert_int_equal(qemu_migrate_set_param(NULL, &t.dom, HV_MIG_MAX_BANDWIDTH, 77, NULL), 0);
    assert_int_equal(qemu_migrate_get_param(NULL, &t.dom, HV_MIG_MAX_BANDWIDTH, &v, NULL), 0);
    assert_int_equal(v, 77);
    assert_true(t.p.speed_set);
    assert_false(t.p.mig_speed_override); /* no migration ran */
    tdom_close(&t);
    assert_int_equal(fake_stop(&f), 0);
}

static void script_speed_unlimited(struct fake *f, int fd)
{
    json_object *cmd = fake_expect(f, fd, "migrate-set-parameters");

    /* 0 is "unlimited" for ferry; QEMU 7.2 gets a rate no link reaches. */
    FAKE_CHECK(f, cmd && arg_int(f, cmd, "max-bandwidth") >= (int64_t)(1ull << 40));
    if (cmd)
        fake_reply(fd, cmd, "{}");
    json_object_put(cmd);
}

static void test_setspeed_zero_is_unlimited(void **state)
{
    struct fake f = {0};
    struct tdom t;

    (void)state;
    fake_start(&f, script_speed_unlimited, NULL);
    tdom_open(&t, &f);
    assert_int_equal(qemu_migrate_set_param(NULL, &t.dom, HV_MIG_MAX_BANDWIDTH, 0, NULL), 0);
    tdom_close(&t);
    assert_int_equal(fake_stop(&f), 0);
}

static void script_refuse(struct fake *f, int fd)
{
    json_object *cmd = fake_expect(f, fd, "migrate-set-parameters");

    if (cmd)
        fake_error(fd, cmd, "GenericError", "Parameter 'max_bandwidth' expects ...");
    json_object_put(cmd);
}

static void test_setspeed_refused_changes_nothing(void **state)
{
    struct fake f = {0};
    struct ferry_error err = {0};
    struct tdom t;
    uint64_t v = 1;

    (void)state;
    fake_start(&f, script_refuse, NULL);
    tdom_open(&t, &f);
    assert_true(qemu_migrate_set_param(NULL, &t.dom, HV_MIG_MAX_BANDWIDTH, 5, &err) < 0);
    assert_non_null(strstr(ferry_error_msg(&err), "max_bandwidth"));
    ferry_error_clear(&err);
    assert_false(t.p.speed_set);
    assert_int_equal(qemu_migrate_get_param(NULL, &t.dom, HV_MIG_MAX_BANDWIDTH, &v, NULL), 0);
    assert_int_equal(v, 0);
    tdom_close(&t);
    assert_int_equal(fake_stop(&f), 0);
}

/* During an outgoing migration, engine 'qemu': QEMU's parameter, then every
 * mirror job of ours (and only those) gets the new speed. */
static void script_speed_migrating(struct fake *f, int fd)
{
    json_object *cmd = fake_expect(f, fd, "migrate-set-parameters");
    json_object *args = NULL, *dev = NULL;

    FAKE_CHECK(f, cmd && arg_int(f, cmd, "max-bandwidth") == (int64_t)(5 * MIB));
    if (cmd)
        fake_reply(fd, cmd, "{}");
    json_object_put(cmd);
    cmd = fake_expect(f, fd, "query-block-jobs");
    if (cmd)
        fake_reply(fd, cmd,
                   "[{\"device\": \"ferry-mig-vda\", \"type\": \"mirror\", \"speed\": 1048576},"
                   " {\"device\": \"backup-job\", \"type\": \"backup\", \"speed\": 0}]");
    json_object_put(cmd);
    cmd = fake_expect(f, fd, "block-job-set-speed");
    FAKE_CHECK(f, cmd && json_object_object_get_ex(cmd, "arguments", &args) &&
                      json_object_object_get_ex(args, "device", &dev) &&
                      strcmp(json_object_get_string(dev), "ferry-mig-vda") == 0);
    FAKE_CHECK(f, cmd && arg_int(f, cmd, "speed") == (int64_t)(5 * MIB));
    if (cmd)
        fake_reply(fd, cmd, "{}");
    json_object_put(cmd);
}

static void test_setspeed_during_migration(void **state)
{
    struct fake f = {0};
    struct tdom t;
    uint64_t v = 0;

    (void)state;
    fake_start(&f, script_speed_migrating, NULL);
    tdom_open(&t, &f);
    t.dom.job.active = true;
    snprintf(t.dom.job.operation, sizeof t.dom.job.operation, "migration-out");
    t.p.mig_speed_mib = 1;
    assert_int_equal(qemu_migrate_set_param(NULL, &t.dom, HV_MIG_MAX_BANDWIDTH, 5, NULL), 0);
    assert_int_equal(t.p.mig_speed_mib, 5);
    assert_true(t.p.mig_speed_override);
    assert_int_equal(qemu_migrate_get_param(NULL, &t.dom, HV_MIG_MAX_BANDWIDTH, &v, NULL), 0);
    assert_int_equal(v, 5);
    tdom_close(&t);
    assert_int_equal(fake_stop(&f), 0);
}

/* ---- downtime ---- */

static void script_downtime(struct fake *f, int fd)
{
    json_object *cmd = fake_expect(f, fd, "migrate-set-parameters");

    FAKE_CHECK(f, cmd && arg_int(f, cmd, "downtime-limit") == 123);
    if (cmd)
        fake_reply(fd, cmd, "{}");
    json_object_put(cmd);
    cmd = fake_expect(f, fd, "query-migrate-parameters");
    if (cmd)
        fake_reply(fd, cmd, "{\"downtime-limit\": 123, \"max-bandwidth\": 134217728}");
    json_object_put(cmd);
    cmd = fake_expect(f, fd, "query-migrate-parameters");
    if (cmd)
        fake_reply(fd, cmd, "{\"max-bandwidth\": 134217728}");
    json_object_put(cmd);
}

static void test_downtime_set_and_read_back(void **state)
{
    struct fake f = {0};
    struct ferry_error err = {0};
    struct tdom t;
    uint64_t v = 0;

    (void)state;
    fake_start(&f, script_downtime, NULL);
    tdom_open(&t, &f);
    assert_int_equal(qemu_migrate_set_param(NULL, &t.dom, HV_MIG_MAX_DOWNTIME, 123, NULL), 0);
    assert_int_equal(qemu_migrate_get_param(NULL, &t.dom, HV_MIG_MAX_DOWNTIME, &v, NULL), 0);
    assert_int_equal(v, 123);
    /* A reply without the member is an error, not a zero. */
    v = 7;
    assert_int_equal(qemu_migrate_get_param(NULL, &t.dom, HV_MIG_MAX_DOWNTIME, &v, &err), -EPROTO);
    assert_int_equal(v, 7);
    ferry_error_clear(&err);
    tdom_close(&t);
    assert_int_equal(fake_stop(&f), 0);
}

static void test_not_running(void **state)
{
    struct fake f = {0};
    struct ferry_error err = {0};
    struct tdom t;
    uint64_t v = 9;

    (void)state;
    fake_start(&f, NULL, NULL);
    tdom_open(&t, &f);
    t.dom.active = false;
    assert_int_equal(qemu_migrate_set_param(NULL, &t.dom, HV_MIG_MAX_BANDWIDTH, 5, &err),
                     -ENOTCONN);
    assert_non_null(strstr(ferry_error_msg(&err), "not running"));
    ferry_error_clear(&err);
    assert_int_equal(qemu_migrate_get_param(NULL, &t.dom, HV_MIG_MAX_DOWNTIME, &v, NULL),
                     -ENOTCONN);
    assert_int_equal(v, 9);
    assert_false(t.p.speed_set);
    tdom_close(&t);
    assert_int_equal(fake_stop(&f), 0);
}

/* ---- monitor passthrough and the handover ---- */

static void script_one_hmp(struct fake *f, int fd)
{
    json_object *cmd = fake_expect(f, fd, "query-status");

    if (cmd)
        fake_reply(fd, cmd, "{\"status\": \"finish-migrate\", \"running\": false}");
    json_object_put(cmd);
    cmd = fake_expect(f, fd, "human-monitor-command");

    if (cmd)
        fake_reply(fd, cmd, "\"done\\r\\n\"");
    json_object_put(cmd);
}

/* From pre-switchover on, an HMP command is refused before it
 * reaches QEMU: a qemu-io write to an image QEMU has handed over aborts
 * QEMU 7.2; QMP queries go through. After (a failed migration's resume
 * clears it) HMP goes through again. The fake answers exactly these two. */
static void test_monitor_refused_during_handover(void **state)
{
    struct fake f = {0};
    struct ferry_error err = {0};
    struct tdom t;
    char *out = NULL;

    (void)state;
    fake_start(&f, script_one_hmp, NULL);
    tdom_open(&t, &f);
    qemu_handover_set(&t.p, true);
    assert_int_equal(
        qemu_domain_monitor(NULL, &t.dom, "qemu-io vda \"write 0 512\"", true, &out, &err), -EBUSY);
    assert_null(out);
    assert_non_null(strstr(ferry_error_msg(&err), "handed over"));
    ferry_error_clear(&err);
    /* HMP wrapped in QMP as well. */
    assert_int_equal(qemu_domain_monitor(NULL, &t.dom,
                                         "{\"execute\": \"human-monitor-command\", "
                                         "\"arguments\": {\"command-line\": \"info status\"}}",
                                         false, &out, &err),
                     -EBUSY);
    ferry_error_clear(&err);
    /* A QMP query goes through: it writes nothing. */
    assert_int_equal(
        qemu_domain_monitor(NULL, &t.dom, "{\"execute\": \"query-status\"}", false, &out, &err), 0);
    assert_non_null(strstr(out, "finish-migrate"));
    free(out);
    out = NULL;
    qemu_handover_set(&t.p, false);
    assert_int_equal(qemu_domain_monitor(NULL, &t.dom, "info status", true, &out, &err), 0);
    assert_non_null(out);
    free(out);
    tdom_close(&t);
    assert_int_equal(fake_stop(&f), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setspeed_idle_is_next_default),
        cmocka_unit_test(test_setspeed_zero_is_unlimited),
        cmocka_unit_test(test_setspeed_refused_changes_nothing),
        cmocka_unit_test(test_setspeed_during_migration),
        cmocka_unit_test(test_downtime_set_and_read_back),
        cmocka_unit_test(test_not_running),
        cmocka_unit_test(test_monitor_refused_during_handover),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    fake_cleanup_all();
    return failed;
}
