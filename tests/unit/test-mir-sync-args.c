/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of mir_sync's argument checks and of the calls that must fail
 * cleanly before mir_sync_start (nothing here talks to QEMU: the session
 * does not touch its QMP connection until it starts). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mir-sync.h"

#define URI "nbd+unix:///vda?socket=/tmp/d.nbd"

static const struct mir_sync_opts opts = {.socket_dir = "/tmp"};

static void expect_new_fails(const struct mir_sync_disk *disks, size_t n,
                             const struct mir_sync_opts *o, int code, const char *msg)
{
    struct mir_sync *s = NULL;
    struct ferry_error err = {0};
    assert_int_equal(mir_sync_new(NULL, disks, n, o, &s, &err), -code);
    assert_null(s);
    if (!strstr(err.msg, msg))
        fail_msg("got '%s', want '%s'", err.msg, msg);
}

static void test_disk_count(void **state)
{
    struct mir_sync_disk d = {.target = "vda", .dest_uri = URI};
    expect_new_fails(&d, 0, &opts, EINVAL, "0 disks (must be 1..64)");
    expect_new_fails(&d, 65, &opts, EINVAL, "65 disks");
}

static void test_names(void **state)
{
    struct mir_sync_disk bad = {.target = "../x", .dest_uri = URI};
    expect_new_fails(&bad, 1, &opts, EINVAL, "bad target name '../x'");
    struct mir_sync_disk none = {.dest_uri = URI};
    expect_new_fails(&none, 1, &opts, EINVAL, "bad target name ''");
    struct mir_sync_disk badnode = {.target = "vda", .node = "a b", .dest_uri = URI};
    expect_new_fails(&badnode, 1, &opts, EINVAL, "disk 'vda': bad node name 'a b'");
    struct mir_sync_disk twice[2] = {{.target = "vda", .dest_uri = URI},
                                     {.target = "vda", .dest_uri = URI}};
    expect_new_fails(twice, 2, &opts, EINVAL, "disk 'vda' given twice");
}

static void test_destination_uri(void **state)
{
    struct mir_sync_disk d = {.target = "vdb", .dest_uri = "nbd+unix:///vdb"};
    expect_new_fails(&d, 1, &opts, EINVAL, "storage: disk 'vdb': destination: NBD URI");
}

static void test_options(void **state)
{
    struct mir_sync_disk d = {.target = "vda", .dest_uri = URI};
    struct mir_sync_opts nodir = {0};
    expect_new_fails(&d, 1, &nodir, EINVAL, "no socket directory");
    struct mir_sync_opts badcopy = {.socket_dir = "/tmp", .copy = {.queue_depth = 999}};
    expect_new_fails(&d, 1, &badcopy, EINVAL, "storage: queue depth 999");
    char longdir[200];
    memset(longdir, 'a', sizeof(longdir) - 1);
    longdir[0] = '/';
    longdir[sizeof(longdir) - 1] = '\0';
    struct mir_sync_opts longsock = {.socket_dir = longdir};
    expect_new_fails(&d, 1, &longsock, ENAMETOOLONG, "is too long");
}

static void test_not_started(void **state)
{
    struct mir_sync_disk d[2] = {{.target = "vda", .dest_uri = URI},
                                 {.target = "vdb", .source_path = "/x.img", .dest_uri = URI}};
    struct mir_sync *s = NULL;
    struct ferry_error err = {0};
    assert_int_equal(mir_sync_new(NULL, d, 2, &opts, &s, &err), 0);
    assert_non_null(s);
    assert_int_equal(mir_sync_disks(s), 2);

    struct mir_progress p;
    memset(&p, 0xff, sizeof(p));
    assert_int_equal(mir_sync_progress(s, 1, &p), 0);
    assert_int_equal(p.pass, 0);
    assert_int_equal(p.copied, 0);
    assert_int_equal(mir_sync_progress(s, 2, &p), -EINVAL);

    assert_int_equal(mir_sync_wait_converged(s, 0, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not started"));
    ferry_error_clear(&err);
    assert_int_equal(mir_sync_final_pass(s, NULL, &err), -EINVAL);

    /* Cancelled before it started: start refuses, free is still clean. */
    mir_sync_cancel(s);
    ferry_error_clear(&err);
    assert_int_equal(mir_sync_start(s, &err), -ECANCELED);
    mir_sync_free(s);
    mir_sync_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disk_count),      cmocka_unit_test(test_names),
        cmocka_unit_test(test_destination_uri), cmocka_unit_test(test_options),
        cmocka_unit_test(test_not_started),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
