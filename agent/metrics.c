/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Prometheus metrics (docs/metrics.md): the exposition text, rebuilt at
 * each scrape from the registry and the running jobs' statistics, plus the
 * counters and histograms of finished migrations kept here; and the HTTP
 * endpoint, libmicrohttpd with a thread per scraper. Names follow
 * Prometheus' conventions and KubeVirt's kubevirt_vmi_migration_* set. */
#include "json.h"
#include "metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "cleanup.h"
#include "ferry-config.h"
#include "admission.h"
#include "wire.h"

/* QEMU's dirty-pages-rate counts target pages: 4 KiB on x86_64, the only
 * architecture ferry runs. */
#define TARGET_PAGE_BYTES 4096

/* Downtime is QEMU's figure for the whole paused window: milliseconds to
 * seconds. Total time: from Begin (source) or Prepare (destination) to
 * the end of the job. */
static const double downtime_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const double duration_bounds[] = {0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800};
#define MAX_BOUNDS 11

struct histogram {
    uint64_t counts[MAX_BOUNDS + 1]; /* per bucket, not cumulative; the last is +Inf */
    double sum;
    uint64_t count;
};

enum { DIR_OUT, DIR_IN, N_DIR };
static const char *const dir_names[N_DIR] = {"outgoing", "incoming"};

/* One series of the failed/cancelled counters. Reasons come from a fixed
 * set (the error codes of docs/protocol.md and two cancellation causes),
 * so the table cannot grow past it. */
struct result_series {
    int dir;
    bool cancelled;
    char reason[32];
    uint64_t n;
};
#define MAX_RESULT_SERIES 64

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct histogram downtime_hist;
static struct histogram duration_hist[N_DIR];
static uint64_t completed_total[N_DIR];
static struct result_series results[MAX_RESULT_SERIES];
static size_t n_results;

static int direction(const char *operation)
{
    if (strcmp(operation, "migration-out") == 0)
        return DIR_OUT;
    if (strcmp(operation, "migration-in") == 0)
        return DIR_IN;
    return -1;
}

