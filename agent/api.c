/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Control API methods for domains and the host (docs/control-api.md).
 * Migration methods live in migrate.c. Every method validates its
 * parameters before it changes anything. */
#include "api.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "ferry-config.h"
#include "json-cleanup.h"
#include "location.h"
#include "volumes.h"

#define MONITOR_CMD_MAX (64u * 1024)

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

void api_fill_hello(struct agent *ag, struct wire_hello *h)
{
    static const char *const features[] = {"v3",     "cookies",       "p2p",
                                           "nbd",    "storage-ferry", "storage-qemu",
                                           "events", "jobs",          "offline"};

    memset(h, 0, sizeof *h);
    snprintf(h->role, sizeof h->role, "agent");
    snprintf(h->host, sizeof h->host, "%s", ag->hostname);
    snprintf(h->host_uuid, sizeof h->host_uuid, "%s", ag->host_uuid);
    snprintf(h->agent_version, sizeof h->agent_version, "%s", FERRY_VERSION);
    for (unsigned v = 1; v <= ag->cfg.max_version && v <= 3; v++)
        h->versions |= 1u << v;
    /* Version 1 carries no domain XML: only drivers that move the
     * configuration inside their own stream (Xen) can serve it. */
    if (strcmp(ag->driver->name, "qemu") == 0)
        h->versions &= ~(1u << 1);
    for (size_t i = 0; i < ARRAY_SIZE(features); i++) {
        if (strcmp(features[i], "v3") == 0 && ag->cfg.max_version < 3)
            continue;
        if (strcmp(features[i], "cookies") == 0 && ag->cfg.max_version < 3)
            continue;
        snprintf(h->features[h->n_features++], sizeof h->features[0], "%s", features[i]);
    }
    snprintf(h->features[h->n_features++], sizeof h->features[0], "hv-%s", ag->driver->name);
}

static int lookup(struct api_ctx *ctx, json_object *params, struct agent_domain **ret,
                  struct ferry_error *err)
{
    const char *name;
    int r = api_param_str(params, "name", true, &name, err);

    if (r < 0)
        return r;
    *ret = agent_domain_lookup(ctx->ag, name);
    if (!*ret)
        return ferry_error_set(err, ENOENT, "domain '%s' not found", name);
    return 0;
}

static int get_state(struct agent *ag, struct agent_domain *dom, char *st, size_t stl, char *rs,
                     size_t rsl, struct ferry_error *err)
{
    int r;

    pthread_mutex_lock(&dom->lock);
    r = ag->driver->domain_state(ag, dom, st, stl, rs, rsl, err);
    pthread_mutex_unlock(&dom->lock);
    return r;
}

static int m_define(struct api_ctx *ctx, json_object *params, json_object **ret,
                    struct ferry_error *err)
{
    const char *xml;
    struct domain_def *def = NULL;
    struct agent_domain *dom = NULL;
    json_object *res, *ign;
    int r;

