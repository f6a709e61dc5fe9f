/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the storage session's convergence arithmetic
 * (mirror/sync-converge.c): the final pass's prediction, the throttle's
 * steps, and when a disk whose passes stop shrinking fails. No QEMU: the
 * session is only created, never started, and auto-converge stays off
 * (the throttle itself is an e2e matter, tests/e2e/test_converge.py). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "mir-sync.h"
#include "sync-priv.h"

#define MIB (1024ull * 1024)
#define URI "nbd+unix:///vda?socket=/tmp/d.nbd"

static void test_predict(void **state)
{
    (void)state;
    /* Nothing dirtied: the final pass is one count query. */
    assert_int_equal(mir_conv_predict_ms(0, 0, 50, 0), 1);
    /* Dirtied, with no copy rate known yet: cannot be promised. */
    assert_true(mir_conv_predict_ms(MIB, 0, 50, 0) == UINT64_MAX);
    /* A guest as fast as the link (or 4x): passes never settle. */
    assert_true(mir_conv_predict_ms(MIB, MIB, 50, 0) == UINT64_MAX);
    assert_true(mir_conv_predict_ms(4 * MIB, MIB, 50, 0) == UINT64_MAX);
    /* Half the link, passes 50 ms apart: they settle 100 ms apart, and
     * half of that is dirty at the pause: 50 ms + overhead. */
    assert_int_equal(mir_conv_predict_ms(MIB / 2, MIB, 50, 0), 53);
    /* ... unless the pass running now is longer: 400 ms of it. */
    assert_int_equal(mir_conv_predict_ms(MIB / 2, MIB, 50, 350), 203);
    /* A fast link: 1 MiB/s dirtied at 1 GiB/s: the overhead. */
    assert_int_equal(mir_conv_predict_ms(MIB, 1024 * MIB, 50, 0), 3);
}

static void test_throttle_steps(void **state)
{
    (void)state;
    /* First just below the copy rate, then 70 % of the last cap. */
    uint64_t t = mir_conv_next_throttle(0, 10 * MIB);
    assert_int_equal(t, 10 * MIB / 10 * 9);
    uint64_t t2 = mir_conv_next_throttle(t, 10 * MIB);
    assert_int_equal(t2, t / 10 * 7);
    /* Down to the floor, and no further. */
    for (int i = 0; i < 40; i++)
        t2 = mir_conv_next_throttle(t2, 10 * MIB);
    assert_int_equal(t2, MIR_THROTTLE_MIN);
    assert_int_equal(mir_conv_next_throttle(MIR_THROTTLE_MIN, 10 * MIB), MIR_THROTTLE_MIN);
    /* A copy rate below the floor still gets the floor. */
    assert_int_equal(mir_conv_next_throttle(0, 1000), MIR_THROTTLE_MIN);
}

/* While RAM moves: straight to the share of the pass's own rate that fits
 * the budget, not a step at a time. */
static void test_ram_throttle(void **state)
{
    (void)state;
    /* A 1 MiB/s link as RAM leaves it, a 500 ms pass, passes 50 ms apart,
     * 150 ms allowed: (150 - 3) / 550 of the rate. */
    uint64_t t = mir_conv_ram_throttle(2 * MIB, MIB, 150, 50, 500);
    assert_int_equal(t, (uint64_t)((double)MIB * 147 / 550));
    /* Whatever fits, it is at least one step below the current cap. */
    assert_int_equal(mir_conv_ram_throttle(MIB, 100 * MIB, 150, 50, 10),
                     mir_conv_next_throttle(MIB, 100 * MIB));
    /* No cap yet: at most the first step (90% of the rate). */
    assert_int_equal(mir_conv_ram_throttle(0, 10 * MIB, 1000, 50, 0),
                     mir_conv_next_throttle(0, 10 * MIB));
    /* Below the passes' floor (the stage is short), to the stage's own. */
    assert_int_equal(mir_conv_ram_throttle(MIR_THROTTLE_MIN, 650 * 1024, 150, 50, 400),
                     (uint64_t)(650.0 * 1024 * 147 / 450));
    assert_true(mir_conv_ram_throttle(MIR_THROTTLE_MIN, 650 * 1024, 150, 50, 400) <
                MIR_THROTTLE_MIN);
    /* Never below that floor, nor for a budget the overhead alone fills. */
    assert_int_equal(mir_conv_ram_throttle(MIB, MIB / 8, 150, 50, 2000), MIR_RAM_STAGE_FLOOR);
    assert_int_equal(mir_conv_ram_throttle(MIB, MIB, 2, 50, 0), MIR_RAM_STAGE_FLOOR);
}

