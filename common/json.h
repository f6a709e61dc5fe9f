/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Reading members of json-c objects that may be absent or of the wrong
 * type (QMP replies, job records, control-API results): each getter gives
 * the member only when it has the asked type, else the fallback. O may be
 * NULL. Validation that must name a bad member belongs to the caller. */
#ifndef FERRY_COMMON_JSON_H
#define FERRY_COMMON_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

/* The string member K, or NULL. */
const char *ferry_json_str(json_object *o, const char *k);
/* The string member K, or "" (for formatting). */
const char *ferry_json_str0(json_object *o, const char *k);
/* The integer member K, or DFLT. */
int64_t ferry_json_int(json_object *o, const char *k, int64_t dflt);
/* The integer member K as a count: 0 when absent or negative. */
uint64_t ferry_json_u64(json_object *o, const char *k);
/* True only for a boolean member K that is true. */
bool ferry_json_bool(json_object *o, const char *k);
/* Whether O has a member K at all (null included). */
bool ferry_json_has(json_object *o, const char *k);

#endif
