/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Convergence of a storage migration session, per disk: what each dirty
 * pass tells about the guest's dirty rate and the link's copy rate, the
 * final pass predicted from them, and disk auto-converge, which caps the
 * guest's writes with QEMU's own I/O throttling when passes stop
 * shrinking, as QEMU's auto-converge slows vCPUs for RAM. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "mir-sync.h"
#include "qmp.h"
#include "sync-priv.h"
#include "util.h"

#define QMP_TIMEOUT_MS 30000
/* The final pass's fixed cost when something is dirty: disable the
 * bitmap, export it, read it over NBD, flush (mirror/README.md, "The
 * final pass": 1-5 ms here). */
#define FINAL_OVERHEAD_MS 3u
/* A pass shrank when it found less than this share (per cent) of the
 * previous one. */
#define SHRINK_PCT 90u
/* A guest dirtying at this share (per cent) of the copy rate or more
 * counts as one the passes cannot catch: the settled gap between passes
 * (interval / (1 - W/C)) would be 20x the pacing interval. */
#define SETTLE_PCT 95u
/* A pass stalls when it did not shrink, or the dirty rate is at least this
 * share (per cent) of the copy rate: progress that cannot last. */
#define STALL_RATE_PCT 90u
/* Passes that copied less than this give no copy rate worth keeping: the
 * fixed cost of a pass dominates them. */
#define RATE_MIN_BYTES (1u << 20)
/* A pass that copied for this long measures the link's rate on its own:
 * the fixed cost of a pass (a few ms, FINAL_OVERHEAD_MS) is a small part
 * of it. Shorter ones, on a fast link, would read as a slow link. */
#define RATE_NOW_MIN_MS 50u
/* The dirty rate's averaging window: past it, the older half is dropped. */
#define AVG_WINDOW_MS 2000u
/* Stalled this long (and at least two passes) also fails a disk that
 * cannot be throttled further, whatever max_stalled says. */
#define STALL_MAX_MS 20000

uint64_t mir_conv_predict_ms(uint64_t dirty_rate, uint64_t copy_rate, uint64_t interval_ms,
                             uint64_t pass_ms)
{
    if (dirty_rate == 0)
        return 1; /* the one count query */
    /* A guest that dirties as fast as the link moves never lets the
     * passes settle: no prediction (and no convergence) at all. */
    if (copy_rate == 0 || dirty_rate * 100 >= copy_rate * SETTLE_PCT)
        return UINT64_MAX;
    /* Passes paced INTERVAL_MS apart settle where a pass copies what was
     * dirtied since the previous one began: G = interval + W*G/C, so
     * G = interval / (1 - W/C). The pause comes at most G after the last
     * freeze, or after the pass running now (PASS_MS), whichever is
     * longer; what was dirtied then is copied at C. In doubles: the
     * products may not fit 64 bits for absurd inputs. */
    double w_c = (double)dirty_rate / (double)copy_rate;
    double gap = (double)interval_ms / (1.0 - w_c);
    if (gap < (double)(interval_ms + pass_ms))
        gap = (double)(interval_ms + pass_ms);
    double ms = w_c * gap;
    if (ms > 1e15)
        return UINT64_MAX;
    return (uint64_t)ms + FINAL_OVERHEAD_MS;
}

uint64_t mir_conv_now_rate(uint64_t copy_rate, bool ram_moving, uint64_t copied, uint64_t copy_ms)
{
    if (!ram_moving || copy_ms < RATE_NOW_MIN_MS || !copied)
        return copy_rate;
    uint64_t r = copied * 1000 / copy_ms;
    return copy_rate && r >= copy_rate ? copy_rate : r ? r : 1;
}

uint64_t mir_conv_next_throttle(uint64_t current, uint64_t copy_rate)
{
    uint64_t next = current ? current / 10 * 7 : copy_rate / 10 * 9;
    if (next < MIR_THROTTLE_MIN)
        next = MIR_THROTTLE_MIN;
    return current && next >= current ? current : next;
}

uint64_t mir_conv_ram_throttle(uint64_t current, uint64_t pass_rate, uint64_t budget_ms,
                               uint64_t interval_ms, uint64_t pass_ms)
{
    uint64_t step = mir_conv_next_throttle(current, pass_rate);
    uint64_t span = interval_ms + pass_ms;

    /* The stage's own floor, below the passes' one: it lasts seconds, and
     * each 64 KiB a second the guest still writes is another round trip
     * of the final pass on a slow link. */
    if (budget_ms <= FINAL_OVERHEAD_MS || span == 0)
        return MIR_RAM_STAGE_FLOOR;
    /* A settled pass copies what the guest wrote over one span; at the
     * pause that takes W/C * span, which must fit what the budget leaves
     * after the fixed cost: W = C * (budget - overhead) / span. In
     * doubles: C * budget may not fit 64 bits. */
    double w = (double)pass_rate * (double)(budget_ms - FINAL_OVERHEAD_MS) / (double)span;
    uint64_t cap = w < (double)step ? (uint64_t)w : step;
    return cap < MIR_RAM_STAGE_FLOOR ? MIR_RAM_STAGE_FLOOR : cap;
}

