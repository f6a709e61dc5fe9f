/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferryctl: command-line client of ferryd's control API, with verbs a
 * virsh user recognises. Exit status 0 only on success. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "cleanup.h"
#include "client.h"
#include "ctl.h"
#include "ferry-config.h"
#include "json-cleanup.h"
#include "util.h"

#define CALL_TIMEOUT_MS 120000

/* Runs one call against URI and returns its result (caller puts). */
static int simple_call(const char *uri, const char *verb, const char *method, json_object *params,
                       json_object **ret)
{
    struct ctl_client *c = NULL;
    struct ferry_error err = {0};
    int r;

    r = ctl_connect(uri, &c, &err);
    if (r == 0)
        r = ctl_client_call(c, method, params, CALL_TIMEOUT_MS, ret, &err);
    else
        json_object_put(params);
    ctl_client_free(c);
    if (r < 0)
        return ctl_fail(verb, &err);
    return 0;
}

static json_object *name_params(const char *name)
{
    json_object *p = json_object_new_object();

    json_object_object_add(p, "name", json_object_new_string(name));
    return p;
}

/* Common option parsing for simple verbs: --json and positional args. */
struct simple_opts {
    bool json;
    bool all;
    bool hmp;
    bool inactive;
    bool completed;
    bool reason;
    int argc;
    char **argv;
};

static int parse_simple(int argc, char **argv, struct simple_opts *o, const char *verb,
                        int min_args, int max_args)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},      {"all", no_argument, NULL, 'a'},
        {"hmp", no_argument, NULL, 'H'},       {"inactive", no_argument, NULL, 'i'},
        {"completed", no_argument, NULL, 'C'}, {"reason", no_argument, NULL, 'r'},
        {"pretty", no_argument, NULL, 'p'},    {NULL, 0, NULL, 0},
    };
    int c;

    memset(o, 0, sizeof *o);
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'j':
            o->json = true;
            break;
        case 'a':
            o->all = true;
            break;
        case 'H':
            o->hmp = true;
            break;
        case 'i':
            o->inactive = true;
            break;
        case 'C':
            o->completed = true;
            break;
        case 'r':
            o->reason = true;
            break;
        case 'p':
            break;
        default:
            fprintf(stderr, "ferryctl: %s: bad option\n", verb);
            return -1;
        }
    }
    o->argc = argc - optind;
    o->argv = argv + optind;
    if (o->argc < min_args || (max_args >= 0 && o->argc > max_args)) {
        fprintf(stderr, "ferryctl: %s: expected %d%s argument%s, got %d\n", verb, min_args,
                max_args < 0 ? " or more" : (max_args != min_args ? "-more" : ""),
                min_args == 1 && max_args == 1 ? "" : "s", o->argc);
        return -1;
    }
    return 0;
}

static int cmd_define(const char *uri, int argc, char **argv)
{
    struct simple_opts o;
    _cleanup_free_ char *xml = NULL;
    _cleanup_(json_object_putp) json_object *res = NULL;
    struct ferry_error err = {0};
    json_object *p, *ign;
    int r;

    if (parse_simple(argc, argv, &o, "define", 1, 1) < 0)
        return 2;
    if (ferry_read_file(o.argv[0], 1u << 20, &xml, NULL, &err) < 0)
        return ctl_fail("define", &err);
    p = json_object_new_object();
    json_object_object_add(p, "xml", json_object_new_string(xml));
    if ((r = simple_call(uri, "define", "domain.define", p, &res)) != 0)
        return r;
    if (o.json) {
        ctl_print_json(res);
        return 0;
    }
    printf("Domain '%s' defined from %s\n",
           json_object_get_string(json_object_object_get(res, "name")), o.argv[0]);
    ign = json_object_object_get(res, "ignored");
    for (size_t i = 0; ign && i < json_object_array_length(ign); i++)
        printf("  ignored: <%s> (not supported by ferry)\n",
               json_object_get_string(json_object_array_get_idx(ign, i)));
    return 0;
}

