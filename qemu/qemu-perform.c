/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's Perform on the source: the storage copy until the
 * disks converge (qemu-storage.c), then RAM migration over QMP, polled
 * for its figures and watched for a stall, an abort and the post-copy
 * switch, with the final disk pass at pre-switchover while the guest is
 * paused; and the query-migrate figures the other steps read too. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "json.h"
#include "migparams.h"
#include "qemu-priv.h"

#define QMP_TIMEOUT_MS   30000
#define POLL_INTERVAL_MS 250
/* A RAM migration that moves no byte for this long is stuck (a peer that
 * stopped reading, a wedged tunnel): cancel it rather than wait forever. */
#define STALL_TIMEOUT_MS 120000

/* Copies query-migrate figures into the job statistics. */
static void update_stats(struct mig_ctx *m, json_object *q)
{
    json_object *ram = NULL, *st = NULL;
    struct cookie_stats *s;

    json_object_object_get_ex(q, "ram", &ram);
    s = hv_job_stats_lock(m);
    if (json_object_object_get_ex(q, "status", &st) && strcmp(s->status, "cancelled") != 0)
        snprintf(s->status, sizeof s->status, "%s", json_object_get_string(st));
    if (ram) {
        uint64_t page = ferry_json_u64(ram, "page-size") ? ferry_json_u64(ram, "page-size") : 4096;
        s->memory_total = ferry_json_u64(ram, "total");
        s->memory_processed = ferry_json_u64(ram, "transferred");
        s->memory_transferred = ferry_json_u64(ram, "transferred");
        s->memory_remaining = ferry_json_u64(ram, "remaining");
        s->memory_bps = (uint64_t)(json_object_get_double(json_object_object_get(ram, "mbps")) *
                                   1000000.0 / 8.0);
        s->memory_dirty_rate = ferry_json_u64(ram, "dirty-pages-rate");
        s->memory_iteration = ferry_json_u64(ram, "dirty-sync-count");
        s->memory_normal_pages = ferry_json_u64(ram, "normal");
        s->memory_duplicate_pages = ferry_json_u64(ram, "duplicate");
        (void)page;
    }
    qemu_compress_stats(q, s);
    if (ferry_json_has(q, "downtime"))
        s->downtime_ms = (int64_t)ferry_json_u64(q, "downtime");
    else if (ferry_json_has(q, "expected-downtime"))
        s->downtime_ms = (int64_t)ferry_json_u64(q, "expected-downtime");
    if (ferry_json_has(q, "setup-time"))
        s->setup_time_ms = (int64_t)ferry_json_u64(q, "setup-time");
    hv_job_stats_unlock(m);
}

/* From a query-migrate reply Q: its status into STATUS and its error-desc
 * into ERRDESC ("" when absent); either buffer may be NULL. */
static void status_of(json_object *q, char *status, size_t sl, char *errdesc, size_t el)
{
    json_object *v = NULL;

    if (status)
        snprintf(status, sl, "%s",
                 json_object_object_get_ex(q, "status", &v) ? json_object_get_string(v) : "");
    if (errdesc)
        snprintf(errdesc, el, "%s",
                 json_object_object_get_ex(q, "error-desc", &v) ? json_object_get_string(v) : "");
}

int qemu_migrate_poll_stats(struct mig_ctx *m, struct qmp_conn *qmp, char *status, size_t sl,
                            char *errdesc, size_t el)
{
    _cleanup_(json_object_putp) json_object *q = NULL;
    int r;

    r = qmp_conn_execute(qmp, "query-migrate", NULL, QMP_TIMEOUT_MS, &q, NULL);
    if (r < 0)
        return r;
    update_stats(m, q);
    status_of(q, status, sl, errdesc, el);
    return 0;
}

static bool is_migration_event(const char *name, json_object *data, void *opaque)
{
    (void)data;
    (void)opaque;
    return strcmp(name, "MIGRATION") == 0 || strcmp(name, "BLOCK_IO_ERROR") == 0;
}

