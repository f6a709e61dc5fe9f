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
#include "xendrv-cli.h"

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

static void migrate_usage(FILE *f)
{
    fprintf(
        f, "Usage: ferryctl [-c SRCURI] migrate [OPTIONS] NAME DESTURI\n"
           "\n"
           "DESTURI is the destination agent: ferry+tcp://HOST:PORT, ferry+tls://HOST:PORT\n"
           "or a socket path.\n"
           "  --live                 live migration (pre-copy; the guest keeps running)\n"
           "  --p2p                  the source agent drives the destination itself\n"
           "  --tunnelled            (with --p2p) carry streams in the agents' connection\n"
           "  --persistent           make the domain persistent on the destination\n"
           "  --undefinesource       remove the source's persistent definition\n"
           "  --suspend              leave the guest paused on the destination\n"
           "  --offline              move only the definition (needs --persistent)\n"
           "  --auto-converge        throttle vCPUs when memory does not converge\n"
           "  --postcopy             allow a switch to post-copy (ferryctl migrate-postcopy)\n"
           "  --postcopy-after-precopy  switch after the first full pass over RAM\n"
           "  --postcopy-bandwidth MiB/s  RAM bandwidth cap once in post-copy (0: none)\n"
           "  --abort-on-error       abort on I/O errors during the migration\n"
           "  --copy-storage-all     copy non-shared disks (full)\n"
           "  --copy-storage-inc     copy only the top images of qcow2 backing chains\n"
           "  --migrate-disks LIST   comma-separated targets to copy (others are shared)\n"
           "  --disks-port N         destination NBD port\n"
           "  --disks-uri URI        destination NBD listen URI (tcp://HOST:PORT)\n"
           "  --storage-engine E     ferry (default: io_uring + libnbd) or qemu (blockdev-mirror)\n"
           "  --same-path            copied disks go to the source's paths on the destination\n"
           "                         (created there; refused if a non-empty file is there)\n"
           "  --disk-path T=PATH     where copied disk T goes on the destination (repeatable)\n"
           "  --keep-images          keep the copies ferryd made that the migration leaves\n"
           "                         unused (default: removed once the migration succeeded)\n"
           "  --dname NAME           new name on the destination\n"
           "  --xml FILE             replacement domain XML for the destination\n"
           "  --bandwidth MiB/s      bandwidth cap\n"
           "  --migrateuri URI       where RAM goes (tcp:HOST:PORT or unix:PATH)\n"
           "  --listen-address ADDR  address the destination listens on\n"
           "  --tls                  QEMU's RAM and disk streams use x509 TLS (the agents'\n"
           "                         --migrate-tls-dir certificates; not with --tunnelled)\n"
           "  --tls-destination HOST name the destination's certificate must carry, when\n"
           "                         it is not the migration host\n"
           "  --compressed           compress RAM (default method xbzrle)\n"
           "  --comp-methods LIST    xbzrle,mt; with --parallel zlib or zstd\n"
           "  --comp-xbzrle-cache BYTES  xbzrle cache (a power of two)\n"
           "  --comp-mt-level N      mt: level 0-9\n"
           "  --comp-mt-threads N    mt: compression threads (source)\n"
           "  --comp-mt-dthreads N   mt: decompression threads (destination)\n"
           "  --comp-zlib-level N    zlib (multifd): level 0-9\n"
           "  --comp-zstd-level N    zstd (multifd): level 0-20\n"
           "  --zerocopy             QEMU sends RAM zero-copy (needs --parallel)\n"
           "  --synchronous-writes   guest writes wait for the destination (storage engine\n"
           "                         qemu with --copy-storage-*)\n"
           "  --parallel             multiple connections (default 2)\n"
           "  --parallel-connections N\n"
           "  --max-downtime MS      maximum tolerable downtime\n"
           "  --timeout SECONDS      suspend the guest if not done in time\n"
           "  --timeout-suspend      (the action for --timeout; the default)\n"
           "  --timeout-postcopy     switch to post-copy instead when --timeout elapses\n"
           "  --verbose              live progress\n"
           "  --json                 print the completed job statistics as JSON\n");
}

