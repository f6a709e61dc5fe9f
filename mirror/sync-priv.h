/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private to the storage migration session (sync.c: passes, worker,
 * session; sync-flush.c: the target's flushes between and at the end of
 * passes). Not part of the engine's interface (mir.h). */
#ifndef FERRY_NBD_SYNC_PRIV_H
#define FERRY_NBD_SYNC_PRIV_H

#include <libnbd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "mir-sync.h"
#include "qmp.h"

#define MIR_SYNC_MAX_DISKS           64
#define MIR_DEFAULT_CONVERGE_BYTES   (32u * 1024 * 1024)
#define MIR_DEFAULT_PASS_INTERVAL_MS 50u
#define MIR_DEFAULT_MAX_STALLED      8u
#define MIR_NAME_MAX                 160
/* Background flushes in flight per disk; one per dirty pass that wrote. */
#define MIR_FLUSHES_MAX 4

/* Steps of the final pass, for the debug breakdown. */
enum {
    T_WOKE,    /* the worker left its dirty-pass loop */
    T_CHECK,   /* dirty count of the active bitmap known */
    T_DISABLE, /* active bitmap disabled (only when something is dirty) */
    T_EXPORT,  /* export added */
    T_READ,    /* dirty extents read over NBD */
    T_COPY,    /* extents copied */
    T_FLUSH,   /* target flushed, or found not to need it */
    T_STEPS
};

struct sync_disk {
    struct mir_sync *s;
    char *target;
    char *node;
    char *source_path; /* NULL: read through src_export */
    char *dest_uri;
    bool direct;
    bool dest_is_zero;
    bool top_only; /* bulk pass: the top image alone (export with allocation-depth) */
    char *device;  /* qdev id for block_set_io_throttle; NULL: none */

    char active[MIR_NAME_MAX];     /* the enabled bitmap */
    char src_export[MIR_NAME_MAX]; /* read-only export of the node (NBD source) */
    char dirty_export[MIR_NAME_MAX];
    char final_export[MIR_NAME_MAX];
    bool bitmap_added;
    bool src_export_added;

    struct mir_disk *disk; /* set before the worker starts, then constant */
    pthread_t thread;
    bool thread_started;
    unsigned freezes;
    bool bulk_done;   /* under s->lock */
    bool converged;   /* under s->lock */
    unsigned retries; /* under s->lock: passes tried again */
    /* Merges of a failed pass's extents back into the active bitmap
     * (under s->lock), and the control thread's snapshot of it when it took
     * the final pass's dirty counts for all disks in one query: the worker
     * trusts FINAL_COUNT only if no merge happened since. */
    unsigned merges;
    unsigned merges_at_count;
    bool final_count_known;
    uint64_t final_count;
    /* Steps of the final pass (ferry_now_us(); 0 = not reached), written by
     * the worker, read by the control thread after the join. */
    int64_t t_final[T_STEPS];
    bool timing;            /* the worker is in its final pass: record steps */
    const char *flush_note; /* how the final pass's flush went (static string) */
    /* Left by a successful final pass for mir_sync_cleanup(): final_export
     * still exists (it holds the disabled active bitmap); final_done: the
     * active bitmap is no longer needed. */
    bool leftover_export;
    bool final_done;
    /* A dirty pass that finished after the final pass was asked for leaves
     * its frozen bitmap here (empty: none), and dirty_export when it still
     * existed then (STALE_EXPORT), for mir_sync_cleanup(). */
    char stale[MIR_NAME_MAX + 16];
    bool stale_export;

    /* Flushes of the target between passes, worker thread only. WGEN counts
     * the copies that wrote something; FGEN is the highest WGEN a finished
     * flush covers (a flush covers the writes answered before it was sent).
     * When FGEN == WGEN at the final pass, nothing written is unflushed and
     * the final pass needs no flush. With multi-conn, flushes go out as
     * asynchronous commands on a connection of their own (FLUSH_H), so no
     * pass waits for the destination's writeback. */
    struct nbd_handle *flush_h;
    uint64_t wgen, fgen;
    struct {
        int64_t cookie;
        uint64_t gen;
    } flushes[MIR_FLUSHES_MAX];
    unsigned nflushes;
    /* Write-back during the bulk pass: a thread of its own that flushes
     * the target on a connection of its own every MIR_WRITEBACK_BYTES
     * written, so the destination writes its page cache out while the
     * copy runs, not after it. Started and stopped by the worker. */
    pthread_t wb_thread;
    bool wb_started;
    atomic_bool wb_stop;
    /* A copy failed: writes may have been in flight on the connections it
     * dropped, which no later flush is sure to cover. The final pass then
     * always flushes (as it always did). */
    bool flush_unsure;
    uint64_t last_copy_ms; /* worker only: the last dirty pass's copy alone */

    /* Measurements and auto-converge (sync-converge.c). Written by the
     * worker under s->lock, read by mir_sync_progress; the throttle also by
     * the control thread once the worker is joined. */
    struct sync_conv {
        int64_t last_freeze_ms; /* start of the previous pass (0: none yet) */
        uint64_t prev_dirty;    /* bytes the previous pass found */
        uint64_t acc_dirty;     /* bytes found dirty in the averaging window */
        uint64_t acc_ms;        /* ... over this many ms (halved past 2 s) */
        uint64_t dirty_rate;    /* bytes/s dirtied, averaged over ~1-2 s */
        uint64_t acc_copied;    /* bytes copied by passes of >= 1 MiB in the window */
        uint64_t acc_copy_ms;   /* ... in this many ms of copying (halved past 2 s) */
        uint64_t copy_rate;     /* bytes/s, averaged like the dirty rate */
        uint64_t predicted_ms;  /* final pass, predicted */
        unsigned stalled;       /* passes in a row that neither shrank nor fit */
        int64_t stall_since_ms; /* start of the first of them */
        uint64_t throttle;      /* bytes/s on the device now; 0: none */
        int64_t throttle_ms;    /* when it was last changed (ferry_now_ms) */
        bool throttle_set;      /* QEMU has our throttle on the device */
    } conv;
};

