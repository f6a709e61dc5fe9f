/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* HELLO payloads: round trip, version negotiation, and every bound a peer
 * could push against. */
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
#include "json-cleanup.h"
#include "util.h"
#include "wire.h"

static struct json_object *parse(const char *s)
{
    struct json_object *o = NULL;

    assert_int_equal(wire_json_parse(s, strlen(s), &o, NULL), 0);
    return o;
}

static void expect_refused(const char *json, const char *needle)
{
    _cleanup_(json_object_putp) struct json_object *o = parse(json);
    struct wire_hello h;
    struct ferry_error err = {0};

    memset(&h, 0x5a, sizeof h);
    assert_int_equal(wire_hello_from_json(o, &h, &err), -EPROTO);
    if (!strstr(err.msg, needle))
        fail_msg("'%s' lacks '%s'", err.msg, needle);
    /* ret untouched on failure */
    assert_int_equal(((unsigned char *)&h)[0], 0x5a);
}

static void test_roundtrip(void **state)
{
    struct wire_hello a = {.versions = 1u << 2 | 1u << 3};
    struct wire_hello b;
    _cleanup_(json_object_putp) struct json_object *o = NULL;

    strcpy(a.role, "agent");
    strcpy(a.host, "src.example");
    ferry_uuid_generate(a.host_uuid);
    strcpy(a.agent_version, "0.1.0");
    assert_int_equal(wire_hello_add_feature(&a, "v3"), 0);
    assert_int_equal(wire_hello_add_feature(&a, "nbd"), 0);
    assert_int_equal(wire_hello_add_feature(&a, "nbd"), 0);
    assert_int_equal(a.n_features, 2);

    o = wire_hello_to_json(&a);
    assert_int_equal(wire_hello_from_json(o, &b, NULL), 0);
    assert_string_equal(b.role, "agent");
    assert_string_equal(b.host, "src.example");
    assert_string_equal(b.host_uuid, a.host_uuid);
    assert_string_equal(b.agent_version, "0.1.0");
    assert_int_equal(b.versions, a.versions);
    assert_int_equal(b.n_features, 2);
    assert_true(wire_hello_has_feature(&b, "nbd"));
    assert_false(wire_hello_has_feature(&b, "tunnel"));
}

static void test_minimal_client(void **state)
{
    _cleanup_(json_object_putp) struct json_object *o =
        parse("{\"role\": \"client\", \"host\": \"h\", \"versions\": [3, 7, 1], \"x\": 1}");
    struct wire_hello h;

    assert_int_equal(wire_hello_from_json(o, &h, NULL), 0);
    assert_string_equal(h.host_uuid, "");
    assert_int_equal(h.n_features, 0);
    /* 7 is a newer peer's version: skipped, not refused. */
    assert_int_equal(h.versions, 1u << 1 | 1u << 3);
}

static void test_negotiate(void **state)
{
    struct wire_hello a = {.versions = 1u << 1 | 1u << 2 | 1u << 3};
    struct wire_hello b = {.versions = 1u << 1 | 1u << 2};
    struct wire_hello c = {.versions = 1u << 3};

    assert_int_equal(wire_hello_negotiate(&a, &b), 2);
    assert_int_equal(wire_hello_negotiate(&a, &c), 3);
    assert_int_equal(wire_hello_negotiate(&b, &c), 0);
}

