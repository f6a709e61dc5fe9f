/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's migration steps: RAM migration over QMP with
 * pause-before-switchover, so that the last storage pass and every
 * decision happen while the source is paused and still authoritative.
 * Storage copy is in qemu-storage.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "json.h"
#include "migparams.h"
#include "mir-sync.h"
#include "qemu-cmdline.h"
#include "qemu-priv.h"

#define QMP_TIMEOUT_MS    30000
#define POLL_INTERVAL_MS  250
#define FINISH_TIMEOUT_MS 120000
/* A RAM migration that moves no byte for this long is stuck (a peer that
 * stopped reading, a wedged tunnel): cancel it rather than wait forever. */
#define STALL_TIMEOUT_MS 120000

static struct qemu_dom *priv(struct mig_ctx *m)
{
    return m->dom->priv;
}

static json_object *cap(const char *name, bool state)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "capability", json_object_new_string(name));
    json_object_object_add(o, "state", json_object_new_boolean(state));
    return o;
}

static int set_caps(struct qmp_conn *qmp, const struct mig_params *p, bool source,
                    struct ferry_error *err)
{
    json_object *args = json_object_new_object();
    json_object *caps = json_object_new_array();

    json_object_array_add(caps, cap("events", true));
    if (source) {
        json_object_array_add(caps, cap("pause-before-switchover", true));
        json_object_array_add(caps, cap("auto-converge", (p->flags & MIG_AUTO_CONVERGE) != 0));
    }
    json_object_array_add(caps,
                          cap("multifd", p->parallel_connections > 0 || (p->flags & MIG_PARALLEL)));
    /* Both QEMUs, the destination's before migrate-incoming (there QEMU
     * checks that the host has userfaultfd). */
    json_object_array_add(caps, cap("postcopy-ram", (p->flags & MIG_POSTCOPY) != 0));
    qemu_compress_caps(p, source, caps);
    json_object_object_add(args, "capabilities", caps);
    return qmp_conn_execute(qmp, "migrate-set-capabilities", args, QMP_TIMEOUT_MS, NULL, err);
}

static unsigned parallel_channels(const struct mig_params *p)
{
    if (p->parallel_connections)
        return p->parallel_connections;
    return (p->flags & MIG_PARALLEL) ? 2 : 0; /* libvirt's default */
}

static int set_params(struct qmp_conn *qmp, const struct mig_params *p, bool source,
                      struct ferry_error *err)
{
    json_object *args = json_object_new_object();

    if (source) {
        uint64_t bw = p->bandwidth_mib ? p->bandwidth_mib * 1024 * 1024 : QEMU_UNLIMITED_BANDWIDTH;
        json_object_object_add(args, "max-bandwidth", json_object_new_int64((int64_t)bw));
        if (p->max_downtime_ms)
            json_object_object_add(args, "downtime-limit",
                                   json_object_new_int64((int64_t)p->max_downtime_ms));
        /* Bytes/s once in post-copy; QEMU's 0 is unlimited, as ours. */
        if (p->flags & MIG_POSTCOPY)
            json_object_object_add(
                args, "max-postcopy-bandwidth",
                json_object_new_int64((int64_t)(p->postcopy_bandwidth_mib << 20)));
    }
    if (parallel_channels(p))
        json_object_object_add(args, "multifd-channels",
                               json_object_new_int((int)parallel_channels(p)));
    qemu_compress_params(p, source, args);
    if (json_object_object_length(args) == 0) {
        json_object_put(args);
        return 0;
    }
    return qmp_conn_execute(qmp, "migrate-set-parameters", args, QMP_TIMEOUT_MS, NULL, err);
}

/* ---- Begin ---- */

/* --tls on the source: the client's certificate files, and a
 * --tls-destination engine 'ferry' can honour. Nothing is started. */
static int tls_check_source(struct mig_ctx *m, struct ferry_error *err)
{
    const struct mig_params *mp = m->params;

    if (!(mp->flags & MIG_TLS))
        return 0;
    if (mp->tls_destination && (mp->flags & (MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC)) &&
        mp->storage_engine == MIG_STORAGE_FERRY && !mir_tls_hostname_supported())
        return ferry_error_set(err, ENOTSUP,
                               "--tls-destination with --storage-engine ferry needs libnbd's "
                               "nbd_set_tls_hostname (libnbd 1.22 or later; this one checks "
                               "the certificate against the NBD host only): use "
                               "--storage-engine qemu");
    return qemu_tls_check_files(m->agent, false, err);
}

