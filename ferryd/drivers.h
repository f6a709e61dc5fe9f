/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hypervisor drivers this build has, by name. */
#ifndef FERRY_FERRYD_DRIVERS_H
#define FERRY_FERRYD_DRIVERS_H

#include "hv.h"

/* The driver called NAME ("qemu", "xen"), or NULL. */
const struct hv_driver *ferryd_find_driver(const char *name);

#endif
