/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Xen driver of ferryd (--hypervisor xen): struct hv_driver on top of
 * the xl toolstack. A guest is defined by ferry's domain XML, written as an
 * xl.cfg file under the run directory and started with `xl create`; state
 * comes from `xl list`. xl keeps its own record of running domains, so the
 * driver keeps almost nothing in memory. Migration is in driver-migrate.c. */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "driver-priv.h"
#include "util.h"
#include "xen-driver.h"
#include "xendrv.h"

/* Where ferry-xl-pipe is: $FERRY_XL_PIPE, next to the running binary, in
 * the build tree's xen/ (for tests), else on PATH. */
static void find_pipe_helper(struct xen_drv *xd)
{
    const char *env = getenv("FERRY_XL_PIPE");
    char exe[PATH_MAX];
    ssize_t n;

    if (env && *env) {
        snprintf(xd->pipe, sizeof xd->pipe, "%s", env);
        return;
    }
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        const char *dir = dirname(exe);
        const char *cands[] = {"%s/ferry-xl-pipe", "%s/../xen/ferry-xl-pipe"};
        for (size_t i = 0; i < ARRAY_SIZE(cands); i++) {
            _cleanup_free_ char *p = ferry_strdup_printf(cands[i], dir);
            if (access(p, X_OK) == 0) {
                snprintf(xd->pipe, sizeof xd->pipe, "%s", p);
                return;
            }
        }
    }
    snprintf(xd->pipe, sizeof xd->pipe, "ferry-xl-pipe");
}

int xen_xl(struct agent *ag, const char *const *argv, struct xendrv_xl_result *res,
           struct ferry_error *err)
{
    struct xendrv_xl_result local = {0};
    struct xendrv_xl_result *r = res ? res : &local;
    int ret = xendrv_xl_run(xen_drv_of(ag)->xl, argv, XEN_XL_TIMEOUT_MS, NULL, r, err);

    if (ret < 0)
        return ret;
    if (r->status != 0)
        ret = xendrv_xl_fail(argv[0], r, err);
    if (!res)
        xendrv_xl_result_clear(&local);
    return ret;
}

static int xen_init(struct agent *ag, struct ferry_error *err)
{
    struct xendrv_xl_result res;
    int r;

    struct xen_drv *xd = ag->driver_priv;

    if (!xd) {
        xd = ferry_calloc(1, sizeof *xd);
        ag->driver_priv = xd;
    }
    snprintf(xd->xl, sizeof xd->xl, "%s",
             ag->cfg.xl_binary && *ag->cfg.xl_binary ? ag->cfg.xl_binary : "xl");
    find_pipe_helper(xd);
    r = xen_xl(ag, (const char *const[]){"info", NULL}, &res, err);
    xendrv_xl_result_clear(&res);
    if (r < 0)
        ferry_error_prefix(err, "xen driver: the toolstack '%s' does not answer", xd->xl);
    return r;
}

struct xen_dom *xen_priv(struct agent *ag, struct agent_domain *dom)
{
    struct xen_dom *p = dom->priv;

    if (!p) {
        p = ferry_calloc(1, sizeof *p);
        dom->priv = p;
    }
    snprintf(p->cfg_path, sizeof p->cfg_path, "%s/%s.xl.cfg", ag->run_dir, dom->def->name);
    return p;
}

/* One line of `xl list -v NAME`: Name ID Mem VCPUs State Time UUID ... */
int xen_domain_info(struct agent *ag, const char *name, struct xen_info *info,
                    struct ferry_error *err)
{
    struct xendrv_xl_result res;
    int r = xendrv_xl_run(xen_drv_of(ag)->xl, (const char *const[]){"list", "-v", name, NULL},
                          XEN_XL_TIMEOUT_MS, NULL, &res, err);

    if (r < 0)
        return r;
    if (res.status != 0) {
        /* xl's answer for an unknown domain. */
        bool unknown = strstr(res.errtxt, "is an invalid domain identifier") != NULL;
        r = unknown ? 0 : xendrv_xl_fail("list", &res, err);
        xendrv_xl_result_clear(&res);
        return r;
    }
    char *line = strchr(res.out, '\n');
    char nm[256], st[16], tm[32], uuid[64];
    unsigned long id, mem, vcpus;
    if (!line || sscanf(line + 1, "%255s %lu %lu %lu %15s %31s %63s", nm, &id, &mem, &vcpus, st, tm,
                        uuid) != 7) {
        r = ferry_error_set(err, EPROTO, "xl list -v %s: unexpected output", name);
        xendrv_xl_result_clear(&res);
        return r;
    }
    xendrv_xl_result_clear(&res);
    if (info) {
        memset(info, 0, sizeof *info);
        info->paused = strlen(st) >= 3 && st[2] == 'p';
        info->memory_mib = mem;
        info->vcpus = (unsigned)vcpus;
        if (ferry_uuid_valid(uuid))
            snprintf(info->uuid, sizeof info->uuid, "%s", uuid);
    }
    return 1;
}

