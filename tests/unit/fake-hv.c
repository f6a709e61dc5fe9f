/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fake hypervisor driver of test-migrate-engine.c (see fake-hv.h). It
 * does what the contract in agent/hv.h asks of a driver and nothing more:
 * a guest is a row of a table, a migration moves rows between hosts. */
#include "fake-hv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "cleanup.h"

#define MAX_PROCS   16
#define MAX_LOG     64
#define WAIT_MS     10000 /* bound of every wait: a hung engine fails the test */
#define NAME_LEN    64
#define STEP_LEN    16
#define LOG_ENT_LEN 48

struct fake_proc {
    bool used;
    int host;
    char name[NAME_LEN];
    bool paused;
    bool incoming;
    bool stream_in; /* incoming: a source's Perform sent it the whole guest */
};

struct fake_host {
    char fail_at[STEP_LEN];
    char crash_at[STEP_LEN];
    bool perform_waits;
    bool perform_entered;
    bool cancel_requested;
    bool stream_completed;
    bool crashed;
    struct fake_proc crash_procs[MAX_PROCS]; /* this host's rows at the crash */
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct fake_proc procs[MAX_PROCS];
    struct fake_host hosts[FAKE_HOSTS];
    char log[MAX_LOG][LOG_ENT_LEN];
    size_t n_log;
    char log_text[MAX_LOG * LOG_ENT_LEN];
} fk = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

static int host_index(const char *hostname)
{
    if (strcmp(hostname, "hostA") == 0)
        return 0;
    if (strcmp(hostname, "hostB") == 0)
        return 1;
    fprintf(stderr, "fake-hv: unknown host '%s'\n", hostname);
    abort(); /* a test set-up error */
}

static int host_of(struct agent *ag)
{
    return host_index(ag->hostname);
}

static void log_add(int h, const char *what)
{
    pthread_mutex_lock(&fk.lock);
    if (fk.n_log < MAX_LOG)
        snprintf(fk.log[fk.n_log++], LOG_ENT_LEN, "%c:%s", 'A' + h, what);
    pthread_mutex_unlock(&fk.lock);
}

/* Under fk.lock. */
static struct fake_proc *proc_find(int h, const char *name)
{
    for (size_t i = 0; i < MAX_PROCS; i++)
        if (fk.procs[i].used && fk.procs[i].host == h && strcmp(fk.procs[i].name, name) == 0)
            return &fk.procs[i];
    return NULL;
}

/* A full table fails the start as a host out of resources would: the
 * unit tests never come near MAX_PROCS, but fuzz-api's agent collects
 * the domains its inputs define over an hour. */
static int proc_add(int h, const char *name, bool paused, bool incoming, struct ferry_error *err)
{
    pthread_mutex_lock(&fk.lock);
    struct fake_proc *p = proc_find(h, name);
    for (size_t i = 0; !p && i < MAX_PROCS; i++)
        if (!fk.procs[i].used)
            p = &fk.procs[i];
    if (!p) {
        pthread_mutex_unlock(&fk.lock);
        return ferry_error_set(err, EAGAIN, "the fake host runs %d guests at most", MAX_PROCS);
    }
    *p = (struct fake_proc){.used = true, .host = h, .paused = paused, .incoming = incoming};
    snprintf(p->name, sizeof p->name, "%s", name);
    pthread_mutex_unlock(&fk.lock);
    return 0;
}

static void proc_set(int h, const char *name, int paused, int incoming)
{
    pthread_mutex_lock(&fk.lock);
    struct fake_proc *p = proc_find(h, name);
    if (p && paused >= 0)
        p->paused = paused;
    if (p && incoming >= 0)
        p->incoming = incoming;
    pthread_mutex_unlock(&fk.lock);
}

static void proc_remove(int h, const char *name)
{
    pthread_mutex_lock(&fk.lock);
    struct fake_proc *p = proc_find(h, name);
    if (p)
        p->used = false;
    pthread_mutex_unlock(&fk.lock);
}

/* The run state agent_restore_running() reads back: STATE/run/NAME.xml. */
static void run_state_write(struct agent *ag, struct agent_domain *dom)
{
    _cleanup_free_ char *path = ferry_strdup_printf("%s/%s.xml", ag->run_dir, dom->def->name);
    _cleanup_free_ char *xml = domain_def_format(dom->def);

    if (!xml || ferry_write_file_atomic(path, xml, strlen(xml), 0600, NULL) < 0) {
        fprintf(stderr, "fake-hv: cannot write '%s'\n", path);
        abort();
    }
}

