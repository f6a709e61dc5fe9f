/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hypervisor-neutral half of migration: control-API methods for each
 * step, the job that spans them, statistics and abort. The driver does the
 * hypervisor's part through struct hv_driver; this file never knows which
 * driver it drives.
 *
 * Source job: Begin claims the domain, Confirm releases it (v3). Perform
 * with version 2 or 1 claims and releases it itself. Destination job:
 * Prepare creates the incoming domain and claims it, Finish releases it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "admission.h"
#include "api.h"
#include "cleanup.h"
#include "client.h"
#include "ferry-config.h"
#include "json-cleanup.h"
#include "location.h"
#include "migparams.h"
#include "migrate-priv.h"
#include "roots.h"
#include "orchestrate.h"
#include "job-record.h"
#include "job.h"
#include "tunnel.h"
#include "volumes.h"

void mig_step_clear(struct agent *ag, struct mig_step *s)
{
    if (s->claimed && s->dom) {
        pthread_mutex_lock(&s->dom->job.lock);
        s->dom->job.stepping = false;
        pthread_mutex_unlock(&s->dom->job.lock);
        s->claimed = false;
    }
    mig_params_clear(&s->params);
    free(s->m.uri);
    s->m.uri = NULL;
    for (size_t i = 0; i < MIG_MAX_DISKS; i++) {
        free(s->m.target_paths[i]);
        s->m.target_paths[i] = NULL;
    }
    if (s->dom)
        agent_domain_unref(ag, s->dom);
    s->dom = NULL;
}

/* Parses what every step takes: params, version, cookie. */
static int step_init(struct api_ctx *ctx, json_object *in, struct mig_step *s,
                     struct ferry_error *err)
{
    json_object *v = NULL;
    const char *cookie = NULL;
    int r;

    memset(s, 0, sizeof *s);
    s->m.agent = ctx->ag;
    s->m.version = 3;
    if (json_object_object_get_ex(in, "version", &v)) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int(v) < 1 ||
            json_object_get_int(v) > 3)
            return ferry_error_set(err, EINVAL, "'version' must be 1, 2 or 3");
        s->m.version = json_object_get_int(v);
        if (!(ctx->ag->cfg.max_version >= (unsigned)s->m.version))
            return ferry_error_set(err, EPROTONOSUPPORT,
                                   "migration protocol v%d is disabled on this agent",
                                   s->m.version);
    }
    r = mig_params_from_json(json_object_object_get(in, "params"), &s->params, err);
    if (r < 0)
        return r;
    r = mig_params_validate_for(&s->params, ctx->ag->driver, err);
    if (r < 0)
        return r;
    s->m.params = &s->params;
    if ((r = api_param_str(in, "cookie", false, &cookie, err)) < 0)
        return r;
    r = cookie_parse(cookie, cookie ? strlen(cookie) : 0, &s->m.cookie_in, err);
    if (r < 0) {
        ferry_error_prefix(err, "migration cookie");
        return r;
    }
    return 0;
}

/* Checks that S's domain holds a job of OPERATION (in phase WANT_PHASE
 * unless it is JOB_NONE) started by an earlier step of this migration, and
 * moves it to SET_PHASE (unless JOB_NONE). WHAT completes the message
 * "domain 'X' has no WHAT". */
static int step_check_job(struct mig_step *s, const char *operation,
                          enum agent_job_phase want_phase, enum agent_job_phase set_phase,
                          const char *what, struct ferry_error *err)
{
    struct agent_job *job = &s->dom->job;
    int r = 0;

    pthread_mutex_lock(&job->lock);
    if (!s->dom->job_busy || !job->active || strcmp(job->operation, operation) != 0 ||
        (want_phase != JOB_NONE && job->phase != want_phase))
        r = ferry_error_set(err, EINVAL, "domain '%s' has no %s", s->dom->def->name, what);
    else if (job->stepping)
        /* Another connection runs a step of it, or its owner's close is
         * being cleaned up: one step at a time. */
        r = ferry_error_set(err, EBUSY, "domain '%s': another step of its migration is running",
                            s->dom->def->name);
    if (r == 0) {
        job->stepping = true;
        s->claimed = true;
        if (set_phase != JOB_NONE && set_phase != job->phase)
            agent_job_enter(job, set_phase);
    }
    pthread_mutex_unlock(&job->lock);
    if (r == 0) {
        s->m.dom = s->dom;
        s->m.job = job;
    }
    return r;
}