    if ((r = api_param_str(params, "xml", true, &xml, err)) < 0)
        return r;
    if ((r = domain_def_parse(xml, strlen(xml), &def, err)) < 0)
        return r;
    if (ctx->ag->driver->domain_define &&
        (r = ctx->ag->driver->domain_define(ctx->ag, def, err)) < 0) {
        domain_def_free(def);
        return r;
    }
    dom = agent_domain_lookup(ctx->ag, def->name);
    if (dom) {
        /* Redefining an existing domain updates its persistent config; the
         * running guest keeps its live definition until restarted. */
        pthread_mutex_lock(&dom->lock);
        if (strcasecmp(dom->def->uuid, def->uuid) != 0 && !strstr(xml, "<uuid")) {
            snprintf(def->uuid, sizeof def->uuid, "%s", dom->def->uuid);
        } else if (strcasecmp(dom->def->uuid, def->uuid) != 0) {
            pthread_mutex_unlock(&dom->lock);
            r = ferry_error_set(err, EEXIST, "domain '%s' already exists with uuid %s", def->name,
                                dom->def->uuid);
            domain_def_free(def);
            agent_domain_unref(ctx->ag, dom);
            return r;
        }
        domain_def_free(dom->persistent_def);
        dom->persistent_def = def;
        if (!dom->active) {
            domain_def_free(dom->def);
            dom->def = domain_def_copy(def);
        }
        pthread_mutex_unlock(&dom->lock);
    } else {
        r = agent_domain_add(ctx->ag, def, &dom, err);
        if (r < 0)
            return r;
        dom->persistent_def = domain_def_copy(dom->def);
    }
    r = agent_domain_save_def(ctx->ag, dom, err);
    if (r < 0) {
        agent_domain_unref(ctx->ag, dom);
        return r;
    }
    res = json_object_new_object();
    json_object_object_add(res, "name", json_object_new_string(dom->def->name));
    json_object_object_add(res, "uuid", json_object_new_string(dom->def->uuid));
    ign = json_object_new_array();
    for (size_t i = 0; i < dom->persistent_def->n_ignored; i++)
        json_object_array_add(ign, json_object_new_string(dom->persistent_def->ignored[i]));
    json_object_object_add(res, "ignored", ign);
    agent_emit_event(ctx->ag, "defined", dom->def->name, NULL);
    agent_domain_unref(ctx->ag, dom);
    *ret = res;
    return 0;
}

static int m_undefine(struct api_ctx *ctx, json_object *params, json_object **ret,
                      struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    int r;

    (void)ret;
    if ((r = lookup(ctx, params, &dom, err)) < 0)
        return r;
    pthread_mutex_lock(&dom->lock);
    if (dom->job_busy) {
        pthread_mutex_unlock(&dom->lock);
        r = ferry_error_set(err, EBUSY, "domain '%s' has a migration job", dom->def->name);
        agent_domain_unref(ctx->ag, dom);
        return r;
    }
    if (!dom->persistent_def) {
        pthread_mutex_unlock(&dom->lock);
        r = ferry_error_set(err, EINVAL, "domain '%s' is not persistent", dom->def->name);
        agent_domain_unref(ctx->ag, dom);
        return r;
    }
    r = agent_domain_delete_def(ctx->ag, dom->def->name, err);
    if (r == 0) {
        domain_def_free(dom->persistent_def);
        dom->persistent_def = NULL;
        memset(&dom->location, 0, sizeof dom->location); /* went with the definition */
    }
    pthread_mutex_unlock(&dom->lock);
    /* A running guest stays, transient, until it stops (as libvirt). */
    if (r == 0 && !dom->active)
        agent_domain_remove(ctx->ag, dom);
    if (r == 0)
        agent_emit_event(ctx->ag, "undefined", dom->def->name, NULL);
    agent_domain_unref(ctx->ag, dom);
    return r;
}

static int m_start(struct api_ctx *ctx, json_object *params, json_object **ret,
                   struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    int r;

    (void)ret;
    if ((r = lookup(ctx, params, &dom, err)) < 0)
        return r;
    pthread_mutex_lock(&dom->lock);
    if (dom->job_busy)
        r = ferry_error_set(err, EBUSY, "domain '%s' has a migration job", dom->def->name);
    else if (dom->active)
        r = ferry_error_set(err, EEXIST, "domain '%s' is already running", dom->def->name);
    else if ((r = agent_location_check_start(dom, err)) < 0)
        ; /* its disks' newest data is elsewhere */
    else {
        if (dom->persistent_def) {
            domain_def_free(dom->def);
            dom->def = domain_def_copy(dom->persistent_def);
        }
        r = ctx->ag->driver->domain_start(ctx->ag, dom, err);
    }
    pthread_mutex_unlock(&dom->lock);
    if (r < 0)
        ferry_error_prefix(err, "start '%s'", dom->def->name);
    agent_domain_unref(ctx->ag, dom);
    return r;
}

