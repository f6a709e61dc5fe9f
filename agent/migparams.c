/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Migration parameters in JSON and their validation (see migparams.h).
 * Messages follow libvirt's where libvirt has one for the same mistake. */
#include "migparams.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "util.h"

#define MIG_MAX_STRING 1024

static const struct {
    unsigned flag;
    const char *name;
} flag_names[] = {
#define MIG_FLAG(NAME, BIT, JSON, ...) {MIG_##NAME, JSON},
#include "migparams.def"
};

/* The MIG_PARAM rows of migparams.def, with where each lives in struct
 * mig_params. */
enum param_kind { KIND_STR, KIND_U64, KIND_UINT, KIND_BOOL };

static const struct param_row {
    const char *json, *json_alias;
    enum param_kind kind;
    size_t offset;
    uint64_t max;
} param_rows[] = {
#define MIG_PARAM(FIELD, KIND, JSON, JSON_ALIAS, OPTION, ARG, MIN, MAX, HELP)                      \
    {JSON, JSON_ALIAS, KIND_##KIND, offsetof(struct mig_params, FIELD), MAX},
#include "migparams.def"
};

/* The storage engines' names (enum mig_storage_engine), declared once. */
static const char *const engine_names[] = {
    [MIG_STORAGE_FERRY] = "ferry", [MIG_STORAGE_QEMU] = "qemu"};

const char *mig_storage_engine_name(enum mig_storage_engine e)
{
    return (unsigned)e < ARRAY_SIZE(engine_names) ? engine_names[e] : "?";
}

int mig_storage_engine_from_name(const char *s, enum mig_storage_engine *ret)
{
    for (size_t i = 0; s && i < ARRAY_SIZE(engine_names); i++)
        if (strcmp(engine_names[i], s) == 0) {
            *ret = (enum mig_storage_engine)i;
            return 0;
        }
    return -EINVAL;
}

#define FIELD(p, row, type)  ((type *)((char *)(p) + (row)->offset))
#define CFIELD(p, row, type) ((const type *)((const char *)(p) + (row)->offset))

const char *mig_flag_name(unsigned flag)
{
    for (size_t i = 0; i < ARRAY_SIZE(flag_names); i++)
        if (flag_names[i].flag == flag)
            return flag_names[i].name;
    return NULL;
}

int mig_flag_from_name(const char *name, unsigned *ret)
{
    for (size_t i = 0; i < ARRAY_SIZE(flag_names); i++) {
        if (strcmp(flag_names[i].name, name) == 0) {
            *ret = flag_names[i].flag;
            return 0;
        }
    }
    return -EINVAL;
}

void mig_params_clear(struct mig_params *p)
{
    for (size_t i = 0; i < ARRAY_SIZE(param_rows); i++)
        if (param_rows[i].kind == KIND_STR)
            free(*FIELD(p, &param_rows[i], char *));
    free(p->dest_xml);
    for (size_t i = 0; i < p->n_migrate_disks; i++)
        free(p->migrate_disks[i]);
    for (size_t i = 0; i < p->n_disk_paths; i++)
        free(p->disk_paths[i].path);
    memset(p, 0, sizeof *p);
}

static int get_string(json_object *v, const char *key, char **ret, struct ferry_error *err)
{
    size_t max = strcmp(key, "destination_xml") == 0 ? DOMAIN_XML_MAX : MIG_MAX_STRING;

    if (!json_object_is_type(v, json_type_string))
        return ferry_error_set(err, EINVAL, "migration parameter '%s' must be a string", key);
    if ((size_t)json_object_get_string_len(v) > max)
        return ferry_error_set(err, EINVAL, "migration parameter '%s' is longer than %zu bytes",
                               key, max);
    free(*ret);
    *ret = ferry_strdup(json_object_get_string(v));
    return 0;
}

static int get_u64(json_object *v, const char *key, uint64_t max, uint64_t *ret,
                   struct ferry_error *err)
{
    int64_t i;

    if (!json_object_is_type(v, json_type_int))
        return ferry_error_set(err, EINVAL, "migration parameter '%s' must be an integer", key);
    i = json_object_get_int64(v);
    if (i < 0 || (uint64_t)i > max)
        return ferry_error_set(err, EINVAL, "migration parameter '%s' out of range (0-%llu)", key,
                               (unsigned long long)max);
    *ret = (uint64_t)i;
    return 0;
}

static int get_bool(json_object *v, const char *key, bool *ret, struct ferry_error *err)
{
    if (!json_object_is_type(v, json_type_boolean))
        return ferry_error_set(err, EINVAL, "'%s' must be a boolean", key);
    *ret = json_object_get_boolean(v);
    return 0;
}

/* "disk_paths": {"vda": "/srv/vm/a.qcow2", ...}: where each copied disk
 * goes on the destination. */
static int parse_disk_paths(json_object *v, struct mig_params *p, struct ferry_error *err)
{
    if (!json_object_is_type(v, json_type_object))
        return ferry_error_set(err, EINVAL, "'disk_paths' must map disk targets to paths");
    json_object_object_foreach (v, target, path) {
        if (p->n_disk_paths >= MIG_MAX_DISKS)
            return ferry_error_set(err, EINVAL, "'disk_paths' names more than %d disks",
                                   MIG_MAX_DISKS);
        if (!target[0] || strlen(target) >= sizeof p->disk_paths[0].target)
            return ferry_error_set(err, EINVAL, "'disk_paths': '%.40s' is not a disk target",
                                   target);
        if (!json_object_is_type(path, json_type_string) || json_object_get_string_len(path) == 0 ||
            json_object_get_string_len(path) >= MIG_DISK_PATH_MAX)
            return ferry_error_set(err, EINVAL,
                                   "'disk_paths': the path of disk '%s' must be a string of "
                                   "1-%d bytes",
                                   target, MIG_DISK_PATH_MAX - 1);
        snprintf(p->disk_paths[p->n_disk_paths].target, sizeof p->disk_paths[0].target, "%s",
                 target);
        p->disk_paths[p->n_disk_paths++].path = ferry_strdup(json_object_get_string(path));
    }
    return 0;
}

static int parse_flags(json_object *v, unsigned *ret, struct ferry_error *err)
{
    if (json_object_is_type(v, json_type_int)) {
        int64_t i = json_object_get_int64(v);
        unsigned known = 0;
        for (size_t k = 0; k < ARRAY_SIZE(flag_names); k++)
            known |= flag_names[k].flag;
        if (i < 0 || ((uint64_t)i & ~(uint64_t)known))
            return ferry_error_set(err, EINVAL, "unknown migration flag bits 0x%llx",
                                   (unsigned long long)((uint64_t)i & ~(uint64_t)known));
        *ret = (unsigned)i;
        return 0;
    }
    if (!json_object_is_type(v, json_type_array))
        return ferry_error_set(err, EINVAL, "'flags' must be an array of names or an integer");
    *ret = 0;
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        json_object *f = json_object_array_get_idx(v, i);
        unsigned bit;
        if (!json_object_is_type(f, json_type_string))
            return ferry_error_set(err, EINVAL, "'flags' must contain strings");
        if (mig_flag_from_name(json_object_get_string(f), &bit) < 0)
            return ferry_error_set(err, EINVAL, "unknown migration flag '%.64s'",
                                   json_object_get_string(f));
        *ret |= bit;
    }
    return 0;
}