static int cmd_name_verb(const char *uri, int argc, char **argv, const char *verb,
                         const char *method, const char *done_fmt)
{
    struct simple_opts o;
    int r;

    if (parse_simple(argc, argv, &o, verb, 1, 1) < 0)
        return 2;
    if ((r = simple_call(uri, verb, method, name_params(o.argv[0]), NULL)) != 0)
        return r;
    if (o.json)
        printf("{}\n");
    else
        printf(done_fmt, o.argv[0]);
    return 0;
}

static int cmd_list(const char *uri, int argc, char **argv)
{
    struct simple_opts o;
    _cleanup_(json_object_putp) json_object *res = NULL;
    json_object *p, *arr;
    int r;

    if (parse_simple(argc, argv, &o, "list", 0, 0) < 0)
        return 2;
    p = json_object_new_object();
    json_object_object_add(p, "all", json_object_new_boolean(o.all));
    if ((r = simple_call(uri, "list", "domain.list", p, &res)) != 0)
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

static int cmd_domstate(const char *uri, int argc, char **argv)
{
    struct simple_opts o;
    _cleanup_(json_object_putp) json_object *res = NULL;
    const char *reason;
    int r;

    if (parse_simple(argc, argv, &o, "domstate", 1, 1) < 0)
        return 2;
    if ((r = simple_call(uri, "domstate", "domain.state", name_params(o.argv[0]), &res)) != 0)
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

static int cmd_dumpxml(const char *uri, int argc, char **argv)
{
    struct simple_opts o;
    _cleanup_(json_object_putp) json_object *res = NULL;
    json_object *p;
    int r;

    if (parse_simple(argc, argv, &o, "dumpxml", 1, 1) < 0)
        return 2;
    p = name_params(o.argv[0]);
    json_object_object_add(p, "inactive", json_object_new_boolean(o.inactive));
    if ((r = simple_call(uri, "dumpxml", "domain.xml", p, &res)) != 0)
        return r;
    if (o.json)
        ctl_print_json(res);
    else
        fputs(json_object_get_string(json_object_object_get(res, "xml")), stdout);
    return 0;
}

static int cmd_capabilities(const char *uri, int argc, char **argv)
{
    struct simple_opts o;
    _cleanup_(json_object_putp) json_object *res = NULL;
    int r;

    if (parse_simple(argc, argv, &o, "capabilities", 0, 0) < 0)
        return 2;
    if ((r = simple_call(uri, "capabilities", "host.capabilities", NULL, &res)) != 0)
        return r;
    if (o.json)
        ctl_print_json(res);
    else
        fputs(json_object_get_string(json_object_object_get(res, "xml")), stdout);
    return 0;
}

static int cmd_monitor(const char *uri, int argc, char **argv)
{
    _cleanup_(json_object_putp) json_object *res = NULL;
    _cleanup_free_ char *cmd = NULL;
    const char *name = NULL;
    bool json = false, hmp = false;
    size_t len = 0;
    int first = -1;
    json_object *p, *failed;
    const char *out;
    int r;

    /* virsh's syntax: options may come before or after NAME, but once the
     * command has started every word belongs to it ("qemu-io -d ..."). */
    for (int i = 1; i < argc; i++) {
        if (first < 0 && strcmp(argv[i], "--hmp") == 0)
            hmp = true;
        else if (first < 0 && (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "--pretty") == 0))
            json = strcmp(argv[i], "--json") == 0 ? true : json;
        else if (first < 0 && strncmp(argv[i], "--", 2) == 0 && argv[i][2]) {
            fprintf(stderr, "ferryctl: qemu-monitor-command: unknown option '%s'\n", argv[i]);
            return 2;
        } else if (!name)
            name = argv[i];
        else {
            if (first < 0)
                first = i;
            len += strlen(argv[i]) + 1;
        }
    }
    if (!name || first < 0) {
        fprintf(stderr, "ferryctl: qemu-monitor-command: expected NAME [--hmp] COMMAND\n");
        return 2;
    }
    /* Like virsh, the remaining words are joined with spaces. */
    cmd = ferry_calloc(len + 1, 1);
    char *end = cmd; /* len counted each word plus one separator */
    for (int i = first; i < argc; i++) {
        if (i > first)
            *end++ = ' ';
        end = stpcpy(end, argv[i]);
    }
    p = name_params(name);
    json_object_object_add(p, "command", json_object_new_string(cmd));
    json_object_object_add(p, "hmp", json_object_new_boolean(hmp));
    if ((r = simple_call(uri, "qemu-monitor-command", "domain.monitor", p, &res)) != 0)
        return r;
    out = json_object_get_string(json_object_object_get(res, "output"));
    failed = json_object_object_get(res, "failed");
    if (json)
        ctl_print_json(res);
    else
        fputs(out, stdout);
    if (!json && out && *out && out[strlen(out) - 1] != '\n')
        putchar('\n');
    if (failed && json_object_get_boolean(failed)) {
        fprintf(stderr, "ferryctl: qemu-monitor-command: the command failed\n");
        return 1;
    }
    return 0;
}

static int cmd_events(const char *uri, int argc, char **argv)
{
    static const struct option opts[] = {
        {"domain", required_argument, NULL, 'd'},  {"count", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'}, {"json", no_argument, NULL, 'j'},
        {"since", required_argument, NULL, 's'},   {NULL, 0, NULL, 0},
    };
    const char *domain = NULL;
    uint64_t count = 0, timeout = 0, seen = 0, since = 0;
    bool replay = false;
    json_object *params = NULL;
    struct ctl_client *c = NULL;
    struct ferry_error err = {0};
    int64_t deadline;
    int opt, r;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'd':
            domain = optarg;
            break;
        case 'n':
            if (ferry_parse_u64(optarg, &count) < 0) {
                fprintf(stderr, "ferryctl: events: bad --count\n");
                return 2;
            }
            break;
        case 't':
            if (ferry_parse_u64(optarg, &timeout) < 0) {
                fprintf(stderr, "ferryctl: events: bad --timeout\n");
                return 2;
            }
            break;
        case 's':
            if (ferry_parse_u64(optarg, &since) < 0 || since > INT64_MAX) {
                fprintf(stderr, "ferryctl: events: bad --since\n");
                return 2;
            }
            replay = true;
            break;
        case 'j':
            break; /* events are always JSON lines */
        default:
            return 2;
        }
    }
    if (ctl_connect(uri, &c, &err) < 0)
        return ctl_fail("events", &err);
    if (replay) {
        /* The agent's kept events with a seq above SINCE come first. */
        params = json_object_new_object();
        json_object_object_add(params, "since", json_object_new_int64((int64_t)since));
    }
    if (ctl_client_call(c, "events.subscribe", params, CALL_TIMEOUT_MS, NULL, &err) < 0) {
        ctl_client_free(c);
        return ctl_fail("events", &err);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    deadline = timeout ? ferry_now_ms() + (int64_t)timeout * 1000 : -1;
    for (;;) {
        _cleanup_(json_object_putp) json_object *ev = NULL;
        json_object *d = NULL;

        r = ctl_client_next_event(c, deadline < 0 ? -1 : ferry_ms_left(deadline), &ev, &err);
        if (r == -ETIMEDOUT) {
            r = 0;
            break;
        }
        if (r < 0)
            break;
        if (domain && (!json_object_object_get_ex(ev, "domain", &d) ||
                       strcmp(json_object_get_string(d), domain) != 0))
            continue;
        printf("%s\n", json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN));
        if (count && ++seen >= count)
            break;
    }
    ctl_client_free(c);
    if (r < 0)
        return ctl_fail("events", &err);
    return 0;
}