static void fill_cookie_identity(struct agent *ag, const struct domain_def *def, struct cookie *c)
{
    snprintf(c->name, sizeof c->name, "%s", def->name);
    snprintf(c->uuid, sizeof c->uuid, "%s", def->uuid);
    snprintf(c->hostname, sizeof c->hostname, "%s", ag->hostname);
    snprintf(c->hostuuid, sizeof c->hostuuid, "%s", ag->host_uuid);
}

static json_object *cookie_json(const struct cookie *c)
{
    _cleanup_free_ char *xml = cookie_format(c);

    return json_object_new_string(xml ? xml : "");
}

static void job_set_phase(struct agent_domain *dom, enum agent_job_phase ph)
{
    pthread_mutex_lock(&dom->job.lock);
    agent_job_enter(&dom->job, ph);
    pthread_mutex_unlock(&dom->job.lock);
}

/* Binds the job S's first step just started to the connection the step
 * came on (none for the steps peer-to-peer runs inside the agent), keeps
 * what a cleanup at its close needs, and marks the step as running. */
static void job_own(struct api_ctx *ctx, struct mig_step *s)
{
    struct agent_job *job = &s->dom->job;

    pthread_mutex_lock(&job->lock);
    job->owner_conn = ctx->conn ? ctx->conn_id : 0;
    job->owner_flags = s->params.flags;
    job->owner_engine = (int)s->params.storage_engine;
    job->owner_version = s->m.version;
    job->orphaned = false;
    job->perform_done = false;
    job->orphan_note[0] = '\0';
    job->stepping = true;
    s->claimed = true;
    pthread_mutex_unlock(&job->lock);
}

static void job_publish(struct agent *ag, struct agent_domain *dom, const char *what,
                        const struct ferry_error *err)
{
    json_object *d = json_object_new_object();

    json_object_object_add(d, "operation", json_object_new_string(dom->job.operation));
    if (err && ferry_error_is_set(err))
        json_object_object_add(d, "error", json_object_new_string(ferry_error_msg(err)));
    agent_emit_event(ag, what, dom->def->name, d);
}

/* ---- Begin (source) ---- */

int api_migrate_begin(struct api_ctx *ctx, json_object *params, json_object **ret,
                      struct ferry_error *err)
{
    struct agent *ag = ctx->ag;
    struct mig_step s;
    const char *name;
    _cleanup_free_ char *xml = NULL;
    struct domain_def *def = NULL;
    int r;

    if ((r = step_init(ctx, params, &s, err)) < 0)
        goto out;
    if ((r = api_param_str(params, "name", true, &name, err)) < 0)
        goto out;
    s.dom = agent_domain_lookup(ag, name);
    if (!s.dom) {
        r = ferry_error_set(err, ENOENT, "domain '%s' not found", name);
        goto out;
    }
    if (!(s.params.flags & MIG_OFFLINE) && !s.dom->active) {
        r = ferry_error_set(err, EINVAL,
                            "domain '%s' is not running (use --offline to move "
                            "its definition only)",
                            name);
        goto out;
    }
    if ((s.params.flags & MIG_OFFLINE) && !s.dom->persistent_def && !s.dom->active) {
        r = ferry_error_set(err, EINVAL, "domain '%s' has no definition to migrate", name);
        goto out;
    }
    if ((s.params.flags & MIG_OFFLINE) && !s.dom->active) {
        /* A definition whose disks' data left would travel as a stale one. */
        pthread_mutex_lock(&s.dom->lock);
        r = agent_location_check_start(s.dom, err);
        pthread_mutex_unlock(&s.dom->lock);
        if (r < 0) {
            ferry_error_prefix(err, "offline migration");
            goto out;
        }
    }
    /* Checked and started under the admission lock: two Begins at once
     * cannot both take the last slot under --max-outgoing. */
    if ((r = agent_admission_enter(ag, "migration-out", err)) < 0)
        goto out;
    r = agent_domain_begin_job(s.dom, "migration-out", err);
    if (r == 0)
        agent_job_start(&s.dom->job, "migration-out");
    agent_admission_leave();
    if (r < 0)
        goto out;
    job_set_phase(s.dom, JOB_BEGIN);
    agent_job_mark(&s.dom->job, "begin", false);
    job_own(ctx, &s);
    s.m.dom = s.dom;
    s.m.job = &s.dom->job;