static int parse_migrate_disks(json_object *v, struct mig_params *p, struct ferry_error *err)
{
    if (!json_object_is_type(v, json_type_array))
        return ferry_error_set(err, EINVAL, "'migrate_disks' must be an array of targets");
    if (json_object_array_length(v) > MIG_MAX_DISKS)
        return ferry_error_set(err, EINVAL, "'migrate_disks' names more than %d disks",
                               MIG_MAX_DISKS);
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        json_object *d = json_object_array_get_idx(v, i);
        if (!json_object_is_type(d, json_type_string) || json_object_get_string_len(d) == 0 ||
            json_object_get_string_len(d) > 31)
            return ferry_error_set(err, EINVAL,
                                   "'migrate_disks' entries must be disk target names");
        for (size_t k = 0; k < p->n_migrate_disks; k++)
            if (strcmp(p->migrate_disks[k], json_object_get_string(d)) == 0)
                return ferry_error_set(err, EINVAL, "disk '%s' is named twice in migrate_disks",
                                       json_object_get_string(d));
        p->migrate_disks[p->n_migrate_disks++] = ferry_strdup(json_object_get_string(d));
    }
    return 0;
}

static const struct param_row *param_row_of(const char *key)
{
    for (size_t i = 0; i < ARRAY_SIZE(param_rows); i++)
        if (strcmp(param_rows[i].json, key) == 0 ||
            (param_rows[i].json_alias && strcmp(param_rows[i].json_alias, key) == 0))
            return &param_rows[i];
    return NULL;
}

