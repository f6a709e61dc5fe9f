/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Xen driver's bottom layer (xen-dom.h): xl runs with the driver's
 * timeout, `xl list` lookups, and the run-state files RUN/NAME.xl.cfg (what
 * xl create reads) and RUN/NAME.xml (what an agent restart re-attaches).
 * Shared by the lifecycle (driver.c) and the migration steps
 * (driver-migrate.c); it calls neither. */
#include "xen-dom.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "domain.h"
#include "util.h"
#include "xlconv.h"

int xen_xl(struct agent *ag, const char *const *argv, struct xen_xl_result *res,
           struct ferry_error *err)
{
    struct xen_xl_result local = {0};
    struct xen_xl_result *r = res ? res : &local;
    int ret = xen_xl_run(xen_drv_of(ag)->xl, argv, XEN_XL_TIMEOUT_MS, NULL, r, err);

    if (ret < 0)
        return ret;
    if (r->status != 0)
        ret = xen_xl_fail(argv[0], r, err);
    if (!res)
        xen_xl_result_clear(&local);
    return ret;
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
    struct xen_xl_result res;
    int r = xen_xl_run(xen_drv_of(ag)->xl, (const char *const[]){"list", "-v", name, NULL},
                       XEN_XL_TIMEOUT_MS, NULL, &res, err);

    if (r < 0)
        return r;
    if (res.status != 0) {
        /* xl's answer for an unknown domain. */
        bool unknown = strstr(res.errtxt, "is an invalid domain identifier") != NULL;
        r = unknown ? 0 : xen_xl_fail("list", &res, err);
        xen_xl_result_clear(&res);
        return r;
    }
    char *line = strchr(res.out, '\n');
    char nm[256], st[16], tm[32], uuid[64];
    unsigned long id, mem, vcpus;
    if (!line || sscanf(line + 1, "%255s %lu %lu %lu %15s %31s %63s", nm, &id, &mem, &vcpus, st, tm,
                        uuid) != 7) {
        r = ferry_error_set(err, EPROTO, "xl list -v %s: unexpected output", name);
        xen_xl_result_clear(&res);
        return r;
    }
    xen_xl_result_clear(&res);
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
    _cleanup_(xlconv_config_freep) struct xlconv_config *cfg = NULL;

    if (def->native_xml) {
        /* A <domain type='xen'> document: all of it (PV/PVH, vifs, VNC,
         * kept xl keys), with the identity the agent knows. */
        if (xlconv_config_from_xml(def->native_xml, strlen(def->native_xml), &cfg, err) < 0)
            return NULL;
        free(cfg->name);
        cfg->name = ferry_strdup(def->name);
        snprintf(cfg->uuid, sizeof cfg->uuid, "%s", def->uuid);
        return xlconv_config_format_xlcfg(cfg);
    }
    cfg = xlconv_config_new();
    cfg->name = ferry_strdup(def->name);
    snprintf(cfg->uuid, sizeof cfg->uuid, "%s", def->uuid);
    cfg->type = XLCONV_GUEST_HVM;
    cfg->memory_mib = (def->memory_kib + 1023) / 1024;
    cfg->vcpus = def->vcpus;
    cfg->kernel = ferry_strdup(def->kernel);
    cfg->cmdline = ferry_strdup(def->cmdline);
    if (def->n_disks > XLCONV_MAX_DISKS)
        return ferry_error_set(err, E2BIG, "too many disks for xl"), NULL;
    for (size_t i = 0; i < def->n_disks; i++) {
        const struct domain_disk *d = &def->disks[i];
        struct xlconv_disk *x = &cfg->disks[cfg->n_disks];
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
    return xlconv_config_format_xlcfg(cfg);
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
