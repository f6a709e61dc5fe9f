/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferryctl maintenance and drain: take a host out of service. drain puts
 * the agent in maintenance (no incoming migrations, no new guests), then
 * migrates every guest that runs there to the destinations in turn
 * (round-robin in name order), at most --max-parallel at once, with a
 * line per guest and a summary (docs/control-api.md, "Draining a host"). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ctl.h"
#include "json-cleanup.h"
#include "migparams.h"
#include "util.h"

#define CALL_TIMEOUT_MS    120000
#define DRAIN_MAX_DESTS    64
#define DRAIN_MAX_PARALLEL 16

static int call(const char *uri, const char *method, json_object *params, json_object **ret,
                struct ferry_error *err)
{
    struct ctl_client *c = NULL;
    int r = ctl_connect(uri, &c, err);

    if (r == 0)
        r = ctl_client_call(c, method, params, CALL_TIMEOUT_MS, ret, err);
    else
        json_object_put(params);
    ctl_client_free(c);
    return r;
}

static void print_admission(json_object *o)
{
    json_object *v = NULL;
    int64_t mo = 0, mi = 0, out = 0, in = 0;

    if (json_object_object_get_ex(o, "max_outgoing", &v))
        mo = json_object_get_int64(v);
    if (json_object_object_get_ex(o, "max_incoming", &v))
        mi = json_object_get_int64(v);
    if (json_object_object_get_ex(o, "outgoing", &v))
        out = json_object_get_int64(v);
    if (json_object_object_get_ex(o, "incoming", &v))
        in = json_object_get_int64(v);
    json_object_object_get_ex(o, "maintenance", &v);
    printf("Maintenance:    %s\n", json_object_get_boolean(v) ? "on" : "off");
    printf("Outgoing:       %" PRId64 " running, limit %s%.0" PRId64 "\n", out, mo ? "" : "none",
           mo);
    printf("Incoming:       %" PRId64 " running, limit %s%.0" PRId64 "\n", in, mi ? "" : "none",
           mi);
}

int ctl_cmd_maintenance(const char *uri, int argc, char **argv)
{
    _cleanup_(json_object_putp) json_object *res = NULL;
    struct ferry_error err = {0};
    json_object *p = json_object_new_object();
    bool json = false;
    const char *mode = NULL;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = true;
        else if (!mode && (strcmp(argv[i], "on") == 0 || strcmp(argv[i], "off") == 0))
            mode = argv[i];
        else {
            fprintf(stderr, "Usage: ferryctl maintenance [on|off] [--json]\n");
            json_object_put(p);
            return 2;
        }
    }
    if (mode)
        json_object_object_add(p, "enable", json_object_new_boolean(strcmp(mode, "on") == 0));
    if (call(uri, "host.maintenance", p, &res, &err) < 0)
        return ctl_fail("maintenance", &err);
    if (json)
        ctl_print_json(res);
    else
        print_admission(res);
    return 0;
}

/* ---- drain ---- */

struct drain_guest {
    char name[65];
    const char *dest;
    enum { G_WAITING, G_RUNNING, G_DONE, G_FAILED, G_SKIPPED } state;
    char error[FERRY_ERROR_MSG_MAX];
    double seconds;
};

struct drain {
    const char *uri;
    struct mig_params params;
    struct drain_guest *guests;
    size_t n_guests, next, finished;
    bool keep_going, stop;
    pthread_mutex_t lock; /* the fields above that change, and stdout */
};

static void *drain_worker(void *arg)
{
    struct drain *d = arg;

    for (;;) {
        struct drain_guest *g;
        struct ferry_error err = {0};
        int64_t t0;
        int r;

        pthread_mutex_lock(&d->lock);
        if (d->stop || d->next == d->n_guests) {
            pthread_mutex_unlock(&d->lock);
            return NULL;
        }
        g = &d->guests[d->next++];
        g->state = G_RUNNING;
        printf("drain: [%zu/%zu] %s -> %s: migrating\n", d->next, d->n_guests, g->name, g->dest);
        fflush(stdout);
        pthread_mutex_unlock(&d->lock);

        t0 = ferry_now_ms();
        r = ctl_migrate_run(d->uri, g->name, g->dest, &d->params, NULL, NULL, &err);

        pthread_mutex_lock(&d->lock);
        g->seconds = (double)(ferry_now_ms() - t0) / 1000.0;
        d->finished++;
        if (r < 0) {
            g->state = G_FAILED;
            snprintf(g->error, sizeof g->error, "%s", ferry_error_msg(&err));
            printf("drain: [%zu/%zu] %s -> %s: FAILED after %.1f s: %s\n", d->finished, d->n_guests,
                   g->name, g->dest, g->seconds, g->error);
            if (!d->keep_going)
                d->stop = true;
        } else {
            g->state = G_DONE;
            printf("drain: [%zu/%zu] %s -> %s: migrated in %.1f s\n", d->finished, d->n_guests,
                   g->name, g->dest, g->seconds);
        }
        fflush(stdout);
        pthread_mutex_unlock(&d->lock);
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct drain_guest *)a)->name, ((const struct drain_guest *)b)->name);
}

/* A destination is a ferry URI: everything else on the command line is
 * drain's own options or migrate's, passed to migrate's parser. */
static bool is_dest_uri(const char *s)
{
    return strncmp(s, "ferry+tcp://", 12) == 0 || strncmp(s, "ferry+tls://", 12) == 0 ||
           strncmp(s, "ferry://", 8) == 0;
}

