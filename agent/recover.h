/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A migration interrupted by an agent restart (crash, SIGKILL): the job
 * record each phase change writes under STATE/jobs, and what a restarted
 * agent does with the records it finds (libvirt's qemuProcessRecoverJob).
 * The rules are in docs/control-api.md, "An agent that restarts". */
#ifndef FERRY_AGENT_RECOVER_H
#define FERRY_AGENT_RECOVER_H

#include "agent.h"

/* The largest job record a restarted agent reads back. */
#define AGENT_JOB_RECORD_MAX (64 * 1024)

/* Writes DOM's job record (STATE/jobs/NAME.json: temp file, fsync,
 * rename, fsync of the directory). Called by the migration core at each
 * phase change, with the job claimed. A record that cannot be written is
 * logged and only costs the recovery after a crash. DOM is borrowed. */
void agent_job_record_save(struct agent *ag, struct agent_domain *dom);
/* Removes DOM's job record: the job ended. */
void agent_job_record_remove(struct agent *ag, struct agent_domain *dom);
/* At the start of a source job: notes whether the guest runs now (the
 * hypervisor's own state), which decides whether a cancelled job resumes
 * it, then saves the record. */
void agent_job_record_begin(struct agent *ag, struct agent_domain *dom);
/* Destination, before the driver's Prepare: notes the disk targets it
 * will create (those the cookie asks for that do not exist yet), so a
 * crash inside Prepare still removes them. OLD_DEF (borrowed) is the
 * definition before Prepare; after it, agent_job_record_prepared() keeps
 * only the disks whose source Prepare replaced. */
void agent_job_record_preparing(struct agent *ag, struct agent_domain *dom,
                                const struct cookie *cookie_in);
void agent_job_record_prepared(struct agent *ag, struct agent_domain *dom,
                               const struct domain_def *old_def);

/* agent_recover_jobs() (declared in agent.h, for ferryd's start-up)
 * applies the rules to every job record, then removes stale ferry dirty
 * bitmaps, NBD exports and block jobs from running guests with no job. */

#endif