static void run_state_remove(struct agent *ag, const char *name)
{
    _cleanup_free_ char *path = ferry_strdup_printf("%s/%s.xml", ag->run_dir, name);

    unlink(path);
}

static void guest_gone(struct agent *ag, struct agent_domain *dom)
{
    proc_remove(host_of(ag), dom->def->name);
    dom->active = false;
    dom->incoming = false;
    run_state_remove(ag, dom->def->name);
}

/* ---- crash snapshots ---- */

static int copy_tree(const char *from, const char *to)
{
    _cleanup_(closedirp) DIR *d = opendir(from);
    struct dirent *de;

    if (!d || mkdir(to, 0700) < 0)
        return -1;
    while ((de = readdir(d))) {
        _cleanup_free_ char *src = NULL, *dst = NULL, *buf = NULL;
        struct stat st;
        size_t len;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        src = ferry_strdup_printf("%s/%s", from, de->d_name);
        dst = ferry_strdup_printf("%s/%s", to, de->d_name);
        if (lstat(src, &st) < 0)
            return -1;
        if (S_ISDIR(st.st_mode)) {
            if (copy_tree(src, dst) < 0)
                return -1;
        } else if (S_ISREG(st.st_mode)) {
            if (ferry_read_file(src, 16u << 20, &buf, &len, NULL) < 0 ||
                ferry_write_file_atomic(dst, buf, len, st.st_mode & 0777, NULL) < 0)
                return -1;
        }
    }
    return 0;
}

void fake_rm_rf(const char *path)
{
    _cleanup_(closedirp) DIR *d = opendir(path);
    struct dirent *de;

    while (d && (de = readdir(d))) {
        _cleanup_free_ char *p = NULL;
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        p = ferry_strdup_printf("%s/%s", path, de->d_name);
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            fake_rm_rf(p);
        else
            unlink(p);
    }
    rmdir(path);
}

/* True (and the step must fail) when H is told to crash at STEP: what is
 * durable now, and the guests, are put aside for fake_crash_restore(). */
static bool crash_here(struct mig_ctx *m, int h, const char *step, struct ferry_error *err)
{
    struct fake_host *fh = &fk.hosts[h];
    _cleanup_free_ char *copy = NULL;

    pthread_mutex_lock(&fk.lock);
    bool crash = strcmp(fh->crash_at, step) == 0 && !fh->crashed;
    pthread_mutex_unlock(&fk.lock);
    if (!crash)
        return false;
    copy = ferry_strdup_printf("%s.crash", m->agent->cfg.state_dir);
    fake_rm_rf(copy);
    if (copy_tree(m->agent->cfg.state_dir, copy) < 0) {
        fprintf(stderr, "fake-hv: cannot copy '%s'\n", m->agent->cfg.state_dir);
        abort();
    }
    pthread_mutex_lock(&fk.lock);
    fh->crashed = true;
    for (size_t i = 0; i < MAX_PROCS; i++)
        fh->crash_procs[i] =
            fk.procs[i].used && fk.procs[i].host == h ? fk.procs[i] : (struct fake_proc){0};
    pthread_mutex_unlock(&fk.lock);
    ferry_error_set(err, ECONNRESET, "%s: the agent crashed (fake)", step);
    return true;
}

int fake_crash_restore(int h, const char *state_dir)
{
    struct fake_host *fh = &fk.hosts[h];
    _cleanup_free_ char *copy = ferry_strdup_printf("%s.crash", state_dir);

    pthread_mutex_lock(&fk.lock);
    if (!fh->crashed) {
        pthread_mutex_unlock(&fk.lock);
        return -ENOENT;
    }
    for (size_t i = 0; i < MAX_PROCS; i++)
        if (fk.procs[i].used && fk.procs[i].host == h)
            fk.procs[i].used = false;
    for (size_t i = 0; i < MAX_PROCS; i++) {
        if (!fh->crash_procs[i].used)
            continue;
        for (size_t k = 0; k < MAX_PROCS; k++) {
            if (!fk.procs[k].used) {
                fk.procs[k] = fh->crash_procs[i];
                break;
            }
        }
    }
    fh->crashed = false;
    fh->crash_at[0] = '\0';
    pthread_mutex_unlock(&fk.lock);
    fake_rm_rf(state_dir);
    return rename(copy, state_dir) < 0 ? -errno : 0;
}