static int param_from_json(const struct param_row *row, const char *key, json_object *v,
                           struct mig_params *p, struct ferry_error *err)
{
    uint64_t u = 0;
    int r;

    switch (row->kind) {
    case KIND_STR:
        return get_string(v, key, FIELD(p, row, char *), err);
    case KIND_BOOL:
        return get_bool(v, key, FIELD(p, row, bool), err);
    case KIND_U64:
        return get_u64(v, key, row->max, FIELD(p, row, uint64_t), err);
    case KIND_UINT:
        if ((r = get_u64(v, key, row->max, &u, err)) < 0)
            return r;
        *FIELD(p, row, unsigned) = (unsigned)u;
        return 0;
    }
    return -EINVAL;
}

int mig_params_from_json(json_object *obj, struct mig_params *p, struct ferry_error *err)
{
    int r = 0;

    memset(p, 0, sizeof *p);
    if (!obj)
        return 0;
    if (!json_object_is_type(obj, json_type_object))
        return ferry_error_set(err, EINVAL, "migration parameters must be an object");
    json_object_object_foreach (obj, key, v) {
        const struct param_row *row = param_row_of(key);

        if (row) {
            r = param_from_json(row, key, v, p, err);
        } else if (strcmp(key, "flags") == 0) {
            r = parse_flags(v, &p->flags, err);
        } else if (strcmp(key, "migrate_disks") == 0) {
            r = parse_migrate_disks(v, p, err);
        } else if (strcmp(key, "storage_engine") == 0) {
            const char *e =
                json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
            if (mig_storage_engine_from_name(e, &p->storage_engine) < 0)
                r = ferry_error_set(err, EINVAL, "storage_engine must be 'ferry' or 'qemu'");
        } else if (strcmp(key, "destination_xml") == 0) {
            r = get_string(v, key, &p->dest_xml, err);
        } else if (strcmp(key, "disk_reconnect_timeout") == 0) {
            uint64_t u = 0;
            r = get_u64(v, key, MIG_MAX_DISK_RECONNECT_S, &u, err);
            p->disk_reconnect_timeout_s = (unsigned)u;
            p->has_disk_reconnect_timeout = r == 0;
        } else if (strcmp(key, "disk_paths") == 0) {
            r = parse_disk_paths(v, p, err);
        } else if (mig_comp_param_key(key)) {
            r = mig_comp_param_from_json(key, v, p, err);
        } else {
            r = ferry_error_set(err, EINVAL, "unknown migration parameter '%.64s'", key);
        }
        if (r < 0)
            break;
    }
    if (r == 0 && p->dname && !ferry_name_valid(p->dname))
        r = ferry_error_set(err, EINVAL, "invalid destination name '%.64s'", p->dname);
    if (r < 0)
        mig_params_clear(p);
    return r;
}

