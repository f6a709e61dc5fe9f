/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared pieces of ferryctl's verbs (ferryctl.c, ctl-migrate.c, ctl-vol.c,
 * ctl-guest.c). */
#ifndef FERRY_AGENT_CTL_H
#define FERRY_AGENT_CTL_H

#include <json-c/json.h>

#include "client.h"
#include "error.h"

const char *ctl_default_uri(void);
int ctl_connect(const char *uri, struct ctl_client **ret, struct ferry_error *err);
int ctl_fail(const char *verb, const struct ferry_error *err);
void ctl_print_json(json_object *o);

int ctl_cmd_migrate(const char *uri, int argc, char **argv);
int ctl_cmd_domjobinfo(const char *uri, int argc, char **argv);
int ctl_cmd_domjobabort(const char *uri, int argc, char **argv);
int ctl_cmd_domxml_native(const char *verb, int argc, char **argv);
int ctl_cmd_vol_list(const char *uri, int argc, char **argv);
int ctl_cmd_vol_delete(const char *uri, int argc, char **argv);
int ctl_cmd_power(const char *uri, int argc, char **argv);
int ctl_cmd_console(const char *uri, int argc, char **argv);
int ctl_cmd_domiflist(const char *uri, int argc, char **argv);
int ctl_cmd_domifaddr(const char *uri, int argc, char **argv);
int ctl_cmd_domblkinfo(const char *uri, int argc, char **argv);
int ctl_cmd_vncdisplay(const char *uri, int argc, char **argv);

#endif