/* The rate a prediction uses: the average, unless RAM moves and a pass
 * long enough to measure went slower. */
static void test_now_rate(void **state)
{
    (void)state;
    /* Before RAM: the average, whatever one pass did. */
    assert_int_equal(mir_conv_now_rate(2 * MIB, false, 192 * 1024, 160), 2 * MIB);
    /* While RAM moves: 192 KiB in 160 ms is 1.2 MB/s, below the 2 MiB/s. */
    assert_int_equal(mir_conv_now_rate(2 * MIB, true, 192 * 1024, 160), 192 * 1024 * 1000 / 160);
    /* A pass faster than the average does not raise it. */
    assert_int_equal(mir_conv_now_rate(2 * MIB, true, 4 * MIB, 100), 2 * MIB);
    /* Too short to tell (a fast link's small pass is mostly fixed cost). */
    assert_int_equal(mir_conv_now_rate(600 * MIB, true, 64 * 1024, 2), 600 * MIB);
    /* No average yet: the pass's own. */
    assert_int_equal(mir_conv_now_rate(0, true, MIB, 500), 2 * MIB);
}

/* When RAM starts: a budget's worth of half the copy rate per second. */
static void test_ram_stage_cap(void **state)
{
    (void)state;
    /* 2 MiB/s, 150 ms: 150 KiB/s (a 1 s stage dirties what 150 ms copy
     * at the half of the link RAM leaves). */
    assert_int_equal(mir_conv_ram_stage_cap(2 * MIB, 150), 2 * MIB / 100 * 50 * 150 / 1000);
    /* A fast link hardly caps anyone: 1 GiB/s leaves 75 MiB/s. */
    assert_int_equal(mir_conv_ram_stage_cap(1024 * MIB, 150), 1024 * MIB / 100 * 50 * 150 / 1000);
    /* Never below the floor; no overflow for absurd inputs. */
    assert_int_equal(mir_conv_ram_stage_cap(MIB / 16, 150), MIR_RAM_STAGE_FLOOR);
    assert_int_equal(mir_conv_ram_stage_cap(0, 150), MIR_RAM_STAGE_FLOOR);
    assert_true(mir_conv_ram_stage_cap(UINT64_MAX / 2, 1000) == UINT64_MAX);
}

static struct mir_sync *session(bool auto_converge)
{
    struct mir_sync_disk d = {.target = "vda", .dest_uri = URI};
    struct mir_sync_opts o = {.socket_dir = "/tmp", .budget_ms = 100, .max_stalled = 4};
    struct mir_sync *s = NULL;
    struct ferry_error err = {0};
    o.auto_converge = auto_converge;
    assert_int_equal(mir_sync_new(NULL, &d, 1, &o, &s, &err), 0);
    return s;
}

/* Passes of the same size, one a second: 8 MiB/s dirtied against 8 MiB/s
 * copied never fits 100 ms. Without auto-converge the disk fails after
 * max_stalled passes that did not shrink, saying what would help. */
static void test_stall_fails(void **state)
{
    (void)state;
    struct mir_sync *s = session(false);
    struct sync_disk *sd = &s->disks[0];
    struct ferry_error err = {0};
    bool fits = true;
    int r = 0, pass;

    sd->conv.last_freeze_ms = 1000;
    for (pass = 1; pass <= 10 && r == 0; pass++)
        r = mir_sync_conv_after_pass(sd, 1000 + pass * 1000, 1000, 1000, 8 * MIB, 8 * MIB, &fits,
                                     &err);
    assert_int_equal(r, -ETIME);
    assert_false(fits);
    /* Every pass stalls: the guest dirties as fast as the link copies. */
    assert_int_equal(pass - 1, 4);
    assert_int_equal(sd->conv.dirty_rate, 8 * MIB);
    assert_int_equal(sd->conv.copy_rate, 8 * MIB);
    assert_true(sd->conv.predicted_ms > 1000);
    if (!strstr(err.msg, "--auto-converge-storage"))
        fail_msg("got '%s'", err.msg);
    mir_sync_free(s);
}

/* Long passes (a large dirty set on a slow link): 20 s stalled fail the
 * disk before max_stalled passes do. */
static void test_stall_fails_in_time(void **state)
{
    (void)state;
    struct mir_sync *s = session(false);
    struct sync_disk *sd = &s->disks[0];
    struct ferry_error err = {0};
    bool fits = true;
    int r = 0, pass;

    s->opts.max_stalled = 100;
    sd->conv.last_freeze_ms = 1000;
    for (pass = 1; pass <= 20 && r == 0; pass++)
        r = mir_sync_conv_after_pass(sd, 1000 + pass * 6000, 6000, 6000, 6 * MIB, 6 * MIB, &fits,
                                     &err);
    assert_int_equal(r, -ETIME);
    /* Stalled from the first pass (t0 7 s); 20 s later is the 5th (31 s). */
    assert_int_equal(pass - 1, 5);
    mir_sync_free(s);
}

