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
 * <disk_passes>. Unknown statistics are ignored. */
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

bool cookie_has_feature(const struct cookie *c, const char *feature);
void cookie_add_feature(struct cookie *c, const char *feature);

#endif