int xen_domain_lookup(struct agent *ag, const char *name, bool *paused, struct ferry_error *err)
{
    struct xen_info info;
    int r = xen_domain_info(ag, name, &info, err);

    if (r == 1 && paused)
        *paused = info.paused;
    return r;
}

/* ferry's domain definition as an xl.cfg file: from the kept document of a
 * <domain type='xen'> (domain_def.native_xml) when there is one, else from
 * the QEMU subset of agent/domain.h: an HVM guest (optionally booting a
 * kernel directly) with file or block disks; "vdX" targets become "xvdX",
 * the names Xen's block frontends use. */
static char *cfg_from_def(const struct domain_def *def, struct ferry_error *err)
{
    _cleanup_(xendrv_config_freep) struct xendrv_config *cfg = NULL;

    if (def->native_xml) {
        /* A <domain type='xen'> document: all of it (PV/PVH, vifs, VNC,
         * kept xl keys), with the identity the agent knows. */
        if (xendrv_config_from_xml(def->native_xml, strlen(def->native_xml), &cfg, err) < 0)
            return NULL;
        free(cfg->name);
        cfg->name = ferry_strdup(def->name);
        snprintf(cfg->uuid, sizeof cfg->uuid, "%s", def->uuid);
        return xendrv_config_format_xlcfg(cfg);
    }
    cfg = ferry_calloc(1, sizeof *cfg);

    cfg->vncdisplay = -1;
    cfg->vncunused = -1;
    cfg->name = ferry_strdup(def->name);
    snprintf(cfg->uuid, sizeof cfg->uuid, "%s", def->uuid);
    cfg->type = XENDRV_GUEST_HVM;
    cfg->memory_mib = (def->memory_kib + 1023) / 1024;
    cfg->vcpus = def->vcpus;
    cfg->kernel = ferry_strdup(def->kernel);
    cfg->cmdline = ferry_strdup(def->cmdline);
    if (def->n_disks > XENDRV_MAX_DISKS)
        return ferry_error_set(err, E2BIG, "too many disks for xl"), NULL;
    for (size_t i = 0; i < def->n_disks; i++) {
        const struct domain_disk *d = &def->disks[i];
        struct xendrv_disk *x = &cfg->disks[cfg->n_disks];
        if (!d->source) {
            ferry_error_set(err, EINVAL, "disk '%s': xl needs a source", d->target);
            return NULL;
        }
        if (strncmp(d->target, "vd", 2) == 0)
            snprintf(x->vdev, sizeof x->vdev, "x%s", d->target);
        else
            snprintf(x->vdev, sizeof x->vdev, "%s", d->target);
        snprintf(x->format, sizeof x->format, "%s",
                 d->format == DOMAIN_DISK_QCOW2 ? "qcow2" : "raw");
        x->readonly = d->readonly;
        x->target = ferry_strdup(d->source);
        cfg->n_disks++;
    }
    return xendrv_config_format_xlcfg(cfg);
}

int xen_write_cfg(struct agent *ag, struct agent_domain *dom, struct ferry_error *err)
{
    struct xen_dom *p = xen_priv(ag, dom);
    _cleanup_free_ char *text = cfg_from_def(dom->def, err);
    _cleanup_free_ char *xml = NULL, *xml_path = NULL;
    int r;

    if (!text)
        return -EINVAL;
    if ((r = ferry_write_file_atomic(p->cfg_path, text, strlen(text), 0600, err)) < 0)
        return r;
    /* RUN/NAME.xml: the live definition agent_restore_running re-attaches
     * after an agent restart. */
    xml = domain_def_format(dom->def);
    if (!xml)
        return ferry_error_set(err, ENOMEM, "cannot format domain '%s'", dom->def->name);
    xml_path = ferry_strdup_printf("%s/%s.xml", ag->run_dir, dom->def->name);
    return ferry_write_file_atomic(xml_path, xml, strlen(xml), 0600, err);
}

