/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The migration job's state machine (job.h), its start and its end, and
 * the accessors through which a driver reaches the job (hv.h) without
 * knowing its lock. */
#include "job.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "metrics.h"
#include "util.h"

#define P(x) JOB_##x
/* allowed[FROM][TO] */
static const bool allowed[JOB_DONE + 1][JOB_DONE + 1] = {
    /* CONFIRM from NONE: a v2/v1 source job cancelled (or recovered) before
     * its Perform began. */
    [P(NONE)] = {[P(BEGIN)] = true, [P(PREPARE)] = true, [P(PERFORM)] = true, [P(CONFIRM)] = true},
    [P(BEGIN)] = {[P(PERFORM)] = true, [P(CONFIRM)] = true, [P(DONE)] = true},
    [P(PREPARE)] = {[P(FINISH)] = true, [P(DONE)] = true},
    [P(PERFORM)] = {[P(CONFIRM)] = true, [P(DONE)] = true},
    [P(FINISH)] = {[P(FINISH)] = true, [P(DONE)] = true},
    [P(CONFIRM)] = {[P(CONFIRM)] = true, [P(DONE)] = true},
    [P(DONE)] = {[P(NONE)] = true},
};
#undef P

static const char *const phase_names[] = {"none",   "begin",   "prepare", "perform",
                                          "finish", "confirm", "done"};

const char *agent_job_phase_name(enum agent_job_phase p)
{
    return (unsigned)p < ARRAY_SIZE(phase_names) ? phase_names[p] : "none";
}

int agent_job_phase_from_name(const char *s)
{
    for (size_t i = 0; s && i < ARRAY_SIZE(phase_names); i++)
        if (strcmp(phase_names[i], s) == 0)
            return (int)i;
    return -1;
}

bool agent_job_can_enter(enum agent_job_phase from, enum agent_job_phase to)
{
    return (unsigned)from <= JOB_DONE && (unsigned)to <= JOB_DONE && allowed[from][to];
}

int agent_job_enter(struct agent_job *job, enum agent_job_phase to)
{
    if (!agent_job_can_enter(job->phase, to)) {
        ferry_warn("migration job (%s): %s -> %s is not a move of the job's state machine; "
                   "staying in %s",
                   job->operation, agent_job_phase_name(job->phase), agent_job_phase_name(to),
                   agent_job_phase_name(job->phase));
        return -EINVAL;
    }
    job->phase = to;
    return 0;
}

void agent_job_start(struct agent_job *job, const char *operation)
{
    pthread_mutex_lock(&job->lock);
    job->active = true;
    snprintf(job->operation, sizeof job->operation, "%s", operation);
    job->phase = JOB_NONE; /* from DONE, or a job never started */
    job->started_wall_ms = ferry_wall_ms();
    job->started_mono_ms = ferry_now_ms();
    memset(&job->stats, 0, sizeof job->stats);
    job->stats.set = true;
    job->stats.started_ms = job->started_wall_ms;
    snprintf(job->stats.status, sizeof job->stats.status, "active");
    job->abort_requested = false;
    job->abort_reason[0] = '\0';
    if (job->disks) {
        json_object_put(job->disks);
        job->disks = NULL;
    }
    memset(&job->timeline, 0, sizeof job->timeline);
    job->timeline_base_us = ferry_wall_us();
    pthread_mutex_unlock(&job->lock);
}

void agent_job_finish(struct agent_job *job, const struct ferry_error *err_or_null)
{
    pthread_mutex_lock(&job->lock);
    if (!job->active) {
        pthread_mutex_unlock(&job->lock);
        return;
    }
    job->active = false;
    /* The one way out of every phase. */
    job->phase = JOB_DONE;
    job->stats.stopped_ms = ferry_wall_ms();
    job->stats.time_elapsed_ms = ferry_now_ms() - job->started_mono_ms;
    if (err_or_null && ferry_error_is_set(err_or_null)) {
        if (strcmp(job->stats.status, "cancelled") != 0)
            snprintf(job->stats.status, sizeof job->stats.status, "failed");
        snprintf(job->completed_error, sizeof job->completed_error, "%s",
                 ferry_error_msg(err_or_null));
    } else {
        snprintf(job->stats.status, sizeof job->stats.status, "completed");
        job->completed_error[0] = '\0';
    }
    job->completed = job->stats;
    job->has_completed = true;
    /* A failed job may leave steps running: they ended with it. */
    cookie_timeline_close(&job->timeline, ferry_wall_us());
    job->completed_timeline = job->timeline;
    job->completed_timeline_base_us = job->timeline_base_us;
    agent_metrics_job_ended(job, err_or_null ? err_or_null->code : 0);
    snprintf(job->completed_operation, sizeof job->completed_operation, "%s", job->operation);
    if (job->completed_disks)
        json_object_put(job->completed_disks);
    job->completed_disks = job->disks ? json_object_get(job->disks) : NULL;
    pthread_mutex_unlock(&job->lock);
}

