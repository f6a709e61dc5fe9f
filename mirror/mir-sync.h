/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferry's storage migration session (prefix mir_, above the copy engine of
 * mir.h): dirty bitmaps and NBD exports on the source QEMU over QMP, and
 * struct mir_sync, which runs a bulk pass, dirty passes and the final pass
 * at switchover for several disks in parallel. */
#ifndef FERRY_MIR_SYNC_H
#define FERRY_MIR_SYNC_H

#include "mir.h"

struct qmp_conn;

/* ------------------------------------------------------------------ */
/* Dirty bitmaps over QMP (mirror/bitmap.c)                                */

/* Adds a non-persistent enabled dirty bitmap NAME on NODE. */
int mir_bitmap_add(struct qmp_conn *qmp, const char *node, const char *name,
                   struct ferry_error *err);
/* Removes bitmap NAME from NODE. */
int mir_bitmap_remove(struct qmp_conn *qmp, const char *node, const char *name,
                      struct ferry_error *err);
/* In one transaction: adds disabled bitmap FROZEN, merges ACTIVE into it and
 * clears ACTIVE. Every write before the transaction is in FROZEN, every write
 * after it in ACTIVE. */
int mir_bitmap_freeze(struct qmp_conn *qmp, const char *node, const char *active,
                      const char *frozen, struct ferry_error *err);
/* Merges SRC into DST (used to give back the extents of an aborted pass). */
int mir_bitmap_merge(struct qmp_conn *qmp, const char *node, const char *dst, const char *src,
                     struct ferry_error *err);
/* Enables (ENABLE) or disables bitmap NAME on NODE: a disabled bitmap
 * records no writes and may be exported read-only. */
int mir_bitmap_enable(struct qmp_conn *qmp, const char *node, const char *name, bool enable,
                      struct ferry_error *err);
/* *ret_count = the bytes bitmap NAME on NODE has dirty (one QMP round trip,
 * no export). -ENOENT when there is no such bitmap. */
int mir_bitmap_count(struct qmp_conn *qmp, const char *node, const char *name, uint64_t *ret_count,
                     struct ferry_error *err);
/* The same for N bitmaps NAMES[i] on NODES[i] in one round trip; a bitmap
 * that does not exist gets MIR_BITMAP_COUNT_NONE. */
#define MIR_BITMAP_COUNT_NONE UINT64_MAX
int mir_bitmap_counts(struct qmp_conn *qmp, size_t n, const char *const *nodes,
                      const char *const *names, uint64_t *ret_counts, struct ferry_error *err);

/* Starts QEMU's NBD server on the unix socket PATH. */
int mir_nbd_server_start(struct qmp_conn *qmp, const char *path, struct ferry_error *err);
int mir_nbd_server_stop(struct qmp_conn *qmp, struct ferry_error *err);
/* Exports NODE read-only as NAME (export id ID), with BITMAP (may be NULL)
 * readable as the meta context qemu:dirty-bitmap:BITMAP. */
int mir_export_add(struct qmp_conn *qmp, const char *id, const char *node, const char *name,
                   const char *bitmap, struct ferry_error *err);
/* Exports NODE read-only as NAME (export id ID) with the meta context
 * qemu:allocation-depth (QEMU >= 5.2), which tells the top image's data
 * from its backing chain's: for a top-only copy. An older QEMU refuses the
 * option; that is an error, never a silent full copy. */
int mir_export_add_depth(struct qmp_conn *qmp, const char *id, const char *node, const char *name,
                         struct ferry_error *err);
/* Deletes export ID and waits (up to 10 s) until QEMU reports it gone, so
 * its bitmap is unlocked afterwards. */
int mir_export_del(struct qmp_conn *qmp, const char *id, struct ferry_error *err);

/* Reads the dirty extents of bitmap BITMAP from the NBD export URI (which
 * exports it) into *RET (initialised by the caller; appended to). */
int mir_dirty_read(const char *uri, const char *bitmap, struct mir_extent_list *ret,
                   struct ferry_error *err);

/* ------------------------------------------------------------------ */
/* Storage migration session (mirror/sync.c)                               */

