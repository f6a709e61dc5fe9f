/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The xl.cfg parser: what it reads from well-formed files (values, lists
 * across lines, comments, escapes, +=, overrides) and the exact
 * "xl.cfg:LINE:COL: ..." message for each kind of malformed file. */
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
#include "xlconv.h"
#include "xlcfg.h"

FERRY_DEFINE_CLEANUP_FUNC(struct xlconv_xlcfg, xlconv_xlcfg_free)

static struct xlconv_xlcfg *syntax_ok(const char *text)
{
    struct xlconv_xlcfg *x = NULL;
    struct ferry_error err = {0};

    if (xlconv_xlcfg_parse_syntax(text, strlen(text), NULL, &x, &err) < 0)
        fail_msg("unexpected error: %s", ferry_error_msg(&err));
    return x;
}

/* Parses TEXT (syntax and meaning) expecting failure with exactly WANT. */
static void expect_error(const char *text, const char *want)
{
    struct xlconv_config *cfg = NULL;
    struct ferry_error err = {0};

    int r = xlconv_xlcfg_parse(text, strlen(text), NULL, &cfg, &err);
    if (r == 0) {
        xlconv_config_free(cfg);
        fail_msg("parsed, expected: %s", want);
    }
    assert_int_equal(r, -EINVAL);
    assert_int_equal(err.code, EINVAL);
    assert_null(cfg);
    assert_string_equal(err.msg, want);
}

static void test_values(void **state)
{
    _cleanup_(xlconv_xlcfg_freep) struct xlconv_xlcfg *x =
        syntax_ok("a = \"dq\"\nb='sq'\nc = 0x1f\nd = [ 1, \"two\", [ 'three' ] ]\n");
    const struct xlconv_xlset *s;

    assert_int_equal(x->n_settings, 4);
    s = xlconv_xlcfg_find(x, "a");
    assert_int_equal(s->value->kind, XLCONV_XLVAL_STRING);
    assert_string_equal(s->value->str, "dq");
    s = xlconv_xlcfg_find(x, "b");
    assert_string_equal(s->value->str, "sq");
    assert_int_equal(s->line, 2);
    assert_int_equal(s->value->col, 3);
    s = xlconv_xlcfg_find(x, "c");
    assert_int_equal(s->value->kind, XLCONV_XLVAL_NUMBER);
    assert_string_equal(s->value->str, "0x1f");
    s = xlconv_xlcfg_find(x, "d");
    assert_int_equal(s->value->kind, XLCONV_XLVAL_LIST);
    assert_int_equal(s->value->n_items, 3);
    assert_int_equal(s->value->items[2]->kind, XLCONV_XLVAL_LIST);
    assert_string_equal(s->value->items[2]->items[0]->str, "three");
    _cleanup_free_ char *f = xlconv_xlval_format(s->value, true);
    assert_string_equal(f, "[ 1, \"two\", [ \"three\" ] ]");
}

static void test_lists_across_lines(void **state)
{
    _cleanup_(xlconv_xlcfg_freep) struct xlconv_xlcfg *x =
        syntax_ok("disk = [\n  'a', # first\n\n  'b',\n  # comment line\n]\nz=1");
    const struct xlconv_xlset *s = xlconv_xlcfg_find(x, "disk");

    assert_int_equal(s->value->n_items, 2);
    assert_string_equal(s->value->items[1]->str, "b");
    assert_int_equal(s->value->items[1]->line, 4);
    assert_non_null(xlconv_xlcfg_find(x, "z"));
}

static void test_comments_and_separators(void **state)
{
    _cleanup_(xlconv_xlcfg_freep) struct xlconv_xlcfg *x =
        syntax_ok("# only a comment\n;;\na=1;b=2 # c = 3\n#d=4");

    assert_int_equal(x->n_settings, 2);
    assert_null(xlconv_xlcfg_find(x, "c"));
    assert_null(xlconv_xlcfg_find(x, "d"));
}

static void test_escapes(void **state)
{
    _cleanup_(xlconv_xlcfg_freep) struct xlconv_xlcfg *x =
        syntax_ok("a = \"q\\\"b\\\\t\\tx\\x41\\066\"\n");
    const char *v = xlconv_xlcfg_find(x, "a")->value->str;

    assert_string_equal(v, "q\"b\\t\txAB");
    _cleanup_free_ char *q = xlconv_xl_quote(v);
    assert_string_equal(q, "\"q\\\"b\\\\t\\txAB\"");
}

