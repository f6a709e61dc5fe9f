/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The compression, zero-copy and synchronous-writes parts of the
 * migration parameters (see migparams.h): libvirt's names, QEMU 7.2's
 * ranges, and the combinations refused before anything starts. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "migparams.h"
#include "util.h"

/* QEMU 7.2's ranges (migration.c, migrate_params_check). */
#define COMP_LEVEL_MAX      9   /* compress-level, multifd-zlib-level */
#define COMP_ZSTD_LEVEL_MAX 20  /* multifd-zstd-level */
#define COMP_THREADS_MAX    255 /* compress-threads, decompress-threads */
#define COMP_PAGE_SIZE      4096u
#define COMP_CACHE_MAX      (1ull << 40)

static const struct {
    unsigned method;
    const char *name;
} method_names[] = {
    {MIG_COMP_XBZRLE, "xbzrle"},
    {MIG_COMP_MT, "mt"},
    {MIG_COMP_ZLIB, "zlib"},
    {MIG_COMP_ZSTD, "zstd"},
};

const char *mig_comp_method_name(unsigned method)
{
    for (size_t i = 0; i < ARRAY_SIZE(method_names); i++)
        if (method_names[i].method == method)
            return method_names[i].name;
    return NULL;
}

static int add_method(const char *name, unsigned *methods, struct ferry_error *err)
{
    for (size_t i = 0; i < ARRAY_SIZE(method_names); i++) {
        if (strcmp(method_names[i].name, name) != 0)
            continue;
        if (*methods & method_names[i].method)
            return ferry_error_set(err, EINVAL, "compression method '%s' is specified twice", name);
        *methods |= method_names[i].method;
        return 0;
    }
    return ferry_error_set(err, EINVAL,
                           "unsupported compression method '%.64s' (xbzrle, mt; with --parallel "
                           "zlib or zstd)",
                           name);
}

int mig_comp_methods_parse(const char *list, unsigned *methods, struct ferry_error *err)
{
    _cleanup_free_ char *copy = ferry_strdup(list);
    char *save = NULL;
    int r;

    if (!*list)
        return ferry_error_set(err, EINVAL, "--comp-methods needs at least one method");
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
        if ((r = add_method(t, methods, err)) < 0)
            return r;
    return 0;
}

bool mig_comp_param_key(const char *key)
{
    return strncmp(key, "compression", 11) == 0;
}

static int get_level(json_object *v, const char *key, unsigned min, unsigned max, bool *has,
                     unsigned *ret, struct ferry_error *err)
{
    int64_t i;

    if (!json_object_is_type(v, json_type_int))
        return ferry_error_set(err, EINVAL, "migration parameter '%s' must be an integer", key);
    i = json_object_get_int64(v);
    if (i < min || i > max)
        return ferry_error_set(err, EINVAL, "migration parameter '%s' out of range (%u-%u)", key,
                               min, max);
    *has = true;
    *ret = (unsigned)i;
    return 0;
}

int mig_comp_param_from_json(const char *key, json_object *v, struct mig_params *p,
                             struct ferry_error *err)
{
    if (strcmp(key, "compression") == 0) {
        /* libvirt's VIR_MIGRATE_PARAM_COMPRESSION: one string per method;
         * a comma-separated string is taken too. */
        if (json_object_is_type(v, json_type_string))
            return mig_comp_methods_parse(json_object_get_string(v), &p->comp_methods, err);
        if (!json_object_is_type(v, json_type_array) || json_object_array_length(v) == 0)
            return ferry_error_set(err, EINVAL, "'compression' must be an array of method names");
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            json_object *m = json_object_array_get_idx(v, i);
            int r;
            if (!json_object_is_type(m, json_type_string))
                return ferry_error_set(err, EINVAL, "'compression' must contain strings");
            if ((r = add_method(json_object_get_string(m), &p->comp_methods, err)) < 0)
                return r;
        }
        return 0;
    }
    if (strcmp(key, "compression_xbzrle_cache") == 0) {
        int64_t i;
        if (!json_object_is_type(v, json_type_int))
            return ferry_error_set(err, EINVAL, "migration parameter '%s' must be an integer", key);
        i = json_object_get_int64(v);
        if (i <= 0 || (uint64_t)i > COMP_CACHE_MAX)
            return ferry_error_set(err, EINVAL, "migration parameter '%s' out of range (1-%llu)",
                                   key, (unsigned long long)COMP_CACHE_MAX);
        p->comp_xbzrle_cache = (uint64_t)i;
        return 0;
    }
    if (strcmp(key, "compression_mt_level") == 0)
        return get_level(v, key, 0, COMP_LEVEL_MAX, &p->has_comp_mt_level, &p->comp_mt_level, err);
    if (strcmp(key, "compression_mt_threads") == 0)
        return get_level(v, key, 1, COMP_THREADS_MAX, &p->has_comp_mt_threads, &p->comp_mt_threads,
                         err);
    if (strcmp(key, "compression_mt_dthreads") == 0)
        return get_level(v, key, 1, COMP_THREADS_MAX, &p->has_comp_mt_dthreads,
                         &p->comp_mt_dthreads, err);
    if (strcmp(key, "compression_zlib_level") == 0)
        return get_level(v, key, 0, COMP_LEVEL_MAX, &p->has_comp_zlib_level, &p->comp_zlib_level,
                         err);
    if (strcmp(key, "compression_zstd_level") == 0)
        return get_level(v, key, 0, COMP_ZSTD_LEVEL_MAX, &p->has_comp_zstd_level,
                         &p->comp_zstd_level, err);
    return ferry_error_set(err, EINVAL, "unknown migration parameter '%.64s'", key);
}

