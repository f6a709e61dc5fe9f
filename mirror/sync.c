/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A storage migration session: per disk, a dirty bitmap on the source
 * QEMU's format node, a bulk copy, dirty passes (freeze, read the frozen
 * bitmap over NBD, copy its extents) while the guest runs, and a final pass
 * once the guest is paused. One worker thread per disk; the session object
 * is driven from one control thread, except mir_sync_cancel and
 * mir_sync_progress which any thread may call. */
#include <errno.h>
#include <inttypes.h>
#include <libnbd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "mir-sync.h"
#include "qmp.h"
#include "sync-priv.h"
#include "util.h"

static const char *const t_names[T_STEPS] = {"wait-worker", "count", "disable", "export-add",
                                             "dirty-read",  "copy",  "flush"};

static atomic_uint sock_counter;

/* ---- session ----------------------------------------------------------- */

int mir_sync_new(struct qmp_conn *qmp, const struct mir_sync_disk *disks, size_t n,
                 const struct mir_sync_opts *opts, struct mir_sync **ret, struct ferry_error *err)
{
    struct mir_sync_opts o = *opts;
    int r;

    if (n == 0 || n > MIR_SYNC_MAX_DISKS)
        return ferry_error_set(err, EINVAL, "storage: %zu disks (must be 1..%d)", n,
                               MIR_SYNC_MAX_DISKS);
    if ((r = mir_copy_opts_check(&o.copy, err)) < 0) {
        ferry_error_prefix(err, "storage");
        return r;
    }
    if (!o.socket_dir || !*o.socket_dir)
        return ferry_error_set(err, EINVAL, "storage: no socket directory");
    if (!o.converge_bytes)
        o.converge_bytes = MIR_DEFAULT_CONVERGE_BYTES;
    if (!o.writeback_bytes)
        o.writeback_bytes = MIR_DEFAULT_WRITEBACK_BYTES;
    if (!o.pass_interval_ms)
        o.pass_interval_ms = MIR_DEFAULT_PASS_INTERVAL_MS;
    if (!o.reconnect_timeout_ms)
        o.reconnect_timeout_ms = MIR_DEFAULT_RECONNECT_TIMEOUT_MS;
    if (!o.max_stalled)
        o.max_stalled = MIR_DEFAULT_MAX_STALLED;

    struct mir_sync *s = ferry_calloc(1, sizeof(*s));
    s->qmp = qmp;
    s->opts = o;
    s->opts.socket_dir = NULL; /* not kept */
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&s->cancelled, false);
    s->disks = ferry_calloc(n, sizeof(*s->disks));
    s->n = n;

    int len = snprintf(s->sock, sizeof(s->sock), "%s/mir-%d-%u.sock", o.socket_dir, (int)getpid(),
                       atomic_fetch_add(&sock_counter, 1));
    if (len < 0 || (size_t)len >= sizeof(s->sock)) {
        mir_sync_free(s);
        return ferry_error_set(err, ENAMETOOLONG, "storage: socket directory '%s' is too long",
                               o.socket_dir);
    }

    for (size_t i = 0; i < n; i++) {
        const struct mir_sync_disk *in = &disks[i];
        struct sync_disk *sd = &s->disks[i];
        sd->s = s;
        if (!in->target || !ferry_name_valid(in->target)) {
            r = ferry_error_set(err, EINVAL, "storage: disk %zu: bad target name '%s'", i,
                                in->target ? in->target : "");
            goto fail;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->disks[j].target, in->target) == 0) {
                r = ferry_error_set(err, EINVAL, "storage: disk '%s' given twice", in->target);
                goto fail;
            }
        sd->target = ferry_strdup(in->target);
        sd->node = in->node ? ferry_strdup(in->node) : ferry_strdup_printf("f-%s", in->target);
        if (!ferry_name_valid(sd->node)) {
            r = ferry_error_set(err, EINVAL, "storage: disk '%s': bad node name '%s'", in->target,
                                sd->node);
            goto fail;
        }
        bool raw = !in->source_format || strcmp(in->source_format, "raw") == 0;
        if (in->source_path && raw)
            sd->source_path = ferry_strdup(in->source_path);
        if ((r = mir_uri_check(in->dest_uri, err)) < 0) {
            ferry_error_prefix(err, "storage: disk '%s': destination", in->target);
            goto fail;
        }
        sd->dest_uri = ferry_strdup(in->dest_uri);
        sd->direct = in->direct;
        sd->dest_is_zero = in->dest_is_zero;
        sd->top_only = in->top_only;
        if (in->device) {
            /* A qdev id or QOM path ("/machine/peripheral/vda/virtio-backend"). */
            if (!*in->device || strlen(in->device) >= MIR_NAME_MAX ||
                strspn(in->device, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789/_.-") != strlen(in->device)) {
                r = ferry_error_set(err, EINVAL, "storage: disk '%s': bad device id '%s'",
                                    in->target, in->device);
                goto fail;
            }
            sd->device = ferry_strdup(in->device);
        }
        snprintf(sd->active, sizeof(sd->active), "ferry-mir-%s", sd->target);
        snprintf(sd->src_export, sizeof(sd->src_export), "ferry-src-%s", sd->target);
        snprintf(sd->dirty_export, sizeof(sd->dirty_export), "ferry-dirty-%s", sd->target);
        snprintf(sd->final_export, sizeof(sd->final_export), "ferry-final-%s", sd->target);
    }
    *ret = s;
    return 0;