static void hist_observe(struct histogram *h, const double *bounds, size_t n_bounds, double v)
{
    size_t i = 0;

    while (i < n_bounds && v > bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}

void agent_metrics_job_ended(const struct agent_job *job, int err_code)
{
    int d = direction(job->operation);
    const char *status = job->stats.status;
    bool cancelled = strcmp(status, "cancelled") == 0;
    const char *reason;

    if (d < 0)
        return;
    /* A cancellation is either an operator's job.abort or the owner's
     * connection closing (docs/control-api.md, "A client that goes away");
     * a failure is named by its error code. */
    if (cancelled)
        reason = job->orphaned ? "client-gone" : "aborted";
    else
        reason = wire_errno_code(err_code ? err_code : EIO);
    pthread_mutex_lock(&metrics_lock);
    hist_observe(&duration_hist[d], duration_bounds, ARRAY_SIZE(duration_bounds),
                 (double)job->stats.time_elapsed_ms / 1000.0);
    if (strcmp(status, "completed") == 0) {
        completed_total[d]++;
        if (d == DIR_OUT && job->stats.downtime_ms > 0)
            hist_observe(&downtime_hist, downtime_bounds, ARRAY_SIZE(downtime_bounds),
                         (double)job->stats.downtime_ms / 1000.0);
    } else {
        size_t i;
        for (i = 0; i < n_results; i++)
            if (results[i].dir == d && results[i].cancelled == cancelled &&
                strcmp(results[i].reason, reason) == 0)
                break;
        if (i == n_results && n_results < MAX_RESULT_SERIES) {
            results[i].dir = d;
            results[i].cancelled = cancelled;
            snprintf(results[i].reason, sizeof results[i].reason, "%s", reason);
            n_results++;
        }
        if (i < n_results)
            results[i].n++;
    }
    pthread_mutex_unlock(&metrics_lock);
}

/* ---- rendering ---- */

/* A label value: backslash, double quote and newline escaped. */
static void put_label(FILE *f, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            fputc('\\', f), fputc(*s, f);
        else if (*s == '\n')
            fputs("\\n", f);
        else
            fputc(*s, f);
    }
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* What a scrape copies from one running migration under its job lock. */
struct mig_snap {
    char domain[65];
    int dir;
    enum agent_job_phase phase;
    int64_t started_wall_ms, elapsed_ms;
    struct cookie_stats st;
    /* The job's per-disk lines, copied: json-c's reference counts are not
     * atomic, so no reference to the job's objects leaves its lock. */
    size_t n_disks;
    struct {
        char target[32];
        uint64_t total, remaining, bps, pass;
    } disks[COOKIE_MAX_DISKS];
    bool has_bandwidth;
    uint64_t bandwidth_mib; /* 0 = no cap */
};

static const char *phase_label(int dir, enum agent_job_phase p)
{
    switch (p) {
    case JOB_NONE:
        return dir == DIR_OUT ? "begin" : "prepare"; /* the first step is claiming it */
    case JOB_BEGIN:
        return "begin";
    case JOB_PREPARE:
        return "prepare";
    case JOB_PERFORM:
        return "perform";
    case JOB_FINISH:
        return "finish";
    case JOB_CONFIRM:
    case JOB_DONE:
        return "confirm";
    }
    return "begin";
}

static void put_mig_labels(FILE *f, const struct mig_snap *m)
{
    fputs("{domain=\"", f);
    put_label(f, m->domain);
    fprintf(f, "\",direction=\"%s\"", dir_names[m->dir]);
}

typedef double (*snap_value)(const struct mig_snap *m);

#define SNAP_FIELD(fn, expr)                                                                       \
    static double fn(const struct mig_snap *m)                                                     \
    {                                                                                              \
        return (double)(expr);                                                                     \
    }
SNAP_FIELD(v_start, m->started_wall_ms / 1000.0)
SNAP_FIELD(v_elapsed, m->elapsed_ms / 1000.0)
SNAP_FIELD(v_data_total, m->st.memory_total + m->st.disk_total)
SNAP_FIELD(v_data_processed, m->st.memory_processed + m->st.disk_processed)
SNAP_FIELD(v_data_remaining, m->st.memory_remaining + m->st.disk_remaining)
SNAP_FIELD(v_mem_total, m->st.memory_total)
SNAP_FIELD(v_mem_processed, m->st.memory_processed)
SNAP_FIELD(v_mem_remaining, m->st.memory_remaining)
SNAP_FIELD(v_mem_bps, m->st.memory_bps)
SNAP_FIELD(v_mem_dirty, m->st.memory_dirty_rate *TARGET_PAGE_BYTES)
SNAP_FIELD(v_mem_iteration, m->st.memory_iteration)
SNAP_FIELD(v_disk_bps, m->st.disk_bps)
SNAP_FIELD(v_expected_downtime, m->st.downtime_ms / 1000.0)

static const struct {
    const char *name;
    const char *help;
    snap_value value;
} mig_gauges[] = {
    {"ferry_migration_start_time_seconds", "When the migration's job began (Unix time).", v_start},
    {"ferry_migration_elapsed_seconds", "Time since the migration's job began.", v_elapsed},
    {"ferry_migration_data_total_bytes", "RAM and disks to move, in bytes.", v_data_total},
    {"ferry_migration_data_processed_bytes", "RAM and disk bytes moved so far.", v_data_processed},
    {"ferry_migration_data_remaining_bytes", "RAM and disk bytes left to move.", v_data_remaining},
    {"ferry_migration_memory_total_bytes", "Guest RAM size, in bytes.", v_mem_total},
    {"ferry_migration_memory_processed_bytes", "RAM bytes sent so far.", v_mem_processed},
    {"ferry_migration_memory_remaining_bytes", "RAM bytes left to send.", v_mem_remaining},
    {"ferry_migration_memory_transfer_rate_bytes", "RAM transfer rate, bytes per second.",
     v_mem_bps},
    {"ferry_migration_dirty_memory_rate_bytes", "Rate the guest dirties RAM, bytes per second.",
     v_mem_dirty},
    {"ferry_migration_memory_iteration", "RAM pass in progress (1: the bulk pass).",
     v_mem_iteration},
    {"ferry_migration_disk_transfer_rate_bytes",
     "Storage copy rate over all disks, bytes per second.", v_disk_bps},
    {"ferry_migration_expected_downtime_seconds", "QEMU's downtime estimate for the switchover.",
     v_expected_downtime},
};

/* With the job lock held: the driver's per-disk lines (qemu-storage.c:
 * target, total, remaining, bps, pass), or nothing for a job without. */
static void copy_disks(struct mig_snap *m, json_object *lines)
{
    size_t n =
        lines && json_object_is_type(lines, json_type_array) ? json_object_array_length(lines) : 0;

    for (size_t k = 0; k < n && m->n_disks < COOKIE_MAX_DISKS; k++) {
        json_object *d = json_object_array_get_idx(lines, k), *t = NULL;
        if (!json_object_object_get_ex(d, "target", &t))
            continue;
        snprintf(m->disks[m->n_disks].target, sizeof m->disks[0].target, "%s",
                 json_object_get_string(t));
        m->disks[m->n_disks].total = ferry_json_u64(d, "total");
        m->disks[m->n_disks].remaining = ferry_json_u64(d, "remaining");
        m->disks[m->n_disks].bps = ferry_json_u64(d, "bps");
        m->disks[m->n_disks].pass = ferry_json_u64(d, "pass");
        m->n_disks++;
    }
}

static void put_disk_family(FILE *f, const struct mig_snap *snaps, size_t n, const char *name,
                            const char *help, int which)
{
    family(f, name, "gauge", help);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < snaps[i].n_disks; k++) {
            uint64_t total = snaps[i].disks[k].total, rem = snaps[i].disks[k].remaining, v;
            switch (which) {
            case 0:
                v = total;
                break;
            case 1:
                v = total > rem ? total - rem : 0;
                break;
            case 2:
                v = rem;
                break;
            case 3:
                v = snaps[i].disks[k].bps;
                break;
            default:
                v = snaps[i].disks[k].pass;
                break;
            }
            fputs(name, f);
            put_mig_labels(f, &snaps[i]);
            fputs(",disk=\"", f);
            put_label(f, snaps[i].disks[k].target);
            fprintf(f, "\"} %" PRIu64 "\n", v);
        }
    }
}