struct mir_sync_disk {
    const char *target;        /* guest disk name, e.g. "vda" */
    const char *node;          /* format node; NULL = "f-<target>" */
    const char *source_path;   /* raw image to read directly; NULL = read through
                                  a read-only NBD export of NODE (any format) */
    const char *source_format; /* "raw" or another format (then read over NBD) */
    bool direct;               /* source opened by QEMU with cache=none */
    const char *dest_uri;      /* writable NBD export on the destination */
    bool dest_is_zero;         /* destination image is new and sparse */
    bool top_only;             /* --copy-storage-inc of a disk with a backing file:
                                  the destination is a new qcow2 over the same
                                  backing file; the source export is created with
                                  allocation-depth and the bulk pass copies only
                                  the top image (see mir_disk_config.top_only) */
    const char *device;        /* the guest device's qdev id or QOM path, the one
                                  holding the disk's block backend (block_set_io_throttle's
                                  'id'), for disk auto-converge; NULL: never throttled */
};

struct mir_sync_opts {
    struct mir_copy_opts copy;
    const char *socket_dir;    /* where the source QEMU's NBD socket goes (must exist) */
    uint64_t converge_bytes;   /* converged when a pass found less dirty [32 MiB] */
    unsigned pass_interval_ms; /* once converged: time between looks at the dirty count
                                  (one QMP query); a pass runs when it is not 0 [50] */
    unsigned max_passes;       /* dirty passes before giving up on convergence [0 = no cap] */
    /* A pass that fails for a transient reason (the target's connection
     * reset, closed, timed out; not a cancel, bad arguments, ENOSPC, EROFS,
     * a different export, or a source QEMU whose monitor closed) is tried
     * again after 0.5 s, 1 s, 2 s, then every 4 s, reconnecting to the
     * target and going on from what is known written, while less than this
     * many ms passed since the first failure with no progress in between
     * [MIR_DEFAULT_RECONNECT_TIMEOUT_MS]; MIR_RECONNECT_NONE: never. */
    unsigned reconnect_timeout_ms;
    /* Called when a step of a disk's copy starts or ends (END), named
     * "bulk:TARGET" (the bulk pass), "dirty:TARGET" (a dirty pass),
     * "writeback:TARGET" (a flush sent during the bulk pass) and
     * "flush:TARGET" (a flush that covers a finished pass): for the
     * migration job's timeline. From the disks' worker threads, with no
     * lock of the session held; NULL: none. */
    void (*on_step)(void *opaque, const char *name, bool end);
    void *step_opaque;
    /* With a multi-conn target: during the bulk pass, flush the target
     * each time this many more bytes were written, so the destination
     * writes its page cache out while the copy runs [0:
     * MIR_DEFAULT_WRITEBACK_BYTES]; MIR_WRITEBACK_NONE: not before the
     * pass ends. */
    uint64_t writeback_bytes;
    /* Convergence by prediction (sync-converge.c). With a budget, a disk
     * converges when the predicted final pass (its dirty rate times the
     * time between passes, over its copy rate) fits BUDGET_MS, instead of
     * on converge_bytes; 0: the byte threshold alone. Thread-safe to change
     * with mir_sync_set_budget() (the agent gives the final pass what
     * QEMU's RAM switchover leaves of --max-downtime). */
    unsigned budget_ms;
    /* Disk auto-converge: when passes stop shrinking, cap the guest's
     * writes with QEMU's I/O throttling on each disk's device (just below
     * the measured copy rate, tightened in steps) until they fit; removed
     * at cleanup, free or failure. Without it, a disk whose passes did not
     * shrink for max_stalled passes (or 20 s) fails the session [8]. */
    bool auto_converge;
    unsigned max_stalled;
};

#define MIR_DEFAULT_WRITEBACK_BYTES (128ull * 1024 * 1024)
#define MIR_WRITEBACK_NONE          UINT64_MAX

#define MIR_RECONNECT_NONE               UINT32_MAX
#define MIR_DEFAULT_RECONNECT_TIMEOUT_MS 30000u

struct mir_sync;