static bool abort_requested(struct mig_ctx *m)
{
    bool a;

    a = hv_job_abort_requested(m);
    return a;
}

/* QEMU's migration status into BUF ("" when it cannot say), and its
 * error-desc into ERRDESC when there is one. */
int qemu_migrate_query_status(struct qmp_conn *qmp, char *buf, size_t len, char *errdesc, size_t el,
                              struct ferry_error *err)
{
    _cleanup_(json_object_putp) json_object *q = NULL;
    int r = qmp_conn_execute(qmp, "query-migrate", NULL, QMP_TIMEOUT_MS, &q, err);

    if (r < 0)
        return r;
    status_of(q, buf, len, errdesc, el);
    return 0;
}

#define PROGRESS_INTERVAL_MS 1000

static int perform_ram(struct mig_ctx *m, struct qmp_conn *qmp, const char *uri,
                       struct ferry_error *err)
{
    struct qemu_dom *p = qemu_mig_priv(m);
    const struct mig_params *mp = m->params;
    int64_t start = ferry_now_ms(), last_progress = start;
    uint64_t last_moved = 0;
    bool suspended = false, cancel_sent = false;
    /* Post-copy asked of QEMU; a migrate-continue given since then may
     * start post-copy, which a migrate_cancel would break. */
    bool pc_asked = false, pc_switching = false;
    uint64_t applied_mib = mp->bandwidth_mib; /* what set_params gives QEMU */
    uint64_t applied_downtime = 0;            /* 0: unknown, set at the first tick */
    uint64_t seq;
    json_object *args;
    char errdesc[512] = "";
    int r;

    if ((r = qemu_compress_source_prepare(m, qmp, err)) < 0 ||
        (r = qemu_migrate_set_caps(qmp, mp, true, err)) < 0 ||
        (r = qemu_migrate_set_params(qmp, mp, true, err)) < 0)
        return r;
    seq = qmp_conn_event_seq(qmp);
    args = json_object_new_object();
    json_object_object_add(args, "uri", json_object_new_string(uri ? uri : m->uri));
    if ((r = qmp_conn_execute(qmp, "migrate", args, QMP_TIMEOUT_MS, NULL, err)) < 0)
        return r;
    /* RAM pre-copy until QEMU pauses the guest (pre-switchover) or goes
     * post-copy; a failure leaves it open and the job's end closes it. */
    hv_job_mark(m, "ram", HV_MARK_START);
    pthread_mutex_lock(&p->mig_lock);
    p->mig_ram_running = true;
    pthread_mutex_unlock(&p->mig_lock);

