/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferry's storage copy engine (prefix mir_; libnbd owns nbd_).
 *
 * The copy engine, two layers, each usable alone and neither knowing QMP:
 *  - extents, zero scan, token bucket, URI/option checks: pure helpers;
 *  - struct mir_disk: copies ranges of one source (raw file read with
 *    io_uring, or an NBD export read with libnbd) into one NBD target,
 *    skipping holes and zero blocks, many requests in flight.
 * The storage migration session over QMP that drives it is mir-sync.h's,
 * a library of its own above this one.
 *
 * Errors follow STYLE.md: a negative errno and a message in the
 * struct ferry_error the caller passes (may be NULL). */
#ifndef FERRY_MIR_H
#define FERRY_MIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

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
    bool bulk_done;           /* set by mir_sync: the bulk pass is complete (pass
                                 numbers say how many copies ran, not which phase) */
    /* Set by mir_sync from its dirty passes (sync-converge.c): */
    uint64_t dirty_rate;   /* bytes the guest dirtied per second, last pass */
    uint64_t copy_rate;    /* bytes the last sizeable pass copied per second */
    uint64_t predicted_ms; /* predicted length of the final pass, ms */
    uint64_t throttle;     /* guest write cap in bytes/s now (0: none) */
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

/* MIR_COPY_CONTINUE: this copy carries on the pass an earlier call began
 * and did not finish (a retry from mir_disk_resume_offset() after a lost
 * connection): the pass number and total stay, and bytes already counted
 * as done are not counted again, so the progress neither jumps to a new
 * pass nor goes backwards. */
#define MIR_COPY_CONTINUE 0x4u

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

#endif
