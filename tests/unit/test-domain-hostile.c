/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Domain XML from an attacker: entities (external and exponential), huge
 * documents and attributes, deep nesting, garbage. Each must be refused
 * quickly with a message that says why, and never read a local file. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "domain.h"
#include "util.h"

/* Refused within a second, with NEEDLE in the message. */
static void expect_refused_len(const char *xml, size_t len, const char *needle)
{
    struct domain_def *def = NULL;
    struct ferry_error err = {0};
    int64_t t0 = ferry_now_ms();

    assert_int_equal(domain_def_parse(xml, len, &def, &err), -EINVAL);
    assert_null(def);
    assert_true(ferry_now_ms() - t0 < 1000);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void expect_refused(const char *xml, const char *needle)
{
    expect_refused_len(xml, strlen(xml), needle);
}

static void test_external_entity(void **state)
{
    static const char xml[] = "<?xml version='1.0'?>\n"
                              "<!DOCTYPE domain [\n"
                              "  <!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n"
                              "]>\n"
                              "<domain><name>x</name><memory>1</memory>"
                              "<description>&xxe;</description></domain>";

    expect_refused(xml,
                   "refused a DOCTYPE declaration: DTDs and entity declarations are not accepted");
}

static void test_external_dtd(void **state)
{
    static const char xml[] = "<!DOCTYPE domain SYSTEM \"http://127.0.0.1:9/evil.dtd\">"
                              "<domain><name>x</name><memory>1</memory></domain>";

    expect_refused(xml,
                   "refused a DOCTYPE declaration: DTDs and entity declarations are not accepted");
}

static void test_parameter_entity(void **state)
{
    static const char xml[] = "<!DOCTYPE d [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>"
                              "<domain><name>x</name><memory>1</memory></domain>";

    expect_refused(xml, "DTDs and entity declarations are not accepted");
}

static void test_billion_laughs(void **state)
{
    static const char xml[] =
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE lolz [\n"
        " <!ENTITY lol \"lol\">\n"
        " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
        " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
        " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
        " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
        " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
        " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
        " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
        " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
        "]>\n"
        "<domain><name>x</name><memory>1</memory><description>&lol9;</description></domain>";

    expect_refused(xml,
                   "refused a DOCTYPE declaration: DTDs and entity declarations are not accepted");
}

/* Without a DTD an entity reference is undefined: a well-formedness error,
 * nothing is looked up. */
static void test_undefined_entity(void **state)
{
    expect_refused("<domain><name>x</name><memory>1</memory><description>&xxe;</description>"
                   "</domain>",
                   "invalid XML at line 1");
}

static void test_two_mib_document(void **state)
{
    size_t len = 2 * 1024 * 1024;
    _cleanup_free_ char *xml = malloc(len);
    static const char head[] = "<domain><name>big</name><memory>1</memory><description>";
    static const char tail[] = "</description></domain>";

    memset(xml, 'a', len);
    memcpy(xml, head, sizeof head - 1);
    memcpy(xml + len - (sizeof tail - 1), tail, sizeof tail - 1);
    expect_refused_len(xml, len, "document is 2097152 bytes, more than the 1048576 accepted");
}

static void test_huge_attribute(void **state)
{
    size_t n = 100000;
    _cleanup_free_ char *big = malloc(n + 1);
    _cleanup_free_ char *xml = NULL;

    memset(big, 'x', n);
    big[n] = '\0';
    /* On an element ferry ignores: the limit applies to every string. */
    xml = ferry_strdup_printf("<domain><name>a</name><memory>1</memory>"
                              "<devices><interface type='%s'/></devices></domain>",
                              big);
    expect_refused(xml, "attribute 'type' of <interface> is 100000 bytes long (limit 4096)");
    free(xml);
    big[0] = '/';
    xml = ferry_strdup_printf("<domain><name>a</name><memory>1</memory><devices>"
                              "<disk><source file='%s'/><target dev='vda'/></disk>"
                              "</devices></domain>",
                              big);
    expect_refused(xml, "100000 bytes long");
}

static void test_huge_text(void **state)
{
    size_t n = 5000;
    _cleanup_free_ char *big = malloc(n + 1);
    _cleanup_free_ char *xml = NULL;

    memset(big, 'y', n);
    big[n] = '\0';
    xml = ferry_strdup_printf("<domain><name>a</name><memory>1</memory>"
                              "<description>%s</description></domain>",
                              big);
    expect_refused(xml, "text in <description> is 5000 bytes long (limit 4096)");
}

static void append(char *buf, size_t *n, const char *s)
{
    size_t len = strlen(s);

    memcpy(buf + *n, s, len + 1);
    *n += len;
}

static char *nested(int depth)
{
    size_t cap = (size_t)depth * 8 + 200, n = 0;
    char *xml = ferry_calloc(1, cap);

    append(xml, &n, "<domain><name>a</name><memory>1</memory>");
    for (int i = 0; i < depth; i++)
        append(xml, &n, "<a>");
    for (int i = 0; i < depth; i++)
        append(xml, &n, "</a>");
    append(xml, &n, "</domain>");
    return xml;
}

static void test_deep_nesting(void **state)
{
    _cleanup_free_ char *shallow = nested(DOMAIN_DEPTH_MAX - 1); /* root + 31 = 32 levels */
    _cleanup_free_ char *deep = nested(DOMAIN_DEPTH_MAX);
    _cleanup_free_ char *very_deep = nested(100000);
    struct domain_def *def = NULL;

    assert_int_equal(domain_def_parse(shallow, strlen(shallow), &def, NULL), 0);
    assert_int_equal(def->n_ignored, 1);
    assert_string_equal(def->ignored[0], "a");
    domain_def_free(def);
    expect_refused(deep, "nested deeper than 32 levels");
    /* libxml2's own limit stops this one inside the parser. */
    expect_refused(very_deep, "invalid XML");
}

static void test_garbage(void **state)
{
    static const char bin[] = {'\x7f', 'E', 'L', 'F', '\x02', '\x01', '\x01', '\0', 'x'};

    expect_refused("", "empty document");
    expect_refused("this is not XML at all", "invalid XML at line 1");
    expect_refused("{\"name\": \"json\"}", "invalid XML");
    expect_refused("<domain><name>x</name><memory>1</memory>", "invalid XML");
    expect_refused("<domain><name>x</name></domain><domain/>", "invalid XML");
    expect_refused_len(bin, sizeof bin, "NUL byte");
    expect_refused("<domain><name>\xff\xfe</name><memory>1</memory></domain>", "invalid XML");
    expect_refused("<domain><name>x</name><memory>1</memory><description>a&#1;b</description>"
                   "</domain>",
                   "invalid XML");
    {
        struct domain_def *def = NULL;
        assert_int_equal(domain_def_parse(NULL, 0, &def, NULL), -EINVAL);
    }
}

/* Many ignored kinds of element: accepted, list bounded. */
static void test_ignored_list_bounded(void **state)
{
    _cleanup_free_ char *body = ferry_calloc(1, 200 * 32);
    _cleanup_free_ char *xml = NULL;
    struct domain_def *def = NULL;
    size_t n = 0;

    for (int i = 0; i < 200; i++)
        n += (size_t)sprintf(body + n, "<x%d/>", i);
    xml = ferry_strdup_printf("<domain><name>a</name><memory>1</memory>%s</domain>", body);
    assert_int_equal(domain_def_parse(xml, strlen(xml), &def, NULL), 0);
    assert_int_equal(def->n_ignored, DOMAIN_MAX_IGNORED);
    domain_def_free(def);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_external_entity),      cmocka_unit_test(test_external_dtd),
        cmocka_unit_test(test_parameter_entity),     cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_undefined_entity),     cmocka_unit_test(test_two_mib_document),
        cmocka_unit_test(test_huge_attribute),       cmocka_unit_test(test_huge_text),
        cmocka_unit_test(test_deep_nesting),         cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_ignored_list_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
