/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Storage migration for the QEMU driver: the disks that are not on shared
 * storage travel with the guest.
 *
 *  Begin (source):        checks the disks named for copying; puts each one's
 *                         capacity, format, allocation and (for
 *                         --copy-storage-inc) backing file in the cookie.
 *  Prepare (destination): checks room in the image dir, creates the targets,
 *                         starts QEMU's NBD server and one writable export per
 *                         disk; the cookie's <nbd> says where.
 *  Perform (source):      engine 'ferry' (nbd/: io_uring + libnbd, dirty
 *                         bitmaps, passes while RAM moves) or 'qemu'
 *                         (blockdev-mirror into the export, libvirt's way);
 *                         the last pass runs at pre-switchover, guest paused.
 *  Finish (destination):  stops the NBD server; on failure removes targets.
 *
 * This file is the source's side; Prepare and Finish are in
 * qemu-storage-dest.c.
 *
 * The source's disks are only ever read: any failure leaves them as the
 * guest left them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "json.h"
#include "migparams.h"
#include "mir-sync.h"
#include "qemu-priv.h"
#include "qemu-storage.h"

#define QMP_TIMEOUT_MS 30000
#define WAIT_SLICE_MS  250
struct storage *qemu_storage_get(struct mig_ctx *m)
{
    struct qemu_dom *p = qemu_priv(m->agent, m->dom);

    if (!p->storage)
        p->storage = ferry_calloc(1, sizeof(struct storage));
    return p->storage;
}

void qemu_storage_host_of_uri(const char *uri, char *host, size_t hl)
{
    const char *s = uri;
    const char *colon;

    if (strncmp(s, "tcp://", 6) == 0)
        s += 6;
    else if (strncmp(s, "tcp:", 4) == 0)
        s += 4;
    colon = strrchr(s, ':');
    snprintf(host, hl, "%.*s", colon ? (int)(colon - s) : (int)strlen(s), s);
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
}

/* ---- Begin (source) ---- */

/* The query-block entry whose node is f-TARGET. Borrowed from BLOCKS. */
static json_object *find_inserted(json_object *blocks, const char *target)
{
    char node[40];

    snprintf(node, sizeof node, "f-%s", target);
    for (size_t i = 0; i < json_object_array_length(blocks); i++) {
        json_object *ins = NULL, *nn = NULL;
        if (json_object_object_get_ex(json_object_array_get_idx(blocks, i), "inserted", &ins) &&
            json_object_object_get_ex(ins, "node-name", &nn) &&
            strcmp(json_object_get_string(nn), node) == 0)
            return ins;
    }
    return NULL;
}

int qemu_storage_check(struct mig_ctx *m, struct ferry_error *err)
{
    const struct mig_params *mp = m->params;
    struct domain_def *def = m->dom->def;
    struct qemu_dom *p = m->dom->priv;
    _cleanup_(json_object_putp) json_object *blocks = NULL;
    struct cookie *c = &m->cookie_out;
    int r;

    if (!qemu_storage_copies(m))
        return 0;
    /* Every disk named must exist and be copyable: libvirt's checks. */
    for (size_t i = 0; i < mp->n_migrate_disks; i++) {
        const struct domain_disk *d = domain_def_find_disk(def, mp->migrate_disks[i]);
        if (!d)
            return ferry_error_set(err, EINVAL,
                                   "migrate_disks: domain '%s' has no disk with target '%s'",
                                   def->name, mp->migrate_disks[i]);
        if (!d->source)
            return ferry_error_set(err, EINVAL, "migrate_disks: cannot copy empty disk '%s'",
                                   d->target);
        if (d->readonly)
            return ferry_error_set(err, EINVAL, "migrate_disks: cannot copy read-only disk '%s'",
                                   d->target);
        if (d->shareable)
            return ferry_error_set(err, EINVAL,
                                   "migrate_disks: cannot copy shareable disk '%s' (it is on "
                                   "shared storage by definition)",
                                   d->target);
    }
    if (!p || !p->qmp)
        return ferry_error_set(err, ENOTCONN, "domain '%s' is not running", def->name);
    r = qmp_conn_execute(p->qmp, "query-block", NULL, QMP_TIMEOUT_MS, &blocks, err);
    if (r < 0)
        return r;
    c->has_nbd = true;
    for (size_t i = 0; i < def->n_disks; i++) {
        const struct domain_disk *d = &def->disks[i];
        struct cookie_nbd_disk *cd;
        json_object *ins, *img = NULL, *v = NULL;
        struct stat st;

        if (!mig_params_copies_disk(mp, d))
            continue;
        ins = find_inserted(blocks, d->target);
        if (!ins || !json_object_object_get_ex(ins, "image", &img))
            return ferry_error_set(err, ENOENT, "disk '%s': QEMU does not report its image",
                                   d->target);
        cd = &c->nbd_disks[c->n_nbd_disks++];
        memset(cd, 0, sizeof *cd);
        snprintf(cd->target, sizeof cd->target, "%s", d->target);
        snprintf(cd->format, sizeof cd->format, "%s", domain_disk_format_name(d->format));
        if (json_object_object_get_ex(img, "virtual-size", &v))
            cd->capacity = (uint64_t)json_object_get_int64(v);
        if (stat(d->source, &st) == 0)
            cd->allocation = (uint64_t)st.st_blocks * 512;
        if ((mp->flags & MIG_NON_SHARED_INC) && ferry_json_str(img, "full-backing-filename")) {
            snprintf(cd->backing, sizeof cd->backing, "%s",
                     ferry_json_str(img, "full-backing-filename"));
            if (ferry_json_str(img, "backing-filename-format"))
                snprintf(cd->backing_format, sizeof cd->backing_format, "%s",
                         ferry_json_str(img, "backing-filename-format"));
        }
        if (cd->capacity == 0)
            return ferry_error_set(err, EINVAL, "migrate_disks: cannot copy empty disk '%s'",
                                   d->target);
    }
    return 0;
}

/* ---- Perform (source) ---- */

static bool abort_requested(struct mig_ctx *m)
{
    return hv_job_abort_requested(m);
}

/* False once the source QEMU's monitor closed (QEMU died or was stopped):
 * the monitor-closed event, seen through the connection's state. P->qmp
 * may be retired (set NULL) by another thread meanwhile. */
static bool source_qemu_alive(struct qemu_dom *p)
{
    struct qmp_conn *q = __atomic_load_n(&p->qmp, __ATOMIC_SEQ_CST);

    return q && qmp_conn_alive(q);
}

static const struct cookie_nbd_disk *dest_disk(const struct mig_ctx *m, const char *target)
{
    for (size_t i = 0; i < m->cookie_in.n_nbd_disks; i++)
        if (strcmp(m->cookie_in.nbd_disks[i].target, target) == 0)
            return &m->cookie_in.nbd_disks[i];
    return NULL;
}

/* Where the source connects to the destination's NBD server: HOST and
 * *RET_PORT from disks_connect_uri when given (validated as tcp://...),
 * else the cookie's address. */
static void nbd_host(const struct mig_ctx *m, char *host, size_t hl, unsigned *ret_port)
{
    const char *h = m->cookie_in.nbd_host;
    const char *cu = m->params->disks_connect_uri;
    const char *c;
    uint64_t v = 0;

    *ret_port = m->cookie_in.nbd_port;
    if (cu && (c = strrchr(cu + 6, ':')) && ferry_parse_u64(c + 1, &v) == 0 && v > 0 &&
        v <= 65535) {
        qemu_storage_host_of_uri(cu, host, hl);
        *ret_port = (unsigned)v;
    } else if (!h[0] || strcmp(h, "0.0.0.0") == 0 || strcmp(h, "::") == 0) {
        qemu_storage_host_of_uri(m->uri ? m->uri : "", host, hl);
    } else {
        snprintf(host, hl, "%s", h);
    }
}

/* The session's steps (bulk and dirty passes, flushes) on the job's
 * timeline; called from its worker threads. */
static void on_sync_step(void *opaque, const char *name, bool end)
{
    hv_job_mark(opaque, name, end ? HV_MARK_END : HV_MARK_START);
}

/* The slowest disk's predicted final pass (mirror/sync-converge.c), for
 * qemu_converge_downtime_split: under mig_lock, as s->sync may go. */
uint64_t qemu_storage_predicted_ms(struct qemu_dom *p)
{
    struct storage *s = p ? p->storage : NULL;
    uint64_t worst = 0;

    if (!p)
        return 0;
    pthread_mutex_lock(&p->mig_lock);
    for (size_t k = 0; s && s->sync && k < mir_sync_disks(s->sync); k++) {
        struct mir_progress pr;
        if (mir_sync_progress(s->sync, k, &pr) == 0 && pr.predicted_ms > worst)
            worst = pr.predicted_ms;
    }
    pthread_mutex_unlock(&p->mig_lock);
    return worst;
}

static int start_ferry(struct mig_ctx *m, struct storage *s, struct ferry_error *err)
{
    struct qemu_dom *p = m->dom->priv;
    const struct mig_params *mp = m->params;
    struct mir_sync_disk disks[MIG_MAX_DISKS];
    char *uris[MIG_MAX_DISKS] = {0};
    struct mir_sync_opts opts = {0};
    char host[256];
    unsigned port;
    size_t n = 0;
    int r;

    nbd_host(m, host, sizeof host, &port);
    for (size_t i = 0; i < m->dom->def->n_disks; i++) {
        const struct domain_disk *d = &m->dom->def->disks[i];
        const struct cookie_nbd_disk *cd;

        if (!mig_params_copies_disk(mp, d))
            continue;
        cd = dest_disk(m, d->target);
        if (!cd) {
            r = ferry_error_set(err, EPROTO, "the destination exported no target for disk '%s'",
                                d->target);
            goto out;
        }
        /* nbds: libnbd refuses a server that does not offer TLS (--tls). */
        uris[n] = ferry_strdup_printf(strchr(host, ':') ? "nbd%s://[%s]:%u/%s" : "nbd%s://%s:%u/%s",
                                      ((mp->flags & MIG_TLS) || p->stream_psk) ? "s" : "", host,
                                      port, cd->export_name[0] ? cd->export_name : d->target);
        memset(&disks[n], 0, sizeof disks[n]);
        disks[n].target = d->target;
        disks[n].source_path = d->format == DOMAIN_DISK_RAW ? d->source : NULL;
        disks[n].source_format = domain_disk_format_name(d->format);
        disks[n].direct = d->cache == DOMAIN_CACHE_NONE;
        disks[n].dest_uri = uris[n];
        /* A fresh target reads as zeros, unless it sits on a backing file
         * (--copy-storage-inc): then zeros must be written. */
        disks[n].dest_is_zero = !cd->backing[0];
        /* --copy-storage-inc (the cookie names a backing file only then):
         * the destination's new qcow2 sits on the same backing file, so only
         * the top image travels. The engine reads the format node, backing
         * chain included, through an export with allocation-depth, and the
         * bulk pass copies what the top allocates; a QEMU without
         * allocation-depth fails the migration instead of copying the base. */
        disks[n].top_only = (mp->flags & MIG_NON_SHARED_INC) && cd->backing[0];
        if (disks[n].top_only)
            ferry_info("migration of '%s': disk '%s': copying the top image only (its backing "
                       "file '%s' is on the destination)",
                       m->dom->def->name, d->target, cd->backing);
        snprintf(s->disks[n].target, sizeof s->disks[n].target, "%s", d->target);
        s->disks[n].size = cd->capacity;
        n++;
    }
    s->n_disks = n;
    if (n == 0) {
        r = 0;
        goto out;
    }
    opts.socket_dir = qemu_socket_dir();
    opts.on_step = on_sync_step;
    opts.step_opaque = m;
    /* --disk-writeback: its maximum means no write-back flush during the
     * bulk pass (the behaviour before it existed, for comparisons). */
    opts.writeback_bytes = mp->disk_writeback_mib >= MIG_MAX_DISK_WRITEBACK_MIB
                               ? MIR_WRITEBACK_NONE
                               : (uint64_t)mp->disk_writeback_mib << 20;
    opts.copy.bandwidth = mp->bandwidth_disk_mib * 1024 * 1024;
    if (mp->has_disk_reconnect_timeout)
        opts.reconnect_timeout_ms =
            mp->disk_reconnect_timeout_s ? mp->disk_reconnect_timeout_s * 1000 : MIR_RECONNECT_NONE;
    if (mp->flags & MIG_TLS) {
        opts.copy.tls_certificates = m->agent->cfg.migrate_tls_dir;
        opts.copy.tls_hostname = mp->tls_destination;
    } else if (p->stream_psk) {
        _cleanup_free_ char *f = qemu_tls_psk_file(m->agent, m->dom->def->name);
        snprintf(s->psk_file, sizeof s->psk_file, "%s", f);
        opts.copy.tls_psk_file = s->psk_file;
        opts.copy.tls_username = QEMU_PSK_USERNAME;
    }
    char devs[MIG_MAX_DISKS][80];
    qemu_converge_opts(m, disks, n, devs, &opts);
    struct mir_sync *sync = NULL;
    r = mir_sync_new(p->qmp, disks, n, &opts, &sync, err);
    /* Published under mig_lock: a cancel or a migrate-setspeed from
     * another thread reads it. */
    pthread_mutex_lock(&p->mig_lock);
    s->sync = sync;
    pthread_mutex_unlock(&p->mig_lock);
    if (r == 0)
        r = mir_sync_start(s->sync, err);
    if (r < 0)
        goto out;
    /* Bulk pass and dirty passes until the disks converge; RAM migration
     * starts after that and the passes go on meanwhile. */
    for (;;) {
        struct ferry_error werr = {0};

        r = mir_sync_wait_converged(s->sync, WAIT_SLICE_MS, &werr);
        qemu_storage_update_stats(m);
        qemu_migrate_progress_tick(m);
        if (r == 0) {
            /* RAM starts next: with --auto-converge-storage, cap the
             * guest's writes for the RAM stage (mirror/sync-converge.c). */
            mir_sync_ram_stage(s->sync);
            break;
        }
        if (!source_qemu_alive(p)) {
            /* The copy reads the image file, not QEMU: it would go on
             * copying a disk nobody runs any more. */
            mir_sync_cancel(s->sync);
            r = ferry_error_set(err, EPIPE, "source QEMU of '%s' is gone (its monitor closed)",
                                m->dom->def->name);
            break;
        }
        if (r != -ETIMEDOUT) {
            *err = werr;
            break;
        }
        if (abort_requested(m) || s->cancelled) {
            r = ferry_error_set(err, ECANCELED, "migration of '%s' was cancelled",
                                m->dom->def->name);
            break;
        }
    }
out:
    for (size_t i = 0; i < MIG_MAX_DISKS; i++)
        free(uris[i]);
    return r;
}

/* --- engine 'qemu': blockdev-mirror into the destination export --- */

static bool job_event(const char *name, json_object *data, void *opaque)
{
    (void)data;
    (void)opaque;
    return strncmp(name, "BLOCK_JOB_", 10) == 0;
}

static int query_jobs(struct qmp_conn *qmp, json_object **ret, struct ferry_error *err)
{
    return qmp_conn_execute(qmp, "query-block-jobs", NULL, QMP_TIMEOUT_MS, ret, err);
}

static int start_qemu_mirror(struct mig_ctx *m, struct storage *s, struct ferry_error *err)
{
    struct qemu_dom *p = m->dom->priv;
    const struct mig_params *mp = m->params;
    char host[256], port[16];
    unsigned portn;
    int r;

    s->qemu_engine = true;
    nbd_host(m, host, sizeof host, &portn);
    snprintf(port, sizeof port, "%u", portn);
    for (size_t i = 0; i < m->dom->def->n_disks; i++) {
        const struct domain_disk *d = &m->dom->def->disks[i];
        const struct cookie_nbd_disk *cd;
        json_object *args, *server;
        char node[48], client[48];
        size_t k;

        if (!mig_params_copies_disk(mp, d))
            continue;
        cd = dest_disk(m, d->target);
        if (!cd)
            return ferry_error_set(err, EPROTO, "the destination exported no target for disk '%s'",
                                   d->target);
        k = s->n_disks++;
        snprintf(s->disks[k].target, sizeof s->disks[k].target, "%s", d->target);
        s->disks[k].size = cd->capacity;
        snprintf(node, sizeof node, "f-%s", d->target);
        snprintf(client, sizeof client, "ferry-mig-%s", d->target);

        args = json_object_new_object();
        server = json_object_new_object();
        json_object_object_add(server, "type", json_object_new_string("inet"));
        json_object_object_add(server, "host", json_object_new_string(host));
        json_object_object_add(server, "port", json_object_new_string(port));
        json_object_object_add(args, "driver", json_object_new_string("nbd"));
        json_object_object_add(args, "node-name", json_object_new_string(client));
        json_object_object_add(args, "server", server);
        if ((mp->flags & MIG_TLS) || p->stream_psk) {
            json_object_object_add(args, "tls-creds", json_object_new_string(QEMU_TLS_CREDS_ID));
            if (mp->tls_destination)
                json_object_object_add(args, "tls-hostname",
                                       json_object_new_string(mp->tls_destination));
        }
        json_object_object_add(
            args, "export",
            json_object_new_string(cd->export_name[0] ? cd->export_name : d->target));
        r = qmp_conn_execute(p->qmp, "blockdev-add", args, QMP_TIMEOUT_MS, NULL, err);
        if (r < 0) {
            ferry_error_prefix(err, "disk '%s': connecting to the destination export", d->target);
            return r;
        }
        s->blockdev_added[k] = true;

        args = json_object_new_object();
        json_object_object_add(args, "job-id", json_object_new_string(client));
        json_object_object_add(args, "device", json_object_new_string(node));
        json_object_object_add(args, "target", json_object_new_string(client));
        json_object_object_add(
            args, "sync",
            json_object_new_string((mp->flags & MIG_NON_SHARED_INC) && cd->backing[0] ? "top"
                                                                                      : "full"));
        if (mp->bandwidth_disk_mib)
            json_object_object_add(args, "speed",
                                   json_object_new_int64((int64_t)(mp->bandwidth_disk_mib << 20)));
        /* --synchronous-writes: a guest write completes only once the
         * destination has it too (libvirt's copy-mode for the flag). */
        if (mp->flags & MIG_NON_SHARED_SYNCHRONOUS_WRITES)
            json_object_object_add(args, "copy-mode", json_object_new_string("write-blocking"));
        r = qmp_conn_execute(p->qmp, "blockdev-mirror", args, QMP_TIMEOUT_MS, NULL, err);
        if (r < 0) {
            ferry_error_prefix(err, "disk '%s': blockdev-mirror", d->target);
            return r;
        }
        s->job_started[k] = true;
    }
    /* Wait until every job is READY (source and target in sync). */
    for (;;) {
        _cleanup_(json_object_putp) json_object *jobs = NULL;
        size_t ready = 0;

        r = query_jobs(p->qmp, &jobs, err);
        if (r < 0)
            return r;
        for (size_t i = 0; i < json_object_array_length(jobs); i++) {
            json_object *j = json_object_array_get_idx(jobs, i), *rd = NULL;
            const char *id = ferry_json_str(j, "device");
            if (id && strncmp(id, "ferry-mig-", 10) == 0 &&
                json_object_object_get_ex(j, "ready", &rd) && json_object_get_boolean(rd))
                ready++;
        }
        qemu_storage_update_stats(m);
        if (ready == s->n_disks)
            return 0;
        if (json_object_array_length(jobs) < s->n_disks)
            return ferry_error_set(err, EIO, "a blockdev-mirror job ended before it was ready");
        if (abort_requested(m) || s->cancelled)
            return ferry_error_set(err, ECANCELED, "migration of '%s' was cancelled",
                                   m->dom->def->name);
        {
            struct ferry_error werr = {0};
            uint64_t seq = qmp_conn_event_seq(p->qmp);
            qmp_conn_wait_event(p->qmp, seq, job_event, NULL, WAIT_SLICE_MS, NULL, NULL, &werr);
        }
    }
}

/* At switchover: cancelling a READY mirror completes it without a pivot:
 * QEMU drains the remaining writes into the target first. */
static int finish_qemu_mirror(struct mig_ctx *m, struct storage *s, struct ferry_error *err)
{
    struct qemu_dom *p = m->dom->priv;
    int64_t deadline = ferry_now_ms() + 120000;
    int r;

    for (size_t k = 0; k < s->n_disks; k++) {
        json_object *args = json_object_new_object();
        char id[48];
        snprintf(id, sizeof id, "ferry-mig-%s", s->disks[k].target);
        json_object_object_add(args, "device", json_object_new_string(id));
        r = qmp_conn_execute(p->qmp, "block-job-cancel", args, QMP_TIMEOUT_MS, NULL, err);
        if (r < 0)
            return r;
    }
    for (;;) {
        _cleanup_(json_object_putp) json_object *jobs = NULL;
        bool any = false;

        if ((r = query_jobs(p->qmp, &jobs, err)) < 0)
            return r;
        for (size_t i = 0; i < json_object_array_length(jobs); i++) {
            const char *id = ferry_json_str(json_object_array_get_idx(jobs, i), "device");
            if (id && strncmp(id, "ferry-mig-", 10) == 0)
                any = true;
        }
        if (!any)
            break;
        if (ferry_now_ms() > deadline)
            return ferry_error_set(err, ETIMEDOUT, "blockdev-mirror did not complete");
        usleep(5000);
    }
    for (size_t k = 0; k < s->n_disks; k++) {
        s->job_started[k] = false;
        s->disks[k].complete = true;
    }
    return 0;
}

int qemu_storage_start(struct mig_ctx *m, struct ferry_error *err)
{
    struct storage *s;

    if (!qemu_storage_copies(m))
        return 0;
    if (!m->cookie_in.has_nbd || !m->cookie_in.nbd_port)
        return ferry_error_set(err, EPROTO, "the destination's cookie has no NBD server");
    s = qemu_storage_get(m);
    s->cancelled = false;
    s->n_disks = 0;
    memset(s->disks, 0, sizeof s->disks);
    /* Both engines copy only the top image of a disk with a backing file
     * under --copy-storage-inc: QEMU's mirror with sync=top, ferry's through
     * qemu:allocation-depth (start_ferry). */
    if (m->params->storage_engine == MIG_STORAGE_QEMU)
        return start_qemu_mirror(m, s, err);
    return start_ferry(m, s, err);
}

int qemu_storage_switchover(struct mig_ctx *m, struct ferry_error *err)
{
    struct qemu_dom *p = m->dom->priv;
    struct storage *s = p ? p->storage : NULL;
    int64_t t0 = ferry_now_ms(), ms = 0;
    int r = 0;

    if (!qemu_storage_copies(m) || !s || s->n_disks == 0)
        return 0;
    if (s->qemu_engine) {
        r = finish_qemu_mirror(m, s, err);
        ms = ferry_now_ms() - t0;
    } else if (s->sync) {
        r = mir_sync_final_pass(s->sync, &ms, err);
    }
    /* The guest stays paused until migrate-continue: nothing else here.
     * Perform updates the statistics once the RAM phase is over (for the
     * qemu engine an update is a query-block-jobs round trip). */
    hv_job_stats_lock(m)->storage_downtime_ms = ms;
    hv_job_stats_unlock(m);
    if (r < 0)
        ferry_error_prefix(err, "final storage pass");
    return r;
}

void qemu_storage_update_stats(struct mig_ctx *m)
{
    struct qemu_dom *p = m->dom->priv;
    struct storage *s = p ? p->storage : NULL;
    _cleanup_(json_object_putp) json_object *jobs = NULL;
    uint64_t total = 0, processed = 0, remaining = 0, bps = 0, passes = 0;
    json_object *lines;

    if (!s || s->n_disks == 0)
        return;
    if (s->qemu_engine && (!p->qmp || query_jobs(p->qmp, &jobs, NULL) < 0))
        jobs = NULL;
    lines = json_object_new_array();
    for (size_t k = 0; k < s->n_disks; k++) {
        json_object *o = json_object_new_object();
        uint64_t t = s->disks[k].size, done = 0, dirty = 0, rate = 0, pass = 0;
        uint64_t copied = 0, zeroed = 0, skipped = 0, retries = 0;
        struct mir_progress conv = {0};

        if (s->sync) {
            struct mir_progress pr;
            if (mir_sync_progress(s->sync, k, &pr) == 0) {
                t = pr.size;
                copied = pr.copied;
                zeroed = pr.zeroed;
                skipped = pr.skipped;
                pass = pr.pass;
                retries = pr.retries;
                rate = pr.done_per_sec;
                conv = pr;
                /* Bulk pass: what is left of it; later: what is dirty.
                 * Not by pass number: a bulk pass that lost its connection
                 * and goes on is still the bulk pass. */
                dirty = !pr.bulk_done ? pr.pass_total - pr.pass_done + pr.dirty : pr.dirty;
                done = t > dirty ? t - dirty : 0;
            }
        } else if (s->qemu_engine && s->disks[k].complete) {
            /* The job is gone: it ended with the target in sync. */
            done = copied = t;
            pass = 1;
        } else if (jobs) {
            char id[48];
            snprintf(id, sizeof id, "ferry-mig-%s", s->disks[k].target);
            for (size_t i = 0; i < json_object_array_length(jobs); i++) {
                json_object *j = json_object_array_get_idx(jobs, i), *v = NULL;
                const char *dev = ferry_json_str(j, "device");
                if (!dev || strcmp(dev, id) != 0)
                    continue;
                if (json_object_object_get_ex(j, "len", &v))
                    t = (uint64_t)json_object_get_int64(v);
                if (json_object_object_get_ex(j, "offset", &v))
                    done = (uint64_t)json_object_get_int64(v);
                s->disks[k].done = done;
                copied = done;
                dirty = t > done ? t - done : 0;
                pass = 1;
            }
        }
        total += t;
        processed += done;
        remaining += dirty;
        bps += rate;
        passes = pass > passes ? pass : passes;
        json_object_object_add(o, "target", json_object_new_string(s->disks[k].target));
        json_object_object_add(o, "total", json_object_new_int64((int64_t)t));
        json_object_object_add(o, "copied", json_object_new_int64((int64_t)copied));
        json_object_object_add(o, "zeroed", json_object_new_int64((int64_t)zeroed));
        json_object_object_add(o, "skipped", json_object_new_int64((int64_t)skipped));
        json_object_object_add(o, "remaining", json_object_new_int64((int64_t)dirty));
        json_object_object_add(o, "bps", json_object_new_int64((int64_t)rate));
        json_object_object_add(o, "pass", json_object_new_int64((int64_t)pass));
        /* Passes tried again after a lost connection (engine 'ferry'). */
        json_object_object_add(o, "retries", json_object_new_int64((int64_t)retries));
        json_object_object_add(o, "engine",
                               json_object_new_string(s->qemu_engine ? "qemu" : "ferry"));
        if (s->sync)
            qemu_converge_line(o, &conv);
        json_object_array_add(lines, o);
    }
    struct cookie_stats *st = hv_job_stats_lock(m);
    st->disk_total = total;
    st->disk_processed = processed;
    st->disk_remaining = remaining;
    st->disk_bps = bps;
    st->disk_passes = passes;
    hv_job_stats_unlock(m);
    hv_job_set_disks(m, lines);
}

void qemu_storage_stop(struct mig_ctx *m)
{
    struct qemu_dom *p = m->dom->priv;
    struct storage *s = p ? p->storage : NULL;

    if (!s)
        return;
    if (s->sync) {
        struct mir_sync *sync = s->sync;
        /* qemu_storage_cancel and qemu_storage_set_bandwidth look at
         * s->sync from other threads under mig_lock. */
        pthread_mutex_lock(&p->mig_lock);
        s->sync = NULL;
        pthread_mutex_unlock(&p->mig_lock);
        mir_sync_free(sync);
    }
    for (size_t k = 0; k < s->n_disks && p->qmp; k++) {
        char id[48];
        snprintf(id, sizeof id, "ferry-mig-%s", s->disks[k].target);
        if (s->job_started[k]) {
            json_object *args = json_object_new_object();
            json_object_object_add(args, "device", json_object_new_string(id));
            json_object_object_add(args, "force", json_object_new_boolean(true));
            qmp_conn_execute(p->qmp, "block-job-cancel", args, QMP_TIMEOUT_MS, NULL, NULL);
            /* The node cannot be deleted while the job still uses it. */
            for (int i = 0; i < 200; i++) {
                _cleanup_(json_object_putp) json_object *jobs = NULL;
                bool found = false;
                if (query_jobs(p->qmp, &jobs, NULL) < 0)
                    break;
                for (size_t j = 0; j < json_object_array_length(jobs); j++) {
                    const char *dev = ferry_json_str(json_object_array_get_idx(jobs, j), "device");
                    found |= dev && strcmp(dev, id) == 0;
                }
                if (!found)
                    break;
                usleep(10000);
            }
            s->job_started[k] = false;
        }
        if (s->blockdev_added[k]) {
            json_object *args = json_object_new_object();
            json_object_object_add(args, "node-name", json_object_new_string(id));
            qmp_conn_execute(p->qmp, "blockdev-del", args, QMP_TIMEOUT_MS, NULL, NULL);
            s->blockdev_added[k] = false;
        }
    }
    s->qemu_engine = false;
}

void qemu_storage_free(void *storage)
{
    struct storage *s = storage;

    if (!s)
        return;
    if (s->sync)
        mir_sync_free(s->sync);
    for (size_t i = 0; i < s->n_created; i++)
        free(s->created[i]);
    free(s);
}

void qemu_storage_cancel(struct mig_ctx *m)
{
    struct qemu_dom *p = m->dom->priv;
    struct storage *s = p ? p->storage : NULL;

    if (!s)
        return;
    s->cancelled = true;
    pthread_mutex_lock(&p->mig_lock);
    if (s->sync)
        mir_sync_cancel(s->sync);
    pthread_mutex_unlock(&p->mig_lock);
}

void qemu_storage_set_bandwidth(struct qemu_dom *p, uint64_t bytes_per_sec)
{
    struct storage *s = p ? p->storage : NULL;
    size_t n;

    if (!s || !s->sync)
        return;
    /* --bandwidth caps each disk (as QEMU's per-job speed does); the
     * session's setter splits a total over its disks. */
    n = mir_sync_disks(s->sync);
    if (bytes_per_sec && n > 1)
        bytes_per_sec = bytes_per_sec > UINT64_MAX / n ? UINT64_MAX : bytes_per_sec * n;
    mir_sync_set_bandwidth(s->sync, bytes_per_sec);
}