fail:
    mir_sync_free(s);
    return r;
}

size_t mir_sync_disks(const struct mir_sync *s)
{
    return s->n;
}

/* Undoes what start did in QEMU, best effort (QEMU may be gone). */
static void undo_qemu(struct mir_sync *s)
{
    struct ferry_error e = {0};
    for (size_t i = 0; i < s->n; i++) {
        struct sync_disk *sd = &s->disks[i];
        if (sd->src_export_added) {
            ferry_error_clear(&e);
            mir_export_del(s->qmp, sd->src_export, &e);
            sd->src_export_added = false;
        }
    }
    if (s->server_started) {
        ferry_error_clear(&e);
        mir_nbd_server_stop(s->qmp, &e);
        unlink(s->sock);
        s->server_started = false;
    }
    for (size_t i = 0; i < s->n; i++) {
        struct sync_disk *sd = &s->disks[i];
        if (sd->bitmap_added) {
            ferry_error_clear(&e);
            mir_bitmap_remove(s->qmp, sd->node, sd->active, &e);
            sd->bitmap_added = false;
        }
    }
}

int mir_sync_start(struct mir_sync *s, struct ferry_error *err)
{
    int r;
    if (s->started)
        return ferry_error_set(err, EALREADY, "storage: already started");
    if (atomic_load(&s->cancelled))
        return ferry_error_set(err, ECANCELED, "storage: cancelled");
    /* One budget for the session, not one per disk: the disks copy in
     * parallel, and queue_depth requests of request_size over at most
     * `connections` connections are what the whole session keeps in
     * flight, split evenly (each disk at least one of each). With 4 disks
     * each taking the full budget, 4x1 GiB took 1.9x the time of 1x4 GiB
     * holding the same data (bench/README.md, "Many disks at once"): 4x
     * the buffers and connections on 2 cores. A disk that finishes early
     * does not hand its share on (a static split). */
    struct mir_copy_opts per_disk = s->opts.copy;
    if (s->n > 1) {
        per_disk.queue_depth = (uint32_t)((per_disk.queue_depth + s->n - 1) / s->n);
        per_disk.connections = (uint32_t)(per_disk.connections / s->n);
        if (per_disk.connections == 0)
            per_disk.connections = 1;
    }

    /* Bitmaps first: every write from here on is tracked, so nothing the
     * bulk pass reads too early can be missed. */
    for (size_t i = 0; i < s->n; i++) {
        struct sync_disk *sd = &s->disks[i];
        struct ferry_error stale = {0};
        mir_bitmap_remove(s->qmp, sd->node, sd->active, &stale); /* a crashed session's */
        r = mir_bitmap_add(s->qmp, sd->node, sd->active, err);
        if (r < 0) {
            ferry_error_prefix(err, "storage: disk '%s'", sd->target);
            goto undo;
        }
        sd->bitmap_added = true;
    }
    r = mir_nbd_server_start(s->qmp, s->sock, err);
    if (r < 0) {
        ferry_error_prefix(err, "storage: source NBD server");
        goto undo;
    }
    s->server_started = true;

    for (size_t i = 0; i < s->n; i++) {
        struct sync_disk *sd = &s->disks[i];
        char uri[512];
        if (!sd->source_path) {
            if (sd->top_only)
                r = mir_export_add_depth(s->qmp, sd->src_export, sd->node, sd->src_export, err);
            else
                r = mir_export_add(s->qmp, sd->src_export, sd->node, sd->src_export, NULL, err);
            if (r < 0) {
                ferry_error_prefix(err, "storage: disk '%s'", sd->target);
                goto undo;
            }
            sd->src_export_added = true;
            snprintf(uri, sizeof(uri), "nbd+unix:///%s?socket=%s", sd->src_export, s->sock);
        }
        struct mir_disk_config cfg = {
            .name = sd->target,
            .source_file = sd->source_path,
            .source_uri = sd->source_path ? NULL : uri,
            .source_direct = sd->direct,
            .target_uri = sd->dest_uri,
            .top_only = sd->top_only,
        };
        r = mir_disk_open(&cfg, &per_disk, &sd->disk, err);
        if (r < 0) {
            ferry_error_prefix(err, "storage");
            goto undo;
        }
    }

    pthread_mutex_lock(&s->lock);
    s->started = true;
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < s->n; i++) {
        struct sync_disk *sd = &s->disks[i];
        r = -pthread_create(&sd->thread, NULL, mir_sync_worker, sd);
        if (r < 0) {
            ferry_error_set_errno(err, -r, "storage: disk '%s': pthread_create", sd->target);
            mir_sync_cancel(s);
            for (size_t j = 0; j < i; j++) {
                pthread_join(s->disks[j].thread, NULL);
                s->disks[j].thread_started = false;
            }
            goto undo;
        }
        sd->thread_started = true;
    }
    return 0;

