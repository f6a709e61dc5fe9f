/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A migration interrupted by an agent restart (crash, SIGKILL): the job
 * record each phase change writes under STATE/jobs, and what a restarted
 * agent does with the records it finds (libvirt's qemuProcessRecoverJob).
 * The rules are in docs/control-api.md, "An agent that restarts". */
#ifndef FERRY_AGENT_RECOVER_H
#define FERRY_AGENT_RECOVER_H

#include <stdbool.h>

#include "agent.h"
#include "migrate-priv.h"

/* The largest job record a restarted agent reads back. */
#define AGENT_JOB_RECORD_MAX (64 * 1024)

/* Writes DOM's job record (STATE/jobs/NAME.json: temp file, fsync,
 * rename, fsync of the directory). Called by the migration core at each
 * phase change, with the job claimed. A record that cannot be written is
 * logged and only costs the recovery after a crash. DOM is borrowed. */
void agent_job_record_save(struct agent *ag, struct agent_domain *dom);
/* Post-copy: marks DOM's job as switched (job.postcopy) and saves the
 * record unless it was marked already. The driver calls it before it asks
 * the hypervisor for the switch, and when it sees an incoming migration in
 * post-copy: a crash in between errs on the side of the guest. Not with
 * DOM's job lock held. */
void agent_job_record_postcopy(struct agent *ag, struct agent_domain *dom);
/* Removes DOM's job record: the job ended. */
void agent_job_record_remove(struct agent *ag, struct agent_domain *dom);
/* At the start of a source job: notes whether the guest runs now (the
 * hypervisor's own state), which decides whether a cancelled job resumes
 * it, then saves the record. */
void agent_job_record_begin(struct agent *ag, struct agent_domain *dom);
/* Destination, before the driver's Prepare: notes the disk targets it
 * will create (PLANNED, N of them, as agent_volumes_plan chose: none
 * exists yet), so a crash inside Prepare still removes them. After it,
 * agent_job_record_prepared() keeps those that Prepare made. */
void agent_job_record_preparing(struct agent *ag, struct agent_domain *dom, char *const planned[],
                                size_t n);
void agent_job_record_prepared(struct agent *ag, struct agent_domain *dom);

/* What a restarted agent does with a live guest's recorded job. */
enum recover_action {
    RECOVER_NONE = 0,        /* no rule (an operation no record holds) */
    RECOVER_SOURCE_CANCEL,   /* cancel, then Confirm cancelled: the guest runs if it ran */
    RECOVER_SOURCE_KEEP,     /* the point of no return: paused, job open, orphaned */
    RECOVER_SOURCE_STOP,     /* Confirm of a success again: the source guest stops */
    RECOVER_DEST_TEARDOWN,   /* Finish cancelled: the incoming guest goes */
    RECOVER_DEST_FINISH,     /* Finish: a complete stream runs here, else torn down */
    RECOVER_SOURCE_POSTCOPY, /* past the switch, Confirm cancelled again: kept paused */
    RECOVER_DEST_KEEP,       /* past the switch, Finish cancelled again: the guest stays */
};
/* The rule for JOB (borrowed; its lock held or the job otherwise still),
 * restored from its record: a Finish or Confirm under way (job->ending)
 * is done again with its outcome; otherwise the rule of a client that goes
 * away (mig_orphan_rule), except that a v2/v1 source inside Perform whose
 * hypervisor says the stream completed (STREAM_COMPLETED) keeps the guest
 * paused instead of resuming it. A job past the post-copy switch
 * (job->postcopy) is never resumed (source) nor torn down (destination):
 * the source stops when a Confirm of a success was under way or its stream
 * completed, else it is kept paused. A pure function: docs/control-api.md "An
 * agent that restarts" is its table (a guest that is gone is decided
 * before it: "dropped"). */
enum recover_action agent_recover_rule(const struct agent_job *job, bool stream_completed);

/* agent_recover_jobs() (declared in agent.h, for ferryd's start-up)
 * applies the rules to every job record, tears down incoming guests with
 * no record, then has the driver sweep its migration leftovers from the
 * running guests with no job (hv_driver.migrate_sweep) and from the host
 * (hv_driver.recover_host). */

#endif