/* ---- suspend, resume, dominfo, domblklist, migration tuning ---- */

/* Words of a verb that takes NARGS positional words and, besides --json,
 * only the flags in FLAGS (NULL-terminated; *FLAG_SET[i] set when seen).
 * Done by hand rather than with getopt so that a negative number is
 * reported as a bad number, not as an unknown option. */
static int parse_words(int argc, char **argv, const char *verb, int nargs, const char *usage_s,
                       const char *const *flags, bool *flag_set, bool *json, char **words)
{
    int n = 0;

    *json = false;
    for (int i = 1; i < argc; i++) {
        bool known = false;

        if (strcmp(argv[i], "--json") == 0) {
            *json = true;
            continue;
        }
        for (size_t k = 0; flags && flags[k]; k++)
            if (strcmp(argv[i], flags[k]) == 0)
                known = flag_set[k] = true;
        if (known)
            continue;
        if (strncmp(argv[i], "--", 2) == 0) {
            fprintf(stderr, "ferryctl: %s: unknown option '%s' (usage: %s)\n", verb, argv[i],
                    usage_s);
            return -1;
        }
        if (n == nargs) {
            fprintf(stderr, "ferryctl: %s: unexpected argument '%s' (usage: %s)\n", verb, argv[i],
                    usage_s);
            return -1;
        }
        words[n++] = argv[i];
    }
    if (n < nargs) {
        fprintf(stderr, "ferryctl: %s: expected %d argument%s (usage: %s)\n", verb, nargs,
                nargs == 1 ? "" : "s", usage_s);
        return -1;
    }
    return 0;
}

