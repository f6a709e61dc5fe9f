/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The storage migration session's flushes of the target (see sync-priv.h):
 * between passes while the guest runs, and the final pass's, which is sent
 * only when a write is not yet covered by a finished flush. */
#include <errno.h>
#include <inttypes.h>
#include <libnbd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sync-priv.h"
#include "util.h"

void mir_sync_flush_close(struct sync_disk *sd)
{
    if (sd->flush_h)
        nbd_close(sd->flush_h); /* flushes still in flight are dropped: harmless */
    sd->flush_h = NULL;
    for (unsigned i = 0; i < sd->nflushes; i++)
        mir_sync_step(sd, "flush", true);
    sd->nflushes = 0;
}

/* Opens the flush connection, only when the target advertises multi-conn:
 * without it a flush on another connection need not cover the engine's
 * writes, and a server that takes one client (qemu-nbd's default) would
 * leave the connect waiting. Without it, flushes between passes stay
 * synchronous on the engine's connection. */
static struct nbd_handle *flush_connect(struct sync_disk *sd)
{
    struct nbd_handle *h = nbd_create();
    if (!h)
        return NULL;
    if (mir_nbd_set_tls(h, &sd->s->opts.copy, sd->target, NULL) < 0 ||
        nbd_connect_uri(h, sd->dest_uri) < 0 || nbd_can_multi_conn(h) != 1 ||
        nbd_can_flush(h) != 1) {
        ferry_debug("mir: disk '%s': no flush connection (%s)", sd->target,
                    nbd_get_error() ? nbd_get_error() : "no multi-conn or flush");
        nbd_close(h);
        return NULL;
    }
    return h;
}

void mir_sync_flush_open(struct sync_disk *sd)
{
    if (!mir_disk_target_multi_conn(sd->disk))
        return;
    sd->flush_h = flush_connect(sd);
}

/* Collects the background flushes that have finished; FGEN advances. With
 * WAIT_GEN > 0, waits (at most the I/O timeout, or until cancelled) while a
 * flush that covers WAIT_GEN is still in flight. A failed flush or
 * connection closes the connection: the caller falls back to the engine's
 * synchronous flush, whose error is the one that counts. */
int mir_sync_flush_reap(struct sync_disk *sd, uint64_t wait_gen)
{
    struct mir_sync *s = sd->s;
    int64_t deadline = ferry_now_ms() + s->opts.copy.io_timeout_ms;
    for (;;) {
        if (!sd->flush_h)
            return -ENOTCONN;
        /* Read whatever replies have arrived, without waiting. */
        while (nbd_aio_in_flight(sd->flush_h) > 0) {
            int p = nbd_poll(sd->flush_h, 0);
            if (p < 0) {
                ferry_debug("mir: disk '%s': flush connection: %s", sd->target, nbd_get_error());
                mir_sync_flush_close(sd);
                return -EIO;
            }
            if (p == 0)
                break;
        }
        unsigned k = 0;
        bool covering = false;
        for (unsigned i = 0; i < sd->nflushes; i++) {
            int c = nbd_aio_command_completed(sd->flush_h, sd->flushes[i].cookie);
            if (c == 0) {
                covering |= sd->flushes[i].gen >= wait_gen;
                sd->flushes[k++] = sd->flushes[i];
            } else if (c < 0) {
                ferry_debug("mir: disk '%s': flush between passes: %s", sd->target,
                            nbd_get_error());
                mir_sync_flush_close(sd);
                return -EIO;
            } else {
                mir_sync_step(sd, "flush", true);
                if (sd->flushes[i].gen > sd->fgen)
                    sd->fgen = sd->flushes[i].gen;
            }
        }
        sd->nflushes = k;
        if (wait_gen == 0 || sd->fgen >= wait_gen || !covering)
            return 0;
        if (atomic_load(&s->cancelled))
            return -ECANCELED;
        int64_t left = deadline - ferry_now_ms();
        if (left <= 0) {
            ferry_debug("mir: disk '%s': flush between passes: no reply in %u ms", sd->target,
                        s->opts.copy.io_timeout_ms);
            mir_sync_flush_close(sd);
            return -ETIMEDOUT;
        }
        /* Slices of 100 ms at most, to notice a cancel. */
        if (nbd_poll(sd->flush_h, left < 100 ? (int)left : 100) < 0) {
            ferry_debug("mir: disk '%s': flush connection: %s", sd->target, nbd_get_error());
            mir_sync_flush_close(sd);
            return -EIO;
        }
    }
}

/* Flushes the target while the guest still runs, so that the final pass
 * (in the guest's downtime) finds nothing written and unflushed, or at
 * least little for the destination to write out: measured in the demo, the
 * final flush was 186 of the final pass's 194 ms, the destination writing
 * out the bulk pass. Not an error when it fails: the final pass flushes
 * then, and that flush is the one that counts; a broken connection fails
 * the next copy, which reconnects. With a flush connection the flush is
 * only sent here: a pass never waits for the destination's writeback
 * (97-126 ms seen while the destination QEMU was loading RAM). */
