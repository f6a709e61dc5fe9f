/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The table of hypervisor drivers this build has. */
#include <string.h>

#include "drivers.h"
#include "qemu-driver.h"
#include "xen-driver.h"

static const struct hv_driver *const drivers[] = {
    &qemu_hv_driver,
    &xen_hv_driver,
};

const struct hv_driver *ferryd_find_driver(const char *name)
{
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++)
        if (strcmp(drivers[i]->name, name) == 0)
            return drivers[i];
    return NULL;
}
