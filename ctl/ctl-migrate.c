/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferryctl's migration verbs: migrate (managed or peer-to-peer),
 * domjobinfo and domjobabort. In managed mode ferryctl itself runs the
 * v3 sequence against both agents (agent/orchestrate.c); with --p2p it asks
 * the source agent to run it. While a migration runs a second connection
 * polls the job for --verbose, and Ctrl-C aborts the job as virsh does. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "ctl.h"
#include "json-cleanup.h"
#include "migparams.h"
#include "orchestrate.h"
#include "util.h"
#include "xlconv-cli.h"

#define CALL_TIMEOUT_MS 120000

static volatile sig_atomic_t interrupted;
/* stderr is shared by the progress thread and the step callback. */
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;
static bool progress_shown;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

struct progress {
    const char *uri;
    const char *name;
    bool verbose;
    volatile bool stop;
    bool printed;
    bool aborted;
};

static void fmt_bytes(char *buf, size_t len, uint64_t b)
{
    if (b >= (1ull << 30))
        snprintf(buf, len, "%.2f GiB", (double)b / (1ull << 30));
    else
        snprintf(buf, len, "%.1f MiB", (double)b / (1ull << 20));
}

/* --verbose: the disks' dirty rate and write cap, and the ETAs (ms; -1:
 * not converging at these rates), when job.info has them. */
static void print_live_extra(json_object *res)
{
    json_object *v;
    char b[32];

    if ((v = json_object_object_get(res, "disk_dirty_rate"))) {
        fmt_bytes(b, sizeof b, (uint64_t)json_object_get_int64(v));
        fprintf(stderr, "  dirty %s/s", b);
    }
    if ((v = json_object_object_get(res, "disk_throttle")) && json_object_get_int64(v) > 0) {
        fmt_bytes(b, sizeof b, (uint64_t)json_object_get_int64(v));
        fprintf(stderr, "  cap %s/s", b);
    }
    if ((v = json_object_object_get(res, "disk_eta")))
        fprintf(stderr, "  disk ETA %lld ms", (long long)json_object_get_int64(v));
    if ((v = json_object_object_get(res, "memory_eta")))
        fprintf(stderr, "  RAM ETA %lld ms", (long long)json_object_get_int64(v));
}

static void *progress_thread(void *arg)
{
    struct progress *pr = arg;
    struct ctl_client *c = NULL;
    struct ferry_error err = {0};

    if (ctl_connect(pr->uri, &c, &err) < 0)
        return NULL;
    while (!pr->stop) {
        _cleanup_(json_object_putp) json_object *res = NULL;
        json_object *p;

        if (interrupted && !pr->aborted) {
            json_object *a = json_object_new_object();
            json_object_object_add(a, "name", json_object_new_string(pr->name));
            ferry_error_clear(&err);
            if (ctl_client_call(c, "job.abort", a, CALL_TIMEOUT_MS, NULL, &err) == 0)
                fprintf(stderr, "\nferryctl: migrate: abort requested\n");
            pr->aborted = true;
        }
        p = json_object_new_object();
        json_object_object_add(p, "name", json_object_new_string(pr->name));
        ferry_error_clear(&err);
        if (!pr->verbose)
            json_object_put(p);
        else if (ctl_client_call(c, "job.info", p, CALL_TIMEOUT_MS, &res, &err) == 0) {
            json_object *t = json_object_object_get(res, "type");
            if (t && strcmp(json_object_get_string(t), "unbounded") == 0) {
                uint64_t total =
                    (uint64_t)json_object_get_int64(json_object_object_get(res, "data_total"));
                uint64_t rem =
                    (uint64_t)json_object_get_int64(json_object_object_get(res, "data_remaining"));
                uint64_t mt =
                    (uint64_t)json_object_get_int64(json_object_object_get(res, "memory_total"));
                uint64_t mp = (uint64_t)json_object_get_int64(
                    json_object_object_get(res, "memory_processed"));
                uint64_t dt =
                    (uint64_t)json_object_get_int64(json_object_object_get(res, "disk_total"));
                uint64_t dp =
                    (uint64_t)json_object_get_int64(json_object_object_get(res, "disk_processed"));
                uint64_t bps =
                    (uint64_t)json_object_get_int64(json_object_object_get(res, "memory_bps")) +
                    (uint64_t)json_object_get_int64(json_object_object_get(res, "disk_bps"));
                json_object *ph = json_object_object_get(res, "phase");
                char a[32], b[32], c2[32], d[32], e[32];
                int pct = total ? (int)((total - (rem > total ? total : rem)) * 100 / total) : 0;

                fmt_bytes(a, sizeof a, mp);
                fmt_bytes(b, sizeof b, mt);
                fmt_bytes(c2, sizeof c2, dp);
                fmt_bytes(d, sizeof d, dt);
                fmt_bytes(e, sizeof e, bps);
                pthread_mutex_lock(&out_lock);
                fprintf(stderr, "\rMigration: [%3d %%] %-8s memory %s/%s", pct,
                        ph ? json_object_get_string(ph) : "", a, b);
                if (dt)
                    fprintf(stderr, "  disk %s/%s", c2, d);
                fprintf(stderr, "  %s/s", e);
                print_live_extra(res);
                fprintf(stderr, "   ");
                progress_shown = true;
                pthread_mutex_unlock(&out_lock);
                pr->printed = true;
            }
        }
        for (int i = 0; i < 5 && !pr->stop && !(interrupted && !pr->aborted); i++)
            usleep(100 * 1000);
    }
    ctl_client_free(c);
    return NULL;
}

