/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The destination URIs a virsh user types: ferry://HOST, HOST:PORT and a
 * ferry+tcp:// URI without a port all reach the agent on its default
 * port; socket paths stay paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cleanup.h"
#include "client.h"

static void check(const char *in, const char *want)
{
    _cleanup_free_ char *got = ctl_uri_normalize(in);

    assert_string_equal(got, want);
}

static void test_default_port(void **state)
{
    (void)state;
    check("ferry+tcp://host", "ferry+tcp://host:7070");
    check("ferry+tls://host.example", "ferry+tls://host.example:7070");
    check("ferry+tcp://[::1]", "ferry+tcp://[::1]:7070");
    check("ferry+tcp://host/", "ferry+tcp://host:7070");
    check("ferry+tcp://host:7171", "ferry+tcp://host:7171");
    check("ferry+tcp://[::1]:7171", "ferry+tcp://[::1]:7171");
}

static void test_short_forms(void **state)
{
    (void)state;
    check("ferry://host", "ferry+tcp://host:7070");
    check("ferry://host:7171", "ferry+tcp://host:7171");
    check("127.0.0.1:7171", "ferry+tcp://127.0.0.1:7171");
    check("[::1]:7171", "ferry+tcp://[::1]:7171");
}

static void test_paths_stay_paths(void **state)
{
    (void)state;
    check("/run/ferry.sock", "/run/ferry.sock");
    check("./a:1", "./a:1");
    check("unix:/run/x:1", "unix:/run/x:1");
    check("ctl.sock", "ctl.sock");
    check("host:", "host:");
}

static void test_host(void **state)
{
    _cleanup_free_ char *a = ctl_uri_host("ferry://h1");
    _cleanup_free_ char *b = ctl_uri_host("h2:7070");
    _cleanup_free_ char *c = ctl_uri_host("/run/ferry.sock");

    (void)state;
    assert_string_equal(a, "h1");
    assert_string_equal(b, "h2");
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_port),
        cmocka_unit_test(test_short_forms),
        cmocka_unit_test(test_paths_stay_paths),
        cmocka_unit_test(test_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
