/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferry's storage copy engine (prefix mir_; libnbd owns nbd_).
 *
 * Three layers, each usable alone:
 *  - extents, zero scan, token bucket, URI/option checks: pure helpers;
 *  - struct mir_disk: copies ranges of one source (raw file read with
 *    io_uring, or an NBD export read with libnbd) into one NBD target,
 *    skipping holes and zero blocks, many requests in flight;
 *  - struct mir_sync: a storage migration session over QMP (dirty bitmaps on
 *    the source QEMU, a bulk pass, dirty passes, the final pass at
 *    switchover) for several disks in parallel.
 *
 * Errors follow STYLE.md: a negative errno and a message in the
 * struct ferry_error the caller passes (may be NULL). */
#ifndef FERRY_MIR_H
#define FERRY_MIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct qmp_conn;

/* ------------------------------------------------------------------ */
/* Extent lists                                                         */

struct mir_extent {
    uint64_t offset;
    uint64_t length;
};

/* A growable array of extents. After mir_extent_list_normalize() it is
 * sorted, with no overlapping or touching neighbours and no empty extent. */
struct mir_extent_list {
    struct mir_extent *v;
    size_t n;
    size_t cap;
};

/* Most extents one list may hold. Dirty bitmaps come from QEMU (a peer):
 * past this, mir_extent_list_add() fails with -E2BIG. 4 Mi entries is
 * 64 MiB of memory, a 256 GiB disk dirty in every other 64 KiB cluster. */
#define MIR_EXTENTS_MAX (4u * 1024 * 1024)

void mir_extent_list_init(struct mir_extent_list *l);
/* Frees the array and leaves an empty list. */
void mir_extent_list_clear(struct mir_extent_list *l);
/* Appends [OFFSET, OFFSET+LENGTH); LENGTH 0 is ignored. Merges with the
 * last extent when it touches or overlaps it (the common in-order case).
 * -E2BIG past MIR_EXTENTS_MAX, -EOVERFLOW if the end overflows. */
int mir_extent_list_add(struct mir_extent_list *l, uint64_t offset, uint64_t length);
/* Sorts and merges overlapping and touching extents. */
void mir_extent_list_normalize(struct mir_extent_list *l);
/* Cuts every extent to end at most at SIZE (drops those past it). */
void mir_extent_list_clip(struct mir_extent_list *l, uint64_t size);
/* Splits extents longer than MAX_LEN (> 0) into pieces of at most MAX_LEN,
 * cut at multiples of MAX_LEN. -E2BIG past MIR_EXTENTS_MAX. */
int mir_extent_list_split(struct mir_extent_list *l, uint64_t max_len);
/* Sum of lengths. */
uint64_t mir_extent_list_bytes(const struct mir_extent_list *l);

/* ------------------------------------------------------------------ */
/* Helpers (exported for tests and bench/)                              */

/* True when LEN bytes at BUF are all zero. */
bool mir_is_zero(const void *buf, size_t len);

/* Token bucket in bytes/s. The bucket may go into debt: a request is let
 * through whenever the balance is not negative, then charged in full, so a
 * 2 MiB request under a 1 MiB/s cap waits about 2 s for the next one. */
struct mir_bucket {
    uint64_t rate;  /* bytes per second; 0 = unlimited */
    uint64_t burst; /* most tokens kept while idle */
    double tokens;
    int64_t last_us;
};
void mir_bucket_init(struct mir_bucket *b, uint64_t rate, uint64_t burst, int64_t now_us);
/* Changes the rate, keeping the balance (clamped to the new burst). */
void mir_bucket_set_rate(struct mir_bucket *b, uint64_t rate, uint64_t burst, int64_t now_us);
/* Returns 0 and charges N bytes when a request may start at NOW_US, else
 * the microseconds to wait before asking again (nothing charged). */
int64_t mir_bucket_take(struct mir_bucket *b, uint64_t n, int64_t now_us);

/* Checks that URI is an NBD URI libnbd can use here: nbd://, nbds://,
 * nbd+unix:// or nbds+unix:// (the unix forms need ?socket=PATH). */
int mir_uri_check(const char *uri, struct ferry_error *err);

/* ------------------------------------------------------------------ */
/* The copy engine: one disk                                            */

