/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared pieces of ferryctl's verbs (ferryctl.c, ctl-*.c). */
#ifndef FERRY_AGENT_CTL_H
#define FERRY_AGENT_CTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

#include "client.h"
#include "error.h"
#include "hv.h"
#include "orchestrate.h"

const char *ctl_default_uri(void);
int ctl_connect(const char *uri, struct ctl_client **ret, struct ferry_error *err);
int ctl_fail(const char *verb, const struct ferry_error *err);
void ctl_print_json(json_object *o);

/* ctl_simple_call with a bound of its own (TIMEOUT_MS) instead of the
 * common one. */
int ctl_call_timeout(const char *uri, const char *verb, const char *method, json_object *params,
                     int timeout_ms, json_object **ret);
/* One call of METHOD with PARAMS (taken) against the agent at URI; its
 * result in *RET (caller puts; may be NULL). Prints a failure as VERB's
 * and returns 1, else 0. */
int ctl_simple_call(const char *uri, const char *verb, const char *method, json_object *params,
                    json_object **ret);
/* {"name": NAME}: caller puts. */
json_object *ctl_name_params(const char *name);
/* Option parsing for simple verbs: --json, a few flags and positional
 * words (ARGV borrowed). */
struct ctl_simple_opts {
    bool json;
    bool all;
    bool hmp;
    bool inactive;
    bool completed;
    bool reason;
    int argc;
    char **argv;
};
int ctl_parse_simple(int argc, char **argv, struct ctl_simple_opts *o, const char *verb,
                     int min_args, int max_args);
/* Words of a verb that takes NARGS positional words (borrowed into WORDS)
 * and, besides --json, only the flags in FLAGS (NULL-terminated;
 * *FLAG_SET[i] set when seen). The first word, the domain, may also be
 * given as --domain NAME, as virsh takes it. -1 after printing a usage
 * error. */
int ctl_parse_words(int argc, char **argv, const char *verb, int nargs, const char *usage_s,
                    const char *const *flags, bool *flag_set, bool *json, char **words);
/* The same, where word K may also be given as option NAMES[K] VALUE or
 * NAMES[K]=VALUE (NAMES has NARGS entries, NULL for none). */
int ctl_parse_words_named(int argc, char **argv, const char *verb, int nargs,
                          const char *const *names, const char *usage_s, const char *const *flags,
                          bool *flag_set, bool *json, char **words);
/* Member KEY of O, or DFLT / NULL when absent (borrowed). */
int64_t ctl_jint(json_object *o, const char *key, int64_t dflt);
const char *ctl_jstr(json_object *o, const char *key);

int ctl_cmd_migrate(const char *uri, int argc, char **argv);

/* ctl-migrate-opts.c: migrate's command line, from agent/migparams.def. */
struct ctl_migrate_opts {
    struct mig_params params; /* caller clears */
    bool verbose, json;
    const char *name, *desturi;
};
/* 0: parsed; 1: --help was printed; -1: a usage error was printed. */
int ctl_migrate_parse(int argc, char **argv, struct ctl_migrate_opts *o);
void ctl_migrate_usage(FILE *f);
/* Runs the migration of NAME from the agent at URI to DESTURI: managed
 * (ferryctl drives the v3 sequence, CB called at each step) or, with
 * MIG_PEER2PEER, by the source agent. Thread-safe: each call has its own
 * connections. */
int ctl_migrate_run(const char *uri, const char *name, const char *desturi,
                    const struct mig_params *mp, mig_step_cb cb, void *opaque,
                    struct ferry_error *err);
/* ctl-drain.c: drain and maintenance. */
int ctl_cmd_drain(const char *uri, int argc, char **argv);
int ctl_cmd_maintenance(const char *uri, int argc, char **argv);
int ctl_cmd_domjobinfo(const char *uri, int argc, char **argv);
int ctl_cmd_domjobabort(const char *uri, int argc, char **argv);
int ctl_cmd_domxml_native(const char *verb, int argc, char **argv);
int ctl_cmd_vol_list(const char *uri, int argc, char **argv);
int ctl_cmd_vol_delete(const char *uri, int argc, char **argv);
/* ctl-guest.c: guest verbs (shutdown, reboot, reset, console, ...) */
int ctl_cmd_power(const char *uri, int argc, char **argv);
int ctl_cmd_console(const char *uri, int argc, char **argv);
int ctl_cmd_domiflist(const char *uri, int argc, char **argv);
int ctl_cmd_domifaddr(const char *uri, int argc, char **argv);
int ctl_cmd_domblkinfo(const char *uri, int argc, char **argv);
int ctl_cmd_vncdisplay(const char *uri, int argc, char **argv);
/* ctl-domain.c: listing and inspecting domains. */
int ctl_cmd_list(const char *uri, int argc, char **argv);
int ctl_cmd_domstate(const char *uri, int argc, char **argv);
int ctl_cmd_dumpxml(const char *uri, int argc, char **argv);
int ctl_cmd_dominfo(const char *uri, int argc, char **argv);
int ctl_cmd_domblklist(const char *uri, int argc, char **argv);
/* ctl-tune.c: migration tuning (speed, downtime, xbzrle cache). */
int ctl_cmd_setspeed(const char *uri, int argc, char **argv);
int ctl_cmd_setspeed_disk(const char *uri, int argc, char **argv);
int ctl_cmd_getspeed_disk(const char *uri, int argc, char **argv);
int ctl_cmd_getspeed(const char *uri, int argc, char **argv);
int ctl_cmd_setmaxdowntime(const char *uri, int argc, char **argv);
int ctl_cmd_getmaxdowntime(const char *uri, int argc, char **argv);
int ctl_cmd_compcache(const char *uri, int argc, char **argv);

#endif
