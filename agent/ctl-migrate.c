/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* placeholder: migration verbs land with the v3 engine */
#include <stdio.h>

#include "ctl.h"

int ctl_cmd_migrate(const char *uri, int argc, char **argv) { (void)uri; (void)argc; (void)argv; fprintf(stderr, "not yet\n"); return 1; }
int ctl_cmd_domjobinfo(const char *uri, int argc, char **argv) { (void)uri; (void)argc; (void)argv; fprintf(stderr, "not yet\n"); return 1; }
int ctl_cmd_domjobabort(const char *uri, int argc, char **argv) { (void)uri; (void)argc; (void)argv; fprintf(stderr, "not yet\n"); return 1; }
int ctl_cmd_domxml_native(const char *verb, int argc, char **argv) { (void)verb; (void)argc; (void)argv; fprintf(stderr, "not yet\n"); return 1; }