static int remote_call(void *opaque, const char *method, json_object *params, int timeout_ms,
                       json_object **ret, struct ferry_error *err)
{
    return ctl_client_call(opaque, method, params, timeout_ms, ret, err);
}

/* The v3 steps as they happen: for --debug, as virsh's own debug log
 * shows them; --verbose is virsh's progress and statistics only. */
static void on_step(const char *step, int version, void *opaque)
{
    (void)opaque;
    if (!ferry_log_enabled(FERRY_LOG_DEBUG))
        return;
    pthread_mutex_lock(&out_lock);
    /* End a progress line first: steps get lines of their own. */
    fprintf(stderr, "%s[v%d] %s\n", progress_shown ? "\n" : "", version, step);
    progress_shown = false;
    pthread_mutex_unlock(&out_lock);
}

/* One line per step: when it started (ms since the job began), how long it
 * took or that it still runs, and how often a repeated step ran. */
static void print_timeline(json_object *tl)
{
    size_t n = tl ? json_object_array_length(tl) : 0;

    if (n == 0)
        return;
    printf("Timeline:\n");
    for (size_t i = 0; i < n; i++) {
        json_object *p = json_object_array_get_idx(tl, i);
        json_object *d = json_object_object_get(p, "duration_ms");
        long long count = (long long)json_object_get_int64(json_object_object_get(p, "count"));
        char took[32];

        if (d)
            snprintf(took, sizeof took, "%.1f ms", json_object_get_double(d));
        else
            snprintf(took, sizeof took, "running");
        printf("  %-24s at %9.1f ms  %12s",
               json_object_get_string(json_object_object_get(p, "phase")),
               json_object_get_double(json_object_object_get(p, "start_ms")), took);
        if (count > 1)
            printf("  x%lld", count);
        printf("\n");
    }
}

static void print_jobinfo(json_object *o, bool json);

int ctl_migrate_run(const char *uri, const char *name, const char *desturi,
                    const struct mig_params *mp, mig_step_cb cb, void *opaque,
                    struct ferry_error *err)
{
    int r;

    if (mp->flags & MIG_PEER2PEER) {
        struct ctl_client *src = NULL;
        json_object *p = json_object_new_object();
        json_object_object_add(p, "name", json_object_new_string(name));
        json_object_object_add(p, "desturi", json_object_new_string(desturi));
        json_object_object_add(p, "params", mig_params_to_json(mp));
        r = ctl_connect(uri, &src, err);
        if (r == 0)
            r = ctl_client_call(src, "migrate.p2p", p, -1, NULL, err);
        else
            json_object_put(p);
        ctl_client_free(src);
    } else {
        struct ctl_client *src = NULL, *dst = NULL;
        struct mig_peer ps = {0}, pd = {0};
        _cleanup_free_ char *host = ctl_uri_host(desturi);

        r = ctl_connect(uri, &src, err);
        if (r < 0)
            ferry_error_prefix(err, "source agent");
        if (r == 0) {
            r = ctl_connect(desturi, &dst, err);
            if (r < 0)
                ferry_error_prefix(err, "destination agent");
        }
        if (r == 0) {
            ps.call = remote_call;
            ps.opaque = src;
            ps.hello = *ctl_client_peer(src);
            pd.call = remote_call;
            pd.opaque = dst;
            pd.hello = *ctl_client_peer(dst);
            r = mig_orchestrate(&ps, &pd, name, host, mp, cb, opaque, err);
        }
        ctl_client_free(src);
        ctl_client_free(dst);
    }
    return r;
}

