/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Internals shared by the engine's files (copy.c, source.c, target.c):
 * the disk object, its request slots, its source and its target. Nothing
 * here is part of the public API. */
#ifndef FERRY_MIR_INTERNAL_H
#define FERRY_MIR_INTERNAL_H

#include <errno.h>
#include <liburing.h>
#include <libnbd.h>
#include <pthread.h>
#include <stdatomic.h>

#include "mir.h"

/* Lanes take a pass's ranges in pieces of this size, dealt round-robin. */
#define MIR_LANE_PIECE (16u * 1024 * 1024)
/* Alignment of buffers, offsets and lengths for O_DIRECT reads. 4 KiB
 * covers both 512-byte and 4 KiB logical block sizes. */
#define MIR_DIRECT_ALIGN 4096u
/* Largest write-zeroes request; QEMU and nbdkit take any 32-bit length but a
 * bound keeps one request's latency reasonable. */
#define MIR_ZERO_MAX (1024u * 1024 * 1024)
/* Largest range asked of base:allocation at once. */
#define MIR_MAP_MAX (1024u * 1024 * 1024)
/* Samples kept for the throughput window. */
#define MIR_RATE_SAMPLES 32

enum mir_slot_state {
    MIR_SLOT_FREE,
    MIR_SLOT_READING, /* source read in flight */
    MIR_SLOT_READY,   /* data in buf, writes not yet issued */
    MIR_SLOT_WRITING, /* target commands in flight (pending > 0) */
};

/* One request buffer and the life of the data in it: read, zero-scan,
 * written. Owned by the disk; never freed while a command points at it. */
struct mir_slot {
    struct mir_disk *d;
    unsigned idx;
    unsigned char *buf; /* request_size bytes, MIR_DIRECT_ALIGN-aligned */
    enum mir_slot_state state;
    uint64_t off; /* disk offset of the wanted data */
    uint32_t len; /* wanted bytes; data starts at buf + head */
    uint32_t head;
    uint64_t rd_off; /* the read actually issued (aligned for O_DIRECT) */
    uint32_t rd_len;
    uint32_t rd_done;
    unsigned pending;      /* target commands in flight */
    unsigned conn;         /* target connection its writes go to */
    struct mir_slot *next; /* ready list */
};

/* One target command in flight (write, zero). Allocated per command. */
struct mir_cmd {
    struct mir_disk *d;
    struct mir_slot *slot; /* NULL for a zero run from a hole */
    uint64_t off;
    uint64_t len;
    bool zero;
    struct mir_cmd *prev, *next; /* d->holes: slotless commands in flight */
};

/* What the source holds in a range, for the pass running. */
enum mir_map_kind {
    MIR_MAP_DATA,  /* data to read and copy (zero blocks still found by scan) */
    MIR_MAP_ZERO,  /* reads as zeros: write zeroes, or skip into a zero target */
    MIR_MAP_BELOW, /* top-only pass: not allocated in the top image; skipped */
};

struct mir_map_entry {
    uint64_t off;
    uint64_t len;
    enum mir_map_kind kind;
};

struct mir_source {
    int fd; /* raw file, or -1 */
    bool direct;
    bool ring_ok;
    bool fixed; /* buffers registered with the ring */
    struct io_uring ring;
    unsigned ring_inflight;
    struct nbd_handle *nbd; /* NBD source: data reads */
    struct nbd_handle *map; /* NBD source: base:allocation (same handle as nbd) */
    bool map_meta;          /* the server answers base:allocation */
    bool depth_meta;        /* the server answers qemu:allocation-depth (top_only) */
    uint64_t size;
    /* Cached map: entries covering [map_v[0].off, map_end), in order. */
    struct mir_map_entry *map_v;
    size_t map_n;
    size_t map_cap;
    size_t map_i;
};

struct mir_target {
    struct nbd_handle *h[MIR_MAX_CONNECTIONS];
    unsigned n;
    unsigned next;
    uint64_t size;
    bool can_zero;
    bool can_flush;
};

struct mir_disk {
    char *name;
    char *source_file;
    char *source_uri;
    char *target_uri;
    bool source_direct;
    bool top_only; /* config top_only: depth context negotiated at connect */
    struct mir_copy_opts opts;
    uint64_t size;
    /* The target's size at the first connect: a reconnect that finds
     * another size reached another export (a restarted server, a reused
     * port) and must not write into it. 0 = never connected. */
    uint64_t target_size_first;

    struct mir_source src;
    struct mir_target tgt;
    bool connected;

    struct mir_slot *slots;
    unsigned nslots;
    unsigned char *zerobuf; /* request_size zero bytes, for servers without zero */