/* Tunables. Zero fields take the default in brackets. */
struct mir_copy_opts {
    uint32_t request_size;     /* bytes per read/write [1 MiB]; 64 KiB..32 MiB, power of 2 */
    uint32_t queue_depth;      /* requests in flight per disk [8]; 1..256 */
    uint32_t connections;      /* most target connections, used when the server
                                  advertises multi-conn [2]; 1..16 */
    uint32_t zero_granularity; /* zero-scan block [64 KiB]; 4 KiB..request_size, power of 2 */
    uint64_t bandwidth;        /* cap on bytes read from the source, bytes/s [0 = none] */
    uint32_t io_timeout_ms;    /* fail when requests are in flight and none completes
                                  for this long [60000]; a stuck server is an error,
                                  not a hang */
    uint32_t threads;          /* copy threads ("lanes") per disk, each with its own
                                  source reader and one target connection, when the
                                  target (and an NBD source) advertise multi-conn [1];
                                  1..16. With more than one, connections is 1 per lane
                                  and queue_depth is split among the lanes */
    /* Target connections require TLS with the x509 files of this directory
     * (ca-cert.pem, client-cert.pem, client-key.pem) and verify the server's
     * certificate; NULL = no TLS. Borrowed: must outlive every disk and
     * session opened with these options. */
    const char *tls_certificates;
    /* With tls_certificates: the name the server's certificate must carry;
     * NULL = the URI's host. Only when mir_tls_hostname_supported(). */
    const char *tls_hostname;
    /* Instead of certificates: TLS with a pre-shared key, the keys file
     * (lines "USERNAME:HEX") and the username to present. Borrowed, like
     * tls_certificates; ignored when tls_certificates is set. */
    const char *tls_psk_file;
    const char *tls_username;
};

/* True when the libnbd built against can check a server certificate
 * against a name other than the URI's host (nbd_set_tls_hostname, libnbd
 * 1.22 and later; Debian 12 has 1.14). */
bool mir_tls_hostname_supported(void);
struct nbd_handle;
/* Applies OPTS' tls_certificates / tls_hostname, or tls_psk_file /
 * tls_username, to H before it connects (no-op without either). NAME is
 * for the message. */
int mir_nbd_set_tls(struct nbd_handle *h, const struct mir_copy_opts *opts, const char *name,
                    struct ferry_error *err);

/* 1 MiB x 8 measured fastest on the 2-core reference machine (1 GiB dense
 * file into qemu-nbd, interleaved with nbdcopy): 8 MiB of buffers stay in the
 * CPU caches between the read and the send; 2 MiB x 16 was ~30% slower. */
#define MIR_DEFAULT_REQUEST_SIZE     (1u * 1024 * 1024)
#define MIR_DEFAULT_QUEUE_DEPTH      8u
#define MIR_DEFAULT_IO_TIMEOUT_MS    60000u
#define MIR_DEFAULT_CONNECTIONS      2u
#define MIR_DEFAULT_ZERO_GRANULARITY (64u * 1024)
#define MIR_MAX_QUEUE_DEPTH          256u
#define MIR_MAX_CONNECTIONS          16u

/* Fills defaults into *OPTS and checks the ranges above. */
int mir_copy_opts_check(struct mir_copy_opts *opts, struct ferry_error *err);

struct mir_disk_config {
    const char *name;        /* for messages, e.g. "vda" (borrowed, copied) */
    const char *source_file; /* raw image read with io_uring, or NULL */
    const char *source_uri;  /* NBD export to read instead (exactly one of the two) */
    bool source_direct;      /* O_DIRECT on source_file (QEMU's cache=none) */
    const char *target_uri;  /* NBD export to write; size >= the source's */
    /* The target already reads as the source's backing chain (a qcow2 over
     * the same backing file, --copy-storage-inc): passes given
     * MIR_COPY_TOP_ONLY copy only what the source's top image allocates.
     * Needs source_uri to be a QEMU export of the format node offering the
     * qemu:allocation-depth meta context (block-export-add allocation-depth,
     * qemu-nbd -A); mir_disk_open fails with -ENOTSUP when it does not,
     * rather than copy the backing chain into the top. */
    bool top_only;
};

/* Progress of one disk; a snapshot, any thread may take one at any time. */
struct mir_progress {
    uint64_t size;            /* source size in bytes */
    unsigned pass;            /* passes started: 1 = the bulk pass */
    uint64_t pass_total;      /* bytes the current pass covers */
    uint64_t pass_done;       /* bytes of it finished (copied, zeroed or skipped) */
    uint64_t copied;          /* all passes: data bytes written to the target */
    uint64_t zeroed;          /* all passes: bytes written as write-zeroes */
    uint64_t skipped;         /* all passes: bytes not sent (zeros into a zero target) */
    uint64_t done_per_sec;    /* pass_done rate over the last ~4 s */
    uint64_t written_per_sec; /* copied rate over the last ~4 s */
    uint64_t dirty;           /* set by mir_sync: bytes dirty at the last freeze */
    bool converged;           /* set by mir_sync: the last dirty pass found less than
                                 converge_bytes */
    unsigned retries;         /* set by mir_sync: passes tried again after a failure */
};

struct mir_disk;

/* Opens the source and connects to the target (and checks sizes). *ret owns
 * the disk: free with mir_disk_free(). CONFIG and OPTS are borrowed; OPTS may
 * be NULL for defaults. */
