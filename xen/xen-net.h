/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sockets of a Xen migration (xen-net.c): where the destination listens
 * for xl's stream, how a connection proves it is the source's (the token
 * Prepare made), the migration URI's parts. Below driver-migrate.c and
 * xen-relay.c. Internal to xen/. */
#ifndef FERRY_XEN_NET_H
#define FERRY_XEN_NET_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* A connection that does not present the token is dropped; after this
 * many, the listener gives up. */
#define MAX_BAD_CONNECTIONS 16

bool xen_token_equal(const char *a, const char *b);
bool xen_token_ok(int fd, const char *token);
int xen_listen_on(const char *host, unsigned port, unsigned *ret_port, struct ferry_error *err);
int xen_listen_unix_path(const char *path, struct ferry_error *err);
int xen_parse_uri(const char *uri, char *host, size_t hl, unsigned *port, char *token, size_t tl,
                  struct ferry_error *err);

#endif
