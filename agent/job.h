/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The migration job of a domain as a state machine (QEMU's job.c state
 * transition table is the model): the phases a job may go through, the
 * only function that moves it between them, and its start and its single
 * end. struct agent_job itself is declared in agent.h with the locks and
 * their order. */
#ifndef FERRY_AGENT_JOB_H
#define FERRY_AGENT_JOB_H

#include "agent.h"

/*   NONE --begin--> BEGIN --perform--> PERFORM --confirm--> CONFIRM --> DONE
 *     |               `------------confirm (cancelled)-----^
 *     |--perform (v2/v1 source, no Begin)--> PERFORM --> CONFIRM
 *     |--confirm (v2/v1 source cancelled before its Perform began)
 *     `--prepare--> PREPARE --finish--> FINISH --> DONE
 * FINISH and CONFIRM may be entered again (a recovery or a client's
 * cleanup repeats the step with its recorded outcome); any phase may end
 * the job (DONE: agent_job_finish), and a DONE job starts again at NONE
 * (agent_job_start). */

/* Moves JOB (its lock held) to phase TO. A move the table does not allow
 * is a bug of the caller: it is refused with -EINVAL and logged, and the
 * job stays where it was. */
int agent_job_enter(struct agent_job *job, enum agent_job_phase to);
/* True when the table allows FROM -> TO. */
bool agent_job_can_enter(enum agent_job_phase from, enum agent_job_phase to);
/* The phase's name in job records, job.info and events ("begin", ...). */
const char *agent_job_phase_name(enum agent_job_phase p);
/* -1: not a phase's name. */
int agent_job_phase_from_name(const char *s);

/* Marks the start (END false) or the end of step NAME on JOB's timeline
 * (cookie_timeline_mark), now. Takes the job lock: not with it held. */
void agent_job_mark(struct agent_job *job, const char *name, bool end);
/* Merges FROM_PEER (the timeline in a destination's Prepare or Finish
 * cookie) into JOB's as "dest:NAME" (cookie_timeline_merge); takes the
 * job lock. Nothing happens when JOB is not active. */
void agent_job_merge_timeline(struct agent_job *job, const struct cookie_timeline *from_peer);
/* A copy of JOB's timeline into *RET (for an outgoing cookie); takes the
 * job lock. */
void agent_job_copy_timeline(struct agent_job *job, struct cookie_timeline *ret);
/* The timeline as job.info and job records show it: an array of
 * {"phase", "start_ms", "end_ms" (absent while running), "duration_ms",
 * "count"}, times in ms since BASE_US with 0.1 ms resolution. Caller puts
 * the result. */
json_object *agent_timeline_json(const struct cookie_timeline *t, int64_t base_us);

#endif
