/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The tunnelled transport of a Xen migration's stream (xen-relay.c), for
 * Perform in driver-migrate.c. Internal to xen/. */
#ifndef FERRY_XEN_RELAY_H
#define FERRY_XEN_RELAY_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hv.h"

/* Tunnelled Perform: xl's transport command (ferry-xl-pipe unix:PATH)
 * connects to a unix socket here; the "up" thread turns what xl sends into
 * DATA frames (opening the stream with an empty one: xl waits for the
 * receiver's banner before it sends anything), the "down" thread writes
 * the destination's DATA frames (xl migrate-receive's answers) back. Every
 * wait is bounded by RELAY_POLL_MS and the STOP flag; Perform joins both
 * threads before it returns, so nothing reads the agents' connection once
 * the orchestrator calls Finish on it. */
struct xl_relay {
    struct mig_ctx *m;
    uint32_t stream;
    int listen_fd;
    int fd;
    char path[108];
    char token[FERRY_UUID_STRLEN];
    volatile bool stop;
    volatile bool failed; /* the destination refused the stream: stop sending */
    pthread_t up, down;
    bool up_started, down_started;
    pthread_mutex_t lock;
    struct ferry_error err; /* under LOCK: the first error, the root cause */
};

/* Listens on a unix socket for xl's transport command and starts the two
 * threads; RL->path is the socket to give xl. */
int xen_relay_start(struct mig_ctx *m, struct xl_relay *rl, struct ferry_error *err);
/* Stops and joins the threads, closes and unlinks everything. */
void xen_relay_stop(struct xl_relay *rl);

#endif
