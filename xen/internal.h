/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the files of xen/ and not part of its public API. */
#ifndef FERRY_XEN_INTERNAL_H
#define FERRY_XEN_INTERNAL_H

#include "xendrv.h"

/* Adds a note for the user to CFG, taking MSG; past XENDRV_MAX_NOTES the
 * last note says further ones were omitted. */
void xendrv_internal_note(struct xendrv_config *cfg, char *msg);

/* Appends an unconverted xl key to CFG->kept: KEY is copied, RAW taken. */
void xendrv_internal_keep(struct xendrv_config *cfg, const char *key, char *raw);

/* "destroy" -> XENDRV_ACTION_DESTROY...; -EINVAL for anything else. */
int xendrv_internal_action_parse(const char *s, enum xendrv_action *ret);

/* True for the xl keys config.c reads for the VNC console. */
bool xendrv_internal_is_vnc_key(const char *key);

#endif
