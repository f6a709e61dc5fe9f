/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Migration flags and parameters: JSON form (libvirt's names), and the
 * checks that refuse invalid combinations before anything starts. */
#ifndef FERRY_AGENT_MIGPARAMS_H
#define FERRY_AGENT_MIGPARAMS_H

#include <json-c/json.h>

#include "error.h"
#include "hv.h"

/* Bounds of migparams.def's rows. */
#define MIG_MAX_BANDWIDTH_MIB      (1024ull * 1024) /* 1 TiB/s: beyond is a typo */
#define MIG_MAX_PARALLEL           64
#define MIG_MAX_DISK_RECONNECT_S   3600 /* an hour of a dead link: beyond, fail and start over */
#define MIG_MAX_DISK_WRITEBACK_MIB (1024u * 1024) /* 1 TiB: no flush before the bulk pass ends */

/* Flag names as in libvirt's virsh/typed parameters ("live", "peer2peer",
 * "tunnelled", "persist_dest", "undefine_source", "paused",
 * "non_shared_disk", "non_shared_inc", "offline", "abort_on_error",
 * "auto_converge", "parallel", ...). */
const char *mig_flag_name(unsigned flag);
/* "ferry", "qemu"; and back (-EINVAL: no such engine). */
const char *mig_storage_engine_name(enum mig_storage_engine e);
int mig_storage_engine_from_name(const char *s, enum mig_storage_engine *ret);
int mig_flag_from_name(const char *name, unsigned *ret);

/* Parses {"flags": [names] | int, "dname": ..., "bandwidth": MiB/s,
 * "migrate_uri", "listen_address", "parallel_connections",
 * "max_downtime", "timeout", "timeout_suspend", "timeout_postcopy", "migrate_disks": [..],
 * "disks_port", "disks_uri", "storage_engine": "ferry"|"qemu",
 * "destination_xml", "tls_destination", "postcopy_after_precopy",
 * "postcopy_bandwidth", "same_path", "keep_images", "disk_paths":
 * {target: path}} from OBJ (may be NULL). Unknown members are
 * refused by name: a parameter we do not understand must not be silently
 * dropped. On failure RET is cleared. */
int mig_params_from_json(json_object *obj, struct mig_params *ret, struct ferry_error *err);
/* New object in the same form. */
json_object *mig_params_to_json(const struct mig_params *p);
void mig_params_clear(struct mig_params *p);

/* Refuses invalid combinations with a message naming the conflict.
 * SUPPORTED: the flags the driver can honour. */
int mig_params_validate(const struct mig_params *p, unsigned supported, struct ferry_error *err);
/* The same against DRV's flags, and the storage engine it offers. */
int mig_params_validate_for(const struct mig_params *p, const struct hv_driver *drv,
                            struct ferry_error *err);

/* ---- migparams-comp.c: --compressed, --zerocopy, --synchronous-writes ----
 * JSON members (libvirt's typed parameters, '.' written '_'):
 * "compression": ["xbzrle"|"mt"|"zlib"|"zstd", ...] (or "a,b"),
 * "compression_xbzrle_cache" (bytes), "compression_mt_level" (0-9),
 * "compression_mt_threads", "compression_mt_dthreads" (1-255),
 * "compression_zlib_level" (0-9), "compression_zstd_level" (0-20). */
const char *mig_comp_method_name(unsigned method);
/* Adds the methods of the comma-separated LIST to *METHODS; unknown or
 * repeated names are refused by name. */
int mig_comp_methods_parse(const char *list, unsigned *methods, struct ferry_error *err);
/* True for the JSON keys mig_comp_param_from_json handles. */
bool mig_comp_param_key(const char *key);
int mig_comp_param_from_json(const char *key, json_object *v, struct mig_params *p,
                             struct ferry_error *err);
void mig_comp_params_to_json(const struct mig_params *p, json_object *o);
/* The compression methods P's migration uses (0 without MIG_COMPRESSED;
 * xbzrle when --compressed names none, as libvirt). */
unsigned mig_comp_methods(const struct mig_params *p);
/* QEMU's rule for xbzrle-cache-size: a power of two, at least a page. */
bool mig_comp_cache_size_valid(uint64_t bytes);
/* Part of mig_params_validate: compression, zero-copy and synchronous
 * writes, each refusal naming the options. */
int mig_comp_validate(const struct mig_params *p, struct ferry_error *err);

/* True when DISK is to be copied under P's flags and migrate_disks. */
bool mig_params_copies_disk(const struct mig_params *p, const struct domain_disk *disk);

#endif
