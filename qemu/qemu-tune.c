/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's runtime migration tuning: migrate-setspeed and
 * migrate-setmaxdowntime (also while a migration runs: RAM and the disk
 * copy together), the compression cache, and the bandwidth cap a
 * migration starts with. Moved out of qemu-migrate.c unchanged. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "qemu-priv.h"

#define QMP_TIMEOUT_MS 30000

/* ---- Runtime tuning: migrate-setspeed, migrate-setmaxdowntime ---- */

/* DOM has an outgoing migration job; *STEPPING: a step of it is inside
 * the driver now. */
static bool migrating_out(struct agent_domain *dom, bool *stepping)
{
    struct hv_job_facts job;

    hv_job_facts(dom, &job);
    if (stepping)
        *stepping = job.stepping;
    return job.active && job.outgoing;
}

static int set_max_bandwidth(struct qmp_conn *qmp, uint64_t mib, struct ferry_error *err)
{
    json_object *args = json_object_new_object();
    uint64_t bw = mib ? mib << 20 : QEMU_UNLIMITED_BANDWIDTH;

    json_object_object_add(args, "max-bandwidth", json_object_new_int64((int64_t)bw));
    return qmp_conn_execute(qmp, "migrate-set-parameters", args, QMP_TIMEOUT_MS, NULL, err);
}

/* Engine 'qemu': the speed of every blockdev-mirror job of ours (per job,
 * as --bandwidth sets it). Best effort: a job may end meanwhile. */
void qemu_tune_mirror_speed(struct qmp_conn *qmp, uint64_t mib)
{
    _cleanup_(json_object_putp) json_object *jobs = NULL;

    if (qmp_conn_execute(qmp, "query-block-jobs", NULL, QMP_TIMEOUT_MS, &jobs, NULL) < 0)
        return;
    for (size_t i = 0; i < json_object_array_length(jobs); i++) {
        json_object *dev = NULL, *args;

        if (!json_object_object_get_ex(json_object_array_get_idx(jobs, i), "device", &dev) ||
            strncmp(json_object_get_string(dev), "ferry-mig-", 10) != 0)
            continue;
        args = json_object_new_object();
        json_object_object_add(args, "device", json_object_new_string(json_object_get_string(dev)));
        json_object_object_add(args, "speed", json_object_new_int64((int64_t)(mib << 20)));
        if (qmp_conn_execute(qmp, "block-job-set-speed", args, QMP_TIMEOUT_MS, NULL, NULL) < 0)
            ferry_debug("block-job-set-speed %s failed (the job ended?)",
                        json_object_get_string(dev));
    }
}

/* The bandwidth cap of the migration M starts with: a migrate-setspeed
 * made since its Begin, else its own bandwidth parameter, else the
 * domain's migrate-setspeed default (0 = unlimited), as libvirt does. */
uint64_t qemu_tune_start_speed(struct mig_ctx *m)
{
    struct qemu_dom *p = ((struct qemu_dom *)m->dom->priv);
    uint64_t mib;

    pthread_mutex_lock(&p->mig_lock);
    if (!p->mig_speed_override)
        p->mig_speed_mib = m->params->bandwidth_mib ? m->params->bandwidth_mib
                           : p->speed_set           ? p->speed_mib
                                                    : 0;
    mib = p->mig_speed_mib;
    pthread_mutex_unlock(&p->mig_lock);
    return mib;
}

uint64_t qemu_tune_current_speed(struct mig_ctx *m)
{
    struct qemu_dom *p = m->dom->priv;
    uint64_t mib;

    pthread_mutex_lock(&p->mig_lock);
    mib = p->mig_speed_mib;
    pthread_mutex_unlock(&p->mig_lock);
    return mib;
}

/* ---- The storage copy's own cap (--bandwidth-disk) ---- */

uint64_t qemu_tune_disk_speed(struct mig_ctx *m)
{
    struct qemu_dom *p = m->dom->priv;
    uint64_t mib;

    pthread_mutex_lock(&p->mig_lock);
    mib = p->mig_disk_speed_set ? p->mig_disk_speed_mib : p->mig_speed_mib;
    pthread_mutex_unlock(&p->mig_lock);
    return mib;
}

void qemu_tune_start_disk_speed(struct mig_ctx *m)
{
    struct qemu_dom *p = m->dom->priv;

    pthread_mutex_lock(&p->mig_lock);
    /* A migrate-setspeed-disk since Begin (mig_disk_speed_set while the
     * job is outgoing) wins over the parameter, as for RAM. */
    if (!p->mig_disk_speed_set && m->params->bandwidth_disk_mib) {
        p->mig_disk_speed_set = true;
        p->mig_disk_speed_mib = m->params->bandwidth_disk_mib;
    }
    pthread_mutex_unlock(&p->mig_lock);
}

/* migrate-setspeed-disk: only while DOM migrates out (the cap belongs to
 * that migration; the next one takes --bandwidth-disk or --bandwidth).
 * Applied to the running copy at once: engine 'ferry' through its
 * session, engine 'qemu' through block-job-set-speed. */
static int set_disk_speed(struct agent_domain *dom, struct qmp_conn *qmp, uint64_t mib,
                          struct ferry_error *err)
{
    struct qemu_dom *p = dom->priv;