static void test_override_and_append(void **state)
{
    _cleanup_(xlconv_xlcfg_freep) struct xlconv_xlcfg *x =
        syntax_ok("m = 1\nm = 2\nl = ['a']\nl += ['b', 'c']\ns = 'x'\ns += 'y'\nn += 'new'\n");

    assert_string_equal(xlconv_xlcfg_find(x, "m")->value->str, "2");
    assert_int_equal(xlconv_xlcfg_find(x, "l")->value->n_items, 3);
    assert_string_equal(xlconv_xlcfg_find(x, "s")->value->str, "xy");
    assert_string_equal(xlconv_xlcfg_find(x, "n")->value->str, "new");
    assert_int_equal(x->n_warnings, 1);
    assert_string_equal(x->warnings[0],
                        "xl.cfg:2:1: 'm' is set again; the value from line 1 is overridden (as "
                        "xl does)");
}

static void test_utf8_kept(void **state)
{
    _cleanup_(xlconv_xlcfg_freep) struct xlconv_xlcfg *x =
        syntax_ok("a = 'caf\xc3\xa9 \xe2\x82\xac'\n");

    assert_string_equal(xlconv_xlcfg_find(x, "a")->value->str, "caf\xc3\xa9 \xe2\x82\xac");
}

static void test_empty_file(void **state)
{
    _cleanup_(xlconv_xlcfg_freep) struct xlconv_xlcfg *x = syntax_ok("");
    assert_int_equal(x->n_settings, 0);
}

static void test_errors_syntax(void **state)
{
    expect_error("name = \"a\"\ndisk = [ 'a', 'b'\nvif = []\n",
                 "xl.cfg:3:1: expected ',' or ']' in the list opened at 2:8, got key 'vif'");
    expect_error("name = \"a\"\ndisk = [ 'a',\n",
                 "xl.cfg:3:1: expected ']' to close the list opened at 2:8, got end of file");
    expect_error("name \"a\"\n", "xl.cfg:1:6: expected '=' after 'name', got string \"a\"");
    expect_error("name = \"abc\n", "xl.cfg:1:8: unterminated string: no closing \" on this line "
                                   "(strings cannot span lines)");
    expect_error("name = 'a'\nmemory = 1.5\n",
                 "xl.cfg:2:10: invalid number '1.5': xl numbers are decimal or 0x hex integers "
                 "(quote other values)");
    expect_error("name = 'a'\nmemory = (1 + 2)\n",
                 "xl.cfg:2:10: unexpected character '(' (xl.cfg is not Python: values are quoted "
                 "strings, integers or [ lists ])");
    expect_error("Name = 'a'\n", "xl.cfg:1:1: invalid key 'Name': keys are a lower-case letter "
                                 "followed by lower-case letters, digits and '_'");
    expect_error("name = 'a' 'b'\n",
                 "xl.cfg:1:12: expected end of line or ';' after the value of 'name', got string "
                 "\"b\"");
    expect_error("name = 'a'\n  = 3\n", "xl.cfg:2:3: expected a key (KEY = VALUE), got '='");
    expect_error("name = 'a\\q'\n", "xl.cfg:1:10: invalid escape '\\q' in string");
    expect_error("x = [ , ]\n",
                 "xl.cfg:1:7: expected a value for 'x' (a quoted string, a number or '['), got "
                 "','");
    expect_error("x = [[[[[1]]]]]\n", "xl.cfg:1:9: lists nested more than 4 deep");
    expect_error("l = [ 'a' ]\nl += 'b'\n", "xl.cfg:2:6: '+=' on 'l': cannot add a string to a "
                                            "list");
    expect_error("a = 'bell\\a'\n", "xl.cfg:1:10: escape produces control character 0x07 "
                                    "(not allowed: domain XML cannot carry it)");
    expect_error("a = 'esc\x1b'\n", "xl.cfg:1:9: control character 0x1b in a string (not "
                                    "allowed: domain XML cannot carry it)");
    expect_error("a = 'caf\xe9'\n", "xl.cfg:1:5: string is not valid UTF-8 (domain XML cannot "
                                    "carry it; convert the file to UTF-8)");
    expect_error("a = \"\\xc3\"\n", "xl.cfg:1:5: string is not valid UTF-8 (domain XML "
                                    "cannot carry it; convert the file to UTF-8)");
    expect_error("a = '\\x4'\n", "xl.cfg:1:6: invalid escape: \\x needs two hex digits");
}

