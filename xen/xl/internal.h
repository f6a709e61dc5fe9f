/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers shared by the files of xen/ and not part of its public API. */
#ifndef FERRY_XEN_XL_INTERNAL_H
#define FERRY_XEN_XL_INTERNAL_H

#include "xlconv.h"

/* Adds a note for the user to CFG, taking MSG; past XLCONV_MAX_NOTES the
 * last note says further ones were omitted. */
void xlconv_internal_note(struct xlconv_config *cfg, char *msg);

/* Appends an unconverted xl key to CFG->kept: KEY is copied, RAW taken. */
void xlconv_internal_keep(struct xlconv_config *cfg, const char *key, char *raw);

/* "destroy" -> XLCONV_ACTION_DESTROY...; -EINVAL for anything else. */
int xlconv_internal_action_parse(const char *s, enum xlconv_action *ret);

/* The virtio-serial port name of the SPICE agent (spicevdagent). */
#define XLCONV_SPICE_AGENT_CHANNEL "com.redhat.spice.0"

/* The bus libvirt writes for vdev VDEV ("ide", "scsi", "xen"). */
const char *xlconv_internal_disk_bus(const char *vdev);

/* True for the spice* keys config.c converts (not "spice" itself). */
bool xlconv_internal_is_spice_key(const char *key);

/* True for the xl keys config.c reads for the VNC console. */
bool xlconv_internal_is_vnc_key(const char *key);

#endif