    r = agent_volumes_check_params(&s.params, s.dom->def, err);
    if (r == 0)
        r = ag->driver->migrate_begin(&s.m, err);
    if (r < 0)
        goto fail_job;
    agent_job_record_begin(ag, s.dom);

    pthread_mutex_lock(&s.dom->lock);
    def = domain_def_copy((s.params.flags & MIG_OFFLINE) && s.dom->persistent_def
                              ? s.dom->persistent_def
                              : s.dom->def);
    pthread_mutex_unlock(&s.dom->lock);
    if (s.params.dname)
        snprintf(def->name, sizeof def->name, "%s", s.params.dname);
    xml = domain_def_format(def);
    fill_cookie_identity(ag, s.dom->def, &s.m.cookie_out);
    s.m.cookie_out.persistent = s.dom->persistent_def != NULL;
    domain_def_free(def);
    agent_job_mark(&s.dom->job, "begin", true);

    *ret = json_object_new_object();
    json_object_object_add(*ret, "xml", json_object_new_string(xml ? xml : ""));
    json_object_object_add(*ret, "cookie", cookie_json(&s.m.cookie_out));
    job_publish(ag, s.dom, "migration-started", NULL);
    r = 0;
    goto out;

fail_job:
    agent_job_finish(&s.dom->job, err);
    agent_domain_end_job(s.dom);
out:
    mig_step_clear(ag, &s);
    return r;
}

/* ---- Prepare (destination) ---- */

int api_migrate_prepare(struct api_ctx *ctx, json_object *params, json_object **ret,
                        struct ferry_error *err)
{
    struct agent *ag = ctx->ag;
    struct mig_step s;
    const char *xml = NULL, *dest_host = NULL;
    struct domain_def *def = NULL;
    struct agent_domain *existing = NULL;
    bool created = false;
    int r;

