/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Migration jobs that outlive the agent: the record written at each phase
 * change, and the recovery a restarted agent runs on the records it finds
 * (libvirt: qemuProcessReconnect -> qemuProcessRecoverJob). The decisions
 * are the ones a client that goes away gets (migrate-job.c), and they end
 * the job through the same Finish/Confirm paths (migrate.c); what the
 * driver's lost in-memory state would have undone in QEMU is found by name
 * instead (the "ferry-" prefix of every bitmap, export, node and block job
 * the engines create). That QEMU part is the only driver-specific code. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "migrate-priv.h"
#include "mir.h"
#include "qemu-priv.h"
#include "recover.h"

#define REC_QMP_TIMEOUT_MS 30000
#define REC_CANCEL_WAIT_MS 30000 /* a cancelled QEMU migration has ended by then */
#define REC_JOB_WAIT_MS    10000 /* a force-cancelled block job is gone by then */
#define REC_EXT            ".json"
#define RESTART_MSG        "the agent restarted"

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

static bool is_qemu(struct agent *ag)
{
    return ag->driver && strcmp(ag->driver->name, "qemu") == 0;
}

/* DOM's live QMP connection (borrowed), or NULL. */
static struct qmp_conn *live_qmp(struct agent *ag, struct agent_domain *dom)
{
    struct qemu_dom *p = is_qemu(ag) ? dom->priv : NULL;

    return p && p->qmp && qmp_conn_alive(p->qmp) ? p->qmp : NULL;
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

static json_object *jprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static json_object *jprintf(const char *fmt, ...)
{
    _cleanup_free_ char *s = NULL;
    va_list ap;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return json_object_new_string(s ? s : "");
}

static void add_str(json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v));
}

/* The names the engines give what they add to QEMU for the disks of DEF
 * (nbd/sync.c, agent/qemu-storage.c). For the operator reading a record:
 * the recovery itself sweeps every "ferry-" name. */
static void add_engine_names(json_object *o, const struct domain_def *def, bool source)
{
    json_object *bitmaps = json_object_new_array();
    json_object *exports = json_object_new_array();

    for (size_t i = 0; i < def->n_disks; i++) {
        const char *t = def->disks[i].target;
        if (source) {
            json_object_array_add(bitmaps, jprintf("ferry-mir-%s", t));
            json_object_array_add(exports, jprintf("ferry-src-%s", t));
            json_object_array_add(exports, jprintf("ferry-dirty-%s", t));
            json_object_array_add(exports, jprintf("ferry-final-%s", t));
        } else {
            json_object_array_add(exports, jprintf("ferry-in-%s", t));
        }
    }
    json_object_object_add(o, "bitmaps", bitmaps);
    json_object_object_add(o, "exports", exports);
}

