/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Xen driver's migration steps (driver-migrate.c), for the vtable in
 * driver.c. Internal to xen/. */
#ifndef FERRY_XEN_DRIVER_MIGRATE_H
#define FERRY_XEN_DRIVER_MIGRATE_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "xen-dom.h"

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

int xen_migrate_begin(struct mig_ctx *m, struct ferry_error *err);
int xen_migrate_prepare(struct mig_ctx *m, struct ferry_error *err);
int xen_migrate_perform(struct mig_ctx *m, struct ferry_error *err);
int xen_migrate_finish(struct mig_ctx *m, struct ferry_error *err);
int xen_migrate_confirm(struct mig_ctx *m, struct ferry_error *err);
void xen_migrate_cancel(struct mig_ctx *m);

/* Stops the receiving thread (if any) and frees IN; accepts NULL. */
void xen_incoming_free(struct xen_incoming *in);

#endif