    if ((r = step_init(ctx, params, &s, err)) < 0)
        goto out;
    if ((r = api_param_str(params, "xml", s.m.version >= 2, &xml, err)) < 0 ||
        (r = api_param_str(params, "dest_host", false, &dest_host, err)) < 0)
        goto out;
    /* Maintenance and --max-incoming, before anything is made; checked
     * again, atomically, where the job starts. */
    if ((r = agent_admission_check(ag, "migration-in", err)) < 0)
        goto out;
    if (s.m.cookie_in.hostuuid[0] && strcasecmp(s.m.cookie_in.hostuuid, ag->host_uuid) == 0) {
        r = ferry_error_set(err, EINVAL,
                            "attempt to migrate guest to the same host: the source's host uuid "
                            "%s is ours",
                            ag->host_uuid);
        goto out;
    }
    if (s.m.version == 1 || !xml) {
        r = ferry_error_set(err, ENOTSUP,
                            "driver '%s' needs the domain XML in Prepare "
                            "(protocol v2 or later)",
                            ag->driver->name);
        /* A driver whose stream carries the configuration serves v1. */
        if (ag->driver->min_version == 1)
            ferry_error_clear(err), r = 0;
        if (r < 0)
            goto out;
    }
    if (xml) {
        const char *use = s.params.dest_xml ? s.params.dest_xml : xml;
        if ((r = domain_def_parse(use, strlen(use), &def, err)) < 0) {
            ferry_error_prefix(err, "domain XML from the source");
            goto out;
        }
        if (s.params.dname)
            snprintf(def->name, sizeof def->name, "%s", s.params.dname);
        /* The paths this host's QEMU will open: shared disks, kept
         * paths, firmware and kernel, under our roots, not the source's. */
        if ((r = agent_roots_check(ag, def, &s.params, err)) < 0) {
            ferry_error_prefix(err, "prepare '%s'", def->name);
            goto out;
        }
        if (s.m.cookie_in.uuid[0] && strcasecmp(s.m.cookie_in.uuid, def->uuid) != 0) {
            r = ferry_error_set(err, EINVAL,
                                "domain uuid %s in the XML differs from the cookie's %s", def->uuid,
                                s.m.cookie_in.uuid);
            goto out;
        }
        existing = agent_domain_lookup(ag, def->name);
        if (!existing)
            existing = agent_domain_lookup_uuid(ag, def->uuid);
        if (existing) {
            /* An inactive definition of the same guest may be there (a
             * previous migration with --persistent); anything else is a
             * conflict. */
            pthread_mutex_lock(&existing->lock);
            if (existing->active || existing->job_busy ||
                strcasecmp(existing->def->uuid, def->uuid) != 0 ||
                strcmp(existing->def->name, def->name) != 0) {
                r = ferry_error_set(err, EEXIST,
                                    "domain '%s' (uuid %s) already exists on the destination%s",
                                    existing->def->name, existing->def->uuid,
                                    existing->active ? " and is running" : "");
                pthread_mutex_unlock(&existing->lock);
                goto out;
            }
            domain_def_free(existing->def);
            existing->def = TAKE_PTR(def);
            existing->job_busy = true;
            pthread_mutex_unlock(&existing->lock);
            s.dom = TAKE_PTR(existing);
        } else {
            if ((r = agent_domain_add(ag, TAKE_PTR(def), &s.dom, err)) < 0)
                goto out;
            created = true;
            s.dom->job_busy = true;
        }
    } else {
        /* v1: the driver learns the domain from its own stream. */
        const char *sname = NULL;
        if ((r = api_param_str(params, "source_name", true, &sname, err)) < 0)
            goto out;
        def = ferry_calloc(1, sizeof *def);
        snprintf(def->name, sizeof def->name, "%s", s.params.dname ? s.params.dname : sname);
        ferry_uuid_generate(def->uuid);
        def->memory_kib = 1024;
        def->vcpus = 1;
        if ((r = agent_domain_add(ag, TAKE_PTR(def), &s.dom, err)) < 0)
            goto out;
        created = true;
        s.dom->job_busy = true;
    }
    if ((r = agent_admission_enter(ag, "migration-in", err)) < 0) {
        agent_domain_end_job(s.dom);
        if (created)
            agent_domain_remove(ag, s.dom);
        goto out;
    }
    agent_job_start(&s.dom->job, "migration-in");
    agent_admission_leave();
    job_set_phase(s.dom, JOB_PREPARE);
    agent_job_mark(&s.dom->job, "prepare", false);
    job_own(ctx, &s);
    s.m.dom = s.dom;
    s.m.job = &s.dom->job;
    if (dest_host && !s.params.migrate_uri)
        s.m.uri = ferry_strdup(dest_host); /* a hint: the driver builds the real URI */
    fill_cookie_identity(ag, s.dom->def, &s.m.cookie_out);
    if (s.params.flags & MIG_TUNNELLED) {
        char u[FERRY_UUID_STRLEN];
        ferry_uuid_generate(u);
        s.m.tunnel_id = (uint32_t)strtoul(u, NULL, 16) | 1u; /* never 0 */
    }