    if (!migrating_out(dom, NULL))
        return ferry_error_set(err, EINVAL,
                               "no outgoing migration (give a new one --bandwidth-disk)");
    pthread_mutex_lock(&p->mig_lock);
    p->mig_disk_speed_set = true;
    p->mig_disk_speed_mib = mib;
    qemu_storage_set_bandwidth(p, mib << 20);
    pthread_mutex_unlock(&p->mig_lock);
    qemu_tune_mirror_speed(qmp, mib);
    return 0;
}

int qemu_migrate_set_param(struct agent *ag, struct agent_domain *dom, int param, uint64_t value,
                           struct ferry_error *err)
{
    struct qmp_conn *qmp = qemu_dom_qmp(dom, err);
    struct qemu_dom *p = dom->priv;
    json_object *args;
    bool out;
    int r;

    (void)ag;
    if (!qmp)
        return -ENOTCONN;
    switch (param) {
    case HV_MIG_MAX_DOWNTIME:
        /* QEMU reads downtime-limit at every iteration: a running
         * migration uses the new value at once, and a later one keeps it
         * unless it names max_downtime. A running one also splits it
         * between RAM and storage (qemu_converge_downtime_split). */
        if (migrating_out(dom, NULL)) {
            pthread_mutex_lock(&p->mig_lock);
            p->mig_downtime_ms = value;
            pthread_mutex_unlock(&p->mig_lock);
        }
        args = json_object_new_object();
        json_object_object_add(args, "downtime-limit", json_object_new_int64((int64_t)value));
        return qmp_conn_execute(qmp, "migrate-set-parameters", args, QMP_TIMEOUT_MS, NULL, err);
    case HV_MIG_MAX_BANDWIDTH:
        /* QEMU first: if it refuses, nothing changed. */
        if ((r = set_max_bandwidth(qmp, value, err)) < 0)
            return r;
        out = migrating_out(dom, NULL);
        pthread_mutex_lock(&p->mig_lock);
        p->speed_set = true;
        p->speed_mib = value;
        /* A disk copy with a cap of its own keeps it. */
        bool disks_follow = out && !p->mig_disk_speed_set;
        if (out) {
            p->mig_speed_mib = value;
            p->mig_speed_override = true;
            /* Engine 'ferry': while Perform runs its copy may exist (a
             * no-op otherwise; a Perform starting meanwhile reads the
             * override). */
            if (disks_follow)
                qemu_storage_set_bandwidth(p, value << 20);
        }
        pthread_mutex_unlock(&p->mig_lock);
        if (disks_follow)
            qemu_tune_mirror_speed(qmp, value);
        return 0;
    case HV_MIG_DISK_BANDWIDTH:
        return set_disk_speed(dom, qmp, value, err);
    case HV_MIG_XBZRLE_CACHE:
        return qemu_compress_set_cache(qmp, value, err);
    default:
        return ferry_error_set(err, EINVAL, "unknown migration parameter %d", param);
    }
}

int qemu_migrate_get_param(struct agent *ag, struct agent_domain *dom, int param,
                           uint64_t *ret_value, struct ferry_error *err)
{
    struct qmp_conn *qmp = qemu_dom_qmp(dom, err);
    struct qemu_dom *p = dom->priv;
    _cleanup_(json_object_putp) json_object *q = NULL;
    json_object *v = NULL;
    int r;

    (void)ag;
    if (!qmp)
        return -ENOTCONN;
    switch (param) {
    case HV_MIG_MAX_DOWNTIME:
        if ((r = qmp_conn_execute(qmp, "query-migrate-parameters", NULL, QMP_TIMEOUT_MS, &q, err)) <
            0)
            return r;
        if (!json_object_object_get_ex(q, "downtime-limit", &v) ||
            !json_object_is_type(v, json_type_int))
            return ferry_error_set(err, EPROTO, "query-migrate-parameters: no downtime-limit");
        *ret_value = (uint64_t)json_object_get_int64(v);
        return 0;
    case HV_MIG_MAX_BANDWIDTH:
        /* ferry's value, not QEMU's max-bandwidth: QEMU's default (128
         * MiB/s) is not what the next migration would use. */
        {
            bool stepping = false, out = migrating_out(dom, &stepping);

            pthread_mutex_lock(&p->mig_lock);
            if (out && (p->mig_speed_override || stepping))
                *ret_value = p->mig_speed_mib;
            else
                *ret_value = p->speed_set ? p->speed_mib : 0;
            pthread_mutex_unlock(&p->mig_lock);
        }
        return 0;
    case HV_MIG_XBZRLE_CACHE:
        return qemu_compress_get_cache(qmp, ret_value, err);
    case HV_MIG_DISK_BANDWIDTH:
        if (!migrating_out(dom, NULL))
            return ferry_error_set(err, EINVAL, "no outgoing migration");
        pthread_mutex_lock(&p->mig_lock);
        *ret_value = p->mig_disk_speed_set ? p->mig_disk_speed_mib : p->mig_speed_mib;
        pthread_mutex_unlock(&p->mig_lock);
        return 0;
    default:
        return ferry_error_set(err, EINVAL, "unknown migration parameter %d", param);
    }
}

/* Perform's poll tick: a migrate-setspeed that raced with set_params at
 * the start of the RAM migration is applied now. */
void qemu_tune_reconcile_speed(struct mig_ctx *m, struct qmp_conn *qmp, uint64_t *applied_mib)
{
    uint64_t want = qemu_tune_current_speed(m);

    if (want != *applied_mib && set_max_bandwidth(qmp, want, NULL) == 0)
        *applied_mib = want;
}