static void put_histogram(FILE *f, const char *name, const char *labels, const struct histogram *h,
                          const double *bounds, size_t n_bounds)
{
    uint64_t cum = 0;

    for (size_t i = 0; i <= n_bounds; i++) {
        cum += h->counts[i];
        if (i < n_bounds)
            fprintf(f, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, labels, *labels ? "," : "",
                    bounds[i], cum);
        else
            fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, *labels ? "," : "",
                    cum);
    }
    fprintf(f, "%s_sum%s%s%s %.6f\n", name, *labels ? "{" : "", labels, *labels ? "}" : "", h->sum);
    fprintf(f, "%s_count%s%s%s %" PRIu64 "\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
            h->count);
}

static void put_finished(FILE *f)
{
    struct histogram down, dur[N_DIR];
    uint64_t done[N_DIR];
    struct result_series res[MAX_RESULT_SERIES];
    size_t nres;
    char labels[64];

    pthread_mutex_lock(&metrics_lock);
    down = downtime_hist;
    memcpy(dur, duration_hist, sizeof dur);
    memcpy(done, completed_total, sizeof done);
    nres = n_results;
    memcpy(res, results, nres * sizeof res[0]);
    pthread_mutex_unlock(&metrics_lock);

    family(f, "ferry_migrations_completed_total", "counter",
           "Migrations that completed since the agent started.");
    for (int d = 0; d < N_DIR; d++)
        fprintf(f, "ferry_migrations_completed_total{direction=\"%s\"} %" PRIu64 "\n", dir_names[d],
                done[d]);
    for (int c = 0; c < 2; c++) {
        const char *name = c ? "ferry_migrations_cancelled_total" : "ferry_migrations_failed_total";
        family(f, name, "counter",
               c ? "Migrations cancelled (reason: aborted, client-gone) since the agent started."
                 : "Migrations that failed, by error code, since the agent started.");
        for (size_t i = 0; i < nres; i++)
            if (res[i].cancelled == (c == 1))
                fprintf(f, "%s{direction=\"%s\",reason=\"%s\"} %" PRIu64 "\n", name,
                        dir_names[res[i].dir], res[i].reason, res[i].n);
    }
    family(f, "ferry_migration_downtime_seconds", "histogram",
           "Downtime of completed outgoing migrations (QEMU's figure).");
    put_histogram(f, "ferry_migration_downtime_seconds", "", &down, downtime_bounds,
                  ARRAY_SIZE(downtime_bounds));
    family(f, "ferry_migration_duration_seconds", "histogram",
           "Total time of finished migrations, whatever their result.");
    for (int d = 0; d < N_DIR; d++) {
        snprintf(labels, sizeof labels, "direction=\"%s\"", dir_names[d]);
        put_histogram(f, "ferry_migration_duration_seconds", labels, &dur[d], duration_bounds,
                      ARRAY_SIZE(duration_bounds));
    }
}