    /* Where the disks go, all checked before anything is created; a
     * crash inside Prepare must still find the targets it made. */
    r = mig_images_plan(ag, &s, xml, err);
    agent_job_record_preparing(ag, s.dom, s.m.target_paths, s.m.cookie_in.n_nbd_disks);
    if (r == 0)
        r = ag->driver->migrate_prepare(&s.m, err);
    if (r == 0 && (s.params.flags & MIG_TUNNELLED)) {
        if (!s.m.tunnel_path)
            r = ferry_error_set(err, ENOTSUP, "driver '%s' cannot receive a tunnelled migration",
                                ag->driver->name);
        else
            r = tunnel_register(s.m.tunnel_id, s.m.tunnel_path, s.dom->def->name, s.m.tunnel_duplex,
                                err);
        if (r < 0) {
            struct mig_ctx c = s.m;
            c.cancelled = true;
            ag->driver->migrate_finish(&c, NULL);
        }
    }
    free(s.m.tunnel_path);
    s.m.tunnel_path = NULL;
    if (r < 0) {
        ferry_error_prefix(err, "prepare '%s'", s.dom->def->name);
        agent_job_record_remove(ag, s.dom);
        agent_job_finish(&s.dom->job, err);
        agent_domain_end_job(s.dom);
        if (created)
            agent_domain_remove(ag, s.dom);
        goto out;
    }
    agent_job_record_prepared(ag, s.dom);
    /* The source learns when Prepare ran (and the driver's steps in it,
     * such as the destination QEMU's start) from this cookie. */
    agent_job_mark(&s.dom->job, "prepare", true);
    agent_job_copy_timeline(&s.dom->job, &s.m.cookie_out.timeline);
    *ret = json_object_new_object();
    json_object_object_add(*ret, "cookie", cookie_json(&s.m.cookie_out));
    json_object_object_add(*ret, "uri", json_object_new_string(s.m.uri ? s.m.uri : ""));
    json_object_object_add(*ret, "name", json_object_new_string(s.dom->def->name));
    job_publish(ag, s.dom, "migration-incoming", NULL);
out:
    domain_def_free(def);
    if (existing)
        agent_domain_unref(ag, existing);
    mig_step_clear(ag, &s);
    return r;
}

/* ---- Perform (source) ---- */

/* A driver's tunnel flags travel as the DATA frame's own flags. */
_Static_assert(HV_TUNNEL_EOF == WIRE_FLAG_EOF && HV_TUNNEL_ABORT == WIRE_FLAG_ABORT,
               "hv.h's tunnel flags are the wire's DATA flags");

static int tunnel_send(void *opaque, uint32_t stream, uint32_t flags, const void *buf, size_t len,
                       struct ferry_error *err)
{
    return ctl_client_send_data(opaque, stream, flags, buf, len, err);
}

static int tunnel_recv(void *opaque, uint32_t stream, int timeout_ms, uint32_t *ret_flags,
                       void **ret_buf, size_t *ret_len, struct ferry_error *err)
{
    return ctl_client_recv_data(opaque, stream, timeout_ms, ret_flags, ret_buf, ret_len, err);
}

void mig_publish_abandoned(struct agent *ag, struct agent_domain *dom, const char *phase,
                           const char *action)
{
    json_object *d = json_object_new_object();

    json_object_object_add(d, "operation", json_object_new_string(dom->job.operation));
    json_object_object_add(d, "phase", json_object_new_string(phase));
    json_object_object_add(d, "action", json_object_new_string(action));
    json_object_object_add(d, "error", json_object_new_string(CLIENT_GONE_MSG));
    agent_emit_event(ag, "migration-abandoned", dom->def->name, d);
}

int api_migrate_perform(struct api_ctx *ctx, json_object *params, json_object **ret,
                        struct ferry_error *err)
{
    struct agent *ag = ctx->ag;
    struct mig_step s;
    const char *name, *uri = NULL;
    bool own_job = false, orphaned = false;
    struct conn_watch watch;
    int r;

    if ((r = step_init(ctx, params, &s, err)) < 0)
        goto out;
    if ((r = api_param_str(params, "name", true, &name, err)) < 0 ||
        (r = api_param_str(params, "uri", false, &uri, err)) < 0)
        goto out;
    s.dom = agent_domain_lookup(ag, name);
    if (!s.dom) {
        r = ferry_error_set(err, ENOENT, "domain '%s' not found", name);
        goto out;
    }
    if (s.m.version >= 3) {
        /* Begin claimed the job; Perform must come from the same
         * migration. */
        r = step_check_job(&s, "migration-out", JOB_BEGIN, JOB_NONE,
                           "migration in the begin phase (call migrate.begin first)", err);
        if (r < 0)
            goto out;
    } else {
        if (!(s.params.flags & MIG_OFFLINE) && !s.dom->active) {
            r = ferry_error_set(err, EINVAL, "domain '%s' is not running", name);
            goto out;
        }
        if ((r = agent_admission_enter(ag, "migration-out", err)) < 0)
            goto out;
        r = agent_domain_begin_job(s.dom, "migration-out", err);
        if (r == 0)
            agent_job_start(&s.dom->job, "migration-out");
        agent_admission_leave();
        if (r < 0)
            goto out;
        own_job = true;
        job_own(ctx, &s);
        agent_job_record_begin(ag, s.dom);
    }
    s.m.dom = s.dom;
    s.m.job = &s.dom->job;
    s.m.uri = uri ? ferry_strdup(uri) : NULL;
    fill_cookie_identity(ag, s.dom->def, &s.m.cookie_out);
    if (s.params.flags & MIG_TUNNELLED) {
        if (!ctx->p2p_dest) {
            r = ferry_error_set(err, EINVAL,
                                "tunnelled migration needs peer2peer: the source "
                                "agent must hold the connection to the destination");
            goto out_job;
        }
        s.m.tunnel_send = tunnel_send;
        s.m.tunnel_recv = tunnel_recv;
        s.m.tunnel_opaque = ctx->p2p_dest;
    }

