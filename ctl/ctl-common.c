/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every ferryctl verb shares: where the agent is, the connection
 * with ferryctl's HELLO, and how failures and JSON are printed. Below the
 * verbs (ferryctl.c, ctl-*.c). */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ctl.h"
#include "ferry-config.h"

#define CONNECT_TIMEOUT_MS 10000

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
