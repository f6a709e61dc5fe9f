/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* TLS with x509 mutual authentication for the agents' TCP port
 * (ferry+tls://), with GnuTLS. Certificates live in one directory with
 * libvirt's file names: cacert.pem (the CA both sides trust), optional
 * cacrl.pem, servercert.pem/serverkey.pem (an agent's listener) and
 * clientcert.pem/clientkey.pem (ferryctl, and an agent that connects to a
 * peer). After the handshake the connection's frames go through the TLS
 * session (wire_conn_set_transport); what is verified is in
 * docs/protocol.md, "Transport". */
#ifndef FERRY_AGENT_TLS_H
#define FERRY_AGENT_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "wire.h"

/* Used when neither --tls-dir nor $FERRY_TLS_DIR names one. */
#define TLS_DEFAULT_DIR       "/etc/ferry/pki"
#define TLS_MAX_ALLOWED_DN    64   /* --tls-allowed-dn patterns */
#define TLS_MAX_DN            1024 /* bytes of a certificate DN, and of a pattern */
#define TLS_HANDSHAKE_TIMEOUT 10000

/* $FERRY_TLS_DIR when set and not empty, else TLS_DEFAULT_DIR. Static. */
const char *tls_default_dir(void);

/* Fails, naming where, unless GnuTLS accepts PRIORITY as a priority string
 * (ferryd --migrate-tls-priority: checked at start, not at the first
 * migration). */
int tls_priority_check(const char *priority, struct ferry_error *err);

/* RFC 7919's ffdhe3072 group as a PKCS #3 PEM block (what GnuTLS and QEMU
 * read as dh-params.pem). Caller frees *RET_PEM. */
int tls_dh_params_pem(char **ret_pem, size_t *ret_len, struct ferry_error *err);

/* A listener's credentials and allow-list; shared by all its connections,
 * never changed after tls_server_new(). */
struct tls_server;

/* Loads DIR/cacert.pem, DIR/servercert.pem, DIR/serverkey.pem (and
 * DIR/cacrl.pem if present). ALLOWED_DN (borrowed, copied; N_ALLOWED may
 * be 0: every client with a trusted certificate) are fnmatch(3) patterns on
 * the client certificate's DN in GnuTLS's (and libvirt's) order, e.g.
 * "C=GB,O=Example,CN=*". *ret: free with tls_server_free(). Errors name the
 * file: -ENOENT, -EINVAL (unreadable or not PEM), -E2BIG (too many or too
 * long patterns). */
int tls_server_new(const char *dir, char *const *allowed_dn, size_t n_allowed,
                   struct tls_server **ret, struct ferry_error *err);
void tls_server_free(struct tls_server *srv);

enum tls_accept_result {
    TLS_ACCEPT_OK,           /* verified client: frames now go through TLS */
    TLS_ACCEPT_REFUSED,      /* TLS is up but the client is not accepted: send it
                              * an ERROR frame (ERR's message), then close */
    TLS_ACCEPT_PLAIN_CLIENT, /* the client spoke plain frames: C is still plain,
                              * so an ERROR frame can tell it, then close */
    TLS_ACCEPT_FAILED,       /* no usable stream (handshake failed, timeout) */
};

/* Server side, in the connection's own thread: handshake on C's fd bounded
 * by TIMEOUT_MS, then verification of the client's certificate (present,
 * signed by the CA, valid now, meant for TLS clients) and of its DN against
 * the allow-list. Returns 0 (*ret_result TLS_ACCEPT_OK) or a negative errno
 * with the cause in ERR and *ret_result saying what C is still good for:
 * -ETIMEDOUT (handshake timeout), -EPROTO (plain client, bad handshake),
 * -EACCES (no certificate, not trusted, DN not allowed). *ret_dn (may be
 * NULL) gets the client's DN when one was read (caller frees), else NULL. */
int tls_server_accept(const struct tls_server *srv, struct wire_conn *c, int timeout_ms,
                      enum tls_accept_result *ret_result, char **ret_dn, struct ferry_error *err);

/* Client side: loads DIR/cacert.pem and, when both exist,
 * DIR/clientcert.pem + DIR/clientkey.pem (without them the handshake goes
 * on and the agent refuses us with a message that says so), handshakes on
 * C's fd within TIMEOUT_MS and verifies the server's certificate against
 * the CA and HOST (a DNS name or an IP address, matched against the
 * certificate's subject alternative names). On success C's frames go
 * through TLS. Errors: -ENOENT/-EINVAL (files), -ETIMEDOUT, -EPROTO
 * (handshake), -EACCES (server certificate not trusted, or not for HOST). */
int tls_client_start(struct wire_conn *c, const char *dir, const char *host, int timeout_ms,
                     struct ferry_error *err);

#endif