/* ---- the timeline ---- */

void agent_job_mark(struct agent_job *job, const char *name, bool end)
{
    int64_t now = ferry_wall_us();

    pthread_mutex_lock(&job->lock);
    if (job->active)
        cookie_timeline_mark(&job->timeline, name, end, now);
    pthread_mutex_unlock(&job->lock);
}

void agent_job_merge_timeline(struct agent_job *job, const struct cookie_timeline *from_peer)
{
    if (from_peer->n == 0)
        return;
    pthread_mutex_lock(&job->lock);
    if (job->active)
        cookie_timeline_merge(&job->timeline, from_peer, "dest:");
    pthread_mutex_unlock(&job->lock);
}

void agent_job_copy_timeline(struct agent_job *job, struct cookie_timeline *ret)
{
    pthread_mutex_lock(&job->lock);
    *ret = job->timeline;
    pthread_mutex_unlock(&job->lock);
}

static json_object *ms_json(int64_t us)
{
    char text[32];

    /* 0.1 ms: the final pass of an idle disk takes about 1 ms. */
    snprintf(text, sizeof text, "%.1f", (double)us / 1000.0);
    return json_object_new_double_s((double)us / 1000.0, text);
}

json_object *agent_timeline_json(const struct cookie_timeline *t, int64_t base_us)
{
    json_object *a = json_object_new_array();

    for (size_t i = 0; i < t->n; i++) {
        const struct cookie_phase *p = &t->p[i];
        json_object *o = json_object_new_object();

        json_object_object_add(o, "phase", json_object_new_string(p->name));
        json_object_object_add(o, "start_ms", ms_json(p->start_us - base_us));
        if (p->end_us && p->open == 0) {
            json_object_object_add(o, "end_ms", ms_json(p->end_us - base_us));
            json_object_object_add(o, "duration_ms", ms_json(p->end_us - p->start_us));
        }
        json_object_object_add(o, "count", json_object_new_int64(p->count));
        json_object_array_add(a, o);
    }
    return a;
}

/* ---- what a driver may do with the job (hv.h) ---- */

void hv_job_mark(struct mig_ctx *m, const char *name, enum hv_mark what)
{
    agent_job_mark(m->job, name, what == HV_MARK_END);
}

bool hv_job_abort_requested(struct mig_ctx *m)
{
    bool a;

    pthread_mutex_lock(&m->job->lock);
    a = m->job->abort_requested;
    pthread_mutex_unlock(&m->job->lock);
    return a;
}

struct cookie_stats *hv_job_stats_lock(struct mig_ctx *m)
{
    pthread_mutex_lock(&m->job->lock);
    return &m->job->stats;
}

void hv_job_stats_unlock(struct mig_ctx *m)
{
    pthread_mutex_unlock(&m->job->lock);
}

void hv_job_set_disks(struct mig_ctx *m, json_object *lines)
{
    pthread_mutex_lock(&m->job->lock);
    if (m->job->disks)
        json_object_put(m->job->disks);
    m->job->disks = lines;
    pthread_mutex_unlock(&m->job->lock);
}

void hv_job_facts(struct agent_domain *dom, struct hv_job_facts *ret)
{
    pthread_mutex_lock(&dom->job.lock);
    ret->active = dom->job.active;
    ret->outgoing = strcmp(dom->job.operation, "migration-out") == 0;
    ret->was_running = dom->job.was_running;
    ret->postcopy = dom->job.postcopy;
    ret->stepping = dom->job.ctx != NULL;
    pthread_mutex_unlock(&dom->job.lock);
}

void hv_emit_event(struct agent *ag, const char *event, const char *domain, json_object *data)
{
    agent_emit_event(ag, event, domain, data);
}
