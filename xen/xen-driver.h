/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Xen driver's vtable, for agent/drivers.c (ferryd --hypervisor xen).
 * It drives the xl toolstack named by agent_config.xl_binary ("xl" on PATH
 * by default) and needs ferry-xl-pipe (built in xen/) as xl migrate's
 * transport command: $FERRY_XL_PIPE, next to ferryd, or on PATH. */
#ifndef FERRY_XEN_XEN_DRIVER_H
#define FERRY_XEN_XEN_DRIVER_H

#include "hv.h"

extern const struct hv_driver xen_hv_driver;

#endif
