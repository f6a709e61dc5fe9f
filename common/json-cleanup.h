/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Cleanup helpers for json-c and libxml2 objects. */
#ifndef FERRY_COMMON_JSON_CLEANUP_H
#define FERRY_COMMON_JSON_CLEANUP_H

#include <json-c/json.h>

#include "cleanup.h"

static inline void json_object_putp(struct json_object **o)
{
    if (*o)
        json_object_put(*o);
}

#endif
