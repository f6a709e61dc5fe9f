/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferryctl: command-line client of ferryd's control API, with verbs a
 * virsh user recognises. Exit status 0 only on success. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "client.h"
#include "ctl.h"
#include "ferry-config.h"
#include "json-cleanup.h"
#include "util.h"

#define CONNECT_TIMEOUT_MS 10000
#define CALL_TIMEOUT_MS    120000

const char *ctl_default_uri(void)
{
    const char *e = getenv("FERRY_DEFAULT_URI");

    return e && *e ? e : "/var/lib/ferry/ferryd.sock";
}

int ctl_connect(const char *uri, struct ctl_client **ret, struct ferry_error *err)
{
    struct wire_hello h = {0};
    char host[256] = "";

    snprintf(h.role, sizeof h.role, "client");
    gethostname(host, sizeof host - 1);
    snprintf(h.host, sizeof h.host, "%s", host);
    snprintf(h.agent_version, sizeof h.agent_version, "%s", FERRY_VERSION);
    h.versions = (1u << 1) | (1u << 2) | (1u << 3);
    return ctl_client_connect(uri, &h, CONNECT_TIMEOUT_MS, ret, err);
}

int ctl_fail(const char *verb, const struct ferry_error *err)
{
    fprintf(stderr, "ferryctl: %s: %s\n", verb, ferry_error_msg(err));
    return 1;
}

void ctl_print_json(json_object *o)
{
    printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
}

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
        {"domain", required_argument, NULL, 'd'},
        {"count", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const char *domain = NULL;
    uint64_t count = 0, timeout = 0, seen = 0;
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
        case 'j':
            break; /* events are always JSON lines */
        default:
            return 2;
        }
    }
    if (ctl_connect(uri, &c, &err) < 0)
        return ctl_fail("events", &err);
    if (ctl_client_call(c, "events.subscribe", NULL, CALL_TIMEOUT_MS, NULL, &err) < 0) {
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

static void usage(FILE *f)
{
    fprintf(f, "Usage: ferryctl [-c URI] VERB [OPTIONS] ARGS\n"
               "\n"
               "URI: a control socket path, unix:PATH, or ferry+tcp://HOST:PORT\n"
               "     (default $FERRY_DEFAULT_URI or /var/lib/ferry/ferryd.sock)\n"
               "\n"
               "Domains:\n"
               "  define FILE                      define (or redefine) a domain from XML\n"
               "  undefine NAME                    remove a persistent definition\n"
               "  start NAME / destroy NAME        start / hard-stop a guest\n"
               "  list [--all]                     list domains\n"
               "  domstate NAME [--reason]         state from the hypervisor\n"
               "  dumpxml NAME [--inactive]        domain XML\n"
               "  qemu-monitor-command NAME [--hmp] CMD...\n"
               "  capabilities                     host capabilities XML\n"
               "Migration:\n"
               "  migrate [OPTIONS] NAME DESTURI    see 'ferryctl migrate --help'\n"
               "  domjobinfo NAME [--completed]    statistics of the running/last job\n"
               "  domjobabort NAME                 cancel a running migration\n"
               "  events [--domain NAME] [--count N] [--timeout SEC]\n"
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
    {"domxml-from-native", NULL, NULL, NULL},
    {"domxml-to-native", NULL, NULL, NULL},
};

int main(int argc, char **argv)
{
    const char *uri = ctl_default_uri();
    const char *verb;
    int i = 1;

    signal(SIGPIPE, SIG_IGN);
    while (i < argc && argv[i][0] == '-') {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--connect") == 0) && i + 1 < argc) {
            uri = argv[i + 1];
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