static int cmd_suspend_resume(const char *uri, int argc, char **argv, bool resume)
{
    const char *verb = resume ? "resume" : "suspend";
    _cleanup_(json_object_putp) json_object *res = NULL;
    char *name;
    bool json;
    int r;

    if (parse_words(argc, argv, verb, 1, resume ? "resume NAME" : "suspend NAME", NULL, NULL, &json,
                    &name) < 0)
        return 2;
    r = simple_call(uri, verb, resume ? "domain.resume" : "domain.suspend", name_params(name),
                    &res);
    if (r != 0)
        return r;
    if (json)
        ctl_print_json(res);
    else if (json_object_get_boolean(json_object_object_get(res, "changed")))
        printf("Domain '%s' %s\n", name, resume ? "resumed" : "suspended");
    else
        printf("Domain '%s' was already %s\n", name, resume ? "running" : "paused");
    return 0;
}

static int cmd_suspend(const char *uri, int argc, char **argv)
{
    return cmd_suspend_resume(uri, argc, argv, false);
}

static int cmd_resume(const char *uri, int argc, char **argv)
{
    return cmd_suspend_resume(uri, argc, argv, true);
}

static int64_t jint(json_object *o, const char *key, int64_t dflt)
{
    json_object *v = NULL;

    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : dflt;
}

static const char *jstr(json_object *o, const char *key)
{
    json_object *v = NULL;

    return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}

static int cmd_dominfo(const char *uri, int argc, char **argv)
{
    _cleanup_(json_object_putp) json_object *res = NULL;
    char *name;
    bool json;
    int64_t id, cpu;
    int r;

    if (parse_words(argc, argv, "dominfo", 1, "dominfo NAME", NULL, NULL, &json, &name) < 0)
        return 2;
    if ((r = simple_call(uri, "dominfo", "domain.info", name_params(name), &res)) != 0)
        return r;
    if (json) {
        ctl_print_json(res);
        return 0;
    }
    /* virsh's layout and labels. */
    id = jint(res, "id", -1);
    if (id >= 0)
        printf("%-15s %" PRId64 "\n", "Id:", id);
    else
        printf("%-15s %s\n", "Id:", "-");
    printf("%-15s %s\n", "Name:", jstr(res, "name"));
    printf("%-15s %s\n", "UUID:", jstr(res, "uuid"));
    printf("%-15s %s\n", "OS Type:", jstr(res, "os_type"));
    printf("%-15s %s\n", "State:", jstr(res, "state"));
    printf("%-15s %" PRId64 "\n", "CPU(s):", jint(res, "vcpus", 0));
    cpu = jint(res, "cpu_time", -1);
    if (cpu >= 0)
        printf("%-15s %.1fs\n", "CPU time:", (double)cpu / 1e9);
    printf("%-15s %" PRId64 " KiB\n", "Max memory:", jint(res, "max_memory", 0));
    printf("%-15s %" PRId64 " KiB\n", "Used memory:", jint(res, "used_memory", 0));
    printf("%-15s %s\n", "Persistent:",
           json_object_get_boolean(json_object_object_get(res, "persistent")) ? "yes" : "no");
    printf("%-15s %s\n", "Autostart:", "disable");
    {
        /* Not a virsh line: where the definition's disk data is. */
        json_object *loc = json_object_object_get(res, "location");
        const char *st = loc ? jstr(loc, "state") : NULL;
        if (st && strcmp(st, "here") != 0)
            printf("%-15s %s to host '%s' (disks %s): start is refused\n",
                   "Disk data:", strcmp(st, "moved") == 0 ? "migrated" : "migrating",
                   jstr(loc, "host") ? jstr(loc, "host") : "?",
                   jstr(loc, "disks") ? jstr(loc, "disks") : "?");
    }
    return 0;
}

