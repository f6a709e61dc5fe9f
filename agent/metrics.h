/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prometheus metrics of the agent (docs/metrics.md): what runs now, read
 * from the registry and the jobs' statistics at each scrape, and what
 * finished, counted here as jobs end. Served over HTTP by libmicrohttpd
 * when ferryd is given --metrics-listen. */
#ifndef FERRY_AGENT_METRICS_H
#define FERRY_AGENT_METRICS_H

#include <stddef.h>

#include "agent.h"

/* A migration job ended: counts it by direction and result and adds its
 * duration (and, for a completed outgoing one, its downtime) to the
 * histograms. Called by agent_job_finish with JOB's lock held and its
 * final status set; ERR_CODE is the positive errno of its error (0: none).
 * Takes only the metrics' own lock (lock order: job, then metrics). */
void agent_metrics_job_ended(const struct agent_job *job, int err_code);

/* The whole exposition text (format 0.0.4). Takes the registry lock, then
 * each domain's lock and job lock in turn, never two domains at once. Asks
 * the driver for each domain's state, as domain.list does. Caller frees
 * *RET with free(). */
int agent_metrics_render(struct agent *ag, char **ret, size_t *ret_len);

/* Serves the metrics on LISTEN ("ADDR:PORT", port 0: any free port) at
 * /metrics (and /). *RET_PORT gets the bound port. At most
 * METRICS_MAX_CONNECTIONS scrapers at once, each with its own thread.
 * Errors name the address. */
#define METRICS_MAX_CONNECTIONS 8
int agent_metrics_start(struct agent *ag, const char *listen, int *ret_port,
                        struct ferry_error *err);
/* Stops the server (no-op without one). */
void agent_metrics_stop(void);

#endif
