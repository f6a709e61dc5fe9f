/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The per-disk worker of a storage migration session (sync.c): its dirty
 * passes (freeze the bitmap, read it over NBD, copy its extents), the
 * retries and reconnects that keep a pass going through a lost
 * connection, and the final pass once the guest is paused. */
#include <errno.h>
#include <inttypes.h>
#include <libnbd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "mir-sync.h"
#include "qmp.h"
#include "sync-priv.h"
#include "util.h"

static void mark(struct sync_disk *sd, int step)
{
    if (sd->timing)
        sd->t_final[step] = ferry_now_us();
}

/* ---- one dirty pass ---------------------------------------------------- */

static bool final_asked(struct mir_sync *s)
{
    pthread_mutex_lock(&s->lock);
    bool final = s->final_requested;
    pthread_mutex_unlock(&s->lock);
    return final;
}

static void session_fail(struct mir_sync *s, const struct ferry_error *e)
{
    pthread_mutex_lock(&s->lock);
    if (!s->failed) {
        s->failed = true;
        ferry_error_set(&s->err, e->code ? e->code : EIO, "%s", e->msg);
    }
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

/* mir_disk_copy, noting for the flush logic whether it wrote anything and
 * whether it failed (see flush_unsure). */
static int copy_tracked(struct sync_disk *sd, const struct mir_extent_list *ranges, unsigned flags,
                        struct ferry_error *err)
{
    struct mir_progress p0, p1;
    mir_disk_progress(sd->disk, &p0);
    int r = mir_disk_copy(sd->disk, ranges, flags, err);
    mir_disk_progress(sd->disk, &p1);
    if (p1.copied + p1.zeroed != p0.copied + p0.zeroed)
        sd->wgen++;
    if (r < 0)
        sd->flush_unsure = true;
    return r;
}

/* Freezes the dirty bitmap, reads its extents, copies them. *ret_dirty gets
 * the bytes found dirty. Leaves no export or frozen bitmap behind, except
 * when the final pass was asked for meanwhile: the frozen bitmap's removal
 * then waits for mir_sync_cleanup() (see stale). */
static int dirty_pass(struct sync_disk *sd, uint64_t *ret_dirty, struct ferry_error *err)
{
    struct mir_sync *s = sd->s;
    char frozen[MIR_NAME_MAX + 16], uri[512];
    struct mir_extent_list list;
    struct ferry_error e2 = {0};
    bool exported = false;
    int r;

    mir_extent_list_init(&list);
    snprintf(frozen, sizeof(frozen), "%s-%u", sd->active, ++sd->freezes);
    r = mir_bitmap_freeze(s->qmp, sd->node, sd->active, frozen, err);
    if (r < 0)
        return r;
    r = mir_export_add(s->qmp, sd->dirty_export, sd->node, sd->dirty_export, frozen, err);
    if (r < 0)
        goto give_back;
    exported = true;
    snprintf(uri, sizeof(uri), "nbd+unix:///%s?socket=%s", sd->dirty_export, s->sock);
    r = mir_dirty_read(uri, frozen, &list, err);
    if (r < 0)
        goto give_back;
    if (!final_asked(s)) { /* else the guest is paused: deleting it can wait */
        exported = false;
        r = mir_export_del(s->qmp, sd->dirty_export, err);
        if (r < 0)
            goto give_back;
    }

    *ret_dirty = mir_extent_list_bytes(&list);
    ferry_debug("mir: disk '%s': pass %u: %zu extents, %" PRIu64 " bytes dirty", sd->target,
                sd->freezes, list.n, *ret_dirty);
    int64_t c0 = ferry_now_ms();
    r = copy_tracked(sd, &list, 0, err);
    sd->last_copy_ms = (uint64_t)(ferry_now_ms() - c0);
    mir_extent_list_clear(&list);
    if (r < 0)
        goto give_back;
    if (exported || final_asked(s)) { /* the guest is paused: removal can wait */
        snprintf(sd->stale, sizeof(sd->stale), "%s", frozen);
        sd->stale_export = exported;
        return 0;
    }
    return mir_bitmap_remove(s->qmp, sd->node, frozen, err);

give_back:
    /* The pass did not copy its extents: hand them back to the active
     * bitmap so that nothing is lost if the caller tries again. An
     * exported bitmap is busy (cannot be merged) until the export is gone. */
    mir_extent_list_clear(&list);
    if (exported && mir_export_del(s->qmp, sd->dirty_export, &e2) < 0)
        ferry_debug("mir: disk '%s': %s", sd->target, e2.msg); /* the merge says more */
    ferry_error_clear(&e2);
    int m = mir_bitmap_merge(s->qmp, sd->node, sd->active, frozen, &e2);
    /* After the merge: a count snapshot taken before this may miss it. */
    pthread_mutex_lock(&s->lock);
    sd->merges++;
    pthread_mutex_unlock(&s->lock);
    if (m < 0) {
        /* Those extents would be lost to a retry: the session must fail. */
        ferry_error_set(err, ENOTRECOVERABLE, "dirty extents could not be given back: %s",
                        ferry_error_msg(&e2));
        return -ENOTRECOVERABLE;
    }
    ferry_error_clear(&e2);
    mir_bitmap_remove(s->qmp, sd->node, frozen, &e2);
    return r;
}

/* The final pass, guest paused and its I/O drained: the active bitmap
 * cannot change any more, so it needs no freeze transaction (which drains
 * every node; ~3x a plain command here). One query gives its dirty count;
 * when that is 0 (the usual case: the dirty passes kept up) nothing else
 * happens. Otherwise it is disabled (a read-only export refuses an enabled
 * bitmap), exported, read and copied. On success final_export is left for
 * mir_sync_cleanup(), after the switchover. On failure the bitmap is
 * enabled again, unchanged, so a retry (or anything else) finds it whole. */
static int final_pass(struct sync_disk *sd, uint64_t *ret_dirty, struct ferry_error *err)
{
    struct mir_sync *s = sd->s;
    struct mir_extent_list list;
    struct ferry_error e2 = {0};
    uint64_t count = 0;
    char uri[512];
    int r;

    *ret_dirty = 0;
    pthread_mutex_lock(&s->lock);
    bool known = sd->final_count_known && sd->merges == sd->merges_at_count;
    count = sd->final_count;
    pthread_mutex_unlock(&s->lock);
    r = known ? 0 : mir_bitmap_count(s->qmp, sd->node, sd->active, &count, err);
    mark(sd, T_CHECK);
    if (r < 0)
        return r;
    if (count == 0) {
        ferry_debug("mir: disk '%s': final pass: nothing dirty", sd->target);
        return 0;
    }
    r = mir_bitmap_enable(s->qmp, sd->node, sd->active, false, err);
    mark(sd, T_DISABLE);
    if (r < 0)
        return r;
    r = mir_export_add(s->qmp, sd->final_export, sd->node, sd->final_export, sd->active, err);
    mark(sd, T_EXPORT);
    if (r < 0)
        goto enable;
    mir_extent_list_init(&list);
    snprintf(uri, sizeof(uri), "nbd+unix:///%s?socket=%s", sd->final_export, s->sock);
    r = mir_dirty_read(uri, sd->active, &list, err);
    mark(sd, T_READ);
    if (r >= 0) {
        *ret_dirty = mir_extent_list_bytes(&list);
        ferry_debug("mir: disk '%s': final pass: %zu extents, %" PRIu64 " bytes dirty", sd->target,
                    list.n, *ret_dirty);
        r = copy_tracked(sd, &list, 0, err);
        mark(sd, T_COPY);
    }
    mir_extent_list_clear(&list);
    if (r >= 0) {
        sd->leftover_export = true;
        return 0;
    }
    if (mir_export_del(s->qmp, sd->final_export, &e2) < 0)
        ferry_debug("mir: disk '%s': %s", sd->target, e2.msg);
    ferry_error_clear(&e2);
enable:
    /* The guest is paused: while the bitmap is disabled nothing is missed;
     * enabled again, it is as the final pass found it. */
    if (mir_bitmap_enable(s->qmp, sd->node, sd->active, true, &e2) < 0)
        ferry_debug("mir: disk '%s': %s", sd->target, e2.msg);
    ferry_error_clear(&e2);
    return r;
}

/* ---- the worker -------------------------------------------------------- */

/* Waits up to MS for a cancel, a failure or (when FINAL_TOO) the final
 * pass; true when one came. */
static bool wait_interval(struct mir_sync *s, unsigned ms, bool final_too)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&s->lock);
    while (!(final_too && s->final_requested) && !s->failed && !atomic_load(&s->cancelled))
        if (pthread_cond_timedwait(&s->cond, &s->lock, &ts) != 0)
            break;
    bool stop = (final_too && s->final_requested) || s->failed || atomic_load(&s->cancelled);
    pthread_mutex_unlock(&s->lock);
    return stop;
}

