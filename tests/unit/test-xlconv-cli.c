/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferryctl's domxml-from-native / domxml-to-native xen-xl verbs through
 * xlconv_cli_domxml: output, notes on stderr, exit status and messages. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "util.h"
#include "xlconv-cli.h"

struct run {
    int status;
    char *out, *err;
};

static struct run cli(const char *verb, const char *fmt, const char *file)
{
    struct run r = {0};
    size_t ol = 0, el = 0;
    FILE *out = open_memstream(&r.out, &ol), *err = open_memstream(&r.err, &el);
    char *argv[] = {(char *)verb, (char *)fmt, (char *)file, NULL};

    assert_non_null(out);
    assert_non_null(err);
    r.status = xlconv_cli_domxml(verb, 3, argv, out, err);
    fclose(out);
    fclose(err);
    return r;
}

static char *data(const char *name)
{
    return ferry_strdup_printf("%s/%s", XEN_TEST_DATA_DIR, name);
}

static char *slurp(const char *path)
{
    char *buf = NULL;
    struct ferry_error e = {0};

    if (ferry_read_file(path, 1u << 20, &buf, NULL, &e) < 0)
        fail_msg("%s", ferry_error_msg(&e));
    return buf;
}

static void test_from_native(void **state)
{
    _cleanup_free_ char *cfg = data("hvm-vnc.cfg"), *xmlp = data("hvm-vnc.xml");
    _cleanup_free_ char *want = slurp(xmlp);
    struct run r = cli("domxml-from-native", "xen-xl", cfg);

    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, want);
    _cleanup_free_ char *note = ferry_strdup_printf(
        "ferryctl: note: %s: key 'boot' is not converted by ferry; kept verbatim\n", cfg);
    assert_non_null(strstr(r.err, note));
    free(r.out);
    free(r.err);
}

static void test_to_native(void **state)
{
    _cleanup_free_ char *xmlp = data("disk-forms.xml"), *nat = data("disk-forms.native.cfg");
    _cleanup_free_ char *want = slurp(nat);
    struct run r = cli("domxml-to-native", "xen-xl", xmlp);

    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, want);
    assert_string_equal(r.err, "");
    free(r.out);
    free(r.err);
}

static void test_errors(void **state)
{
    char dir[] = "/tmp/ferry-xencli-XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *bad = ferry_strdup_printf("%s/bad.cfg", dir);
    struct ferry_error e = {0};
    const char *text = "name = 'x'\nvif = [ 'bridge=a'\n";
    assert_int_equal(ferry_write_file_atomic(bad, text, strlen(text), 0644, &e), 0);

    struct run r = cli("domxml-from-native", "xen-xl", bad);
    assert_int_equal(r.status, 1);
    assert_string_equal(r.out, "");
    _cleanup_free_ char *want = ferry_strdup_printf(
        "ferryctl: domxml-from-native: %s:3:1: expected ']' to close the list opened at 2:7, "
        "got end of file\n",
        bad);
    assert_string_equal(r.err, want);
    free(r.out);
    free(r.err);

    r = cli("domxml-to-native", "xen-sxpr", bad);
    assert_int_equal(r.status, 2);
    assert_string_equal(r.err, "ferryctl: domxml-to-native: unsupported native format "
                               "'xen-sxpr' (only xen-xl)\n");
    free(r.out);
    free(r.err);

    r = cli("domxml-to-native", "xen-xl", bad);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "ferryctl: domxml-to-native: domain XML: line 1:"));
    free(r.out);
    free(r.err);

    unlink(bad);
    rmdir(dir);
    r = cli("domxml-from-native", "xen-xl", bad);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "No such file or directory"));
    free(r.out);
    free(r.err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_from_native),
        cmocka_unit_test(test_to_native),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