static int cmd_domblklist(const char *uri, int argc, char **argv)
{
    static const char *const flags[] = {"--details", "--inactive", NULL};
    _cleanup_(json_object_putp) json_object *res = NULL;
    bool set[2] = {false, false};
    json_object *p, *arr;
    char *name;
    bool json;
    int r;

    if (parse_words(argc, argv, "domblklist", 1, "domblklist NAME [--details] [--inactive]", flags,
                    set, &json, &name) < 0)
        return 2;
    p = name_params(name);
    json_object_object_add(p, "inactive", json_object_new_boolean(set[1]));
    if ((r = simple_call(uri, "domblklist", "domain.blklist", p, &res)) != 0)
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
        const char *src = jstr(d, "source");
        char copy[32];

        if (!set[0]) {
            printf(" %-8s %s\n", jstr(d, "target"), src ? src : "-");
            continue;
        }
        /* Would --copy-storage-all/-inc (without --migrate-disks) copy it? */
        if (json_object_get_boolean(json_object_object_get(d, "copy")))
            snprintf(copy, sizeof copy, "yes");
        else
            snprintf(copy, sizeof copy, "no (%s)", jstr(d, "no_copy_reason"));
        printf(" %-6s %-8s %-8s %-7s %-22s %s\n", jstr(d, "type"), jstr(d, "device"),
               jstr(d, "target"), jstr(d, "format"), copy, src ? src : "-");
    }
    return 0;
}

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

    if (parse_words(argc, argv, verb, set ? 2 : 1, usage_s, NULL, NULL, &json, words) < 0)
        return 2;
    if (set && ferry_parse_u64(words[1], &v) < 0) {
        fprintf(stderr, "ferryctl: %s: %s '%s' is not a non-negative integer in range\n", verb, key,
                words[1]);
        return 2;
    }
    p = name_params(words[0]);
    if (set)
        json_object_object_add(p, key,
                               json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v));
    if ((r = simple_call(uri, verb, method, p, &res)) != 0)
        return r;
    if (json)
        ctl_print_json(res);
    else if (!set) /* like virsh: the setters print nothing */
        printf("%" PRId64 "\n", jint(res, key, 0));
    return 0;
}

static int cmd_setspeed(const char *uri, int argc, char **argv)
{
    return cmd_tune(uri, argc, argv, "migrate-setspeed", "migrate.set_max_speed", "bandwidth",
                    "migrate-setspeed NAME BANDWIDTH (MiB/s, 0 = unlimited)", true);
}

static int cmd_getspeed(const char *uri, int argc, char **argv)
{
    return cmd_tune(uri, argc, argv, "migrate-getspeed", "migrate.get_max_speed", "bandwidth",
                    "migrate-getspeed NAME", false);
}

static int cmd_setmaxdowntime(const char *uri, int argc, char **argv)
{
    return cmd_tune(uri, argc, argv, "migrate-setmaxdowntime", "migrate.set_max_downtime",
                    "downtime", "migrate-setmaxdowntime NAME MS", true);
}