json_object *mig_params_to_json(const struct mig_params *p)
{
    json_object *o = json_object_new_object();
    json_object *flags = json_object_new_array();

    for (size_t i = 0; i < ARRAY_SIZE(flag_names); i++)
        if (p->flags & flag_names[i].flag)
            json_object_array_add(flags, json_object_new_string(flag_names[i].name));
    json_object_object_add(o, "flags", flags);
    /* A parameter left at its zero value is "not set" and not sent. */
    for (size_t i = 0; i < ARRAY_SIZE(param_rows); i++) {
        const struct param_row *row = &param_rows[i];
        switch (row->kind) {
        case KIND_STR:
            if (*CFIELD(p, row, char *))
                json_object_object_add(o, row->json,
                                       json_object_new_string(*CFIELD(p, row, char *)));
            break;
        case KIND_BOOL:
            if (*CFIELD(p, row, bool))
                json_object_object_add(o, row->json, json_object_new_boolean(true));
            break;
        case KIND_U64:
            if (*CFIELD(p, row, uint64_t))
                json_object_object_add(o, row->json,
                                       json_object_new_int64((int64_t)*CFIELD(p, row, uint64_t)));
            break;
        case KIND_UINT:
            if (*CFIELD(p, row, unsigned))
                json_object_object_add(o, row->json,
                                       json_object_new_int64(*CFIELD(p, row, unsigned)));
            break;
        }
    }
    if (p->n_migrate_disks) {
        json_object *d = json_object_new_array();
        for (size_t i = 0; i < p->n_migrate_disks; i++)
            json_object_array_add(d, json_object_new_string(p->migrate_disks[i]));
        json_object_object_add(o, "migrate_disks", d);
    }
    json_object_object_add(o, "storage_engine",
                           json_object_new_string(mig_storage_engine_name(p->storage_engine)));
    if (p->dest_xml)
        json_object_object_add(o, "destination_xml", json_object_new_string(p->dest_xml));
    if (p->has_disk_reconnect_timeout)
        json_object_object_add(o, "disk_reconnect_timeout",
                               json_object_new_int((int)p->disk_reconnect_timeout_s));
    if (p->n_disk_paths) {
        json_object *d = json_object_new_object();
        for (size_t i = 0; i < p->n_disk_paths; i++)
            json_object_object_add(d, p->disk_paths[i].target,
                                   json_object_new_string(p->disk_paths[i].path));
        json_object_object_add(o, "disk_paths", d);
    }
    mig_comp_params_to_json(p, o);
    return o;
}

/* Post-copy combinations, by libvirt's rules where it has them: the
 * guest must be running on both sides of the switch (not --offline, not
 * --suspend, --live), the destination must be able to ask the source for
 * pages (not over ferry's one-way tunnel), and QEMU 7.2 refuses postcopy-ram
 * with multifd. --auto-converge and --copy-storage-* are allowed. */
static int postcopy_validate(const struct mig_params *p, struct ferry_error *err)
{
    unsigned f = p->flags;

    if (!(f & MIG_POSTCOPY)) {
        if (p->postcopy_after_precopy)
            return ferry_error_set(err, EINVAL, "--postcopy-after-precopy requires --postcopy");
        if (p->postcopy_bandwidth_mib)
            return ferry_error_set(err, EINVAL, "--postcopy-bandwidth requires --postcopy");
        if (p->timeout_postcopy)
            return ferry_error_set(err, EINVAL, "--timeout-postcopy requires --postcopy");
        return 0;
    }
    if (f & MIG_OFFLINE)
        return ferry_error_set(err, EINVAL,
                               "--postcopy makes no sense with --offline (no guest runs)");
    if (!(f & MIG_LIVE))
        return ferry_error_set(err, EINVAL, "--postcopy requires --live");
    if (f & MIG_PAUSED)
        return ferry_error_set(err, EINVAL,
                               "--postcopy and --suspend are mutually exclusive (post-copy "
                               "needs the guest running on the destination)");
    if (f & MIG_TUNNELLED)
        return ferry_error_set(err, ENOTSUP,
                               "--postcopy is not supported with --tunnelled (the destination "
                               "cannot request pages over the one-way tunnel)");
    if ((f & MIG_PARALLEL) || p->parallel_connections)
        return ferry_error_set(err, ENOTSUP,
                               "--postcopy cannot be used with --parallel (QEMU 7.2: "
                               "postcopy-ram is not compatible with multifd)");
    return 0;
}

int mig_params_validate_for(const struct mig_params *p, const struct hv_driver *drv,
                            struct ferry_error *err)
{
    int r = mig_params_validate(p, drv->supported_flags, err);

    if (r < 0)
        return r;
    if ((p->flags & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC)) &&
        !(drv->storage_engines & (1u << p->storage_engine)))
        return ferry_error_set(err, ENOTSUP, "storage engine '%s' is not offered by the %s driver",
                               mig_storage_engine_name(p->storage_engine), drv->name);
    return 0;
}

