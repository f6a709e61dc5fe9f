/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared pieces of ferryctl's verbs (ferryctl.c, ctl-migrate.c). */
#ifndef FERRY_AGENT_CTL_H
#define FERRY_AGENT_CTL_H

#include <stdbool.h>
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

#endif
