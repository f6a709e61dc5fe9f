/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What this agent takes on: caps on concurrent outgoing and incoming
 * migrations (ferryd --max-outgoing, --max-incoming) and the maintenance
 * mode, which refuses incoming migrations and new guests
 * (docs/control-api.md, "Limits and maintenance"). A migration counts
 * against its cap from the step that starts its job (Begin, Prepare, or a
 * v2 Perform) until the job ends. */
#ifndef FERRY_AGENT_ADMISSION_H
#define FERRY_AGENT_ADMISSION_H

#include <stdbool.h>

#include "agent.h"

struct agent_admission_info {
    bool maintenance;
    unsigned max_outgoing, max_incoming; /* 0: no cap */
    unsigned outgoing, incoming;         /* jobs running now */
};

/* Before anything is served: the caps (0: none) and the maintenance mode
 * kept in STATE/maintenance by a previous agent process (a host stays in
 * maintenance across an agent restart or upgrade). */
int agent_admission_init(struct agent *ag, unsigned max_outgoing, unsigned max_incoming,
                         struct ferry_error *err);

/* Admits a new job of OPERATION ("migration-out", "migration-in"): fails
 * with -EBUSY naming the cap (or, for incoming, -EAGAIN naming the
 * maintenance mode). On success the admission lock is held, so that no
 * other job can be admitted between this check and the caller's
 * agent_job_start(); the caller calls agent_admission_leave() right after
 * it, on every path. Takes the registry lock and each job lock in turn:
 * call it holding none of them. */
int agent_admission_enter(struct agent *ag, const char *operation, struct ferry_error *err);
void agent_admission_leave(void);
/* The same check, without keeping the lock: an early, cheap refusal before
 * a step makes anything. */
int agent_admission_check(struct agent *ag, const char *operation, struct ferry_error *err);

/* domain.start of a guest that is off: refused in maintenance (-EAGAIN,
 * naming it; the caller adds the domain's name). */
int agent_admission_check_start(struct ferry_error *err);

/* Turns maintenance on or off, kept in STATE/maintenance. */
int agent_admission_set_maintenance(struct agent *ag, bool on, struct ferry_error *err);

/* A snapshot; the counts walk the registry (AG may be NULL: no counts). */
void agent_admission_get_counts(struct agent *ag, struct agent_admission_info *ret);
void agent_admission_get(struct agent_admission_info *ret);

#endif