int agent_metrics_render(struct agent *ag, char **ret, size_t *ret_len)
{
    static const char *const states[] = {"running", "paused", "shutoff"};
    static const char *const phases[] = {"begin", "prepare", "perform", "finish", "confirm"};
    struct agent_domain **doms = NULL;
    struct mig_snap *snaps;
    size_t n, n_snaps = 0, n_other = 0;
    uint64_t by_state[ARRAY_SIZE(states)] = {0};
    uint64_t in_flight[N_DIR][ARRAY_SIZE(phases)] = {{0}};
    struct agent_admission_info lim;
    uint64_t oldest, last;
    int64_t epoch, now = ferry_wall_ms();
    char *buf = NULL;
    size_t len = 0;
    FILE *f;

    n = agent_domain_list(ag, &doms);
    snaps = ferry_calloc(n ? n : 1, sizeof *snaps);
    for (size_t i = 0; i < n; i++) {
        struct agent_domain *dom = doms[i];
        char st[32] = "", rs[64] = "";
        struct ferry_error err = {0};
        bool counted = false;
        struct mig_snap *m = &snaps[n_snaps];
        int d;

        pthread_mutex_lock(&dom->lock);
        if (ag->driver->domain_state(ag, dom, st, sizeof st, rs, sizeof rs, &err) < 0)
            snprintf(st, sizeof st, "unknown");
        pthread_mutex_unlock(&dom->lock);
        for (size_t s = 0; s < ARRAY_SIZE(states); s++)
            if (strcmp(st, states[s]) == 0)
                by_state[s]++, counted = true;
        if (!counted)
            n_other++;

        pthread_mutex_lock(&dom->job.lock);
        d = dom->job.active ? direction(dom->job.operation) : -1;
        if (d >= 0) {
            snprintf(m->domain, sizeof m->domain, "%s", dom->def->name);
            m->dir = d;
            m->phase = dom->job.phase;
            m->started_wall_ms = dom->job.started_wall_ms;
            m->elapsed_ms = ferry_now_ms() - dom->job.started_mono_ms;
            m->st = dom->job.stats;
            copy_disks(m, dom->job.disks);
        }
        pthread_mutex_unlock(&dom->job.lock);
        if (d < 0)
            continue;
        /* The cap of the RAM and disk copies (the storage throttle); the
         * driver takes the job lock itself. */
        if (d == DIR_OUT && ag->driver->migrate_get_param &&
            ag->driver->migrate_get_param(ag, dom, HV_MIG_MAX_BANDWIDTH, &m->bandwidth_mib, NULL) ==
                0)
            m->has_bandwidth = true;
        for (size_t p = 0; p < ARRAY_SIZE(phases); p++)
            if (strcmp(phase_label(d, m->phase), phases[p]) == 0)
                in_flight[d][p]++;
        n_snaps++;
    }
    for (size_t i = 0; i < n; i++)
        agent_domain_unref(ag, doms[i]);
    free(doms);

    f = open_memstream(&buf, &len);
    if (!f) {
        free(snaps);
        return -errno;
    }
    agent_events_position(ag, &oldest, &last, &epoch);
    agent_admission_get(&lim);

    family(f, "ferry_agent_info", "gauge", "The agent's identity; the value is always 1.");
    fputs("ferry_agent_info{version=\"" FERRY_VERSION "\",hostname=\"", f);
    put_label(f, ag->hostname);
    fprintf(f, "\",host_uuid=\"%s\",hypervisor=\"%s\"} 1\n", ag->host_uuid, ag->driver->name);
    family(f, "ferry_agent_start_time_seconds", "gauge", "When the agent started (Unix time).");
    fprintf(f, "ferry_agent_start_time_seconds %.3f\n", (double)epoch / 1000.0);
    family(f, "ferry_agent_uptime_seconds", "gauge", "Seconds since the agent started.");
    fprintf(f, "ferry_agent_uptime_seconds %.3f\n", (double)(now - epoch) / 1000.0);
    family(f, "ferry_agent_maintenance", "gauge",
           "1 while the agent is in maintenance mode (no incoming migrations, no new guests).");
    fprintf(f, "ferry_agent_maintenance %d\n", lim.maintenance ? 1 : 0);
    family(f, "ferry_agent_migrations_limit", "gauge",
           "Concurrent migrations allowed per direction (--max-outgoing, --max-incoming; 0: "
           "no limit).");
    fprintf(f, "ferry_agent_migrations_limit{direction=\"outgoing\"} %u\n", lim.max_outgoing);
    fprintf(f, "ferry_agent_migrations_limit{direction=\"incoming\"} %u\n", lim.max_incoming);

    family(f, "ferry_domains", "gauge", "Domains this agent knows, by state.");
    for (size_t s = 0; s < ARRAY_SIZE(states); s++)
        fprintf(f, "ferry_domains{state=\"%s\"} %" PRIu64 "\n", states[s], by_state[s]);
    fprintf(f, "ferry_domains{state=\"other\"} %zu\n", n_other);

    family(f, "ferry_migrations_in_flight", "gauge",
           "Migrations running now, by direction and the step they are in.");
    for (int d = 0; d < N_DIR; d++)
        for (size_t p = 0; p < ARRAY_SIZE(phases); p++)
            fprintf(f, "ferry_migrations_in_flight{direction=\"%s\",phase=\"%s\"} %" PRIu64 "\n",
                    dir_names[d], phases[p], in_flight[d][p]);

    for (size_t g = 0; g < ARRAY_SIZE(mig_gauges); g++) {
        family(f, mig_gauges[g].name, "gauge", mig_gauges[g].help);
        for (size_t i = 0; i < n_snaps; i++) {
            fputs(mig_gauges[g].name, f);
            put_mig_labels(f, &snaps[i]);
            fprintf(f, "} %.17g\n", mig_gauges[g].value(&snaps[i]));
        }
    }
    family(f, "ferry_migration_max_bandwidth_bytes", "gauge",
           "Cap on the RAM and disk copies of an outgoing migration, bytes per second (0: none).");
    for (size_t i = 0; i < n_snaps; i++) {
        if (!snaps[i].has_bandwidth)
            continue;
        fputs("ferry_migration_max_bandwidth_bytes", f);
        put_mig_labels(f, &snaps[i]);
        fprintf(f, "} %" PRIu64 "\n", snaps[i].bandwidth_mib << 20);
    }
    put_disk_family(f, snaps, n_snaps, "ferry_migration_disk_total_bytes",
                    "Virtual size of a disk being copied, in bytes.", 0);
    put_disk_family(f, snaps, n_snaps, "ferry_migration_disk_processed_bytes",
                    "Bytes of a disk in sync with the destination (copied, zeroed or skipped).", 1);
    put_disk_family(f, snaps, n_snaps, "ferry_migration_disk_remaining_bytes",
                    "Bytes of a disk left to copy: the rest of the bulk pass, then dirty data.", 2);
    put_disk_family(f, snaps, n_snaps, "ferry_migration_disk_copy_rate_bytes",
                    "Copy rate of one disk, bytes per second.", 3);
    put_disk_family(f, snaps, n_snaps, "ferry_migration_disk_pass",
                    "Copy pass of a disk (1: the bulk pass, then dirty passes).", 4);
    put_finished(f);

    free(snaps);
    if (fclose(f) != 0) {
        free(buf);
        return -ENOMEM;
    }
    *ret = buf;
    *ret_len = len;
    return 0;
}

