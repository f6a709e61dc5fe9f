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

typedef int (*verb_fn)(const char *uri, int argc, char **argv);

enum verb_group { G_DOMAIN, G_MIGRATION, G_STORAGE, G_HOST, G_XEN };

/* Verbs: either a plain NAME call (METHOD + message on success), or a
 * function of their own; neither means the local xl.cfg conversion. ARGS
 * and HELP are the verb's one line in 'ferryctl --help', and its usage
 * for 'ferryctl help VERB' and 'VERB --help'; OWN_HELP: the verb prints
 * a fuller usage of its own for --help. */
static const struct verb {
    const char *name;
    const char *method;
    const char *done_fmt;
    verb_fn fn;
    enum verb_group group;
    const char *args, *help;
    bool own_help;
} verbs[] = {
    {"define", NULL, NULL, cmd_define, G_DOMAIN, "FILE", "define (or redefine) a domain from XML",
     false},
    {"undefine", "domain.undefine", "Domain '%s' has been undefined\n", NULL, G_DOMAIN, "NAME",
     "remove a persistent definition", false},
    {"start", "domain.start", "Domain '%s' started\n", NULL, G_DOMAIN, "NAME", "start a guest",
     false},
    {"destroy", "domain.destroy", "Domain '%s' destroyed\n", NULL, G_DOMAIN, "NAME",
     "hard-stop a guest", false},
    {"list", NULL, NULL, ctl_cmd_list, G_DOMAIN, "[--all | --inactive] [--name | --uuid]",
     "list domains (--all: also those off; --inactive: only those)", false},
    {"domstate", NULL, NULL, ctl_cmd_domstate, G_DOMAIN, "NAME [--reason]",
     "state from the hypervisor, with libvirt's reason", false},
    {"dumpxml", NULL, NULL, ctl_cmd_dumpxml, G_DOMAIN, "NAME [--inactive]", "domain XML", false},
    {"qemu-monitor-command", NULL, NULL, cmd_monitor, G_DOMAIN, "NAME [--hmp] CMD...",
     "a QMP (or, with --hmp, HMP) command to the guest's QEMU", false},
    {"suspend", NULL, NULL, cmd_suspend, G_DOMAIN, "NAME", "pause the guest's vCPUs", false},
    {"resume", NULL, NULL, cmd_resume, G_DOMAIN, "NAME", "resume the guest's vCPUs", false},
    {"dominfo", NULL, NULL, ctl_cmd_dominfo, G_DOMAIN, "NAME",
     "state, vCPUs, memory, uuid, id (the QEMU pid)", false},
    {"domblklist", NULL, NULL, ctl_cmd_domblklist, G_DOMAIN, "NAME [--details] [--inactive]",
     "disks, and which --copy-storage-* copies", false},
    {"shutdown", NULL, NULL, ctl_cmd_power, G_DOMAIN, "NAME [--mode acpi] [--timeout SEC]",
     "ACPI power button; --timeout waits for it", false},
    {"reboot", NULL, NULL, ctl_cmd_power, G_DOMAIN, "NAME [--mode acpi]",
     "power button, the power-off becomes a reset", false},
    {"reset", NULL, NULL, ctl_cmd_power, G_DOMAIN, "NAME", "hard reset", false},
    {"console", NULL, NULL, ctl_cmd_console, G_DOMAIN, "NAME [--timeout SEC]",
     "the serial console (on the guest's host; ^] leaves)", false},
    {"domiflist", NULL, NULL, ctl_cmd_domiflist, G_DOMAIN, "NAME [--inactive]",
     "NICs: tap, type, bridge, model, MAC", false},
    {"domifaddr", NULL, NULL, ctl_cmd_domifaddr, G_DOMAIN, "NAME",
     "the NICs' addresses, and how they are known", false},
    {"domblkinfo", NULL, NULL, ctl_cmd_domblkinfo, G_DOMAIN, "NAME DEVICE",
     "capacity, allocation, physical size", false},
    {"vncdisplay", NULL, NULL, ctl_cmd_vncdisplay, G_DOMAIN, "NAME", "the VNC display (HOST:N)",
     false},
    {"capabilities", NULL, NULL, cmd_capabilities, G_DOMAIN, "", "host capabilities XML", false},
    {"migrate", NULL, NULL, ctl_cmd_migrate, G_MIGRATION, "[OPTIONS] NAME DESTURI",
     "live-migrate a guest (and its disks) to another agent", true},
    {"domjobinfo", NULL, NULL, ctl_cmd_domjobinfo, G_MIGRATION, "NAME [--completed]",
     "statistics of the running (or, --completed, the last) job", false},
    {"domjobabort", NULL, NULL, ctl_cmd_domjobabort, G_MIGRATION, "NAME",
     "cancel a running migration", false},
    {"migrate-postcopy", "migrate.start_postcopy", "Domain '%s': switching to post-copy\n", NULL,
     G_MIGRATION, "NAME", "switch a --postcopy migration to post-copy", false},
    {"migrate-setspeed", NULL, NULL, ctl_cmd_setspeed, G_MIGRATION, "NAME [--bandwidth] MIBS",
     "bandwidth cap in MiB/s (RAM and disks), at once", false},
    {"migrate-getspeed", NULL, NULL, ctl_cmd_getspeed, G_MIGRATION, "NAME",
     "the cap while migrating, else the next one's", false},
    {"migrate-setspeed-disk", NULL, NULL, ctl_cmd_setspeed_disk, G_MIGRATION, "NAME MIBS",
     "the running disk copy's own cap (--bandwidth-disk), at once", false},
    {"migrate-getspeed-disk", NULL, NULL, ctl_cmd_getspeed_disk, G_MIGRATION, "NAME",
     "the disk copy's own cap", false},
    {"migrate-setmaxdowntime", NULL, NULL, ctl_cmd_setmaxdowntime, G_MIGRATION,
     "NAME [--downtime] MS", "QEMU's downtime limit in ms", false},
    {"migrate-getmaxdowntime", NULL, NULL, ctl_cmd_getmaxdowntime, G_MIGRATION, "NAME",
     "QEMU's downtime limit in ms", false},
    {"migrate-compcache", NULL, NULL, ctl_cmd_compcache, G_MIGRATION, "NAME [--size BYTES]",
     "the xbzrle cache (--compressed)", false},
    {"events", NULL, NULL, cmd_events, G_MIGRATION,
     "[--domain NAME] [--count N] [--timeout SEC] [--since SEQ]",
     "events as JSON lines (--since: first the kept events after SEQ)", false},
    {"vol-list", NULL, NULL, ctl_cmd_vol_list, G_STORAGE, "", "path, size, guest, what uses each",
     false},
    {"vol-delete", NULL, NULL, ctl_cmd_vol_delete, G_STORAGE, "PATH",
     "remove one that nothing uses", false},
    {"maintenance", NULL, NULL, ctl_cmd_maintenance, G_HOST, "[on|off]",
     "no incoming migrations, no new guests", false},
    {"drain", NULL, NULL, ctl_cmd_drain, G_HOST,
     "[--max-parallel N] [--keep-going] [MIGRATE-OPTIONS] DESTURI...",
     "maintenance on, then every guest away", true},
    {"domxml-from-native", NULL, NULL, NULL, G_XEN, "xen-xl FILE", "xl.cfg to domain XML", false},
    {"domxml-to-native", NULL, NULL, NULL, G_XEN, "xen-xl FILE", "domain XML to xl.cfg", false},
};

