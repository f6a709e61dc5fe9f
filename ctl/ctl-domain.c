/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferryctl's verbs that list and inspect domains: list, domstate,
 * dumpxml, dominfo, domblklist, in virsh's layout. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "ctl.h"
#include "json-cleanup.h"
#include "util.h"

/* virsh's state names: the API's "shutoff" is "shut off" on screen. */
static const char *state_name(const char *st)
{
    return st && strcmp(st, "shutoff") == 0 ? "shut off" : st ? st : "unknown";
}

/* libvirt's reason strings (virsh domstate --reason) for the API's
 * reasons, which are QEMU's run states plus ferry's own (docs/
 * control-api.md, domain.state); libvirt's "unknown" for the rest. */
static const char *reason_name(const char *st, const char *rs)
{
    static const struct {
        const char *state, *api, *virsh;
    } map[] = {
        {"running", "booted", "booted"},
        {"running", "unpaused", "unpaused"},
        {"running", "migrated", "migrated"},
        {"running", "migration-canceled", "migration canceled"},
        {"running", "postcopy-failed", "post-copy failed"},
        {"running", "postcopy", "post-copy"},
        {"paused", "user", "user"},
        {"paused", "inmigrate", "migrating"},
        {"paused", "postmigrate", "migrating"},
        {"paused", "finish-migrate", "migrating"},
        {"paused", "postcopy", "post-copy"},
        {"paused", "postcopy-failed", "post-copy failed"},
        {"paused", "postcopy-unknown", "post-copy failed"},
        {"paused", "prelaunch", "starting up"},
        {"paused", "io-error", "I/O error"},
        {"paused", "watchdog", "watchdog"},
        {"paused", "save-vm", "saving"},
        {"paused", "restore-vm", "starting up"},
        {"paused", "shutdown", "shutting down"},
        {"paused", "guest-panicked", "crashed"},
        {"shutoff", "shutdown", "shutdown"},
        {"shutoff", "crashed", "crashed"},
        {"shutoff", "migrated", "migrated"},
        {"shutoff", "destroyed", "destroyed"},
    };

    for (size_t i = 0; st && rs && i < ARRAY_SIZE(map); i++)
        if (strcmp(map[i].state, st) == 0 && strcmp(map[i].api, rs) == 0)
            return map[i].virsh;
    return "unknown";
}

/* list [--all|--inactive] [--name|--uuid]: virsh's table (Id Name State),
 * Id the QEMU process id ferry shows for libvirt's domain id, "-" when off. */
int ctl_cmd_list(const char *uri, int argc, char **argv)
{
    static const char *const flags[] = {"--all", "--inactive", "--name", "--uuid", NULL};
    _cleanup_(json_object_putp) json_object *res = NULL;
    bool set[4] = {false, false, false, false};
    json_object *p, *arr, *out;
    bool json;
    int r;

    if (ctl_parse_words_named(argc, argv, "list", 0, NULL,
                              "list [--all | --inactive] [--name | --uuid]", flags, set, &json,
                              NULL) < 0)
        return 2;
    p = json_object_new_object();
    json_object_object_add(p, "all", json_object_new_boolean(set[0] || set[1]));
    if ((r = ctl_simple_call(uri, "list", "domain.list", p, &res)) != 0)
        return r;
    arr = json_object_object_get(res, "domains");
    out = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *d = json_object_array_get_idx(arr, i);
        bool off = strcmp(ctl_jstr(d, "state") ? ctl_jstr(d, "state") : "", "shutoff") == 0;

        /* --inactive alone: only the domains that are off, as virsh. */
        if (set[1] && !set[0] && !off)
            continue;
        json_object_array_add(out, json_object_get(d));
    }
    if (json) {
        ctl_print_json(out);
        json_object_put(out);
        return 0;
    }
    if (!set[2] && !set[3]) {
        printf(" %-8s %-30s %s\n", "Id", "Name", "State");
        printf("------------------------------------------------\n");
    }
    for (size_t i = 0; i < json_object_array_length(out); i++) {
        json_object *d = json_object_array_get_idx(out, i);
        int64_t id = ctl_jint(d, "id", -1);
        char ids[24] = "-";

        if (set[2] || set[3]) {
            printf("%s\n", ctl_jstr(d, set[3] ? "uuid" : "name"));
            continue;
        }
        if (id > 0)
            snprintf(ids, sizeof ids, "%" PRId64, id);
        printf(" %-8s %-30s %s\n", ids, ctl_jstr(d, "name"), state_name(ctl_jstr(d, "state")));
    }
    json_object_put(out);
    return 0;
}

int ctl_cmd_domstate(const char *uri, int argc, char **argv)
{
    static const char *const flags[] = {"--reason", NULL};
    _cleanup_(json_object_putp) json_object *res = NULL;
    bool reason = false, json;
    char *name;
    int r;

    if (ctl_parse_words(argc, argv, "domstate", 1, "domstate [--domain] NAME [--reason]", flags,
                        &reason, &json, &name) < 0)
        return 2;
    if ((r = ctl_simple_call(uri, "domstate", "domain.state", ctl_name_params(name), &res)) != 0)
        return r;
    if (json) {
        ctl_print_json(res);
        return 0;
    }
    if (reason)
        printf("%s (%s)\n", state_name(ctl_jstr(res, "state")),
               reason_name(ctl_jstr(res, "state"), ctl_jstr(res, "reason")));
    else
        printf("%s\n", state_name(ctl_jstr(res, "state")));
    return 0;
}