static int guest_flag(int h, const char *name, int which);

/* ---- the driver ---- */

/* Logs STEP on the host and says whether the fake fails it on purpose
 * (ERR set). */
static int step_enter(struct mig_ctx *m, const char *step, struct ferry_error *err)
{
    int h = host_of(m->agent);
    char what[LOG_ENT_LEN];
    bool fail;

    pthread_mutex_lock(&fk.lock);
    fail = strcmp(fk.hosts[h].fail_at, step) == 0;
    pthread_mutex_unlock(&fk.lock);
    if (strcmp(step, "finish") == 0 || strcmp(step, "confirm") == 0)
        snprintf(what, sizeof what, "%s(%s)%s", step, m->cancelled ? "cancelled" : "ok",
                 fail ? "!" : "");
    else
        snprintf(what, sizeof what, "%s%s", step, fail ? "!" : "");
    log_add(h, what);
    if (fail)
        return ferry_error_set(err, EIO, "%s: the fake driver fails here", step);
    return 0;
}

static int fake_domain_start(struct agent *ag, struct agent_domain *dom, struct ferry_error *err)
{
    if (proc_add(host_of(ag), dom->def->name, false, false, err) < 0)
        return -EAGAIN;
    dom->active = true;
    run_state_write(ag, dom);
    return 0;
}

static int fake_domain_attach(struct agent *ag, struct agent_domain *dom, struct ferry_error *err)
{
    int h = host_of(ag);
    struct fake_proc *p;
    bool incoming = false;

    (void)err;
    pthread_mutex_lock(&fk.lock);
    p = proc_find(h, dom->def->name);
    if (p)
        incoming = p->incoming;
    pthread_mutex_unlock(&fk.lock);
    if (!p) {
        run_state_remove(ag, dom->def->name);
        return 0;
    }
    dom->active = true;
    dom->incoming = incoming;
    return 1;
}

static int fake_domain_destroy(struct agent *ag, struct agent_domain *dom, struct ferry_error *err)
{
    (void)err;
    guest_gone(ag, dom);
    return 0;
}

static int fake_domain_state(struct agent *ag, struct agent_domain *dom, char *state_buf,
                             size_t state_len, char *reason_buf, size_t reason_len,
                             struct ferry_error *err)
{
    int h = host_of(ag);
    struct fake_proc *p;

    (void)err;
    pthread_mutex_lock(&fk.lock);
    p = proc_find(h, dom->def->name);
    snprintf(state_buf, state_len, "%s", !p ? "shutoff" : p->paused ? "paused" : "running");
    snprintf(reason_buf, reason_len, "%s", p && p->incoming ? "migrating" : "");
    pthread_mutex_unlock(&fk.lock);
    return 0;
}

static void fake_domain_release(struct agent *ag, struct agent_domain *dom)
{
    (void)ag;
    (void)dom;
}

static int fake_begin(struct mig_ctx *m, struct ferry_error *err)
{
    int r = step_enter(m, "begin", err);

    if (r == 0 && crash_here(m, host_of(m->agent), "begin", err))
        r = -ECONNRESET;
    return r;
}

static int fake_prepare(struct mig_ctx *m, struct ferry_error *err)
{
    int h = host_of(m->agent);
    int r = step_enter(m, "prepare", err);

    if (r < 0)
        return r;
    if (crash_here(m, h, "prepare", err))
        return -ECONNRESET;
    /* The incoming guest: a process, paused, waiting for its stream. */
    if (proc_add(h, m->dom->def->name, true, true, err) < 0)
        return -EAGAIN;
    m->dom->active = true;
    m->dom->incoming = true;
    run_state_write(m->agent, m->dom);
    free(m->uri);
    m->uri = ferry_strdup_printf("fake:%s", m->agent->hostname);
    return 0;
}

