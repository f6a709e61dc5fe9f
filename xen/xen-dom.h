/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bottom layer of the Xen driver: per-agent and per-domain state, `xl`
 * runs with the driver's timeout, `xl list` lookups and the run-state files.
 * Both driver.c (vtable, lifecycle) and driver-migrate.c (the v3 steps)
 * build on it; it calls neither, so the arrows only point down. */
#ifndef FERRY_XEN_XEN_DOM_H
#define FERRY_XEN_XEN_DOM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent.h"
#include "error.h"
#include "hv.h"
#include "xl-exec.h"

#define XEN_XL_TIMEOUT_MS      30000   /* create, destroy, list, pause... */
#define XEN_PERFORM_TIMEOUT_MS 3600000 /* one xl migrate */

/* Per-agent settings, fixed at init (agent.driver_priv). */
struct xen_drv {
    char xl[1024];   /* the xl binary (ferryd --xl, else "xl" on PATH) */
    char pipe[1024]; /* ferry-xl-pipe, the transport command for xl migrate */
};

static inline struct xen_drv *xen_drv_of(struct agent *ag)
{
    return ag->driver_priv;
}

struct xen_incoming; /* driver-migrate.h */

/* Per-domain private state (agent_domain.priv). */
struct xen_dom {
    char cfg_path[1024];     /* RUN/NAME.xl.cfg: what xl create was given */
    bool mig_was_running;    /* source: state at Begin */
    volatile pid_t send_pid; /* source: xl migrate while Perform runs */
    struct xen_incoming *in; /* destination: between Prepare and Finish */
};

/* DOM's private state, created on first use (RUN/NAME.xl.cfg path set
 * each time). Borrowed: freed by the driver's domain_release. */
struct xen_dom *xen_priv(struct agent *ag, struct agent_domain *dom);

/* Runs "xl ARGV..." with the default timeout; on a non-zero exit sets ERR
 * from xl's stderr. *RES (optional) keeps the output; caller clears it. */
int xen_xl(struct agent *ag, const char *const *argv, struct xen_xl_result *res,
           struct ferry_error *err);

/* What `xl list -v` says of one domain. */
struct xen_info {
    bool paused;
    uint64_t memory_mib;
    unsigned vcpus;
    char uuid[FERRY_UUID_STRLEN]; /* "" if xl printed none */
};

/* 1 when xl knows domain NAME (and *INFO, optional, is filled), 0 when it
 * does not, negative on error. */
int xen_domain_info(struct agent *ag, const char *name, struct xen_info *info,
                    struct ferry_error *err);

/* Same; when found, *PAUSED (optional) tells whether it is paused. */
int xen_domain_lookup(struct agent *ag, const char *name, bool *paused, struct ferry_error *err);

/* Writes DEF as RUN/NAME.xl.cfg (the file xl create reads) and as
 * RUN/NAME.xml (the run state an agent restart re-attaches). */
int xen_write_cfg(struct agent *ag, struct agent_domain *dom, struct ferry_error *err);

/* Removes both files of xen_write_cfg: the guest is gone from this host. */
void xen_forget_run_state(struct agent *ag, struct agent_domain *dom);

#endif
