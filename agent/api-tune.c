/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control API's migration tuning: libvirt's MigrateSetMaxSpeed,
 * SetMaxDowntime, SetCompressionCache and their getters, on a running
 * guest, before or during its migration. */
#include "api.h"
#include "api-priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "location.h"
#include "volumes.h"

/* ---- Migration tuning: libvirt's MigrateSetMaxSpeed & co ---- */

static const struct {
    const char *param; /* the method's parameter */
    int which;         /* enum hv_mig_param */
    uint64_t min, max;
    const char *unit;
} tunables[] = {
    {"bandwidth", HV_MIG_MAX_BANDWIDTH, 0, HV_MIG_BANDWIDTH_MAX, "MiB/s"},
    {"downtime", HV_MIG_MAX_DOWNTIME, 1, HV_MIG_DOWNTIME_MAX, "ms"},
    {"cache_size", HV_MIG_XBZRLE_CACHE, 4096, 1ull << 40, "bytes"},
    {"bandwidth_disk", HV_MIG_DISK_BANDWIDTH, 0, HV_MIG_BANDWIDTH_MAX, "MiB/s"},
};

/* The active domain named in PARAMS, for a tuning call. */
static int lookup_running(struct api_ctx *ctx, json_object *params, struct agent_domain **ret,
                          struct ferry_error *err)
{
    bool active;
    int r = api_lookup_domain(ctx, params, ret, err);

    if (r < 0)
        return r;
    pthread_mutex_lock(&(*ret)->lock);
    active = (*ret)->active;
    pthread_mutex_unlock(&(*ret)->lock);
    if (active)
        return 0;
    r = ferry_error_set(err, EINVAL, "domain '%s' is not running", (*ret)->def->name);
    agent_domain_unref(ctx->ag, *ret);
    *ret = NULL;
    return r;
}

static int tune(struct api_ctx *ctx, json_object *params, json_object **ret, size_t t, bool set,
                struct ferry_error *err)
{
    const struct hv_driver *drv = ctx->ag->driver;
    struct agent_domain *dom = NULL;
    json_object *v = NULL;
    uint64_t value = 0;
    int r;

    if (set ? !drv->migrate_set_param : !drv->migrate_get_param)
        return ferry_error_set(err, ENOTSUP, "driver '%s' cannot tune migrations", drv->name);
    if (set) {
        if (!params || !json_object_object_get_ex(params, tunables[t].param, &v))
            return ferry_error_set(err, EINVAL, "missing parameter '%s'", tunables[t].param);
        if ((r = api_param_u64(params, tunables[t].param, &value, err)) < 0)
            return r;
        if (value < tunables[t].min || value > tunables[t].max)
            return ferry_error_set(
                err, EINVAL, "parameter '%s' must be between %" PRIu64 " and %" PRIu64 " (%s)",
                tunables[t].param, tunables[t].min, tunables[t].max, tunables[t].unit);
    }
    if ((r = lookup_running(ctx, params, &dom, err)) < 0)
        return r;
    /* Not under the domain lock: the running migration's Perform may use
     * the hypervisor meanwhile (as domain.monitor). */
    if (set)
        r = drv->migrate_set_param(ctx->ag, dom, tunables[t].which, value, err);
    if (r == 0)
        r = drv->migrate_get_param(ctx->ag, dom, tunables[t].which, &value, err);
    if (r < 0)
        ferry_error_prefix(err, "domain '%s'", dom->def->name);
    else {
        *ret = json_object_new_object();
        json_object_object_add(*ret, tunables[t].param, json_object_new_int64((int64_t)value));
    }
    agent_domain_unref(ctx->ag, dom);
    return r;
}

int api_tune_set_speed(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err)
{
    return tune(ctx, params, ret, 0, true, err);
}

int api_tune_get_speed(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err)
{
    return tune(ctx, params, ret, 0, false, err);
}

int api_tune_set_downtime(struct api_ctx *ctx, json_object *params, json_object **ret,
                          struct ferry_error *err)
{
    return tune(ctx, params, ret, 1, true, err);
}

int api_tune_get_downtime(struct api_ctx *ctx, json_object *params, json_object **ret,
                          struct ferry_error *err)
{
    return tune(ctx, params, ret, 1, false, err);
}

int api_tune_set_comp_cache(struct api_ctx *ctx, json_object *params, json_object **ret,
                            struct ferry_error *err)
{
    return tune(ctx, params, ret, 2, true, err);
}

int api_tune_get_comp_cache(struct api_ctx *ctx, json_object *params, json_object **ret,
                            struct ferry_error *err)
{
    return tune(ctx, params, ret, 2, false, err);
}

int api_tune_set_disk_speed(struct api_ctx *ctx, json_object *params, json_object **ret,
                            struct ferry_error *err)
{
    return tune(ctx, params, ret, 3, true, err);
}

int api_tune_get_disk_speed(struct api_ctx *ctx, json_object *params, json_object **ret,
                            struct ferry_error *err)
{
    return tune(ctx, params, ret, 3, false, err);
}