static int fake_perform(struct mig_ctx *m, struct ferry_error *err)
{
    int h = host_of(m->agent);
    struct fake_host *fh = &fk.hosts[h];
    bool cancelled = false;
    int r = step_enter(m, "perform", err);

    /* Paused at the switch-over from here on: whatever fails after it,
     * only the engine's cancelled Confirm runs the guest here again. */
    proc_set(h, m->dom->def->name, true, -1);
    pthread_mutex_lock(&fk.lock);
    fh->perform_entered = true;
    pthread_cond_broadcast(&fk.cond);
    if (r == 0 && fh->perform_waits) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += WAIT_MS / 1000;
        while (!fh->cancel_requested &&
               pthread_cond_timedwait(&fk.cond, &fk.lock, &until) != ETIMEDOUT)
            ;
        cancelled = fh->cancel_requested;
    }
    pthread_mutex_unlock(&fk.lock);
    if (r == 0 && cancelled)
        r = ferry_error_set(err, ECANCELED, "perform: migration cancelled (fake)");
    else if (r == 0 && fh->perform_waits)
        r = ferry_error_set(err, ETIMEDOUT, "perform: nobody cancelled the fake's wait");
    if (r == 0) {
        /* The stream reached the destination Prepare named in the URI. */
        if (!m->uri || strncmp(m->uri, "fake:", 5) != 0)
            return ferry_error_set(err, EINVAL, "perform: not a fake URI: '%s'",
                                   m->uri ? m->uri : "");
        int d = host_index(m->uri + 5);
        pthread_mutex_lock(&fk.lock);
        struct fake_proc *p = proc_find(d, m->dom->def->name);
        if (p)
            p->stream_in = true;
        pthread_mutex_unlock(&fk.lock);
    }
    if (crash_here(m, h, "perform", err))
        r = -ECONNRESET;
    return r;
}

static int fake_finish(struct mig_ctx *m, struct ferry_error *err)
{
    int h = host_of(m->agent);
    int r = step_enter(m, "finish", err);

    if (r == 0 && crash_here(m, h, "finish", err))
        return -ECONNRESET;
    if (r == 0 && !m->cancelled && !guest_flag(h, m->dom->def->name, 3))
        r = ferry_error_set(err, ETIMEDOUT, "finish: the incoming stream did not complete");
    if (r < 0 || m->cancelled) {
        /* A failed Finish tears the incoming guest down too. */
        guest_gone(m->agent, m->dom);
        return r;
    }
    proc_set(h, m->dom->def->name, (m->params->flags & MIG_PAUSED) != 0, false);
    m->dom->incoming = false;
    return 0;
}

static int fake_confirm(struct mig_ctx *m, struct ferry_error *err)
{
    int h = host_of(m->agent);
    int r = step_enter(m, "confirm", err);

    if (r < 0)
        return r;
    if (crash_here(m, h, "confirm", err))
        return -ECONNRESET;
    if (m->cancelled)
        proc_set(h, m->dom->def->name, false, -1); /* runs here again */
    else
        guest_gone(m->agent, m->dom); /* runs on the destination */
    return 0;
}

static void fake_cancel(struct mig_ctx *m)
{
    int h = host_of(m->agent);

    log_add(h, "cancel");
    pthread_mutex_lock(&fk.lock);
    fk.hosts[h].cancel_requested = true;
    pthread_cond_broadcast(&fk.cond);
    pthread_mutex_unlock(&fk.lock);
}

/* The driver's part of the job record: which host wrote it, so that
 * restore can tell its own record from a made-up one. */
static void fake_record_save(struct agent *ag, struct agent_domain *dom, json_object *record)
{
    (void)dom;
    json_object_object_add(record, "fake_host", json_object_new_string(ag->hostname));
}

static void fake_record_restore(struct agent *ag, struct agent_domain *dom, json_object *record)
{
    json_object *v = NULL;
    bool ours = record && json_object_object_get_ex(record, "fake_host", &v) &&
                strcmp(json_object_get_string(v), ag->hostname) == 0;

    (void)dom;
    log_add(host_of(ag), !record ? "restore(none)" : ours ? "restore" : "restore(foreign)");
}

static bool fake_drv_stream_completed(struct agent *ag, struct agent_domain *dom)
{
    bool c;

    (void)dom;
    pthread_mutex_lock(&fk.lock);
    c = fk.hosts[host_of(ag)].stream_completed;
    pthread_mutex_unlock(&fk.lock);
    return c;
}

static void fake_sweep(struct agent *ag, struct agent_domain *dom, unsigned flags,
                       json_object *removed)
{
    char what[LOG_ENT_LEN];

    (void)dom;
    (void)removed;
    snprintf(what, sizeof what, "sweep(%s%s%s)", flags & HV_SWEEP_CANCEL ? "cancel" : "",
             (flags & HV_SWEEP_CANCEL) && (flags & HV_SWEEP_SERVER) ? "," : "",
             flags & HV_SWEEP_SERVER ? "server" : "");
    log_add(host_of(ag), what);
}

static const char *const fake_transports[] = {"fake", NULL};