static int add_flag(struct mig_params *p, unsigned f)
{
    p->flags |= f;
    return 0;
}

static int parse_u(const char *opt, const char *s, uint64_t max, uint64_t *ret)
{
    if (ferry_parse_u64(s, ret) < 0 || *ret > max) {
        fprintf(stderr, "ferryctl: migrate: %s expects a number up to %llu, got '%s'\n", opt,
                (unsigned long long)max, s);
        return -1;
    }
    return 0;
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
                fprintf(stderr, "  %s/s   ", e);
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

static void on_step(const char *step, int version, void *opaque)
{
    bool *verbose = opaque;

    if (!*verbose)
        return;
    pthread_mutex_lock(&out_lock);
    /* End a progress line first: steps get lines of their own. */
    fprintf(stderr, "%s[v%d] %s\n", progress_shown ? "\n" : "", version, step);
    progress_shown = false;
    pthread_mutex_unlock(&out_lock);
}

static void print_jobinfo(json_object *o, bool json);

int ctl_cmd_migrate(const char *uri, int argc, char **argv)
{
    enum {
        O_DNAME = 256,
        O_BW,
        O_MURI,
        O_LISTEN,
        O_PARN,
        O_DOWNTIME,
        O_TIMEOUT,
        O_TSUSP,
        O_TPOSTCOPY,
        O_DISKS,
        O_DPORT,
        O_DURI,
        O_ENGINE,
        O_XML,
        O_PARALLEL,
        O_TLS,
        O_TLS_DEST,
        O_COMPRESSED,
        O_COMP_METHODS,
        O_COMP_XBZRLE_CACHE,
        O_COMP_MT_LEVEL,
        O_COMP_MT_THREADS,
        O_COMP_MT_DTHREADS,
        O_COMP_ZLIB_LEVEL,
        O_COMP_ZSTD_LEVEL,
        O_ZEROCOPY,
        O_SYNC_WRITES,
        O_SAME_PATH,
        O_DISK_PATH,
        O_KEEP_IMAGES
    };
    static const struct option opts[] = {
        {"live", no_argument, NULL, 'L'},
        {"p2p", no_argument, NULL, 'P'},
        {"peer2peer", no_argument, NULL, 'P'},
        {"tunnelled", no_argument, NULL, 'T'},
        {"tunneled", no_argument, NULL, 'T'},
        {"persistent", no_argument, NULL, 'p'},
        {"undefinesource", no_argument, NULL, 'u'},
        {"suspend", no_argument, NULL, 's'},
        {"offline", no_argument, NULL, 'o'},
        {"auto-converge", no_argument, NULL, 'a'},
        {"postcopy", no_argument, NULL, 'C'},
        {"postcopy-after-precopy", no_argument, NULL, 'Q'},
        {"postcopy-bandwidth", required_argument, NULL, 'W'},
        {"abort-on-error", no_argument, NULL, 'e'},
        {"copy-storage-all", no_argument, NULL, 'A'},
        {"copy-storage-inc", no_argument, NULL, 'I'},
        {"verbose", no_argument, NULL, 'v'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {"dname", required_argument, NULL, O_DNAME},
        {"bandwidth", required_argument, NULL, O_BW},
        {"migrateuri", required_argument, NULL, O_MURI},
        {"listen-address", required_argument, NULL, O_LISTEN},
        {"parallel", no_argument, NULL, O_PARALLEL},
        {"parallel-connections", required_argument, NULL, O_PARN},
        {"max-downtime", required_argument, NULL, O_DOWNTIME},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"timeout-suspend", no_argument, NULL, O_TSUSP},
        {"timeout-postcopy", no_argument, NULL, O_TPOSTCOPY},
        {"migrate-disks", required_argument, NULL, O_DISKS},
        {"disks-port", required_argument, NULL, O_DPORT},
        {"disks-uri", required_argument, NULL, O_DURI},
        {"storage-engine", required_argument, NULL, O_ENGINE},
        {"xml", required_argument, NULL, O_XML},
        {"tls", no_argument, NULL, O_TLS},
        {"tls-destination", required_argument, NULL, O_TLS_DEST},
        {"compressed", no_argument, NULL, O_COMPRESSED},
        {"comp-methods", required_argument, NULL, O_COMP_METHODS},
        {"comp-xbzrle-cache", required_argument, NULL, O_COMP_XBZRLE_CACHE},
        {"comp-mt-level", required_argument, NULL, O_COMP_MT_LEVEL},
        {"comp-mt-threads", required_argument, NULL, O_COMP_MT_THREADS},
        {"comp-mt-dthreads", required_argument, NULL, O_COMP_MT_DTHREADS},
        {"comp-zlib-level", required_argument, NULL, O_COMP_ZLIB_LEVEL},
        {"comp-zstd-level", required_argument, NULL, O_COMP_ZSTD_LEVEL},
        {"zerocopy", no_argument, NULL, O_ZEROCOPY},
        {"synchronous-writes", no_argument, NULL, O_SYNC_WRITES},
        {"same-path", no_argument, NULL, O_SAME_PATH},
        {"disk-path", required_argument, NULL, O_DISK_PATH},
        {"keep-images", no_argument, NULL, O_KEEP_IMAGES},
        {NULL, 0, NULL, 0},
    };
    struct mig_params mp = {0};
    struct ferry_error err = {0};
    bool verbose = false, json = false;
    const char *name, *desturi;
    uint64_t v;
    int c, r = 1;

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'L':
            add_flag(&mp, MIG_LIVE);
            break;
        case 'P':
            add_flag(&mp, MIG_PEER2PEER);
            break;
        case 'T':
            add_flag(&mp, MIG_TUNNELLED);
            break;
        case 'p':
            add_flag(&mp, MIG_PERSIST_DEST);
            break;
        case 'u':
            add_flag(&mp, MIG_UNDEFINE_SOURCE);
            break;
        case 's':
            add_flag(&mp, MIG_PAUSED);
            break;
        case 'o':
            add_flag(&mp, MIG_OFFLINE);
            break;
        case 'a':
            add_flag(&mp, MIG_AUTO_CONVERGE);
            break;
        case 'C':
            add_flag(&mp, MIG_POSTCOPY);
            break;
        case 'Q':
            /* The source agent switches (it sees QEMU's passes first
             * hand); virsh does it client-side only because libvirt's
             * API has no such parameter. */
            mp.postcopy_after_precopy = true;
            break;
        case 'W':
            if (parse_u("--postcopy-bandwidth", optarg, 1024ull * 1024, &v) < 0)
                goto usage_err;
            mp.postcopy_bandwidth_mib = v;
            break;
        case 'e':
            add_flag(&mp, MIG_ABORT_ON_ERROR);
            break;
        case 'A':
            add_flag(&mp, MIG_NON_SHARED_DISK);
            break;
        case 'I':
            add_flag(&mp, MIG_NON_SHARED_INC);
            break;
        case 'v':
            verbose = true;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            migrate_usage(stdout);
            mig_params_clear(&mp);
            return 0;
        case O_PARALLEL:
            add_flag(&mp, MIG_PARALLEL);
            break;
        case O_TLS:
            add_flag(&mp, MIG_TLS);
            break;
        case O_COMPRESSED:
            add_flag(&mp, MIG_COMPRESSED);
            break;
        case O_COMP_METHODS:
            if (mig_comp_methods_parse(optarg, &mp.comp_methods, &err) < 0) {
                ctl_fail("migrate", &err);
                goto usage_err;
            }
            break;
        case O_COMP_XBZRLE_CACHE:
            if (parse_u("--comp-xbzrle-cache", optarg, 1ull << 40, &v) < 0 || v == 0)
                goto usage_err;
            mp.comp_xbzrle_cache = v;
            break;
        case O_COMP_MT_LEVEL:
        case O_COMP_ZLIB_LEVEL:
            if (parse_u(c == O_COMP_MT_LEVEL ? "--comp-mt-level" : "--comp-zlib-level", optarg, 9,
                        &v) < 0)
                goto usage_err;
            if (c == O_COMP_MT_LEVEL) {
                mp.has_comp_mt_level = true;
                mp.comp_mt_level = (unsigned)v;
            } else {
                mp.has_comp_zlib_level = true;
                mp.comp_zlib_level = (unsigned)v;
            }
            break;
        case O_COMP_ZSTD_LEVEL:
            if (parse_u("--comp-zstd-level", optarg, 20, &v) < 0)
                goto usage_err;
            mp.has_comp_zstd_level = true;
            mp.comp_zstd_level = (unsigned)v;
            break;
        case O_COMP_MT_THREADS:
        case O_COMP_MT_DTHREADS:
            if (parse_u(c == O_COMP_MT_THREADS ? "--comp-mt-threads" : "--comp-mt-dthreads", optarg,
                        255, &v) < 0 ||
                v == 0)
                goto usage_err;
            if (c == O_COMP_MT_THREADS) {
                mp.has_comp_mt_threads = true;
                mp.comp_mt_threads = (unsigned)v;
            } else {
                mp.has_comp_mt_dthreads = true;
                mp.comp_mt_dthreads = (unsigned)v;
            }
            break;
        case O_ZEROCOPY:
            add_flag(&mp, MIG_ZEROCOPY);
            break;
        case O_SAME_PATH:
            mp.same_path = true;
            break;
        case O_KEEP_IMAGES:
            mp.keep_images = true;
            break;
        case O_DISK_PATH: {
            /* TARGET=PATH, repeatable; the agent checks the rest. */
            const char *eq = strchr(optarg, '=');
            size_t tl = eq ? (size_t)(eq - optarg) : 0;
            if (!eq || tl == 0 || tl >= sizeof mp.disk_paths[0].target || !eq[1] ||
                mp.n_disk_paths >= MIG_MAX_DISKS) {
                fprintf(stderr, "ferryctl: migrate: --disk-path expects TARGET=PATH, got '%s'\n",
                        optarg);
                goto usage_err;
            }
            memcpy(mp.disk_paths[mp.n_disk_paths].target, optarg, tl);
            mp.disk_paths[mp.n_disk_paths].target[tl] = '\0';
            for (size_t k = 0; k < mp.n_disk_paths; k++)
                if (strcmp(mp.disk_paths[k].target, mp.disk_paths[mp.n_disk_paths].target) == 0) {
                    fprintf(stderr, "ferryctl: migrate: --disk-path names disk '%s' twice\n",
                            mp.disk_paths[k].target);
                    goto usage_err;
                }
            mp.disk_paths[mp.n_disk_paths++].path = ferry_strdup(eq + 1);
            break;
        }
        case O_SYNC_WRITES:
            add_flag(&mp, MIG_NON_SHARED_SYNCHRONOUS_WRITES);
            break;
        case O_TLS_DEST:
            free(mp.tls_destination);
            mp.tls_destination = ferry_strdup(optarg);
            break;
        case O_DNAME:
            if (!ferry_name_valid(optarg)) {
                fprintf(stderr, "ferryctl: migrate: invalid --dname '%s'\n", optarg);
                goto usage_err;
            }
            free(mp.dname);
            mp.dname = ferry_strdup(optarg);
            break;
        case O_BW:
            if (parse_u("--bandwidth", optarg, 1024ull * 1024, &v) < 0)
                goto usage_err;
            mp.bandwidth_mib = v;
            break;
        case O_MURI:
            free(mp.migrate_uri);
            mp.migrate_uri = ferry_strdup(optarg);
            break;
        case O_LISTEN:
            free(mp.listen_address);
            mp.listen_address = ferry_strdup(optarg);
            break;
        case O_PARN:
            if (parse_u("--parallel-connections", optarg, 64, &v) < 0 || v == 0)
                goto usage_err;
            mp.parallel_connections = (unsigned)v;
            add_flag(&mp, MIG_PARALLEL);
            break;
        case O_DOWNTIME:
            if (parse_u("--max-downtime", optarg, 2000000, &v) < 0)
                goto usage_err;
            mp.max_downtime_ms = v;
            break;
        case O_TIMEOUT:
            if (parse_u("--timeout", optarg, 86400 * 7, &v) < 0 || v == 0)
                goto usage_err;
            mp.timeout_s = (unsigned)v;
            break;
        case O_TSUSP:
            mp.timeout_suspend = true;
            break;
        case O_TPOSTCOPY:
            mp.timeout_postcopy = true;
            break;
        case O_DISKS: {
            _cleanup_free_ char *list = ferry_strdup(optarg);
            char *save = NULL;
            for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                if (mp.n_migrate_disks >= MIG_MAX_DISKS) {
                    fprintf(stderr, "ferryctl: migrate: too many --migrate-disks\n");
                    goto usage_err;
                }
                mp.migrate_disks[mp.n_migrate_disks++] = ferry_strdup(t);
            }
            break;
        }
        case O_DPORT:
            if (parse_u("--disks-port", optarg, 65535, &v) < 0)
                goto usage_err;
            mp.disks_port = (unsigned)v;
            break;
        case O_DURI:
            free(mp.disks_uri);
            mp.disks_uri = ferry_strdup(optarg);
            break;
        case O_ENGINE:
            if (strcmp(optarg, "ferry") == 0)
                mp.storage_engine = MIG_STORAGE_FERRY;
            else if (strcmp(optarg, "qemu") == 0)
                mp.storage_engine = MIG_STORAGE_QEMU;
            else {
                fprintf(stderr, "ferryctl: migrate: --storage-engine is 'ferry' or 'qemu'\n");
                goto usage_err;
            }
            break;
        case O_XML:
            free(mp.dest_xml);
            mp.dest_xml = NULL;
            if (ferry_read_file(optarg, 1u << 20, &mp.dest_xml, NULL, &err) < 0) {
                ctl_fail("migrate", &err);
                goto out;
            }
            break;
        default:
            goto usage_err;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "ferryctl: migrate: expected NAME DESTURI\n");
        goto usage_err;
    }
    name = argv[optind];
    desturi = argv[optind + 1];
    if (mp.timeout_s && !mp.timeout_suspend && !mp.timeout_postcopy)
        mp.timeout_suspend = true; /* --timeout's default action */
    /* Refuse invalid combinations here too, before any agent is touched
     * (the agents check again: an orchestrator may skip ferryctl). */
    if (mig_params_validate(&mp, ~0u, &err) < 0) {
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

        if (mp.flags & MIG_PEER2PEER) {
            struct ctl_client *src = NULL;
            json_object *p = json_object_new_object();
            json_object_object_add(p, "name", json_object_new_string(name));
            json_object_object_add(p, "desturi", json_object_new_string(desturi));
            json_object_object_add(p, "params", mig_params_to_json(&mp));
            r = ctl_connect(uri, &src, &err);
            if (r == 0)
                r = ctl_client_call(src, "migrate.p2p", p, -1, NULL, &err);
            else
                json_object_put(p);
            ctl_client_free(src);
        } else {
            struct ctl_client *src = NULL, *dst = NULL;
            struct mig_peer ps = {0}, pd = {0};
            _cleanup_free_ char *host = ctl_uri_host(desturi);

            r = ctl_connect(uri, &src, &err);
            if (r < 0)
                ferry_error_prefix(&err, "source agent");
            if (r == 0) {
                r = ctl_connect(desturi, &dst, &err);
                if (r < 0)
                    ferry_error_prefix(&err, "destination agent");
            }
            if (r == 0) {
                ps.call = remote_call;
                ps.opaque = src;
                ps.hello = *ctl_client_peer(src);
                pd.call = remote_call;
                pd.opaque = dst;
                pd.hello = *ctl_client_peer(dst);
                r = mig_orchestrate(&ps, &pd, name, host, &mp, on_step, &verbose, &err);
            }
            ctl_client_free(src);
            ctl_client_free(dst);
        }
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
    mig_params_clear(&mp);
    return r;
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
    fmt_bytes(b, sizeof b, (uint64_t)json_object_get_int64(v));
    printf("%-18s %s\n", label, b);
}