static int cmd_getmaxdowntime(const char *uri, int argc, char **argv)
{
    return cmd_tune(uri, argc, argv, "migrate-getmaxdowntime", "migrate.get_max_downtime",
                    "downtime", "migrate-getmaxdowntime NAME", false);
}

/* migrate-compcache NAME [--size BYTES]: sets (with --size), then reads
 * the xbzrle cache size, as virsh does. */
static int cmd_compcache(const char *uri, int argc, char **argv)
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
        p = name_params(name);
        json_object_object_add(p, "cache_size", json_object_new_int64((int64_t)v));
        if ((r = simple_call(uri, "migrate-compcache", "migrate.set_compression_cache", p, NULL)) !=
            0)
            return r;
    }
    if ((r = simple_call(uri, "migrate-compcache", "migrate.get_compression_cache",
                         name_params(name), &res)) != 0)
        return r;
    if (json)
        ctl_print_json(res);
    else
        printf("Compression cache: %.3f MiB\n", (double)jint(res, "cache_size", 0) / (1 << 20));
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: ferryctl [--tls-dir DIR] [--auth-key FILE] [-c URI] VERB [OPTIONS] ARGS\n"
               "\n"
               "URI: a control socket path, unix:PATH, ferry+tcp://HOST:PORT or\n"
               "     ferry+tls://HOST:PORT (default $FERRY_DEFAULT_URI or\n"
               "     /var/lib/ferry/ferryd.sock)\n"
               "--tls-dir DIR: cacert.pem, clientcert.pem, clientkey.pem for ferry+tls://\n"
               "     (default $FERRY_TLS_DIR or /etc/ferry/pki)\n"
               "--auth-key FILE: the agents' shared key for ferry+tcp:// (default\n"
               "     $FERRY_AUTH_KEY)\n"
               "\n"
               "Domains:\n"
               "  define FILE                      define (or redefine) a domain from XML\n"
               "  undefine NAME                    remove a persistent definition\n"
               "  start NAME / destroy NAME        start / hard-stop a guest\n"
               "  list [--all]                     list domains\n"
               "  domstate NAME [--reason]         state from the hypervisor\n"
               "  dumpxml NAME [--inactive]        domain XML\n"
               "  qemu-monitor-command NAME [--hmp] CMD...\n"
               "  suspend NAME / resume NAME       pause / resume the guest's vCPUs\n"
               "  dominfo NAME                     state, vCPUs, memory, uuid, id (pid)\n"
               "  domblklist NAME [--details] [--inactive]\n"
               "                                   disks, and which --copy-storage-* copies\n"
               "  capabilities                     host capabilities XML\n"
               "Migration:\n"
               "  migrate [OPTIONS] NAME DESTURI    see 'ferryctl migrate --help'\n"
               "  domjobinfo NAME [--completed]    statistics of the running/last job\n"
               "  domjobabort NAME                 cancel a running migration\n"
               "  migrate-postcopy NAME            switch a --postcopy migration to post-copy\n"
               "  migrate-setspeed NAME MIBS       bandwidth cap (RAM and disks), at once\n"
               "  migrate-getspeed NAME            when migrating, else for the next one\n"
               "  migrate-setmaxdowntime NAME MS   QEMU's downtime limit\n"
               "  migrate-getmaxdowntime NAME\n"
               "  migrate-compcache NAME [--size BYTES]  xbzrle cache (--compressed)\n"
               "  events [--domain NAME] [--count N] [--timeout SEC] [--since SEQ]\n"
               "                                   --since: first the kept events after SEQ\n"
               "Storage (the images ferryd created for incoming migrations):\n"
               "  vol-list                         path, size, guest, what uses each\n"
               "  vol-delete PATH                  remove one that nothing uses\n"
               "Xen configuration:\n"
               "  domxml-from-native xen-xl FILE   xl.cfg to domain XML\n"
               "  domxml-to-native xen-xl FILE     domain XML to xl.cfg\n"
               "\n"
               "Most verbs take --json for machine-readable output.\n");
}

typedef int (*verb_fn)(const char *uri, int argc, char **argv);