static void usage(FILE *f)
{
    static const char *const groups[] = {
        [G_DOMAIN] = "Domains",
        [G_MIGRATION] = "Migration",
        [G_STORAGE] = "Storage (the images ferryd created for incoming migrations)",
        [G_HOST] = "Host operation",
        [G_XEN] = "Xen configuration",
    };

    fprintf(f,
            "Usage: ferryctl [--tls-dir DIR] [--auth-key FILE] [-c URI] [--debug] VERB [OPTIONS] "
            "ARGS\n"
            "       ferryctl help VERB   (or VERB --help)\n"
            "\n"
            "URI: a control socket path, unix:PATH, ferry+tcp://HOST[:PORT],\n"
            "     ferry+tls://HOST[:PORT], ferry://HOST[:PORT] (ferry+tcp) or HOST:PORT\n"
            "     (default port 7070; default URI $FERRY_DEFAULT_URI or\n"
            "     /var/lib/ferry/ferryd.sock)\n"
            "--tls-dir DIR: cacert.pem, clientcert.pem, clientkey.pem for ferry+tls://\n"
            "     (default $FERRY_TLS_DIR or /etc/ferry/pki)\n"
            "--auth-key FILE: the agents' shared key for ferry+tcp:// (default\n"
            "     $FERRY_AUTH_KEY)\n"
            "--debug: the client's debug log, and migrate's steps as they happen\n");
    for (size_t g = 0; g < ARRAY_SIZE(groups); g++) {
        fprintf(f, "\n%s:\n", groups[g]);
        for (size_t k = 0; k < ARRAY_SIZE(verbs); k++) {
            char left[128];

            if (verbs[k].group != g)
                continue;
            snprintf(left, sizeof left, "%s%s%s", verbs[k].name, verbs[k].args[0] ? " " : "",
                     verbs[k].args);
            if (strlen(left) <= 32)
                fprintf(f, "  %-32s %s\n", left, verbs[k].help);
            else
                fprintf(f, "  %s\n  %-32s %s\n", left, "", verbs[k].help);
        }
    }
    fprintf(f, "\nMost verbs take --json for machine-readable output; a verb's NAME may\n"
               "also be given as --domain NAME.\n");
}