    mig_watch_start(&watch, ag, s.dom, ctx->conn, ctx->p2p_dest);
    pthread_mutex_lock(&s.dom->job.lock);
    agent_job_enter(&s.dom->job, JOB_PERFORM);
    s.dom->job.ctx = &s.m;
    r = s.dom->job.abort_requested ? -ECANCELED : 0;
    pthread_mutex_unlock(&s.dom->job.lock);
    agent_job_merge_timeline(&s.dom->job, &s.m.cookie_in.timeline); /* the destination's Prepare */
    agent_job_mark(&s.dom->job, "perform", false);
    agent_job_record_save(ag, s.dom);
    if (r < 0) {
        ferry_error_set(err, ECANCELED, "migration of '%s' was cancelled", name);
    } else {
        mig_images_leaving(ag, &s);
        r = ag->driver->migrate_perform(&s.m, err);
    }
    agent_job_mark(&s.dom->job, "perform", true);
    mig_watch_stop(&watch);
    pthread_mutex_lock(&s.dom->job.lock);
    s.dom->job.ctx = NULL;
    orphaned = s.dom->job.orphaned;
    if (r < 0 && s.dom->job.abort_reason[0]) {
        /* Name what died, not the cancel it caused. */
        ferry_error_clear(err);
        r = ferry_error_set(err, ECONNRESET, "%s", s.dom->job.abort_reason);
    }
    /* v3: Perform's success is the point of no return only once its
     * answer can reach the client, which then calls Finish. */
    if (r == 0 && !own_job && !orphaned)
        s.dom->job.perform_done = true;
    pthread_mutex_unlock(&s.dom->job.lock);
    /* Before the answer leaves: a client that saw Perform succeed must
     * find the guest kept paused by a restarted agent. */
    if (r == 0 && !own_job && !orphaned)
        agent_job_record_save(ag, s.dom);
    if (orphaned && (r < 0 || !own_job)) {
        /* v3: nobody learns that Perform succeeded, so nobody calls Finish
         * with success: this is a failure (the destination tears its side
         * down). v2/v1 keep a success: the source guest is gone then, and
         * the destination finishes a complete incoming migration. */
        ferry_error_clear(err);
        r = ferry_error_set(err, ECONNRESET, "%s", CLIENT_GONE_MSG);
    }

out_job:
    if (own_job) {
        /* v2/v1: no Confirm will come; this step ends the job. */
        struct ferry_error cerr = {0};
        mig_confirm_locked(ag, &s, r < 0, NULL, r < 0 ? err : &cerr);
        if (r == 0 && ferry_error_is_set(&cerr))
            *err = cerr, r = -EIO;
    }
    if (r < 0)
        goto out;
    s.m.cookie_out.stats = s.dom->job.stats;
    cookie_add_feature(&s.m.cookie_out, COOKIE_FEATURE_STATISTICS);
    *ret = json_object_new_object();
    json_object_object_add(*ret, "cookie", cookie_json(&s.m.cookie_out));
out:
    mig_step_clear(ag, &s);
    return r;
}

/* ---- the end of a job: Finish and Confirm alike ---- */