/* The RAM stage's length the cap at its start assumes: a second. Short
 * stages are the ones a pass cannot react to (the first pass of the stage
 * ends after it); in a longer one the passes during RAM tighten the cap
 * further (mir_conv_ram_throttle). */
#define RAM_STAGE_MS 1000u
/* The share (per cent) of the copy rate the passes keep while RAM moves:
 * two streams on one bottleneck. Measured on a 2 MiB/s shaped link, a
 * 320 KiB pass took 800 ms in the RAM stage (against 150 ms before it),
 * and the final pass waited 250 ms for it. */
#define RAM_STAGE_SHARE_PCT 50u

uint64_t mir_conv_ram_stage_cap(uint64_t copy_rate, uint64_t budget_ms)
{
    /* Bytes/s times ms stays far below 2^64 for any real link and budget;
     * saturate rather than wrap for absurd ones. */
    uint64_t cap = budget_ms && copy_rate > UINT64_MAX / budget_ms
                       ? UINT64_MAX
                       : copy_rate / 100 * RAM_STAGE_SHARE_PCT * budget_ms / RAM_STAGE_MS;
    return cap < MIR_RAM_STAGE_FLOOR ? MIR_RAM_STAGE_FLOOR : cap;
}

unsigned mir_sync_ram_stage(struct mir_sync *s)
{
    unsigned n = 0;

    if (!s || !s->opts.auto_converge)
        return 0;
    /* RAM now takes the link the passes had: what the guest writes from
     * here on is copied slowly or not at all until the pause, and QEMU 7.2
     * pauses as soon as RAM has nothing left. Measured on a 2 MiB/s link:
     * 650-750 KiB dirtied in the RAM stage's first 0.5-0.7 s, then a
     * final pass of 400-900 ms against a 150 ms share. So the guest may
     * dirty, per second of the stage, what the final pass can copy in its
     * share of the pause. */
    for (size_t i = 0; i < s->n; i++) {
        struct sync_disk *sd = &s->disks[i];
        struct ferry_error e = {0};
        pthread_mutex_lock(&s->lock);
        uint64_t rate = sd->conv.copy_rate, drate = sd->conv.dirty_rate;
        uint64_t throttle = sd->conv.throttle;
        unsigned budget = s->opts.budget_ms;
        pthread_mutex_unlock(&s->lock);
        if (!sd->device || !rate || !budget)
            continue;
        uint64_t cap = mir_conv_ram_stage_cap(rate, budget);
        if (drate <= cap || (throttle && throttle <= cap))
            continue;
        if (mir_sync_conv_throttle(sd, cap, &e) < 0) {
            /* The passes during RAM still cap it. */
            ferry_debug("mir: %s", e.msg);
            continue;
        }
        n++;
    }
    return n;
}