static bool retryable(int r)
{
    switch (-r) {
    case ECANCELED:
    case EINVAL:
    case ENOSPC:
    case EROFS:
    case ENOMEM:
    case E2BIG:
    case ENOTRECOVERABLE:
    case ESTALE:
        return false;
    default:
        return true;
    }
}

enum pass_kind { PASS_BULK, PASS_DIRTY, PASS_FINAL };

#define RETRY_DELAY_FIRST_MS 500u
#define RETRY_DELAY_MAX_MS   4000u
#define REFUSED_MAX          2u /* refused connects in a row that end the retries */

/* Runs the bulk pass, a dirty pass or the final pass, and runs it again
 * after a transient failure, with backoff, within the reconnect window (a
 * dirty pass's retry wait ends early, returning 1, when the final pass is
 * asked for). Retrying is safe: the engine reconnects (and checks it found
 * the same export); a failed dirty pass gave its extents back to the active
 * bitmap; and a bulk pass resumed at the engine's resume offset, into the
 * target it half wrote, may still skip holes, because any source block
 * that changed since the first attempt is in the active bitmap. A bulk
 * attempt that moved the resume offset made progress: the window starts
 * again, so a link that drops every few seconds slows a long copy down
 * but does not fail it. Nothing is retried once the source QEMU's monitor
 * has closed (the bitmaps and exports went with it), nor after a second
 * refused connect in a row (the destination's NBD server is gone). */
