/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferryctl migrate's options and usage text. The flags and simple
 * parameters come from agent/migparams.def, so a new row there is a new
 * option here with no code; the options listed there as MIG_OPTION need
 * the cases below. */
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ctl.h"
#include "migparams.h"
#include "util.h"

enum {
    O_FIRST = 256,
#define MIG_FLAG(NAME, ...)   O_FLAG_##NAME,
#define MIG_PARAM(FIELD, ...) O_PARAM_##FIELD,
#define MIG_OPTION(ID, ...)   O_##ID,
#include "migparams.def"
    O_VERBOSE,
    O_JSON,
    O_HELP,
    O_DOMAIN,
    O_DESTURI,
};

enum kind { K_FLAG, K_STR, K_U64, K_UINT, K_BOOL, K_OPTION };

static const struct row {
    int id;
    enum kind kind;
    const char *option, *alias, *arg, *help;
    unsigned flag;
    size_t offset;
    uint64_t min, max;
} rows[] = {
#define MIG_FLAG(NAME, BIT, JSON, OPTION, ALIAS, HELP)                                             \
    {O_FLAG_##NAME, K_FLAG, OPTION, ALIAS, NULL, HELP, MIG_##NAME, 0, 0, 0},
#define MIG_PARAM(FIELD, KIND, JSON, JSON_ALIAS, OPTION, ARG, MIN, MAX, HELP)                      \
    {O_PARAM_##FIELD,                                                                              \
     K_##KIND,                                                                                     \
     OPTION,                                                                                       \
     NULL,                                                                                         \
     ARG,                                                                                          \
     HELP,                                                                                         \
     0,                                                                                            \
     offsetof(struct mig_params, FIELD),                                                           \
     MIN,                                                                                          \
     MAX},
#define MIG_OPTION(ID, OPTION, ARG, HELP) {O_##ID, K_OPTION, OPTION, NULL, ARG, HELP, 0, 0, 0, 0},
#include "migparams.def"
    {O_VERBOSE, K_OPTION, "verbose", NULL, NULL, "live progress", 0, 0, 0, 0},
    {O_JSON, K_OPTION, "json", NULL, NULL, "print the completed job statistics as JSON", 0, 0, 0,
     0},
    {O_HELP, K_OPTION, "help", NULL, NULL, NULL, 0, 0, 0, 0},
    /* virsh's named forms of the two words. */
    {O_DOMAIN, K_OPTION, "domain", NULL, "NAME", "the guest (instead of the first word)", 0, 0, 0,
     0},
    {O_DESTURI, K_OPTION, "desturi", NULL, "URI", "the destination (instead of the second word)", 0,
     0, 0, 0},
};

#define FIELD(p, row, type) ((type *)((char *)(p) + (row)->offset))

void ctl_migrate_usage(FILE *f)
{
    fputs("Usage: ferryctl [-c SRCURI] migrate [OPTIONS] [--domain] NAME [--desturi] DESTURI\n"
          "\n"
          "DESTURI is the destination agent: ferry+tcp://HOST[:PORT], ferry+tls://HOST[:PORT],\n"
          "ferry://HOST[:PORT] or HOST:PORT (plain TCP; default port 7070), or a socket path.\n",
          f);
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        const struct row *r = &rows[i];
        char left[64];
        int n;

        if (!r->option || !r->help)
            continue;
        n = snprintf(left, sizeof left, "--%s%s%s", r->option, r->arg ? " " : "",
                     r->arg ? r->arg : "");
        if (!r->help[0]) {
            fprintf(f, "  %s\n", left);
            continue;
        }
        if (n > 26)
            /* Too long to share a line with its help. */
            fprintf(f, "  %s\n%25s", left, "");
        else
            fprintf(f, "  %-*s ", n <= 22 ? 22 : n + 1, left);
        /* Continuation lines line up under the first. */
        for (const char *h = r->help; *h; h++) {
            fputc(*h, f);
            if (*h == '\n')
                fprintf(f, "%25s", "");
        }
        fputc('\n', f);
    }
}

