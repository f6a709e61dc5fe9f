/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Frame header encoding and validation, JSON payload parsing limits, the
 * payload helpers and the errno <-> code table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "wire.h"

static void good_header(uint8_t buf[WIRE_HEADER_SIZE], uint16_t type, uint32_t flags, uint32_t len)
{
    struct wire_header h = {.magic = WIRE_MAGIC,
                            .version = WIRE_VERSION,
                            .type = type,
                            .flags = flags,
                            .id = 0x01020304,
                            .length = len};
    wire_header_encode(&h, buf);
}

static void test_encode_is_big_endian(void **state)
{
    uint8_t buf[WIRE_HEADER_SIZE];
    static const uint8_t expect[WIRE_HEADER_SIZE] = {
        0x46, 0x52, 0x52, 0x59, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0x00, 0x00,
    };

    good_header(buf, WIRE_CALL, 0, 17);
    assert_memory_equal(buf, expect, sizeof expect);
}

static void test_decode_roundtrip(void **state)
{
    uint8_t buf[WIRE_HEADER_SIZE];
    struct wire_header h;
    struct ferry_error err = {0};

    good_header(buf, WIRE_DATA, WIRE_FLAG_EOF, WIRE_MAX_PAYLOAD);
    assert_int_equal(wire_header_decode(buf, &h, &err), 0);
    assert_int_equal(h.magic, WIRE_MAGIC);
    assert_int_equal(h.type, WIRE_DATA);
    assert_int_equal(h.flags, WIRE_FLAG_EOF);
    assert_int_equal(h.id, 0x01020304);
    assert_int_equal(h.length, WIRE_MAX_PAYLOAD);
    assert_false(ferry_error_is_set(&err));
}

