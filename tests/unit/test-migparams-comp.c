/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* --compressed, --zerocopy and --synchronous-writes: their parameters in
 * JSON, every combination refused by name (the agent's check, the same one
 * ferryctl runs), and what the QEMU driver gives each QEMU: capabilities
 * and parameters for the source and the destination, and the job
 * statistics it takes from query-migrate. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "migparams.h"
#include "qemu-priv.h"

/* The agent library names the driver table only through this (ferryd
 * links agent/drivers.c); nothing here needs a driver. */

static int params_from(const char *text, struct mig_params *p, struct ferry_error *err)
{
    json_object *o = json_tokener_parse(text);
    int r;

    assert_non_null(o);
    r = mig_params_from_json(o, p, err);
    json_object_put(o);
    return r;
}

static void test_json_round_trip(void **state)
{
    struct mig_params p, q;
    json_object *o;

    (void)state;
    assert_int_equal(params_from("{\"flags\": [\"live\", \"compressed\", \"zerocopy\", "
                                 "\"non_shared_synchronous_writes\"], "
                                 "\"compression\": [\"mt\", \"xbzrle\"], "
                                 "\"compression_xbzrle_cache\": 1048576, "
                                 "\"compression_mt_level\": 0, \"compression_mt_threads\": 3, "
                                 "\"compression_mt_dthreads\": 2, "
                                 "\"compression_zlib_level\": 9, \"compression_zstd_level\": 20}",
                                 &p, NULL),
                     0);
    assert_int_equal(p.flags,
                     MIG_LIVE | MIG_COMPRESSED | MIG_ZEROCOPY | MIG_NON_SHARED_SYNCHRONOUS_WRITES);
    assert_int_equal(p.comp_methods, MIG_COMP_MT | MIG_COMP_XBZRLE);
    assert_int_equal(p.comp_xbzrle_cache, 1048576);
    assert_true(p.has_comp_mt_level);
    assert_int_equal(p.comp_mt_level, 0);
    assert_int_equal(p.comp_mt_threads, 3);
    assert_int_equal(p.comp_mt_dthreads, 2);
    assert_int_equal(p.comp_zlib_level, 9);
    assert_int_equal(p.comp_zstd_level, 20);
    o = mig_params_to_json(&p);
    assert_int_equal(mig_params_from_json(o, &q, NULL), 0);
    json_object_put(o);
    assert_int_equal(q.flags, p.flags);
    assert_int_equal(q.comp_methods, p.comp_methods);
    assert_int_equal(q.comp_xbzrle_cache, 1048576);
    assert_true(q.has_comp_mt_level && q.has_comp_mt_threads && q.has_comp_mt_dthreads &&
                q.has_comp_zlib_level && q.has_comp_zstd_level);
    assert_int_equal(q.comp_mt_level, 0);
    assert_int_equal(q.comp_zstd_level, 20);
    mig_params_clear(&p);
    mig_params_clear(&q);
    /* libvirt's numbers in an integer bitmask: 1<<11, 1<<18, 1<<20. */
    assert_int_equal(params_from("{\"flags\": 1312769}", &p, NULL), 0);
    assert_int_equal(p.flags,
                     MIG_LIVE | MIG_COMPRESSED | MIG_NON_SHARED_SYNCHRONOUS_WRITES | MIG_ZEROCOPY);
    assert_string_equal(mig_flag_name(MIG_ZEROCOPY), "zerocopy");
    /* A comma-separated string is taken too; no options, no members. */
    assert_int_equal(params_from("{\"compression\": \"zlib\"}", &p, NULL), 0);
    assert_int_equal(p.comp_methods, MIG_COMP_ZLIB);
    mig_params_clear(&p);
    p = (struct mig_params){.flags = MIG_LIVE};
    o = mig_params_to_json(&p);
    assert_null(json_object_object_get(o, "compression"));
    assert_null(json_object_object_get(o, "compression_mt_level"));
    json_object_put(o);
}

