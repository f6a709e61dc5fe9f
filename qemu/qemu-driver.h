/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver, for ferryd/drivers.c: the one thing qemu/ exports. */
#ifndef FERRY_QEMU_DRIVER_H
#define FERRY_QEMU_DRIVER_H

#include "hv.h"

extern const struct hv_driver qemu_hv_driver;

#endif
