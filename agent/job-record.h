/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The job record under STATE/jobs: written by the migration core at each
 * phase change, read back by recover.c after a restart. */
#ifndef FERRY_AGENT_JOB_RECORD_H
#define FERRY_AGENT_JOB_RECORD_H

#include <stddef.h>

#include "agent.h"
#include "job.h"

#define AGENT_JOB_RECORD_EXT ".json"

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

/* The name a record gives an ending, back (-1: unknown); phases' names
 * are job.h's. */
int agent_job_ending_from_name(const char *s);
/* STATE/jobs (caller frees). */
char *agent_job_records_dir(struct agent *ag);

#endif
