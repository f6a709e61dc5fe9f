/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of mirror/extents.c: merging, normalising, clipping, splitting. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "mir.h"

static void check(const struct mir_extent_list *l, const uint64_t *pairs, size_t n)
{
    assert_int_equal(l->n, n);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(l->v[i].offset, pairs[2 * i]);
        assert_int_equal(l->v[i].length, pairs[2 * i + 1]);
    }
}

static void test_add_merges_in_order(void **state)
{
    struct mir_extent_list l;
    mir_extent_list_init(&l);
    assert_int_equal(mir_extent_list_add(&l, 0, 10), 0);
    assert_int_equal(mir_extent_list_add(&l, 10, 5), 0);  /* touching */
    assert_int_equal(mir_extent_list_add(&l, 12, 10), 0); /* overlapping */
    assert_int_equal(mir_extent_list_add(&l, 30, 0), 0);  /* empty: ignored */
    assert_int_equal(mir_extent_list_add(&l, 40, 8), 0);
    check(&l, (uint64_t[]){0, 22, 40, 8}, 2);
    assert_int_equal(mir_extent_list_bytes(&l), 30);
    mir_extent_list_clear(&l);
    assert_int_equal(l.n, 0);
    assert_null(l.v);
}

static void test_add_overflow(void **state)
{
    struct mir_extent_list l;
    mir_extent_list_init(&l);
    assert_int_equal(mir_extent_list_add(&l, UINT64_MAX - 5, 10), -EOVERFLOW);
    assert_int_equal(l.n, 0);
    mir_extent_list_clear(&l);
}

static void test_normalize_sorts_and_merges(void **state)
{
    struct mir_extent_list l;
    mir_extent_list_init(&l);
    mir_extent_list_add(&l, 100, 10);
    mir_extent_list_add(&l, 0, 10);
    mir_extent_list_add(&l, 50, 60); /* covers 100..110 */
    mir_extent_list_add(&l, 5, 10);  /* overlaps 0..10 */
    mir_extent_list_add(&l, 15, 1);  /* touches 5..15 */
    mir_extent_list_add(&l, 200, 1);
    mir_extent_list_normalize(&l);
    check(&l, (uint64_t[]){0, 16, 50, 60, 200, 1}, 3);
    mir_extent_list_clear(&l);
}

static void test_clip(void **state)
{
    struct mir_extent_list l;
    mir_extent_list_init(&l);
    mir_extent_list_add(&l, 0, 10);
    mir_extent_list_add(&l, 20, 30);
    mir_extent_list_add(&l, 60, 5);
    mir_extent_list_clip(&l, 30);
    check(&l, (uint64_t[]){0, 10, 20, 10}, 2);
    mir_extent_list_clear(&l);
}

static void test_split_at_multiples(void **state)
{
    struct mir_extent_list l;
    mir_extent_list_init(&l);
    mir_extent_list_add(&l, 5, 30); /* 5..35 at 16: 5..16, 16..32, 32..35 */
    mir_extent_list_add(&l, 40, 8); /* within 32..48: unchanged */
    assert_int_equal(mir_extent_list_split(&l, 16), 0);
    check(&l, (uint64_t[]){5, 11, 16, 16, 32, 3, 40, 8}, 4);
    assert_int_equal(mir_extent_list_bytes(&l), 38);
    assert_int_equal(mir_extent_list_split(&l, 0), -EINVAL);
    mir_extent_list_clear(&l);
}

static void test_split_refuses_huge(void **state)
{
    struct mir_extent_list l;
    mir_extent_list_init(&l);
    mir_extent_list_add(&l, 0, (uint64_t)MIR_EXTENTS_MAX * 2);
    assert_int_equal(mir_extent_list_split(&l, 1), -E2BIG);
    check(&l, (uint64_t[]){0, (uint64_t)MIR_EXTENTS_MAX * 2}, 1); /* unchanged */
    mir_extent_list_clear(&l);
}

static void test_limit(void **state)
{
    struct mir_extent_list l;
    mir_extent_list_init(&l);
    int r = 0;
    for (uint64_t i = 0; i <= MIR_EXTENTS_MAX && r == 0; i++)
        r = mir_extent_list_add(&l, i * 2, 1);
    assert_int_equal(r, -E2BIG);
    assert_int_equal(l.n, MIR_EXTENTS_MAX);
    mir_extent_list_clear(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_merges_in_order),
        cmocka_unit_test(test_add_overflow),
        cmocka_unit_test(test_normalize_sorts_and_merges),
        cmocka_unit_test(test_clip),
        cmocka_unit_test(test_split_at_multiples),
        cmocka_unit_test(test_split_refuses_huge),
        cmocka_unit_test(test_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