void xen_forget_run_state(struct agent *ag, struct agent_domain *dom)
{
    struct xen_dom *p = xen_priv(ag, dom);
    _cleanup_free_ char *xml_path = ferry_strdup_printf("%s/%s.xml", ag->run_dir, dom->def->name);

    unlink(p->cfg_path);
    unlink(xml_path);
}

static int xen_domain_start(struct agent *ag, struct agent_domain *dom, struct ferry_error *err)
{
    struct xen_dom *p = xen_priv(ag, dom);
    int r;

    if ((r = xen_write_cfg(ag, dom, err)) < 0)
        return r;
    r = xen_xl(ag, (const char *const[]){"create", p->cfg_path, NULL}, NULL, err);
    if (r < 0)
        return r;
    dom->active = true;
    return 0;
}

static int xen_domain_attach(struct agent *ag, struct agent_domain *dom, struct ferry_error *err)
{
    int r = xen_domain_lookup(ag, dom->def->name, NULL, err);

    if (r < 0)
        return r;
    xen_priv(ag, dom);
    dom->active = r == 1;
    if (r == 0)
        xen_forget_run_state(ag, dom);
    return r;
}

static int xen_domain_destroy(struct agent *ag, struct agent_domain *dom, struct ferry_error *err)
{
    int r = xen_domain_lookup(ag, dom->def->name, NULL, err);

    if (r < 0)
        return r;
    if (r == 1 &&
        (r = xen_xl(ag, (const char *const[]){"destroy", dom->def->name, NULL}, NULL, err)) < 0)
        return r;
    dom->active = false;
    xen_forget_run_state(ag, dom);
    return 0;
}

static int xen_domain_state(struct agent *ag, struct agent_domain *dom, char *state_buf,
                            size_t state_len, char *reason_buf, size_t reason_len,
                            struct ferry_error *err)
{
    bool paused = false;
    int r = xen_domain_lookup(ag, dom->def->name, &paused, err);

    (void)ag;
    if (r < 0)
        return r;
    snprintf(state_buf, state_len, "%s", r == 0 ? "shutoff" : paused ? "paused" : "running");
    snprintf(reason_buf, reason_len, "%s", dom->job_busy ? "migrating" : "unknown");
    return 0;
}

static void xen_domain_release(struct agent *ag, struct agent_domain *dom)
{
    struct xen_dom *p = dom->priv;

    (void)ag;
    if (!p)
        return;
    xen_incoming_free(p->in);
    free(p);
    dom->priv = NULL;
}

static void xen_guest_caps(struct agent *ag, struct hv_guest_caps *ret)
{
    snprintf(ret->emulator, sizeof ret->emulator, "%s", xen_drv_of(ag)->xl);
    snprintf(ret->domain_type, sizeof ret->domain_type, "xen");
}

static const char *const xen_uri_transports[] = {"xl+tcp", NULL};

const struct hv_driver xen_hv_driver = {
    .name = "xen",
    .init = xen_init,
    .domain_start = xen_domain_start,
    .domain_attach = xen_domain_attach,
    .domain_destroy = xen_domain_destroy,
    .domain_state = xen_domain_state,
    .domain_monitor = NULL,
    .domain_release = xen_domain_release,
    /* Xen's own migration: always live, no storage copy, no bandwidth
     * limit, no renaming (xl migrate keeps the name); offline moves only
     * the definition; xl's stream carries the configuration, so protocol
     * v1 works. */
    .storage_engines = 0,
    .min_version = 1,
    .uri_transports = xen_uri_transports,
    .guest_caps = xen_guest_caps,
    .supported_flags = MIG_LIVE | MIG_PEER2PEER | MIG_PERSIST_DEST | MIG_UNDEFINE_SOURCE |
                       MIG_PAUSED | MIG_OFFLINE | MIG_TUNNELLED,
    .migrate_begin = xen_migrate_begin,
    .migrate_prepare = xen_migrate_prepare,
    .migrate_perform = xen_migrate_perform,
    .migrate_finish = xen_migrate_finish,
    .migrate_confirm = xen_migrate_confirm,
    .migrate_cancel = xen_migrate_cancel,
    /* Peer-to-peer: xl's stream rides inside the agents' connection. */
    .p2p_implied_flags = MIG_TUNNELLED,
};