static void test_refusals(void **state)
{
    expect_refused("{\"host\": \"h\", \"versions\": [1]}", "\"role\" missing");
    expect_refused("{\"role\": \"Agent\", \"host\": \"h\", \"versions\": [1]}", "[a-z0-9-]");
    expect_refused("{\"role\": \"agent-role-too-long\", \"host\": \"h\", \"versions\": [1]}",
                   "\"role\" must be 1..15");
    expect_refused("{\"role\": \"agent\", \"versions\": [1]}", "\"host\" missing");
    expect_refused("{\"role\": \"agent\", \"host\": 5, \"versions\": [1]}", "not a string");
    expect_refused("{\"role\": \"agent\", \"host\": \"\", \"versions\": [1]}", "\"host\" must be");
    expect_refused("{\"role\": \"agent\", \"host\": \"a\\nb\", \"versions\": [1]}",
                   "non-printable");
    expect_refused("{\"role\": \"agent\", \"host\": \"a\\u0000b\", \"versions\": [1]}",
                   "non-printable");
    expect_refused("{\"role\": \"agent\", \"host\": \"h\", \"host_uuid\": \"xyz\", \"versions\": "
                   "[1]}",
                   "not a UUID");
    expect_refused("{\"role\": \"agent\", \"host\": \"h\"}", "\"versions\" missing");
    expect_refused("{\"role\": \"agent\", \"host\": \"h\", \"versions\": []}", "1..16 versions");
    expect_refused("{\"role\": \"agent\", \"host\": \"h\", \"versions\": [0]}", "is not >= 1");
    expect_refused("{\"role\": \"agent\", \"host\": \"h\", \"versions\": [\"3\"]}",
                   "not an integer");
    expect_refused("{\"role\": \"agent\", \"host\": \"h\", \"versions\": [1.5]}", "not an integer");
    expect_refused("{\"role\": \"agent\", \"host\": \"h\", \"versions\": [1], \"features\": {}}",
                   "not an array");
    expect_refused("{\"role\": \"agent\", \"host\": \"h\", \"versions\": [1], \"features\": [1]}",
                   "not a string");
    expect_refused("{\"role\": \"agent\", \"host\": \"h\", \"versions\": [1], \"features\": "
                   "[\"\"]}",
                   "1..31 characters");
    expect_refused("{\"role\": \"agent\", \"host\": \"h\", \"versions\": [1], \"features\": "
                   "[\"abcdefghijklmnopqrstuvwxyz0123456\"]}",
                   "1..31 characters");
}

static void test_host_length_bound(void **state)
{
    char json[600];
    char host[300];

    memset(host, 'a', 256);
    host[256] = '\0';
    snprintf(json, sizeof json, "{\"role\": \"agent\", \"host\": \"%s\", \"versions\": [1]}", host);
    expect_refused(json, "\"host\" must be 1..255 characters, not 256");
    host[255] = '\0';
    snprintf(json, sizeof json, "{\"role\": \"agent\", \"host\": \"%s\", \"versions\": [1]}", host);
    {
        _cleanup_(json_object_putp) struct json_object *o = parse(json);
        struct wire_hello h;
        assert_int_equal(wire_hello_from_json(o, &h, NULL), 0);
        assert_int_equal(strlen(h.host), 255);
    }
}

static void test_feature_count_bound(void **state)
{
    _cleanup_(json_object_putp) struct json_object *o =
        parse("{\"role\": \"agent\", \"host\": \"h\", \"versions\": [1]}");
    struct json_object *f = json_object_new_array();
    struct wire_hello h;
    struct ferry_error err = {0};
    char name[32];

    json_object_object_add(o, "features", f);
    for (int i = 0; i < WIRE_MAX_FEATURES; i++) {
        snprintf(name, sizeof name, "f%d", i);
        json_object_array_add(f, json_object_new_string(name));
    }
    assert_int_equal(wire_hello_from_json(o, &h, NULL), 0);
    assert_int_equal(h.n_features, WIRE_MAX_FEATURES);
    json_object_array_add(f, json_object_new_string("one-too-many"));
    assert_int_equal(wire_hello_from_json(o, &h, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "65 features"));
    assert_int_equal(wire_hello_add_feature(&h, "another"), -E2BIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),         cmocka_unit_test(test_minimal_client),
        cmocka_unit_test(test_negotiate),         cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_host_length_bound), cmocka_unit_test(test_feature_count_bound),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
