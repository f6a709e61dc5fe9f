/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Migration cookies: XML documents passed between the steps of a migration,
 * in the shape of libvirt's QEMU migration cookie:
 *
 *   <qemu-migration>
 *     <name>guest</name>
 *     <uuid>...</uuid>
 *     <hostname>src.example</hostname>
 *     <hostuuid>...</hostuuid>
 *     <feature name='nbd'/>                 (optional features)
 *     <feature name='xyz' mandatory='yes'/> (refused when unknown)
 *     <nbd host='127.0.0.1' port='10809'>   (destination's NBD server)
 *       <disk target='vda' capacity='1073741824' export='vda'
 *             allocation='...' backing='/path' backing_format='raw'/>
 *     </nbd>
 *     <migration uri='tcp:127.0.0.1:49152'/> (where to send RAM)
 *     <feature name='stream-key' mandatory='yes'/>
 *     <stream-key psk='64 hex digits'/>      (TLS PSK of QEMU's streams)
 *     <statistics> ... </statistics>        (from Perform; see below)
 *     <nvram sha256='...' size='540672'/>   (from Perform: the UEFI variables
 *                                            the source ended with)
 *     <timeline>                            (the sender's side of the job)
 *       <phase name='prepare' start='1765...' end='1765...' count='1'/>
 *     </timeline>
 *     <flags>...</flags>
 *   </qemu-migration>
 *
 * Unknown optional elements are ignored; an unknown feature marked
 * mandatory is refused by name. Limits: COOKIE_XML_MAX bytes, the hardened
 * parsing of domain.h (no DOCTYPE/entities, depth 32, 4096 bytes per
 * string), COOKIE_MAX_FEATURES <feature> elements, COOKIE_MAX_DISKS disks.
 *
 * <statistics> holds one element per struct cookie_stats field, named as in
 * libvirt's cookie where libvirt has the figure: <status>, <started>,
 * <stopped>, <time_elapsed>, <downtime>, <setup_time> (milliseconds;
 * started/stopped since the epoch), <memory_total>, <memory_processed>,
 * <memory_remaining>, <memory_bps>, <memory_dirty_rate> (pages/s),
 * <memory_iteration>, <memory_transferred>, <memory_normal> (pages),
 * <memory_constant> (duplicate pages), <disk_total>, <disk_processed>,
 * <disk_remaining>, <disk_bps> (bytes, bytes/s), <storage_downtime> (ms),
 * <disk_passes>. Unknown statistics are ignored.
 *
 * <timeline> holds the steps of the sender's job so far (struct
 * cookie_timeline): the destination's Prepare and Finish phases reach the
 * source this way (docs/protocol.md, "Timeline"). start and end are wall
 * clock microseconds since the epoch on the sender's host; end is absent
 * while a step runs; count says how often a repeated step ran (start of the
 * first, end of the last). At most COOKIE_MAX_PHASES phases, names of
 * [a-z0-9:._-], shorter than COOKIE_PHASE_NAME_MAX. */
#ifndef FERRY_AGENT_COOKIE_H
#define FERRY_AGENT_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "util.h"

#define COOKIE_XML_MAX      (256u * 1024)
#define COOKIE_MAX_DISKS    32
#define COOKIE_MAX_FEATURES 32

/* Cookie features this build understands (feature names in the XML). */
#define COOKIE_FEATURE_NBD        "nbd"
#define COOKIE_FEATURE_STATISTICS "statistics"
#define COOKIE_FEATURE_PERSISTENT "persistent"
/* <stream-key psk='HEX'/>: the TLS pre-shared key of this migration's QEMU
 * streams (RAM, NBD), chosen by the destination at Prepare; sent as a
 * mandatory feature so that a source that cannot use it stops. */
#define COOKIE_FEATURE_STREAM_KEY "stream-key"

struct cookie_nbd_disk {
    char target[32];
    uint64_t capacity; /* bytes */
    char export_name[64];
    char format[16];     /* "raw" / "qcow2" of the destination image */
    uint64_t allocation; /* bytes the source image occupies (space check) */
    char backing[1024];  /* --copy-storage-inc: backing file the target keeps */
    char backing_format[16];
};

/* Statistics of a finished (or running) migration job. Byte counts are
 * bytes; times are milliseconds. "set" says whether any value was filled. */
struct cookie_stats {
    bool set;
    char status[32];    /* "completed", "failed", "cancelled", ... */
    int64_t started_ms; /* wall clock */
    int64_t stopped_ms;
    int64_t time_elapsed_ms;
    int64_t downtime_ms;
    int64_t setup_time_ms;
    uint64_t memory_total, memory_processed, memory_remaining;
    uint64_t memory_bps, memory_dirty_rate, memory_iteration;
    uint64_t memory_transferred, memory_normal_pages, memory_duplicate_pages;
    uint64_t disk_total, disk_processed, disk_remaining, disk_bps;
    int64_t storage_downtime_ms; /* part of the downtime spent on the last disk pass */
    uint64_t disk_passes;
    /* --compressed (job.info only, not in the cookie): QEMU's xbzrle-cache
     * figures (cache size and encoded bytes in bytes, pages, cache misses
     * in pages, overflows) and its mt compression block. */
    uint64_t comp_cache, comp_bytes, comp_pages, comp_cache_misses, comp_overflow;
    uint64_t comp_mt_pages, comp_mt_busy, comp_mt_compressed_size;
};

/* The timeline of a migration job: when each step started and ended. One
 * entry per name: a step that runs again (dirty passes, flushes) extends
 * its entry and counts. Marks past COOKIE_MAX_PHASES names are counted in
 * DROPPED, never stored. */
#define COOKIE_MAX_PHASES     48
#define COOKIE_PHASE_NAME_MAX 40
struct cookie_phase {
    char name[COOKIE_PHASE_NAME_MAX]; /* "begin", "bulk:vda", "dest:prepare" */
    int64_t start_us;                 /* wall clock, us since the epoch */
    int64_t end_us;                   /* 0: not ended yet */
    uint32_t count;                   /* times it started */
    uint32_t open;                    /* started and not yet ended (not in the cookie) */
};
struct cookie_timeline {
    size_t n;
    uint32_t dropped;
    struct cookie_phase p[COOKIE_MAX_PHASES];
};

struct cookie {
    char name[65];
    char uuid[FERRY_UUID_STRLEN];
    char hostname[256];
    char hostuuid[FERRY_UUID_STRLEN];
    size_t n_features;
    char features[COOKIE_MAX_FEATURES][32];
    /* <nbd> */
    bool has_nbd;
    char nbd_host[256];
    unsigned nbd_port;
    size_t n_nbd_disks;
    struct cookie_nbd_disk nbd_disks[COOKIE_MAX_DISKS];
    /* <migration uri=.../> */
    char migrate_uri[512];
    /* <statistics> */
    struct cookie_stats stats;
    /* <persistent/>: the domain is persistent on the source */
    bool persistent;
    /* <nvram sha256= size=>: Perform's digest of the guest's NVRAM file as
     * the stopped source left it; "" when the guest has none. Finish checks
     * the destination's flash against it before the guest runs there. */
    char nvram_sha256[65];
    uint64_t nvram_size;
    /* <timeline> (n == 0: none) */
    struct cookie_timeline timeline;
    /* <stream-key psk=.../>: 64 lowercase hex digits, "" when none */
    char stream_psk[65];
};

/* Parses a cookie. NULL or empty XML yields an empty cookie (old peers
 * send none). Caller owns *ret (plain struct, no nested allocations),
 * written only on success. Errors: -EINVAL (malformed, hostile, over a
 * limit, bad value), -EOPNOTSUPP (an unknown mandatory feature, named in
 * the message). */
int cookie_parse(const char *xml, size_t len, struct cookie *ret, struct ferry_error *err);

/* Formats C as XML. Caller frees with free(). */
char *cookie_format(const struct cookie *c);

/* ---- timelines (proto/cookie-timeline.c) ---- */

/* Marks the start (END false) or the end of step NAME at NOW_US. A start
 * of a step already in T counts it again and keeps the first start; an
 * end of a running step sets the entry's end to NOW_US (the latest end
 * wins); an end of a step that is not running changes nothing. An end of
 * a step that never started, or a new name past the limit, is counted in
 * t->dropped. A name that is not valid (cookie_phase_name_valid) is
 * dropped the same way. */
void cookie_timeline_mark(struct cookie_timeline *t, const char *name, bool end, int64_t now_us);
/* Ends every step still open at NOW_US (the job ended: a failure leaves
 * steps running). */
void cookie_timeline_close(struct cookie_timeline *t, int64_t now_us);
/* Copies SRC's entries into DST with PREFIX (may be "") before each name:
 * an entry DST already has is replaced (a later cookie knows more), a new
 * one appended while there is room. */
void cookie_timeline_merge(struct cookie_timeline *dst, const struct cookie_timeline *src,
                           const char *prefix);
/* The entry named NAME, or NULL. */
const struct cookie_phase *cookie_timeline_find(const struct cookie_timeline *t, const char *name);
/* 1..COOKIE_PHASE_NAME_MAX-1 characters of [a-z0-9:._-]. */
bool cookie_phase_name_valid(const char *name);

bool cookie_has_feature(const struct cookie *c, const char *feature);
void cookie_add_feature(struct cookie *c, const char *feature);

#endif