int qemu_migrate_begin(struct mig_ctx *m, struct ferry_error *err)
{
    struct qemu_dom *p = priv(m);
    char status[64];
    bool running = false;
    int r;

    if (m->params->flags & MIG_OFFLINE)
        return qemu_nvram_check_offline(m, err);
    if (!p || !p->qmp)
        return ferry_error_set(err, ENOTCONN, "domain '%s' has no monitor", m->dom->def->name);
    if (__atomic_load_n(&p->postcopy_failed, __ATOMIC_SEQ_CST))
        return ferry_error_set(err, EBUSY,
                               "domain '%s' is kept after a failed post-copy migration: its "
                               "memory is not whole here (destroy it)",
                               m->dom->def->name);
    if ((r = qemu_query_status(p->qmp, status, sizeof status, &running, err)) < 0)
        return r;
    if (strcmp(status, "inmigrate") == 0 || strcmp(status, "postmigrate") == 0 ||
        strcmp(status, "finish-migrate") == 0)
        return ferry_error_set(err, EBUSY, "domain '%s' is in state '%s'", m->dom->def->name,
                               status);
    p->mig_was_running = running;
    p->mig_we_paused = false;
    pthread_mutex_lock(&p->mig_lock);
    p->mig_speed_override = false; /* a new migration: see qemu_dom */
    p->mig_disk_speed_set = false;
    p->mig_postcopy_wanted = p->mig_ram_running = p->mig_postcopy_active = false;
    pthread_mutex_unlock(&p->mig_lock);
    if ((r = tls_check_source(m, err)) < 0 || (r = qemu_compress_check_source(m, p->qmp, err)) < 0)
        return r;
    return qemu_storage_check(m, err);
}

/* ---- Prepare ---- */

