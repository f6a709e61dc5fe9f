/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Client side of the control protocol, used by ferryctl and by an agent
 * that drives a peer (peer-to-peer migration). */
#ifndef FERRY_AGENT_CLIENT_H
#define FERRY_AGENT_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "error.h"
#include "wire.h"

struct ctl_client;

/* URI: a unix socket path, "unix:PATH", "ferry+tcp://HOST:PORT" or
 * "ferry+tls://HOST:PORT" (TLS with the certificates of the directory set
 * by ctl_client_set_tls_dir(), proto/tls.h; the server's certificate must
 * be valid for HOST). Connects, handshakes and exchanges HELLO within
 * TIMEOUT_MS, as ROLE ("client" or "agent", with HOST_UUID/HOST naming us
 * when an agent). An agent that refuses us (TLS client checks) answers
 * with -EACCES and its reason in ERR. *ret: free with ctl_client_free(). */
int ctl_client_connect(const char *uri, const struct wire_hello *hello, int timeout_ms,
                       struct ctl_client **ret, struct ferry_error *err);
void ctl_client_free(struct ctl_client *c);

/* The certificate directory for ferry+tls:// URIs (borrowed; must outlive
 * every connection). Call before connecting, from one thread. Unset:
 * tls_default_dir(). */
void ctl_client_set_tls_dir(const char *dir);

/* ferry's default agent port (the packaged ferryd listens there): a URI
 * without a port means it. */
#define CTL_DEFAULT_PORT 7070

/* URI in the one form the client connects to: ferry://HOST and a bare
 * HOST:PORT become ferry+tcp://HOST:PORT, a ferry+tcp:// or ferry+tls://
 * URI without a port gets CTL_DEFAULT_PORT (a path after the authority is
 * dropped), anything else (a socket path, unix:PATH) is kept. Caller
 * frees. */
char *ctl_uri_normalize(const char *uri);

/* The shared key for ferry+tcp:// URIs (borrowed; must outlive every
 * connection): the client then proves it holds the key in HELLO and
 * requires the agent to prove it too (docs/protocol.md, "Authentication").
 * Unset: no proof offered, and agents that require one refuse us. Call
 * before connecting, from one thread. */
struct wire_auth_key;
void ctl_client_set_auth_key(const struct wire_auth_key *key);

/* The HOST of a ferry+tcp://, ferry+tls:// or ferry:// URI or a HOST:PORT, brackets of an IPv6
 * literal removed; NULL for other URIs. Caller frees. */
char *ctl_uri_host(const char *uri);

/* The peer's HELLO. Borrowed. */
const struct wire_hello *ctl_client_peer(struct ctl_client *c);
/* The connection's socket, for poll() only (POLLRDHUP: the peer closed or
 * died); reading or writing it directly would break the framing. Borrowed. */
int ctl_client_fd(struct ctl_client *c);

/* Calls METHOD with PARAMS (taken, may be NULL); waits up to TIMEOUT_MS
 * (-1: forever). An ERROR reply returns its errno negated with its message
 * in ERR. *ret_result (may be NULL) gets the "result" member. */
int ctl_client_call(struct ctl_client *c, const char *method, json_object *params, int timeout_ms,
                    json_object **ret_result, struct ferry_error *err);

/* After events.subscribe: the next EVENT frame's object. */
int ctl_client_next_event(struct ctl_client *c, int timeout_ms, json_object **ret_event,
                          struct ferry_error *err);

/* Sends one DATA frame of stream STREAM (tunnelled migration). Safe to
 * call from another thread while no call is waiting for its reply. */
int ctl_client_send_data(struct ctl_client *c, uint32_t stream, uint32_t flags, const void *buf,
                         size_t len, struct ferry_error *err);

/* Waits up to TIMEOUT_MS for the next DATA frame of STREAM (the other
 * direction of a tunnelled stream): *ret_flags, *ret_buf (caller frees; NULL
 * when empty) and *ret_len. EVENT frames are queued, other frames skipped.
 * -ETIMEDOUT when no frame began within TIMEOUT_MS (the connection stays
 * usable); an ERROR frame with STREAM's id returns its error; -ECONNRESET
 * when the peer closed. A frame that began is read whole (bounded by the
 * wire's frame timeout). May run in one thread while another sends DATA
 * frames, never while a call waits for its reply. */
int ctl_client_recv_data(struct ctl_client *c, uint32_t stream, int timeout_ms, uint32_t *ret_flags,
                         void **ret_buf, size_t *ret_len, struct ferry_error *err);

/* Keepalive (docs/protocol.md, "Keepalive"): true when the peer's HELLO
 * lists the "keepalive" feature, so it answers PING with PONG. */
bool ctl_client_keepalive_supported(struct ctl_client *c);

/* One keepalive round, from a thread that watches C while others may read
 * or write it: sends a PING when PING is set and that cannot wait (see
 * wire_conn_send_nowait); then, unless another thread is reading, reads
 * the frames that have already arrived: PONGs, EVENTs (queued), and at
 * most one other frame, kept for the next reader. Returns the ms since
 * the peer last showed life: a frame from it (any frame: a busy reader
 * elsewhere counts too), or a full send queue of ours (>= 64 KiB, a
 * tunnelled stream) shrinking between two ticks. A negative errno when the
 * connection failed (ECONNRESET: the peer closed it). */
int64_t ctl_client_keepalive_tick(struct ctl_client *c, bool ping, struct ferry_error *err);

/* Ends C's traffic both ways at once (shutdown(2)), so that calls waiting
 * on it or made later fail fast; ctl_client_free() still frees it. For a
 * peer declared dead while another thread may be using it. */
void ctl_client_shutdown(struct ctl_client *c);

/* Maps an error code string from an ERROR frame back to an errno. */
int ctl_code_errno(const char *code);

#endif