static int m_destroy(struct api_ctx *ctx, json_object *params, json_object **ret,
                     struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    bool remove_it = false;
    int r;

    (void)ret;
    if ((r = lookup(ctx, params, &dom, err)) < 0)
        return r;
    pthread_mutex_lock(&dom->lock);
    if (dom->job_busy)
        r = ferry_error_set(err, EBUSY, "domain '%s' has a migration job (use domjobabort first)",
                            dom->def->name);
    else if (!dom->active)
        r = ferry_error_set(err, EINVAL, "domain '%s' is not running", dom->def->name);
    else
        r = ctx->ag->driver->domain_destroy(ctx->ag, dom, err);
    remove_it = r == 0 && !dom->persistent_def;
    pthread_mutex_unlock(&dom->lock);
    if (remove_it)
        agent_domain_remove(ctx->ag, dom);
    agent_domain_unref(ctx->ag, dom);
    return r;
}

static json_object *domain_summary(struct api_ctx *ctx, struct agent_domain *dom)
{
    json_object *o = json_object_new_object();
    char st[32] = "", rs[64] = "";
    struct ferry_error err = {0};

    if (get_state(ctx->ag, dom, st, sizeof st, rs, sizeof rs, &err) < 0)
        snprintf(st, sizeof st, "unknown");
    json_object_object_add(o, "name", json_object_new_string(dom->def->name));
    json_object_object_add(o, "uuid", json_object_new_string(dom->def->uuid));
    json_object_object_add(o, "state", json_object_new_string(st));
    json_object_object_add(o, "reason", json_object_new_string(rs));
    json_object_object_add(o, "persistent", json_object_new_boolean(dom->persistent_def != NULL));
    pthread_mutex_lock(&dom->lock);
    json_object_object_add(o, "location", agent_location_json(dom));
    pthread_mutex_unlock(&dom->lock);
    return o;
}

static int m_list(struct api_ctx *ctx, json_object *params, json_object **ret,
                  struct ferry_error *err)
{
    struct agent_domain **doms = NULL;
    bool all = false;
    size_t n;
    json_object *arr;
    int r;

    if ((r = api_param_bool(params, "all", &all, err)) < 0)
        return r;
    n = agent_domain_list(ctx->ag, &doms);
    arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        json_object *o = domain_summary(ctx, doms[i]);
        json_object *st = json_object_object_get(o, "state");
        if (all || strcmp(json_object_get_string(st), "shutoff") != 0)
            json_object_array_add(arr, o);
        else
            json_object_put(o);
        agent_domain_unref(ctx->ag, doms[i]);
    }
    free(doms);
    *ret = json_object_new_object();
    json_object_object_add(*ret, "domains", arr);
    return 0;
}

static int m_state(struct api_ctx *ctx, json_object *params, json_object **ret,
                   struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    char st[32], rs[64];
    int r;

    if ((r = lookup(ctx, params, &dom, err)) < 0)
        return r;
    r = get_state(ctx->ag, dom, st, sizeof st, rs, sizeof rs, err);
    if (r == 0) {
        *ret = json_object_new_object();
        json_object_object_add(*ret, "state", json_object_new_string(st));
        json_object_object_add(*ret, "reason", json_object_new_string(rs));
    }
    agent_domain_unref(ctx->ag, dom);
    return r;
}

static int m_xml(struct api_ctx *ctx, json_object *params, json_object **ret,
                 struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    bool inactive = false;
    char *xml;
    int r;

    if ((r = api_param_bool(params, "inactive", &inactive, err)) < 0)
        return r;
    if ((r = lookup(ctx, params, &dom, err)) < 0)
        return r;
    pthread_mutex_lock(&dom->lock);
    xml = domain_def_format(inactive && dom->persistent_def ? dom->persistent_def : dom->def);
    pthread_mutex_unlock(&dom->lock);
    agent_domain_unref(ctx->ag, dom);
    if (!xml)
        return ferry_error_set(err, ENOMEM, "cannot format domain XML");
    *ret = json_object_new_object();
    json_object_object_add(*ret, "xml", json_object_new_string(xml));
    free(xml);
    return 0;
}

