/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Migration jobs that outlive the agent: the record written at each phase
 * change, and the recovery a restarted agent runs on the records it finds
 * (libvirt: qemuProcessReconnect -> qemuProcessRecoverJob). The decisions
 * are the ones a client that goes away gets (migrate-job.c), and they end
 * the job through the same Finish/Confirm paths (migrate.c); what the
 * driver's lost in-memory state would have undone in the hypervisor is the
 * driver's to find (struct hv_driver's recovery entries; QEMU's are in
 * qemu-recover.c). Like migrate.c, this file never knows which driver it
 * drives. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "migrate-priv.h"
#include "location.h"
#include "recover.h"
#include "volumes.h"

#define REC_EXT     ".json"
#define RESTART_MSG "the agent restarted"

static const char *const phase_names[] = {"none",   "begin",   "prepare", "perform",
                                          "finish", "confirm", "done"};
static const char *const ending_names[] = {"none", "success", "cancelled"};

static const char *phase_str(enum agent_job_phase p)
{
    return (unsigned)p < ARRAY_SIZE(phase_names) ? phase_names[p] : "none";
}

static int index_of(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

static char *jobs_dir(struct agent *ag)
{
    return ferry_strdup_printf("%s/jobs", ag->cfg.state_dir);
}

static char *record_path(struct agent *ag, const char *name)
{
    return ferry_strdup_printf("%s/jobs/%s%s", ag->cfg.state_dir, name, REC_EXT);
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
    _cleanup_free_ char *dir = jobs_dir(ag);
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
    add_str(o, "phase", phase_str(job->phase));
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

static const char *jstr(json_object *o, const char *k)
{
    json_object *v = NULL;

    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

/* ---- recovery ---- */

struct record {
    char name[sizeof(((struct domain_def *)0)->name)];
    char operation[32];
    enum agent_job_phase phase;
    int version;
    unsigned flags;
    int engine;
    bool perform_done, was_running, created_sure, postcopy;
    int ending;
    int64_t started_wall_ms;
    size_t n_created;
    char created[MIG_MAX_DISKS][512];
    json_object *obj; /* the record as read, for the driver (owned); NULL when made up */
};

static void record_clear(struct record *rec)
{
    json_object_put(rec->obj);
    rec->obj = NULL;
}

static bool jbool(json_object *o, const char *k)
{
    json_object *v = NULL;

    return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

static int64_t jint(json_object *o, const char *k)
{
    json_object *v = NULL;

    return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

static int record_read(const char *path, struct record *rec, struct ferry_error *err)
{
    _cleanup_free_ char *text = NULL;
    _cleanup_(json_object_putp) json_object *o = NULL;
    json_object *created = NULL;
    const char *name, *op;
    size_t len;
    int r, ph, ending;

    memset(rec, 0, sizeof *rec);
    if ((r = ferry_read_file(path, AGENT_JOB_RECORD_MAX, &text, &len, err)) < 0)
        return r;
    o = json_tokener_parse(text);
    if (!o || !json_object_is_type(o, json_type_object))
        return ferry_error_set(err, EINVAL, "'%s': not a JSON object", path);
    name = jstr(o, "domain");
    op = jstr(o, "operation");
    ph = index_of(phase_names, ARRAY_SIZE(phase_names), jstr(o, "phase"));
    ending = index_of(ending_names, ARRAY_SIZE(ending_names), jstr(o, "ending"));
    if (!name || !ferry_name_valid(name) || strlen(name) >= sizeof rec->name || !op ||
        (strcmp(op, "migration-out") != 0 && strcmp(op, "migration-in") != 0) || ph < 0 ||
        ending < 0)
        return ferry_error_set(err, EINVAL, "'%s': not a job record", path);
    snprintf(rec->name, sizeof rec->name, "%s", name);
    snprintf(rec->operation, sizeof rec->operation, "%s", op);
    rec->phase = (enum agent_job_phase)ph;
    rec->ending = ending;
    rec->version = (int)jint(o, "version");
    rec->flags = (unsigned)jint(o, "flags");
    rec->engine = (int)jint(o, "engine");
    rec->perform_done = jbool(o, "perform_done");
    rec->was_running = jbool(o, "was_running");
    rec->created_sure = jbool(o, "created_sure");
    rec->postcopy = jbool(o, "postcopy");
    rec->started_wall_ms = jint(o, "started_wall_ms");
    if (json_object_object_get_ex(o, "created_targets", &created) &&
        json_object_is_type(created, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(created) && i < MIG_MAX_DISKS; i++) {
            const char *t = json_object_get_string(json_object_array_get_idx(created, i));
            if (t && t[0] == '/' && strlen(t) < sizeof rec->created[0])
                snprintf(rec->created[rec->n_created++], sizeof rec->created[0], "%s", t);
        }
    }
    rec->obj = TAKE_PTR(o);
    return 0;
}

/* Removes the disk targets the record's Prepare created. Only images
 * ferryd's own list says it created (agent/volumes.h), or, from a record
 * an older agent wrote, paths inside the image dir: a record is data from
 * disk, not a licence to delete anything anywhere. */
static void remove_targets(struct agent *ag, const struct record *rec, json_object *removed)
{
    size_t dl = strlen(ag->cfg.image_dir);

    while (dl > 1 && ag->cfg.image_dir[dl - 1] == '/')
        dl--;

    for (size_t i = 0; i < rec->n_created; i++) {
        const char *t = rec->created[i];
        bool in_dir = strncmp(t, ag->cfg.image_dir, dl) == 0 && t[dl] == '/' && !strstr(t, "/../");
        if (!in_dir && !agent_volume_owned(ag, t))
            continue;
        if (unlink(t) == 0) {
            ferry_info("removing target image '%s'", t);
            _cleanup_free_ char *what = ferry_strdup_printf("target:%s", t);
            json_object_array_add(removed, json_object_new_string(what));
        } else if (errno != ENOENT) {
            ferry_warn("cannot remove target image '%s': %s", t, strerror(errno));
        }
    }
}

static void publish(struct agent *ag, const struct record *rec, const char *action,
                    json_object *removed /* taken */)
{
    json_object *d = json_object_new_object();

    ferry_warn("migration of '%s' (%s, phase %s) interrupted by an agent restart: %s", rec->name,
               rec->operation, phase_str(rec->phase), action);
    add_str(d, "operation", rec->operation);
    add_str(d, "phase", phase_str(rec->phase));
    add_str(d, "action", action);
    json_object_object_add(d, "removed", removed);
    agent_emit_event(ag, "migration-recovered", rec->name, d);
}

/* Puts the recorded job back on DOM, claimed (stepping) for the recovery. */
static void job_restore(struct agent *ag, struct agent_domain *dom, const struct record *rec)
{
    struct agent_job *job = &dom->job;

    agent_job_start(job, rec->operation);
    pthread_mutex_lock(&job->lock);
    job->phase = rec->phase;
    if (rec->started_wall_ms > 0)
        job->started_wall_ms = job->stats.started_ms = rec->started_wall_ms;
    job->owner_conn = 0;
    job->owner_flags = rec->flags;
    job->owner_engine = rec->engine;
    job->owner_version = rec->version ? rec->version : 3;
    job->perform_done = rec->perform_done;
    job->was_running = rec->was_running;
    job->ending = rec->ending;
    job->n_created = rec->n_created;
    memcpy(job->created, rec->created, sizeof job->created);
    job->created_sure = rec->created_sure;
    job->postcopy = rec->postcopy;
    job->orphaned = false;
    job->orphan_note[0] = '\0';
    job->stepping = true;
    pthread_mutex_unlock(&job->lock);
    pthread_mutex_lock(&dom->lock);
    dom->job_busy = true;
    pthread_mutex_unlock(&dom->lock);
    /* What the driver's Begin and Perform knew: Confirm resumes by it. */
    if (ag->driver->job_record_restore)
        ag->driver->job_record_restore(ag, dom, rec->obj);
}

/* As job.abort and a client's close mark a job they cancel. */
static void mark_cancelled(struct agent_domain *dom)
{
    pthread_mutex_lock(&dom->job.lock);
    dom->job.abort_requested = true;
    snprintf(dom->job.stats.status, sizeof dom->job.stats.status, "cancelled");
    pthread_mutex_unlock(&dom->job.lock);
}

enum recover_action agent_recover_rule(const struct agent_job *job, bool stream_completed)
{
    bool source = strcmp(job->operation, "migration-out") == 0;

    if (job->postcopy && source) {
        /* Past the switch the source holds no guest it may run. It ends
         * as a completed migration when the destination is known to
         * hold a whole guest: a Confirm of a success, or the hypervisor's
         * stream completed (QEMU: the destination acknowledged every
         * page). Otherwise it is kept paused: a cancelled Confirm is done
         * again without cancelling the hypervisor's stream, which may
         * still serve the destination's pages. */
        if (job->ending == JOB_ENDING_SUCCESS || stream_completed)
            return RECOVER_SOURCE_STOP;
        return job->ending == JOB_ENDING_CANCELLED ? RECOVER_SOURCE_POSTCOPY : RECOVER_SOURCE_KEEP;
    }
    if (job->postcopy && strcmp(job->operation, "migration-in") == 0)
        /* The guest ran here already: finished (a Finish of a success),
         * else kept by a cancelled Finish, never torn down. */
        return job->ending == JOB_ENDING_SUCCESS ? RECOVER_DEST_FINISH : RECOVER_DEST_KEEP;
    if (job->ending == JOB_ENDING_CANCELLED)
        return source ? RECOVER_SOURCE_CANCEL : RECOVER_DEST_TEARDOWN;
    if (job->ending == JOB_ENDING_SUCCESS)
        return source ? RECOVER_SOURCE_STOP : RECOVER_DEST_FINISH;
    switch (mig_orphan_rule(job)) {
    case ORPHAN_SOURCE_CANCEL:
        /* v2/v1 inside Perform once the hypervisor's stream completed:
         * the destination finishes a complete stream on its own, so the
         * source must not run the guest again; only an operator may
         * decide. */
        if (job->owner_version < 3 && job->phase == JOB_PERFORM && stream_completed)
            return RECOVER_SOURCE_KEEP;
        return RECOVER_SOURCE_CANCEL;
    case ORPHAN_SOURCE_KEEP:
        return RECOVER_SOURCE_KEEP;
    case ORPHAN_DEST_TEARDOWN:
        return RECOVER_DEST_TEARDOWN;
    case ORPHAN_DEST_FINISH:
        return RECOVER_DEST_FINISH;
    case ORPHAN_NONE:
        break;
    }
    return RECOVER_NONE;
}

/* The guest's process is gone (the driver stopped it). */
static bool guest_gone(struct agent_domain *dom)
{
    bool gone;

    pthread_mutex_lock(&dom->lock);
    gone = !dom->active;
    pthread_mutex_unlock(&dom->lock);
    return gone;
}

static void recover_live(struct agent *ag, struct agent_domain *dom, const struct record *rec,
                         json_object *removed)
{
    const struct hv_driver *drv = ag->driver;
    bool copies = (rec->flags & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC)) != 0;
    _cleanup_free_ char *why =
        ferry_strdup_printf("%s during %s", RESTART_MSG, phase_str(rec->phase));
    struct ferry_error err = {0};
    struct mig_step s;
    bool completed = false, incoming = strcmp(rec->operation, "migration-in") == 0;
    const char *action = NULL;
    enum recover_action rule;
    int r = 0;

    /* Only a job with no Finish/Confirm under way, or a source past the
     * post-copy switch, asks the hypervisor. */
    if ((rec->ending == JOB_ENDING_NONE || (rec->postcopy && !incoming)) &&
        drv->migrate_stream_completed)
        completed = drv->migrate_stream_completed(ag, dom);
    pthread_mutex_lock(&dom->job.lock);
    rule = agent_recover_rule(&dom->job, completed);
    pthread_mutex_unlock(&dom->job.lock);
    switch (rule) {
    case RECOVER_SOURCE_STOP:
        /* Confirm of a migration that succeeded: the guest runs on the
         * destination now; this copy must not run again. */
        mig_step_from_job(ag, dom, &s);
        r = mig_confirm_locked(ag, &s, false, NULL, &err);
        mig_step_clear(ag, &s);
        action = "stopped";
        break;
    case RECOVER_NONE: /* record_read admits no other operation; never leave it claimed */
        ferry_error_set(&err, EINVAL, "%s: no rule for operation '%s'", why, rec->operation);
        agent_job_finish(&dom->job, &err);
        agent_job_record_remove(ag, dom);
        pthread_mutex_lock(&dom->job.lock);
        dom->job.stepping = false;
        pthread_mutex_unlock(&dom->job.lock);
        agent_domain_end_job(dom);
        r = -EINVAL;
        break;
    case RECOVER_SOURCE_KEEP:
        /* The point of no return: Finish may have started the guest on
         * the destination. Only Confirm or job.abort ends the job. */
        if (drv->migrate_sweep)
            drv->migrate_sweep(ag, dom, copies ? HV_SWEEP_SERVER : 0, removed);
        pthread_mutex_lock(&dom->job.lock);
        dom->job.orphaned = true;
        dom->job.stepping = false;
        snprintf(dom->job.orphan_note, sizeof dom->job.orphan_note,
                 "%s after %s: the guest stays paused until migrate.confirm or job.abort",
                 RESTART_MSG, rec->postcopy ? "the switch to post-copy" : "Perform");
        pthread_mutex_unlock(&dom->job.lock);
        agent_job_record_save(ag, dom);
        action = "kept-paused";
        break;
    case RECOVER_SOURCE_CANCEL:
        /* What the lost Perform would have undone, then a cancelled
         * Confirm: the guest runs again if it ran before. */
        if (drv->migrate_sweep)
            drv->migrate_sweep(ag, dom, HV_SWEEP_CANCEL | (copies ? HV_SWEEP_SERVER : 0), removed);
        mark_cancelled(dom);
        mig_step_from_job(ag, dom, &s);
        r = mig_confirm_locked(ag, &s, true, why, &err);
        mig_step_clear(ag, &s);
        action = rec->was_running ? "resumed" : "cancelled";
        break;
    case RECOVER_SOURCE_POSTCOPY:
        /* A cancelled Confirm past the switch, done again. Not the
         * hypervisor's migration: cancelling it would cut the pages off
         * from a destination that may run the guest. The driver keeps the
         * guest paused (or stops it when its stream completed after all). */
        if (drv->migrate_sweep)
            drv->migrate_sweep(ag, dom, copies ? HV_SWEEP_SERVER : 0, removed);
        mark_cancelled(dom);
        mig_step_from_job(ag, dom, &s);
        r = mig_confirm_locked(ag, &s, true, why, &err);
        mig_step_clear(ag, &s);
        action = guest_gone(dom) ? "stopped" : "kept-paused";
        break;
    case RECOVER_DEST_KEEP:
        /* A cancelled Finish past the switch, done again: the driver keeps
         * the guest (it may hold its only current state), and with it its
         * disks. */
        mark_cancelled(dom);
        mig_step_from_job(ag, dom, &s);
        r = mig_finish_locked(ag, &s, true, why, &err);
        mig_step_clear(ag, &s);
        action = guest_gone(dom) ? "torn-down" : "kept";
        if (guest_gone(dom))
            remove_targets(ag, rec, removed);
        break;
    case RECOVER_DEST_FINISH:
        /* A Finish of a success, or v2/v1 whose source may have sent a
         * complete stream: the driver's Finish waits for it and resumes
         * the guest, or tears it down. The NBD server goes first. */
        if (drv->migrate_sweep)
            drv->migrate_sweep(ag, dom, HV_SWEEP_SERVER, removed);
        mig_step_from_job(ag, dom, &s);
        r = mig_finish_locked(ag, &s, false, NULL, &err);
        mig_step_clear(ag, &s);
        action = r == 0 ? "finished" : guest_gone(dom) ? "torn-down" : "kept";
        if (r < 0 && guest_gone(dom))
            remove_targets(ag, rec, removed);
        break;
    case RECOVER_DEST_TEARDOWN:
        /* The incoming guest and its disk server go; the driver's state
         * that named the targets is gone, the record names them. */
        mark_cancelled(dom);
        mig_step_from_job(ag, dom, &s);
        r = mig_finish_locked(ag, &s, true, why, &err);
        mig_step_clear(ag, &s);
        /* A driver keeps an incoming guest whose hypervisor says it went
         * post-copy (the source switched before this agent saw a Finish):
         * its disks stay with it. */
        if (guest_gone(dom)) {
            remove_targets(ag, rec, removed);
            action = "torn-down";
        } else {
            action = "kept";
        }
        break;
    }
    if (r < 0)
        ferry_warn("recovering the migration of '%s': %s", rec->name, ferry_error_msg(&err));
    publish(ag, rec, action ? action : "none", removed);
}

/* The guest of REC is gone with the agent: the job can only fail. */
static void recover_gone(struct agent *ag, struct agent_domain *dom, const struct record *rec,
                         json_object *removed)
{
    struct ferry_error err = {0};
    bool incoming = strcmp(rec->operation, "migration-in") == 0;

    /* A Finish that succeeded made the targets the guest's disks. */
    if (incoming && !(rec->phase == JOB_FINISH && rec->ending == JOB_ENDING_SUCCESS))
        remove_targets(ag, rec, removed);
    /* A Confirm of a success was under way: the guest's disks are on the
     * destination, and a definition kept here names stale images. Any
     * other source job leaves the definition's mark as it was: "leaving"
     * when Perform had begun, since how it ended is not known here. */
    if (!incoming && dom && rec->ending == JOB_ENDING_SUCCESS &&
        (rec->flags & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC))) {
        bool persistent;
        pthread_mutex_lock(&dom->lock);
        persistent = dom->persistent_def != NULL;
        pthread_mutex_unlock(&dom->lock);
        if (persistent)
            agent_location_set(ag, dom, LOCATION_MOVED, NULL, NULL);
        agent_volumes_collect(ag, dom->def->uuid, "the guest left this host");
    }
    if (dom) {
        ferry_error_set(&err, ECANCELED, "%s during %s and the guest's process was gone",
                        RESTART_MSG, phase_str(rec->phase));
        agent_job_start(&dom->job, rec->operation);
        agent_job_finish(&dom->job, &err);
    }
    publish(ag, rec, "dropped", removed);
}

static void recover_file(struct agent *ag, const char *path)
{
    struct ferry_error err = {0};
    struct record rec;
    struct agent_domain *dom;
    json_object *removed;

    if (record_read(path, &rec, &err) < 0) {
        ferry_warn("ignoring migration job record: %s", ferry_error_msg(&err));
        unlink(path);
        return;
    }
    removed = json_object_new_array();
    dom = agent_domain_lookup(ag, rec.name);
    if (!dom || !dom->active || dom->job_busy) {
        recover_gone(ag, dom, &rec, removed);
        unlink(path);
    } else {
        job_restore(ag, dom, &rec);
        recover_live(ag, dom, &rec, removed);
    }
    if (dom)
        agent_domain_unref(ag, dom);
    record_clear(&rec);
}

/* A guest with no job may still carry what an engine added to it (a
 * record lost, or a crash between a removal and the record's). */
static void sweep_idle(struct agent *ag)
{
    struct agent_domain **doms = NULL;
    size_t n = agent_domain_list(ag, &doms);

    for (size_t i = 0; i < n; i++) {
        struct agent_domain *dom = doms[i];
        bool idle, incoming = false;

        pthread_mutex_lock(&dom->job.lock);
        idle = !dom->job.active && dom->active;
        if (idle)
            incoming = dom->incoming;
        pthread_mutex_unlock(&dom->job.lock);
        if (incoming) {
            /* An incoming guest whose Prepare left no record (an older
             * agent, a record that could not be written): nobody can
             * Finish it. Torn down as a recorded Prepare is, with no
             * targets known. */
            struct record rec = {.phase = JOB_PREPARE, .version = 3};
            snprintf(rec.name, sizeof rec.name, "%s", dom->def->name);
            snprintf(rec.operation, sizeof rec.operation, "migration-in");
            job_restore(ag, dom, &rec);
            recover_live(ag, dom, &rec, json_object_new_array());
        } else if (idle && ag->driver->migrate_sweep) {
            json_object *removed = json_object_new_array();
            ag->driver->migrate_sweep(ag, dom, 0, removed);
            if (json_object_array_length(removed) > 0)
                ferry_warn("domain '%s': removed what a migration left in the guest: %s",
                           dom->def->name, json_object_to_json_string(removed));
            json_object_put(removed);
        }
        agent_domain_unref(ag, dom);
    }
    free(doms);
}

void agent_recover_jobs(struct agent *ag)
{
    _cleanup_free_ char *dir = jobs_dir(ag);
    _cleanup_(closedirp) DIR *d = opendir(dir);
    struct dirent *de;

    while (d && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        _cleanup_free_ char *path = NULL;

        if (de->d_name[0] == '.' || len <= strlen(REC_EXT) ||
            strcmp(de->d_name + len - strlen(REC_EXT), REC_EXT) != 0)
            continue;
        path = ferry_strdup_printf("%s/%s", dir, de->d_name);
        recover_file(ag, path);
    }
    sweep_idle(ag);
    if (ag->driver->recover_host)
        ag->driver->recover_host(ag);
}
