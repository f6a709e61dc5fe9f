/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where copied disks go (--same-path, --disk-path, --keep-images): the
 * parameters in JSON, and every refusal by name, in the agent's checks
 * (migparams.c) and in Begin's check against the domain (volumes.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "migparams.h"
#include "volumes.h"

/* The agent library names the driver table only through this (ferryd
 * links agent/drivers.c); nothing here needs a driver. */

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
    assert_int_equal(
        params_from("{\"flags\": [\"live\", \"non_shared_disk\"], \"same_path\": true, "
                    "\"keep_images\": true, \"disk_paths\": {\"vda\": \"/srv/a.raw\", "
                    "\"vdb\": \"/srv/b.qcow2\"}}",
                    &p, NULL),
        0);
    assert_true(p.same_path);
    assert_true(p.keep_images);
    assert_int_equal(p.n_disk_paths, 2);
    assert_string_equal(p.disk_paths[0].target, "vda");
    assert_string_equal(p.disk_paths[0].path, "/srv/a.raw");
    assert_int_equal(mig_params_validate(&p, ~0u, NULL), 0);
    o = mig_params_to_json(&p);
    assert_int_equal(mig_params_from_json(o, &q, NULL), 0);
    assert_true(q.same_path && q.keep_images);
    assert_int_equal(q.n_disk_paths, 2);
    assert_string_equal(q.disk_paths[1].target, "vdb");
    assert_string_equal(q.disk_paths[1].path, "/srv/b.qcow2");
    json_object_put(o);
    mig_params_clear(&p);
    mig_params_clear(&q);
}

static void test_json_bad(void **state)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"{\"same_path\": 1}", "'same_path' must be a boolean"},
        {"{\"keep_images\": \"yes\"}", "'keep_images' must be a boolean"},
        {"{\"disk_paths\": [\"vda=/x\"]}", "'disk_paths' must map disk targets to paths"},
        {"{\"disk_paths\": {\"vda\": 3}}", "the path of disk 'vda' must be a string"},
        {"{\"disk_paths\": {\"vda\": \"\"}}", "the path of disk 'vda' must be a string"},
        {"{\"disk_paths\": {\"\": \"/x\"}}", "is not a disk target"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ferry_error err = {0};
        struct mig_params p;
        int r = params_from(cases[i].json, &p, &err);

        if (r == 0 || !strstr(ferry_error_msg(&err), cases[i].msg))
            fprintf(stderr, "case %zu: got %d '%s', want '%s'\n", i, r, ferry_error_msg(&err),
                    cases[i].msg);
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(ferry_error_msg(&err), cases[i].msg));
    }
}

static void test_validate(void **state)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"{\"flags\": [\"live\"], \"same_path\": true}", "require --copy-storage-all"},
        {"{\"flags\": [\"live\"], \"keep_images\": true}", "require --copy-storage-all"},
        {"{\"flags\": [\"live\"], \"disk_paths\": {\"vda\": \"/a\"}}", "require --copy-storage"},
        {"{\"flags\": [\"live\", \"non_shared_disk\"], \"disk_paths\": {\"vda\": \"a.raw\"}}",
         "--disk-path vda=a.raw: the path must be absolute"},
        {"{\"flags\": [\"live\", \"non_shared_disk\"], \"disk_paths\": {\"vda\": \"/s/../etc/x\"}}",
         "without '.' or '..'"},
        {"{\"flags\": [\"live\", \"non_shared_disk\"], \"disk_paths\": {\"vda\": \"/s/..\"}}",
         "without '.' or '..'"},
        {"{\"flags\": [\"live\", \"non_shared_disk\"], \"disk_paths\": {\"vda\": \"/s/a\", "
         "\"vdb\": \"/s/a\"}}",
         "disks 'vda' and 'vdb' are both given '/s/a'"},
        /* Disk auto-converge and the disk copy's own cap need a copy. */
        {"{\"flags\": [\"live\", \"auto_converge_storage\"]}",
         "--auto-converge-storage requires --live and --copy-storage-all"},
        {"{\"flags\": [\"live\", \"non_shared_disk\", \"auto_converge_storage\"], "
         "\"storage_engine\": \"qemu\"}",
         "--auto-converge-storage needs --storage-engine ferry"},
        {"{\"flags\": [\"live\"], \"bandwidth_disk\": 8}", "--bandwidth-disk requires"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ferry_error err = {0};
        struct mig_params p;

        assert_int_equal(params_from(cases[i].json, &p, NULL), 0);
        if (mig_params_validate(&p, ~0u, &err) == 0 || !strstr(ferry_error_msg(&err), cases[i].msg))
            fprintf(stderr, "case %zu: got '%s', want '%s'\n", i, ferry_error_msg(&err),
                    cases[i].msg);
        assert_non_null(strstr(ferry_error_msg(&err), cases[i].msg));
        mig_params_clear(&p);
    }
}

/* Begin: --disk-path must name a disk this migration copies. */
static void test_check_against_domain(void **state)
{
    static const char xml[] =
        "<domain type='kvm'><name>g</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        "<devices>"
        "<disk type='file' device='disk'><source file='/s/a.raw'/><target dev='vda'/></disk>"
        "<disk type='file' device='disk'><source file='/s/b.raw'/><target dev='vdb'/>"
        "<readonly/></disk>"
        "</devices></domain>";
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"{\"flags\": [\"non_shared_disk\"], \"disk_paths\": {\"vdz\": \"/d/z\"}}",
         "domain 'g' has no disk with target 'vdz'"},
        {"{\"flags\": [\"non_shared_disk\"], \"disk_paths\": {\"vdb\": \"/d/b\"}}",
         "disk 'vdb' is not copied by this migration"},
        {"{\"flags\": [\"non_shared_disk\"], \"migrate_disks\": [\"vda\"], "
         "\"disk_paths\": {\"vdb\": \"/d/b\"}}",
         "disk 'vdb' is not copied"},
        {"{\"flags\": [\"non_shared_disk\"], \"disk_paths\": {\"vda\": \"/d/a\"}}", NULL},
    };
    struct domain_def *def = NULL;

    (void)state;
    assert_int_equal(domain_def_parse(xml, strlen(xml), &def, NULL), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ferry_error err = {0};
        struct mig_params p;
        int r;

        assert_int_equal(params_from(cases[i].json, &p, NULL), 0);
        r = agent_volumes_check_params(&p, def, &err);
        if (!cases[i].msg) {
            assert_int_equal(r, 0);
        } else {
            assert_int_equal(r, -EINVAL);
            assert_non_null(strstr(ferry_error_msg(&err), cases[i].msg));
        }
        mig_params_clear(&p);
    }
    domain_def_free(def);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_json_bad),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_check_against_domain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