static int m_capabilities(struct api_ctx *ctx, json_object *params, json_object **ret,
                          struct ferry_error *err)
{
    _cleanup_free_ char *drv = ctx->ag->driver->capabilities_xml(ctx->ag);
    _cleanup_free_ char *xml = NULL;
    char vers[32] = "";
    size_t vl = 0;

    (void)params;
    (void)err;
    for (unsigned v = 1; v <= 3; v++) {
        struct wire_hello h;
        api_fill_hello(ctx->ag, &h);
        if (h.versions & (1u << v))
            vl += (size_t)snprintf(vers + vl, sizeof vers - vl, "%s%u", vl ? " " : "", v);
    }
    xml = ferry_strdup_printf("<capabilities>\n"
                              "  <host>\n"
                              "    <uuid>%s</uuid>\n"
                              "    <hostname>%s</hostname>\n"
                              "    <cpu>\n"
                              "      <arch>x86_64</arch>\n"
                              "    </cpu>\n"
                              "    <ferry version='%s' hypervisor='%s' "
                              "migration_protocols='%s'/>\n"
                              "%s"
                              "</capabilities>\n",
                              ctx->ag->host_uuid, ctx->ag->hostname, FERRY_VERSION,
                              ctx->ag->driver->name, vers, drv ? drv : "  </host>\n");
    *ret = json_object_new_object();
    json_object_object_add(*ret, "xml", json_object_new_string(xml));
    return 0;
}

