/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QEMU driver's migration steps, Begin, Prepare, Finish and Confirm,
 * and the capabilities and parameters both QEMUs get. RAM migration runs
 * over QMP with pause-before-switchover, so that the last storage pass
 * and every decision happen while the source is paused and still
 * authoritative: Perform is in qemu-perform.c, post-copy's switch and its
 * failures in qemu-postcopy.c, the storage copy in qemu-storage.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "json.h"
#include "migparams.h"
#include "mir-sync.h"
#include "qemu-cmdline.h"
#include "qemu-priv.h"

#define QMP_TIMEOUT_MS    30000
#define FINISH_TIMEOUT_MS 120000

static json_object *cap(const char *name, bool state)
{
    json_object *o = json_object_new_object();

    json_object_object_add(o, "capability", json_object_new_string(name));
    json_object_object_add(o, "state", json_object_new_boolean(state));
    return o;
}

int qemu_migrate_set_caps(struct qmp_conn *qmp, const struct mig_params *p, bool source,
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

int qemu_migrate_set_params(struct qmp_conn *qmp, const struct mig_params *p, bool source,
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
    struct qemu_dom *p = qemu_mig_priv(m);
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
    qemu_handover_set(p, false);
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
int qemu_parse_tcp_uri(const char *uri, char *host, size_t hl, unsigned *port,
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
    if ((r = qemu_postcopy_check_version(m, err)) < 0)
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
    if ((r = qemu_migrate_set_caps(p->qmp, mp, false, err)) < 0 ||
        (r = qemu_migrate_set_params(p->qmp, mp, false, err)) < 0)
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
            if ((r = qemu_parse_tcp_uri(mp->migrate_uri, host, sizeof host, &port, err)) < 0)
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

int qemu_migrate_finish(struct mig_ctx *m, struct ferry_error *err)
{
    struct agent *ag = m->agent;
    struct qemu_dom *p = qemu_mig_priv(m);
    int64_t deadline = ferry_now_ms() + FINISH_TIMEOUT_MS;
    bool postcopy = false; /* the switch happened: never kill this guest */
    int r;

    if (m->params->flags & MIG_OFFLINE) /* nothing ran here, cancelled or not */
        return 0;
    if (m->cancelled && qemu_postcopy_switched(m)) {
        r = ferry_error_set(err, EIO,
                            "post-copy migration of '%s' failed after the switch: the guest is "
                            "kept on this host (postcopy-failed), not killed",
                            m->dom->def->name);
        qemu_postcopy_keep(m, err, false);
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
        if ((m->params->flags & MIG_POSTCOPY) && qemu_postcopy_status(status)) {
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
    if (postcopy && (r = qemu_postcopy_wait_incoming(m, err)) < 0)
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
            qemu_postcopy_keep(m, err, false);
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

int qemu_migrate_confirm(struct mig_ctx *m, struct ferry_error *err)
{
    struct agent *ag = m->agent;
    struct qemu_dom *p = qemu_mig_priv(m);
    char status[64];
    bool running = false;

    if (m->params->flags & MIG_OFFLINE)
        return 0;
    if (!m->cancelled) {
        /* The guest runs on the destination now. */
        if (qemu_postcopy_switched(m))
            qemu_postcopy_wait_outgoing(m);
        qemu_process_stop(ag, m->dom, NULL);
        __atomic_store_n(&p->stop_reason, "migrated", __ATOMIC_SEQ_CST);
        hv_emit_event(ag, "stopped", m->dom->def->name, NULL);
        return 0;
    }
    qemu_storage_stop(m);
    if (qemu_postcopy_switched(m)) {
        /* Resuming would run the guest twice (the destination may run it
         * still) or lose what it did there since the switch. What QEMU
         * says of its stream decides how the source ends. */
        char st[64] = "";

        qemu_postcopy_wait_active(m, st, sizeof st);
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
            qemu_postcopy_keep(m, err, true);
            return -EIO;
        }
        ferry_error_set(err, EIO,
                        "post-copy: '%s' had been switched to the destination when the "
                        "migration failed (QEMU's stream is '%s'); it stays paused here "
                        "(postcopy-failed) rather than run twice or lose its writes there "
                        "(destroy it, or the destination's copy, when you know which one is "
                        "whole)",
                        m->dom->def->name, st);
        qemu_postcopy_keep(m, err, false);
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
    qemu_handover_set(p, false);
    return 0;
}