int mir_disk_open(const struct mir_disk_config *config, const struct mir_copy_opts *opts,
                  struct mir_disk **ret, struct ferry_error *err);
/* Closes connections and files. NULL is fine. No copy may be running. */
void mir_disk_free(struct mir_disk *d);

uint64_t mir_disk_size(const struct mir_disk *d);
const char *mir_disk_name(const struct mir_disk *d);

/* MIR_COPY_TARGET_ZERO: the target reads as zeros over the copied ranges
 * (a fresh sparse image): holes and zero blocks are skipped, not written.
 * Only true for the bulk pass into a new image. */
#define MIR_COPY_TARGET_ZERO 0x1u
/* MIR_COPY_TOP_ONLY: copy only the ranges the source's top image allocates
 * (qemu:allocation-depth 1; base:allocation still finds zeros inside them)
 * and leave the rest of the target untouched: unallocated ranges and those
 * that come from a backing image read the same through the target's own
 * backing file. For the bulk pass of a disk opened with config top_only
 * (-EINVAL otherwise); dirty passes copy every dirty byte, as guest writes
 * land in the top anyway. */
#define MIR_COPY_TOP_ONLY 0x2u

/* Copies RANGES (borrowed; NULL = the whole disk) from source to target and
 * returns when every write has completed (not flushed). Runs in the calling
 * thread. Counts as one pass in the progress. On failure the first error is
 * returned with context ("disk 'vda': nbd_aio_pwrite at offset N: ..."); the
 * connections are dropped and the next call reconnects. -ECANCELED after
 * mir_disk_cancel(). One copy at a time per disk. */
int mir_disk_copy(struct mir_disk *d, const struct mir_extent_list *ranges, unsigned flags,
                  struct ferry_error *err);
/* After mir_disk_copy failed (or was cancelled): every byte of its ranges
 * below this offset is known to be written to the target, so a retry may
 * copy only the ranges' parts at or above it. */
uint64_t mir_disk_resume_offset(const struct mir_disk *d);
/* Flushes every target connection (when the server supports flush). */
int mir_disk_flush(struct mir_disk *d, struct ferry_error *err);

/* Thread-safe: makes the running copy (and every later one) fail with
 * -ECANCELED promptly. */
void mir_disk_cancel(struct mir_disk *d);
/* Thread-safe: changes the bandwidth cap (bytes/s, 0 = none). */
void mir_disk_set_bandwidth(struct mir_disk *d, uint64_t bytes_per_sec);
/* Thread-safe snapshot of the progress into *RET. */
void mir_disk_progress(struct mir_disk *d, struct mir_progress *ret);
/* Thread-safe: records dirty bytes / convergence for the progress (sync). */
void mir_disk_set_dirty(struct mir_disk *d, uint64_t dirty, bool converged);
/* Connections actually in use to the target (after the first copy/open). */
unsigned mir_disk_connections(const struct mir_disk *d);
/* True when the target advertises multi-conn (a flush on any connection
 * covers the writes answered on all). False while not connected. Only the
 * copying thread, between copies. */
bool mir_disk_target_multi_conn(const struct mir_disk *d);

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
};

struct mir_sync_opts {
    struct mir_copy_opts copy;
    const char *socket_dir;    /* where the source QEMU's NBD socket goes (must exist) */
    uint64_t converge_bytes;   /* converged when a pass found less dirty [32 MiB] */
    unsigned pass_interval_ms; /* once converged: time between looks at the dirty count
                                  (one QMP query); a pass runs when it is not 0 [50] */
    unsigned max_passes;       /* dirty passes before giving up on convergence [0 = no cap] */
    unsigned retries;          /* a pass that fails for a reason other than cancel, bad arguments,
                                  ENOSPC or EROFS is tried again after 0.5 s, 1 s, 2 s, ...,
                                  reconnecting to the target [3]; MIR_RETRIES_NONE: never */
};

#define MIR_RETRIES_NONE    UINT32_MAX
#define MIR_DEFAULT_RETRIES 3u

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
/* Thread-safe: caps the session's bandwidth at BYTES_PER_SEC in total (0 =
 * none), split evenly over its disks; applies to running passes at once,
 * not after mir_sync_final_pass() was called. */
void mir_sync_set_bandwidth(struct mir_sync *s, uint64_t bytes_per_sec);
/* Thread-safe: progress of disk I (< mir_sync_disks()). -EINVAL otherwise. */
int mir_sync_progress(struct mir_sync *s, size_t i, struct mir_progress *ret);
size_t mir_sync_disks(const struct mir_sync *s);
/* Cancels and joins the workers if running, deletes exports, stops the NBD
 * server, removes the bitmaps (best effort), frees. NULL is fine. */
void mir_sync_free(struct mir_sync *s);

#endif