/* Ends S's job with OUTCOME (NULL or unset: success) and releases the
 * domain: the job's record goes, the event says SUCCESS or failure, a
 * domain that runs nowhere here and has no definition is forgotten (an
 * INCOMING one whatever the outcome, an outgoing one once it left), and
 * with COLLECT_WHY the images ferryd made that nothing names any more are
 * removed. The one way every migration job ends. */
static void job_end(struct agent *ag, struct mig_step *s, const struct ferry_error *outcome,
                    bool success, bool incoming, const char *collect_why)
{
    bool drop;

    agent_job_finish(&s->dom->job, outcome);
    agent_job_record_remove(ag, s->dom);
    pthread_mutex_lock(&s->dom->lock);
    if (incoming)
        s->dom->incoming = false;
    drop = (incoming || success) && !s->dom->active && !s->dom->persistent_def;
    s->dom->job_busy = false;
    pthread_mutex_unlock(&s->dom->lock);
    job_publish(ag, s->dom, success ? "migration-completed" : "migration-failed", outcome);
    if (drop && !incoming)
        agent_job_keep_departed(ag, s->dom);
    if (drop)
        agent_domain_remove(ag, s->dom);
    if (collect_why)
        mig_images_collect(ag, s, collect_why);
}

/* ---- Finish (destination) ---- */

/* Ends the destination job: the driver resumes the incoming guest, or
 * (CANCELLED) kills it and removes what Prepare created; then the job is
 * released and an incoming domain nobody defined is forgotten. WHY
 * (may be NULL) names the failure a cancelled job records. */
int mig_finish_locked(struct agent *ag, struct mig_step *s, bool cancelled, const char *why,
                      struct ferry_error *err)
{
    struct ferry_error cerr = {0};
    int r;

    s->m.cancelled = cancelled;
    pthread_mutex_lock(&s->dom->job.lock);
    agent_job_enter(&s->dom->job, JOB_FINISH);
    s->dom->job.ending = cancelled ? JOB_ENDING_CANCELLED : JOB_ENDING_SUCCESS;
    pthread_mutex_unlock(&s->dom->job.lock);
    agent_job_mark(&s->dom->job, "finish", false);
    agent_job_record_save(ag, s->dom);
    fill_cookie_identity(ag, s->dom->def, &s->m.cookie_out);
    r = ag->driver->migrate_finish(&s->m, err);
    /* Confirm's cookie: the source merges the destination's whole side. */
    agent_job_mark(&s->dom->job, "finish", true);
    agent_job_copy_timeline(&s->dom->job, &s->m.cookie_out.timeline);
    tunnel_drop(s->dom->def->name);
    if (r == 0 && !cancelled) {
        if (s->m.cookie_in.stats.set) {
            pthread_mutex_lock(&s->dom->job.lock);
            s->dom->job.stats = s->m.cookie_in.stats;
            s->dom->job.stats.set = true;
            pthread_mutex_unlock(&s->dom->job.lock);
        }
        if (s->params.flags & MIG_PERSIST_DEST) {
            pthread_mutex_lock(&s->dom->lock);
            domain_def_free(s->dom->persistent_def);
            s->dom->persistent_def = domain_def_copy(s->dom->def);
            pthread_mutex_unlock(&s->dom->lock);
            r = agent_domain_save_def(ag, s->dom, err);
        }
        mig_images_arrived(ag, s);
    }
    if (cancelled && r == 0)
        ferry_error_set(&cerr, ECANCELED, "%s", why ? why : "migration cancelled");
    job_end(ag, s, r < 0 ? err : &cerr, r == 0 && !cancelled, true,
            r == 0 && !cancelled ? "the guest arrived with new copies" : NULL);
    return r;
}

int api_migrate_finish(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err)
{
    struct agent *ag = ctx->ag;
    struct mig_step s;
    const char *name;
    bool cancelled = false;
    int r;

    if ((r = step_init(ctx, params, &s, err)) < 0)
        goto out;
    if ((r = api_param_str(params, "name", true, &name, err)) < 0 ||
        (r = api_param_bool(params, "cancelled", &cancelled, err)) < 0)
        goto out;
    s.dom = agent_domain_lookup(ag, name);
    if (!s.dom) {
        r = ferry_error_set(err, ENOENT, "no incoming migration of domain '%s'", name);
        goto out;
    }
    r = step_check_job(&s, "migration-in", JOB_NONE, JOB_FINISH, "incoming migration", err);
    if (r < 0)
        goto out;
    r = mig_finish_locked(ag, &s, cancelled, NULL, err);
    if (r < 0)
        goto out;
    *ret = json_object_new_object();
    json_object_object_add(*ret, "cookie", cookie_json(&s.m.cookie_out));
    json_object_object_add(*ret, "name", json_object_new_string(s.dom->def->name));
out:
    mig_step_clear(ag, &s);
    return r;
}