/* ---- the HTTP endpoint ---- */

static struct MHD_Daemon *daemon_;

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct agent *ag = cls;
    struct MHD_Response *resp;
    unsigned status = MHD_HTTP_OK;
    enum MHD_Result ret;
    char *body = NULL;
    size_t len = 0;

    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        static const char msg[] = "only GET\n";
        resp = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    } else if (strcmp(url, "/metrics") != 0 && strcmp(url, "/") != 0) {
        static const char msg[] = "not found: the metrics are at /metrics\n";
        resp = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_NOT_FOUND;
    } else if (agent_metrics_render(ag, &body, &len) < 0) {
        static const char msg[] = "cannot render the metrics\n";
        resp = MHD_create_response_from_buffer(sizeof msg - 1, (void *)msg, MHD_RESPMEM_PERSISTENT);
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    } else {
        resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
        if (resp)
            MHD_add_response_header(resp, "Content-Type",
                                    "text/plain; version=0.0.4; charset=utf-8");
        else
            free(body);
    }
    if (!resp)
        return MHD_NO;
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int bind_listen(const char *spec, int *ret_port, struct ferry_error *err)
{
    _cleanup_free_ char *host = ferry_strdup(spec);
    char *colon = strrchr(host, ':');
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    _cleanup_close_ int fd = -1;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char port[16];
    int one = 1, r;

    if (!colon)
        return ferry_error_set(err, EINVAL, "--metrics-listen '%s': expected ADDR:PORT", spec);
    *colon = '\0';
    if (host[0] == '[') { /* [::1]:port */
        memmove(host, host + 1, strlen(host));
        host[strcspn(host, "]")] = '\0';
    }
    r = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res);
    if (r != 0)
        return ferry_error_set(err, EINVAL, "--metrics-listen '%s': %s", spec, gai_strerror(r));
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 16) < 0) {
        r = errno;
        freeaddrinfo(res);
        return ferry_error_set_errno(err, r, "--metrics-listen: cannot listen on %s", spec);
    }
    freeaddrinfo(res);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
        getnameinfo((struct sockaddr *)&ss, sl, NULL, 0, port, sizeof port, NI_NUMERICSERV) != 0)
        return ferry_error_set(err, EIO, "--metrics-listen %s: cannot read the bound port", spec);
    *ret_port = atoi(port);
    return TAKE_FD(fd);
}

int agent_metrics_start(struct agent *ag, const char *listen, int *ret_port,
                        struct ferry_error *err)
{
    int fd, port = 0;

    if (daemon_)
        return ferry_error_set(err, EALREADY, "the metrics endpoint is already running");
    fd = bind_listen(listen, &port, err);
    if (fd < 0)
        return fd;
    /* A thread per scraper: a scrape asks each guest's QMP for its state
     * and must not hold up another scraper. MHD owns (and closes) FD. */
    daemon_ = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL, 0, NULL,
        NULL, on_request, ag, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)METRICS_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!daemon_) {
        close(fd);
        return ferry_error_set(err, EIO, "--metrics-listen %s: libmicrohttpd did not start",
                               listen);
    }
    *ret_port = port;
    return 0;
}

void agent_metrics_stop(void)
{
    if (daemon_)
        MHD_stop_daemon(daemon_);
    daemon_ = NULL;
}
