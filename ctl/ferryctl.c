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

#include "cleanup.h"
#include "client.h"
#include "ctl.h"
#include "ferry-config.h"
#include "json-cleanup.h"
#include "util.h"

#define CALL_TIMEOUT_MS 120000

static int cmd_define(const char *uri, int argc, char **argv)
{
    struct ctl_simple_opts o;
    _cleanup_free_ char *xml = NULL;
    _cleanup_(json_object_putp) json_object *res = NULL;
    struct ferry_error err = {0};
    json_object *p, *ign;
    int r;

    if (ctl_parse_simple(argc, argv, &o, "define", 1, 1) < 0)
        return 2;
    if (ferry_read_file(o.argv[0], 1u << 20, &xml, NULL, &err) < 0)
        return ctl_fail("define", &err);
    p = json_object_new_object();
    json_object_object_add(p, "xml", json_object_new_string(xml));
    if ((r = ctl_simple_call(uri, "define", "domain.define", p, &res)) != 0)
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
    struct ctl_simple_opts o;
    int r;

    if (ctl_parse_simple(argc, argv, &o, verb, 1, 1) < 0)
        return 2;
    if ((r = ctl_simple_call(uri, verb, method, ctl_name_params(o.argv[0]), NULL)) != 0)
        return r;
    if (o.json)
        printf("{}\n");
    else
        printf(done_fmt, o.argv[0]);
    return 0;
}

static int cmd_capabilities(const char *uri, int argc, char **argv)
{
    struct ctl_simple_opts o;
    _cleanup_(json_object_putp) json_object *res = NULL;
    int r;

    if (ctl_parse_simple(argc, argv, &o, "capabilities", 0, 0) < 0)
        return 2;
    if ((r = ctl_simple_call(uri, "capabilities", "host.capabilities", NULL, &res)) != 0)
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
    p = ctl_name_params(name);
    json_object_object_add(p, "command", json_object_new_string(cmd));
    json_object_object_add(p, "hmp", json_object_new_boolean(hmp));
    if ((r = ctl_simple_call(uri, "qemu-monitor-command", "domain.monitor", p, &res)) != 0)
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

static int cmd_suspend_resume(const char *uri, int argc, char **argv, bool resume)
{
    const char *verb = resume ? "resume" : "suspend";
    _cleanup_(json_object_putp) json_object *res = NULL;
    char *name;
    bool json;
    int r;

    if (ctl_parse_words(argc, argv, verb, 1, resume ? "resume NAME" : "suspend NAME", NULL, NULL,
                        &json, &name) < 0)
        return 2;
    r = ctl_simple_call(uri, verb, resume ? "domain.resume" : "domain.suspend",
                        ctl_name_params(name), &res);
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

static void usage(FILE *f)
{
    fprintf(f, "Usage: ferryctl [--tls-dir DIR] [-c URI] VERB [OPTIONS] ARGS\n"
               "\n"
               "URI: a control socket path, unix:PATH, ferry+tcp://HOST:PORT or\n"
               "     ferry+tls://HOST:PORT (default $FERRY_DEFAULT_URI or\n"
               "     /var/lib/ferry/ferryd.sock)\n"
               "--tls-dir DIR: cacert.pem, clientcert.pem, clientkey.pem for ferry+tls://\n"
               "     (default $FERRY_TLS_DIR or /etc/ferry/pki)\n"
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
               "  shutdown NAME [--mode acpi] [--timeout SEC]\n"
               "                                   ACPI power button; --timeout waits for it\n"
               "  reboot NAME [--mode acpi]        power button, the power-off becomes a reset\n"
               "  reset NAME                       hard reset\n"
               "  console NAME [--timeout SEC]     the serial console (on the guest's host; ^])\n"
               "  domiflist NAME [--inactive]      NICs: tap, type, bridge, model, MAC\n"
               "  domifaddr NAME                   their addresses, and how they are known\n"
               "  domblkinfo NAME DEVICE           capacity, allocation, physical size\n"
               "  vncdisplay NAME                  the VNC display (HOST:N)\n"
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
               "Host operation:\n"
               "  maintenance [on|off]             no incoming migrations, no new guests\n"
               "  drain [--max-parallel N] [--keep-going] [MIGRATE-OPTIONS] DESTURI...\n"
               "                                   maintenance on, then every guest away\n"
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
    {"list", NULL, NULL, ctl_cmd_list},
    {"domstate", NULL, NULL, ctl_cmd_domstate},
    {"dumpxml", NULL, NULL, ctl_cmd_dumpxml},
    {"capabilities", NULL, NULL, cmd_capabilities},
    {"qemu-monitor-command", NULL, NULL, cmd_monitor},
    {"events", NULL, NULL, cmd_events},
    {"migrate", NULL, NULL, ctl_cmd_migrate},
    {"domjobinfo", NULL, NULL, ctl_cmd_domjobinfo},
    {"domjobabort", NULL, NULL, ctl_cmd_domjobabort},
    {"migrate-postcopy", "migrate.start_postcopy", "Domain '%s': switching to post-copy\n", NULL},
    {"suspend", NULL, NULL, cmd_suspend},
    {"resume", NULL, NULL, cmd_resume},
    {"dominfo", NULL, NULL, ctl_cmd_dominfo},
    {"domblklist", NULL, NULL, ctl_cmd_domblklist},
    {"migrate-setspeed", NULL, NULL, ctl_cmd_setspeed},
    {"migrate-getspeed", NULL, NULL, ctl_cmd_getspeed},
    {"migrate-setmaxdowntime", NULL, NULL, ctl_cmd_setmaxdowntime},
    {"migrate-getmaxdowntime", NULL, NULL, ctl_cmd_getmaxdowntime},
    {"migrate-compcache", NULL, NULL, ctl_cmd_compcache},
    {"shutdown", NULL, NULL, ctl_cmd_power},
    {"reboot", NULL, NULL, ctl_cmd_power},
    {"reset", NULL, NULL, ctl_cmd_power},
    {"console", NULL, NULL, ctl_cmd_console},
    {"domiflist", NULL, NULL, ctl_cmd_domiflist},
    {"domifaddr", NULL, NULL, ctl_cmd_domifaddr},
    {"domblkinfo", NULL, NULL, ctl_cmd_domblkinfo},
    {"vncdisplay", NULL, NULL, ctl_cmd_vncdisplay},
    {"vol-list", NULL, NULL, ctl_cmd_vol_list},
    {"vol-delete", NULL, NULL, ctl_cmd_vol_delete},
    {"maintenance", NULL, NULL, ctl_cmd_maintenance},
    {"drain", NULL, NULL, ctl_cmd_drain},
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
        } else if (strcmp(argv[i], "--tls-dir") == 0 && i + 1 < argc) {
            ctl_client_set_tls_dir(argv[i + 1]);
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
