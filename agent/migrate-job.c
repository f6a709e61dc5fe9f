/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The migration job outside the steps: what the close of the connection
 * that owns a job does to it (libvirt's close callbacks), and job.info /
 * job.abort. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cleanup.h"
#include "json-cleanup.h"
#include "job.h"
#include "migrate-priv.h"

/* ---- a client that goes away ---- */

/* A step for the job DOM already has, with the first step's flags, for
 * code that ends the job outside a client's step. The caller has set
 * dom->job.stepping; step_clear releases it and the reference taken here. */
void mig_step_from_job(struct agent *ag, struct agent_domain *dom, struct mig_step *s)
{
    memset(s, 0, sizeof *s);
    agent_domain_ref(dom);
    s->dom = dom;
    s->claimed = true;
    pthread_mutex_lock(&dom->job.lock);
    s->params.flags = dom->job.owner_flags;
    s->params.storage_engine = (enum mig_storage_engine)dom->job.owner_engine;
    s->m.version = dom->job.owner_version ? dom->job.owner_version : 3;
    pthread_mutex_unlock(&dom->job.lock);
    s->m.agent = ag;
    s->m.dom = dom;
    s->m.job = &dom->job;
    s->m.params = &s->params;
}

enum orphan_action mig_orphan_rule(const struct agent_job *job)
{
    /* Past the post-copy switch (job->postcopy) the source never resumes
     * the guest and the destination never tears it down. */
    if (strcmp(job->operation, "migration-out") == 0)
        return job->perform_done || job->postcopy ? ORPHAN_SOURCE_KEEP : ORPHAN_SOURCE_CANCEL;
    if (strcmp(job->operation, "migration-in") == 0)
        return job->owner_version >= 3 && !job->postcopy ? ORPHAN_DEST_TEARDOWN
                                                         : ORPHAN_DEST_FINISH;
    return ORPHAN_NONE;
}

/* Decides under the job lock what the close of CONN_ID means for DOM's
 * job, and claims the job for it. */
static enum orphan_action orphan_decide(struct agent_domain *dom, uint64_t conn_id)
{
    struct agent_job *job = &dom->job;
    enum orphan_action a = ORPHAN_NONE;

    pthread_mutex_lock(&job->lock);
    if (!job->active || job->owner_conn != conn_id) {
        pthread_mutex_unlock(&job->lock);
        return ORPHAN_NONE;
    }
    job->owner_conn = 0;
    if (job->stepping) {
        /* Another connection took the job on (a Confirm by a recovering
         * orchestrator, job.abort): that step ends it. */
        pthread_mutex_unlock(&job->lock);
        return ORPHAN_NONE;
    }
    a = mig_orphan_rule(job);
    if (a != ORPHAN_NONE) {
        job->orphaned = true;
        if (a == ORPHAN_SOURCE_KEEP) {
            snprintf(job->orphan_note, sizeof job->orphan_note,
                     "%s after %s: the guest stays paused until migrate.confirm or "
                     "job.abort",
                     CLIENT_GONE_MSG, job->postcopy ? "the switch to post-copy" : "Perform");
        } else {
            job->stepping = true;
        }
        if (a == ORPHAN_SOURCE_CANCEL || a == ORPHAN_DEST_TEARDOWN) {
            job->abort_requested = true;
            snprintf(job->stats.status, sizeof job->stats.status, "cancelled");
        }
    }
    pthread_mutex_unlock(&job->lock);
    return a;
}

static void orphan_cleanup(struct agent *ag, struct agent_domain *dom, uint64_t conn_id)
{
    enum orphan_action a = orphan_decide(dom, conn_id);
    struct ferry_error err = {0};
    struct mig_step s;
    int r = 0;

    switch (a) {
    case ORPHAN_NONE:
        return;
    case ORPHAN_SOURCE_KEEP:
        /* Finish may have started the guest on the destination, or the
         * destination may have torn it down: only the orchestrator knew.
         * Resuming here could run it twice, stopping it could lose it. */
        ferry_warn("migration of '%s': %s after Perform; the guest stays paused here",
                   dom->def->name, CLIENT_GONE_MSG);
        mig_publish_abandoned(ag, dom, "perform", "kept-paused");
        return;
    case ORPHAN_SOURCE_CANCEL:
        ferry_warn("migration of '%s': %s; cancelling it", dom->def->name, CLIENT_GONE_MSG);
        mig_publish_abandoned(ag, dom, dom->job.phase == JOB_BEGIN ? "begin" : "perform",
                              "cancelled");
        mig_step_from_job(ag, dom, &s);
        r = mig_confirm_locked(ag, &s, true, CLIENT_GONE_MSG, &err);
        break;
    case ORPHAN_DEST_TEARDOWN:
        ferry_warn("incoming migration of '%s': %s before Finish; tearing it down", dom->def->name,
                   CLIENT_GONE_MSG);
        mig_publish_abandoned(ag, dom, "prepare", "torn-down");
        mig_step_from_job(ag, dom, &s);
        r = mig_finish_locked(ag, &s, true, CLIENT_GONE_MSG, &err);
        break;
    case ORPHAN_DEST_FINISH:
        /* v2/v1: a successful Perform already stopped the source guest, so
         * a complete incoming stream must run here; the driver's Finish
         * waits for it and tears everything down when it is not. */
        ferry_warn("incoming migration of '%s': %s before Finish; finishing it if the "
                   "stream completes",
                   dom->def->name, CLIENT_GONE_MSG);
        mig_publish_abandoned(ag, dom, "prepare", "finishing");
        mig_step_from_job(ag, dom, &s);
        r = mig_finish_locked(ag, &s, false, NULL, &err);
        break;
    }
    if (r < 0)
        ferry_warn("cleanup of the migration of '%s': %s", dom->def->name, ferry_error_msg(&err));
    mig_step_clear(ag, &s);
}

void api_migrate_conn_closed(struct agent *ag, uint64_t conn_id)
{
    struct agent_domain **doms = NULL;
    size_t n;

    if (conn_id == 0)
        return;
    n = agent_domain_list(ag, &doms);
    for (size_t i = 0; i < n; i++) {
        orphan_cleanup(ag, doms[i], conn_id);
        agent_domain_unref(ag, doms[i]);
    }
    free(doms);
}

/* ---- job info / abort ---- */

static void add_u64(json_object *o, const char *k, uint64_t v)
{
    json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

static json_object *stats_json(const struct cookie_stats *st, const char *operation, bool active,
                               int64_t elapsed_ms)
{
    json_object *o = json_object_new_object();
    uint64_t data_total = st->memory_total + st->disk_total;
    uint64_t data_processed = st->memory_processed + st->disk_processed;
    uint64_t data_remaining = st->memory_remaining + st->disk_remaining;
    uint64_t bps = st->memory_bps + st->disk_bps;

    json_object_object_add(o, "type", json_object_new_string(active ? "unbounded" : "completed"));
    json_object_object_add(o, "operation", json_object_new_string(operation));
    json_object_object_add(o, "status", json_object_new_string(st->status));
    add_u64(o, "time_elapsed", (uint64_t)(elapsed_ms > 0 ? elapsed_ms : 0));
    if (active && bps > 0)
        add_u64(o, "time_remaining", data_remaining * 1000 / bps);
    add_u64(o, "data_total", data_total);
    add_u64(o, "data_processed", data_processed);
    add_u64(o, "data_remaining", data_remaining);
    add_u64(o, "memory_total", st->memory_total);
    add_u64(o, "memory_processed", st->memory_processed);
    add_u64(o, "memory_remaining", st->memory_remaining);
    add_u64(o, "memory_bps", st->memory_bps);
    add_u64(o, "memory_dirty_rate", st->memory_dirty_rate);
    add_u64(o, "memory_iteration", st->memory_iteration);
    add_u64(o, "memory_normal_pages", st->memory_normal_pages);
    add_u64(o, "memory_constant_pages", st->memory_duplicate_pages);
    add_u64(o, "disk_total", st->disk_total);
    add_u64(o, "disk_processed", st->disk_processed);
    add_u64(o, "disk_remaining", st->disk_remaining);
    add_u64(o, "disk_bps", st->disk_bps);
    add_u64(o, "disk_passes", st->disk_passes);
    if (st->comp_cache || st->comp_bytes || st->comp_pages) {
        add_u64(o, "compression_cache", st->comp_cache);
        add_u64(o, "compression_bytes", st->comp_bytes);
        add_u64(o, "compression_pages", st->comp_pages);
        add_u64(o, "compression_cache_misses", st->comp_cache_misses);
        add_u64(o, "compression_overflow", st->comp_overflow);
    }
    if (st->comp_mt_pages || st->comp_mt_busy) {
        add_u64(o, "compression_mt_pages", st->comp_mt_pages);
        add_u64(o, "compression_mt_busy", st->comp_mt_busy);
        add_u64(o, "compression_mt_compressed_size", st->comp_mt_compressed_size);
    }
    json_object_object_add(o, active ? "expected_downtime" : "downtime",
                           json_object_new_int64(st->downtime_ms));
    json_object_object_add(o, "storage_downtime", json_object_new_int64(st->storage_downtime_ms));
    json_object_object_add(o, "setup_time", json_object_new_int64(st->setup_time_ms));
    return o;
}

/* The storage side of the convergence figures, summed or maxed from the
 * driver's per-disk lines (DISKS: borrowed, may be NULL): the guest's
 * dirty rate, the current copy rate, the write cap, the predicted final
 * pass (the slowest disk's) and an ETA. And RAM's ETA from QEMU's
 * figures: what remains over what the link gains on the guest's dirtying.
 * Absent rates are 0; an ETA that cannot be known (the guest dirties
 * faster than the link moves) is -1. */
static void add_convergence(json_object *o, const struct cookie_stats *st, json_object *disks,
                            bool active)
{
    uint64_t dirty_rate = 0, copy_rate = 0, throttle = 0, predicted = 0, remaining = 0;
    size_t n = disks ? json_object_array_length(disks) : 0;

    for (size_t i = 0; i < n; i++) {
        json_object *d = json_object_array_get_idx(disks, i), *v = NULL;
#define GET(k) (json_object_object_get_ex(d, k, &v) ? (uint64_t)json_object_get_int64(v) : 0)
        dirty_rate += GET("dirty_rate");
        copy_rate += GET("copy_rate");
        throttle += GET("throttle");
        remaining += GET("remaining");
        predicted = GET("predicted_downtime") > predicted ? GET("predicted_downtime") : predicted;
#undef GET
    }
    if (n) {
        add_u64(o, "disk_dirty_rate", dirty_rate);
        add_u64(o, "disk_copy_rate", copy_rate);
        add_u64(o, "disk_throttle", throttle);
        add_u64(o, "disk_predicted_downtime", predicted);
    }
    if (!active)
        return;
    if (n) {
        uint64_t gain = copy_rate > dirty_rate ? copy_rate - dirty_rate : 0;
        json_object_object_add(o, "disk_eta",
                               json_object_new_int64(remaining == 0 ? 0
                                                     : gain ? (int64_t)(remaining * 1000 / gain)
                                                            : -1));
    }
    if (st->memory_total) {
        uint64_t dirty = st->memory_dirty_rate * 4096; /* pages/s; x86 pages */
        uint64_t gain = st->memory_bps > dirty ? st->memory_bps - dirty : 0;
        json_object_object_add(
            o, "memory_eta",
            json_object_new_int64(st->memory_remaining == 0 ? 0
                                  : gain ? (int64_t)(st->memory_remaining * 1000 / gain)
                                         : -1));
    }
}

void hv_job_emit_progress(struct mig_ctx *m)
{
    struct agent_job *job = m->job;
    json_object *o;

    pthread_mutex_lock(&job->lock);
    o = stats_json(&job->stats, job->operation, true, ferry_now_ms() - job->started_mono_ms);
    json_object_object_add(o, "phase", json_object_new_string(agent_job_phase_name(job->phase)));
    add_convergence(o, &job->stats, job->disks, true);
    if (job->disks)
        json_object_object_add(o, "disks", json_object_get(job->disks));
    pthread_mutex_unlock(&job->lock);
    hv_emit_event(m->agent, "migration-progress", m->dom->def->name, o);
}

/* job.info's answer for DOM's last completed job; JOB->lock held. */
static json_object *completed_json(const struct agent_job *job)
{
    json_object *o = stats_json(&job->completed, job->completed_operation, false,
                                job->completed.time_elapsed_ms);

    if (job->completed_error[0])
        json_object_object_add(o, "error", json_object_new_string(job->completed_error));
    add_convergence(o, &job->completed, job->completed_disks, false);
    if (job->completed_disks)
        json_object_object_add(o, "disks", json_object_get(job->completed_disks));
    json_object_object_add(o, "timeline_start",
                           json_object_new_int64(job->completed_timeline_base_us / 1000));
    json_object_object_add(
        o, "timeline",
        agent_timeline_json(&job->completed_timeline, job->completed_timeline_base_us));
    return o;
}

void agent_job_keep_departed(struct agent *ag, struct agent_domain *dom)
{
    json_object *info = NULL;
    size_t i;

    pthread_mutex_lock(&dom->job.lock);
    if (dom->job.has_completed)
        info = completed_json(&dom->job);
    pthread_mutex_unlock(&dom->job.lock);
    if (!info)
        return;
    pthread_mutex_lock(&ag->lock);
    for (i = 0; i < ag->n_departed; i++)
        if (strcmp(ag->departed[i].name, dom->def->name) == 0)
            break;
    if (i == ARRAY_SIZE(ag->departed))
        i = 0; /* full: the oldest goes */
    if (i < ag->n_departed) {
        free(ag->departed[i].name);
        json_object_put(ag->departed[i].info);
        memmove(&ag->departed[i], &ag->departed[i + 1],
                (ag->n_departed - i - 1) * sizeof ag->departed[0]);
        ag->n_departed--;
    }
    ag->departed[ag->n_departed].name = ferry_strdup(dom->def->name);
    ag->departed[ag->n_departed].info = info;
    ag->n_departed++;
    pthread_mutex_unlock(&ag->lock);
}

/* The kept completed job of the departed domain NAME (a new reference), or
 * NULL. */
static json_object *departed_info(struct agent *ag, const char *name)
{
    json_object *o = NULL;

    pthread_mutex_lock(&ag->lock);
    for (size_t i = 0; i < ag->n_departed && !o; i++)
        if (strcmp(ag->departed[i].name, name) == 0)
            o = json_object_get(ag->departed[i].info);
    pthread_mutex_unlock(&ag->lock);
    return o;
}

int api_job_info(struct api_ctx *ctx, json_object *params, json_object **ret,
                 struct ferry_error *err)
{
    struct agent_domain *dom;
    const char *name;
    bool completed = false;
    json_object *o;
    int r;

    if ((r = api_param_str(params, "name", true, &name, err)) < 0 ||
        (r = api_param_bool(params, "completed", &completed, err)) < 0)
        return r;
    dom = agent_domain_lookup(ctx->ag, name);
    if (!dom && completed && (o = departed_info(ctx->ag, name))) {
        *ret = o;
        return 0;
    }
    if (!dom)
        return ferry_error_set(err, ENOENT, "domain '%s' not found", name);
    /* Before QEMU's RAM migration starts (a disk copy runs first) QEMU
     * reports no RAM figures: the guest's memory is still all to move, and
     * data_total must say so. */
    pthread_mutex_lock(&dom->lock);
    uint64_t guest_ram = dom->def ? dom->def->memory_kib * 1024 : 0;
    pthread_mutex_unlock(&dom->lock);
    pthread_mutex_lock(&dom->job.lock);
    if (!completed && dom->job.active) {
        struct cookie_stats st = dom->job.stats;
        if (st.memory_total == 0 && strcmp(dom->job.operation, "migration-out") == 0 &&
            dom->job.phase <= JOB_PERFORM) {
            st.memory_total = guest_ram;
            st.memory_remaining = guest_ram;
        }
        o = stats_json(&st, dom->job.operation, true, ferry_now_ms() - dom->job.started_mono_ms);
        json_object_object_add(o, "phase",
                               json_object_new_string(agent_job_phase_name(dom->job.phase)));
        add_convergence(o, &dom->job.stats, dom->job.disks, true);
        if (dom->job.disks)
            json_object_object_add(o, "disks", json_object_get(dom->job.disks));
        if (dom->job.orphan_note[0])
            json_object_object_add(o, "orphaned", json_object_new_string(dom->job.orphan_note));
        json_object_object_add(o, "timeline_start",
                               json_object_new_int64(dom->job.timeline_base_us / 1000));
        json_object_object_add(o, "timeline",
                               agent_timeline_json(&dom->job.timeline, dom->job.timeline_base_us));
    } else if (completed && dom->job.has_completed) {
        o = completed_json(&dom->job);
    } else {
        o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string("none"));
    }
    pthread_mutex_unlock(&dom->job.lock);
    agent_domain_unref(ctx->ag, dom);
    *ret = o;
    return 0;
}

int api_job_abort(struct api_ctx *ctx, json_object *params, json_object **ret,
                  struct ferry_error *err)
{
    struct agent *ag = ctx->ag;
    struct agent_domain *dom;
    const char *name;
    bool between = false;
    int r = 0;

    (void)ret;
    if ((r = api_param_str(params, "name", true, &name, err)) < 0)
        return r;
    dom = agent_domain_lookup(ag, name);
    if (!dom)
        return ferry_error_set(err, ENOENT, "domain '%s' not found", name);
    pthread_mutex_lock(&dom->job.lock);
    if (!dom->job.active) {
        r = ferry_error_set(err, EINVAL, "domain '%s' has no active job", name);
    } else if (strncmp(dom->job.stats.status, "postcopy", 8) == 0 && !dom->job.orphaned) {
        /* libvirt refuses it too: cancelling now would lose the guest. */
        r = ferry_error_set(err, EBUSY,
                            "cannot abort the migration of '%s' in post-copy: the guest "
                            "already runs on the destination",
                            name);
    } else {
        dom->job.abort_requested = true;
        snprintf(dom->job.stats.status, sizeof dom->job.stats.status, "cancelled");
        if (dom->job.ctx && ag->driver->migrate_cancel)
            ag->driver->migrate_cancel(dom->job.ctx);
        /* Begun, or left after Perform by a client that went away, and
         * no step running: nobody else will end the job. */
        between = !dom->job.ctx && !dom->job.stepping &&
                  (dom->job.phase == JOB_BEGIN || dom->job.orphaned) &&
                  strcmp(dom->job.operation, "migration-out") == 0;
        if (between)
            dom->job.stepping = true;
    }
    pthread_mutex_unlock(&dom->job.lock);
    if (between) {
        struct mig_step s;
        mig_step_from_job(ag, dom, &s);
        r = mig_confirm_locked(ag, &s, true, NULL, err);
        mig_step_clear(ag, &s);
    }
    agent_domain_unref(ag, dom);
    return r;
}

/* ---- post-copy on demand (virDomainMigrateStartPostCopy) ---- */

int api_migrate_start_postcopy(struct api_ctx *ctx, json_object *params, json_object **ret,
                               struct ferry_error *err)
{
    struct agent *ag = ctx->ag;
    struct agent_domain *dom;
    const char *name;
    int r = 0;

    (void)ret;
    if ((r = api_param_str(params, "name", true, &name, err)) < 0)
        return r;
    if (!ag->driver->migrate_start_postcopy)
        return ferry_error_set(err, ENOTSUP, "driver '%s' has no post-copy migration",
                               ag->driver->name);
    dom = agent_domain_lookup(ag, name);
    if (!dom)
        return ferry_error_set(err, ENOENT, "domain '%s' not found", name);
    pthread_mutex_lock(&dom->job.lock);
    if (!dom->job.active || strcmp(dom->job.operation, "migration-out") != 0)
        r = ferry_error_set(err, EINVAL, "domain '%s' has no outgoing migration running", name);
    else if (!(dom->job.owner_flags & MIG_POSTCOPY))
        r = ferry_error_set(err, EINVAL,
                            "the migration of '%s' was not started with --postcopy (post-copy "
                            "must be enabled on both QEMUs before the migration starts)",
                            name);
    else if (dom->job.phase != JOB_PERFORM || !dom->job.ctx)
        r = ferry_error_set(err, EINVAL,
                            "the migration of '%s' is not moving memory (phase '%s'): nothing "
                            "to switch to post-copy",
                            name, agent_job_phase_name(dom->job.phase));
    else if (dom->job.abort_requested)
        r = ferry_error_set(err, ECANCELED, "the migration of '%s' is being cancelled", name);
    pthread_mutex_unlock(&dom->job.lock);
    /* Not under the job lock: the driver talks to the hypervisor, as
     * migrate_set_param does while Perform runs. */
    if (r == 0)
        r = ag->driver->migrate_start_postcopy(ag, dom, err);
    if (r == 0)
        agent_emit_event(ag, "migration-postcopy-requested", name, NULL);
    agent_domain_unref(ag, dom);
    return r;
}
