/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Typed member getters for json-c objects (json.h). */
#include "json.h"

static json_object *member(json_object *o, const char *k, json_type type)
{
    json_object *v = NULL;

    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, type))
        return NULL;
    return v;
}

const char *ferry_json_str(json_object *o, const char *k)
{
    json_object *v = member(o, k, json_type_string);

    return v ? json_object_get_string(v) : NULL;
}

const char *ferry_json_str0(json_object *o, const char *k)
{
    const char *s = ferry_json_str(o, k);

    return s ? s : "";
}

int64_t ferry_json_int(json_object *o, const char *k, int64_t dflt)
{
    json_object *v = member(o, k, json_type_int);

    return v ? json_object_get_int64(v) : dflt;
}

uint64_t ferry_json_u64(json_object *o, const char *k)
{
    int64_t i = ferry_json_int(o, k, 0);

    return i > 0 ? (uint64_t)i : 0;
}

bool ferry_json_bool(json_object *o, const char *k)
{
    json_object *v = member(o, k, json_type_boolean);

    return v && json_object_get_boolean(v);
}

bool ferry_json_has(json_object *o, const char *k)
{
    return o && json_object_object_get_ex(o, k, NULL);
}