int ctl_cmd_migrate(const char *uri, int argc, char **argv)
{
    struct ctl_migrate_opts o;
    struct mig_params *mpp = &o.params;
    struct ferry_error err = {0};
    bool verbose, json;
    const char *name, *desturi;
    _cleanup_free_ char *desturi_n = NULL;
    int r = 1;

    switch (ctl_migrate_parse(argc, argv, &o)) {
    case 1:
        mig_params_clear(mpp);
        return 0;
    case -1:
        goto usage_err;
    }
    verbose = o.verbose;
    json = o.json;
    name = o.name;
    /* One spelling for both agents and the source's p2p connection. */
    desturi_n = ctl_uri_normalize(o.desturi);
    desturi = desturi_n;
    /* Refuse invalid combinations here too, before any agent is touched
     * (the agents check again: an orchestrator may skip ferryctl). */
    if (mig_params_validate(mpp, ~0u, &err) < 0) {
        ctl_fail("migrate", &err);
        goto out;
    }

    {
        struct progress pr = {.uri = uri, .name = name, .verbose = verbose};
        struct sigaction sa = {.sa_handler = on_sigint};
        pthread_t t;
        bool have_thread;

        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        have_thread = pthread_create(&t, NULL, progress_thread, &pr) == 0;
        r = ctl_migrate_run(uri, name, desturi, mpp, on_step, NULL, &err);
        pr.stop = true;
        if (have_thread)
            pthread_join(t, NULL);
        if (progress_shown)
            fputc('\n', stderr);
    }
    if (r < 0) {
        ctl_fail("migrate", &err);
        r = 1;
        goto out;
    }
    r = 0;
    if (verbose || json) {
        struct ctl_client *src = NULL;
        _cleanup_(json_object_putp) json_object *res = NULL;
        json_object *p = json_object_new_object();
        json_object_object_add(p, "name", json_object_new_string(name));
        json_object_object_add(p, "completed", json_object_new_boolean(true));
        if (ctl_connect(uri, &src, &err) == 0 &&
            ctl_client_call(src, "job.info", p, CALL_TIMEOUT_MS, &res, &err) == 0) {
            if (!json)
                printf("Migration: [100 %%]\n");
            print_jobinfo(res, json);
        } else if (!src) {
            json_object_put(p);
        }
        ctl_client_free(src);
    }
    goto out;

usage_err:
    r = 2;
out:
    mig_params_clear(mpp);
    return r;
}

/* virsh's vshPrettyCapacity: three decimals and the largest binary unit
 * that keeps the value at or above 1. */
static void fmt_capacity(char *buf, size_t len, uint64_t b)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)b;
    size_t u = 0;

    while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%.3f %s", v, units[u]);
}

static void row_ms(const char *label, json_object *o, const char *key)
{
    json_object *v = json_object_object_get(o, key);

    if (v)
        printf("%-18s %-12lld ms\n", label, (long long)json_object_get_int64(v));
}

static void row_bytes(const char *label, json_object *o, const char *key)
{
    json_object *v = json_object_object_get(o, key);
    char b[32];

    if (!v)
        return;
    fmt_capacity(b, sizeof b, (uint64_t)json_object_get_int64(v));
    printf("%-18s %s\n", label, b);
}

/* A rate: virsh's "MiB/s". */
static void row_bps(const char *label, json_object *o, const char *key)
{
    json_object *v = json_object_object_get(o, key);
    char b[32];

    if (!v)
        return;
    fmt_capacity(b, sizeof b, (uint64_t)json_object_get_int64(v));
    printf("%-18s %s/s\n", label, b);
}