void mig_comp_params_to_json(const struct mig_params *p, json_object *o)
{
    if (p->comp_methods) {
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < ARRAY_SIZE(method_names); i++)
            if (p->comp_methods & method_names[i].method)
                json_object_array_add(a, json_object_new_string(method_names[i].name));
        json_object_object_add(o, "compression", a);
    }
    if (p->comp_xbzrle_cache)
        json_object_object_add(o, "compression_xbzrle_cache",
                               json_object_new_int64((int64_t)p->comp_xbzrle_cache));
    if (p->has_comp_mt_level)
        json_object_object_add(o, "compression_mt_level",
                               json_object_new_int((int)p->comp_mt_level));
    if (p->has_comp_mt_threads)
        json_object_object_add(o, "compression_mt_threads",
                               json_object_new_int((int)p->comp_mt_threads));
    if (p->has_comp_mt_dthreads)
        json_object_object_add(o, "compression_mt_dthreads",
                               json_object_new_int((int)p->comp_mt_dthreads));
    if (p->has_comp_zlib_level)
        json_object_object_add(o, "compression_zlib_level",
                               json_object_new_int((int)p->comp_zlib_level));
    if (p->has_comp_zstd_level)
        json_object_object_add(o, "compression_zstd_level",
                               json_object_new_int((int)p->comp_zstd_level));
}

unsigned mig_comp_methods(const struct mig_params *p)
{
    if (!(p->flags & MIG_COMPRESSED))
        return 0;
    return p->comp_methods ? p->comp_methods : MIG_COMP_XBZRLE; /* libvirt's default */
}

bool mig_comp_cache_size_valid(uint64_t bytes)
{
    return bytes >= COMP_PAGE_SIZE && bytes <= COMP_CACHE_MAX && (bytes & (bytes - 1)) == 0;
}

/* A tuning option given without its method (libvirt: "Turn ... compression
 * on to tune it"). */
static int tuning_check(const struct mig_params *p, unsigned methods, struct ferry_error *err)
{
    if ((p->has_comp_mt_level || p->has_comp_mt_threads || p->has_comp_mt_dthreads) &&
        !(methods & MIG_COMP_MT))
        return ferry_error_set(err, EINVAL,
                               "--comp-mt-level/--comp-mt-threads/--comp-mt-dthreads require "
                               "--comp-methods mt (turn mt compression on to tune it)");
    if (p->comp_xbzrle_cache && !(methods & MIG_COMP_XBZRLE))
        return ferry_error_set(err, EINVAL,
                               "--comp-xbzrle-cache requires the xbzrle method (turn xbzrle "
                               "compression on to tune it)");
    if (p->has_comp_zlib_level && !(methods & MIG_COMP_ZLIB))
        return ferry_error_set(err, EINVAL,
                               "--comp-zlib-level requires --comp-methods zlib (turn zlib "
                               "compression on to tune it)");
    if (p->has_comp_zstd_level && !(methods & MIG_COMP_ZSTD))
        return ferry_error_set(err, EINVAL,
                               "--comp-zstd-level requires --comp-methods zstd (turn zstd "
                               "compression on to tune it)");
    if (p->comp_xbzrle_cache && !mig_comp_cache_size_valid(p->comp_xbzrle_cache))
        return ferry_error_set(err, EINVAL,
                               "--comp-xbzrle-cache %llu is not a power of two between 4096 "
                               "and 1 TiB (QEMU's rule for xbzrle-cache-size)",
                               (unsigned long long)p->comp_xbzrle_cache);
    return 0;
}