static int pass_with_retries(struct sync_disk *sd, enum pass_kind kind, uint64_t *ret_dirty,
                             struct ferry_error *err)
{
    bool bulk = kind == PASS_BULK, interruptible = kind == PASS_DIRTY;
    struct mir_sync *s = sd->s;
    unsigned delay_ms = RETRY_DELAY_FIRST_MS;
    int64_t first_fail_ms = -1; /* start of the window; -1: no failure yet */
    uint64_t from = 0;          /* bulk: where the retry resumes */
    unsigned refused = 0;       /* attempts in a row whose connect was refused */
    for (unsigned attempt = 0;; attempt++) {
        struct ferry_error e = {0};
        int r;
        if (bulk) {
            struct mir_extent_list rest;
            mir_extent_list_init(&rest);
            mir_extent_list_add(&rest, from, mir_disk_size(sd->disk) - from);
            r = copy_tracked(sd, &rest,
                             (sd->dest_is_zero ? MIR_COPY_TARGET_ZERO : 0) |
                                 (sd->top_only ? MIR_COPY_TOP_ONLY : 0) |
                                 (attempt > 0 ? MIR_COPY_CONTINUE : 0),
                             &e);
            mir_extent_list_clear(&rest);
            if (r < 0 && mir_disk_resume_offset(sd->disk) > from) {
                from = mir_disk_resume_offset(sd->disk);
                first_fail_ms = -1; /* progress: a new window */
                delay_ms = RETRY_DELAY_FIRST_MS;
            }
        } else if (kind == PASS_FINAL) {
            r = final_pass(sd, ret_dirty, &e);
        } else {
            r = dirty_pass(sd, ret_dirty, &e);
        }
        if (r >= 0)
            return r;
        int64_t now = ferry_now_ms();
        if (first_fail_ms < 0)
            first_fail_ms = now;
        bool monitor_gone = !qmp_conn_alive(s->qmp);
        /* A refused connect is no network trouble: the host answered that
         * nothing listens there. The destination's NBD server lives in its
         * QEMU, with the exports of this migration only: once it is gone
         * (QEMU killed, Finish ran), no retry finds it again. Twice in a row,
         * so that one refusal racing a listener's start is not fatal. */
        refused = r == -ECONNREFUSED ? refused + 1 : 0;
        bool server_gone = refused >= REFUSED_MAX;
        if (s->opts.reconnect_timeout_ms == MIR_RECONNECT_NONE || !retryable(r) || monitor_gone ||
            server_gone || atomic_load(&s->cancelled) ||
            now + delay_ms - first_fail_ms > (int64_t)s->opts.reconnect_timeout_ms) {
            ferry_error_set(err, e.code, "%s", e.msg);
            if (monitor_gone)
                ferry_error_prefix(err, "source QEMU's monitor closed");
            else if (server_gone)
                ferry_error_prefix(err,
                                   "the NBD server refused %u connections in a row (gone "
                                   "with its QEMU?)",
                                   refused);
            else if (attempt > 0)
                ferry_error_prefix(err, "%u attempts in %" PRId64 " ms", attempt + 1,
                                   now - first_fail_ms);
            return r;
        }
        ferry_debug("mir: %s; trying again in %u ms", e.msg, delay_ms);
        pthread_mutex_lock(&s->lock);
        sd->retries++;
        pthread_mutex_unlock(&s->lock);
        /* A dirty pass between the bulk and the final pass gave its extents
         * back to the active bitmap: when the final pass is asked for, it
         * covers them, so stop waiting (returns 1). */
        if (wait_interval(s, delay_ms, interruptible)) {
            pthread_mutex_lock(&s->lock);
            bool final = s->final_requested && !s->failed && !atomic_load(&s->cancelled);
            pthread_mutex_unlock(&s->lock);
            if (interruptible && final)
                return 1;
            return ferry_error_set(err, ECANCELED, "cancelled");
        }
        delay_ms = delay_ms * 2 > RETRY_DELAY_MAX_MS ? RETRY_DELAY_MAX_MS : delay_ms * 2;
    }
}

