/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferryctl's storage verbs: vol-list and vol-delete, over the images
 * ferryd created for incoming migrations (agent/volumes.h). virsh's verbs
 * of the same names work on storage pools; ferry has one pool, the images
 * it made, so no --pool is needed. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cleanup.h"
#include "ctl.h"
#include "json-cleanup.h"

#define VOL_CALL_TIMEOUT_MS 60000

static int call(const char *uri, const char *verb, const char *method, json_object *params,
                json_object **ret)
{
    return ctl_call_timeout(uri, verb, method, params, VOL_CALL_TIMEOUT_MS, ret);
}

static const char *str_or(json_object *o, const char *k, const char *dflt)
{
    json_object *v = NULL;

    return json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : dflt;
}

static void mib(char *buf, size_t len, json_object *o, const char *k)
{
    json_object *v = NULL;

    if (json_object_object_get_ex(o, k, &v))
        snprintf(buf, len, "%.1f MiB", (double)json_object_get_int64(v) / (1 << 20));
    else
        snprintf(buf, len, "-");
}

int ctl_cmd_vol_list(const char *uri, int argc, char **argv)
{
    _cleanup_(json_object_putp) json_object *res = NULL;
    bool json = false;
    json_object *arr;
    int r;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else {
            fprintf(stderr, "Usage: ferryctl vol-list [--json]\n");
            return 2;
        }
    }
    if ((r = call(uri, "vol-list", "vol.list", json_object_new_object(), &res)) != 0)
        return r;
    arr = json_object_object_get(res, "volumes");
    if (json) {
        ctl_print_json(arr);
        return 0;
    }
    printf(" %-48s %-12s %-12s %-16s %s\n", "Path", "Capacity", "Allocation", "Domain", "Used by");
    printf("------------------------------------------------------------------------------------"
           "--------------\n");
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *v = json_object_array_get_idx(arr, i);
        char cap[32], alloc[32], used[96];
        const char *by = str_or(v, "used_by", NULL);

        mib(cap, sizeof cap, v, "capacity");
        mib(alloc, sizeof alloc, v, "allocation");
        if (by)
            snprintf(used, sizeof used, "%s of '%s'", by, str_or(v, "used_by_domain", "?"));
        else
            snprintf(used, sizeof used, "nothing (vol-delete removes it)");
        printf(" %-48s %-12s %-12s %-16s %s\n", str_or(v, "path", "?"), cap, alloc,
               str_or(v, "domain", "-"), used);
    }
    return 0;
}

int ctl_cmd_vol_delete(const char *uri, int argc, char **argv)
{
    _cleanup_(json_object_putp) json_object *res = NULL;
    json_object *p;
    int r;

    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "Usage: ferryctl vol-delete PATH|FILE-IN-IMAGE-DIR\n");
        return 2;
    }
    p = json_object_new_object();
    json_object_object_add(p, "path", json_object_new_string(argv[1]));
    if ((r = call(uri, "vol-delete", "vol.delete", p, &res)) != 0)
        return r;
    printf("Vol %s deleted\n", argv[1]);
    return 0;
}