    /* Copy state, touched only by the copying thread. */
    struct mir_slot *ready_head, *ready_tail;
    unsigned zero_inflight;
    struct mir_cmd *holes; /* slotless zero commands in flight, for the resume offset */
    uint64_t fail_off;     /* lowest offset of a piece that failed; UINT64_MAX if none */
    uint64_t resume_off;   /* after a failed copy: its ranges below are all copied */
    bool failed;
    struct ferry_error err; /* first error of the running copy */
    bool target_zero;
    bool top_pass; /* this pass has MIR_COPY_TOP_ONLY: the map reports MIR_MAP_BELOW */
    struct mir_bucket bucket;
    uint64_t bucket_rate;
    int64_t last_completion_us; /* for io_timeout_ms */

    /* Lanes: extra copies of the engine (own source reader, own target
     * connection, own thread) that take a share of each pass. */
    struct mir_disk *parent; /* set in a lane: progress is accounted there */
    struct mir_disk **lanes;
    unsigned nlanes;
    atomic_bool interrupted; /* this pass: another lane failed */

    /* Cross-thread. */
    atomic_bool cancelled;
    atomic_uint_fast64_t bandwidth;
    int cancel_fd; /* eventfd, written by mir_disk_cancel */

    pthread_mutex_t lock; /* protects prog and the rate samples */
    struct mir_progress prog;
    struct {
        int64_t t_us;
        uint64_t done;
        uint64_t copied;
    } samples[MIR_RATE_SAMPLES];
    unsigned sample_n;
    uint64_t done_total; /* sum of pass_done over all passes */
    /* MIR_COPY_CONTINUE: bytes pass_done already counted that the
     * continued pass copies again (pieces in flight when the connection
     * died). They are not counted twice, so pass_done never goes backwards
     * and reaches pass_total only when the pass is really done. */
    uint64_t redo;
};

/* Records the first error of the running copy (later ones are dropped)
 * and marks it failed. CODE is an errno, either sign. */
void mir_disk_fail(struct mir_disk *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records that the piece at OFF failed (for the resume offset). */
static inline void mir_disk_fail_off(struct mir_disk *d, uint64_t off)
{
    if (off < d->fail_off)
        d->fail_off = off;
}

/* The errno for the libnbd call on H that just failed. A handle whose
 * connection died (reset, the server's clean close, a timeout) fails every
 * later call with EINVAL ("invalid state"), which reads as a bad argument:
 * it is reported as ENOTCONN, so the session reconnects instead of giving
 * up. H may be NULL. */
static inline int mir_nbd_errno(struct nbd_handle *h)
{
    if (h && (nbd_aio_is_dead(h) == 1 || nbd_aio_is_closed(h) == 1))
        return ENOTCONN;
    return nbd_get_errno() ? nbd_get_errno() : EIO;
}

/* Progress accounting from the copy thread. */
void mir_disk_account(struct mir_disk *d, uint64_t copied, uint64_t zeroed, uint64_t skipped);
/* Takes a rate sample at most every 250 ms (disk.c). */
void mir_disk_sample(struct mir_disk *d, int64_t now_us);

/* source.c */
int mir_source_open(struct mir_disk *d, struct ferry_error *err);
void mir_source_close(struct mir_disk *d);
/* Describes the source at OFF: *ret_len bytes (<= END - OFF) all of one
 * kind (*ret_kind; MIR_MAP_BELOW only in a top-only pass). Errors go through
 * mir_disk_fail. */
int mir_source_map(struct mir_disk *d, uint64_t off, uint64_t end, uint64_t *ret_len,
                   enum mir_map_kind *ret_kind);
void mir_source_map_reset(struct mir_disk *d);
/* Starts reading slot S (off/len set); completion puts it on the ready
 * list. */
int mir_source_read(struct mir_disk *d, struct mir_slot *s);
/* Reaps ring completions without waiting. */
void mir_source_reap(struct mir_disk *d);
/* Waits for every ring read in flight (after a failure, before buffers
 * may be reused or freed). */
void mir_source_drain(struct mir_disk *d);
/* Puts a slot whose read finished on the ready list. */
void mir_slot_ready(struct mir_disk *d, struct mir_slot *s);

/* target.c */
int mir_target_connect(struct mir_disk *d, struct ferry_error *err);
void mir_target_close(struct mir_disk *d);
/* Issues writes / zeroes for the data of a ready slot after a zero scan. */
void mir_target_write_slot(struct mir_disk *d, struct mir_slot *s);
/* Issues one zero run that came from a source hole (<= MIR_ZERO_MAX, or
 * <= request_size when the server has no write-zeroes). */
void mir_target_zero(struct mir_disk *d, uint64_t off, uint64_t len);
/* Flushes every target connection / only the first (enough with multi-conn). */
int mir_target_flush(struct mir_disk *d, struct ferry_error *err);
int mir_target_flush_one(struct mir_disk *d, struct ferry_error *err);

#endif