static void expect_decode(uint8_t buf[WIRE_HEADER_SIZE], int code, const char *needle)
{
    struct wire_header h;
    struct ferry_error err = {0};

    assert_int_equal(wire_header_decode(buf, &h, &err), code);
    assert_int_equal(err.code, -code);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void test_decode_bad_magic(void **state)
{
    uint8_t buf[WIRE_HEADER_SIZE];

    good_header(buf, WIRE_CALL, 0, 2);
    memcpy(buf, "GET ", 4);
    expect_decode(buf, -EPROTO, "bad magic");
}

static void test_decode_bad_version(void **state)
{
    uint8_t buf[WIRE_HEADER_SIZE];

    good_header(buf, WIRE_CALL, 0, 2);
    buf[5] = 2;
    expect_decode(buf, -EPROTO, "frame version 2");
}

static void test_decode_bad_type(void **state)
{
    uint8_t buf[WIRE_HEADER_SIZE];

    good_header(buf, 0, 0, 2);
    expect_decode(buf, -EPROTO, "unknown frame type 0");
    good_header(buf, 9, 0, 2);
    expect_decode(buf, -EPROTO, "unknown frame type 9");
}

/* PING and PONG carry nothing: a payload on one is a bad frame. */
static void test_decode_keepalive(void **state)
{
    uint8_t buf[WIRE_HEADER_SIZE];
    struct wire_header h;
    struct ferry_error err = {0};

    good_header(buf, WIRE_PING, 0, 0);
    assert_int_equal(wire_header_decode(buf, &h, &err), 0);
    assert_int_equal(h.type, WIRE_PING);
    good_header(buf, WIRE_PONG, 0, 0);
    assert_int_equal(wire_header_decode(buf, &h, &err), 0);
    good_header(buf, WIRE_PONG, 0, 1);
    expect_decode(buf, -EMSGSIZE, "limit of 0");
    good_header(buf, WIRE_PING, WIRE_FLAG_EOF, 0);
    expect_decode(buf, -EPROTO, "non-DATA");
}

static void test_decode_bad_flags(void **state)
{
    uint8_t buf[WIRE_HEADER_SIZE];

    good_header(buf, WIRE_DATA, 1u << 5, 2);
    expect_decode(buf, -EPROTO, "unknown flags 0x20");
    good_header(buf, WIRE_CALL, WIRE_FLAG_EOF, 2);
    expect_decode(buf, -EPROTO, "non-DATA");
}

static void test_decode_reserved(void **state)
{
    uint8_t buf[WIRE_HEADER_SIZE];

    good_header(buf, WIRE_CALL, 0, 2);
    buf[23] = 1;
    expect_decode(buf, -EPROTO, "reserved");
}

static void test_decode_lengths(void **state)
{
    uint8_t buf[WIRE_HEADER_SIZE];
    struct wire_header h;

    good_header(buf, WIRE_REPLY, 0, WIRE_MAX_JSON);
    assert_int_equal(wire_header_decode(buf, &h, NULL), 0);
    good_header(buf, WIRE_REPLY, 0, WIRE_MAX_JSON + 1);
    expect_decode(buf, -EMSGSIZE, "exceeds the limit");
    /* -EMSGSIZE still fills the header, so the reply can carry the id. */
    memset(&h, 0, sizeof h);
    assert_int_equal(wire_header_decode(buf, &h, NULL), -EMSGSIZE);
    assert_int_equal(h.id, 0x01020304);
    good_header(buf, WIRE_DATA, 0, WIRE_MAX_JSON + 1);
    assert_int_equal(wire_header_decode(buf, &h, NULL), 0);
    good_header(buf, WIRE_DATA, 0, WIRE_MAX_PAYLOAD + 1);
    expect_decode(buf, -EMSGSIZE, "exceeds the limit");
    good_header(buf, WIRE_DATA, 0, UINT32_MAX);
    expect_decode(buf, -EMSGSIZE, "exceeds the limit");
}

static int parse(const char *s, struct json_object **ret, struct ferry_error *err)
{
    return wire_json_parse(s, strlen(s), ret, err);
}

static void test_json_object_ok(void **state)
{
    _cleanup_(json_object_putp) struct json_object *o = NULL;
    struct json_object *v;

    assert_int_equal(parse("{\"method\": \"x\", \"params\": {\"a\": [1, 2]}}\n", &o, NULL), 0);
    assert_true(json_object_object_get_ex(o, "method", &v));
    assert_string_equal(json_object_get_string(v), "x");
}

static void expect_bad(const char *s, size_t len, int code, const char *needle)
{
    struct json_object *o = NULL;
    struct ferry_error err = {0};

    assert_int_equal(wire_json_parse(s, len, &o, &err), code);
    assert_null(o);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void test_json_rejects(void **state)
{
    expect_bad("", 0, -EBADMSG, "empty");
    expect_bad("[1, 2]", 6, -EBADMSG, "not an object");
    expect_bad("\"str\"", 5, -EBADMSG, "not an object");
    expect_bad("{\"a\": 1", 7, -EBADMSG, "truncated");
    expect_bad("{\"a\": 1}{\"b\": 2}", 16, -EBADMSG, "at byte 8");
    expect_bad("{\"a\": 1}\0garbage", 16, -EBADMSG, "at byte 8");
    expect_bad("{a: 1}", 6, -EBADMSG, "invalid JSON");
    expect_bad("{\"a\": \"\xff\xfe\"}", 11, -EBADMSG, "invalid JSON");
    expect_bad("{\"a\": 1,}", 9, -EBADMSG, "invalid JSON");
}

static void test_json_depth_limit(void **state)
{
    char buf[256];
    size_t n = 0;
    struct json_object *o = NULL;

    /* WIRE_MAX_DEPTH - 1 nested arrays inside the object: accepted. */
    buf[n++] = '{';
    memcpy(buf + n, "\"a\":", 4);
    n += 4;
    for (int i = 0; i < WIRE_MAX_DEPTH - 1; i++)
        buf[n++] = '[';
    for (int i = 0; i < WIRE_MAX_DEPTH - 1; i++)
        buf[n++] = ']';
    buf[n++] = '}';
    assert_int_equal(wire_json_parse(buf, n, &o, NULL), 0);
    json_object_put(o);

    n = 0;
    buf[n++] = '{';
    memcpy(buf + n, "\"a\":", 4);
    n += 4;
    for (int i = 0; i < WIRE_MAX_DEPTH; i++)
        buf[n++] = '[';
    for (int i = 0; i < WIRE_MAX_DEPTH; i++)
        buf[n++] = ']';
    buf[n++] = '}';
    expect_bad(buf, n, -EBADMSG, "nesting too deep");
}

static void test_json_size_limit(void **state)
{
    size_t len = WIRE_MAX_JSON + 1;
    _cleanup_free_ char *big = malloc(len);

    memset(big, ' ', len);
    big[0] = '{';
    big[1] = '}';
    expect_bad(big, len, -EMSGSIZE, "exceeds the limit");
    /* At the limit, trailing whitespace is fine. */
    {
        struct json_object *o = NULL;
        assert_int_equal(wire_json_parse(big, len - 1, &o, NULL), 0);
        json_object_put(o);
    }
}

static void test_make_helpers(void **state)
{
    _cleanup_(json_object_putp) struct json_object *call = wire_make_call("domain-list", NULL);
    _cleanup_(json_object_putp) struct json_object *reply = wire_make_reply(NULL);
    _cleanup_(json_object_putp) struct json_object *e =
        wire_make_error("not-found", ENOENT, "domain 'x' not found");
    struct ferry_error err = {0};
    const char *method;
    struct json_object *params;

    assert_string_equal(json_object_to_json_string_ext(call, JSON_C_TO_STRING_PLAIN),
                        "{\"method\":\"domain-list\",\"params\":{}}");
    assert_string_equal(json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN),
                        "{\"result\":{}}");
    assert_string_equal(
        json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN),
        "{\"error\":{\"code\":\"not-found\",\"errno\":2,\"message\":\"domain 'x' not found\"}}");
    assert_int_equal(wire_call_parse(call, &method, &params, NULL), 0);
    assert_string_equal(method, "domain-list");
    assert_true(json_object_is_type(params, json_type_object));
    assert_int_equal(wire_error_parse(e, &err), -ENOENT);
    assert_string_equal(err.msg, "domain 'x' not found");
}