/* ---- Confirm (source) ---- */

/* Ends the source job: on success the driver stops the source guest; on
 * failure it resumes it. Then the job is released. WHY (may be NULL) names
 * the failure a cancelled job records. */
int mig_confirm_locked(struct agent *ag, struct mig_step *s, bool cancelled, const char *why,
                       struct ferry_error *err)
{
    struct ferry_error cerr = {0};
    int r;

    pthread_mutex_lock(&s->dom->job.lock);
    agent_job_enter(&s->dom->job, JOB_CONFIRM);
    s->dom->job.ending = cancelled ? JOB_ENDING_CANCELLED : JOB_ENDING_SUCCESS;
    pthread_mutex_unlock(&s->dom->job.lock);
    agent_job_merge_timeline(&s->dom->job, &s->m.cookie_in.timeline); /* Finish's cookie */
    agent_job_mark(&s->dom->job, "confirm", false);
    agent_job_record_save(ag, s->dom);
    s->m.cancelled = cancelled;
    r = ag->driver->migrate_confirm(&s->m, err);
    agent_job_mark(&s->dom->job, "confirm", true);
    if (r == HV_CONFIRM_COMPLETED) {
        /* Post-copy: cancelled past the switch, but the hypervisor says the
         * destination holds the whole guest. It ends as a success. */
        ferry_error_clear(err);
        cancelled = false;
        r = 0;
    }
    if (!cancelled && r == 0 && (s->params.flags & MIG_UNDEFINE_SOURCE)) {
        pthread_mutex_lock(&s->dom->lock);
        if (s->dom->persistent_def) {
            r = agent_domain_delete_def(ag, s->dom->def->name, err);
            if (r == 0) {
                domain_def_free(s->dom->persistent_def);
                s->dom->persistent_def = NULL;
            }
        }
        pthread_mutex_unlock(&s->dom->lock);
    }
    if (r == 0)
        mig_images_confirmed(ag, s, cancelled);
    if (cancelled && !ferry_error_is_set(err))
        ferry_error_set(&cerr, ECANCELED, "%s", why ? why : "migration cancelled or failed");
    job_end(ag, s, ferry_error_is_set(err) ? err : (cancelled ? &cerr : NULL), !cancelled, false,
            r == 0 && !cancelled ? "the guest left this host" : NULL);
    return r;
}

int api_migrate_confirm(struct api_ctx *ctx, json_object *params, json_object **ret,
                        struct ferry_error *err)
{
    struct agent *ag = ctx->ag;
    struct mig_step s;
    const char *name, *why = NULL;
    bool cancelled = false;
    int r;

    (void)ret;
    if ((r = step_init(ctx, params, &s, err)) < 0)
        goto out;
    /* ERROR: with CANCELLED, why the migration failed elsewhere (a
     * destination's refusal, a failed Finish), so that the source's job
     * records the real reason rather than "cancelled". */
    if ((r = api_param_str(params, "name", true, &name, err)) < 0 ||
        (r = api_param_bool(params, "cancelled", &cancelled, err)) < 0 ||
        (r = api_param_str(params, "error", false, &why, err)) < 0)
        goto out;
    s.dom = agent_domain_lookup(ag, name);
    if (!s.dom) {
        r = ferry_error_set(err, ENOENT, "domain '%s' not found", name);
        goto out;
    }
    r = step_check_job(&s, "migration-out", JOB_NONE, JOB_NONE, "outgoing migration to confirm",
                       err);
    if (r < 0)
        goto out;
    r = mig_confirm_locked(ag, &s, cancelled, cancelled ? why : NULL, err);
out:
    mig_step_clear(ag, &s);
    return r;
}