    for (;;) {
        _cleanup_(json_object_putp) json_object *ev = NULL;
        struct ferry_error werr = {0};
        const char *status = NULL;
        json_object *data = NULL, *st = NULL;

        r = qmp_conn_wait_event(qmp, seq, is_migration_event, NULL, POLL_INTERVAL_MS, &ev, &seq,
                                &werr);
        if (r == -ETIMEDOUT) {
            char s[64] = "";
            uint64_t moved;
            qemu_migrate_poll_stats(m, qmp, s, sizeof s, NULL, 0);
            moved = hv_job_stats_lock(m)->memory_transferred;
            hv_job_stats_unlock(m);
            if (moved != last_moved || strcmp(s, "pre-switchover") == 0) {
                last_moved = moved;
                last_progress = ferry_now_ms();
            } else if (!cancel_sent && !pc_switching &&
                       ferry_now_ms() - last_progress > STALL_TIMEOUT_MS) {
                qmp_conn_execute(qmp, "migrate_cancel", NULL, QMP_TIMEOUT_MS, NULL, NULL);
                cancel_sent = true;
                ferry_error_set(err, ETIMEDOUT,
                                "migration of '%s' made no progress for %d s (status '%s')",
                                m->dom->def->name, STALL_TIMEOUT_MS / 1000, s);
            }
            qemu_storage_update_stats(m);
            qemu_migrate_progress_tick(m);
            qemu_tune_reconcile_speed(m, qmp, &applied_mib);
            if (mp->flags & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC))
                qemu_converge_downtime_split(m, qmp, &applied_downtime);
            qemu_postcopy_tick(m, qmp, &pc_asked);
            if (abort_requested(m) && !cancel_sent && !pc_switching) {
                qmp_conn_execute(qmp, "migrate_cancel", NULL, QMP_TIMEOUT_MS, NULL, NULL);
                cancel_sent = true;
            }
            if (mp->timeout_s && !suspended && mp->timeout_postcopy &&
                ferry_now_ms() - start > (int64_t)mp->timeout_s * 1000) {
                /* --timeout --timeout-postcopy: switch to post-copy
                 * instead of suspending (virsh's action); asked at the
                 * next tick. */
                suspended = true;
                pthread_mutex_lock(&p->mig_lock);
                p->mig_postcopy_wanted = true;
                pthread_mutex_unlock(&p->mig_lock);
                hv_emit_event(m->agent, "migration-timeout-postcopy", m->dom->def->name, NULL);
            } else if (mp->timeout_s && !suspended &&
                       ferry_now_ms() - start > (int64_t)mp->timeout_s * 1000) {
                /* --timeout: the guest is paused so the copy converges
                 * (libvirt's suspend action). */
                if (qmp_conn_execute(qmp, "stop", NULL, QMP_TIMEOUT_MS, NULL, NULL) == 0) {
                    suspended = true;
                    p->mig_we_paused = true;
                    hv_emit_event(m->agent, "migration-timeout-suspend", m->dom->def->name, NULL);
                }
            }
            continue;
        }
        if (r < 0) {
            *err = werr;
            ferry_error_prefix(err, "source QEMU");
            return r;
        }
        if (strcmp(json_object_get_string(json_object_object_get(ev, "event")), "BLOCK_IO_ERROR") ==
            0) {
            json_object *dev = NULL;
            json_object_object_get_ex(ev, "data", &data);
            json_object_object_get_ex(data, "qom-path", &dev);
            if (!(mp->flags & MIG_ABORT_ON_ERROR) || cancel_sent || pc_switching)
                continue;
            /* --abort-on-error: a guest I/O error ends the migration; the
             * guest stays on the source, where its error policy applies. */
            qmp_conn_execute(qmp, "migrate_cancel", NULL, QMP_TIMEOUT_MS, NULL, NULL);
            cancel_sent = true;
            ferry_error_set(err, EIO, "I/O error on %s during migration (--abort-on-error)",
                            dev ? json_object_get_string(dev) : "a disk");
            continue;
        }
        if (json_object_object_get_ex(ev, "data", &data) &&
            json_object_object_get_ex(data, "status", &st))
            status = json_object_get_string(st);
        if (!status)
            continue;
        ferry_debug("migration '%s': %s", m->dom->def->name, status);
        if (strcmp(status, "pre-switchover") == 0) {
            /* The guest is paused and its I/O drained: last storage pass,
             * then let QEMU switch over. No monitor command may write an
             * image from here on (qemu_handover_set). */
            p->mig_we_paused = true;
            qemu_handover_set(p, true);
            hv_job_mark(m, "ram", HV_MARK_END);
            hv_job_mark(m, "pre-switchover", HV_MARK_START);
            if (abort_requested(m)) {
                qmp_conn_execute(qmp, "migrate_cancel", NULL, QMP_TIMEOUT_MS, NULL, NULL);
                cancel_sent = true;
                continue;
            }
            hv_job_mark(m, "final-pass", HV_MARK_START);
            r = qemu_storage_switchover(m, err);
            hv_job_mark(m, "final-pass", HV_MARK_END);
            if (r < 0) {
                qmp_conn_execute(qmp, "migrate_cancel", NULL, QMP_TIMEOUT_MS, NULL, NULL);
                return r;
            }
            pthread_mutex_lock(&p->mig_lock);
            pc_switching = p->mig_postcopy_wanted;
            pthread_mutex_unlock(&p->mig_lock);
            args = json_object_new_object();
            json_object_object_add(args, "state", json_object_new_string("pre-switchover"));
            if ((r = qmp_conn_execute(qmp, "migrate-continue", args, QMP_TIMEOUT_MS, NULL, err)) <
                0)
                return r;
            /* From here QEMU sends the last RAM and the device state. */
            hv_job_mark(m, "pre-switchover", HV_MARK_END);
            hv_job_mark(m, "switchover", HV_MARK_START);
        } else if (strcmp(status, "postcopy-active") == 0) {
            /* The point of no return (see "Post-copy" above): the guest
             * is stopped here for good and will run on the destination. */
            pthread_mutex_lock(&p->mig_lock);
            p->mig_postcopy_active = true;
            pthread_mutex_unlock(&p->mig_lock);
            p->mig_we_paused = true;
            hv_job_mark(m, "ram", HV_MARK_END);
            hv_job_mark(m, "switchover", HV_MARK_END);
            qemu_migrate_poll_stats(m, qmp, NULL, 0, NULL, 0);
            ferry_debug("migration '%s': post-copy started", m->dom->def->name);
            return 0;
        } else if (strcmp(status, "completed") == 0) {
            /* QEMU announces "completed" before it computes the downtime
             * and total time: query until they are there (bounded). */
            for (int i = 0; i < 50; i++) {
                int64_t dt;
                qemu_migrate_poll_stats(m, qmp, NULL, 0, NULL, 0);
                dt = hv_job_stats_lock(m)->downtime_ms;
                hv_job_stats_unlock(m);
                if (dt > 0)
                    break;
                usleep(20 * 1000);
            }
            hv_job_mark(m, "ram", HV_MARK_END); /* no pre-switchover: not ferry's engine */
            hv_job_mark(m, "switchover", HV_MARK_END);
            return 0;
        } else if (strcmp(status, "failed") == 0) {
            qemu_migrate_poll_stats(m, qmp, NULL, 0, errdesc, sizeof errdesc);
            return ferry_error_set(err, EIO, "migration failed%s%s", errdesc[0] ? ": " : "",
                                   errdesc);
        } else if (strcmp(status, "cancelled") == 0) {
            return ferry_error_set(err, ECANCELED, "migration of '%s' was cancelled",
                                   m->dom->def->name);
        }
    }
}