/* A guest at a quarter of the link, passes back to back: each pass finds
 * a quarter of the last one, and soon the final pass fits the budget. */
static void test_shrinking_converges(void **state)
{
    (void)state;
    struct mir_sync *s = session(false);
    struct sync_disk *sd = &s->disks[0];
    struct ferry_error err = {0};
    uint64_t dirty = 64 * MIB;
    int64_t t = 5000;
    bool fits = false;
    int pass;

    sd->conv.last_freeze_ms = t - 4000; /* the bulk pass: 4 s at 16 MiB/s */
    for (pass = 0; pass < 30 && !fits; pass++) {
        uint64_t ms = dirty * 1000 / (64 * MIB); /* copied at 64 MiB/s */
        assert_int_equal(mir_sync_conv_after_pass(sd, t, ms, ms, dirty, dirty, &fits, &err), 0);
        t += (int64_t)ms;
        dirty = ms * 16 * MIB / 1000; /* dirtied meanwhile at 16 MiB/s */
    }
    assert_true(fits);
    assert_true(pass < 10);
    assert_int_equal(sd->conv.dirty_rate / MIB, 16);
    assert_true(sd->conv.predicted_ms <= 100);
    mir_sync_free(s);
}

/* Once the disk counts as converged (RAM moves), a stall no longer fails
 * it: the agent shrinks QEMU's downtime limit instead. */
static void test_stall_after_convergence(void **state)
{
    (void)state;
    struct mir_sync *s = session(false);
    struct sync_disk *sd = &s->disks[0];
    struct ferry_error err = {0};
    bool fits = true;

    sd->converged = true;
    sd->conv.last_freeze_ms = 1000;
    for (int pass = 1; pass <= 20; pass++)
        assert_int_equal(mir_sync_conv_after_pass(sd, 1000 + pass * 1000, 1000, 1000, 8 * MIB,
                                                  8 * MIB, &fits, &err),
                         0);
    assert_false(fits);
    mir_sync_free(s);
}

/* The copy rate is averaged like the dirty rate: one slow pass among
 * fast ones (RAM migration starting beside it on a small host) lowers it,
 * but does not make a guest that fits look as if it could never converge. */
static void test_copy_rate_averaged(void **state)
{
    (void)state;
    struct mir_sync *s = session(false);
    struct sync_disk *sd = &s->disks[0];
    struct ferry_error err = {0};
    bool fits = false;
    int64_t t = 1000;

    sd->conv.last_freeze_ms = t;
    /* 1 MiB dirtied every 100 ms (10 MiB/s), copied at 100 MiB/s. */
    for (int pass = 0; pass < 4; pass++) {
        t += 100;
        assert_int_equal(mir_sync_conv_after_pass(sd, t, 10, 10, MIB, MIB, &fits, &err), 0);
        assert_true(fits);
    }
    assert_int_equal(sd->conv.copy_rate, 100 * MIB);
    /* One pass of 2 MiB copied at 5 MiB/s: 400 ms for it alone. */
    t += 400;
    assert_int_equal(mir_sync_conv_after_pass(sd, t, 400, 400, 2 * MIB, 2 * MIB, &fits, &err), 0);
    /* 6 MiB in 440 ms of copying: ~14 MiB/s, still above the guest's 10. */
    assert_true(sd->conv.copy_rate > 13 * MIB && sd->conv.copy_rate < 15 * MIB);
    assert_true(sd->conv.predicted_ms != UINT64_MAX);
    /* Passes below 1 MiB are mostly fixed cost: kept out of the average. */
    uint64_t rate = sd->conv.copy_rate;
    t += 100;
    assert_int_equal(mir_sync_conv_after_pass(sd, t, 50, 50, MIB / 4, MIB / 4, &fits, &err), 0);
    assert_int_equal(sd->conv.copy_rate, rate);
    mir_sync_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_predict),
        cmocka_unit_test(test_throttle_steps),
        cmocka_unit_test(test_ram_throttle),
        cmocka_unit_test(test_now_rate),
        cmocka_unit_test(test_ram_stage_cap),
        cmocka_unit_test(test_stall_fails),
        cmocka_unit_test(test_stall_fails_in_time),
        cmocka_unit_test(test_shrinking_converges),
        cmocka_unit_test(test_stall_after_convergence),
        cmocka_unit_test(test_copy_rate_averaged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