undo:
    pthread_mutex_lock(&s->lock);
    s->started = false;
    pthread_mutex_unlock(&s->lock);
    for (size_t i = 0; i < s->n; i++) {
        mir_disk_free(s->disks[i].disk);
        s->disks[i].disk = NULL;
    }
    undo_qemu(s);
    return r;
}

static bool mir_sync_workers_running(const struct mir_sync *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->disks[i].thread_started)
            return true;
    return false;
}

static bool all_converged(struct mir_sync *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (!s->disks[i].converged)
            return false;
    return true;
}

int mir_sync_wait_converged(struct mir_sync *s, int timeout_ms, struct ferry_error *err)
{
    if (!s->started)
        return ferry_error_set(err, EINVAL, "storage: not started");
    int64_t deadline = timeout_ms < 0 ? -1 : ferry_now_ms() + timeout_ms;
    int r = 0;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        if (s->failed) {
            /* A worker's own timeout (a stuck target: copy.c's I/O
             * timeout) must not read as this wait's: callers wait again
             * on -ETIMEDOUT, and would wait forever on a failed session. */
            r = ferry_error_set(err, s->err.code == ETIMEDOUT ? ETIME : s->err.code, "%s",
                                s->err.msg);
            break;
        }
        if (atomic_load(&s->cancelled)) {
            r = ferry_error_set(err, ECANCELED, "storage: cancelled");
            break;
        }
        if (all_converged(s))
            break;
        if (deadline >= 0 && ferry_now_ms() >= deadline) {
            uint64_t dirty = 0;
            for (size_t i = 0; i < s->n; i++) {
                struct mir_progress p;
                mir_disk_progress(s->disks[i].disk, &p);
                dirty += p.dirty;
            }
            r = ferry_error_set(err, ETIMEDOUT,
                                "storage: not converged after %d ms (%" PRIu64
                                " bytes dirty at the last pass)",
                                timeout_ms, dirty);
            break;
        }
        /* Wake at least every 100 ms to re-check the deadline. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

/* One debug line per disk: how long each step of the final pass took
 * (microseconds; a step not reached shows '-'), from the request to the
 * join. */
static void log_final_timing(struct mir_sync *s, int64_t t0_us, int64_t end_us)
{
    if (!ferry_log_enabled(FERRY_LOG_DEBUG))
        return;
    for (size_t i = 0; i < s->n; i++) {
        struct sync_disk *sd = &s->disks[i];
        char line[512];
        size_t len = 0;
        int64_t prev = t0_us;
        for (int k = 0; k < T_STEPS; k++) {
            int n;
            if (sd->t_final[k]) {
                n = snprintf(line + len, sizeof(line) - len, " %s %" PRId64, t_names[k],
                             sd->t_final[k] - prev);
                prev = sd->t_final[k];
            } else {
                n = snprintf(line + len, sizeof(line) - len, " %s -", t_names[k]);
            }
            if (n < 0 || (size_t)n >= sizeof(line) - len)
                break;
            len += (size_t)n;
        }
        ferry_debug(
            "mir: final pass, disk '%s' (us):%s join %" PRId64 " total %" PRId64 " (flush %s)",
            sd->target, line, end_us - prev, end_us - t0_us, sd->flush_note ? sd->flush_note : "-");
    }
}

/* The dirty counts of every disk's active bitmap in one QMP round trip
 * (a query per disk from each worker would queue on the one monitor), taken
 * while a worker may still be finishing a dirty pass, so the two overlap.
 * MERGES_AT_COUNT is taken before the query: a worker that merged a failed
 * pass's extents back after that asks again itself. Best effort: on error
 * the workers ask. */
static void final_counts(struct mir_sync *s)
{
    const char *nodes[MIR_SYNC_MAX_DISKS], *names[MIR_SYNC_MAX_DISKS];
    uint64_t counts[MIR_SYNC_MAX_DISKS];
    unsigned snap[MIR_SYNC_MAX_DISKS];
    struct ferry_error e = {0};
    size_t n = s->n; /* constant after mir_sync_new */
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        nodes[i] = s->disks[i].node;
        names[i] = s->disks[i].active;
        snap[i] = s->disks[i].merges;
    }
    pthread_mutex_unlock(&s->lock);
    if (mir_bitmap_counts(s->qmp, n, nodes, names, counts, &e) < 0) {
        ferry_debug("mir: final pass: %s", e.msg);
        return;
    }
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < n; i++) {
        struct sync_disk *sd = &s->disks[i];
        sd->final_count_known = counts[i] != MIR_BITMAP_COUNT_NONE;
        sd->final_count = counts[i];
        sd->merges_at_count = snap[i];
    }
    pthread_mutex_unlock(&s->lock);
}