int ctl_cmd_dumpxml(const char *uri, int argc, char **argv)
{
    struct ctl_simple_opts o;
    _cleanup_(json_object_putp) json_object *res = NULL;
    json_object *p;
    int r;

    if (ctl_parse_simple(argc, argv, &o, "dumpxml", 1, 1) < 0)
        return 2;
    p = ctl_name_params(o.argv[0]);
    json_object_object_add(p, "inactive", json_object_new_boolean(o.inactive));
    if ((r = ctl_simple_call(uri, "dumpxml", "domain.xml", p, &res)) != 0)
        return r;
    if (o.json)
        ctl_print_json(res);
    else
        fputs(json_object_get_string(json_object_object_get(res, "xml")), stdout);
    return 0;
}

int ctl_cmd_dominfo(const char *uri, int argc, char **argv)
{
    _cleanup_(json_object_putp) json_object *res = NULL;
    char *name;
    bool json;
    int64_t id, cpu;
    int r;

    if (ctl_parse_words(argc, argv, "dominfo", 1, "dominfo NAME", NULL, NULL, &json, &name) < 0)
        return 2;
    if ((r = ctl_simple_call(uri, "dominfo", "domain.info", ctl_name_params(name), &res)) != 0)
        return r;
    if (json) {
        ctl_print_json(res);
        return 0;
    }
    /* virsh's layout and labels. */
    id = ctl_jint(res, "id", -1);
    if (id >= 0)
        printf("%-15s %" PRId64 "\n", "Id:", id);
    else
        printf("%-15s %s\n", "Id:", "-");
    printf("%-15s %s\n", "Name:", ctl_jstr(res, "name"));
    printf("%-15s %s\n", "UUID:", ctl_jstr(res, "uuid"));
    printf("%-15s %s\n", "OS Type:", ctl_jstr(res, "os_type"));
    printf("%-15s %s\n", "State:", state_name(ctl_jstr(res, "state")));
    printf("%-15s %" PRId64 "\n", "CPU(s):", ctl_jint(res, "vcpus", 0));
    cpu = ctl_jint(res, "cpu_time", -1);
    if (cpu >= 0)
        printf("%-15s %.1fs\n", "CPU time:", (double)cpu / 1e9);
    printf("%-15s %" PRId64 " KiB\n", "Max memory:", ctl_jint(res, "max_memory", 0));
    printf("%-15s %" PRId64 " KiB\n", "Used memory:", ctl_jint(res, "used_memory", 0));
    printf("%-15s %s\n", "Persistent:",
           json_object_get_boolean(json_object_object_get(res, "persistent")) ? "yes" : "no");
    printf("%-15s %s\n", "Autostart:", "disable");
    {
        /* Not a virsh line: where the definition's disk data is. */
        json_object *loc = json_object_object_get(res, "location");
        const char *st = loc ? ctl_jstr(loc, "state") : NULL;
        if (st && strcmp(st, "here") != 0)
            printf("%-15s %s to host '%s' (disks %s): start is refused\n",
                   "Disk data:", strcmp(st, "moved") == 0 ? "migrated" : "migrating",
                   ctl_jstr(loc, "host") ? ctl_jstr(loc, "host") : "?",
                   ctl_jstr(loc, "disks") ? ctl_jstr(loc, "disks") : "?");
    }
    return 0;
}

int ctl_cmd_domblklist(const char *uri, int argc, char **argv)
{
    static const char *const flags[] = {"--details", "--inactive", NULL};
    _cleanup_(json_object_putp) json_object *res = NULL;
    bool set[2] = {false, false};
    json_object *p, *arr;
    char *name;
    bool json;
    int r;

    if (ctl_parse_words(argc, argv, "domblklist", 1, "domblklist NAME [--details] [--inactive]",
                        flags, set, &json, &name) < 0)
        return 2;
    p = ctl_name_params(name);
    json_object_object_add(p, "inactive", json_object_new_boolean(set[1]));
    if ((r = ctl_simple_call(uri, "domblklist", "domain.blklist", p, &res)) != 0)
        return r;
    arr = json_object_object_get(res, "disks");
    if (json) {
        ctl_print_json(arr);
        return 0;
    }
    /* virsh's columns in virsh's order (Type Device Target Source), ferry's
     * extras after them; Source as wide as the longest path. */
    int srcw = 6;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        const char *src = ctl_jstr(json_object_array_get_idx(arr, i), "source");
        if (src && (int)strlen(src) > srcw)
            srcw = (int)strlen(src);
    }
    if (set[0])
        printf(" %-6s %-8s %-8s %-*s  %-7s %s\n", "Type", "Device", "Target", srcw, "Source",
               "Format", "Copy");
    else
        printf(" %-8s %s\n", "Target", "Source");
    printf("------------------------------------------------------------------------\n");
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *d = json_object_array_get_idx(arr, i);
        const char *src = ctl_jstr(d, "source");
        char copy[32];

        if (!set[0]) {
            printf(" %-8s %s\n", ctl_jstr(d, "target"), src ? src : "-");
            continue;
        }
        /* Would --copy-storage-all/-inc (without --migrate-disks) copy it? */
        if (json_object_get_boolean(json_object_object_get(d, "copy")))
            snprintf(copy, sizeof copy, "yes");
        else
            snprintf(copy, sizeof copy, "no (%s)", ctl_jstr(d, "no_copy_reason"));
        printf(" %-6s %-8s %-8s %-*s  %-7s %s\n", ctl_jstr(d, "type"), ctl_jstr(d, "device"),
               ctl_jstr(d, "target"), srcw, src ? src : "-", ctl_jstr(d, "format"), copy);
    }
    return 0;
}
