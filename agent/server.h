/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Listeners (unix control socket, TCP) and one thread per client
 * connection, each speaking the framed protocol of agent/wire.h. */
#ifndef FERRY_AGENT_SERVER_H
#define FERRY_AGENT_SERVER_H

#include "agent.h"

/* Binds the listeners of AG's configuration. */
int server_listen(struct agent *ag, struct ferry_error *err);
/* Accepts and serves until ag->quit is set; returns after closing the
 * listeners (client threads end on their own). */
int server_run(struct agent *ag, struct ferry_error *err);
/* The TCP port actually bound (when the configuration said port 0). */
int server_tcp_port(void);

#endif
