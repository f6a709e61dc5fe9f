/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control API's dispatch, its parameter helpers, and the host's own
 * methods (docs/control-api.md). Domains' methods are in api-domain.c,
 * migration tuning in api-tune.c, the migration steps in migrate.c. Every
 * method validates its parameters before it changes anything. */
#include "api.h"
#include "api-priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "ferry-config.h"
#include "json-cleanup.h"
#include "migparams.h"
#include "admission.h"
#include "location.h"
#include "volumes.h"

int api_param_str(json_object *params, const char *key, bool required, const char **ret,
                  struct ferry_error *err)
{
    json_object *v = NULL;

    *ret = NULL;
    if (!params || !json_object_object_get_ex(params, key, &v) ||
        json_object_is_type(v, json_type_null)) {
        if (required)
            return ferry_error_set(err, EINVAL, "missing parameter '%s'", key);
        return 0;
    }
    if (!json_object_is_type(v, json_type_string))
        return ferry_error_set(err, EINVAL, "parameter '%s' must be a string", key);
    *ret = json_object_get_string(v);
    return 0;
}

int api_param_bool(json_object *params, const char *key, bool *ret, struct ferry_error *err)
{
    json_object *v = NULL;

    if (!params || !json_object_object_get_ex(params, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return ferry_error_set(err, EINVAL, "parameter '%s' must be a boolean", key);
    *ret = json_object_get_boolean(v);
    return 0;
}

int api_param_u64(json_object *params, const char *key, uint64_t *ret, struct ferry_error *err)
{
    json_object *v = NULL;
    int64_t i;

    if (!params || !json_object_object_get_ex(params, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_int))
        return ferry_error_set(err, EINVAL, "parameter '%s' must be an integer", key);
    i = json_object_get_int64(v);
    if (i < 0)
        return ferry_error_set(err, EINVAL, "parameter '%s' must not be negative", key);
    *ret = (uint64_t)i;
    return 0;
}

/* What HELLO offers follows from the driver's data (hv.h): a storage
 * feature only for an engine the driver has. */
void api_fill_hello(struct agent *ag, struct wire_hello *h)
{
    static const struct {
        const char *name;
        unsigned min_version; /* of cfg.max_version */
        int engine;           /* enum mig_storage_engine the feature needs, -1: none */
        bool any_engine;      /* needs some storage engine */
    } features[] = {
        {"v3", 3, -1, false},
        {"cookies", 3, -1, false},
        {"p2p", 1, -1, false},
        {"nbd", 1, -1, true},
        {"storage-ferry", 1, MIG_STORAGE_FERRY, false},
        {"storage-qemu", 1, MIG_STORAGE_QEMU, false},
        {"events", 1, -1, false},
        {"jobs", 1, -1, false},
        {"offline", 1, -1, false},
        {"keepalive", 1, -1, false}, /* answers PING (docs/protocol.md) */
    };
    const struct hv_driver *drv = ag->driver;

    memset(h, 0, sizeof *h);
    snprintf(h->role, sizeof h->role, "agent");
    snprintf(h->host, sizeof h->host, "%s", ag->hostname);
    snprintf(h->host_uuid, sizeof h->host_uuid, "%s", ag->host_uuid);
    snprintf(h->agent_version, sizeof h->agent_version, "%s", FERRY_VERSION);
    for (unsigned v = drv->min_version ? drv->min_version : 1; v <= ag->cfg.max_version && v <= 3;
         v++)
        h->versions |= 1u << v;
    for (size_t i = 0; i < ARRAY_SIZE(features); i++) {
        if (ag->cfg.max_version < features[i].min_version)
            continue;
        if (features[i].any_engine && !drv->storage_engines)
            continue;
        if (features[i].engine >= 0 && !(drv->storage_engines & (1u << features[i].engine)))
            continue;
        if (strcmp(features[i].name, "offline") == 0 && !(drv->supported_flags & MIG_OFFLINE))
            continue;
        snprintf(h->features[h->n_features++], sizeof h->features[0], "%s", features[i].name);
    }
    snprintf(h->features[h->n_features++], sizeof h->features[0], "hv-%s", drv->name);
}

static int m_capabilities(struct api_ctx *ctx, json_object *params, json_object **ret,
                          struct ferry_error *err)
{
    const struct hv_driver *drv = ctx->ag->driver;
    struct hv_guest_caps guest = {.domain_type = ""};
    _cleanup_free_ char *xml = NULL;
    char vers[32] = "", engines[64] = "", transports[512] = "";
    size_t vl = 0, el = 0, tl = 0;
    struct wire_hello h;

    (void)params;
    (void)err;
    api_fill_hello(ctx->ag, &h);
    for (unsigned v = 1; v <= 3; v++)
        if (h.versions & (1u << v))
            vl += (size_t)snprintf(vers + vl, sizeof vers - vl, "%s%u", vl ? " " : "", v);
    for (unsigned i = 0; i < 32; i++)
        if (drv->storage_engines & (1u << i))
            el += (size_t)snprintf(engines + el, sizeof engines - el, "%s%s", el ? " " : "",
                                   mig_storage_engine_name((enum mig_storage_engine)i));
    for (size_t i = 0; drv->uri_transports && drv->uri_transports[i]; i++)
        tl +=
            (size_t)snprintf(transports + tl, sizeof transports - tl,
                             "        <uri_transport>%s</uri_transport>\n", drv->uri_transports[i]);
    if (drv->guest_caps)
        drv->guest_caps(ctx->ag, &guest);
    xml = ferry_strdup_printf("<capabilities>\n"
                              "  <host>\n"
                              "    <uuid>%s</uuid>\n"
                              "    <hostname>%s</hostname>\n"
                              "    <cpu>\n"
                              "      <arch>x86_64</arch>\n"
                              "    </cpu>\n"
                              "    <ferry version='%s' hypervisor='%s' migration_protocols='%s'/>\n"
                              "    <migration_features>\n"
                              "%s%s%s%s%s%s%s%s%s%s"
                              "    </migration_features>\n"
                              "  </host>\n"
                              "  <guest>\n"
                              "    <os_type>hvm</os_type>\n"
                              "    <arch name='x86_64'>\n"
                              "      <emulator>%s</emulator>\n"
                              "      <domain type='%s'/>\n"
                              "    </arch>\n"
                              "  </guest>\n"
                              "</capabilities>\n",
                              ctx->ag->host_uuid, ctx->ag->hostname, FERRY_VERSION, drv->name, vers,
                              drv->supported_flags & MIG_LIVE ? "      <live/>\n" : "",
                              drv->migrate_bandwidth ? "      <resource/>\n" : "",
                              drv->migrate_rename ? "      <domain_rename/>\n" : "",
                              drv->supported_flags & MIG_OFFLINE ? "      <offline/>\n" : "",
                              el ? "      <storage_copy engines='" : "", engines, el ? "'/>\n" : "",
                              tl ? "      <uri_transports>\n" : "", transports,
                              tl ? "      </uri_transports>\n" : "", guest.emulator,
                              guest.domain_type);
    *ret = json_object_new_object();
    json_object_object_add(*ret, "xml", json_object_new_string(xml));
    return 0;
}

static int m_subscribe(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err)
{
    uint64_t since = 0, oldest, last;
    int64_t epoch;
    int r;

    if (ctx->event_token > 0 || ctx->subscribe_after_reply)
        return ferry_error_set(err, EALREADY, "already subscribed");
    if ((r = api_param_u64(params, "since", &since, err)) < 0)
        return r;
    /* The server subscribes the connection after the reply is sent, so the
     * first EVENT frame always follows the REPLY; the kept events the
     * client asked for come first, then the live ones, without a gap. */
    ctx->subscribe_after_reply = true;
    ctx->replay = params && json_object_object_get_ex(params, "since", NULL);
    ctx->replay_since = since;
    agent_events_position(ctx->ag, &oldest, &last, &epoch);
    *ret = json_object_new_object();
    json_object_object_add(*ret, "epoch", json_object_new_int64(epoch));
    json_object_object_add(*ret, "oldest_seq", json_object_new_int64((int64_t)oldest));
    json_object_object_add(*ret, "last_seq", json_object_new_int64((int64_t)last));
    return 0;
}

/* The admission state (admission.h) as host.info and host.maintenance
 * report it. */
static void add_admission(struct agent *ag, json_object *o)
{
    struct agent_admission_info a;

    agent_admission_get_counts(ag, &a);
    json_object_object_add(o, "maintenance", json_object_new_boolean(a.maintenance));
    json_object_object_add(o, "max_outgoing", json_object_new_int64(a.max_outgoing));
    json_object_object_add(o, "max_incoming", json_object_new_int64(a.max_incoming));
    json_object_object_add(o, "outgoing", json_object_new_int64(a.outgoing));
    json_object_object_add(o, "incoming", json_object_new_int64(a.incoming));
}

static int m_hostinfo(struct api_ctx *ctx, json_object *params, json_object **ret,
                      struct ferry_error *err)
{
    struct wire_hello h;

    (void)params;
    (void)err;
    api_fill_hello(ctx->ag, &h);
    *ret = wire_hello_to_json(&h);
    json_object_object_add(*ret, "image_dir", json_object_new_string(ctx->ag->cfg.image_dir));
    add_admission(ctx->ag, *ret);
    return 0;
}

/* host.maintenance: {"enable": bool} switches the mode; without it, only
 * reports. Both answer with the admission state. */
static int m_maintenance(struct api_ctx *ctx, json_object *params, json_object **ret,
                         struct ferry_error *err)
{
    bool on = false;
    int r;

    if (params && json_object_object_get_ex(params, "enable", NULL)) {
        if ((r = api_param_bool(params, "enable", &on, err)) < 0 ||
            (r = agent_admission_set_maintenance(ctx->ag, on, err)) < 0)
            return r;
        agent_emit_event(ctx->ag, on ? "maintenance-on" : "maintenance-off", NULL, NULL);
    }
    *ret = json_object_new_object();
    add_admission(ctx->ag, *ret);
    return 0;
}

static int m_vol_list(struct api_ctx *ctx, json_object *params, json_object **ret,
                      struct ferry_error *err)
{
    (void)params;
    (void)err;
    *ret = json_object_new_object();
    json_object_object_add(*ret, "image_dir", json_object_new_string(ctx->ag->cfg.image_dir));
    json_object_object_add(*ret, "volumes", agent_volumes_list_json(ctx->ag));
    return 0;
}

static int m_vol_delete(struct api_ctx *ctx, json_object *params, json_object **ret,
                        struct ferry_error *err)
{
    const char *path;
    int r;

    (void)ret;
    if ((r = api_param_str(params, "path", true, &path, err)) < 0)
        return r;
    return agent_volume_delete(ctx->ag, path, err);
}

typedef int (*api_fn)(struct api_ctx *, json_object *, json_object **, struct ferry_error *);

static const struct {
    const char *name;
    api_fn fn;
} methods[] = {
    {"domain.define", api_domain_define},
    {"domain.undefine", api_domain_undefine},
    {"domain.start", api_domain_start},
    {"domain.destroy", api_domain_destroy},
    {"domain.list", api_domain_list},
    {"domain.state", api_domain_state},
    {"domain.xml", api_domain_xml},
    {"domain.monitor", api_domain_monitor},
    {"domain.suspend", api_domain_suspend},
    {"domain.resume", api_domain_resume},
    {"domain.info", api_domain_info},
    {"domain.blklist", api_domain_blklist},
    {"domain.shutdown", api_domain_shutdown},
    {"domain.reboot", api_domain_reboot},
    {"domain.reset", api_domain_reset},
    {"domain.devices", api_domain_devices},
    {"domain.iflist", api_domain_iflist},
    {"domain.ifaddr", api_domain_ifaddr},
    {"domain.blkinfo", api_domain_blkinfo},
    {"vol.list", m_vol_list},
    {"vol.delete", m_vol_delete},
    {"host.capabilities", m_capabilities},
    {"host.info", m_hostinfo},
    {"host.maintenance", m_maintenance},
    {"events.subscribe", m_subscribe},
    {"migrate.begin", api_migrate_begin},
    {"migrate.prepare", api_migrate_prepare},
    {"migrate.perform", api_migrate_perform},
    {"migrate.finish", api_migrate_finish},
    {"migrate.confirm", api_migrate_confirm},
    {"migrate.p2p", api_migrate_p2p},
    {"job.info", api_job_info},
    {"job.abort", api_job_abort},
    {"migrate.start_postcopy", api_migrate_start_postcopy},
    {"migrate.set_max_speed", api_tune_set_speed},
    {"migrate.get_max_speed", api_tune_get_speed},
    {"migrate.set_disk_speed", api_tune_set_disk_speed},
    {"migrate.get_disk_speed", api_tune_get_disk_speed},
    {"migrate.set_max_downtime", api_tune_set_downtime},
    {"migrate.get_max_downtime", api_tune_get_downtime},
    {"migrate.set_compression_cache", api_tune_set_comp_cache},
    {"migrate.get_compression_cache", api_tune_get_comp_cache},
};

int api_dispatch(struct api_ctx *ctx, const char *method, json_object *params,
                 json_object **ret_result, struct ferry_error *err)
{
    *ret_result = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
        if (strcmp(methods[i].name, method) == 0)
            return methods[i].fn(ctx, params, ret_result, err);
    return ferry_error_set(err, ENOSYS, "unknown method '%.64s'", method);
}