static void row_num(const char *label, json_object *o, const char *key, const char *unit)
{
    json_object *v = json_object_object_get(o, key);

    if (v)
        printf("%-18s %-12lld %s\n", label, (long long)json_object_get_int64(v), unit);
}

static void print_jobinfo(json_object *o, bool json)
{
    json_object *t, *op, *disks, *e;
    const char *type, *opn;

    if (json) {
        ctl_print_json(o);
        return;
    }
    t = json_object_object_get(o, "type");
    type = t ? json_object_get_string(t) : "none";
    printf("%-18s %s\n", "Job type:",
           strcmp(type, "unbounded") == 0   ? "Unbounded"
           : strcmp(type, "completed") == 0 ? "Completed"
                                            : "None");
    if (strcmp(type, "none") == 0)
        return;
    op = json_object_object_get(o, "operation");
    opn = op ? json_object_get_string(op) : "";
    printf("%-18s %s\n", "Operation:",
           strcmp(opn, "migration-out") == 0  ? "Outgoing migration"
           : strcmp(opn, "migration-in") == 0 ? "Incoming migration"
                                              : opn);
    printf("%-18s %s\n", "Status:", json_object_get_string(json_object_object_get(o, "status")));
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
    row_bytes("Memory bandwidth:", o, "memory_bps");
    row_num("Dirty rate:", o, "memory_dirty_rate", "pages/s");
    row_num("Iteration:", o, "memory_iteration", "");
    row_num("Constant pages:", o, "memory_constant_pages", "");
    row_num("Normal pages:", o, "memory_normal_pages", "");
    row_bytes("File processed:", o, "disk_processed");
    row_bytes("File remaining:", o, "disk_remaining");
    row_bytes("File total:", o, "disk_total");
    row_bytes("File bandwidth:", o, "disk_bps");
    row_num("Disk passes:", o, "disk_passes", "");
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
        fmt_bytes(a, sizeof a,
                  (uint64_t)json_object_get_int64(json_object_object_get(d, "copied")));
        fmt_bytes(b, sizeof b, (uint64_t)json_object_get_int64(json_object_object_get(d, "total")));
        fmt_bytes(c, sizeof c, (uint64_t)json_object_get_int64(json_object_object_get(d, "bps")));
        printf("Disk %-13s %s of %s, %s/s, pass %lld\n",
               json_object_get_string(json_object_object_get(d, "target")), a, b, c,
               (long long)json_object_get_int64(json_object_object_get(d, "pass")));
    }
    e = json_object_object_get(o, "error");
    if (e)
        printf("%-18s %s\n", "Error:", json_object_get_string(e));
}

int ctl_cmd_domjobinfo(const char *uri, int argc, char **argv)
{
    static const struct option opts[] = {
        {"completed", no_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
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
        else
            return 2;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "ferryctl: domjobinfo: expected NAME\n");
        return 2;
    }
    p = json_object_new_object();
    json_object_object_add(p, "name", json_object_new_string(argv[optind]));
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
    int r;

    if (argc != 2) {
        fprintf(stderr, "ferryctl: domjobabort: expected NAME\n");
        return 2;
    }
    p = json_object_new_object();
    json_object_object_add(p, "name", json_object_new_string(argv[1]));
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
    return xendrv_cli_domxml(verb, argc, argv, stdout, stderr);
}