static int m_monitor(struct api_ctx *ctx, json_object *params, json_object **ret,
                     struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    const char *cmd;
    bool hmp = false;
    _cleanup_free_ char *out = NULL;
    int r;

    if ((r = api_param_str(params, "command", true, &cmd, err)) < 0 ||
        (r = api_param_bool(params, "hmp", &hmp, err)) < 0)
        return r;
    if (strlen(cmd) > MONITOR_CMD_MAX)
        return ferry_error_set(err, EINVAL, "monitor command longer than %u bytes",
                               MONITOR_CMD_MAX);
    if (!ctx->ag->driver->domain_monitor)
        return ferry_error_set(err, ENOTSUP, "driver '%s' has no monitor", ctx->ag->driver->name);
    if ((r = lookup(ctx, params, &dom, err)) < 0)
        return r;
    /* Not under the domain lock: a monitor command may run long and must
     * not block domjobinfo of a running migration. */
    r = ctx->ag->driver->domain_monitor(ctx->ag, dom, cmd, hmp, &out, err);
    agent_domain_unref(ctx->ag, dom);
    if (r < 0 && !out)
        return r;
    *ret = json_object_new_object();
    json_object_object_add(*ret, "output", json_object_new_string(out ? out : ""));
    if (r < 0)
        json_object_object_add(*ret, "failed", json_object_new_boolean(true));
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

static int m_hostinfo(struct api_ctx *ctx, json_object *params, json_object **ret,
                      struct ferry_error *err)
{
    struct wire_hello h;

    (void)params;
    (void)err;
    api_fill_hello(ctx->ag, &h);
    *ret = wire_hello_to_json(&h);
    json_object_object_add(*ret, "image_dir", json_object_new_string(ctx->ag->cfg.image_dir));
    return 0;
}

/* ---- Lifecycle verbs: suspend, resume, info, block devices ---- */

/* Suspend or resume (RESUME): refused, changing nothing, for a domain that
 * is not running, for an incoming migration, and (resume) while a
 * migration job holds it: a migration may have paused it, and only the
 * migration (or job.abort) may let it run again, as in libvirt. */
static int suspend_resume(struct api_ctx *ctx, json_object *params, json_object **ret, bool resume,
                          struct ferry_error *err)
{
    const struct hv_driver *drv = ctx->ag->driver;
    struct agent_domain *dom = NULL;
    bool changed = false;
    int r;

    if (!(resume ? drv->domain_resume : drv->domain_suspend))
        return ferry_error_set(err, ENOTSUP, "driver '%s' cannot %s a domain", drv->name,
                               resume ? "resume" : "suspend");
    if ((r = lookup(ctx, params, &dom, err)) < 0)
        return r;
    pthread_mutex_lock(&dom->lock);
    if (!dom->active)
        r = ferry_error_set(err, EINVAL, "domain '%s' is not running", dom->def->name);
    else if (dom->incoming)
        r = ferry_error_set(err, EBUSY, "domain '%s' is an incoming migration", dom->def->name);
    else if (resume && dom->job_busy)
        r = ferry_error_set(err, EBUSY,
                            "domain '%s' has a migration job: it runs again when the migration "
                            "ends (or use domjobabort)",
                            dom->def->name);
    else if (resume)
        r = drv->domain_resume(ctx->ag, dom, &changed, err);
    else
        r = drv->domain_suspend(ctx->ag, dom, &changed, err);
    pthread_mutex_unlock(&dom->lock);
    if (r < 0)
        ferry_error_prefix(err, "%s '%s'", resume ? "resume" : "suspend", dom->def->name);
    else {
        *ret = json_object_new_object();
        json_object_object_add(*ret, "changed", json_object_new_boolean(changed));
    }
    agent_domain_unref(ctx->ag, dom);
    return r;
}

static int m_suspend(struct api_ctx *ctx, json_object *params, json_object **ret,
                     struct ferry_error *err)
{
    return suspend_resume(ctx, params, ret, false, err);
}

static int m_resume(struct api_ctx *ctx, json_object *params, json_object **ret,
                    struct ferry_error *err)
{
    return suspend_resume(ctx, params, ret, true, err);
}

static int m_info(struct api_ctx *ctx, json_object *params, json_object **ret,
                  struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    char st[32] = "", rs[64] = "";
    json_object *o;
    int r;

    if ((r = lookup(ctx, params, &dom, err)) < 0)
        return r;
    if ((r = get_state(ctx->ag, dom, st, sizeof st, rs, sizeof rs, err)) < 0) {
        agent_domain_unref(ctx->ag, dom);
        return r;
    }
    o = json_object_new_object();
    pthread_mutex_lock(&dom->lock);
    json_object_object_add(o, "name", json_object_new_string(dom->def->name));
    json_object_object_add(o, "uuid", json_object_new_string(dom->def->uuid));
    json_object_object_add(o, "os_type", json_object_new_string("hvm"));
    json_object_object_add(o, "state", json_object_new_string(st));
    json_object_object_add(o, "reason", json_object_new_string(rs));
    json_object_object_add(o, "vcpus", json_object_new_int((int)dom->def->vcpus));
    /* No balloon: the guest has all its memory while it runs. */
    json_object_object_add(o, "max_memory", json_object_new_int64((int64_t)dom->def->memory_kib));
    json_object_object_add(o, "used_memory", json_object_new_int64((int64_t)dom->def->memory_kib));
    json_object_object_add(o, "persistent", json_object_new_boolean(dom->persistent_def != NULL));
    json_object_object_add(o, "autostart", json_object_new_boolean(false));
    json_object_object_add(o, "location", agent_location_json(dom));
    if (ctx->ag->driver->domain_info)
        ctx->ag->driver->domain_info(ctx->ag, dom, o);
    pthread_mutex_unlock(&dom->lock);
    {
        /* libvirt's id: -1 for a domain that is off; ferry has no ids of
         * its own and shows the hypervisor process id. */
        json_object *pid = NULL;
        int64_t id = strcmp(st, "shutoff") != 0 && json_object_object_get_ex(o, "pid", &pid) &&
                             json_object_get_int64(pid) > 0
                         ? json_object_get_int64(pid)
                         : -1;
        json_object_object_add(o, "id", json_object_new_int64(id));
    }
    agent_domain_unref(ctx->ag, dom);
    *ret = o;
    return 0;
}

/* domblklist: every disk, and whether --copy-storage-all/-inc without
 * --migrate-disks would copy it (mig_params_copies_disk's default). */
static int m_blklist(struct api_ctx *ctx, json_object *params, json_object **ret,
                     struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    const struct domain_def *def;
    bool inactive = false;
    json_object *arr;
    int r;

    if ((r = api_param_bool(params, "inactive", &inactive, err)) < 0)
        return r;
    if ((r = lookup(ctx, params, &dom, err)) < 0)
        return r;
    arr = json_object_new_array();
    pthread_mutex_lock(&dom->lock);
    def = inactive && dom->persistent_def ? dom->persistent_def : dom->def;
    for (size_t i = 0; i < def->n_disks; i++) {
        const struct domain_disk *d = &def->disks[i];
        json_object *o = json_object_new_object();
        const char *why = !d->source     ? "empty"
                          : d->shareable ? "shareable"
                          : d->readonly  ? "read-only"
                                         : NULL;

        json_object_object_add(o, "type", json_object_new_string("file"));
        json_object_object_add(o, "device", json_object_new_string("disk"));
        json_object_object_add(o, "target", json_object_new_string(d->target));
        json_object_object_add(o, "source", d->source ? json_object_new_string(d->source) : NULL);
        json_object_object_add(o, "bus", json_object_new_string(d->bus[0] ? d->bus : "virtio"));
        json_object_object_add(o, "format",
                               json_object_new_string(domain_disk_format_name(d->format)));
        json_object_object_add(o, "readonly", json_object_new_boolean(d->readonly));
        json_object_object_add(o, "shareable", json_object_new_boolean(d->shareable));
        json_object_object_add(o, "copy", json_object_new_boolean(why == NULL));
        if (why)
            json_object_object_add(o, "no_copy_reason", json_object_new_string(why));
        json_object_array_add(arr, o);
    }
    pthread_mutex_unlock(&dom->lock);
    agent_domain_unref(ctx->ag, dom);
    *ret = json_object_new_object();
    json_object_object_add(*ret, "disks", arr);
    return 0;
}

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
};