static void test_json_bad(void **state)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"{\"compression\": [\"lz4\"]}", "unsupported compression method 'lz4'"},
        {"{\"compression\": \"mt,mt\"}", "'mt' is specified twice"},
        {"{\"compression\": []}", "must be an array of method names"},
        {"{\"compression\": [1]}", "must contain strings"},
        {"{\"compression\": \"\"}", "at least one method"},
        {"{\"compression_mt_level\": 10}", "'compression_mt_level' out of range (0-9)"},
        {"{\"compression_mt_threads\": 0}", "out of range (1-255)"},
        {"{\"compression_mt_dthreads\": 256}", "out of range (1-255)"},
        {"{\"compression_zlib_level\": -1}", "out of range (0-9)"},
        {"{\"compression_zstd_level\": 21}", "out of range (0-20)"},
        {"{\"compression_zstd_level\": \"3\"}", "must be an integer"},
        {"{\"compression_xbzrle_cache\": 0}", "'compression_xbzrle_cache' out of range"},
        {"{\"compression_level\": 1}", "unknown migration parameter 'compression_level'"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ferry_error err = {0};
        struct mig_params p;
        int r = params_from(cases[i].json, &p, &err);

        if (r == 0 || !strstr(ferry_error_msg(&err), cases[i].msg))
            fprintf(stderr, "case %zu: got %d '%s', want '%s'\n", i, r, ferry_error_msg(&err),
                    cases[i].msg);
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(ferry_error_msg(&err), cases[i].msg));
    }
}

#define LIVE MIG_LIVE
#define COMP (MIG_LIVE | MIG_COMPRESSED)
#define PAR  (MIG_LIVE | MIG_COMPRESSED | MIG_PARALLEL)

static const struct {
    const char *json; /* parameters besides the flags, "" = none */
    unsigned flags;
    const char *msg; /* NULL: allowed */
} combos[] = {
    {"", COMP, NULL},
    {"\"compression\": \"xbzrle,mt\", \"compression_mt_level\": 1, "
     "\"compression_mt_threads\": 2, \"compression_mt_dthreads\": 2, "
     "\"compression_xbzrle_cache\": 65536",
     COMP, NULL},
    {"\"compression\": \"zstd\", \"compression_zstd_level\": 3", PAR, NULL},
    {"\"compression\": \"zlib\", \"parallel_connections\": 4", COMP, NULL},
    {"", MIG_OFFLINE | MIG_PERSIST_DEST | MIG_COMPRESSED,
     "--compressed makes no sense with --offline"},
    {"\"compression\": \"mt\"", LIVE, "compression options (--comp-*) require --compressed"},
    {"\"compression_xbzrle_cache\": 65536", LIVE, "require --compressed"},
    {"\"compression\": \"zstd\"", COMP, "'zstd' is only supported with parallel migration"},
    {"\"compression\": \"xbzrle,zlib\"", COMP, "'zlib' is only supported with parallel"},
    {"", PAR, "--compressed with --parallel needs --comp-methods zlib or zstd"},
    {"\"compression\": \"mt\"", PAR, "'mt' is not supported with parallel migration"},
    {"\"compression\": \"zlib,zstd\"", PAR, "only one compression method"},
    {"\"compression_mt_level\": 1", COMP, "require --comp-methods mt"},
    {"\"compression\": \"mt\", \"compression_xbzrle_cache\": 65536", COMP,
     "--comp-xbzrle-cache requires the xbzrle method"},
    {"\"compression\": \"zlib\", \"compression_zstd_level\": 1", PAR,
     "--comp-zstd-level requires --comp-methods zstd"},
    {"\"compression\": \"zstd\", \"compression_zlib_level\": 1", PAR,
     "--comp-zlib-level requires --comp-methods zlib"},
    {"\"compression_xbzrle_cache\": 65537", COMP, "is not a power of two"},
    {"\"compression_xbzrle_cache\": 2048", COMP, "is not a power of two"},
    {"\"compression\": \"mt\"", COMP | MIG_POSTCOPY, "'mt' cannot be used with --postcopy"},
    {"", COMP | MIG_POSTCOPY, NULL}, /* xbzrle works with post-copy */
    {"", LIVE | MIG_ZEROCOPY | MIG_PARALLEL, NULL},
    {"", LIVE | MIG_ZEROCOPY, "--zerocopy requires --parallel"},
    {"", MIG_OFFLINE | MIG_PERSIST_DEST | MIG_ZEROCOPY | MIG_PARALLEL,
     "--zerocopy makes no sense with --offline"},
    {"\"compression\": \"zstd\"", PAR | MIG_ZEROCOPY,
     "--zerocopy cannot be used with --compressed"},
    {"", LIVE | MIG_ZEROCOPY | MIG_PARALLEL | MIG_TLS, "--zerocopy cannot be used with --tls"},
    {"", LIVE | MIG_NON_SHARED_SYNCHRONOUS_WRITES,
     "--synchronous-writes requires --copy-storage-all or --copy-storage-inc"},
    {"", LIVE | MIG_NON_SHARED_DISK | MIG_NON_SHARED_SYNCHRONOUS_WRITES,
     "not supported with --storage-engine ferry (the engine follows guest writes through dirty "
     "bitmaps and cannot block them"},
    {"\"storage_engine\": \"qemu\"", LIVE | MIG_NON_SHARED_INC | MIG_NON_SHARED_SYNCHRONOUS_WRITES,
     NULL},
};

