/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where a defined guest's newest disk data is (docs/control-api.md,
 * "Disk images and who owns them").
 *
 * A guest whose disks were copied to another host keeps its definition
 * here unless --undefinesource, but the images it names stopped receiving
 * writes when it left. The definition is marked, durably
 * (STATE/domains/NAME.location.json), from the moment its disks start to
 * leave (Perform) until the migration is known to have failed (the guest
 * runs here again) or to have succeeded (the data is elsewhere for good);
 * `start` refuses a marked definition, saying where the data went and how
 * to bring it back. An incoming migration that succeeds clears the mark:
 * the data is here again, and the definition names it. */
#ifndef FERRY_AGENT_LOCATION_H
#define FERRY_AGENT_LOCATION_H

#include <json-c/json.h>

#include "agent.h"

/* Reads DOM's mark (at load). */
void agent_location_load(struct agent *ag, struct agent_domain *dom);

/* Marks DOM's definition: its disks DISKS ("vda,vdb") are leaving for
 * the host PEER names (hostname, hostuuid; may be NULL), or (MOVED) have
 * left. Keeps the peer already recorded when PEER says nothing. */
void agent_location_set(struct agent *ag, struct agent_domain *dom, enum agent_location_state state,
                        const struct cookie *peer, const char *disks);
/* The data is here: removes the mark. */
void agent_location_clear(struct agent *ag, struct agent_domain *dom);

/* `start`: refuses a marked definition (-ESTALE) naming where the data
 * went. Call with DOM's lock held. */
int agent_location_check_start(const struct agent_domain *dom, struct ferry_error *err);

/* {"state": "here"|"leaving"|"moved", "host", "host_uuid", "since_ms",
 * "disks"}: a new object. Call with DOM's lock held. */
json_object *agent_location_json(const struct agent_domain *dom);

#endif