const struct hv_driver fake_driver = {
    .name = "fake",
    .domain_start = fake_domain_start,
    .domain_attach = fake_domain_attach,
    .domain_destroy = fake_domain_destroy,
    .domain_state = fake_domain_state,
    .domain_release = fake_domain_release,
    .storage_engines = 1u << MIG_STORAGE_FERRY,
    .min_version = 2,
    .uri_transports = fake_transports,
    .supported_flags = MIG_LIVE | MIG_PEER2PEER | MIG_PERSIST_DEST | MIG_UNDEFINE_SOURCE |
                       MIG_PAUSED | MIG_NON_SHARED_DISK | MIG_NON_SHARED_INC | MIG_OFFLINE |
                       MIG_ABORT_ON_ERROR,
    .migrate_begin = fake_begin,
    .migrate_prepare = fake_prepare,
    .migrate_perform = fake_perform,
    .migrate_finish = fake_finish,
    .migrate_confirm = fake_confirm,
    .migrate_cancel = fake_cancel,
    .job_record_save = fake_record_save,
    .job_record_restore = fake_record_restore,
    .migrate_stream_completed = fake_drv_stream_completed,
    .migrate_sweep = fake_sweep,
};

/* ---- the test's side ---- */

void fake_reset(void)
{
    pthread_mutex_lock(&fk.lock);
    memset(fk.procs, 0, sizeof fk.procs);
    memset(fk.hosts, 0, sizeof fk.hosts);
    fk.n_log = 0;
    pthread_mutex_unlock(&fk.lock);
}

const char *fake_log(void)
{
    size_t used = 0;

    pthread_mutex_lock(&fk.lock);
    fk.log_text[0] = '\0';
    for (size_t i = 0; i < fk.n_log; i++)
        used += (size_t)snprintf(fk.log_text + used, sizeof fk.log_text - used, "%s%s",
                                 i ? " " : "", fk.log[i]);
    pthread_mutex_unlock(&fk.lock);
    return fk.log_text;
}

void fake_log_clear(void)
{
    pthread_mutex_lock(&fk.lock);
    fk.n_log = 0;
    pthread_mutex_unlock(&fk.lock);
}

void fake_fail_at(int h, const char *step)
{
    pthread_mutex_lock(&fk.lock);
    snprintf(fk.hosts[h].fail_at, STEP_LEN, "%s", step ? step : "");
    pthread_mutex_unlock(&fk.lock);
}

void fake_perform_waits(int h, bool wait)
{
    pthread_mutex_lock(&fk.lock);
    fk.hosts[h].perform_waits = wait;
    fk.hosts[h].perform_entered = false;
    fk.hosts[h].cancel_requested = false;
    pthread_mutex_unlock(&fk.lock);
}

bool fake_wait_perform_entered(int h)
{
    struct timespec until;
    bool entered;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&fk.lock);
    while (!fk.hosts[h].perform_entered &&
           pthread_cond_timedwait(&fk.cond, &fk.lock, &until) != ETIMEDOUT)
        ;
    entered = fk.hosts[h].perform_entered;
    pthread_mutex_unlock(&fk.lock);
    return entered;
}

void fake_crash_at(int h, const char *step)
{
    pthread_mutex_lock(&fk.lock);
    snprintf(fk.hosts[h].crash_at, STEP_LEN, "%s", step ? step : "");
    fk.hosts[h].crashed = false;
    pthread_mutex_unlock(&fk.lock);
}

void fake_stream_completed(int h, bool completed)
{
    pthread_mutex_lock(&fk.lock);
    fk.hosts[h].stream_completed = completed;
    pthread_mutex_unlock(&fk.lock);
}

static int guest_flag(int h, const char *name, int which)
{
    struct fake_proc *p;
    int v;

    pthread_mutex_lock(&fk.lock);
    p = proc_find(h, name);
    v = !p ? 0 : which == 0 ? 1 : which == 1 ? p->paused : which == 2 ? p->incoming : p->stream_in;
    pthread_mutex_unlock(&fk.lock);
    return v;
}

bool fake_guest_exists(int h, const char *name)
{
    return guest_flag(h, name, 0);
}

bool fake_guest_paused(int h, const char *name)
{
    return guest_flag(h, name, 1);
}

bool fake_guest_incoming(int h, const char *name)
{
    return guest_flag(h, name, 2);
}

void fake_guest_kill(int h, const char *name)
{
    proc_remove(h, name);
}
