/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* HELLO's shared-key authentication pieces: proofs match an independent
 * HMAC-SHA256 (Python's hmac, values below), sides and uuids change them,
 * key files are refused when open to others, short or absent, and the
 * "auth" member is bounded. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "cleanup.h"
#include "json-cleanup.h"
#include "util.h"
#include "wire.h"

static char dir[] = "/tmp/ferry-unit-auth-XXXXXX";

static char *write_key(const char *name, const char *content, mode_t mode)
{
    char *path = ferry_strdup_printf("%s/%s", dir, name);
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_proof_known_answer(void **state)
{
    _cleanup_free_ char *path = NULL;
    struct wire_auth_key *k = NULL;
    uint8_t nc[32], ns[32], p[32], q[32];
    char out[65];

    (void)state;
    path = write_key("k", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\n", 0600);
    assert_int_equal(wire_auth_key_load(path, &k, NULL), 0);
    assert_int_equal(k->len, 40); /* the newline is not key material */
    for (int i = 0; i < 32; i++) {
        nc[i] = (uint8_t)i;
        ns[i] = (uint8_t)(32 + i);
    }
    wire_auth_proof(k, WIRE_AUTH_SIDE_CLIENT, nc, ns, "3f0c9a5e-1f2b-4c3d-8e9f-0a1b2c3d4e5f", p);
    hex(p, 32, out);
    assert_string_equal(out, "f5a3d4ae790666df9616044d431560e5a50047951f3b3227dc9965ae746d54b6");
    wire_auth_proof(k, WIRE_AUTH_SIDE_SERVER, nc, ns, "", q);
    hex(q, 32, out);
    assert_string_equal(out, "1556f60d73ce945f9fb9c1b3997e451910195c7ef31364950edb81cf682a1d17");
    assert_false(wire_auth_proof_equal(p, q));
    memcpy(q, p, 32);
    assert_true(wire_auth_proof_equal(p, q));
    q[31] ^= 1;
    assert_false(wire_auth_proof_equal(p, q));
    wire_auth_key_free(k);
}

static void test_key_files_refused(void **state)
{
    _cleanup_free_ char *open_key = write_key("open", "0123456789abcdef0123456789abcdef\n", 0640);
    _cleanup_free_ char *short_key = write_key("short", "0123456789abcdef0123456789abcde \n", 0600);
    _cleanup_free_ char *missing = ferry_strdup_printf("%s/missing", dir);
    struct wire_auth_key *k = NULL;
    struct ferry_error err = {0};

    (void)state;
    assert_int_equal(wire_auth_key_load(open_key, &k, &err), -EPERM);
    assert_non_null(strstr(err.msg, "chmod 600"));
    assert_null(k);
    ferry_error_clear(&err);
    assert_int_equal(wire_auth_key_load(short_key, &k, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "31 bytes"));
    ferry_error_clear(&err);
    assert_int_equal(wire_auth_key_load(missing, &k, &err), -ENOENT);
    assert_non_null(strstr(err.msg, missing));
    ferry_error_clear(&err);
    assert_int_equal(wire_auth_key_load(dir, &k, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "not a regular file"));
    assert_null(k);
}

static void test_auth_member_bounds(void **state)
{
    static const struct {
        const char *json;
        int r;
    } cases[] = {
        {"{}", -ENOENT},
        {"{\"auth\": 1}", -EPROTO},
        {"{\"auth\": {\"nonce\": \"00\"}}", -EPROTO},
        {"{\"auth\": {\"scheme\": \"hmac-md5\"}}", -EPROTO},
        {"{\"auth\": {\"scheme\": \"hmac-sha256\"}}", -EPROTO},
        {"{\"auth\": {\"scheme\": \"hmac-sha256\", \"nonce\": 5}}", -EPROTO},
        {"{\"auth\": {\"scheme\": \"hmac-sha256\", \"nonce\": "
         "\"000000000000000000000000000000000000000000000000000000000000000g\"}}",
         -EPROTO},
        {"{\"auth\": {\"scheme\": \"hmac-sha256\", \"nonce\": "
         "\"00000000000000000000000000000000000000000000000000000000000000\"}}",
         -EPROTO},
        {"{\"auth\": {\"scheme\": \"hmac-sha256\", \"nonce\": "
         "\"00000000000000000000000000000000000000000000000000000000000000FF\"}}",
         0},
    };
    uint8_t n[32];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        _cleanup_(json_object_putp) struct json_object *o = NULL;
        assert_int_equal(wire_json_parse(cases[i].json, strlen(cases[i].json), &o, NULL), 0);
        if (wire_auth_get(o, "nonce", n, NULL) != cases[i].r)
            fail_msg("case %zu: %s", i, cases[i].json);
    }
    assert_int_equal(n[31], 0xff);
}

static void test_nonces_differ(void **state)
{
    uint8_t a[32], b[32];

    (void)state;
    assert_int_equal(wire_auth_nonce(a, NULL), 0);
    assert_int_equal(wire_auth_nonce(b, NULL), 0);
    assert_memory_not_equal(a, b, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proof_known_answer),
        cmocka_unit_test(test_key_files_refused),
        cmocka_unit_test(test_auth_member_bounds),
        cmocka_unit_test(test_nonces_differ),
    };
    int r;

    if (!mkdtemp(dir))
        return 1;
    r = cmocka_run_group_tests(tests, NULL, NULL);
    for (const char *const *n = (const char *const[]){"k", "open", "short", NULL}; *n; n++) {
        _cleanup_free_ char *p = ferry_strdup_printf("%s/%s", dir, *n);
        unlink(p);
    }
    rmdir(dir);
    return r;
}