static void test_validate(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof combos / sizeof combos[0]; i++) {
        _cleanup_free_ char *text = ferry_strdup_printf(
            "{%s%s\"flags\": %u}", combos[i].json, *combos[i].json ? ", " : "", combos[i].flags);
        struct ferry_error err = {0};
        struct mig_params p;
        int r;

        assert_int_equal(params_from(text, &p, NULL), 0);
        r = mig_params_validate(&p, ~0u, &err);
        mig_params_clear(&p);
        if (!combos[i].msg) {
            if (r != 0)
                fprintf(stderr, "combo %zu: %s\n", i, ferry_error_msg(&err));
            assert_int_equal(r, 0);
            continue;
        }
        if (r == 0 || !strstr(ferry_error_msg(&err), combos[i].msg))
            fprintf(stderr, "combo %zu: got '%s', want '%s'\n", i, ferry_error_msg(&err),
                    combos[i].msg);
        assert_true(r < 0);
        assert_non_null(strstr(ferry_error_msg(&err), combos[i].msg));
    }
}

static void test_methods_default(void **state)
{
    struct mig_params p = {.flags = MIG_LIVE};

    (void)state;
    assert_int_equal(mig_comp_methods(&p), 0);
    p.flags |= MIG_COMPRESSED;
    assert_int_equal(mig_comp_methods(&p), MIG_COMP_XBZRLE); /* libvirt's default */
    p.comp_methods = MIG_COMP_MT;
    assert_int_equal(mig_comp_methods(&p), MIG_COMP_MT);
    assert_true(mig_comp_cache_size_valid(4096));
    assert_true(mig_comp_cache_size_valid(64u << 20));
    assert_false(mig_comp_cache_size_valid(2048));
    assert_false(mig_comp_cache_size_valid(3u << 20));
    assert_false(mig_comp_cache_size_valid(0));
}

/* The state QEMU is given for capability NAME in CAPS, -1 when absent. */
static int cap_state(json_object *caps, const char *name)
{
    for (size_t i = 0; i < json_object_array_length(caps); i++) {
        json_object *c = json_object_array_get_idx(caps, i);
        if (strcmp(json_object_get_string(json_object_object_get(c, "capability")), name) == 0)
            return json_object_get_boolean(json_object_object_get(c, "state"));
    }
    return -1;
}

static void test_qemu_caps(void **state)
{
    struct mig_params p = {.flags = MIG_LIVE | MIG_COMPRESSED, .comp_methods = MIG_COMP_MT};
    _cleanup_(json_object_putp) json_object *src = json_object_new_array();
    _cleanup_(json_object_putp) json_object *dst = json_object_new_array();
    _cleanup_(json_object_putp) json_object *plain = json_object_new_array();
    _cleanup_(json_object_putp) json_object *zc = json_object_new_array();

    (void)state;
    qemu_compress_caps(&p, true, src);
    qemu_compress_caps(&p, false, dst);
    /* compress on both QEMUs: the destination decompresses. */
    assert_int_equal(cap_state(src, "compress"), 1);
    assert_int_equal(cap_state(dst, "compress"), 1);
    assert_int_equal(cap_state(src, "xbzrle"), 0);
    assert_int_equal(cap_state(src, "zero-copy-send"), 0);
    assert_int_equal(cap_state(dst, "zero-copy-send"), -1); /* a send-side capability */
    /* Without --compressed every one is named off: the source QEMU keeps
     * capabilities from an earlier migration. */
    p = (struct mig_params){.flags = MIG_LIVE};
    qemu_compress_caps(&p, true, plain);
    assert_int_equal(cap_state(plain, "xbzrle"), 0);
    assert_int_equal(cap_state(plain, "compress"), 0);
    assert_int_equal(cap_state(plain, "zero-copy-send"), 0);
    p.flags |= MIG_ZEROCOPY | MIG_PARALLEL;
    qemu_compress_caps(&p, true, zc);
    assert_int_equal(cap_state(zc, "zero-copy-send"), 1);
}

