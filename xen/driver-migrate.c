/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Xen driver's migration steps around xl's own migration. xl carries
 * the guest (`xl migrate` / `xl migrate-receive`); ferry provides the
 * transport and the v3 steps:
 *   Prepare (destination): listen on a TCP port for this one migration and
 *     return "xl+tcp://HOST:PORT/TOKEN"; a thread accepts the connection that
 *     presents TOKEN and runs `xl migrate-receive -p` on it (-p: the guest
 *     stays paused until Finish; without -e xl leaves its usual daemon to
 *     watch the domain, so on_reboot/on_crash work as after xl create).
 *   Perform (source): `xl migrate -s "" NAME "exec ferry-xl-pipe HOST PORT
 *     TOKEN"`: with an empty ssh command xl runs the host argument as the
 *     transport, so no ssh is involved.
 *   Finish (destination): wait for xl migrate-receive, unpause (unless
 *     --paused).  Confirm (source): on failure resume the guest.
 * xl's point of no return is its GO message inside Perform: after it the
 * source copy is destroyed by xl itself (success) or left paused as
 * NAME--migratedaway (handshake broken). The driver then never destroys or
 * resumes a copy that may be the only one: it keeps both paused and says
 * so, as xl does. */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "driver-migrate.h"
#include "xen-net.h"
#include "xen-relay.h"
#include "util.h"

#define ACCEPT_TIMEOUT_MS 120000 /* Prepare -> the source's connection */
#define FINISH_TIMEOUT_MS 120000

static int check_params(struct mig_ctx *m, const char *step, struct ferry_error *err)
{
    const struct mig_params *mp = m->params;

    if (mp->dname && strcmp(mp->dname, m->dom->def->name) != 0)
        return ferry_error_set(err, ENOTSUP, "%s: xl migrate cannot rename a domain ('%s' to '%s')",
                               step, m->dom->def->name, mp->dname);
    if (mp->bandwidth_mib)
        return ferry_error_set(err, ENOTSUP, "%s: xl migrate has no bandwidth limit", step);
    return 0;
}

/* ---- Begin (source) ---- */

int xen_migrate_begin(struct mig_ctx *m, struct ferry_error *err)
{
    struct xen_dom *p = xen_priv(m->agent, m->dom);
    bool paused = false;
    int r;

    if ((r = check_params(m, "begin", err)) < 0)
        return r;
    if (m->params->flags & MIG_OFFLINE)
        return 0; /* only the definition moves */
    r = xen_domain_lookup(m->agent, m->dom->def->name, &paused, err);
    if (r < 0)
        return r;
    if (r == 0)
        return ferry_error_set(err, ENOENT, "begin: xl has no domain '%s'", m->dom->def->name);
    p->mig_was_running = !paused;
    return 0;
}

/* ---- Prepare (destination) ---- */

void xen_incoming_free(struct xen_incoming *in)
{
    if (!in)
        return;
    if (in->thread_started) {
        in->stop = true;
        pid_t pid = in->pid;
        if (pid > 0)
            kill(pid, SIGKILL);
        pthread_join(in->thread, NULL);
    }
    if (in->listen_fd >= 0)
        close(in->listen_fd);
    if (in->sock_path[0])
        unlink(in->sock_path);
    pthread_mutex_destroy(&in->lock);
    pthread_cond_destroy(&in->cond);
    free(in);
}