static void row_num(const char *label, json_object *o, const char *key, const char *unit)
{
    json_object *v = json_object_object_get(o, key);

    if (v)
        printf("%-18s %-12lld %s\n", label, (long long)json_object_get_int64(v), unit);
}

static void print_jobinfo(json_object *o, bool json)
{
    json_object *t, *op, *disks, *e, *st;
    const char *type, *opn, *status;

    if (json) {
        ctl_print_json(o);
        return;
    }
    t = json_object_object_get(o, "type");
    type = t ? json_object_get_string(t) : "none";
    st = json_object_object_get(o, "status");
    status = st ? json_object_get_string(st) : "";
    /* libvirt's job types: a finished job is Completed, Failed or
     * Cancelled (VIR_DOMAIN_JOB_*), the API's status tells which. */
    printf("%-18s %s\n", "Job type:",
           strcmp(type, "unbounded") == 0     ? "Unbounded"
           : strcmp(type, "completed") != 0   ? "None"
           : strcmp(status, "cancelled") == 0 ? "Cancelled"
           : strcmp(status, "failed") == 0    ? "Failed"
                                              : "Completed");
    if (strcmp(type, "none") == 0)
        return;
    op = json_object_object_get(o, "operation");
    opn = op ? json_object_get_string(op) : "";
    printf("%-18s %s\n", "Operation:",
           strcmp(opn, "migration-out") == 0  ? "Outgoing migration"
           : strcmp(opn, "migration-in") == 0 ? "Incoming migration"
                                              : opn);
    printf("%-18s %s\n", "Status:", status);
    if (json_object_object_get(o, "phase"))
        printf("%-18s %s\n", "Phase:", json_object_get_string(json_object_object_get(o, "phase")));
    row_ms("Time elapsed:", o, "time_elapsed");
    row_ms("Time remaining:", o, "time_remaining");
    row_bytes("Data processed:", o, "data_processed");
    row_bytes("Data remaining:", o, "data_remaining");
    row_bytes("Data total:", o, "data_total");
    row_bytes("Memory processed:", o, "memory_processed");
    row_bytes("Memory remaining:", o, "memory_remaining");
    row_bytes("Memory total:", o, "memory_total");
    row_bps("Memory bandwidth:", o, "memory_bps");
    row_num("Dirty rate:", o, "memory_dirty_rate", "pages/s");
    row_num("Iteration:", o, "memory_iteration", "");
    row_num("Constant pages:", o, "memory_constant_pages", "");
    row_num("Normal pages:", o, "memory_normal_pages", "");
    row_bytes("File processed:", o, "disk_processed");
    row_bytes("File remaining:", o, "disk_remaining");
    row_bytes("File total:", o, "disk_total");
    row_bps("File bandwidth:", o, "disk_bps");
    row_num("Disk passes:", o, "disk_passes", "");
    row_bytes("File dirty rate:", o, "disk_dirty_rate");
    row_bytes("File copy rate:", o, "disk_copy_rate");
    row_bytes("File write cap:", o, "disk_throttle");
    row_ms("File final pass:", o, "disk_predicted_downtime");
    row_ms("File ETA:", o, "disk_eta");
    row_ms("Memory ETA:", o, "memory_eta");
    row_bytes("Compression cache:", o, "compression_cache");
    row_bytes("Compressed data:", o, "compression_bytes");
    row_num("Compressed pages:", o, "compression_pages", "");
    row_num("Compression cache misses:", o, "compression_cache_misses", "");
    row_num("Compression overflows:", o, "compression_overflow", "");
    row_num("Compressed mt pages:", o, "compression_mt_pages", "");
    row_num("Compression busy:", o, "compression_mt_busy", "");
    row_bytes("Compressed mt size:", o, "compression_mt_compressed_size");
    row_ms("Expected downtime:", o, "expected_downtime");
    row_ms("Total downtime:", o, "downtime");
    row_ms("Storage downtime:", o, "storage_downtime");
    row_ms("Setup time:", o, "setup_time");
    disks = json_object_object_get(o, "disks");
    for (size_t i = 0; disks && i < json_object_array_length(disks); i++) {
        json_object *d = json_object_array_get_idx(disks, i);
        char a[32], b[32], c[32];
        fmt_capacity(a, sizeof a,
                     (uint64_t)json_object_get_int64(json_object_object_get(d, "copied")));
        fmt_capacity(b, sizeof b,
                     (uint64_t)json_object_get_int64(json_object_object_get(d, "total")));
        fmt_capacity(c, sizeof c,
                     (uint64_t)json_object_get_int64(json_object_object_get(d, "bps")));
        printf("Disk %-13s %s of %s, %s/s, pass %lld",
               json_object_get_string(json_object_object_get(d, "target")), a, b, c,
               (long long)json_object_get_int64(json_object_object_get(d, "pass")));
        /* Engine 'ferry': dirty rate, copy rate, write cap (per second). */
        if (json_object_object_get(d, "dirty_rate")) {
            char dr[32], cr[32], th[32];
            fmt_capacity(dr, sizeof dr,
                         (uint64_t)json_object_get_int64(json_object_object_get(d, "dirty_rate")));
            fmt_capacity(cr, sizeof cr,
                         (uint64_t)json_object_get_int64(json_object_object_get(d, "copy_rate")));
            fmt_capacity(th, sizeof th,
                         (uint64_t)json_object_get_int64(json_object_object_get(d, "throttle")));
            printf(
                ", dirty %s/s, copy %s/s, cap %s/s, final pass %lld ms", dr, cr, th,
                (long long)json_object_get_int64(json_object_object_get(d, "predicted_downtime")));
        }
        printf("\n");
    }
    print_timeline(json_object_object_get(o, "timeline"));
    e = json_object_object_get(o, "error");
    if (e)
        printf("%-18s %s\n", "Error:", json_object_get_string(e));
}

