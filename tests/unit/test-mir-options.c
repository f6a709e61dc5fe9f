/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of mirror/options.c: engine tunables and NBD URI checks, and of
 * mir_disk_open's argument checks (which fail before connecting). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mir.h"

static void test_opts_defaults(void **state)
{
    struct mir_copy_opts o = {0};
    struct ferry_error err = {0};
    assert_int_equal(mir_copy_opts_check(&o, &err), 0);
    assert_int_equal(o.request_size, MIR_DEFAULT_REQUEST_SIZE);
    assert_int_equal(o.queue_depth, MIR_DEFAULT_QUEUE_DEPTH);
    assert_int_equal(o.connections, MIR_DEFAULT_CONNECTIONS);
    assert_int_equal(o.zero_granularity, MIR_DEFAULT_ZERO_GRANULARITY);
    assert_int_equal(o.threads, 1);
    assert_int_equal(o.io_timeout_ms, MIR_DEFAULT_IO_TIMEOUT_MS);
    assert_false(ferry_error_is_set(&err));
}

static void test_opts_bad(void **state)
{
    struct {
        struct mir_copy_opts o;
        const char *msg;
    } cases[] = {
        {{.request_size = 3 * 65536}, "request size 196608"},
        {{.request_size = 32768}, "request size 32768"},
        {{.request_size = 64u << 20}, "request size 67108864"},
        {{.queue_depth = 257}, "queue depth 257"},
        {{.connections = 17}, "connections 17"},
        {{.threads = 17}, "threads 17"},
        {{.zero_granularity = 1024}, "zero granularity 1024"},
        {{.zero_granularity = 12288}, "zero granularity 12288"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct ferry_error err = {0};
        assert_int_equal(mir_copy_opts_check(&cases[i].o, &err), -EINVAL);
        assert_int_equal(err.code, EINVAL);
        assert_non_null(strstr(err.msg, cases[i].msg));
    }
}

static void test_opts_granularity_capped(void **state)
{
    struct mir_copy_opts o = {.request_size = 65536, .zero_granularity = 1u << 20};
    assert_int_equal(mir_copy_opts_check(&o, NULL), 0);
    assert_int_equal(o.zero_granularity, 65536);
}

static void test_uri_good(void **state)
{
    const char *good[] = {
        "nbd://127.0.0.1:10809/vda",
        "nbd://[::1]:10809/",
        "nbds://host/export",
        "nbd+unix:///vda?socket=/run/ferry/nbd.sock",
        "nbd+unix:///?socket=/tmp/x.sock",
        "nbds+unix:///e?tls-certificates=/x&socket=/s",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct ferry_error err = {0};
        int r = mir_uri_check(good[i], &err);
        if (r != 0)
            fail_msg("%s: %s", good[i], err.msg);
    }
}

static void test_uri_bad(void **state)
{
    struct {
        const char *uri;
        const char *msg;
    } bad[] = {
        {"", "empty"},
        {"http://host/x", "scheme must be"},
        {"/tmp/file", "scheme must be"},
        {"nbd+unix:///vda", "missing ?socket"},
        {"nbd+unix:///vda?socket=", "missing ?socket"},
        {"nbd+unix://host/vda?socket=/s", "has no host"},
        {"nbd:///vda", "missing host"},
        {"nbd://host/vda?socket=/s", "needs the nbd+unix"},
        {"nbd://host/a b", "space or control"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ferry_error err = {0};
        assert_int_equal(mir_uri_check(bad[i].uri, &err), -EINVAL);
        if (!strstr(err.msg, bad[i].msg))
            fail_msg("%s: got '%s', want '%s'", bad[i].uri, err.msg, bad[i].msg);
    }
    assert_int_equal(mir_uri_check(NULL, NULL), -EINVAL);

    char longsock[200] = "nbd+unix:///?socket=/";
    memset(longsock + strlen(longsock), 'a', 120);
    struct ferry_error err = {0};
    assert_int_equal(mir_uri_check(longsock, &err), -ENAMETOOLONG);
}

static void test_disk_open_checks(void **state)
{
    struct mir_disk *d = NULL;
    struct ferry_error err = {0};
    struct mir_disk_config both = {
        .name = "vda", .source_file = "/x", .source_uri = "nbd://h/e", .target_uri = "nbd://h/t"};
    assert_int_equal(mir_disk_open(&both, NULL, &d, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "disk 'vda': give exactly one"));
    assert_null(d);

    ferry_error_clear(&err);
    struct mir_disk_config badtarget = {.name = "vdb", .source_file = "/x", .target_uri = "x"};
    assert_int_equal(mir_disk_open(&badtarget, NULL, &d, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "disk 'vdb': target: NBD URI 'x'"));

    ferry_error_clear(&err);
    struct mir_copy_opts o = {.queue_depth = 1000};
    struct mir_disk_config ok = {.name = "vdc", .source_file = "/x", .target_uri = "nbd://h/t"};
    assert_int_equal(mir_disk_open(&ok, &o, &d, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "disk 'vdc': queue depth 1000"));

    ferry_error_clear(&err);
    struct mir_disk_config missing = {
        .name = "vdd", .source_file = "/nonexistent/ferry/x.img", .target_uri = "nbd://h/t"};
    assert_int_equal(mir_disk_open(&missing, NULL, &d, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "disk 'vdd': open '/nonexistent/ferry/x.img'"));
    assert_null(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opts_defaults),
        cmocka_unit_test(test_opts_bad),
        cmocka_unit_test(test_opts_granularity_capped),
        cmocka_unit_test(test_uri_good),
        cmocka_unit_test(test_uri_bad),
        cmocka_unit_test(test_disk_open_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
