/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The HELLO payload each side sends first: who it is, which migration
 * protocol versions (1..3, negotiated the way libvirt picks v3/v2/v1) and
 * which features it speaks. Everything a peer sends is bounded here. */
#include "wire.h"

#include <errno.h>
#include <string.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "util.h"

#define HELLO_MAX_VERSIONS 16

struct json_object *wire_hello_to_json(const struct wire_hello *h)
{
    struct json_object *o = json_object_new_object();
    struct json_object *v = json_object_new_array();
    struct json_object *f = json_object_new_array();

    json_object_object_add(o, "agent", json_object_new_string("ferry"));
    json_object_object_add(o, "agent_version", json_object_new_string(h->agent_version));
    json_object_object_add(o, "role", json_object_new_string(h->role));
    json_object_object_add(o, "host", json_object_new_string(h->host));
    if (h->host_uuid[0])
        json_object_object_add(o, "host_uuid", json_object_new_string(h->host_uuid));
    for (int i = 1; i <= WIRE_MIGRATION_VERSION_MAX; i++) {
        if (h->versions & (1u << i))
            json_object_array_add(v, json_object_new_int(i));
    }
    json_object_object_add(o, "versions", v);
    for (size_t i = 0; i < h->n_features && i < WIRE_MAX_FEATURES; i++)
        json_object_array_add(f, json_object_new_string(h->features[i]));
    json_object_object_add(o, "features", f);
    return o;
}

/* Copies string member KEY of O into BUF (SIZE bytes) if it is a string of
 * MIN..SIZE-1 printable ASCII characters. -ENOENT when absent. */
static int get_bounded(struct json_object *o, const char *key, char *buf, size_t size, size_t min,
                       struct ferry_error *err)
{
    struct json_object *v;
    const char *s;
    size_t len;

    if (!json_object_object_get_ex(o, key, &v) || !v)
        return -ENOENT;
    if (!json_object_is_type(v, json_type_string))
        return ferry_error_set(err, EPROTO, "hello: \"%s\" is not a string", key);
    s = json_object_get_string(v);
    len = (size_t)json_object_get_string_len(v);
    if (len < min || len >= size)
        return ferry_error_set(err, EPROTO, "hello: \"%s\" must be %zu..%zu characters, not %zu",
                               key, min, size - 1, len);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch >= 0x7f)
            return ferry_error_set(
                err, EPROTO, "hello: \"%s\" contains a non-printable character at %zu", key, i);
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 0;
}

static bool role_valid(const char *s)
{
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
            return false;
    }
    return true;
}