int ctl_cmd_domjobinfo(const char *uri, int argc, char **argv)
{
    static const struct option opts[] = {
        {"completed", no_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},
        {"domain", required_argument, NULL, 'd'},
        {NULL, 0, NULL, 0},
    };
    const char *name = NULL;
    bool completed = false, json = false;
    struct ctl_client *c = NULL;
    struct ferry_error err = {0};
    _cleanup_(json_object_putp) json_object *res = NULL;
    json_object *p;
    int o, r;

    optind = 1;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (o == 'C')
            completed = true;
        else if (o == 'j')
            json = true;
        else if (o == 'd')
            name = optarg;
        else
            return 2;
    }
    if (!name && optind < argc)
        name = argv[optind++];
    if (!name || optind != argc) {
        fprintf(stderr, "ferryctl: domjobinfo: expected NAME\n");
        return 2;
    }
    p = json_object_new_object();
    json_object_object_add(p, "name", json_object_new_string(name));
    json_object_object_add(p, "completed", json_object_new_boolean(completed));
    r = ctl_connect(uri, &c, &err);
    if (r == 0)
        r = ctl_client_call(c, "job.info", p, CALL_TIMEOUT_MS, &res, &err);
    else
        json_object_put(p);
    ctl_client_free(c);
    if (r < 0)
        return ctl_fail("domjobinfo", &err);
    print_jobinfo(res, json);
    return 0;
}

int ctl_cmd_domjobabort(const char *uri, int argc, char **argv)
{
    struct ctl_client *c = NULL;
    struct ferry_error err = {0};
    json_object *p;
    char *name;
    bool json;
    int r;

    if (ctl_parse_words(argc, argv, "domjobabort", 1, "domjobabort [--domain] NAME", NULL, NULL,
                        &json, &name) < 0)
        return 2;
    p = json_object_new_object();
    json_object_object_add(p, "name", json_object_new_string(name));
    r = ctl_connect(uri, &c, &err);
    if (r == 0)
        r = ctl_client_call(c, "job.abort", p, CALL_TIMEOUT_MS, NULL, &err);
    else
        json_object_put(p);
    ctl_client_free(c);
    if (r < 0)
        return ctl_fail("domjobabort", &err);
    return 0;
}

int ctl_cmd_domxml_native(const char *verb, int argc, char **argv)
{
    /* Conversion runs client-side, as virsh's does for a local file. */
    return xlconv_cli_domxml(verb, argc, argv, stdout, stderr);
}
