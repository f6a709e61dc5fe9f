/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Storage roots: the directories whose files a guest definition may name
 * (disks, CD-ROMs, kernel, initrd, firmware, NVRAM and its template, a
 * console socket). ferryd's image dir is always one; --storage-root adds
 * more. Paths are compared after resolving symlinks; a ".." component is
 * refused outright. docs/security.md, "Storage roots". */
#ifndef FERRY_AGENT_ROOTS_H
#define FERRY_AGENT_ROOTS_H

#include "agent.h"

#define AGENT_MAX_ROOTS 32

/* Adds DIR (must exist and be a directory; stored resolved) to AG's roots.
 * Before agent_init; one thread. */
int agent_roots_add(struct agent *ag, const char *dir, struct ferry_error *err);

/* Refuses (-EACCES, naming the element and the path) the first host path
 * of DEF outside the roots. MP (may be NULL: define, start) is the
 * incoming migration's parameters: disks it copies land in the image dir
 * (unchecked) unless same_path or a per-disk path says otherwise; then
 * that path is checked. */
int agent_roots_check(struct agent *ag, const struct domain_def *def, const struct mig_params *mp,
                      struct ferry_error *err);

#endif