int mir_sync_conv_throttle(struct sync_disk *sd, uint64_t bps, struct ferry_error *err)
{
    struct mir_sync *s = sd->s;
    char group[MIR_NAME_MAX];
    json_object *args = json_object_new_object();

    /* block_set_io_throttle wants every one of the six limits; 0 is "no
     * limit", all six 0 removes the throttle (and leaves the group). Only
     * writes are capped: reads do not dirty anything. */
    json_object_object_add(args, "id", json_object_new_string(sd->device));
    static const char *const keys[] = {"bps", "bps_rd", "iops", "iops_rd", "iops_wr"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        json_object_object_add(args, keys[i], json_object_new_int64(0));
    json_object_object_add(args, "bps_wr", json_object_new_int64((int64_t)bps));
    if (bps) {
        snprintf(group, sizeof(group), MIR_THROTTLE_GROUP_PREFIX "%s", sd->target);
        json_object_object_add(args, "group", json_object_new_string(group));
    }
    int r = qmp_conn_execute(s->qmp, "block_set_io_throttle", args, QMP_TIMEOUT_MS, NULL, err);
    if (r < 0) {
        ferry_error_prefix(err, "disk '%s': block_set_io_throttle", sd->target);
        return r;
    }
    pthread_mutex_lock(&s->lock);
    uint64_t was = sd->conv.throttle;
    sd->conv.throttle = bps;
    sd->conv.throttle_set = bps != 0;
    /* A new regime: the dirty rate is measured afresh under it. */
    sd->conv.acc_dirty = sd->conv.acc_ms = 0;
    sd->conv.throttle_ms = ferry_now_ms();
    pthread_mutex_unlock(&s->lock);
    ferry_debug("mir: disk '%s': guest writes %s%" PRIu64 " B/s", sd->target,
                bps ? "capped at " : "no longer capped, were at ", bps ? bps : was);
    return 0;
}

int mir_sync_conv_after_pass(struct sync_disk *sd, int64_t t0_ms, uint64_t pass_ms,
                             uint64_t copy_ms, uint64_t dirty, uint64_t copied, bool *ret_fits,
                             struct ferry_error *err)
{
    struct mir_sync *s = sd->s;
    struct sync_conv *c = &sd->conv;

    pthread_mutex_lock(&s->lock);
    unsigned budget = s->opts.budget_ms;
    /* The dirty rate: what the passes found, over the time since the
     * freezes before them (the bitmap recorded writes in between),
     * averaged over the last 1-2 s: one pass of 4 ms that happened to
     * find nothing says little about a guest that writes in bursts. */
    if (c->last_freeze_ms > 0 && t0_ms > c->last_freeze_ms) {
        c->acc_dirty += dirty;
        c->acc_ms += (uint64_t)(t0_ms - c->last_freeze_ms);
        c->dirty_rate = c->acc_dirty * 1000 / c->acc_ms;
        while (c->acc_ms > AVG_WINDOW_MS) {
            c->acc_dirty /= 2;
            c->acc_ms /= 2;
        }
    }
    /* The bandwidth cap's bucket lets a short pass burst (up to a
     * request, 1 MiB, at once): its copy rate would promise more than
     * the cap allows over a longer final pass. */
    /* The copy rate over the same window, weighted by time: one pass
     * slowed by a neighbour's burst (RAM migration starting, another
     * disk's pass) would otherwise swing the prediction from "fits" to
     * "no end" and squeeze QEMU's downtime limit to its floor for nothing.
     * Passes below RATE_MIN_BYTES are mostly fixed cost: kept out of the
     * average, but better than nothing while it is empty. */
    if (copy_ms > 0 && copied >= RATE_MIN_BYTES) {
        c->acc_copied += copied;
        c->acc_copy_ms += copy_ms;
        c->copy_rate = c->acc_copied * 1000 / c->acc_copy_ms;
        while (c->acc_copy_ms > AVG_WINDOW_MS) {
            c->acc_copied /= 2;
            c->acc_copy_ms /= 2;
        }
    } else if (copy_ms > 0 && c->acc_copy_ms == 0 && copied > 0) {
        c->copy_rate = copied * 1000 / copy_ms;
    }
    if (s->opts.copy.bandwidth && c->copy_rate > s->opts.copy.bandwidth)
        c->copy_rate = s->opts.copy.bandwidth;
    /* The rate the final pass will see. While RAM moves (converged) it
     * shares the link, and the passes of that stage are too small for the
     * average: a pass long enough to measure says what the link gives
     * now, when that is less (seen on a 2 MiB/s shaped link: 192 KiB
     * passes at 0.7-1.2 MB/s against 2.1 MB/s before RAM, predicted 105
     * ms, and a final pass of 269 ms). */
    uint64_t now_rate = mir_conv_now_rate(c->copy_rate, sd->converged, copied, copy_ms);
    /* Between this freeze and a pause: at most the pacing interval plus a
     * pass as long as this one (the final pass waits for a running one);
     * as long as it would take at the copy rate, when the bucket let it
     * burst. */
    uint64_t pass_len = pass_ms;
    if (now_rate && dirty * 1000 / now_rate > pass_len)
        pass_len = dirty * 1000 / now_rate;
    c->predicted_ms =
        mir_conv_predict_ms(c->dirty_rate, now_rate, s->opts.pass_interval_ms, pass_len);
    bool fits = budget ? c->predicted_ms <= budget : dirty < s->opts.converge_bytes;
    bool shrank = (c->prev_dirty == 0 || dirty * 100 < c->prev_dirty * SHRINK_PCT) &&
                  c->dirty_rate * 100 < c->copy_rate * STALL_RATE_PCT;
    c->stalled = fits || shrank ? 0 : c->stalled + 1;
    if (c->stalled == 1)
        c->stall_since_ms = t0_ms;
    c->last_freeze_ms = t0_ms;
    c->prev_dirty = dirty;
    unsigned stalled = c->stalled;
    uint64_t rate = c->copy_rate, throttle = c->throttle, drate = c->dirty_rate;
    uint64_t predicted = c->predicted_ms;
    bool converged = sd->converged;
    pthread_mutex_unlock(&s->lock);
    ferry_debug("mir: disk '%s': %" PRIu64 " bytes dirty in %" PRIu64 " ms since the last pass; "
                "dirty %" PRIu64 " B/s, copy %" PRIu64 " B/s, final pass predicted %" PRIu64
                " ms (budget %u): %s",
                sd->target, dirty, pass_ms, drate, rate, predicted, budget,
                fits      ? "fits"
                : stalled ? "stalled"
                          : "shrinking");
    *ret_fits = fits;
    if (fits || stalled == 0)
        return 0;

    bool can_throttle = s->opts.auto_converge && sd->device && rate > 0;
    /* While RAM moves (converged) a pass that does not fit is no longer a
     * delay but the pause itself: QEMU 7.2 switches over as soon as RAM
     * has nothing left, whatever its downtime limit, and the final pass
     * then waits for the pass running at that moment. RAM also shares the
     * link, so the copy rate measured before is too high (seen on a 2 MiB/s
     * shaped link: passes grew from 256 KiB to 704 KiB in the RAM stage's
     * 1.9 s, and the final pass waited 585 ms for the last one). No window
     * to settle, then: the cap goes at once to what this pass's own rate
     * lets fit. */
    if (converged && can_throttle && !fits && copy_ms > 0 && copied > 0) {
        uint64_t cap = mir_conv_ram_throttle(throttle, copied * 1000 / copy_ms, budget,
                                             s->opts.pass_interval_ms, pass_len);
        if (!throttle || cap < throttle)
            return mir_sync_conv_throttle(sd, cap, err);
        return 0;
    }
    uint64_t next = can_throttle ? mir_conv_next_throttle(throttle, rate) : throttle;
    /* Tightened only once the last cap has been measured for a window:
     * passes come every few ms when they are small. */
    bool settled = c->throttle_ms == 0 || t0_ms - c->throttle_ms >= (int64_t)AVG_WINDOW_MS / 2;
    bool can_tighten = can_throttle && next != throttle;
    /* A pass that ran for a window (a large dirty set at a slow link)
     * measured enough on its own: waiting for a second one as long would
     * double the time to the first cap. */
    bool enough = stalled >= MIR_THROTTLE_STEP_PASSES ||
                  (pass_ms >= AVG_WINDOW_MS / 2 && c->acc_ms >= AVG_WINDOW_MS / 2);
    if (can_tighten && enough && settled) {
        int r = mir_sync_conv_throttle(sd, next, err);
        if (r < 0)
            return r;
        pthread_mutex_lock(&s->lock);
        c->stalled = 0;
        pthread_mutex_unlock(&s->lock);
        return 0;
    }
    char pred[32] = "no end";
    if (predicted != UINT64_MAX)
        snprintf(pred, sizeof(pred), "%" PRIu64 " ms", predicted);
    /* Once RAM moves (converged), a stall only delays the switchover:
     * QEMU's downtime limit shrinks by the predicted storage part.
     * ETIME, not ETIMEDOUT: mir_sync_wait_converged's own timeout is
     * ETIMEDOUT, and its caller waits again on that. */
    /* Passes or time: with a large dirty set on a slow link, eight passes
     * take minutes. */
    bool too_long =
        stalled >= MIR_THROTTLE_STEP_PASSES && t0_ms - c->stall_since_ms >= STALL_MAX_MS;
    if (!converged && !can_tighten && (stalled >= s->opts.max_stalled || too_long))
        return ferry_error_set(err, ETIME,
                               "not converging: the guest dirties %" PRIu64
                               " B/s and the copy moves %" PRIu64
                               " B/s; %u passes in a row did not shrink the final pass "
                               "(%s predicted, %u ms allowed)%s",
                               drate, rate, stalled, pred, budget,
                               s->opts.auto_converge ? " with writes capped at the floor"
                                                     : "; --auto-converge-storage would cap "
                                                       "the guest's writes");
    return 0;
}

void mir_sync_set_budget(struct mir_sync *s, unsigned budget_ms)
{
    pthread_mutex_lock(&s->lock);
    s->opts.budget_ms = budget_ms;
    pthread_mutex_unlock(&s->lock);
}

unsigned mir_sync_release_throttles(struct mir_sync *s)
{
    unsigned n = 0;
    for (size_t i = 0; i < s->n; i++) {
        struct sync_disk *sd = &s->disks[i];
        struct ferry_error e = {0};
        if (!sd->conv.throttle_set)
            continue;
        if (mir_sync_conv_throttle(sd, 0, &e) < 0) {
            /* The sweep after a restart, or QEMU's exit, takes it. */
            ferry_debug("mir: %s", e.msg);
            ferry_error_clear(&e);
            continue;
        }
        n++;
    }
    return n;
}
