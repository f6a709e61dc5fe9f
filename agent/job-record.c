/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The job record: what the migration core writes at each phase change so
 * a restarted agent can end the job by the rules (recover.c reads it).
 * Below both the engine (migrate.c) and the recovery. */
#include "job-record.h"
#include "job.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "util.h"

static const char *const ending_names[] = {"none", "success", "cancelled"};

static int index_of(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

int agent_job_ending_from_name(const char *s)
{
    return index_of(ending_names, ARRAY_SIZE(ending_names), s);
}

char *agent_job_records_dir(struct agent *ag)
{
    return ferry_strdup_printf("%s/jobs", ag->cfg.state_dir);
}

static char *record_path(struct agent *ag, const char *name)
{
    return ferry_strdup_printf("%s/jobs/%s%s", ag->cfg.state_dir, name, AGENT_JOB_RECORD_EXT);
}

/* ---- the record ---- */

/* Saves come from a step's thread and, for the post-copy switch, from the
 * thread of migrate.start_postcopy: one at a time (ferry_write_file_atomic
 * names its temp file by process). */
static pthread_mutex_t save_lock = PTHREAD_MUTEX_INITIALIZER;

static void add_str(json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v));
}

void agent_job_record_save(struct agent *ag, struct agent_domain *dom)
{
    _cleanup_(json_object_putp) json_object *o = json_object_new_object();
    _cleanup_free_ char *dir = agent_job_records_dir(ag);
    _cleanup_free_ char *path = record_path(ag, dom->def->name);
    struct agent_job *job = &dom->job;
    struct ferry_error err = {0};
    json_object *created = json_object_new_array();
    const char *text;
    int dfd;

    add_str(o, "domain", dom->def->name);
    add_str(o, "uuid", dom->def->uuid);
    pthread_mutex_lock(&job->lock);
    add_str(o, "operation", job->operation);
    add_str(o, "phase", agent_job_phase_name(job->phase));
    json_object_object_add(o, "version", json_object_new_int(job->owner_version));
    json_object_object_add(o, "flags", json_object_new_int64(job->owner_flags));
    json_object_object_add(o, "engine", json_object_new_int(job->owner_engine));
    json_object_object_add(o, "perform_done", json_object_new_boolean(job->perform_done));
    json_object_object_add(o, "was_running", json_object_new_boolean(job->was_running));
    add_str(o, "ending", ending_names[(unsigned)job->ending < 3 ? job->ending : 0]);
    json_object_object_add(o, "started_wall_ms", json_object_new_int64(job->started_wall_ms));
    for (size_t i = 0; i < job->n_created; i++)
        json_object_array_add(created, json_object_new_string(job->created[i]));
    json_object_object_add(o, "created_sure", json_object_new_boolean(job->created_sure));
    json_object_object_add(o, "postcopy", json_object_new_boolean(job->postcopy));
    /* Where the time went up to this phase change: after a crash, the
     * record says which step the job was in and for how long. */
    json_object_object_add(o, "timeline_start",
                           json_object_new_int64(job->timeline_base_us / 1000));
    json_object_object_add(o, "timeline",
                           agent_timeline_json(&job->timeline, job->timeline_base_us));
    pthread_mutex_unlock(&job->lock);
    json_object_object_add(o, "created_targets", created);
    if (ag->driver->job_record_save)
        ag->driver->job_record_save(ag, dom, o);

    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    pthread_mutex_lock(&save_lock);
    if (ferry_mkdir_p(dir, 0700, &err) < 0 ||
        ferry_write_file_atomic(path, text, strlen(text), 0600, &err) < 0) {
        pthread_mutex_unlock(&save_lock);
        ferry_warn("domain '%s': cannot save its migration job record: %s", dom->def->name,
                   ferry_error_msg(&err));
        return;
    }
    /* The rename is durable once the directory is. */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) < 0)
            ferry_warn("fsync '%s': %s", dir, strerror(errno));
        close(dfd);
    }
    pthread_mutex_unlock(&save_lock);
}

void agent_job_record_postcopy(struct agent *ag, struct agent_domain *dom)
{
    bool had;

    pthread_mutex_lock(&dom->job.lock);
    had = dom->job.postcopy;
    dom->job.postcopy = true;
    pthread_mutex_unlock(&dom->job.lock);
    if (!had)
        agent_job_record_save(ag, dom);
}

void agent_job_record_remove(struct agent *ag, struct agent_domain *dom)
{
    _cleanup_free_ char *path = record_path(ag, dom->def->name);

    if (unlink(path) < 0 && errno != ENOENT)
        ferry_warn("cannot remove '%s': %s", path, strerror(errno));
}

void agent_job_record_begin(struct agent *ag, struct agent_domain *dom)
{
    char state[32] = "", reason[32] = "";
    bool running = false;

    if (dom->active && ag->driver->domain_state &&
        ag->driver->domain_state(ag, dom, state, sizeof state, reason, sizeof reason, NULL) == 0)
        running = strcmp(state, "running") == 0;
    pthread_mutex_lock(&dom->job.lock);
    dom->job.was_running = running;
    dom->job.ending = JOB_ENDING_NONE;
    dom->job.n_created = 0;
    dom->job.created_sure = false;
    dom->job.postcopy = false;
    pthread_mutex_unlock(&dom->job.lock);
    agent_job_record_save(ag, dom);
}

void agent_job_record_preparing(struct agent *ag, struct agent_domain *dom, char *const planned[],
                                size_t n)
{
    struct agent_job *job = &dom->job;

    pthread_mutex_lock(&job->lock);
    job->was_running = false;
    job->ending = JOB_ENDING_NONE;
    job->n_created = 0;
    /* Prepare never overwrites an existing file (agent_volumes_plan). */
    for (size_t i = 0; i < n && job->n_created < MIG_MAX_DISKS; i++)
        if (planned[i] && strlen(planned[i]) < sizeof job->created[0] &&
            access(planned[i], F_OK) < 0)
            snprintf(job->created[job->n_created++], sizeof job->created[0], "%s", planned[i]);
    job->created_sure = false;
    job->postcopy = false;
    pthread_mutex_unlock(&job->lock);
    agent_job_record_save(ag, dom);
}

void agent_job_record_prepared(struct agent *ag, struct agent_domain *dom)
{
    struct agent_job *job = &dom->job;
    size_t n = 0;

    pthread_mutex_lock(&job->lock);
    for (size_t i = 0; i < job->n_created; i++)
        if (access(job->created[i], F_OK) == 0)
            memmove(job->created[n++], job->created[i], sizeof job->created[0]);
    job->n_created = n;
    job->created_sure = true;
    pthread_mutex_unlock(&job->lock);
    agent_job_record_save(ag, dom);
}

/* The driver's way to it (hv.h). */
void hv_job_mark_postcopy(struct agent *ag, struct agent_domain *dom)
{
    agent_job_record_postcopy(ag, dom);
}
