/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* State and helpers shared by the domain XML readers of xen/xl/:
 * xmlparse.c (the document, <os>, metadata, final checks) and xmldev.c
 * (<devices>). Internal to xen/xl/. */
#ifndef FERRY_XEN_XL_XMLPARSE_H
#define FERRY_XEN_XL_XMLPARSE_H

#include <stdbool.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "error.h"
#include "xlconv.h"

#define BADCAST (const xmlChar *)

struct xparse {
    struct xlconv_config *cfg;
    struct ferry_error *err;
    bool have_vnc_graphics;
    bool have_spice_graphics;
    /* Network disks, by index in cfg->disks: their source, turned into an
     * rbd: target once the metadata (kept rbd options) has been read. */
    struct xlconv_rbd rbd[XLCONV_MAX_DISKS];
    bool is_rbd[XLCONV_MAX_DISKS];
    bool rbd_options_kept[XLCONV_MAX_DISKS]; /* a <ferry:rbd> replaced the default */
};

/* True when N is an element called NAME. */
bool xlconv_xp_is(const xmlNode *n, const char *name);
/* Attribute NAME of N (no namespace), or NULL. Caller frees with free(). */
char *xlconv_xp_prop(const xmlNode *n, const char *name);
/* Text content of N, bounded; replaces *RET (caller frees). */
int xlconv_xp_text(const struct xparse *xp, const xmlNode *n, const char *what, char **ret);
/* Notes that <PARENT/N> has no xl.cfg equivalent. */
void xlconv_xp_note_ignored(struct xparse *xp, const char *parent, const xmlNode *n);
/* S as an integer in 0..MAX, or -EINVAL naming WHAT. */
int xlconv_xp_uint(const struct xparse *xp, const char *what, const char *s, uint64_t max,
                   uint64_t *ret);

/* Refuses a second child of PARENT named one of NAMES (NULL-terminated):
 * each maps to one xl key, and a later copy must not silently win. WHERE
 * names PARENT in the message. */
int xlconv_xp_unique(const struct xparse *xp, const xmlNode *parent, const char *const *names,
                     const char *where);

/* The children of <devices>, into XP->cfg. */
int xlconv_xp_devices(struct xparse *xp, const xmlNode *devs);

#endif