void mir_sync_flush_start(struct sync_disk *sd)
{
    struct mir_sync *s = sd->s;
    if (sd->fgen == sd->wgen)
        return;
    if (sd->flush_h) {
        mir_sync_flush_reap(sd, 0);
        if (sd->flush_h && sd->nflushes == MIR_FLUSHES_MAX)
            mir_sync_flush_reap(sd, sd->flushes[0].gen);
    }
    if (sd->flush_h && sd->nflushes < MIR_FLUSHES_MAX) {
        if (sd->nflushes > 0 && sd->flushes[sd->nflushes - 1].gen == sd->wgen)
            return;
        int64_t c = nbd_aio_flush(sd->flush_h, NBD_NULL_COMPLETION, 0);
        if (c >= 0) {
            mir_sync_step(sd, "flush", false);
            sd->flushes[sd->nflushes].cookie = c;
            sd->flushes[sd->nflushes].gen = sd->wgen;
            sd->nflushes++;
            return;
        }
        ferry_debug("mir: disk '%s': nbd_aio_flush: %s", sd->target, nbd_get_error());
        mir_sync_flush_close(sd);
    }
    /* Synchronous: not worth it once the final pass is asked for, which
     * flushes anyway. */
    pthread_mutex_lock(&s->lock);
    bool final = s->final_requested;
    pthread_mutex_unlock(&s->lock);
    if (final)
        return;
    struct ferry_error e = {0};
    uint64_t gen = sd->wgen;
    int64_t t0 = ferry_now_ms();
    mir_sync_step(sd, "flush", false);
    int r = mir_disk_flush(sd->disk, &e);
    mir_sync_step(sd, "flush", true);
    if (r < 0) {
        ferry_debug("mir: disk '%s': flush between passes: %s", sd->target, e.msg);
        return;
    }
    sd->fgen = gen;
    ferry_debug("mir: disk '%s': flush between passes: %" PRId64 " ms", sd->target,
                ferry_now_ms() - t0);
}

/* The final pass's flush: none when every write is covered by a flush that
 * has finished (and no copy ever failed, see flush_unsure); waiting for the
 * background flush in flight when that one covers every write; otherwise a
 * flush on the engine's connection. */
int mir_sync_flush_final(struct sync_disk *sd, struct ferry_error *err)
{
    if (!sd->flush_unsure) {
        if (sd->flush_h)
            mir_sync_flush_reap(sd, 0);
        if (sd->fgen == sd->wgen) {
            sd->flush_note = "not needed";
            return 0;
        }
        if (sd->flush_h && sd->nflushes > 0 && sd->flushes[sd->nflushes - 1].gen == sd->wgen &&
            mir_sync_flush_reap(sd, sd->wgen) == 0 && sd->fgen == sd->wgen) {
            sd->flush_note = "waited for the one in flight";
            return 0;
        }
    }
    sd->flush_note = "sent";
    uint64_t gen = sd->wgen;
    mir_sync_step(sd, "flush", false);
    int r = mir_disk_flush(sd->disk, err);
    mir_sync_step(sd, "flush", true);
    if (r >= 0)
        sd->fgen = gen;
    return r;
}

/* ---- write-back during the bulk pass ----------------------------------

   Before this, the destination held the whole bulk copy in its page cache
   and wrote it out when the first flush came, after the copy: a dense
   2 GiB disk spent 2.56 s there with nothing else moving (issue 19). A
   flush every opts.writeback_bytes written makes the destination write
   while the copy runs, so the flush that covers the bulk pass finds little
   left. These flushes are hints: none of them counts for durability (FGEN
   does not move), the covering flush after the pass and the final pass's
   stay as they were. One flush at a time, on a connection of the thread's
   own (multi-conn: a flush there covers the engine's answered writes). */

static bool wb_should_stop(struct sync_disk *sd)
{
    return atomic_load(&sd->wb_stop) || atomic_load(&sd->s->cancelled);
}

/* One flush on H, waiting in slices so a stop is noticed; false when the
 * connection is no use any more. */
static bool wb_flush(struct sync_disk *sd, struct nbd_handle *h)
{
    int64_t c = nbd_aio_flush(h, NBD_NULL_COMPLETION, 0);
    if (c < 0)
        return false;
    mir_sync_step(sd, "writeback", false);
    bool ok = true;
    for (;;) {
        int done = nbd_aio_command_completed(h, c);
        if (done != 0) {
            ok = done > 0;
            break;
        }
        if (wb_should_stop(sd) && !atomic_load(&sd->wb_stop)) {
            ok = false; /* cancelled: the connection is closed under it */
            break;
        }
        if (nbd_poll(h, 100) < 0) {
            ok = false;
            break;
        }
    }
    mir_sync_step(sd, "writeback", true);
    if (!ok)
        ferry_debug("mir: disk '%s': write-back flush: %s", sd->target,
                    nbd_get_error() ? nbd_get_error() : "cancelled");
    return ok;
}

static void *wb_main(void *opaque)
{
    struct sync_disk *sd = opaque;
    struct nbd_handle *h = flush_connect(sd);
    uint64_t every = sd->s->opts.writeback_bytes, flushed_at = 0;

    while (h && !wb_should_stop(sd)) {
        struct mir_progress p;
        mir_disk_progress(sd->disk, &p);
        if (p.copied - flushed_at >= every) {
            flushed_at = p.copied;
            if (!wb_flush(sd, h))
                break;
            continue; /* the copy went on meanwhile: maybe at once again */
        }
        usleep(20 * 1000);
    }
    if (h)
        nbd_close(h);
    return NULL;
}

void mir_sync_writeback_start(struct sync_disk *sd)
{
    if (!sd->flush_h || sd->wb_started || sd->s->opts.writeback_bytes == MIR_WRITEBACK_NONE)
        return;
    atomic_store(&sd->wb_stop, false);
    sd->wb_started = pthread_create(&sd->wb_thread, NULL, wb_main, sd) == 0;
}

void mir_sync_writeback_stop(struct sync_disk *sd)
{
    if (!sd->wb_started)
        return;
    atomic_store(&sd->wb_stop, true);
    pthread_join(sd->wb_thread, NULL);
    sd->wb_started = false;
}
