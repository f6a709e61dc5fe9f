/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* common/xml.c, the one hardened XML parser entry: every protection refuses
 * with its own fault code and message, and the caller's limits are honoured
 * exactly at their boundary (one under passes, one over fails). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "xml-cleanup.h"
#include "xml.h"

static const struct ferry_xml_limits small = {.max_bytes = 4096, .max_depth = 4, .max_string = 16};

/* Parses XML with SMALL limits, expecting refusal with FAULT and a message
 * containing NEEDLE; *ret must stay untouched. */
static void refused(const char *xml, size_t len, enum ferry_xml_fault fault, const char *needle)
{
    struct ferry_error err = {0};
    struct ferry_xml_failure why;
    xmlDoc *doc = (xmlDoc *)&err; /* a sentinel: must not be overwritten */

    assert_true(ferry_xml_parse(xml, len, &small, "test XML", &doc, &why, &err) < 0);
    assert_ptr_equal(doc, (xmlDoc *)&err);
    assert_int_equal(why.fault, fault);
    if (!strstr(err.msg, needle))
        fail_msg("'%s' does not contain '%s'", err.msg, needle);
    assert_int_equal(strncmp(err.msg, "test XML: ", 10), 0);
}

static void accepted(const char *xml)
{
    struct ferry_error err = {0};
    _cleanup_(xmlFreeDocp) xmlDoc *doc = NULL;

    if (ferry_xml_parse(xml, strlen(xml), &small, "test XML", &doc, NULL, &err) < 0)
        fail_msg("refused: %s", err.msg);
    assert_non_null(doc);
}

static void test_plain_document(void **state)
{
    accepted("<a x='1'><b>text</b><!-- c --><?pi x?></a>");
}

static void test_empty_and_nul(void **state)
{
    refused("", 0, FERRY_XML_FAULT_EMPTY, "empty document");
    refused("<a>\0</a>", 8, FERRY_XML_FAULT_NUL, "NUL byte");
}

static void test_size_limit(void **state)
{
    char *big = malloc(small.max_bytes + 2);
    size_t n;

    assert_non_null(big);
    /* Exactly max_bytes: accepted. */
    /* Many short elements: no single string reaches max_string. */
    n = (size_t)snprintf(big, small.max_bytes + 1, "<a>");
    while (n + 4 <= small.max_bytes - 4) {
        memcpy(big + n, "<b/>", 4);
        n += 4;
    }
    while (n < small.max_bytes - 4)
        big[n++] = ' ';
    memcpy(big + n, "</a>", 5);
    assert_int_equal(strlen(big), small.max_bytes);
    accepted(big);
    /* One more byte: refused before libxml2 reads anything. */
    memcpy(big + n, " </a>", 6);
    refused(big, strlen(big), FERRY_XML_FAULT_TOO_LARGE, "more than the 4096 accepted");
    free(big);
}

static void test_doctype_and_entities(void **state)
{
    static const char *const docs[] = {
        "<!DOCTYPE a><a/>",
        "<!DOCTYPE a [ <!ENTITY x 'y'> ]><a>&x;</a>",
        "<!DOCTYPE a [ <!ENTITY x SYSTEM 'file:///etc/passwd'> ]><a>&x;</a>",
        "<!DOCTYPE a SYSTEM 'http://127.0.0.1:1/a.dtd'><a/>",
        "<!DOCTYPE a [ <!ENTITY l0 'aaaaaaaaaa'> <!ENTITY l1 '&l0;&l0;&l0;'> ]><a>&l1;</a>",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++)
        refused(docs[i], strlen(docs[i]), FERRY_XML_FAULT_DOCTYPE,
                "DTDs and entity declarations are not accepted");
}

static void test_malformed_reports_line(void **state)
{
    struct ferry_error err = {0};
    struct ferry_xml_failure why;
    xmlDoc *doc = NULL;
    const char *xml = "<a>\n<b>\n</a>";

    assert_int_equal(ferry_xml_parse(xml, strlen(xml), &small, "test XML", &doc, &why, &err),
                     -EINVAL);
    assert_null(doc);
    assert_int_equal(why.fault, FERRY_XML_FAULT_MALFORMED);
    assert_int_equal(why.line, 3);
    assert_non_null(strstr(err.msg, "invalid XML at line 3"));
    assert_true(why.message[0] && why.message[strlen(why.message) - 1] != '\n');
    /* An undefined entity is an error, never an expansion. */
    refused("<a>&undefined;</a>", 18, FERRY_XML_FAULT_MALFORMED, "undefined");
}

static void test_depth_limit(void **state)
{
    accepted("<a><b><c><d/></c></b></a>"); /* 4 levels: the limit */
    const char *deep = "<a><b><c><d><e/></d></c></b></a>";
    refused(deep, strlen(deep), FERRY_XML_FAULT_LIMIT, "nested deeper than 4 levels (at <e>)");
}

static void test_string_limits(void **state)
{
    accepted("<a x='0123456789abcdef'>0123456789abcdef</a>"); /* 16 bytes each */
    const char *attr = "<a x='0123456789abcdefg'/>";
    refused(attr, strlen(attr), FERRY_XML_FAULT_LIMIT,
            "attribute 'x' of <a> is 17 bytes long (limit 16)");
    const char *txt = "<a>0123456789abcdefg</a>";
    refused(txt, strlen(txt), FERRY_XML_FAULT_LIMIT, "text in <a> is 17 bytes long (limit 16)");
    /* CDATA is text too (merged by NOCDATA) and counts the same. */
    const char *cdata = "<a><![CDATA[0123456789abcdefg]]></a>";
    refused(cdata, strlen(cdata), FERRY_XML_FAULT_LIMIT, "17 bytes long (limit 16)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_document),
        cmocka_unit_test(test_empty_and_nul),
        cmocka_unit_test(test_size_limit),
        cmocka_unit_test(test_doctype_and_entities),
        cmocka_unit_test(test_malformed_reports_line),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_string_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
