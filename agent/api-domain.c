/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control API's domain methods: define, undefine, start, destroy,
 * list, state, XML, monitor, suspend, resume, info, block devices
 * (docs/control-api.md, "Domains"). */
#include "api.h"
#include "api-priv.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "admission.h"
#include "location.h"
#include "roots.h"
#include "volumes.h"

#define MONITOR_CMD_MAX (64u * 1024)

int api_lookup_domain(struct api_ctx *ctx, json_object *params, struct agent_domain **ret,
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

int api_domain_define(struct api_ctx *ctx, json_object *params, json_object **ret,
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
    if ((r = agent_roots_check(ctx->ag, def, NULL, err)) < 0) {
        ferry_error_prefix(err, "define '%s'", def->name);
        domain_def_free(def);
        return r;
    }
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

int api_domain_undefine(struct api_ctx *ctx, json_object *params, json_object **ret,
                        struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    int r;

    (void)ret;
    if ((r = api_lookup_domain(ctx, params, &dom, err)) < 0)
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

int api_domain_start(struct api_ctx *ctx, json_object *params, json_object **ret,
                     struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    int r;

    (void)ret;
    if ((r = api_lookup_domain(ctx, params, &dom, err)) < 0)
        return r;
    pthread_mutex_lock(&dom->lock);
    /* Each empty branch is a check that already set R and ERR. */
    if (dom->job_busy)
        r = ferry_error_set(err, EBUSY, "domain '%s' has a migration job", dom->def->name);
    else if (!dom->active && (r = agent_admission_check_start(err)) < 0)
        ; /* maintenance: no new guests */ /* NOLINT(bugprone-branch-clone): a check set R */
    else if (dom->active)
        r = ferry_error_set(err, EEXIST, "domain '%s' is already running", dom->def->name);
    else if ((r = agent_location_check_start(dom, err)) < 0)
        ; /* its disks' newest data is elsewhere */
    else if ((r = agent_roots_check(ctx->ag, dom->persistent_def ? dom->persistent_def : dom->def,
                                    NULL, err)) < 0)
        ; /* defined before the roots were narrowed, or a symlink changed since */
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

int api_domain_destroy(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    bool remove_it = false;
    int r;

    (void)ret;
    if ((r = api_lookup_domain(ctx, params, &dom, err)) < 0)
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

/* libvirt's domain id: -1 for a domain that is off; ferry has no ids of
 * its own and shows the hypervisor process id (the driver's "pid" in
 * INFO, which the caller filled under the domain lock). */
static int64_t domain_id(const char *state, json_object *info)
{
    json_object *pid = NULL;

    return strcmp(state, "shutoff") != 0 && json_object_object_get_ex(info, "pid", &pid) &&
                   json_object_get_int64(pid) > 0
               ? json_object_get_int64(pid)
               : -1;
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
    if (ctx->ag->driver->domain_info) {
        _cleanup_(json_object_putp) json_object *info = json_object_new_object();

        ctx->ag->driver->domain_info(ctx->ag, dom, info);
        json_object_object_add(o, "id", json_object_new_int64(domain_id(st, info)));
    } else {
        json_object_object_add(o, "id", json_object_new_int64(-1));
    }
    pthread_mutex_unlock(&dom->lock);
    return o;
}

int api_domain_list(struct api_ctx *ctx, json_object *params, json_object **ret,
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

int api_domain_state(struct api_ctx *ctx, json_object *params, json_object **ret,
                     struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    char st[32], rs[64];
    int r;

    if ((r = api_lookup_domain(ctx, params, &dom, err)) < 0)
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

int api_domain_xml(struct api_ctx *ctx, json_object *params, json_object **ret,
                   struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    bool inactive = false;
    char *xml;
    int r;

    if ((r = api_param_bool(params, "inactive", &inactive, err)) < 0)
        return r;
    if ((r = api_lookup_domain(ctx, params, &dom, err)) < 0)
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

/* libvirt's capabilities document, from the driver's data (hv.h). */
int api_domain_monitor(struct api_ctx *ctx, json_object *params, json_object **ret,
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
    if ((r = api_lookup_domain(ctx, params, &dom, err)) < 0)
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
    if ((r = api_lookup_domain(ctx, params, &dom, err)) < 0)
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

int api_domain_suspend(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err)
{
    return suspend_resume(ctx, params, ret, false, err);
}

int api_domain_resume(struct api_ctx *ctx, json_object *params, json_object **ret,
                      struct ferry_error *err)
{
    return suspend_resume(ctx, params, ret, true, err);
}

int api_domain_info(struct api_ctx *ctx, json_object *params, json_object **ret,
                    struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    char st[32] = "", rs[64] = "";
    json_object *o;
    int r;

    if ((r = api_lookup_domain(ctx, params, &dom, err)) < 0)
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
    json_object_object_add(o, "id", json_object_new_int64(domain_id(st, o)));
    agent_domain_unref(ctx->ag, dom);
    *ret = o;
    return 0;
}

/* domblklist: every disk, and whether --copy-storage-all/-inc without
 * --migrate-disks would copy it (mig_params_copies_disk's default). */
int api_domain_blklist(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err)
{
    struct agent_domain *dom = NULL;
    const struct domain_def *def;
    bool inactive = false;
    json_object *arr;
    int r;

    if ((r = api_param_bool(params, "inactive", &inactive, err)) < 0)
        return r;
    if ((r = api_lookup_domain(ctx, params, &dom, err)) < 0)
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

        json_object_object_add(o, "type", json_object_new_string(d->block ? "block" : "file"));
        json_object_object_add(o, "device", json_object_new_string(d->cdrom ? "cdrom" : "disk"));
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