/* After a small pass: true when the active bitmap is still empty, so the
 * next dirty pass may be skipped. One QMP round trip, where a pass costs
 * four (freeze, export add and delete, bitmap removal) and an NBD connect;
 * that is what lets passes be checked for every 50 ms. An error only means
 * the pass runs (and reports real trouble). */
static bool nothing_dirty(struct sync_disk *sd)
{
    struct ferry_error e = {0};
    uint64_t count = 0;
    if (mir_bitmap_count(sd->s->qmp, sd->node, sd->active, &count, &e) < 0) {
        ferry_debug("mir: disk '%s': %s", sd->target, e.msg);
        return false;
    }
    return count == 0;
}

static void worker_run(struct sync_disk *sd)
{
    struct mir_sync *s = sd->s;
    struct ferry_error err = {0};
    uint64_t dirty = 0;
    unsigned passes = 0;
    bool check = false; /* the last pass was small: look at the count first */
    int r;

    mir_sync_flush_open(sd);
    /* The bitmap records from before the bulk pass: the first dirty pass's
     * rate is over the bulk pass's time, its copy rate the bulk pass's. */
    int64_t bulk_t0 = ferry_now_ms();
    mir_sync_step(sd, "bulk", false);
    mir_sync_writeback_start(sd);
    r = pass_with_retries(sd, PASS_BULK, &dirty, &err);
    mir_sync_writeback_stop(sd);
    mir_sync_step(sd, "bulk", true);
    if (r < 0)
        goto fail;
    struct mir_progress pb;
    mir_disk_progress(sd->disk, &pb);
    int64_t bulk_ms = ferry_now_ms() - bulk_t0;
    pthread_mutex_lock(&s->lock);
    sd->conv.last_freeze_ms = bulk_t0;
    if (bulk_ms > 0 && pb.copied + pb.zeroed >= (1u << 20))
        sd->conv.copy_rate = (pb.copied + pb.zeroed) * 1000 / (uint64_t)bulk_ms;
    pthread_mutex_unlock(&s->lock);
    mir_sync_flush_start(sd);
    pthread_mutex_lock(&s->lock);
    sd->bulk_done = true;
    pthread_mutex_unlock(&s->lock);

    for (;;) {
        pthread_mutex_lock(&s->lock);
        bool stop = s->final_requested || s->failed || atomic_load(&s->cancelled);
        pthread_mutex_unlock(&s->lock);
        if (stop)
            break;
        if (sd->flush_h)
            mir_sync_flush_reap(sd, 0);
        if (check && nothing_dirty(sd)) {
            mir_disk_set_dirty(sd->disk, 0, true);
            if (wait_interval(s, s->opts.pass_interval_ms, true))
                break;
            continue;
        }
        mir_sync_step(sd, "dirty", false);
        struct mir_progress p0, p1;
        int64_t t0 = ferry_now_ms();
        mir_disk_progress(sd->disk, &p0);
        r = pass_with_retries(sd, PASS_DIRTY, &dirty, &err);
        mir_sync_step(sd, "dirty", true);
        if (r < 0)
            goto fail;
        if (r == 1) /* the final pass was asked for during a retry wait */
            break;
        passes++;
        if (dirty > 0)
            mir_sync_flush_start(sd);
        mir_disk_progress(sd->disk, &p1);
        bool converged = false;
        r = mir_sync_conv_after_pass(sd, t0, (uint64_t)(ferry_now_ms() - t0), sd->last_copy_ms,
                                     dirty, p1.copied + p1.zeroed - p0.copied - p0.zeroed,
                                     &converged, &err);
        if (r < 0)
            goto fail;
        /* Before the disk first counts as converged (and Perform moves on
         * to RAM), let the flush that covers the bulk copy finish: else
         * the final pass waits for the destination's writeback inside the
         * guest's downtime (69 ms in the demo, its images on ext4). Bounded
         * by the I/O timeout; a failure leaves the flush to the final pass. */
        if (converged && !sd->converged && sd->flush_h)
            mir_sync_flush_reap(sd, sd->wgen);
        mir_disk_set_dirty(sd->disk, dirty, converged);
        pthread_mutex_lock(&s->lock);
        if (converged && !sd->converged) {
            sd->converged = true;
            pthread_cond_broadcast(&s->cond);
        }
        pthread_mutex_unlock(&s->lock);
        if (!converged && s->opts.max_passes && passes >= s->opts.max_passes) {
            ferry_error_set(&err, ETIME, /* not ETIMEDOUT: see sync-converge.c */
                            "not converging after %u dirty passes (%" PRIu64 " bytes dirty)",
                            passes, dirty);
            goto fail;
        }
        /* Once the dirty set is small, passes are paced, and each one
         * starts with a look at the dirty count (nothing_dirty). */
        check = converged;
        if (converged && wait_interval(s, s->opts.pass_interval_ms, true))
            break;
    }

    pthread_mutex_lock(&s->lock);
    bool final = s->final_requested && !s->failed && !atomic_load(&s->cancelled);
    pthread_mutex_unlock(&s->lock);
    if (!final) {
        if (atomic_load(&s->cancelled)) {
            ferry_error_set(&err, ECANCELED, "cancelled");
            goto fail;
        }
        return; /* another disk failed; it reported */
    }
    sd->timing = true;
    mark(sd, T_WOKE);
    r = pass_with_retries(sd, PASS_FINAL, &dirty, &err);
    if (r >= 0)
        r = mir_sync_flush_final(sd, &err);
    mark(sd, T_FLUSH);
    if (r < 0)
        goto fail;
    sd->final_done = true;
    mir_disk_set_dirty(sd->disk, 0, true);
    return;

fail:
    /* Engine errors already name the disk; QMP ones do not. */
    if (strncmp(err.msg, "disk '", 6) == 0)
        ferry_error_prefix(&err, "storage");
    else
        ferry_error_prefix(&err, "storage: disk '%s'", sd->target);
    session_fail(s, &err);
    /* One disk failing fails the session: stop the others now. */
    for (size_t i = 0; i < s->n; i++)
        mir_disk_cancel(s->disks[i].disk);
}

void *mir_sync_worker(void *opaque)
{
    struct sync_disk *sd = opaque;
    worker_run(sd);
    mir_sync_flush_close(sd);
    return NULL;
}