static int accept_source(struct xen_incoming *in)
{
    int64_t deadline = ferry_now_ms() + ACCEPT_TIMEOUT_MS;

    for (int bad = 0; bad < MAX_BAD_CONNECTIONS && !in->stop;) {
        struct pollfd p = {.fd = in->listen_fd, .events = POLLIN};
        int left = ferry_ms_left(deadline);
        if (left == 0)
            return -ETIMEDOUT;
        if (poll(&p, 1, left < 200 ? left : 200) <= 0)
            continue;
        int fd = accept4(in->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        /* Tunnelled: only the agent core (same user, private run
         * directory) connects; it carries no token. */
        if (in->sock_path[0] || xen_token_ok(fd, in->token))
            return fd;
        close(fd);
        bad++;
    }
    return -ECONNREFUSED;
}

static void *receive_main(void *opaque)
{
    struct xen_incoming *in = opaque;
    int status = -1;
    int fd = accept_source(in);

    close(in->listen_fd);
    in->listen_fd = -1;
    if (fd >= 0 && !in->stop) {
        int logfd = open(in->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        pid_t pid = fork();
        if (pid == 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            if (logfd >= 0)
                dup2(logfd, 2);
            signal(SIGPIPE, SIG_DFL);
            execlp(in->xl, in->xl, "migrate-receive", "-p", (char *)NULL);
            /* Only async-signal-safe calls here: the agent has threads. */
            static const char msg[] = "cannot execute the xl toolstack\n";
            if (write(2, msg, sizeof msg - 1) < 0) {
                /* nothing left to tell */
            }
            _exit(127);
        }
        if (logfd >= 0)
            close(logfd);
        if (pid > 0) {
            in->pid = pid;
            /* Finish(cancelled) may have asked to stop before it saw the pid. */
            if (in->stop)
                kill(pid, SIGKILL);
            int st;
            while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
                ;
            in->pid = 0;
            status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
    }
    if (fd >= 0)
        close(fd);
    pthread_mutex_lock(&in->lock);
    in->status = status;
    in->done = true;
    pthread_cond_broadcast(&in->cond);
    pthread_mutex_unlock(&in->lock);
    return NULL;
}

int xen_migrate_prepare(struct mig_ctx *m, struct ferry_error *err)
{
    struct agent *ag = m->agent;
    const struct mig_params *mp = m->params;
    struct xen_dom *p = xen_priv(ag, m->dom);
    _cleanup_free_ char *hint = TAKE_PTR(m->uri);
    char host[256];
    unsigned port = 0;
    int r;

    if ((r = check_params(m, "prepare", err)) < 0)
        return r;
    if (mp->flags & MIG_OFFLINE) {
        m->uri = ferry_strdup("");
        return 0;
    }
    r = xen_domain_lookup(m->agent, m->dom->def->name, NULL, err);
    if (r < 0)
        return r;
    if (r == 1)
        return ferry_error_set(err, EEXIST, "prepare: xl already has a domain '%s' here",
                               m->dom->def->name);
    snprintf(host, sizeof host, "%s", hint && *hint ? hint : ag->hostname);
    if (mp->migrate_uri &&
        (r = xen_parse_uri(mp->migrate_uri, host, sizeof host, &port, NULL, 0, err)) < 0)
        return r;

    struct xen_incoming *in = ferry_calloc(1, sizeof *in);
    pthread_mutex_init(&in->lock, NULL);
    pthread_cond_init(&in->cond, NULL);
    in->status = -1;
    snprintf(in->xl, sizeof in->xl, "%s", xen_drv_of(ag)->xl);
    in->paused = (mp->flags & MIG_PAUSED) != 0;
    ferry_uuid_generate(in->token);
    snprintf(in->log_path, sizeof in->log_path, "%s/%s.xl-receive.log", ag->run_dir,
             m->dom->def->name);
    if (mp->flags & MIG_TUNNELLED) {
        /* The stream comes inside the agents' connection: the core
         * connects here at its first DATA frame and sends xl's answers
         * back (duplex tunnel, hv.h). */
        snprintf(in->sock_path, sizeof in->sock_path, "%s/%s.xl-in.sock", ag->run_dir,
                 m->dom->def->name);
        if (strlen(ag->run_dir) + strlen(m->dom->def->name) + 12 >= sizeof in->sock_path) {
            in->sock_path[0] = '\0';
            in->listen_fd = -1;
            xen_incoming_free(in);
            return ferry_error_set(err, ENAMETOOLONG,
                                   "prepare: run directory '%s' is too long for a unix socket",
                                   ag->run_dir);
        }
        in->listen_fd = xen_listen_unix_path(in->sock_path, err);
        if (in->listen_fd < 0)
            in->sock_path[0] = '\0';
    } else {
        in->listen_fd = xen_listen_on(mp->listen_address, port, &port, err);
    }
    if (in->listen_fd < 0) {
        r = in->listen_fd;
        in->listen_fd = -1;
        xen_incoming_free(in);
        return r;
    }
    if ((r = pthread_create(&in->thread, NULL, receive_main, in)) != 0) {
        xen_incoming_free(in);
        return ferry_error_set_errno(err, r, "prepare: cannot start the receiver thread");
    }
    in->thread_started = true;
    xen_incoming_free(p->in);
    p->in = in;
    m->dom->incoming = true;
    if (in->sock_path[0]) {
        m->tunnel_path = ferry_strdup(in->sock_path);
        m->tunnel_duplex = true;
        m->uri = ferry_strdup_printf("tunnel:%u", m->tunnel_id);
        return 0;
    }
    m->uri = ferry_strdup_printf(strchr(host, ':') ? "xl+tcp://[%s]:%u/%s" : "xl+tcp://%s:%u/%s",
                                 host, port, in->token);
    snprintf(m->cookie_out.migrate_uri, sizeof m->cookie_out.migrate_uri, "%s", m->uri);
    m->dom->incoming = true;
    return 0;
}

/* ---- Perform (source) ---- */

/* S in single quotes for sh. Caller frees. */
static char *sh_quote(const char *s)
{
    size_t n = 2;
    for (const char *c = s; *c; c++)
        n += *c == '\'' ? 4 : 1;
    char *q = ferry_calloc(n + 1, 1), *o = q;
    *o++ = '\'';
    for (const char *c = s; *c; c++) {
        if (*c == '\'') {
            memcpy(o, "'\\''", 4); // NOLINT(bugprone-not-null-terminated-result): mid-string
            o += 4;
        } else {
            *o++ = *c;
        }
    }
    *o = '\'';
    return q;
}

/* Progress of one xl migrate, from ferry-xl-pipe's statistics file. */
struct perform_watch {
    struct mig_ctx *m;
    char stats_path[1100];
    int64_t started_ms;
    uint64_t last_sent;
    int64_t last_ms;
};

static void perform_stats(struct perform_watch *w, const char *status)
{
    _cleanup_free_ char *text = NULL;
    struct ferry_error e = {0};
    unsigned long long sent = 0, received = 0;
    if (ferry_read_file(w->stats_path, 128, &text, NULL, &e) == 0)
        sscanf(text, "%llu %llu", &sent, &received);
    int64_t now = ferry_now_ms();
    if (!w->m->job)
        return;
    struct cookie_stats *s = hv_job_stats_lock(w->m);
    s->set = true;
    if (status)
        snprintf(s->status, sizeof s->status, "%s", status);
    s->memory_total = w->m->dom->def->memory_kib * 1024;
    if (sent > s->memory_processed) {
        if (now > w->last_ms && w->last_ms)
            s->memory_bps = (sent - w->last_sent) * 1000 / (uint64_t)(now - w->last_ms);
        s->memory_processed = s->memory_transferred = sent;
    }
    s->memory_remaining =
        s->memory_total > s->memory_processed ? s->memory_total - s->memory_processed : 0;
    s->time_elapsed_ms = now - w->started_ms;
    hv_job_stats_unlock(w->m);
    w->last_sent = sent;
    w->last_ms = now;
}

static void perform_tick(void *opaque)
{
    perform_stats(opaque, "active");
}

int xen_migrate_perform(struct mig_ctx *m, struct ferry_error *err)
{
    struct xen_dom *p = xen_priv(m->agent, m->dom);
    struct xen_xl_result res;
    int r;

    /* Xen refuses renaming here too, as it always did at Perform. */
    if ((r = check_params(m, "perform", err)) < 0)
        return r;
    if (m->params->flags & MIG_OFFLINE)
        return 0;
    if (m->version < 3 && (r = xen_migrate_begin(m, err)) < 0)
        return r;
    if (!m->uri || !*m->uri)
        return ferry_error_set(err, EINVAL, "perform: no migration URI from the destination");
    bool tunnelled = m->tunnel_send && m->tunnel_recv;
    struct xl_relay rl;
    _cleanup_free_ char *qp = sh_quote(xen_drv_of(m->agent)->pipe), *target = NULL;
    if (tunnelled) {
        if ((r = xen_relay_start(m, &rl, err)) < 0)
            return r;
        _cleanup_free_ char *qu = ferry_strdup_printf("unix:%s", rl.path);
        _cleanup_free_ char *qq = sh_quote(qu), *qt = sh_quote(rl.token);
        target = ferry_strdup_printf("%s %s", qq, qt);
    } else {
        char host[256], token[FERRY_UUID_STRLEN + 8];
        unsigned port;
        if ((r = xen_parse_uri(m->uri, host, sizeof host, &port, token, sizeof token, err)) < 0)
            return r;
        _cleanup_free_ char *qh = sh_quote(host), *qt = sh_quote(token);
        target = ferry_strdup_printf("%s %u %s", qh, port, qt);
    }

    struct perform_watch w = {.m = m, .started_ms = ferry_now_ms()};
    snprintf(w.stats_path, sizeof w.stats_path, "%s/%s.xl-send.stats", m->agent->run_dir,
             m->dom->def->name);
    unlink(w.stats_path);
    _cleanup_free_ char *qs = sh_quote(w.stats_path);
    _cleanup_free_ char *rune = ferry_strdup_printf("exec %s %s %s", qp, target, qs);
    struct xen_xl_watch watch = {
        .pid_slot = &p->send_pid, .tick = perform_tick, .opaque = &w, .tick_ms = 250};

    r = xen_xl_run(xen_drv_of(m->agent)->xl,
                   (const char *const[]){"migrate", "-s", "", m->dom->def->name, rune, NULL},
                   XEN_PERFORM_TIMEOUT_MS, &watch, &res, err);
    perform_stats(&w, r == 0 && res.status == 0 ? "completed" : "failed");
    unlink(w.stats_path);
    struct ferry_error relay_err = {0};
    if (tunnelled) {
        xen_relay_stop(&rl);
        relay_err = rl.err;
    }
    if (r < 0)
        return r;
    if (res.status != 0) {
        r = xen_xl_fail("migrate", &res, err);
        xen_xl_result_clear(&res);
        /* The tunnel's error is the root cause of xl's. */
        if (ferry_error_is_set(&relay_err))
            ferry_error_prefix(err, "%s", ferry_error_msg(&relay_err));
        return r;
    }
    xen_xl_result_clear(&res);
    return 0;
}

void xen_migrate_cancel(struct mig_ctx *m)
{
    struct xen_dom *p = m->dom->priv;
    pid_t pid = p ? p->send_pid : 0;

    /* Fire and forget (the job lock is held): xl migrate dies, Perform
     * returns its failure, Confirm resumes the guest if it can. */
    if (pid > 0)
        kill(pid, SIGTERM);
}

/* ---- Finish (destination) ---- */

static bool log_says(const char *path, const char *what)
{
    _cleanup_free_ char *text = NULL;
    struct ferry_error e = {0};

    if (ferry_read_file(path, 1u << 20, &text, NULL, &e) < 0)
        return false;
    return strstr(text, what) != NULL;
}

/* Destroys a half-received copy; keeps a handed-over one (see above). */
static int finish_cleanup(struct mig_ctx *m, struct xen_incoming *in, struct ferry_error *err)
{
    const char *name = m->dom->def->name;
    _cleanup_free_ char *incoming = ferry_strdup_printf("%s--incoming", name);
    struct ferry_error e = {0};

    if (xen_domain_lookup(m->agent, incoming, NULL, &e) == 1)
        xen_xl(m->agent, (const char *const[]){"destroy", incoming, NULL}, NULL, &e);
    m->dom->incoming = false;
    if (xen_domain_lookup(m->agent, name, NULL, &e) == 1) {
        if (log_says(in->log_path, "Got permission, starting domain")) {
            m->dom->active = true;
            return ferry_error_set(err, EIO,
                                   "finish: '%s' was handed over by xl before the migration "
                                   "failed; it is kept paused here and the source may hold a "
                                   "paused copy: check both hosts and resume at most one",
                                   name);
        }
        xen_xl(m->agent, (const char *const[]){"destroy", name, NULL}, NULL, &e);
    }
    m->dom->active = false;
    return 0;
}

int xen_migrate_finish(struct mig_ctx *m, struct ferry_error *err)
{
    struct agent *ag = m->agent;
    struct xen_dom *p = xen_priv(ag, m->dom);
    struct xen_incoming *in = p->in;
    int r;

    if (m->params->flags & MIG_OFFLINE)
        return 0;
    if (!in)
        return m->cancelled ? 0
                            : ferry_error_set(err, EINVAL, "finish: no prepared migration of '%s'",
                                              m->dom->def->name);
    if (m->cancelled) {
        in->stop = true;
        pid_t pid = in->pid;
        if (pid > 0)
            kill(pid, SIGKILL);
    }
    /* xl migrate-receive ends right after its report to the source. */
    int64_t deadline = ferry_now_ms() + FINISH_TIMEOUT_MS;
    pthread_mutex_lock(&in->lock);
    while (!in->done && ferry_ms_left(deadline) > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&in->cond, &in->lock, &ts);
    }
    bool done = in->done;
    int status = in->status;
    pthread_mutex_unlock(&in->lock);

    if (m->cancelled) {
        r = finish_cleanup(m, in, err);
        xen_incoming_free(in);
        p->in = NULL;
        return r;
    }
    if (!done) {
        r = ferry_error_set(err, ETIMEDOUT, "finish: xl migrate-receive did not end within %d s",
                            FINISH_TIMEOUT_MS / 1000);
        goto fail;
    }
    if (status != 0) {
        r = ferry_error_set(err, EIO, "finish: xl migrate-receive %s %d (see %s)",
                            status < 0 ? "never ran: status" : "failed with status", status,
                            in->log_path);
        goto fail;
    }
    struct xen_info info;
    r = xen_domain_info(m->agent, m->dom->def->name, &info, err);
    if (r == 0)
        r = ferry_error_set(err, ENOENT, "finish: xl has no domain '%s' after the migration",
                            m->dom->def->name);
    if (r < 0)
        goto fail;
    if (m->version == 1) {
        /* Protocol v1 sends no definition: the core made a placeholder and
         * xl's own stream brought the real one. Take what xl reports. */
        pthread_mutex_lock(&m->dom->lock);
        if (info.uuid[0])
            snprintf(m->dom->def->uuid, sizeof m->dom->def->uuid, "%s", info.uuid);
        m->dom->def->memory_kib = info.memory_mib * 1024;
        m->dom->def->vcpus = info.vcpus;
        pthread_mutex_unlock(&m->dom->lock);
    }
    m->dom->active = true;
    m->dom->incoming = false;
    if ((r = xen_write_cfg(ag, m->dom, err)) < 0)
        goto fail;
    if (!in->paused &&
        (r = xen_xl(m->agent, (const char *const[]){"unpause", m->dom->def->name, NULL}, NULL,
                    err)) < 0)
        goto fail;
    xen_incoming_free(in);
    p->in = NULL;
    return 0;

fail:
    /* Never destroy a guest xl has handed over: it may be the only copy. */
    {
        struct ferry_error e = {0};
        finish_cleanup(m, in, &e);
    }
    xen_incoming_free(in);
    p->in = NULL;
    return r;
}

/* ---- Confirm (source) ---- */

int xen_migrate_confirm(struct mig_ctx *m, struct ferry_error *err)
{
    struct agent *ag = m->agent;
    struct xen_dom *p = xen_priv(ag, m->dom);
    const char *name = m->dom->def->name;
    bool paused = false;
    int r;

    if (m->params->flags & MIG_OFFLINE)
        return 0;
    if (!m->cancelled) {
        /* xl migrate destroyed the source copy itself. */
        m->dom->active = false;
        xen_forget_run_state(ag, m->dom);
        return 0;
    }
    r = xen_domain_lookup(m->agent, name, &paused, err);
    if (r < 0)
        return r;
    if (r == 1) {
        if (paused && p->mig_was_running)
            return xen_xl(m->agent, (const char *const[]){"unpause", name, NULL}, NULL, err);
        return 0;
    }
    _cleanup_free_ char *away = ferry_strdup_printf("%s--migratedaway", name);
    struct ferry_error e = {0};
    m->dom->active = false;
    if (xen_domain_lookup(m->agent, away, NULL, &e) == 1)
        return ferry_error_set(err, EIO,
                               "confirm: xl's final handshake failed after the point of no "
                               "return; the source copy is kept paused as '%s': check both "
                               "hosts and resume at most one",
                               away);
    return ferry_error_set(err, ENOENT, "confirm: '%s' is gone from this host", name);
}
