/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Listeners (unix control socket, TCP) and one thread per client
 * connection, each speaking the framed protocol of proto/wire.h. */
#ifndef FERRY_AGENT_SERVER_H
#define FERRY_AGENT_SERVER_H

#include "agent.h"

/* Before server_listen(): adds a TLS listener on LISTEN ("ADDR:PORT",
 * borrowed, must outlive the server) with the certificates in DIR and the
 * client DN patterns ALLOWED_DN (copied; N_ALLOWED 0 accepts every client
 * certificate the CA signed). See proto/tls.h. Errors name the file. */
int server_tls_configure(const char *listen, const char *dir, char *const *allowed_dn,
                         size_t n_allowed, struct ferry_error *err);

/* Before server_listen(): the TCP listener requires clients to prove KEY
 * (borrowed, must outlive the server; may be NULL) in HELLO, unless
 * INSECURE, which lets clients that offer no proof in too (those that
 * offer one are still checked). docs/protocol.md, "Authentication". */
struct wire_auth_key;
struct acl;
/* RULES (borrowed, may be NULL; agent/acl.h) grant roles per certificate DN
 * and per key, and add the keys it names to those the TCP listener
 * accepts. */
void server_auth_configure(const struct wire_auth_key *key, bool insecure, const struct acl *rules);

/* Binds the listeners of AG's configuration. */
int server_listen(struct agent *ag, struct ferry_error *err);
/* Accepts and serves until ag->quit is set; returns after closing the
 * listeners (client threads end on their own). */
int server_run(struct agent *ag, struct ferry_error *err);
/* The TCP port actually bound (when the configuration said port 0). */
int server_tcp_port(void);
/* The TLS listener's port, 0 without one. */
int server_tls_port(void);

#endif