int wire_hello_from_json(struct json_object *obj, struct wire_hello *ret, struct ferry_error *err)
{
    _cleanup_free_ struct wire_hello *h = ferry_calloc(1, sizeof *h);
    struct json_object *v;
    size_t n;
    int r;

    if (!obj || !json_object_is_type(obj, json_type_object))
        return ferry_error_set(err, EPROTO, "hello: payload is not an object");

    r = get_bounded(obj, "role", h->role, sizeof h->role, 1, err);
    if (r == -ENOENT)
        return ferry_error_set(err, EPROTO, "hello: \"role\" missing");
    if (r < 0)
        return r;
    if (!role_valid(h->role))
        return ferry_error_set(err, EPROTO, "hello: \"role\" '%s' is not [a-z0-9-]", h->role);

    r = get_bounded(obj, "host", h->host, sizeof h->host, 1, err);
    if (r == -ENOENT)
        return ferry_error_set(err, EPROTO, "hello: \"host\" missing");
    if (r < 0)
        return r;

    r = get_bounded(obj, "host_uuid", h->host_uuid, sizeof h->host_uuid, 0, err);
    if (r < 0 && r != -ENOENT)
        return r;
    if (h->host_uuid[0] && !ferry_uuid_valid(h->host_uuid))
        return ferry_error_set(err, EPROTO, "hello: \"host_uuid\" '%s' is not a UUID",
                               h->host_uuid);

    r = get_bounded(obj, "agent_version", h->agent_version, sizeof h->agent_version, 0, err);
    if (r < 0 && r != -ENOENT)
        return r;

    if (!json_object_object_get_ex(obj, "versions", &v) || !json_object_is_type(v, json_type_array))
        return ferry_error_set(err, EPROTO, "hello: \"versions\" missing or not an array");
    n = json_object_array_length(v);
    if (n == 0 || n > HELLO_MAX_VERSIONS)
        return ferry_error_set(err, EPROTO, "hello: \"versions\" must list 1..%d versions, not %zu",
                               HELLO_MAX_VERSIONS, n);
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        int64_t ver;

        if (!json_object_is_type(e, json_type_int))
            return ferry_error_set(err, EPROTO, "hello: \"versions\"[%zu] is not an integer", i);
        ver = json_object_get_int64(e);
        if (ver < 1)
            return ferry_error_set(err, EPROTO, "hello: \"versions\"[%zu] = %lld is not >= 1", i,
                                   (long long)ver);
        /* A newer peer lists versions we do not know; negotiation skips them. */
        if (ver <= WIRE_MIGRATION_VERSION_MAX)
            h->versions |= 1u << ver;
    }

    if (json_object_object_get_ex(obj, "features", &v) && v) {
        if (!json_object_is_type(v, json_type_array))
            return ferry_error_set(err, EPROTO, "hello: \"features\" is not an array");
        n = json_object_array_length(v);
        if (n > WIRE_MAX_FEATURES)
            return ferry_error_set(err, EPROTO, "hello: %zu features, more than the %d accepted", n,
                                   WIRE_MAX_FEATURES);
        for (size_t i = 0; i < n; i++) {
            struct json_object *e = json_object_array_get_idx(v, i);
            const char *s;
            size_t len;

            if (!json_object_is_type(e, json_type_string))
                return ferry_error_set(err, EPROTO, "hello: \"features\"[%zu] is not a string", i);
            s = json_object_get_string(e);
            len = (size_t)json_object_get_string_len(e);
            if (len == 0 || len >= sizeof h->features[0] || strlen(s) != len)
                return ferry_error_set(err, EPROTO,
                                       "hello: \"features\"[%zu] must be 1..%zu characters", i,
                                       sizeof h->features[0] - 1);
            for (size_t k = 0; k < len; k++) {
                if ((unsigned char)s[k] < 0x20 || (unsigned char)s[k] >= 0x7f)
                    return ferry_error_set(err, EPROTO,
                                           "hello: \"features\"[%zu] contains a non-printable "
                                           "character",
                                           i);
            }
            r = wire_hello_add_feature(h, s);
            if (r < 0)
                return ferry_error_set(err, r, "hello: cannot record feature '%s'", s);
        }
    }
    *ret = *h;
    return 0;
}

bool wire_hello_has_feature(const struct wire_hello *h, const char *feature)
{
    for (size_t i = 0; i < h->n_features && i < WIRE_MAX_FEATURES; i++) {
        if (strcmp(h->features[i], feature) == 0)
            return true;
    }
    return false;
}

int wire_hello_add_feature(struct wire_hello *h, const char *feature)
{
    size_t len = strlen(feature);

    if (len == 0 || len >= sizeof h->features[0])
        return -EINVAL;
    if (wire_hello_has_feature(h, feature))
        return 0;
    if (h->n_features >= WIRE_MAX_FEATURES)
        return -E2BIG;
    memcpy(h->features[h->n_features], feature, len + 1);
    h->n_features++;
    return 0;
}

int wire_hello_negotiate(const struct wire_hello *a, const struct wire_hello *b)
{
    unsigned common = a->versions & b->versions;

    for (int v = WIRE_MIGRATION_VERSION_MAX; v >= 1; v--) {
        if (common & (1u << v))
            return v;
    }
    return 0;
}