struct mir_sync {
    struct qmp_conn *qmp; /* borrowed */
    struct mir_sync_opts opts;
    char sock[108];
    bool server_started;
    struct sync_disk *disks;
    size_t n;

    pthread_mutex_t lock; /* protects everything below and sync_disk flags */
    pthread_cond_t cond;
    bool started;
    bool final_requested;
    bool failed;
    struct ferry_error err; /* first worker error */
    atomic_bool cancelled;
};

/* ---- sync-converge.c: measuring passes, predicting the final one ---- */

/* Pure: the final pass's predicted length in ms for a guest dirtying
 * DIRTY_RATE bytes/s, a copy at COPY_RATE bytes/s, passes paced
 * INTERVAL_MS apart and the pass now running PASS_MS long; UINT64_MAX when
 * something is dirtied and the copy rate is not known (0) or not ahead of
 * the dirty rate (sync-converge.c has the formula). */
uint64_t mir_conv_predict_ms(uint64_t dirty_rate, uint64_t copy_rate, uint64_t interval_ms,
                             uint64_t pass_ms);
/* Pure: the next write cap after CURRENT (0: none yet) when passes stall
 * at COPY_RATE: 90% of the copy rate first, then 70% of the last cap, not
 * below MIR_THROTTLE_MIN. Returns CURRENT when already at the floor. */
uint64_t mir_conv_next_throttle(uint64_t current, uint64_t copy_rate);
#define MIR_THROTTLE_MIN (256u * 1024)
/* Pure: the copy rate a prediction uses: COPY_RATE, or while RAM moves the
 * rate of a pass that copied COPIED bytes in COPY_MS when that is lower
 * and the pass long enough to tell. */
uint64_t mir_conv_now_rate(uint64_t copy_rate, bool ram_moving, uint64_t copied, uint64_t copy_ms);
/* Pure: the write cap while RAM moves, after a pass that did not fit the
 * storage budget BUDGET_MS: the share of PASS_RATE (what this pass
 * copied per second, the link as RAM leaves it) that lets a final pass
 * fit, with passes INTERVAL_MS apart and the one now running PASS_MS
 * long; never above a step below CURRENT (mir_conv_next_throttle), never
 * below MIR_RAM_STAGE_FLOOR. */
uint64_t mir_conv_ram_throttle(uint64_t current, uint64_t pass_rate, uint64_t budget_ms,
                               uint64_t interval_ms, uint64_t pass_ms);
/* Pure: the cap when RAM migration starts, for a disk copied at COPY_RATE
 * with BUDGET_MS of the pause: one budget's worth of the share of the
 * copy rate RAM leaves (half) per second of the RAM stage, not below
 * MIR_RAM_STAGE_FLOOR. */
uint64_t mir_conv_ram_stage_cap(uint64_t copy_rate, uint64_t budget_ms);
#define MIR_RAM_STAGE_FLOOR (64u * 1024)
/* Passes in a row that must stall before the cap is tightened again. */
#define MIR_THROTTLE_STEP_PASSES 2u

/* Worker, after a dirty pass that started at T0_MS, ran PASS_MS (of which
 * COPY_MS copying: the rest is QMP, which waits behind anything else on
 * the source's monitor and says nothing of the link), found DIRTY bytes
 * and copied COPIED bytes: updates the rates and prediction,
 * tightens the throttle when passes stall (auto_converge). *RET_FITS: the
 * predicted final pass fits the budget (or, with no budget, DIRTY is under
 * converge_bytes). Returns -ETIME (ERR set) when the disk does not
 * converge and nothing more can be done. */
int mir_sync_conv_after_pass(struct sync_disk *sd, int64_t t0_ms, uint64_t pass_ms,
                             uint64_t copy_ms, uint64_t dirty, uint64_t copied, bool *ret_fits,
                             struct ferry_error *err);
/* Sets (BPS > 0) or removes (0) the write cap on the disk's device. */
int mir_sync_conv_throttle(struct sync_disk *sd, uint64_t bps, struct ferry_error *err);

/* ---- sync-flush.c: flushes of the target, worker thread only ---- */

/* Opens the disk's flush connection when the target has multi-conn. */
void mir_sync_flush_open(struct sync_disk *sd);
void mir_sync_flush_close(struct sync_disk *sd);
/* Collects finished background flushes; with WAIT_GEN > 0 waits (bounded)
 * while a flush covering WAIT_GEN is in flight. */
int mir_sync_flush_reap(struct sync_disk *sd, uint64_t wait_gen);
/* Flushes what was written since the last flush, in the background when
 * the disk has a flush connection. */
void mir_sync_flush_start(struct sync_disk *sd);
/* The final pass's flush, or none when every write is already covered. */
int mir_sync_flush_final(struct sync_disk *sd, struct ferry_error *err);
/* Starts / stops (joins) the write-back thread of the bulk pass; start
 * does nothing when the disk has no flush connection (no multi-conn). */
void mir_sync_writeback_start(struct sync_disk *sd);
void mir_sync_writeback_stop(struct sync_disk *sd);

/* Reports step WHAT ("bulk", "dirty", ...) of SD's disk to the session's
 * on_step as "WHAT:TARGET" (sync.c). Worker thread, no lock held. */
void mir_sync_step(struct sync_disk *sd, const char *what, bool end);

/* The thread of one disk's passes (sync-worker.c); OPAQUE is its
 * struct sync_disk. */
void *mir_sync_worker(void *opaque);

#endif