/* Creates a session for N disks (1..64) of the QEMU behind QMP. QMP, DISKS
 * and OPTS are borrowed (strings are copied); QMP must outlive the session.
 * Nothing is done to QEMU yet. *ret: free with mir_sync_free(). */
int mir_sync_new(struct qmp_conn *qmp, const struct mir_sync_disk *disks, size_t n,
                 const struct mir_sync_opts *opts, struct mir_sync **ret, struct ferry_error *err);
/* Adds the dirty bitmaps, starts the NBD server and the source exports,
 * opens the engines, then starts one worker thread per disk: bulk pass, then
 * dirty passes while the dirty amount shrinks, then dirty passes paced by
 * pass_interval_ms until the final pass. On error everything added to QEMU
 * is removed again. */
int mir_sync_start(struct mir_sync *s, struct ferry_error *err);
/* Waits until every disk has finished its bulk pass and a dirty pass found
 * less than converge_bytes, or TIMEOUT_MS (-1: none). -ETIMEDOUT; a worker's
 * error is returned as soon as it happens. */
int mir_sync_wait_converged(struct mir_sync *s, int timeout_ms, struct ferry_error *err);
/* Call with the guest paused (pre-switchover, I/O drained): stops the dirty
 * passes, copies the last dirty extents of every disk and flushes the
 * targets (a flush is skipped when every write is already covered by one
 * that finished). From the call on, the session's bandwidth cap no longer
 * applies (a dirty pass still running finishes at full speed). *ret_ms (may
 * be NULL) gets the time this took. On success the final pass's export (if
 * it found anything dirty) and the dirty bitmap are left on the source
 * QEMU: see mir_sync_cleanup(). */
int mir_sync_final_pass(struct mir_sync *s, int64_t *ret_ms, struct ferry_error *err);
/* After a successful mir_sync_final_pass(), outside the guest's downtime
 * (after migrate-continue): deletes the final pass's export (waiting for
 * BLOCK_EXPORT_DELETED) and removes the dirty bitmap.
 * mir_sync_free() does the same; this only frees them sooner and reports
 * errors. Tries every disk; returns the first error. Control thread. */
int mir_sync_cleanup(struct mir_sync *s, struct ferry_error *err);
/* Thread-safe: stops the workers promptly; later calls fail -ECANCELED. */
void mir_sync_cancel(struct mir_sync *s);
/* Thread-safe, auto-converge only: RAM migration starts now. Caps each
 * disk the guest writes faster than one storage budget's worth of its
 * copy rate per second (sync-converge.c says why); returns how many were
 * capped. Released with the other caps. */
unsigned mir_sync_ram_stage(struct mir_sync *s);
/* Thread-safe: caps the session's bandwidth at BYTES_PER_SEC in total (0 =
 * none), split evenly over its disks; applies to running passes at once,
 * not after mir_sync_final_pass() was called. */
void mir_sync_set_bandwidth(struct mir_sync *s, uint64_t bytes_per_sec);
/* Thread-safe: the final pass's budget (see mir_sync_opts.budget_ms). */
void mir_sync_set_budget(struct mir_sync *s, unsigned budget_ms);
/* Removes the write throttles auto-converge put on the source's devices
 * (best effort; also done by mir_sync_cleanup and mir_sync_free). Call
 * only with no worker running (after the final pass, or a cancel and
 * free). Returns how many were removed. */
unsigned mir_sync_release_throttles(struct mir_sync *s);
/* The throttle group ferry puts disk TARGET's device in, so that a sweep
 * after an agent restart finds its own: "ferry-conv-TARGET". */
#define MIR_THROTTLE_GROUP_PREFIX "ferry-conv-"
/* Thread-safe: progress of disk I (< mir_sync_disks()). -EINVAL otherwise. */
int mir_sync_progress(struct mir_sync *s, size_t i, struct mir_progress *ret);
size_t mir_sync_disks(const struct mir_sync *s);
/* Cancels and joins the workers if running, deletes exports, stops the NBD
 * server, removes the bitmaps (best effort), frees. NULL is fine. */
void mir_sync_free(struct mir_sync *s);

#endif