static void test_qemu_params(void **state)
{
    struct mig_params p = {.flags = MIG_LIVE | MIG_COMPRESSED,
                           .comp_methods = MIG_COMP_MT | MIG_COMP_XBZRLE,
                           .comp_xbzrle_cache = 1 << 20,
                           .has_comp_mt_level = true,
                           .comp_mt_level = 0,
                           .has_comp_mt_threads = true,
                           .comp_mt_threads = 3,
                           .has_comp_mt_dthreads = true,
                           .comp_mt_dthreads = 5};
    _cleanup_(json_object_putp) json_object *src = json_object_new_object();
    _cleanup_(json_object_putp) json_object *dst = json_object_new_object();
    _cleanup_(json_object_putp) json_object *msrc = json_object_new_object();
    _cleanup_(json_object_putp) json_object *mdst = json_object_new_object();
    _cleanup_(json_object_putp) json_object *none = json_object_new_object();

    (void)state;
    qemu_compress_params(&p, true, src);
    qemu_compress_params(&p, false, dst);
    assert_int_equal(json_object_get_int64(json_object_object_get(src, "xbzrle-cache-size")),
                     1 << 20);
    assert_int_equal(json_object_get_int(json_object_object_get(src, "compress-level")), 0);
    assert_int_equal(json_object_get_int(json_object_object_get(src, "compress-threads")), 3);
    assert_null(json_object_object_get(src, "decompress-threads"));
    assert_null(json_object_object_get(src, "multifd-compression")); /* not multifd */
    assert_int_equal(json_object_get_int(json_object_object_get(dst, "decompress-threads")), 5);
    assert_int_equal(json_object_object_length(dst), 1);

    p = (struct mig_params){.flags = MIG_LIVE | MIG_COMPRESSED | MIG_PARALLEL,
                            .comp_methods = MIG_COMP_ZSTD,
                            .has_comp_zstd_level = true,
                            .comp_zstd_level = 7};
    qemu_compress_params(&p, true, msrc);
    qemu_compress_params(&p, false, mdst);
    assert_string_equal(json_object_get_string(json_object_object_get(msrc, "multifd-compression")),
                        "zstd");
    assert_int_equal(json_object_get_int(json_object_object_get(msrc, "multifd-zstd-level")), 7);
    /* The destination must know the method to decompress. */
    assert_string_equal(json_object_get_string(json_object_object_get(mdst, "multifd-compression")),
                        "zstd");
    assert_null(json_object_object_get(mdst, "multifd-zstd-level"));
    /* Plain multifd: the method is reset to none. */
    p = (struct mig_params){.flags = MIG_LIVE, .parallel_connections = 2};
    qemu_compress_params(&p, true, none);
    assert_string_equal(json_object_get_string(json_object_object_get(none, "multifd-compression")),
                        "none");
}

static void test_qemu_stats(void **state)
{
    struct cookie_stats s = {0};
    json_object *q = json_tokener_parse(
        "{\"status\": \"completed\", \"xbzrle-cache\": {\"cache-size\": 33554432, \"bytes\": "
        "90334, \"pages\": 6264, \"cache-miss\": 45294, \"cache-miss-rate\": 0.5, "
        "\"encoding-rate\": 3.2, \"overflow\": 7}, \"compression\": {\"pages\": 100, \"busy\": 3, "
        "\"busy-rate\": 0.1, \"compressed-size\": 4000, \"compression-rate\": 2.5}}");

    (void)state;
    assert_non_null(q);
    qemu_compress_stats(q, &s);
    json_object_put(q);
    assert_int_equal(s.comp_cache, 33554432);
    assert_int_equal(s.comp_bytes, 90334);
    assert_int_equal(s.comp_pages, 6264);
    assert_int_equal(s.comp_cache_misses, 45294);
    assert_int_equal(s.comp_overflow, 7);
    assert_int_equal(s.comp_mt_pages, 100);
    assert_int_equal(s.comp_mt_busy, 3);
    assert_int_equal(s.comp_mt_compressed_size, 4000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_round_trip), cmocka_unit_test(test_json_bad),
        cmocka_unit_test(test_validate),        cmocka_unit_test(test_methods_default),
        cmocka_unit_test(test_qemu_caps),       cmocka_unit_test(test_qemu_params),
        cmocka_unit_test(test_qemu_stats),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