void agent_job_record_save(struct agent *ag, struct agent_domain *dom)
{
    _cleanup_(json_object_putp) json_object *o = json_object_new_object();
    _cleanup_free_ char *dir = jobs_dir(ag);
    _cleanup_free_ char *path = record_path(ag, dom->def->name);
    struct agent_job *job = &dom->job;
    struct ferry_error err = {0};
    struct qemu_dom *p = is_qemu(ag) ? dom->priv : NULL;
    json_object *created = json_object_new_array();
    const char *text;
    bool source;
    int dfd;

    add_str(o, "domain", dom->def->name);
    add_str(o, "uuid", dom->def->uuid);
    pthread_mutex_lock(&job->lock);
    source = strcmp(job->operation, "migration-out") == 0;
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
    pthread_mutex_unlock(&job->lock);
    json_object_object_add(o, "created_targets", created);
    /* Set by the driver during Perform (a --timeout suspend, the
     * switchover); the job's claim keeps it still while we read it. */
    json_object_object_add(o, "we_paused", json_object_new_boolean(p && p->mig_we_paused));
    add_engine_names(o, dom->def, source);

    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
    if (ferry_mkdir_p(dir, 0700, &err) < 0 ||
        ferry_write_file_atomic(path, text, strlen(text), 0600, &err) < 0) {
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
    pthread_mutex_unlock(&dom->job.lock);
    agent_job_record_save(ag, dom);
}

void agent_job_record_preparing(struct agent *ag, struct agent_domain *dom,
                                const struct cookie *cookie_in)
{
    struct agent_job *job = &dom->job;

    pthread_mutex_lock(&job->lock);
    job->was_running = false;
    job->ending = JOB_ENDING_NONE;
    job->n_created = 0;
    job->created_sure = false;
    /* The QEMU driver's names (qemu_storage_prepare_targets): only a path
     * that does not exist yet can be one Prepare creates. */
    for (size_t i = 0; is_qemu(ag) && i < cookie_in->n_nbd_disks; i++) {
        const struct cookie_nbd_disk *cd = &cookie_in->nbd_disks[i];
        char path[sizeof job->created[0]];
        int n = snprintf(path, sizeof path, "%s/%s-%s.%s", ag->cfg.image_dir, dom->def->name,
                         cd->target, cd->format[0] ? cd->format : "raw");

        if (n > 0 && (size_t)n < sizeof path && access(path, F_OK) < 0 &&
            job->n_created < MIG_MAX_DISKS)
            snprintf(job->created[job->n_created++], sizeof job->created[0], "%s", path);
    }
    pthread_mutex_unlock(&job->lock);
    agent_job_record_save(ag, dom);
}

void agent_job_record_prepared(struct agent *ag, struct agent_domain *dom,
                               const struct domain_def *old_def)
{
    struct agent_job *job = &dom->job;
    const struct domain_def *def = dom->def;

    pthread_mutex_lock(&job->lock);
    job->n_created = 0;
    for (size_t i = 0; i < def->n_disks && job->n_created < MIG_MAX_DISKS; i++) {
        const struct domain_disk *d = &def->disks[i];
        const struct domain_disk *o = NULL;

        for (size_t k = 0; old_def && k < old_def->n_disks && !o; k++)
            if (strcmp(old_def->disks[k].target, d->target) == 0)
                o = &old_def->disks[k];

        if (d->source && (!o || !o->source || strcmp(o->source, d->source) != 0))
            snprintf(job->created[job->n_created++], sizeof job->created[0], "%s", d->source);
    }
    job->created_sure = true;
    pthread_mutex_unlock(&job->lock);
    agent_job_record_save(ag, dom);
}

/* ---- what the lost driver state would have undone in QEMU ---- */

static const char *jstr(json_object *o, const char *k)
{
    json_object *v = NULL;

    return o && json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static bool ferry_named(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* QEMU's outgoing migration status ("none" when it never migrated). */
static void migration_status(struct qmp_conn *qmp, char *buf, size_t len)
{
    _cleanup_(json_object_putp) json_object *q = NULL;
    const char *st;

    snprintf(buf, len, "unknown");
    if (qmp_conn_execute(qmp, "query-migrate", NULL, REC_QMP_TIMEOUT_MS, &q, NULL) < 0)
        return;
    st = jstr(q, "status");
    snprintf(buf, len, "%s", st ? st : "none");
}

static bool migration_running(const char *status)
{
    static const char *const done[] = {"none", "completed", "failed", "cancelled", "unknown"};

    return index_of(done, ARRAY_SIZE(done), status) < 0;
}

/* Cancels QEMU's migration if one runs and waits (bounded) until it has
 * ended. Returns the status it ended in. */
static void cancel_migration(struct qmp_conn *qmp, const char *name, char *buf, size_t len)
{
    int64_t deadline = ferry_now_ms() + REC_CANCEL_WAIT_MS;

    migration_status(qmp, buf, len);
    if (!migration_running(buf))
        return;
    ferry_info("domain '%s': cancelling QEMU's migration (status %s)", name, buf);
    qmp_conn_execute(qmp, "migrate_cancel", NULL, REC_QMP_TIMEOUT_MS, NULL, NULL);
    while (migration_running(buf) && ferry_now_ms() < deadline) {
        usleep(50 * 1000);
        migration_status(qmp, buf, len);
    }
    if (migration_running(buf))
        ferry_warn("domain '%s': QEMU's migration is still '%s' after migrate_cancel", name, buf);
}

static json_object *query(struct qmp_conn *qmp, const char *cmd, json_object *args)
{
    json_object *r = NULL;

    if (qmp_conn_execute(qmp, cmd, args, REC_QMP_TIMEOUT_MS, &r, NULL) < 0 ||
        !json_object_is_type(r, json_type_array)) {
        json_object_put(r);
        return NULL;
    }
    return r;
}

static size_t ferry_block_jobs(struct qmp_conn *qmp, bool cancel)
{
    _cleanup_(json_object_putp) json_object *jobs = query(qmp, "query-block-jobs", NULL);
    size_t n = 0;

    for (size_t i = 0; jobs && i < json_object_array_length(jobs); i++) {
        const char *dev = jstr(json_object_array_get_idx(jobs, i), "device");
        if (!ferry_named(dev, "ferry-"))
            continue;
        n++;
        if (cancel) {
            json_object *a = json_object_new_object();
            add_str(a, "device", dev);
            json_object_object_add(a, "force", json_object_new_boolean(true));
            qmp_conn_execute(qmp, "block-job-cancel", a, REC_QMP_TIMEOUT_MS, NULL, NULL);
        }
    }
    return n;
}

/* Removes every ferry block job, export, NBD client node and dirty bitmap
 * from the QEMU behind QMP; stops its NBD server when ferry had exports
 * there or STOP_SERVER. Adds what it removed to REMOVED (an array).
 * Best effort: each removal that fails is logged and the rest go on. */
static void sweep_storage(struct qmp_conn *qmp, const char *name, bool stop_server,
                          json_object *removed)
{
    _cleanup_(json_object_putp) json_object *exports = NULL;
    _cleanup_(json_object_putp) json_object *nodes = NULL;
    int64_t deadline;
    bool had_exports = false, found = false;

    /* Block jobs first: a job holds its target node. */
    if (ferry_block_jobs(qmp, true) > 0) {
        deadline = ferry_now_ms() + REC_JOB_WAIT_MS;
        while (ferry_block_jobs(qmp, false) > 0 && ferry_now_ms() < deadline)
            usleep(50 * 1000);
        json_object_array_add(removed, json_object_new_string("block-jobs"));
    }
    /* Exports next: an exported bitmap is locked until its export goes. */
    exports = query(qmp, "query-block-exports", NULL);
    for (size_t i = 0; exports && i < json_object_array_length(exports); i++) {
        const char *id = jstr(json_object_array_get_idx(exports, i), "id");
        struct ferry_error err = {0};

        if (!ferry_named(id, "ferry-"))
            continue;
        had_exports = true;
        if (mir_export_del(qmp, id, &err) < 0)
            ferry_warn("domain '%s': removing export '%s': %s", name, id, ferry_error_msg(&err));
        else
            json_object_array_add(removed, jprintf("export:%s", id));
    }
    json_object *args = json_object_new_object();
    json_object_object_add(args, "flat", json_object_new_boolean(true));
    nodes = query(qmp, "query-named-block-nodes", args);
    for (size_t i = 0; nodes && i < json_object_array_length(nodes); i++) {
        json_object *n = json_object_array_get_idx(nodes, i), *bitmaps = NULL;
        const char *node = jstr(n, "node-name");
        struct ferry_error err = {0};

        if (!node)
            continue;
        if (ferry_named(node, "ferry-mig-")) {
            /* engine 'qemu': the NBD client node of the mirror */
            json_object *a = json_object_new_object();
            add_str(a, "node-name", node);
            if (qmp_conn_execute(qmp, "blockdev-del", a, REC_QMP_TIMEOUT_MS, NULL, &err) < 0)
                ferry_warn("domain '%s': %s", name, ferry_error_msg(&err));
            else
                json_object_array_add(removed, jprintf("node:%s", node));
            found = true;
            continue;
        }
        if (!json_object_object_get_ex(n, "dirty-bitmaps", &bitmaps) ||
            !json_object_is_type(bitmaps, json_type_array))
            continue;
        for (size_t k = 0; k < json_object_array_length(bitmaps); k++) {
            const char *bm = jstr(json_object_array_get_idx(bitmaps, k), "name");
            if (!ferry_named(bm, "ferry-mir-"))
                continue;
            ferry_error_clear(&err);
            if (mir_bitmap_remove(qmp, node, bm, &err) < 0)
                ferry_warn("domain '%s': removing bitmap '%s': %s", name, bm,
                           ferry_error_msg(&err));
            else
                json_object_array_add(removed, jprintf("bitmap:%s", bm));
            found = true;
        }
    }
    /* The engines' NBD server (nbd/sync.c, the destination's exports):
     * nothing else starts one in a QEMU ferry runs. */
    if (had_exports || found || stop_server)
        qmp_conn_execute(qmp, "nbd-server-stop", NULL, REC_QMP_TIMEOUT_MS, NULL, NULL);
}

/* ---- recovery ---- */

struct record {
    char name[sizeof(((struct domain_def *)0)->name)];
    char operation[32];
    enum agent_job_phase phase;
    int version;
    unsigned flags;
    int engine;
    bool perform_done, was_running, we_paused, created_sure;
    int ending;
    int64_t started_wall_ms;
    size_t n_created;
    char created[MIG_MAX_DISKS][512];
};

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
    rec->we_paused = jbool(o, "we_paused");
    rec->created_sure = jbool(o, "created_sure");
    rec->started_wall_ms = jint(o, "started_wall_ms");
    if (json_object_object_get_ex(o, "created_targets", &created) &&
        json_object_is_type(created, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(created) && i < MIG_MAX_DISKS; i++) {
            const char *t = json_object_get_string(json_object_array_get_idx(created, i));
            if (t && t[0] == '/' && strlen(t) < sizeof rec->created[0])
                snprintf(rec->created[rec->n_created++], sizeof rec->created[0], "%s", t);
        }
    }
    return 0;
}

/* Removes the disk targets the record's Prepare created. Only paths
 * inside the image dir: a record is data from disk, not a licence to
 * delete anything anywhere. */
static void remove_targets(struct agent *ag, const struct record *rec, json_object *removed)
{
    size_t dl = strlen(ag->cfg.image_dir);

    while (dl > 1 && ag->cfg.image_dir[dl - 1] == '/')
        dl--;

    for (size_t i = 0; i < rec->n_created; i++) {
        const char *t = rec->created[i];
        if (strncmp(t, ag->cfg.image_dir, dl) != 0 || t[dl] != '/' || strstr(t, "/../"))
            continue;
        if (unlink(t) == 0) {
            ferry_info("removing target image '%s'", t);
            json_object_array_add(removed, jprintf("target:%s", t));
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
    struct qemu_dom *p = is_qemu(ag) ? qemu_priv(ag, dom) : NULL;

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
    job->orphaned = false;
    job->orphan_note[0] = '\0';
    job->stepping = true;
    pthread_mutex_unlock(&job->lock);
    pthread_mutex_lock(&dom->lock);
    dom->job_busy = true;
    pthread_mutex_unlock(&dom->lock);
    if (p) {
        /* What the driver's Begin and Perform knew: Confirm resumes by it. */
        p->mig_was_running = rec->was_running;
        p->mig_we_paused = rec->we_paused;
    }
}

/* As job.abort and a client's close mark a job they cancel. */
static void mark_cancelled(struct agent_domain *dom)
{
    pthread_mutex_lock(&dom->job.lock);
    dom->job.abort_requested = true;
    snprintf(dom->job.stats.status, sizeof dom->job.stats.status, "cancelled");
    pthread_mutex_unlock(&dom->job.lock);
}

/* The rule for a live guest's job: the close rules of a client that went
 * away (mig_orphan_rule: the agent's own clients are gone with it), plus
 * what only a restart can find, a Finish or Confirm half done. */
static enum orphan_action restart_rule(struct agent_domain *dom, const struct record *rec,
                                       const char *mstatus)
{
    bool source = strcmp(rec->operation, "migration-out") == 0;
    enum orphan_action a;

    if (rec->ending == JOB_ENDING_CANCELLED)
        return source ? ORPHAN_SOURCE_CANCEL : ORPHAN_DEST_TEARDOWN;
    if (rec->ending == JOB_ENDING_SUCCESS && !source)
        return ORPHAN_DEST_FINISH;
    pthread_mutex_lock(&dom->job.lock);
    a = mig_orphan_rule(&dom->job);
    pthread_mutex_unlock(&dom->job.lock);
    /* v2/v1 inside Perform once QEMU's stream completed: the destination
     * finishes a complete stream on its own (ORPHAN_DEST_FINISH), so the
     * source must not run the guest again; only an operator may decide. */
    if (a == ORPHAN_SOURCE_CANCEL && rec->version < 3 && rec->phase == JOB_PERFORM &&
        strcmp(mstatus, "completed") == 0)
        a = ORPHAN_SOURCE_KEEP;
    return a;
}

static void recover_live(struct agent *ag, struct agent_domain *dom, const struct record *rec,
                         json_object *removed)
{
    struct qmp_conn *qmp = live_qmp(ag, dom);
    bool copies = (rec->flags & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC)) != 0;
    _cleanup_free_ char *why =
        ferry_strdup_printf("%s during %s", RESTART_MSG, phase_str(rec->phase));
    struct ferry_error err = {0};
    struct mig_step s;
    char mstatus[32] = "none";
    const char *action = NULL;
    int r = 0;

    if (strcmp(rec->operation, "migration-out") == 0 && rec->ending == JOB_ENDING_SUCCESS) {
        /* Confirm of a migration that succeeded: the guest runs on the
         * destination now; this copy must not run again. */
        mig_step_from_job(ag, dom, &s);
        r = mig_confirm_locked(ag, &s, false, NULL, &err);
        mig_step_clear(ag, &s);
        action = "stopped";
        goto out;
    }
    if (qmp)
        migration_status(qmp, mstatus, sizeof mstatus);
    switch (restart_rule(dom, rec, mstatus)) {
    case ORPHAN_NONE: /* record_read admits no other operation; never leave it claimed */
        ferry_error_set(&err, EINVAL, "%s: no rule for operation '%s'", why, rec->operation);
        agent_job_finish(&dom->job, &err);
        agent_job_record_remove(ag, dom);
        pthread_mutex_lock(&dom->job.lock);
        dom->job.stepping = false;
        pthread_mutex_unlock(&dom->job.lock);
        agent_domain_end_job(dom);
        r = -EINVAL;
        break;
    case ORPHAN_SOURCE_KEEP:
        /* The point of no return: Finish may have started the guest on
         * the destination. Only Confirm or job.abort ends the job. */
        if (qmp)
            sweep_storage(qmp, rec->name, copies, removed);
        pthread_mutex_lock(&dom->job.lock);
        dom->job.orphaned = true;
        dom->job.stepping = false;
        snprintf(dom->job.orphan_note, sizeof dom->job.orphan_note,
                 "%s after Perform: the guest stays paused until migrate.confirm or job.abort",
                 RESTART_MSG);
        pthread_mutex_unlock(&dom->job.lock);
        agent_job_record_save(ag, dom);
        action = "kept-paused";
        break;
    case ORPHAN_SOURCE_CANCEL:
        /* What the lost Perform would have undone, then a cancelled
         * Confirm: the guest runs again if it ran before. */
        if (qmp) {
            cancel_migration(qmp, rec->name, mstatus, sizeof mstatus);
            sweep_storage(qmp, rec->name, copies, removed);
        }
        mark_cancelled(dom);
        mig_step_from_job(ag, dom, &s);
        r = mig_confirm_locked(ag, &s, true, why, &err);
        mig_step_clear(ag, &s);
        action = rec->was_running ? "resumed" : "cancelled";
        break;
    case ORPHAN_DEST_FINISH:
        /* A Finish of a success, or v2/v1 whose source may have sent a
         * complete stream: the driver's Finish waits for it and resumes
         * the guest, or tears it down. The NBD server goes first. */
        if (qmp)
            sweep_storage(qmp, rec->name, true, removed);
        mig_step_from_job(ag, dom, &s);
        r = mig_finish_locked(ag, &s, false, NULL, &err);
        mig_step_clear(ag, &s);
        action = r == 0 ? "finished" : "torn-down";
        if (r < 0)
            remove_targets(ag, rec, removed);
        break;
    case ORPHAN_DEST_TEARDOWN:
        /* The incoming QEMU and its NBD server go; the driver's state
         * that named the targets is gone, the record names them. */
        mark_cancelled(dom);
        mig_step_from_job(ag, dom, &s);
        r = mig_finish_locked(ag, &s, true, why, &err);
        mig_step_clear(ag, &s);
        remove_targets(ag, rec, removed);
        action = "torn-down";
        break;
    }
out:
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
}

/* A guest with no job may still carry what an engine added to it (a
 * record lost, or a crash between a removal and the record's). */
static void sweep_idle(struct agent *ag)
{
    struct agent_domain **doms = NULL;
    size_t n = agent_domain_list(ag, &doms);

    for (size_t i = 0; i < n; i++) {
        struct agent_domain *dom = doms[i];
        struct qmp_conn *qmp = NULL;

        bool incoming = false;

        pthread_mutex_lock(&dom->job.lock);
        if (!dom->job.active && dom->active) {
            incoming = dom->incoming;
            qmp = live_qmp(ag, dom);
        }
        pthread_mutex_unlock(&dom->job.lock);
        if (incoming) {
            /* An incoming QEMU whose Prepare left no record (an older
             * agent, a record that could not be written): nobody can
             * Finish it. Torn down as a recorded Prepare is, with no
             * targets known. */
            struct record rec = {.phase = JOB_PREPARE, .version = 3};
            snprintf(rec.name, sizeof rec.name, "%s", dom->def->name);
            snprintf(rec.operation, sizeof rec.operation, "migration-in");
            job_restore(ag, dom, &rec);
            recover_live(ag, dom, &rec, json_object_new_array());
        } else if (qmp) {
            json_object *removed = json_object_new_array();
            sweep_storage(qmp, dom->def->name, false, removed);
            if (json_object_array_length(removed) > 0)
                ferry_warn("domain '%s': removed what a migration left in QEMU: %s", dom->def->name,
                           json_object_to_json_string(removed));
            json_object_put(removed);
        }
        agent_domain_unref(ag, dom);
    }
    free(doms);
}

/* The unix sockets of NBD servers that sessions of an earlier agent
 * process started (nbd/sync.c: RUN/mir-PID-N.sock). No session of this
 * process exists yet; the servers themselves were stopped above. */
static void remove_stale_sockets(struct agent *ag)
{
    _cleanup_(closedirp) DIR *d = opendir(ag->run_dir);
    char mine[32];
    struct dirent *de;

    snprintf(mine, sizeof mine, "mir-%d-", (int)getpid());
    while (d && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        _cleanup_free_ char *path = NULL;

        if (strncmp(de->d_name, "mir-", 4) != 0 || strncmp(de->d_name, mine, strlen(mine)) == 0 ||
            len < 5 || strcmp(de->d_name + len - 5, ".sock") != 0)
            continue;
        path = ferry_strdup_printf("%s/%s", ag->run_dir, de->d_name);
        unlink(path);
    }
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
    if (is_qemu(ag)) {
        sweep_idle(ag);
        remove_stale_sockets(ag);
    }
}
