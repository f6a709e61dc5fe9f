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

int ctl_cmd_list(const char *uri, int argc, char **argv)
{
    struct ctl_simple_opts o;
    _cleanup_(json_object_putp) json_object *res = NULL;
    json_object *p, *arr;
    int r;

    if (ctl_parse_simple(argc, argv, &o, "list", 0, 0) < 0)
        return 2;
    p = json_object_new_object();
    json_object_object_add(p, "all", json_object_new_boolean(o.all));
    if ((r = ctl_simple_call(uri, "list", "domain.list", p, &res)) != 0)
        return r;
    arr = json_object_object_get(res, "domains");
    if (o.json) {
        ctl_print_json(arr);
        return 0;
    }
    printf(" %-30s %-10s %s\n", "Name", "State", "Persistent");
    printf("------------------------------------------------------\n");
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *d = json_object_array_get_idx(arr, i);
        printf(" %-30s %-10s %s\n", json_object_get_string(json_object_object_get(d, "name")),
               json_object_get_string(json_object_object_get(d, "state")),
               json_object_get_boolean(json_object_object_get(d, "persistent")) ? "yes" : "no");
    }
    return 0;
}

int ctl_cmd_domstate(const char *uri, int argc, char **argv)
{
    struct ctl_simple_opts o;
    _cleanup_(json_object_putp) json_object *res = NULL;
    const char *reason;
    int r;

    if (ctl_parse_simple(argc, argv, &o, "domstate", 1, 1) < 0)
        return 2;
    if ((r = ctl_simple_call(uri, "domstate", "domain.state", ctl_name_params(o.argv[0]), &res)) !=
        0)
        return r;
    if (o.json) {
        ctl_print_json(res);
        return 0;
    }
    reason = json_object_get_string(json_object_object_get(res, "reason"));
    if (o.reason && reason && *reason)
        printf("%s (%s)\n", json_object_get_string(json_object_object_get(res, "state")), reason);
    else
        printf("%s\n", json_object_get_string(json_object_object_get(res, "state")));
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
    printf("%-15s %s\n", "State:", ctl_jstr(res, "state"));
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
    if (set[0])
        printf(" %-6s %-8s %-8s %-7s %-22s %s\n", "Type", "Device", "Target", "Format", "Copy",
               "Source");
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
        printf(" %-6s %-8s %-8s %-7s %-22s %s\n", ctl_jstr(d, "type"), ctl_jstr(d, "device"),
               ctl_jstr(d, "target"), ctl_jstr(d, "format"), copy, src ? src : "-");
    }
    return 0;
}
