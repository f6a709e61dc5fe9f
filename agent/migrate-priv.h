/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private to the migration core (migrate.c: the steps and peer-to-peer;
 * migrate-job.c: a client that goes away, job info and abort). Not part of
 * any public interface. */
#ifndef FERRY_AGENT_MIGRATE_PRIV_H
#define FERRY_AGENT_MIGRATE_PRIV_H

#include <stdbool.h>

#include "agent.h"
#include "error.h"
#include "hv.h"
#include "migparams.h"

#define CLIENT_GONE_MSG "the client that started the migration went away"

/* One migration step being served: its parameters, the driver's context,
 * and the domain it holds a reference to. */
struct mig_step {
    struct mig_params params;
    struct mig_ctx m;
    struct agent_domain *dom;
    bool claimed; /* this step set dom->job.stepping */
};

/* Releases what a step holds: the job's step claim, its parameters, its
 * domain reference. */
void mig_step_clear(struct agent *ag, struct mig_step *s);
/* A step for the job DOM already has, with the first step's flags, for
 * code that ends the job outside a client's step (migrate-job.c). */
void mig_step_from_job(struct agent *ag, struct agent_domain *dom, struct mig_step *s);
/* Finish (destination) and Confirm (source) with the job claimed: the
 * cleanup of a failed or cancelled migration goes through them. WHY, when
 * set, is the reason a cancelled job records. */
int mig_finish_locked(struct agent *ag, struct mig_step *s, bool cancelled, const char *why,
                      struct ferry_error *err);
int mig_confirm_locked(struct agent *ag, struct mig_step *s, bool cancelled, const char *why,
                       struct ferry_error *err);
/* The migration-abandoned event: the job's owner went away in PHASE, and
 * ACTION is what the agent did about it. */
void mig_publish_abandoned(struct agent *ag, struct agent_domain *dom, const char *phase,
                           const char *action);

#endif