int mig_params_validate(const struct mig_params *p, unsigned supported, struct ferry_error *err)
{
    unsigned f = p->flags;
    unsigned unsupported = f & ~supported;
    int r;

    if (unsupported) {
        for (size_t i = 0; i < ARRAY_SIZE(flag_names); i++)
            if (unsupported & flag_names[i].flag)
                return ferry_error_set(err, ENOTSUP,
                                       "migration flag '%s' is not supported by this hypervisor",
                                       flag_names[i].name);
    }
    if ((f & MIG_TUNNELLED) && !(f & MIG_PEER2PEER))
        return ferry_error_set(err, EINVAL, "tunnelled migration requires peer2peer (--p2p)");
    if ((f & MIG_NON_SHARED_DISK) && (f & MIG_NON_SHARED_INC))
        return ferry_error_set(err, EINVAL,
                               "--copy-storage-all and --copy-storage-inc are mutually exclusive");
    if (f & MIG_OFFLINE) {
        if (f & MIG_LIVE)
            return ferry_error_set(err, EINVAL, "--offline and --live are mutually exclusive");
        if (!(f & MIG_PERSIST_DEST))
            return ferry_error_set(err, EINVAL,
                                   "offline migration requires --persistent (persist_dest)");
        if (f & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC))
            return ferry_error_set(err, EINVAL,
                                   "offline migration cannot copy storage "
                                   "(--offline with --copy-storage-*)");
        if (f & MIG_PAUSED)
            return ferry_error_set(err, EINVAL, "--offline and --suspend are mutually exclusive");
        if (f & MIG_TUNNELLED)
            return ferry_error_set(err, EINVAL, "--offline and --tunnelled are mutually exclusive");
        if (p->timeout_s)
            return ferry_error_set(err, EINVAL, "--timeout makes no sense with --offline");
        if (p->bandwidth_mib || p->max_downtime_ms || p->parallel_connections)
            return ferry_error_set(err, EINVAL,
                                   "--offline takes no bandwidth, downtime or parallel settings");
    }
    if (p->timeout_suspend && !p->timeout_s)
        return ferry_error_set(err, EINVAL, "--timeout-suspend requires --timeout");
    if (p->timeout_postcopy && !p->timeout_s)
        return ferry_error_set(err, EINVAL, "--timeout-postcopy requires --timeout");
    if (p->timeout_postcopy && p->timeout_suspend)
        return ferry_error_set(err, EINVAL,
                               "--timeout-suspend and --timeout-postcopy are mutually exclusive");
    if (p->timeout_s && !(f & MIG_LIVE))
        return ferry_error_set(err, EINVAL, "--timeout requires --live");
    if ((f & MIG_AUTO_CONVERGE) && !(f & MIG_LIVE))
        return ferry_error_set(err, EINVAL, "--auto-converge requires --live");
    if ((f & MIG_AUTO_CONVERGE_STORAGE) &&
        (!(f & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC)) || !(f & MIG_LIVE)))
        return ferry_error_set(err, EINVAL,
                               "--auto-converge-storage requires --live and --copy-storage-all "
                               "or --copy-storage-inc");
    if ((f & MIG_AUTO_CONVERGE_STORAGE) && p->storage_engine == MIG_STORAGE_QEMU)
        return ferry_error_set(err, EINVAL,
                               "--auto-converge-storage needs --storage-engine ferry (QEMU's "
                               "mirror has --synchronous-writes instead)");
    if (p->bandwidth_disk_mib && !(f & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC)))
        return ferry_error_set(err, EINVAL,
                               "--bandwidth-disk requires --copy-storage-all or "
                               "--copy-storage-inc");
    if ((f & MIG_TUNNELLED) && (f & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC)))
        return ferry_error_set(err, ENOTSUP,
                               "--tunnelled cannot carry disk copies yet (use "
                               "--copy-storage-* without --tunnelled)");
    /* libvirt refuses it too: a tunnelled stream already travels inside
     * the agents' connection, which ferry+tls:// encrypts. */
    if ((f & MIG_TLS) && (f & MIG_TUNNELLED))
        return ferry_error_set(err, EINVAL,
                               "--tls cannot be used with --tunnelled (the tunnel is the agents' "
                               "connection: use a ferry+tls:// destination to encrypt it)");
    if (p->tls_destination && !(f & MIG_TLS))
        return ferry_error_set(err, EINVAL, "--tls-destination requires --tls");
    if (p->tls_destination &&
        (!*p->tls_destination || strlen(p->tls_destination) > 253 ||
         strspn(p->tls_destination, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789.-:_") != strlen(p->tls_destination)))
        return ferry_error_set(err, EINVAL,
                               "--tls-destination '%.64s' is not a host name or address",
                               p->tls_destination);
    if ((f & MIG_TUNNELLED) && p->migrate_uri)
        return ferry_error_set(err, EINVAL, "--migrateuri makes no sense with --tunnelled");
    if (p->parallel_connections && (f & MIG_TUNNELLED))
        return ferry_error_set(err, EINVAL,
                               "--parallel-connections cannot be used with --tunnelled");
    if (p->n_migrate_disks && !(f & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC)))
        return ferry_error_set(err, EINVAL,
                               "--migrate-disks requires --copy-storage-all or "
                               "--copy-storage-inc (selecting disks to copy)");
    if ((p->disks_connect_uri || p->has_disk_reconnect_timeout) &&
        !(f & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC)))
        return ferry_error_set(err, EINVAL,
                               "--disks-connect-uri/--disk-reconnect-timeout require "
                               "--copy-storage-all or --copy-storage-inc");
    if (p->disks_connect_uri && strncmp(p->disks_connect_uri, "tcp://", 6) != 0)
        return ferry_error_set(err, EINVAL, "disks_connect_uri '%.64s': expected tcp://HOST:PORT",
                               p->disks_connect_uri);
    if ((p->disks_port || p->disks_uri) && !(f & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC)))
        return ferry_error_set(err, EINVAL,
                               "--disks-port/--disks-uri require --copy-storage-all "
                               "or --copy-storage-inc");
    if ((p->same_path || p->n_disk_paths || p->keep_images) &&
        !(f & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC)))
        return ferry_error_set(err, EINVAL,
                               "--same-path, --disk-path and --keep-images require "
                               "--copy-storage-all or --copy-storage-inc");
    for (size_t i = 0; i < p->n_disk_paths; i++) {
        const char *path = p->disk_paths[i].path;
        if (path[0] != '/' || strstr(path, "/../") || strstr(path, "/./") ||
            (strlen(path) >= 3 && strcmp(path + strlen(path) - 3, "/..") == 0))
            return ferry_error_set(err, EINVAL,
                                   "--disk-path %s=%.64s: the path must be absolute, without "
                                   "'.' or '..' components",
                                   p->disk_paths[i].target, path);
        for (size_t k = 0; k < i; k++)
            if (strcmp(p->disk_paths[k].path, path) == 0)
                return ferry_error_set(err, EINVAL,
                                       "--disk-path: disks '%s' and '%s' are both given '%.64s'",
                                       p->disk_paths[k].target, p->disk_paths[i].target, path);
    }
    if (p->disks_port && p->disks_uri)
        return ferry_error_set(err, EINVAL,
                               "both port and URI requested for disk migration "
                               "(--disks-port and --disks-uri are mutually exclusive)");
    if ((r = postcopy_validate(p, err)) < 0)
        return r;
    if ((r = mig_comp_validate(p, err)) < 0)
        return r;
    if ((f & MIG_UNDEFINE_SOURCE) && (f & MIG_OFFLINE) && !(f & MIG_PERSIST_DEST))
        return ferry_error_set(err, EINVAL, "--undefinesource with --offline needs --persistent");
    if (p->migrate_uri && strncmp(p->migrate_uri, "tcp:", 4) != 0 &&
        strncmp(p->migrate_uri, "tcp://", 6) != 0 && strncmp(p->migrate_uri, "unix:", 5) != 0)
        return ferry_error_set(err, EINVAL,
                               "unsupported migration URI '%s' (use tcp:HOST:PORT or unix:PATH)",
                               p->migrate_uri);
    return 0;
}

bool mig_params_copies_disk(const struct mig_params *p, const struct domain_disk *disk)
{
    if (!(p->flags & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC)))
        return false;
    if (p->n_migrate_disks) {
        for (size_t i = 0; i < p->n_migrate_disks; i++)
            if (strcmp(p->migrate_disks[i], disk->target) == 0)
                return true;
        return false;
    }
    /* libvirt's default: every disk that is not shared, not read-only and
     * not empty. */
    return disk->source && !disk->shareable && !disk->readonly;
}