static void test_errors_meaning(void **state)
{
    expect_error("memory = 512\n", "xl.cfg: missing required key 'name'");
    expect_error("name = 'a'\nmemory = \"lots\"\n",
                 "xl.cfg:2:10: memory: 'lots' is not a non-negative integer");
    expect_error("name = 'a'\ntype = 'kvm'\n",
                 "xl.cfg:2:8: type: unknown guest type 'kvm' (pv, pvh, hvm)");
    expect_error("name = 'a'\ndisk = [ 'a.img,raw' ]\n",
                 "xl.cfg:2:10: disk: disk spec 'a.img,raw' has no vdev");
    expect_error("name = 'a'\ndisk = [\n  '/x,raw,xvda',\n  '/y,vmdk,xvdb' ]\n",
                 "xl.cfg:4:3: disk: unknown disk format 'vmdk'");
    expect_error("name = 'a'\ndisk = [ '/x,,xvda', '/y,,xvda' ]\n",
                 "xl.cfg:2:22: disk: vdev 'xvda' used twice");
    expect_error("name = 'a'\nvif = [ 'mac=00:16:3e:zz:00:00' ]\n",
                 "xl.cfg:2:9: vif: invalid vif mac '00:16:3e:zz:00:00' (xx:xx:xx:xx:xx:xx)");
    expect_error("name = 'a'\non_crash = 'explode'\n",
                 "xl.cfg:2:12: on_crash: unknown action 'explode' (destroy, restart, "
                 "rename-restart, preserve, coredump-destroy, coredump-restart, soft-reset)");
    expect_error("name = 'a'\nmemory = 512\nmaxmem = 256\n",
                 "xl.cfg: maxmem (256) is below memory (512)");
    expect_error("name = 'a/b'\n", "xl.cfg:1:8: name: 'a/b' is not a valid ferry domain name "
                                   "(1-64 of A-Z a-z 0-9 _ . + -)");
    expect_error("name = 'a'\ndisk = 'x'\n",
                 "xl.cfg:2:8: disk: expected a list of disk specs, [ '...', ... ]");
    expect_error("name = 'a'\nvcpus = 5000\n", "xl.cfg:2:9: vcpus: 5000 is above the maximum 4096");
}

static void test_source_name_in_errors(void **state)
{
    struct xlconv_config *cfg = NULL;
    struct ferry_error err = {0};
    const char *text = "name = 'a'\nvif = [\n";

    assert_int_equal(xlconv_xlcfg_parse(text, strlen(text), "/etc/xen/a.cfg", &cfg, &err), -EINVAL);
    assert_string_equal(err.msg, "/etc/xen/a.cfg:3:1: expected ']' to close the list opened at "
                                 "2:7, got end of file");
}

static void test_limits(void **state)
{
    struct xlconv_config *cfg = NULL;
    struct ferry_error err = {0};
    size_t big = XLCONV_XLCFG_MAX_BYTES + 1;
    _cleanup_free_ char *text = malloc(big);

    memset(text, '\n', big);
    assert_int_equal(xlconv_xlcfg_parse(text, big, NULL, &cfg, &err), -EFBIG);
    assert_string_equal(err.msg, "xl.cfg: file larger than 1048576 bytes");

    /* A NUL byte is not a way to hide the rest of a file. */
    ferry_error_clear(&err);
    assert_int_equal(xlconv_xlcfg_parse("name = 'a'\n\0x = 1", 18, NULL, &cfg, &err), -EINVAL);
    assert_string_equal(err.msg, "xl.cfg:2:1: NUL byte in file");

    /* More list items than allowed. */
    size_t n = 4 * (XLCONV_XLCFG_MAX_ITEMS + 1) + 16;
    _cleanup_free_ char *list = malloc(n);
    size_t off = (size_t)snprintf(list, n, "l = [");
    for (int i = 0; i <= XLCONV_XLCFG_MAX_ITEMS; i++)
        off += (size_t)snprintf(list + off, n - off, "1,");
    snprintf(list + off, n - off, "]");
    ferry_error_clear(&err);
    assert_int_equal(xlconv_xlcfg_parse(list, strlen(list), NULL, &cfg, &err), -EINVAL);
    assert_string_equal(err.msg, "xl.cfg:1:2054: list has more than 1024 items");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_lists_across_lines),
        cmocka_unit_test(test_comments_and_separators),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_override_and_append),
        cmocka_unit_test(test_utf8_kept),
        cmocka_unit_test(test_empty_file),
        cmocka_unit_test(test_errors_syntax),
        cmocka_unit_test(test_errors_meaning),
        cmocka_unit_test(test_source_name_in_errors),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
