/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* State shared by the Xen driver's files (driver.c: lifecycle and
 * capabilities; driver-migrate.c: the migration steps). */
#ifndef FERRY_XEN_DRIVER_PRIV_H
#define FERRY_XEN_DRIVER_PRIV_H

#include <pthread.h>
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

/* The receiving end of one incoming migration (destination). */
struct xen_incoming {
    char xl[1024]; /* copied from the agent's xen_drv */
    int listen_fd;
    char token[FERRY_UUID_STRLEN];
    char sock_path[108]; /* tunnelled: the unix socket the agent core connects to */
    char log_path[1024];
    bool paused; /* MIG_PAUSED: leave it paused at Finish */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;          /* the thread ended; status below is final */
    int status;         /* xl migrate-receive exit status, -1 if never run */
    volatile pid_t pid; /* xl migrate-receive while it runs */
    volatile bool stop; /* Finish(cancelled) asks the thread to give up */
};

/* Per-domain private state (agent_domain.priv). */
struct xen_dom {
    char cfg_path[1024];     /* RUN/NAME.xl.cfg: what xl create was given */
    bool mig_was_running;    /* source: state at Begin */
    volatile pid_t send_pid; /* source: xl migrate while Perform runs */
    struct xen_incoming *in; /* destination: between Prepare and Finish */
};

struct xen_dom *xen_priv(struct agent *ag, struct agent_domain *dom);

/* Runs "xl ARGV..." with the default timeout; on a non-zero exit sets ERR
 * from xl's stderr. *RES (optional) keeps the output; caller clears it. */
int xen_xl(struct agent *ag, const char *const *argv, struct xendrv_xl_result *res,
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

int xen_migrate_begin(struct mig_ctx *m, struct ferry_error *err);
int xen_migrate_prepare(struct mig_ctx *m, struct ferry_error *err);
int xen_migrate_perform(struct mig_ctx *m, struct ferry_error *err);
int xen_migrate_finish(struct mig_ctx *m, struct ferry_error *err);
int xen_migrate_confirm(struct mig_ctx *m, struct ferry_error *err);
void xen_migrate_cancel(struct mig_ctx *m);
void xen_incoming_free(struct xen_incoming *in);

#endif
