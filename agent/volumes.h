/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Disk images and who owns them (docs/control-api.md, "Disk images and
 * who owns them").
 *
 * Two kinds of image exist on a host. An operator's image is any path a
 * definition was given by `define` (or that was there before): ferryd
 * never creates, overwrites or removes one. An agent's image is one that
 * ferryd created itself, as the target of an incoming storage copy: it is
 * recorded here (STATE/volumes.json) with the guest it was made for, and
 * it is removed once that guest has left the host for good (a Confirm of
 * a success, or a Finish that replaced it) and no definition or running
 * guest names it any more, unless the migration asked to keep it.
 *
 * This module also decides where an incoming disk goes (the image dir,
 * the source's path, or a path the caller gave), before anything is
 * created, and refuses a target that would overwrite anything. */
#ifndef FERRY_AGENT_VOLUMES_H
#define FERRY_AGENT_VOLUMES_H

#include <json-c/json.h>

#include "agent.h"

#define VOLUME_PATH_MAX 512 /* as agent_job.created */

/* Loads STATE/volumes.json; entries whose file is gone are dropped. */
int agent_volumes_init(struct agent *ag, struct ferry_error *err);
void agent_volumes_fini(struct agent *ag);

/* Records PATH as an image ferryd created for the guest UUID (NAME for
 * people). Durable before it returns. */
int agent_volume_add(struct agent *ag, const char *path, const char *uuid, const char *name,
                     struct ferry_error *err);

/* True when PATH was created by ferryd (recorded here). */
bool agent_volume_owned(struct agent *ag, const char *path);

/* Removes the images ferryd created for guest UUID that no definition
 * and no running guest on this host names any more. WHY goes to the log. */
void agent_volumes_collect(struct agent *ag, const char *uuid, const char *why);

/* Begin (source): every disk named in P->disk_paths is one P copies, and
 * each path is absolute and plain. */
int agent_volumes_check_params(const struct mig_params *p, const struct domain_def *def,
                               struct ferry_error *err);

/* Prepare (destination): where each disk of COOKIE_IN's <nbd> list is to
 * be created, into RET_PATHS[i] (caller frees each). DEF is the incoming
 * definition (its disk paths are the source's, or the caller's with
 * --xml), SRC_DEF the source's own when they differ (else NULL). Refuses,
 * naming the disk and the path, anything that exists and is not empty
 * (except this guest's own stale copy in the image dir, which is kept
 * until the migration succeeds and a new name is used), a missing
 * directory, or two disks on one path. Changes nothing on failure. */
int agent_volumes_plan(struct agent *ag, struct agent_domain *dom, const struct cookie *cookie_in,
                       const struct mig_params *p, const struct domain_def *src_def,
                       char *ret_paths[MIG_MAX_DISKS], struct ferry_error *err);

/* vol.list: {"volumes": [{path, domain, uuid, capacity, allocation,
 * used_by: "running"|"definition"|null}]}. */
json_object *agent_volumes_list_json(struct agent *ag);
/* vol.delete: removes an agent's image nobody uses; refuses an operator's
 * image and one a definition or a running guest names. PATH may be a
 * file name inside the image dir. */
int agent_volume_delete(struct agent *ag, const char *path, struct ferry_error *err);

#endif
