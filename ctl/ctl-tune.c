/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferryctl's migration tuning verbs: migrate-setspeed/-getspeed,
 * migrate-setmaxdowntime/-getmaxdowntime and migrate-compcache, valid
 * while a migration runs and for the next one. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ctl.h"
#include "json-cleanup.h"
#include "util.h"

/* migrate-setspeed / -getspeed / -setmaxdowntime / -getmaxdowntime. */
static int cmd_tune(const char *uri, int argc, char **argv, const char *verb, const char *method,
                    const char *key, const char *usage_s, bool set)
{
    _cleanup_(json_object_putp) json_object *res = NULL;
    char *words[2] = {NULL, NULL};
    uint64_t v = 0;
    json_object *p;
    bool json;
    int r;

    char opt[32];
    const char *names[2] = {"--domain", opt};

    /* virsh names the value too: migrate-setspeed --bandwidth N. */
    snprintf(opt, sizeof opt, "--%s", key);
    if (ctl_parse_words_named(argc, argv, verb, set ? 2 : 1, names, usage_s, NULL, NULL, &json,
                              words) < 0)
        return 2;
    if (set && ferry_parse_u64(words[1], &v) < 0) {
        fprintf(stderr, "ferryctl: %s: %s '%s' is not a non-negative integer in range\n", verb, key,
                words[1]);
        return 2;
    }
    p = ctl_name_params(words[0]);
    if (set)
        json_object_object_add(p, key,
                               json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v));
    if ((r = ctl_simple_call(uri, verb, method, p, &res)) != 0)
        return r;
    if (json)
        ctl_print_json(res);
    else if (!set) /* like virsh: the setters print nothing */
        printf("%" PRId64 "\n", ctl_jint(res, key, 0));
    return 0;
}

int ctl_cmd_setspeed(const char *uri, int argc, char **argv)
{
    return cmd_tune(uri, argc, argv, "migrate-setspeed", "migrate.set_max_speed", "bandwidth",
                    "migrate-setspeed [--domain] NAME [--bandwidth] MIBS (MiB/s, 0 = unlimited)",
                    true);
}

int ctl_cmd_getspeed(const char *uri, int argc, char **argv)
{
    return cmd_tune(uri, argc, argv, "migrate-getspeed", "migrate.get_max_speed", "bandwidth",
                    "migrate-getspeed NAME", false);
}

int ctl_cmd_setmaxdowntime(const char *uri, int argc, char **argv)
{
    return cmd_tune(uri, argc, argv, "migrate-setmaxdowntime", "migrate.set_max_downtime",
                    "downtime", "migrate-setmaxdowntime [--domain] NAME [--downtime] MS", true);
}

int ctl_cmd_getmaxdowntime(const char *uri, int argc, char **argv)
{
    return cmd_tune(uri, argc, argv, "migrate-getmaxdowntime", "migrate.get_max_downtime",
                    "downtime", "migrate-getmaxdowntime NAME", false);
}

/* The storage copy's own cap, while a migration with disks runs (a verb
 * of its own: virsh has none, and migrate-setspeed keeps virsh's meaning
 * for RAM and for disks without a cap of their own). */
int ctl_cmd_setspeed_disk(const char *uri, int argc, char **argv)
{
    return cmd_tune(uri, argc, argv, "migrate-setspeed-disk", "migrate.set_disk_speed",
                    "bandwidth_disk",
                    "migrate-setspeed-disk [--domain] NAME [--bandwidth_disk] MIBS (MiB/s, 0 = "
                    "unlimited)",
                    true);
}

int ctl_cmd_getspeed_disk(const char *uri, int argc, char **argv)
{
    return cmd_tune(uri, argc, argv, "migrate-getspeed-disk", "migrate.get_disk_speed",
                    "bandwidth_disk", "migrate-getspeed-disk NAME", false);
}

/* migrate-compcache NAME [--size BYTES]: sets (with --size), then reads
 * the xbzrle cache size, as virsh does. */
int ctl_cmd_compcache(const char *uri, int argc, char **argv)
{
    static const char usage_s[] = "migrate-compcache NAME [--size BYTES]";
    _cleanup_(json_object_putp) json_object *res = NULL;
    const char *name = NULL, *size = NULL;
    bool json = false;
    uint64_t v = 0;
    json_object *p;
    int r;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
            size = argv[++i];
        } else if (strncmp(argv[i], "--size=", 7) == 0) {
            size = argv[i] + 7;
        } else if (strncmp(argv[i], "--", 2) == 0 || name) {
            fprintf(stderr, "ferryctl: migrate-compcache: unexpected '%s' (usage: %s)\n", argv[i],
                    usage_s);
            return 2;
        } else {
            name = argv[i];
        }
    }
    if (!name) {
        fprintf(stderr, "ferryctl: migrate-compcache: expected NAME (usage: %s)\n", usage_s);
        return 2;
    }
    if (size && (ferry_parse_u64(size, &v) < 0 || v > INT64_MAX)) {
        fprintf(stderr, "ferryctl: migrate-compcache: --size '%s' is not a byte count\n", size);
        return 2;
    }
    if (size) {
        p = ctl_name_params(name);
        json_object_object_add(p, "cache_size", json_object_new_int64((int64_t)v));
        if ((r = ctl_simple_call(uri, "migrate-compcache", "migrate.set_compression_cache", p,
                                 NULL)) != 0)
            return r;
    }
    if ((r = ctl_simple_call(uri, "migrate-compcache", "migrate.get_compression_cache",
                             ctl_name_params(name), &res)) != 0)
        return r;
    if (json)
        ctl_print_json(res);
    else
        printf("Compression cache: %.3f MiB\n", (double)ctl_jint(res, "cache_size", 0) / (1 << 20));
    return 0;
}