void qemu_migrate_progress_tick(struct mig_ctx *m)
{
    struct qemu_dom *p = qemu_mig_priv(m);
    int64_t now = ferry_now_ms();

    /* Once a second, from whichever loop of Perform runs (the storage
     * copy's wait for convergence, then RAM's poll). */
    if (now - p->mig_progress_ms < PROGRESS_INTERVAL_MS)
        return;
    p->mig_progress_ms = now;
    hv_job_emit_progress(m);
}

/* --tls on the source: the client credentials, checked against
 * --tls-destination or else the host of the migration URI. */
static int tls_start_source(struct mig_ctx *m, struct ferry_error *err)
{
    char host[256] = "";
    unsigned port;
    int r;

    if (m->params->tls_destination)
        snprintf(host, sizeof host, "%s", m->params->tls_destination);
    else if (strncmp(m->uri, "tcp:", 4) == 0 &&
             (r = qemu_parse_tcp_uri(m->uri, host, sizeof host, &port, err)) < 0)
        return r;
    return qemu_tls_setup(m->agent, qemu_mig_priv(m)->qmp, false, host[0] ? host : NULL, err);
}

int qemu_migrate_perform(struct mig_ctx *m, struct ferry_error *err)
{
    struct qemu_dom *p = qemu_mig_priv(m);
    const struct mig_params *given = m->params;
    struct mig_params eff;
    int r;

    if (m->params->flags & MIG_OFFLINE)
        return 0;
    if ((r = qemu_postcopy_check_version(m, err)) < 0)
        return r;
    if (!p || !p->qmp || !m->dom->active)
        return ferry_error_set(err, ENOTCONN, "domain '%s' is not running", m->dom->def->name);
    if (!m->uri || !*m->uri)
        return ferry_error_set(err, EINVAL, "perform: no migration URI from the destination");
    if (m->version < 3) {
        /* No Begin ran: take what it would have. */
        if ((r = qemu_migrate_begin(m, err)) < 0)
            return r;
    }
    /* The steps below read the bandwidth cap from the parameters: give
     * them a copy holding the cap this migration runs with (strings stay
     * owned by GIVEN). migrate-setspeed changes it while they run. */
    eff = *given;
    eff.bandwidth_mib = qemu_tune_start_speed(m);
    /* The storage copy reads its cap from bandwidth_disk_mib: its own
     * (--bandwidth-disk) or the RAM cap. */
    qemu_tune_start_disk_speed(m);
    qemu_converge_start_downtime(m);
    eff.bandwidth_disk_mib = qemu_tune_disk_speed(m);
    m->params = &eff;
    r = (given->flags & MIG_TLS) ? tls_start_source(m, err) : 0;
    p->stream_psk = false;
    if (r == 0 && !(given->flags & MIG_TLS) && m->cookie_in.stream_psk[0]) {
        /* The destination's per-migration key, from its Prepare cookie. */
        r = qemu_tls_setup_psk(m->agent, p->qmp, m->dom->def->name, false, m->cookie_in.stream_psk,
                               NULL, err);
        p->stream_psk = r == 0;
    }
    if (r == 0) {
        /* Storage: setup, the bulk pass and dirty passes until the disks
         * converge (their own steps are marked inside). */
        hv_job_mark(m, "storage", HV_MARK_START);
        r = qemu_storage_start(m, err);
        hv_job_mark(m, "storage", HV_MARK_END);
    }
    eff.bandwidth_mib = qemu_tune_current_speed(m);
    if (r == 0 && qemu_tune_disk_speed(m) != eff.bandwidth_disk_mib) {
        /* A migrate-setspeed(-disk) while the copy was being set up. */
        eff.bandwidth_disk_mib = qemu_tune_disk_speed(m);
        pthread_mutex_lock(&p->mig_lock);
        qemu_storage_set_bandwidth(p, eff.bandwidth_disk_mib << 20);
        pthread_mutex_unlock(&p->mig_lock);
        qemu_tune_mirror_speed(p->qmp, eff.bandwidth_disk_mib);
    }
    if (r == 0 && m->tunnel_send) {
        struct qemu_relay rl;
        _cleanup_free_ char *uri = NULL;

        r = qemu_relay_start(m, &rl, &uri, err);
        if (r == 0) {
            r = perform_ram(m, p->qmp, uri, err);
            /* On success the whole stream must reach the destination
             * before Finish: drain, and fail Perform if it cannot. */
            if (qemu_relay_stop(&rl, r == 0) < 0 && r == 0)
                r = rl.result;
            if (r < 0 && rl.result < 0) {
                /* The relay's error is the root cause of QEMU's. */
                ferry_error_clear(err);
                *err = rl.err;
            }
        }
    } else if (r == 0) {
        r = perform_ram(m, p->qmp, NULL, err);
    }
    pthread_mutex_lock(&p->mig_lock);
    p->mig_ram_running = false;
    pthread_mutex_unlock(&p->mig_lock);
    if (r == 0)
        r = qemu_nvram_digest_source(m, err);
    qemu_storage_update_stats(m);
    qemu_storage_stop(m);
    if ((given->flags & MIG_TLS) || p->stream_psk)
        qemu_tls_teardown(p->qmp); /* after the NBD client nodes that used it */
    if (p->stream_psk)
        qemu_tls_psk_remove(m->agent, m->dom->def->name);
    p->stream_psk = false;
    m->params = given;
    return r;
}

void qemu_migrate_cancel(struct mig_ctx *m)
{
    struct qemu_dom *p = qemu_mig_priv(m);

    /* Called with the job lock held: only fire-and-forget work here. The
     * perform loop notices the abort flag and cancels QEMU's migration. */
    qemu_storage_cancel(m);
    (void)p;
}
