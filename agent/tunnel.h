/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The destination's registry of tunnelled streams (agent/tunnel.c). The
 * frame-facing side is api_tunnel_data / api_tunnel_conn_closed (api.h). */
#ifndef FERRY_AGENT_TUNNEL_H
#define FERRY_AGENT_TUNNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"

/* Registers stream ID of domain DOM, fed into the unix socket PATH; DUPLEX:
 * what the receiver writes is sent back. -EBUSY when the table is full. */
int tunnel_register(uint32_t id, const char *path, const char *dom, bool duplex,
                    struct ferry_error *err);
/* Drops every stream of DOM (stops its reader, closes its socket). */
void tunnel_drop(const char *dom);

#endif