static bool is_numeric_ip(const char *s)
{
    unsigned char buf[16];

    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* "tcp:HOST:PORT" or "tcp://HOST:PORT" → host and port. */
static int parse_tcp_uri(const char *uri, char *host, size_t hl, unsigned *port,
                         struct ferry_error *err)
{
    const char *s = uri + (strncmp(uri, "tcp://", 6) == 0 ? 6 : 4);
    const char *colon = strrchr(s, ':');
    uint64_t v;
    _cleanup_free_ char *ps = NULL;

    if (!colon)
        return ferry_error_set(err, EINVAL, "migration URI '%s' has no port", uri);
    ps = ferry_strdup(colon + 1);
    ps[strcspn(ps, "/?")] = '\0';
    if (ferry_parse_u64(ps, &v) < 0 || v > 65535)
        return ferry_error_set(err, EINVAL, "migration URI '%s' has a bad port", uri);
    snprintf(host, hl, "%.*s", (int)(colon - s), s);
    if (host[0] == '[') {
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    *port = (unsigned)v;
    return 0;
}

static int incoming_port(struct qmp_conn *qmp, unsigned *ret, struct ferry_error *err)
{
    _cleanup_(json_object_putp) json_object *res = NULL;
    json_object *addrs = NULL, *a, *port;
    int r;

    r = qmp_conn_execute(qmp, "query-migrate", NULL, QMP_TIMEOUT_MS, &res, err);
    if (r < 0)
        return r;
    if (!json_object_object_get_ex(res, "socket-address", &addrs) ||
        json_object_array_length(addrs) == 0)
        return ferry_error_set(err, EPROTO, "QEMU reported no incoming socket address");
    a = json_object_array_get_idx(addrs, 0);
    if (!json_object_object_get_ex(a, "port", &port))
        return ferry_error_set(err, EPROTO, "QEMU reported no incoming port");
    *ret = (unsigned)atoi(json_object_get_string(port));
    return 0;
}

/* Post-copy needs Confirm: the source QEMU must keep serving pages after
 * Perform returns and until Finish saw the destination complete; v2 and
 * v1 stop the source guest at the end of Perform. */
static int postcopy_check_version(struct mig_ctx *m, struct ferry_error *err)
{
    if ((m->params->flags & MIG_POSTCOPY) && m->version < 3)
        return ferry_error_set(err, ENOTSUP,
                               "--postcopy needs migration protocol v3 (this migration uses v%d: "
                               "without Confirm the source would stop while it still holds "
                               "guest memory)",
                               m->version);
    return 0;
}

/* A CD-ROM's medium is never copied: it must be here already, at the
 * same path. */
static int cdrom_check(const struct domain_def *def, struct ferry_error *err)
{
    for (size_t i = 0; i < def->n_disks; i++) {
        const struct domain_disk *d = &def->disks[i];

        if (d->cdrom && d->source && access(d->source, R_OK) < 0)
            return ferry_error_set_errno(err, errno,
                                         "disk '%s': CD-ROM medium '%s' is not on this host (a "
                                         "migration never copies a CD-ROM)",
                                         d->target, d->source);
    }
    return 0;
}

int qemu_migrate_prepare(struct mig_ctx *m, struct ferry_error *err)
{
    struct agent *ag = m->agent;
    const struct mig_params *mp = m->params;
    struct qemu_dom *p;
    _cleanup_free_ char *listen_uri = NULL;
    _cleanup_free_ char *hint = TAKE_PTR(m->uri);
    char host[256];
    unsigned port = 0;
    json_object *args;
    int r;

    if (mp->flags & MIG_OFFLINE) {
        /* Only the definition moves: Finish persists it. */
        m->uri = ferry_strdup("");
        return 0;
    }
    if ((r = postcopy_check_version(m, err)) < 0)
        return r;
    if ((mp->flags & MIG_TLS) && (r = qemu_tls_check_files(ag, true, err)) < 0)
        return r;
    /* Before anything is created: the guest cannot run here without its
     * machine, its CPU model, its bridges or the media it has inserted. */
    if ((r = qemu_abi_check(m->dom->def, err)) < 0 || (r = qemu_net_check(m->dom->def, err)) < 0 ||
        (r = cdrom_check(m->dom->def, err)) < 0)
        return r;
    hv_job_mark(m, "create-targets", HV_MARK_START);
    r = qemu_storage_prepare_targets(m, err);
    hv_job_mark(m, "create-targets", HV_MARK_END);
    if (r < 0)
        return r;
    hv_job_mark(m, "qemu-start", HV_MARK_START);
    r = qemu_process_start(ag, m->dom, true, err);
    hv_job_mark(m, "qemu-start", HV_MARK_END);
    if (r < 0)
        goto remove_targets;
    p = m->dom->priv;
    pthread_mutex_lock(&p->mig_lock);
    p->mig_postcopy_active = p->postcopy_failed = p->postcopy_unknown = false;
    pthread_mutex_unlock(&p->mig_lock);
    if ((r = set_caps(p->qmp, mp, false, err)) < 0 || (r = set_params(p->qmp, mp, false, err)) < 0)
        goto stop_qemu;
    /* --tls: before migrate-incoming and nbd-server-start, which use it. */
    if ((mp->flags & MIG_TLS) && (r = qemu_tls_setup(ag, p->qmp, true, NULL, err)) < 0)
        goto stop_qemu;
    /* Without --tls a fresh key guards the RAM port and the NBD server
     * (tunnelled RAM travels on the agents' connection instead). The
     * source learns it from our cookie, over the authenticated channel. */
    p->stream_psk = false;
    /* Not for post-copy yet: its recovery reconnects after Perform ended,
     * when the source no longer holds the key; nor with --zerocopy, which
     * QEMU 7.2 refuses over TLS (docs/security.md). */
    if (!(mp->flags & (MIG_TLS | MIG_TUNNELLED | MIG_POSTCOPY | MIG_ZEROCOPY))) {
        r = qemu_tls_setup_psk(ag, p->qmp, m->dom->def->name, true, NULL, m->cookie_out.stream_psk,
                               err);
        if (r < 0)
            goto stop_qemu;
        p->stream_psk = true;
    }

    if (mp->flags & MIG_TUNNELLED) {
        /* The stream arrives as DATA frames on the agents' connection; the
         * agent writes them into this socket. */
        m->tunnel_path =
            ferry_strdup_printf("%s/%s.tunnel-in", qemu_socket_dir(), m->dom->def->name);
        unlink(m->tunnel_path);
        listen_uri = ferry_strdup_printf("unix:%s", m->tunnel_path);
        m->uri = ferry_strdup_printf("tunnel:%u", m->tunnel_id);
    } else if (mp->migrate_uri && strncmp(mp->migrate_uri, "unix:", 5) == 0) {
        listen_uri = ferry_strdup(mp->migrate_uri);
        m->uri = ferry_strdup(mp->migrate_uri);
    } else {
        const char *listen_host;
        if (mp->migrate_uri) {
            if ((r = parse_tcp_uri(mp->migrate_uri, host, sizeof host, &port, err)) < 0)
                goto stop_qemu;
        } else {
            snprintf(host, sizeof host, "%s", hint && *hint ? hint : ag->hostname);
        }
        /* Listen where asked; else on the address the source used to reach
         * us when it is numeric; else everywhere. */
        listen_host = mp->listen_address    ? mp->listen_address
                      : is_numeric_ip(host) ? host
                                            : "0.0.0.0";
        listen_uri = ferry_strdup_printf(strchr(listen_host, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u",
                                         listen_host, port);
    }
    args = json_object_new_object();
    json_object_object_add(args, "uri", json_object_new_string(listen_uri));
    if ((r = qmp_conn_execute(p->qmp, "migrate-incoming", args, QMP_TIMEOUT_MS, NULL, err)) < 0)
        goto stop_qemu;
    if (!m->uri) {
        if (port == 0 && (r = incoming_port(p->qmp, &port, err)) < 0)
            goto stop_qemu;
        m->uri = ferry_strdup_printf(strchr(host, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u", host, port);
    }
    snprintf(m->cookie_out.migrate_uri, sizeof m->cookie_out.migrate_uri, "%s", m->uri);
    if ((r = qemu_storage_prepare_exports(m, err)) < 0)
        goto stop_qemu;
    return 0;

stop_qemu:
    qemu_process_stop(ag, m->dom, NULL);
    qemu_tls_psk_remove(ag, m->dom->def->name);
    qemu_remove_logs(ag, m->dom->def->name);
remove_targets:
    qemu_storage_remove_targets(m);
    return r;
}

/* ---- Perform ---- */

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

static int poll_stats(struct mig_ctx *m, struct qmp_conn *qmp, char *status, size_t sl,
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

/* ---- Post-copy (libvirt's VIR_MIGRATE_POSTCOPY) ----
 *
 * The switch: QEMU stops the guest here, reaches pre-switchover (so the
 * final disk pass runs exactly as for a pre-copy completion: QEMU 7.2's
 * postcopy_start pauses there before it inactivates the disks), and after
 * migrate-continue reports postcopy-active. Perform returns then, as
 * libvirt's does; Finish resumes the guest on the destination while this
 * QEMU still serves the pages not sent yet, and waits until the
 * destination has them all; Confirm stops this QEMU. A failure after the
 * switch never resumes the source and never kills a living destination:
 * both keep the guest (reason "postcopy-failed"; see postcopy_keep). */

static int postcopy_request(struct qmp_conn *qmp, struct ferry_error *err)
{
    return qmp_conn_execute(qmp, "migrate-start-postcopy", NULL, QMP_TIMEOUT_MS, NULL, err);
}

/* Perform's poll tick: asks QEMU for the switch once it is wanted, by
 * migrate.start_postcopy made before the RAM migration ran, or by
 * --postcopy-after-precopy once the first full RAM pass is over (QEMU then
 * synced its dirty bitmap a second time: virsh's iteration 2). *ASKED:
 * QEMU was asked already. */
static void postcopy_tick(struct mig_ctx *m, struct qmp_conn *qmp, bool *asked)
{
    struct qemu_dom *p = priv(m);
    struct ferry_error e = {0};
    bool want;

    if (!(m->params->flags & MIG_POSTCOPY) || *asked)
        return;
    uint64_t iteration = hv_job_stats_lock(m)->memory_iteration;
    hv_job_stats_unlock(m);
    pthread_mutex_lock(&p->mig_lock);
    if (m->params->postcopy_after_precopy && iteration >= 2)
        p->mig_postcopy_wanted = true;
    want = p->mig_postcopy_wanted;
    pthread_mutex_unlock(&p->mig_lock);
    if (!want)
        return;
    *asked = true;
    /* In the job record before QEMU hears of it: an agent that dies in
     * between must not resume a guest that may run on the destination. */
    hv_job_mark_postcopy(m->agent, m->dom);
    if (postcopy_request(qmp, &e) < 0)
        ferry_warn("migration of '%s': migrate-start-postcopy: %s", m->dom->def->name,
                   ferry_error_msg(&e));
    else
        ferry_debug("migration of '%s': post-copy requested", m->dom->def->name);
    ferry_error_clear(&e);
}

int qemu_migrate_start_postcopy(struct agent *ag, struct agent_domain *dom, struct ferry_error *err)
{
    struct qemu_dom *p = dom->priv;
    struct qmp_conn *qmp = qemu_dom_qmp(dom, err);
    bool running;

    if (!p || !qmp)
        return -ENOTCONN;
    pthread_mutex_lock(&p->mig_lock);
    if (p->mig_postcopy_active) {
        pthread_mutex_unlock(&p->mig_lock);
        return ferry_error_set(err, EALREADY, "the migration of '%s' is in post-copy already",
                               dom->def->name);
    }
    p->mig_postcopy_wanted = true;
    running = p->mig_ram_running;
    pthread_mutex_unlock(&p->mig_lock);
    /* Before the RAM migration runs (a disk copy converging), Perform
     * asks QEMU as soon as it started it (and records it then). */
    if (!running)
        return 0;
    hv_job_mark_postcopy(ag, dom);
    return postcopy_request(qmp, err);
}

#define PROGRESS_INTERVAL_MS 1000

static int perform_ram(struct mig_ctx *m, struct qmp_conn *qmp, const char *uri,
                       struct ferry_error *err)
{
    struct qemu_dom *p = priv(m);
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
        (r = set_caps(qmp, mp, true, err)) < 0 || (r = set_params(qmp, mp, true, err)) < 0)
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
            poll_stats(m, qmp, s, sizeof s, NULL, 0);
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
            postcopy_tick(m, qmp, &pc_asked);
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
             * then let QEMU switch over. */
            p->mig_we_paused = true;
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
            poll_stats(m, qmp, NULL, 0, NULL, 0);
            ferry_debug("migration '%s': post-copy started", m->dom->def->name);
            return 0;
        } else if (strcmp(status, "completed") == 0) {
            /* QEMU announces "completed" before it computes the downtime
             * and total time: query until they are there (bounded). */
            for (int i = 0; i < 50; i++) {
                int64_t dt;
                poll_stats(m, qmp, NULL, 0, NULL, 0);
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
            poll_stats(m, qmp, NULL, 0, errdesc, sizeof errdesc);
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
    struct qemu_dom *p = priv(m);
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
             (r = parse_tcp_uri(m->uri, host, sizeof host, &port, err)) < 0)
        return r;
    return qemu_tls_setup(m->agent, priv(m)->qmp, false, host[0] ? host : NULL, err);
}

int qemu_migrate_perform(struct mig_ctx *m, struct ferry_error *err)
{
    struct qemu_dom *p = priv(m);
    const struct mig_params *given = m->params;
    struct mig_params eff;
    int r;

    if (m->params->flags & MIG_OFFLINE)
        return 0;
    if ((r = postcopy_check_version(m, err)) < 0)
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
    struct qemu_dom *p = priv(m);

    /* Called with the job lock held: only fire-and-forget work here. The
     * perform loop notices the abort flag and cancels QEMU's migration. */
    qemu_storage_cancel(m);
    (void)p;
}

/* ---- Finish ---- */

/* Appends TEXT to ERR's message (set, may be NULL), cut at its size. */
static void error_append(struct ferry_error *err, const char *text)
{
    size_t n;

    if (!ferry_error_is_set(err))
        return;
    n = strlen(err->msg);
    snprintf(err->msg + n, sizeof err->msg - n, "%s", text);
}

static bool is_postcopy_status(const char *status)
{
    return strncmp(status, "postcopy-", 9) == 0;
}

/* QEMU's migration status into BUF ("" when it cannot say), and its
 * error-desc into ERRDESC when there is one. */
static int query_status(struct qmp_conn *qmp, char *buf, size_t len, char *errdesc, size_t el,
                        struct ferry_error *err)
{
    _cleanup_(json_object_putp) json_object *q = NULL;
    int r = qmp_conn_execute(qmp, "query-migrate", NULL, QMP_TIMEOUT_MS, &q, err);

    if (r < 0)
        return r;
    status_of(q, buf, len, errdesc, el);
    return 0;
}

/* Either side: the guest was switched to the destination (post-copy
 * started), so this side's guest must neither be resumed nor killed
 * here. From our own record, else from QEMU (an agent that restarted). */
static bool postcopy_switched(struct mig_ctx *m)
{
    struct qemu_dom *p = priv(m);
    char status[64] = "";
    bool sw;

    if (!(m->params->flags & MIG_POSTCOPY) || !p)
        return false;
    pthread_mutex_lock(&p->mig_lock);
    sw = p->mig_postcopy_active;
    pthread_mutex_unlock(&p->mig_lock);
    if (sw || !p->qmp || !qmp_conn_alive(p->qmp))
        return sw;
    /* "completed" on the destination may be a post-copy that ended: its
     * guest may be the only whole one, so it is kept too. */
    return query_status(p->qmp, status, sizeof status, NULL, 0, NULL) == 0 &&
           (is_postcopy_status(status) || (m->dom->incoming && strcmp(status, "completed") == 0));
}

/* A migration failed after the switch: keep the guest here, its QEMU
 * alive, and say so (domstate reason "postcopy-failed"). The source's
 * stays paused. The destination's is not paused, as libvirt does not
 * (its "running, postcopy-failed"): its vCPUs wait inside page faults for
 * pages that will not come, and QEMU's "stop" would wait for them forever,
 * with its monitor hung meanwhile. */
static void postcopy_keep(struct mig_ctx *m, const struct ferry_error *why, bool unknown)
{
    struct qemu_dom *p = priv(m);
    json_object *d = json_object_new_object();

    if (!m->dom->incoming && p->qmp && qmp_conn_alive(p->qmp))
        qmp_conn_execute(p->qmp, "stop", NULL, QMP_TIMEOUT_MS, NULL, NULL);
    pthread_mutex_lock(&p->mig_lock);
    p->postcopy_failed = true;
    p->postcopy_unknown = unknown;
    pthread_mutex_unlock(&p->mig_lock);
    p->mig_we_paused = false;
    json_object_object_add(d, "side",
                           json_object_new_string(m->dom->incoming ? "destination" : "source"));
    json_object_object_add(d, "outcome", json_object_new_string(unknown ? "unknown" : "failed"));
    if (why && ferry_error_is_set(why))
        json_object_object_add(d, "error", json_object_new_string(ferry_error_msg(why)));
    hv_emit_event(m->agent, "migration-postcopy-failed", m->dom->def->name, d);
}

/* Destination, post-copy: the guest runs here already; waits until the
 * source has sent every page (bounded below the orchestrator's step
 * timeout). */
#define POSTCOPY_FINISH_TIMEOUT_MS 270000

static int postcopy_wait_incoming(struct mig_ctx *m, struct ferry_error *err)
{
    struct qemu_dom *p = priv(m);
    int64_t deadline = ferry_now_ms() + POSTCOPY_FINISH_TIMEOUT_MS;
    char status[64], errdesc[512];
    int r;

    for (;;) {
        if ((r = query_status(p->qmp, status, sizeof status, errdesc, sizeof errdesc, err)) < 0)
            return r;
        if (strcmp(status, "completed") == 0)
            return 0;
        if (strcmp(status, "postcopy-active") != 0)
            return ferry_error_set(err, EIO, "incoming migration %s%s%s", status,
                                   errdesc[0] ? ": " : "", errdesc);
        if (ferry_now_ms() > deadline)
            return ferry_error_set(err, ETIMEDOUT, "the post-copy phase did not end within %d s",
                                   POSTCOPY_FINISH_TIMEOUT_MS / 1000);
        usleep(50 * 1000);
    }
}

int qemu_migrate_finish(struct mig_ctx *m, struct ferry_error *err)
{
    struct agent *ag = m->agent;
    struct qemu_dom *p = priv(m);
    int64_t deadline = ferry_now_ms() + FINISH_TIMEOUT_MS;
    bool postcopy = false; /* the switch happened: never kill this guest */
    int r;

    if (m->params->flags & MIG_OFFLINE) /* nothing ran here, cancelled or not */
        return 0;
    if (m->cancelled && postcopy_switched(m)) {
        r = ferry_error_set(err, EIO,
                            "post-copy migration of '%s' failed after the switch: the guest is "
                            "kept on this host (postcopy-failed), not killed",
                            m->dom->def->name);
        postcopy_keep(m, err, false);
        goto keep;
    }
    if (m->cancelled) {
        qemu_storage_finish(m, NULL);
        qemu_process_stop(ag, m->dom, NULL);
        qemu_tls_psk_remove(ag, m->dom->def->name);
        qemu_remove_logs(ag, m->dom->def->name);
        qemu_storage_remove_targets(m);
        return 0;
    }
    if (!p || !p->qmp || !qmp_conn_alive(p->qmp)) {
        r = ferry_error_set(err, EIO, "the incoming QEMU of '%s' is gone", m->dom->def->name);
        goto fail;
    }
    /* The source saw "completed"; the destination may still be loading
     * device state. */
    hv_job_mark(m, "incoming", HV_MARK_START);
    for (;;) {
        _cleanup_(json_object_putp) json_object *q = NULL;
        json_object *st = NULL, *ed = NULL;
        const char *status;

        r = qmp_conn_execute(p->qmp, "query-migrate", NULL, QMP_TIMEOUT_MS, &q, err);
        if (r < 0)
            goto fail;
        status = json_object_object_get_ex(q, "status", &st) ? json_object_get_string(st) : "";
        if (strcmp(status, "completed") == 0)
            break;
        if ((m->params->flags & MIG_POSTCOPY) && is_postcopy_status(status)) {
            /* Resume the guest now, as libvirt does: the source serves
             * the pages it still holds while the guest runs here. */
            pthread_mutex_lock(&p->mig_lock);
            p->mig_postcopy_active = true;
            pthread_mutex_unlock(&p->mig_lock);
            /* job.info here shows the phase as the source's does. */
            struct cookie_stats *js = hv_job_stats_lock(m);
            snprintf(js->status, sizeof js->status, "%s", status);
            hv_job_stats_unlock(m);
            /* Recorded before the guest runs here: a restarted agent
             * never tears it down. */
            hv_job_mark_postcopy(ag, m->dom);
            postcopy = true;
            if (strcmp(status, "postcopy-active") == 0)
                break;
            r = ferry_error_set(err, EIO, "incoming migration %s", status);
            goto fail;
        }
        if (strcmp(status, "failed") == 0 || strcmp(status, "cancelled") == 0) {
            json_object_object_get_ex(q, "error-desc", &ed);
            r = ferry_error_set(err, EIO, "incoming migration %s%s%s", status, ed ? ": " : "",
                                ed ? json_object_get_string(ed) : "");
            goto fail;
        }
        if (ferry_now_ms() > deadline) {
            r = ferry_error_set(err, ETIMEDOUT, "incoming migration did not complete within %d s",
                                FINISH_TIMEOUT_MS / 1000);
            goto fail;
        }
        usleep(20 * 1000);
    }
    hv_job_mark(m, "incoming", HV_MARK_END);
    if (!postcopy && (r = qemu_nvram_check_destination(m, p->qmp, err)) < 0)
        goto fail;
    if ((r = qemu_storage_finish(m, err)) < 0)
        goto fail;
    if ((m->params->flags & MIG_TLS) || p->stream_psk)
        qemu_tls_teardown(p->qmp); /* the NBD server that used it is stopped */
    if (p->stream_psk)
        qemu_tls_psk_remove(m->agent, m->dom->def->name);
    p->stream_psk = false;
    if (!(m->params->flags & MIG_PAUSED)) {
        hv_job_mark(m, "resume", HV_MARK_START);
        r = qmp_conn_execute(p->qmp, "cont", NULL, QMP_TIMEOUT_MS, NULL, err);
        hv_job_mark(m, "resume", HV_MARK_END);
        if (r < 0)
            goto fail;
        __atomic_store_n(&p->run_reason, "migrated", __ATOMIC_SEQ_CST);
    }
    if (postcopy && (r = postcopy_wait_incoming(m, err)) < 0)
        goto fail;
    {
        _cleanup_free_ char *inc =
            ferry_strdup_printf("%s/%s.incoming", ag->run_dir, m->dom->def->name);
        unlink(inc);
    }
    m->dom->incoming = false;
    pthread_mutex_lock(&p->mig_lock);
    p->mig_postcopy_active = false; /* over: the guest is whole here */
    pthread_mutex_unlock(&p->mig_lock);
    if (postcopy) {
        struct cookie_stats *st = hv_job_stats_lock(m);
        snprintf(st->status, sizeof st->status, "completed");
        hv_job_stats_unlock(m);
    }
    hv_emit_event(ag, m->params->flags & MIG_PAUSED ? "migrated-paused" : "migrated-resumed",
                  m->dom->def->name, NULL);
    return 0;

fail:
    if (postcopy) {
        ferry_error_prefix(err, "post-copy migration of '%s' failed after the switch",
                           m->dom->def->name);
        if (p->qmp && qmp_conn_alive(p->qmp)) {
            /* Perhaps the only copy of the guest's newest state. */
            error_append(err, "; the guest is kept on this host (postcopy-failed), waiting "
                              "for pages the source no longer sends");
            postcopy_keep(m, err, false);
            goto keep;
        }
        error_append(err, "; the guest is lost here and kept paused on the source");
    }
    qemu_storage_finish(m, NULL);
    qemu_process_stop(ag, m->dom, NULL);
    qemu_tls_psk_remove(ag, m->dom->def->name);
    qemu_remove_logs(ag, m->dom->def->name);
    qemu_storage_remove_targets(m);
    return r;

keep:
    /* A domain of this host now (transient unless --persistent made it
     * otherwise), paused until the user destroys it. */
    qemu_storage_finish(m, NULL);
    {
        _cleanup_free_ char *inc =
            ferry_strdup_printf("%s/%s.incoming", ag->run_dir, m->dom->def->name);
        unlink(inc);
    }
    m->dom->incoming = false;
    return r;
}

/* ---- Confirm ---- */

/* Source, post-copy, the destination completed: QEMU here finishes the
 * stream and reports its final figures (total time, downtime) for the
 * job statistics. Bounded; the guest is whole on the destination anyway. */
static void postcopy_wait_outgoing(struct mig_ctx *m)
{
    struct qemu_dom *p = priv(m);
    int64_t deadline = ferry_now_ms() + 10000;
    char status[64] = "";

    while (p->qmp && qmp_conn_alive(p->qmp) && ferry_now_ms() < deadline) {
        if (poll_stats(m, p->qmp, status, sizeof status, NULL, 0) < 0 ||
            strcmp(status, "completed") == 0 || !is_postcopy_status(status))
            return;
        usleep(20 * 1000);
    }
}

/* Source, a cancelled Confirm after the switch: QEMU's outgoing status
 * into ST ("" when it cannot say), after waiting (bounded) while pages
 * still flow. */
#define POSTCOPY_CONFIRM_WAIT_MS 10000

static void postcopy_wait_active(struct mig_ctx *m, char *st, size_t len)
{
    struct qemu_dom *p = priv(m);
    int64_t deadline = ferry_now_ms() + POSTCOPY_CONFIRM_WAIT_MS;

    st[0] = '\0';
    while (p && p->qmp && qmp_conn_alive(p->qmp)) {
        if (query_status(p->qmp, st, len, NULL, 0, NULL) < 0) {
            st[0] = '\0';
            return;
        }
        if (strcmp(st, "postcopy-active") != 0 || ferry_now_ms() > deadline)
            return;
        usleep(50 * 1000);
    }
}

int qemu_migrate_confirm(struct mig_ctx *m, struct ferry_error *err)
{
    struct agent *ag = m->agent;
    struct qemu_dom *p = priv(m);
    char status[64];
    bool running = false;

    if (m->params->flags & MIG_OFFLINE)
        return 0;
    if (!m->cancelled) {
        /* The guest runs on the destination now. */
        if (postcopy_switched(m))
            postcopy_wait_outgoing(m);
        qemu_process_stop(ag, m->dom, NULL);
        __atomic_store_n(&p->stop_reason, "migrated", __ATOMIC_SEQ_CST);
        hv_emit_event(ag, "stopped", m->dom->def->name, NULL);
        return 0;
    }
    qemu_storage_stop(m);
    if (postcopy_switched(m)) {
        /* Resuming would run the guest twice (the destination may run it
         * still) or lose what it did there since the switch. What QEMU
         * says of its stream decides how the source ends. */
        char st[64] = "";

        postcopy_wait_active(m, st, sizeof st);
        if (strcmp(st, "completed") == 0) {
            /* QEMU completes a post-copy stream only once the destination
             * has loaded every page and closed the return path: the guest
             * is whole there, whatever the caller saw of Finish. */
            ferry_info("migration of '%s': cancelled after the switch, but QEMU's post-copy "
                       "stream completed: the guest is whole on the destination; stopping it "
                       "here",
                       m->dom->def->name);
            qemu_process_stop(ag, m->dom, NULL);
            __atomic_store_n(&p->stop_reason, "migrated", __ATOMIC_SEQ_CST);
            hv_emit_event(ag, "stopped", m->dom->def->name, NULL);
            return HV_CONFIRM_COMPLETED;
        }
        if (strcmp(st, "postcopy-active") == 0 || !st[0]) {
            /* Pages still flow (or QEMU cannot say): the destination may
             * yet complete, or may have failed; nobody here knows. */
            ferry_error_set(err, EIO,
                            "post-copy: '%s' had been switched to the destination and the "
                            "outcome there is unknown (QEMU's stream is '%s'); it stays paused "
                            "here (postcopy-unknown) rather than run twice or lose its writes "
                            "there (destroy it, or the destination's copy, when you know which "
                            "one is whole)",
                            m->dom->def->name, st[0] ? st : "unknown");
            postcopy_keep(m, err, true);
            return -EIO;
        }
        ferry_error_set(err, EIO,
                        "post-copy: '%s' had been switched to the destination when the "
                        "migration failed (QEMU's stream is '%s'); it stays paused here "
                        "(postcopy-failed) rather than run twice or lose its writes there "
                        "(destroy it, or the destination's copy, when you know which one is "
                        "whole)",
                        m->dom->def->name, st);
        postcopy_keep(m, err, false);
        return -EIO;
    }
    if (!p || !p->qmp || !qmp_conn_alive(p->qmp))
        return ferry_error_set(err, EIO, "the source QEMU of '%s' is gone", m->dom->def->name);
    if (qemu_query_status(p->qmp, status, sizeof status, &running, err) < 0)
        return -EIO;
    if (!running && (p->mig_was_running || p->mig_we_paused)) {
        if (qmp_conn_execute(p->qmp, "cont", NULL, QMP_TIMEOUT_MS, NULL, err) < 0) {
            ferry_error_prefix(err, "resuming '%s' after a failed migration", m->dom->def->name);
            return -EIO;
        }
        __atomic_store_n(&p->run_reason, "migration-canceled", __ATOMIC_SEQ_CST);
        hv_emit_event(ag, "resumed", m->dom->def->name, NULL);
    }
    p->mig_we_paused = false;
    return 0;
}