/* The active domain named in PARAMS, for a tuning call. */
static int lookup_running(struct api_ctx *ctx, json_object *params, struct agent_domain **ret,
                          struct ferry_error *err)
{
    bool active;
    int r = lookup(ctx, params, ret, err);

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

static int m_set_speed(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err)
{
    return tune(ctx, params, ret, 0, true, err);
}

static int m_get_speed(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err)
{
    return tune(ctx, params, ret, 0, false, err);
}

static int m_set_downtime(struct api_ctx *ctx, json_object *params, json_object **ret,
                          struct ferry_error *err)
{
    return tune(ctx, params, ret, 1, true, err);
}

static int m_get_downtime(struct api_ctx *ctx, json_object *params, json_object **ret,
                          struct ferry_error *err)
{
    return tune(ctx, params, ret, 1, false, err);
}

static int m_set_comp_cache(struct api_ctx *ctx, json_object *params, json_object **ret,
                            struct ferry_error *err)
{
    return tune(ctx, params, ret, 2, true, err);
}

static int m_get_comp_cache(struct api_ctx *ctx, json_object *params, json_object **ret,
                            struct ferry_error *err)
{
    return tune(ctx, params, ret, 2, false, err);
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
    {"domain.define", m_define},
    {"domain.undefine", m_undefine},
    {"domain.start", m_start},
    {"domain.destroy", m_destroy},
    {"domain.list", m_list},
    {"domain.state", m_state},
    {"domain.xml", m_xml},
    {"domain.monitor", m_monitor},
    {"domain.suspend", m_suspend},
    {"domain.resume", m_resume},
    {"domain.info", m_info},
    {"domain.blklist", m_blklist},
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
    {"migrate.set_max_speed", m_set_speed},
    {"migrate.get_max_speed", m_get_speed},
    {"migrate.set_max_downtime", m_set_downtime},
    {"migrate.get_max_downtime", m_get_downtime},
    {"migrate.set_compression_cache", m_set_comp_cache},
    {"migrate.get_compression_cache", m_get_comp_cache},
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
