/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Migration flags and parameters: JSON form (libvirt's names), and the
 * checks that refuse invalid combinations before anything starts. */
#ifndef FERRY_AGENT_MIGPARAMS_H
#define FERRY_AGENT_MIGPARAMS_H

#include <json-c/json.h>

#include "error.h"
#include "hv.h"

/* Flag names as in libvirt's virsh/typed parameters ("live", "peer2peer",
 * "tunnelled", "persist_dest", "undefine_source", "paused",
 * "non_shared_disk", "non_shared_inc", "offline", "abort_on_error",
 * "auto_converge", "parallel", ...). */
const char *mig_flag_name(unsigned flag);
int mig_flag_from_name(const char *name, unsigned *ret);

/* Parses {"flags": [names] | int, "dname": ..., "bandwidth": MiB/s,
 * "migrate_uri", "listen_address", "parallel_connections",
 * "max_downtime", "timeout", "timeout_suspend", "timeout_postcopy", "migrate_disks": [..],
 * "disks_port", "disks_uri", "storage_engine": "ferry"|"qemu",
 * "destination_xml", "tls_destination", "postcopy_after_precopy",
 * "postcopy_bandwidth"} from OBJ (may be NULL). Unknown members are
 * refused by name: a parameter we do not understand must not be silently
 * dropped. On failure RET is cleared. */
int mig_params_from_json(json_object *obj, struct mig_params *ret, struct ferry_error *err);
/* New object in the same form. */
json_object *mig_params_to_json(const struct mig_params *p);
void mig_params_clear(struct mig_params *p);

/* Refuses invalid combinations with a message naming the conflict.
 * SUPPORTED: the flags the driver can honour. */
int mig_params_validate(const struct mig_params *p, unsigned supported, struct ferry_error *err);

/* True when DISK is to be copied under P's flags and migrate_disks. */
bool mig_params_copies_disk(const struct mig_params *p, const struct domain_disk *disk);

#endif