/* Verbs: either a plain NAME call (METHOD + message on success), or a
 * function of their own; neither means the local xl.cfg conversion. */
static const struct {
    const char *name;
    const char *method;
    const char *done_fmt;
    verb_fn fn;
} verbs[] = {
    {"define", NULL, NULL, cmd_define},
    {"undefine", "domain.undefine", "Domain '%s' has been undefined\n", NULL},
    {"start", "domain.start", "Domain '%s' started\n", NULL},
    {"destroy", "domain.destroy", "Domain '%s' destroyed\n", NULL},
    {"list", NULL, NULL, cmd_list},
    {"domstate", NULL, NULL, cmd_domstate},
    {"dumpxml", NULL, NULL, cmd_dumpxml},
    {"capabilities", NULL, NULL, cmd_capabilities},
    {"qemu-monitor-command", NULL, NULL, cmd_monitor},
    {"events", NULL, NULL, cmd_events},
    {"migrate", NULL, NULL, ctl_cmd_migrate},
    {"domjobinfo", NULL, NULL, ctl_cmd_domjobinfo},
    {"domjobabort", NULL, NULL, ctl_cmd_domjobabort},
    {"migrate-postcopy", "migrate.start_postcopy", "Domain '%s': switching to post-copy\n", NULL},
    {"suspend", NULL, NULL, cmd_suspend},
    {"resume", NULL, NULL, cmd_resume},
    {"dominfo", NULL, NULL, cmd_dominfo},
    {"domblklist", NULL, NULL, cmd_domblklist},
    {"migrate-setspeed", NULL, NULL, cmd_setspeed},
    {"migrate-getspeed", NULL, NULL, cmd_getspeed},
    {"migrate-setmaxdowntime", NULL, NULL, cmd_setmaxdowntime},
    {"migrate-getmaxdowntime", NULL, NULL, cmd_getmaxdowntime},
    {"migrate-compcache", NULL, NULL, cmd_compcache},
    {"vol-list", NULL, NULL, ctl_cmd_vol_list},
    {"vol-delete", NULL, NULL, ctl_cmd_vol_delete},
    {"domxml-from-native", NULL, NULL, NULL},
    {"domxml-to-native", NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    const char *uri = ctl_default_uri();
    const char *verb;
    const char *auth_key_path = getenv("FERRY_AUTH_KEY");
    struct wire_auth_key *auth_key = NULL;
    int i = 1;

    signal(SIGPIPE, SIG_IGN);
    while (i < argc && argv[i][0] == '-') {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--connect") == 0) && i + 1 < argc) {
            uri = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "--tls-dir") == 0 && i + 1 < argc) {
            ctl_client_set_tls_dir(argv[i + 1]);
            i += 2;
        } else if (strcmp(argv[i], "--auth-key") == 0 && i + 1 < argc) {
            auth_key_path = argv[i + 1];
            i += 2;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("ferryctl %s\n", FERRY_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--debug") == 0) {
            ferry_log_set_level(FERRY_LOG_DEBUG);
            i++;
        } else {
            fprintf(stderr, "ferryctl: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    if (auth_key_path && *auth_key_path) {
        struct ferry_error err = {0};
        if (wire_auth_key_load(auth_key_path, &auth_key, &err) < 0) {
            fprintf(stderr, "ferryctl: --auth-key: %s\n", ferry_error_msg(&err));
            return 2;
        }
        ctl_client_set_auth_key(auth_key);
    }
    verb = argv[i];
    argc -= i;
    argv += i;
    for (size_t k = 0; k < ARRAY_SIZE(verbs); k++) {
        if (strcmp(verbs[k].name, verb) != 0)
            continue;
        if (verbs[k].method)
            return cmd_name_verb(uri, argc, argv, verb, verbs[k].method, verbs[k].done_fmt);
        if (verbs[k].fn)
            return verbs[k].fn(uri, argc, argv);
        return ctl_cmd_domxml_native(verb, argc, argv);
    }
    if (strcmp(verb, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "ferryctl: unknown verb '%s' (try 'ferryctl --help')\n", verb);
    return 2;
}