/* One verb's usage: 'ferryctl help VERB' and 'ferryctl VERB --help'. */
static int verb_help(const char *uri, const struct verb *v)
{
    if (v->own_help) {
        char *args[] = {(char *)v->name, (char *)"--help", NULL};

        return v->fn(uri, 2, args);
    }
    printf("Usage: ferryctl %s%s%s\n\n  %s.\n", v->name, v->args[0] ? " " : "", v->args, v->help);
    if (v->group != G_XEN && strcmp(v->name, "events") != 0)
        printf("  --json prints the answer as JSON.\n");
    return 0;
}

static const struct verb *find_verb(const char *name)
{
    for (size_t k = 0; k < ARRAY_SIZE(verbs); k++)
        if (strcmp(verbs[k].name, name) == 0)
            return &verbs[k];
    return NULL;
}

/* VERB --help anywhere among its words, as virsh takes it; not inside a
 * monitor command (the words after NAME's first non-option), whose words
 * are QEMU's. */
static bool wants_help(int argc, char **argv)
{
    bool monitor = strcmp(argv[0], "qemu-monitor-command") == 0;
    int words = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0)
            return true;
        if (monitor && strncmp(argv[i], "--", 2) != 0 && ++words == 2)
            return false;
    }
    return false;
}

int main(int argc, char **argv)
{
    const char *uri = ctl_default_uri();
    const char *auth_key_path = getenv("FERRY_AUTH_KEY");
    struct wire_auth_key *auth_key = NULL;
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
    if (auth_key_path && *auth_key_path) {
        struct ferry_error err = {0};
        if (wire_auth_key_load(auth_key_path, &auth_key, &err) < 0) {
            fprintf(stderr, "ferryctl: --auth-key: %s\n", ferry_error_msg(&err));
            return 2;
        }
        /* Kept for the process's life: every connection proves it. */
        ctl_client_set_auth_key(auth_key);
    }
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    verb = argv[i];
    argc -= i;
    argv += i;
    {
        const struct verb *v = find_verb(verb);

        if (v && wants_help(argc, argv))
            return verb_help(uri, v);
        if (v && v->method)
            return cmd_name_verb(uri, argc, argv, verb, v->method, v->done_fmt);
        if (v && v->fn)
            return v->fn(uri, argc, argv);
        if (v)
            return ctl_cmd_domxml_native(verb, argc, argv);
    }
    if (strcmp(verb, "help") == 0) {
        const struct verb *v = argc > 1 ? find_verb(argv[1]) : NULL;

        if (argc > 1 && !v) {
            fprintf(stderr, "ferryctl: help: unknown verb '%s'\n", argv[1]);
            return 2;
        }
        if (v)
            return verb_help(uri, v);
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "ferryctl: unknown verb '%s' (try 'ferryctl --help')\n", verb);
    return 2;
}