static const struct row *row_of(int id)
{
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++)
        if (rows[i].id == id)
            return &rows[i];
    return NULL;
}

static int parse_u(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
    if (ferry_parse_u64(s, ret) < 0 || *ret < min || *ret > max) {
        fprintf(stderr, "ferryctl: migrate: --%s expects a number from %llu to %llu, got '%s'\n",
                opt, (unsigned long long)min, (unsigned long long)max, s);
        return -1;
    }
    return 0;
}

/* A MIG_FLAG or MIG_PARAM option: the table says all. */
static int table_option(const struct row *r, const char *arg, struct mig_params *mp)
{
    uint64_t v;

    switch (r->kind) {
    case K_FLAG:
        mp->flags |= r->flag;
        return 0;
    case K_BOOL:
        *FIELD(mp, r, bool) = true;
        return 0;
    case K_STR:
        free(*FIELD(mp, r, char *));
        *FIELD(mp, r, char *) = ferry_strdup(arg);
        return 0;
    case K_U64:
    case K_UINT:
        if (parse_u(r->option, arg, r->min, r->max, &v) < 0)
            return -1;
        if (r->kind == K_U64)
            *FIELD(mp, r, uint64_t) = v;
        else
            *FIELD(mp, r, unsigned) = (unsigned)v;
        return 0;
    case K_OPTION:
        break;
    }
    return -1;
}

static int level(const char *opt, const char *arg, uint64_t min, uint64_t max, bool *has,
                 unsigned *ret)
{
    uint64_t v;

    if (parse_u(opt, arg, min, max, &v) < 0)
        return -1;
    *has = true;
    *ret = (unsigned)v;
    return 0;
}

/* --disk-path TARGET=PATH, repeatable; the agent checks the rest. */
static int disk_path(const char *arg, struct mig_params *mp)
{
    const char *eq = strchr(arg, '=');
    size_t tl = eq ? (size_t)(eq - arg) : 0;

    if (!eq || tl == 0 || tl >= sizeof mp->disk_paths[0].target || !eq[1] ||
        mp->n_disk_paths >= MIG_MAX_DISKS) {
        fprintf(stderr, "ferryctl: migrate: --disk-path expects TARGET=PATH, got '%s'\n", arg);
        return -1;
    }
    memcpy(mp->disk_paths[mp->n_disk_paths].target, arg, tl);
    mp->disk_paths[mp->n_disk_paths].target[tl] = '\0';
    for (size_t k = 0; k < mp->n_disk_paths; k++)
        if (strcmp(mp->disk_paths[k].target, mp->disk_paths[mp->n_disk_paths].target) == 0) {
            fprintf(stderr, "ferryctl: migrate: --disk-path names disk '%s' twice\n",
                    mp->disk_paths[k].target);
            return -1;
        }
    mp->disk_paths[mp->n_disk_paths++].path = ferry_strdup(eq + 1);
    return 0;
}

