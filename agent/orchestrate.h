/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The migration sequence, driven from one place: by ferryctl in managed
 * mode (both peers remote) and by the source agent in peer-to-peer mode
 * (source local, destination remote). It chooses the protocol version
 * both peers speak (3, else 2, else 1, as libvirt does) and runs
 *   v3: Begin(src) Prepare(dst) Perform(src) Finish(dst) Confirm(src)
 *   v2: DumpXML(src) Prepare(dst) Perform(src, which ends the job) Finish(dst)
 *   v1: Prepare(dst, no XML) Perform(src) Finish(dst)
 * and whatever fails before Confirm leaves the guest running on the
 * source. */
#ifndef FERRY_AGENT_ORCHESTRATE_H
#define FERRY_AGENT_ORCHESTRATE_H

#include <json-c/json.h>

#include "error.h"
#include "hv.h"
#include "wire.h"

struct mig_peer {
    /* Makes one control-API call; PARAMS is taken. */
    int (*call)(void *opaque, const char *method, json_object *params, int timeout_ms,
                json_object **ret, struct ferry_error *err);
    void *opaque;
    struct wire_hello hello; /* what the peer announced */
};

/* Optional progress hook: called with the name of each step as it starts
 * ("begin", "prepare", ...). */
typedef void (*mig_step_cb)(const char *step, int version, void *opaque);

/* Runs the whole migration of NAME from SRC to DST. DEST_HOST is the
 * destination host as the caller reached it (used for the migration URI
 * when none is given). */
int mig_orchestrate(struct mig_peer *src, struct mig_peer *dst, const char *name,
                    const char *dest_host, const struct mig_params *params, mig_step_cb cb,
                    void *opaque, struct ferry_error *err);

/* Highest version both hellos offer, or 0. */
int mig_pick_version(const struct wire_hello *a, const struct wire_hello *b);

#endif
