/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the zero scan (mirror/zero.c) and the token bucket
 * (mirror/bucket.c), the latter on a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mir.h"

static void test_zero_empty_and_small(void **state)
{
    unsigned char b[17] = {0};
    assert_true(mir_is_zero(b, 0));
    for (size_t n = 1; n <= sizeof(b); n++) {
        assert_true(mir_is_zero(b, n));
        b[n - 1] = 1;
        assert_false(mir_is_zero(b, n));
        b[n - 1] = 0;
    }
}

static void test_zero_every_position(void **state)
{
    /* A single non-zero byte anywhere in a 64 KiB block is found, both in
     * the hand-checked head and in the memcmp part. */
    size_t len = 64 * 1024;
    unsigned char *b = calloc(1, len);
    assert_non_null(b);
    assert_true(mir_is_zero(b, len));
    size_t pos[] = {0, 1, 15, 16, 17, 4095, 4096, len / 2, len - 17, len - 16, len - 1};
    for (size_t i = 0; i < sizeof(pos) / sizeof(pos[0]); i++) {
        b[pos[i]] = 0x80;
        assert_false(mir_is_zero(b, len));
        b[pos[i]] = 0;
    }
    /* Unaligned start. */
    b[0] = 1;
    assert_true(mir_is_zero(b + 1, len - 1));
    free(b);
}

static void test_bucket_unlimited(void **state)
{
    struct mir_bucket b;
    mir_bucket_init(&b, 0, 0, 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(mir_bucket_take(&b, 1u << 30, 0), 0);
}

static void test_bucket_rate(void **state)
{
    /* 1 MB/s, burst 1 MB: 1 MB goes at once, then the balance is 0 and the
     * next request still goes (debt), then it waits for the debt. */
    struct mir_bucket b;
    mir_bucket_init(&b, 1000000, 1000000, 0);
    assert_int_equal(mir_bucket_take(&b, 1000000, 0), 0);
    assert_int_equal(mir_bucket_take(&b, 500000, 0), 0);
    int64_t wait = mir_bucket_take(&b, 1, 0);
    assert_true(wait >= 500000 && wait <= 500010);
    /* Half way there: still waiting, about 250 ms more. */
    wait = mir_bucket_take(&b, 1, 250000);
    assert_true(wait >= 250000 && wait <= 250010);
    assert_int_equal(mir_bucket_take(&b, 1, 500001), 0);
}

static void test_bucket_long_run_average(void **state)
{
    /* Over 10 simulated seconds at 2 MB/s with 64 KiB requests, the bytes let
     * through stay within one burst + one request of rate * time. */
    struct mir_bucket b;
    uint64_t rate = 2000000, burst = 200000, req = 65536, sent = 0;
    mir_bucket_init(&b, rate, burst, 0);
    for (int64_t t = 0; t <= 10000000;) {
        int64_t w = mir_bucket_take(&b, req, t);
        if (w == 0)
            sent += req;
        else
            t += w;
    }
    assert_true(sent <= rate * 10 + burst + req);
    assert_true(sent >= rate * 10 - req);
}

static void test_bucket_idle_keeps_burst_only(void **state)
{
    struct mir_bucket b;
    mir_bucket_init(&b, 1000, 5000, 0);
    assert_int_equal(mir_bucket_take(&b, 5000, 0), 0);
    /* A long idle time refills only up to the burst. */
    assert_int_equal(mir_bucket_take(&b, 5000, 1000000000), 0);
    assert_true(mir_bucket_take(&b, 1, 1000000000) == 0); /* balance 0: goes */
    assert_true(mir_bucket_take(&b, 1, 1000000000) > 0);
    /* Raising the rate applies at once. */
    mir_bucket_set_rate(&b, 1000000, 5000, 1000000000);
    assert_int_equal(mir_bucket_take(&b, 1, 1000000010), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_empty_and_small),
        cmocka_unit_test(test_zero_every_position),
        cmocka_unit_test(test_bucket_unlimited),
        cmocka_unit_test(test_bucket_rate),
        cmocka_unit_test(test_bucket_long_run_average),
        cmocka_unit_test(test_bucket_idle_keeps_burst_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