static void test_call_parse_rejects(void **state)
{
    _cleanup_(json_object_putp) struct json_object *o = json_object_new_object();
    struct ferry_error err = {0};
    const char *m;
    struct json_object *p;

    assert_int_equal(wire_call_parse(o, &m, &p, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "method"));
    json_object_object_add(o, "method", json_object_new_string("x"));
    json_object_object_add(o, "params", json_object_new_int(3));
    ferry_error_clear(&err);
    assert_int_equal(wire_call_parse(o, &m, &p, &err), -EPROTO);
    assert_non_null(strstr(err.msg, "params"));
    /* A missing "params" becomes an empty object. */
    json_object_object_del(o, "params");
    assert_int_equal(wire_call_parse(o, &m, &p, NULL), 0);
    assert_int_equal(json_object_object_length(p), 0);
}

static void test_error_parse_code_only(void **state)
{
    _cleanup_(json_object_putp) struct json_object *o = NULL;
    struct ferry_error err = {0};

    assert_int_equal(parse("{\"error\": {\"code\": \"busy\", \"message\": \"m\"}}", &o, NULL), 0);
    assert_int_equal(wire_error_parse(o, &err), -EBUSY);
    json_object_put(o);
    o = NULL;
    assert_int_equal(parse("{\"error\": {\"code\": \"new-code\", \"errno\": -5}}", &o, NULL), 0);
    ferry_error_clear(&err);
    assert_int_equal(wire_error_parse(o, &err), -EIO);
    json_object_put(o);
    o = NULL;
    assert_int_equal(parse("{\"result\": {}}", &o, NULL), 0);
    ferry_error_clear(&err);
    assert_int_equal(wire_error_parse(o, &err), -EPROTO);
}

static void test_errno_codes(void **state)
{
    static const struct {
        int e;
        const char *code;
    } t[] = {
        {EINVAL, "invalid-argument"},
        {ENOENT, "not-found"},
        {EEXIST, "exists"},
        {EBUSY, "busy"},
        {EOPNOTSUPP, "unsupported"},
        {ETIMEDOUT, "timeout"},
        {EIO, "io-error"},
        {EPROTO, "protocol-error"},
        {EBADMSG, "protocol-error"},
        {EACCES, "permission-denied"},
        {EPERM, "permission-denied"},
        {ENOMEM, "internal-error"},
        {ECANCELED, "cancelled"},
        {EXDEV, "operation-failed"},
        {0, "operation-failed"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
        assert_string_equal(wire_errno_code(-t[i].e), t[i].code);
        assert_string_equal(wire_errno_code(t[i].e), t[i].code);
    }
    assert_int_equal(wire_code_errno("invalid-argument"), EINVAL);
    assert_int_equal(wire_code_errno("not-found"), ENOENT);
    assert_int_equal(wire_code_errno("protocol-error"), EPROTO);
    assert_int_equal(wire_code_errno("timeout"), ETIMEDOUT);
    assert_int_equal(wire_code_errno("no-such-code"), EIO);
    assert_int_equal(wire_code_errno(NULL), EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_is_big_endian), cmocka_unit_test(test_decode_roundtrip),
        cmocka_unit_test(test_decode_bad_magic),     cmocka_unit_test(test_decode_bad_version),
        cmocka_unit_test(test_decode_bad_type),      cmocka_unit_test(test_decode_keepalive),
        cmocka_unit_test(test_decode_bad_flags),     cmocka_unit_test(test_decode_reserved),
        cmocka_unit_test(test_decode_lengths),       cmocka_unit_test(test_json_object_ok),
        cmocka_unit_test(test_json_rejects),         cmocka_unit_test(test_json_depth_limit),
        cmocka_unit_test(test_json_size_limit),      cmocka_unit_test(test_make_helpers),
        cmocka_unit_test(test_call_parse_rejects),   cmocka_unit_test(test_error_parse_code_only),
        cmocka_unit_test(test_errno_codes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
