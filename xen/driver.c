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
#include "driver-migrate.h"
#include "util.h"
#include "xen-driver.h"

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

static int xen_init(struct agent *ag, struct ferry_error *err)
{
    struct xen_xl_result res;
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
    xen_xl_result_clear(&res);
    if (r < 0)
        ferry_error_prefix(err, "xen driver: the toolstack '%s' does not answer", xd->xl);
    return r;
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