static bool comp_option_given(const struct mig_params *p)
{
    return p->comp_methods || p->comp_xbzrle_cache || p->has_comp_mt_level ||
           p->has_comp_mt_threads || p->has_comp_mt_dthreads || p->has_comp_zlib_level ||
           p->has_comp_zstd_level;
}

static int compression_validate(const struct mig_params *p, struct ferry_error *err)
{
    unsigned f = p->flags;
    bool parallel = (f & MIG_PARALLEL) || p->parallel_connections;
    unsigned methods = mig_comp_methods(p);

    if (!(f & MIG_COMPRESSED)) {
        if (comp_option_given(p))
            return ferry_error_set(err, EINVAL,
                                   "compression options (--comp-*) require --compressed");
        return 0;
    }
    if (f & MIG_OFFLINE)
        return ferry_error_set(err, EINVAL,
                               "--compressed makes no sense with --offline (no memory moves)");
    if (parallel) {
        if (!p->comp_methods)
            return ferry_error_set(err, EINVAL,
                                   "--compressed with --parallel needs --comp-methods zlib or "
                                   "zstd (multifd compression; xbzrle and mt are not "
                                   "supported with parallel migration)");
        for (size_t i = 0; i < ARRAY_SIZE(method_names); i++)
            if ((methods & method_names[i].method) &&
                (method_names[i].method & (MIG_COMP_XBZRLE | MIG_COMP_MT)))
                return ferry_error_set(err, EINVAL,
                                       "compression method '%s' is not supported with parallel "
                                       "migration (use zlib or zstd with --parallel)",
                                       method_names[i].name);
        if ((methods & MIG_COMP_ZLIB) && (methods & MIG_COMP_ZSTD))
            return ferry_error_set(err, EINVAL,
                                   "only one compression method can be used with parallel "
                                   "migration (zlib or zstd)");
    } else {
        for (size_t i = 0; i < ARRAY_SIZE(method_names); i++)
            if ((methods & method_names[i].method) &&
                (method_names[i].method & (MIG_COMP_ZLIB | MIG_COMP_ZSTD)))
                return ferry_error_set(err, EINVAL,
                                       "compression method '%s' is only supported with parallel "
                                       "migration (--parallel)",
                                       method_names[i].name);
    }
    /* QEMU 7.2 refuses the compress capability with postcopy-ram: its
     * decompression threads do not write guest RAM atomically. */
    if ((methods & MIG_COMP_MT) && (f & MIG_POSTCOPY))
        return ferry_error_set(err, ENOTSUP,
                               "compression method 'mt' cannot be used with --postcopy (QEMU 7.2: "
                               "post-copy is not compatible with compression)");
    return tuning_check(p, methods, err);
}

int mig_comp_validate(const struct mig_params *p, struct ferry_error *err)
{
    unsigned f = p->flags;
    int r;

    if ((r = compression_validate(p, err)) < 0)
        return r;
    if (f & MIG_ZEROCOPY) {
        if (f & MIG_OFFLINE)
            return ferry_error_set(err, EINVAL,
                                   "--zerocopy makes no sense with --offline (no memory moves)");
        if (!(f & MIG_PARALLEL) && !p->parallel_connections)
            return ferry_error_set(err, EINVAL,
                                   "--zerocopy requires --parallel (QEMU sends zero-copy only "
                                   "over multifd channels)");
        /* QEMU 7.2, migrate_caps_check/migrate_params_check: "Zero copy
         * only available for non-compressed non-TLS multifd migration". */
        if (f & MIG_COMPRESSED)
            return ferry_error_set(err, ENOTSUP,
                                   "--zerocopy cannot be used with --compressed (QEMU 7.2 sends "
                                   "zero-copy only uncompressed)");
        if (f & MIG_TLS)
            return ferry_error_set(err, ENOTSUP,
                                   "--zerocopy cannot be used with --tls (QEMU 7.2 sends "
                                   "zero-copy only without TLS)");
    }
    if (f & MIG_NON_SHARED_SYNCHRONOUS_WRITES) {
        if (!(f & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC)))
            return ferry_error_set(err, EINVAL,
                                   "--synchronous-writes requires --copy-storage-all or "
                                   "--copy-storage-inc");
        if (p->storage_engine != MIG_STORAGE_QEMU)
            return ferry_error_set(
                err, ENOTSUP,
                "--synchronous-writes is not supported with --storage-engine ferry (the engine "
                "follows guest writes through dirty bitmaps and cannot block them until they "
                "reach the destination): use --storage-engine qemu");
    }
    return 0;
}