static void drain_usage(FILE *f)
{
    fprintf(f, "Usage: ferryctl drain [--max-parallel N] [--keep-going] [MIGRATE-OPTIONS] "
               "DESTURI...\n"
               "\n"
               "Puts the agent in maintenance, then migrates every running guest away:\n"
               "guests in name order go to the destinations in turn (round-robin),\n"
               "at most N at once (default 1). Stops starting new migrations at the first\n"
               "failure unless --keep-going. DESTURIs are ferry+tcp:// or ferry+tls://\n"
               "URIs. MIGRATE-OPTIONS are migrate's (ferryctl migrate --help),\n"
               "applied to every guest; --live is implied for running guests.\n");
}

int ctl_cmd_drain(const char *uri, int argc, char **argv)
{
    _cleanup_(json_object_putp) json_object *res = NULL;
    _cleanup_free_ char **margv = ferry_calloc((size_t)argc + 3, sizeof(char *));
    const char *dests[DRAIN_MAX_DESTS];
    struct ctl_migrate_opts o;
    struct ferry_error err = {0};
    struct drain d = {.uri = uri, .lock = PTHREAD_MUTEX_INITIALIZER};
    pthread_t threads[DRAIN_MAX_PARALLEL];
    size_t n_dests = 0, done = 0, failed = 0, skipped = 0, n_threads = 0;
    uint64_t parallel = 1;
    json_object *list = NULL, *p;
    int margc = 0, r;

    margv[margc++] = (char *)"migrate";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            drain_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--keep-going") == 0) {
            d.keep_going = true;
        } else if (strcmp(argv[i], "--max-parallel") == 0 && i + 1 < argc) {
            if (ferry_parse_u64(argv[++i], &parallel) < 0 || parallel < 1 ||
                parallel > DRAIN_MAX_PARALLEL) {
                fprintf(stderr, "ferryctl: drain: --max-parallel must be between 1 and %d\n",
                        DRAIN_MAX_PARALLEL);
                return 2;
            }
        } else if (is_dest_uri(argv[i])) {
            if (n_dests == DRAIN_MAX_DESTS) {
                fprintf(stderr, "ferryctl: drain: at most %d destinations\n", DRAIN_MAX_DESTS);
                return 2;
            }
            dests[n_dests++] = argv[i];
        } else {
            margv[margc++] = argv[i];
        }
    }
    if (!n_dests) {
        drain_usage(stderr);
        return 2;
    }
    /* Migrate's own parser, with placeholders for its NAME and DESTURI. */
    margv[margc++] = (char *)"-";
    margv[margc++] = (char *)"-";
    if (ctl_migrate_parse(margc, margv, &o) != 0) {
        mig_params_clear(&o.params);
        return 2;
    }
    d.params = o.params;
    if (d.params.dname || d.params.dest_xml || d.params.migrate_uri) {
        fprintf(stderr, "ferryctl: drain: --dname, --xml and --migrateuri name one guest's "
                        "destination: not for a drain\n");
        mig_params_clear(&d.params);
        return 2;
    }
    if (!(d.params.flags & MIG_OFFLINE))
        d.params.flags |= MIG_LIVE;
    if (mig_params_validate(&d.params, ~0u, &err) < 0) {
        mig_params_clear(&d.params);
        return ctl_fail("drain", &err);
    }

    /* Maintenance first: nothing new lands here while the guests leave. */
    p = json_object_new_object();
    json_object_object_add(p, "enable", json_object_new_boolean(true));
    if (call(uri, "host.maintenance", p, NULL, &err) < 0 ||
        call(uri, "domain.list", NULL, &res, &err) < 0) {
        mig_params_clear(&d.params);
        return ctl_fail("drain", &err);
    }
    printf("drain: %s is in maintenance mode\n", uri);
    json_object_object_get_ex(res, "domains", &list);
    d.n_guests = list ? json_object_array_length(list) : 0;
    d.guests = ferry_calloc(d.n_guests ? d.n_guests : 1, sizeof *d.guests);
    for (size_t i = 0; i < d.n_guests; i++) {
        json_object *dom = json_object_array_get_idx(list, i), *v = NULL;
        json_object_object_get_ex(dom, "name", &v);
        snprintf(d.guests[i].name, sizeof d.guests[i].name, "%s", json_object_get_string(v));
    }
    qsort(d.guests, d.n_guests, sizeof *d.guests, by_name);
    for (size_t i = 0; i < d.n_guests; i++)
        d.guests[i].dest = dests[i % n_dests];
    printf("drain: %zu guest%s to move to %zu destination%s, %" PRIu64 " at a time\n", d.n_guests,
           d.n_guests == 1 ? "" : "s", n_dests, n_dests == 1 ? "" : "s", parallel);
    fflush(stdout);

    for (size_t i = 0; i < parallel && i < d.n_guests; i++)
        if (pthread_create(&threads[n_threads], NULL, drain_worker, &d) == 0)
            n_threads++;
    if (!n_threads && d.n_guests)
        drain_worker(&d);
    for (size_t i = 0; i < n_threads; i++)
        pthread_join(threads[i], NULL);

    for (size_t i = 0; i < d.n_guests; i++) {
        if (d.guests[i].state == G_DONE)
            done++;
        else if (d.guests[i].state == G_FAILED)
            failed++;
        else
            skipped++;
    }
    printf("drain: %zu migrated, %zu failed, %zu not attempted%s\n", done, failed, skipped,
           failed && !d.keep_going && skipped ? " (stopped at the first failure; --keep-going "
                                                "carries on)"
                                              : "");
    for (size_t i = 0; i < d.n_guests; i++)
        if (d.guests[i].state == G_FAILED)
            printf("drain:   %s: %s\n", d.guests[i].name, d.guests[i].error);
    if (!failed && !skipped)
        printf("drain: the host is empty; it stays in maintenance until 'ferryctl "
               "maintenance off'\n");
    free(d.guests);
    mig_params_clear(&d.params);
    r = failed || skipped ? 1 : 0;
    return r;
}
