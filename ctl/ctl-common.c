/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every ferryctl verb shares: where the agent is, the connection
 * with ferryctl's HELLO, and how failures and JSON are printed. Below the
 * verbs (ferryctl.c, ctl-*.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"
#include "ferry-config.h"

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

int ctl_call_timeout(const char *uri, const char *verb, const char *method, json_object *params,
                     int timeout_ms, json_object **ret)
{
    struct ctl_client *c = NULL;
    struct ferry_error err = {0};
    int r;

    r = ctl_connect(uri, &c, &err);
    if (r == 0)
        r = ctl_client_call(c, method, params, timeout_ms, ret, &err);
    else
        json_object_put(params);
    ctl_client_free(c);
    if (r < 0)
        return ctl_fail(verb, &err);
    return 0;
}

/* Runs one call against URI and returns its result (caller puts). */
int ctl_simple_call(const char *uri, const char *verb, const char *method, json_object *params,
                    json_object **ret)
{
    return ctl_call_timeout(uri, verb, method, params, CALL_TIMEOUT_MS, ret);
}

json_object *ctl_name_params(const char *name)
{
    json_object *p = json_object_new_object();

    json_object_object_add(p, "name", json_object_new_string(name));
    return p;
}

int ctl_parse_simple(int argc, char **argv, struct ctl_simple_opts *o, const char *verb,
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

/* Words of a verb that takes NARGS positional words and, besides --json,
 * only the flags in FLAGS (NULL-terminated; *FLAG_SET[i] set when seen).
 * Done by hand rather than with getopt so that a negative number is
 * reported as a bad number, not as an unknown option. */
int ctl_parse_words_named(int argc, char **argv, const char *verb, int nargs,
                          const char *const *names, const char *usage_s, const char *const *flags,
                          bool *flag_set, bool *json, char **words)
{
    for (int k = 0; k < nargs; k++)
        words[k] = NULL;
    *json = false;
    for (int i = 1; i < argc; i++) {
        bool known = false;
        int slot = -1;

        if (strcmp(argv[i], "--json") == 0) {
            *json = true;
            continue;
        }
        for (size_t k = 0; flags && flags[k]; k++)
            if (strcmp(argv[i], flags[k]) == 0)
                known = flag_set[k] = true;
        if (known)
            continue;
        /* virsh's named form of a positional word: --domain X, --bandwidth=N. */
        /* NAMES ends at its first NULL: the words after it have none. */
        for (int k = 0; names && k < nargs && names[k]; k++) {
            size_t len = names[k] ? strlen(names[k]) : 0;

            if (!len || strncmp(argv[i], names[k], len) != 0)
                continue;
            if (argv[i][len] == '=') {
                words[k] = argv[i] + len + 1;
                slot = k;
            } else if (argv[i][len] == '\0' && i + 1 < argc) {
                words[k] = argv[++i];
                slot = k;
            }
        }
        if (slot >= 0)
            continue;
        if (strncmp(argv[i], "--", 2) == 0) {
            fprintf(stderr, "ferryctl: %s: unknown option '%s' (usage: %s)\n", verb, argv[i],
                    usage_s);
            return -1;
        }
        /* A positional word takes the first slot no option has filled. */
        while (slot + 1 < nargs && words[slot + 1])
            slot++;
        if (++slot >= nargs) {
            fprintf(stderr, "ferryctl: %s: unexpected argument '%s' (usage: %s)\n", verb, argv[i],
                    usage_s);
            return -1;
        }
        words[slot] = argv[i];
    }
    for (int k = 0; k < nargs; k++) {
        if (!words[k]) {
            fprintf(stderr, "ferryctl: %s: expected %d argument%s (usage: %s)\n", verb, nargs,
                    nargs == 1 ? "" : "s", usage_s);
            return -1;
        }
    }
    return 0;
}

int ctl_parse_words(int argc, char **argv, const char *verb, int nargs, const char *usage_s,
                    const char *const *flags, bool *flag_set, bool *json, char **words)
{
    static const char *const domain[] = {"--domain", NULL};

    return ctl_parse_words_named(argc, argv, verb, nargs, nargs >= 1 ? domain : NULL, usage_s,
                                 flags, flag_set, json, words);
}

int64_t ctl_jint(json_object *o, const char *key, int64_t dflt)
{
    json_object *v = NULL;

    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : dflt;
}

const char *ctl_jstr(json_object *o, const char *key)
{
    json_object *v = NULL;

    return json_object_object_get_ex(o, key, &v) && v ? json_object_get_string(v) : NULL;
}