int mir_sync_final_pass(struct mir_sync *s, int64_t *ret_ms, struct ferry_error *err)
{
    if (!s->started)
        return ferry_error_set(err, EINVAL, "storage: not started");
    int64_t t0 = ferry_now_ms(), t0_us = ferry_now_us();
    final_counts(s);
    pthread_mutex_lock(&s->lock);
    s->final_requested = true;
    /* The guest is paused: no bandwidth cap from here on, for a dirty pass
     * still running as for the final one (QEMU's last RAM stage is not
     * rate-limited either). Waking the workers ends their pacing waits. */
    for (size_t i = 0; i < s->n; i++)
        if (s->disks[i].disk)
            mir_disk_set_bandwidth(s->disks[i].disk, 0);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);

    for (size_t i = 0; i < s->n; i++) {
        if (s->disks[i].thread_started) {
            pthread_join(s->disks[i].thread, NULL);
            s->disks[i].thread_started = false;
        }
    }
    log_final_timing(s, t0_us, ferry_now_us());
    if (s->failed)
        return ferry_error_set(err, s->err.code, "%s", s->err.msg);
    if (atomic_load(&s->cancelled))
        return ferry_error_set(err, ECANCELED, "storage: cancelled");
    if (ret_ms)
        *ret_ms = ferry_now_ms() - t0;
    return 0;
}