/* The MIG_OPTION rows: values that need code of their own. */
static int own_option(int id, const char *arg, struct ctl_migrate_opts *o)
{
    struct mig_params *mp = &o->params;
    struct ferry_error err = {0};

    switch (id) {
    case O_VERBOSE:
        o->verbose = true;
        return 0;
    case O_JSON:
        o->json = true;
        return 0;
    case O_DOMAIN:
        o->name = arg;
        return 0;
    case O_DESTURI:
        o->desturi = arg;
        return 0;
    case O_DISKS: {
        _cleanup_free_ char *list = ferry_strdup(arg);
        char *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (mp->n_migrate_disks >= MIG_MAX_DISKS) {
                fprintf(stderr, "ferryctl: migrate: too many --migrate-disks\n");
                return -1;
            }
            mp->migrate_disks[mp->n_migrate_disks++] = ferry_strdup(t);
        }
        return 0;
    }
    case O_ENGINE:
        if (mig_storage_engine_from_name(arg, &mp->storage_engine) < 0) {
            fprintf(stderr, "ferryctl: migrate: --storage-engine is 'ferry' or 'qemu'\n");
            return -1;
        }
        return 0;
    case O_DISK_PATH:
        return disk_path(arg, mp);
    case O_DISK_RECONNECT: {
        uint64_t v;
        if (parse_u("disk-reconnect-timeout", arg, 0, MIG_MAX_DISK_RECONNECT_S, &v) < 0)
            return -1;
        mp->disk_reconnect_timeout_s = (unsigned)v;
        mp->has_disk_reconnect_timeout = true;
        return 0;
    }
    case O_XML:
        free(mp->dest_xml);
        mp->dest_xml = NULL;
        if (ferry_read_file(arg, 1u << 20, &mp->dest_xml, NULL, &err) < 0) {
            ctl_fail("migrate", &err);
            return -1;
        }
        return 0;
    case O_COMP_METHODS:
        if (mig_comp_methods_parse(arg, &mp->comp_methods, &err) < 0) {
            ctl_fail("migrate", &err);
            return -1;
        }
        return 0;
    case O_COMP_XBZRLE_CACHE:
        return parse_u("comp-xbzrle-cache", arg, 1, 1ull << 40, &mp->comp_xbzrle_cache);
    case O_COMP_MT_LEVEL:
        return level("comp-mt-level", arg, 0, 9, &mp->has_comp_mt_level, &mp->comp_mt_level);
    case O_COMP_ZLIB_LEVEL:
        return level("comp-zlib-level", arg, 0, 9, &mp->has_comp_zlib_level, &mp->comp_zlib_level);
    case O_COMP_ZSTD_LEVEL:
        return level("comp-zstd-level", arg, 0, 20, &mp->has_comp_zstd_level, &mp->comp_zstd_level);
    case O_COMP_MT_THREADS:
        return level("comp-mt-threads", arg, 1, 255, &mp->has_comp_mt_threads,
                     &mp->comp_mt_threads);
    case O_COMP_MT_DTHREADS:
        return level("comp-mt-dthreads", arg, 1, 255, &mp->has_comp_mt_dthreads,
                     &mp->comp_mt_dthreads);
    default:
        return -1;
    }
}

int ctl_migrate_parse(int argc, char **argv, struct ctl_migrate_opts *o)
{
    struct option opts[2 * ARRAY_SIZE(rows) + 1];
    size_t n = 0;
    int c;

    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        const struct row *r = &rows[i];
        int has_arg = r->arg ? required_argument : no_argument;

        if (!r->option)
            continue;
        opts[n++] = (struct option){r->option, has_arg, NULL, r->id};
        if (r->alias)
            opts[n++] = (struct option){r->alias, has_arg, NULL, r->id};
    }
    opts[n] = (struct option){NULL, 0, NULL, 0};

    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        const struct row *r = row_of(c);

        if (!r)
            return -1;
        if (c == O_HELP) {
            ctl_migrate_usage(stdout);
            return 1;
        }
        if ((r->kind == K_OPTION ? own_option(c, optarg, o) : table_option(r, optarg, &o->params)) <
            0)
            return -1;
        if (c == O_PARAM_dname && !ferry_name_valid(optarg)) {
            fprintf(stderr, "ferryctl: migrate: invalid --dname '%s'\n", optarg);
            return -1;
        }
    }
    /* --parallel-connections N implies --parallel. */
    if (o->params.parallel_connections)
        o->params.flags |= MIG_PARALLEL;
    /* Words fill what --domain/--desturi left, in that order. */
    if (!o->name && optind < argc)
        o->name = argv[optind++];
    if (!o->desturi && optind < argc)
        o->desturi = argv[optind++];
    if (!o->name || !o->desturi || optind != argc) {
        fprintf(stderr, "ferryctl: migrate: expected NAME DESTURI (or --domain NAME --desturi "
                        "URI)\n");
        return -1;
    }
    if (o->params.timeout_s && !o->params.timeout_suspend && !o->params.timeout_postcopy)
        o->params.timeout_suspend = true; /* --timeout's default action */
    return 0;
}