int mir_sync_cleanup(struct mir_sync *s, struct ferry_error *err)
{
    int r = 0;
    /* The guest no longer runs here (or the session is over): its
     * writes need no cap. */
    if (!mir_sync_workers_running(s))
        mir_sync_release_throttles(s);
    for (size_t i = 0; i < s->n; i++) {
        struct sync_disk *sd = &s->disks[i];
        struct ferry_error e = {0};
        int r1 = 0;
        if (s->disks[i].thread_started)
            continue; /* only after the final pass (or without workers) */
        /* An export holds its bitmap until QEMU reports it gone. */
        if (sd->stale_export)
            r1 = mir_export_del(s->qmp, sd->dirty_export, &e);
        sd->stale_export = false;
        if (r1 >= 0 && sd->stale[0])
            r1 = mir_bitmap_remove(s->qmp, sd->node, sd->stale, &e);
        sd->stale[0] = '\0';
        if (r1 >= 0 && sd->leftover_export)
            r1 = mir_export_del(s->qmp, sd->final_export, &e);
        sd->leftover_export = false;
        if (r1 >= 0 && sd->final_done && sd->bitmap_added) {
            r1 = mir_bitmap_remove(s->qmp, sd->node, sd->active, &e);
            sd->bitmap_added = false;
        }
        if (r1 < 0 && r == 0) {
            r = ferry_error_set(err, e.code, "storage: disk '%s': cleanup: %s", sd->target, e.msg);
        }
        ferry_error_clear(&e);
    }
    return r;
}

void mir_sync_cancel(struct mir_sync *s)
{
    atomic_store(&s->cancelled, true);
    pthread_mutex_lock(&s->lock);
    pthread_cond_broadcast(&s->cond);
    bool started = s->started;
    pthread_mutex_unlock(&s->lock);
    if (started)
        for (size_t i = 0; i < s->n; i++)
            if (s->disks[i].disk)
                mir_disk_cancel(s->disks[i].disk);
}

void mir_sync_set_bandwidth(struct mir_sync *s, uint64_t bytes_per_sec)
{
    pthread_mutex_lock(&s->lock);
    uint64_t each = bytes_per_sec ? (bytes_per_sec + s->n - 1) / s->n : 0;
    s->opts.copy.bandwidth = each;         /* for disks opened later */
    if (s->started && !s->final_requested) /* see mir_sync_final_pass */
        for (size_t i = 0; i < s->n; i++)
            if (s->disks[i].disk)
                mir_disk_set_bandwidth(s->disks[i].disk, each);
    pthread_mutex_unlock(&s->lock);
}

void mir_sync_step(struct sync_disk *sd, const char *what, bool end)
{
    char name[MIR_NAME_MAX];

    if (!sd->s->opts.on_step)
        return;
    snprintf(name, sizeof name, "%s:%s", what, sd->target);
    sd->s->opts.on_step(sd->s->opts.step_opaque, name, end);
}

int mir_sync_progress(struct mir_sync *s, size_t i, struct mir_progress *ret)
{
    if (i >= s->n)
        return -EINVAL;
    pthread_mutex_lock(&s->lock);
    struct mir_disk *d = s->started ? s->disks[i].disk : NULL;
    pthread_mutex_unlock(&s->lock);
    if (d)
        mir_disk_progress(d, ret);
    else
        memset(ret, 0, sizeof(*ret));
    pthread_mutex_lock(&s->lock);
    ret->retries = s->disks[i].retries;
    ret->bulk_done = s->disks[i].bulk_done;
    ret->dirty_rate = s->disks[i].conv.dirty_rate;
    ret->copy_rate = s->disks[i].conv.copy_rate;
    ret->predicted_ms = s->disks[i].conv.predicted_ms;
    ret->throttle = s->disks[i].conv.throttle;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

void mir_sync_free(struct mir_sync *s)
{
    if (!s)
        return;
    bool running = false;
    for (size_t i = 0; i < s->n; i++)
        running |= s->disks[i].thread_started;
    if (running)
        mir_sync_cancel(s);
    for (size_t i = 0; i < s->n; i++) {
        if (s->disks[i].thread_started)
            pthread_join(s->disks[i].thread, NULL);
        s->disks[i].thread_started = false;
    }
    /* Every worker is joined: a failed, cancelled or finished session
     * leaves no cap on the guest's writes. */
    mir_sync_release_throttles(s);
    for (size_t i = 0; i < s->n; i++) {
        mir_disk_free(s->disks[i].disk);
        s->disks[i].disk = NULL;
    }
    if (s->started) {
        struct ferry_error e = {0};
        mir_sync_cleanup(s, &e);
        ferry_error_clear(&e);
        undo_qemu(s);
    }
    for (size_t i = 0; i < s->n; i++) {
        free(s->disks[i].target);
        free(s->disks[i].node);
        free(s->disks[i].source_path);
        free(s->disks[i].dest_uri);
        free(s->disks[i].device);
    }
    free(s->disks);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
