/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control API: method dispatch for CALL frames (docs/control-api.md).
 * Served on the unix control socket and on the TCP listener alike. */
#ifndef FERRY_AGENT_API_H
#define FERRY_AGENT_API_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "agent.h"
#include "client.h"
#include "wire.h"

/* One client connection as seen by a method handler. */
struct api_ctx {
    struct agent *ag;
    struct wire_conn *conn; /* for methods that stream (events) */
    struct wire_hello peer; /* what the client said in its HELLO */
    int event_token;        /* > 0 while subscribed to events */
    /* events.subscribe was answered: the server subscribes the connection
     * after sending the reply (so the first EVENT frame follows it), from
     * REPLAY_SINCE's kept events on when REPLAY is set. */
    bool subscribe_after_reply;
    bool replay;
    uint64_t replay_since;
    struct ctl_client *p2p_dest; /* p2p: the destination agent (tunnelled streams) */
    uint64_t conn_id;            /* unique per accepted connection, never 0; 0 = no connection */
};

/* A DATA frame of a tunnelled stream arrived on connection CONN: feeds it
 * to the incoming migration that registered STREAM. Errors are returned so
 * the caller can answer with an ERROR frame (a duplex stream reports only
 * its first error). A duplex stream sends the receiver's answers back on
 * CONN, so the caller must call api_tunnel_conn_closed before freeing CONN. */
int api_tunnel_data(struct agent *ag, struct wire_conn *conn, uint32_t stream, uint32_t flags,
                    const void *buf, size_t len, struct ferry_error *err);

/* CONN is about to be freed: stops the return direction of every stream
 * that uses it and cuts those streams (their receivers see the end). */
void api_tunnel_conn_closed(struct agent *ag, struct wire_conn *conn);

/* The connection CONN_ID (api_ctx.conn_id) closed, cleanly or not: every
 * migration job it owns that has not reached its last step is cleaned up
 * as a failure at that point would be (docs/control-api.md, "A client
 * that goes away"). Runs in the caller's thread; may take as long as a
 * failed Finish or Confirm. */
void api_migrate_conn_closed(struct agent *ag, uint64_t conn_id);

/* Runs METHOD with PARAMS (borrowed, may be NULL). On success *ret_result
 * gets a new object (may be NULL for "no result"). */
int api_dispatch(struct api_ctx *ctx, const char *method, json_object *params,
                 json_object **ret_result, struct ferry_error *err);

/* Our HELLO as the agent. */
void api_fill_hello(struct agent *ag, struct wire_hello *h);

/* Parameter helpers: each names the parameter in its error message. */
int api_param_str(json_object *params, const char *key, bool required, const char **ret,
                  struct ferry_error *err);
int api_param_bool(json_object *params, const char *key, bool *ret, struct ferry_error *err);
int api_param_u64(json_object *params, const char *key, uint64_t *ret, struct ferry_error *err);

/* Guest verbs (api-guest.c). */
int api_domain_shutdown(struct api_ctx *ctx, json_object *params, json_object **ret,
                        struct ferry_error *err);
int api_domain_reboot(struct api_ctx *ctx, json_object *params, json_object **ret,
                      struct ferry_error *err);
int api_domain_reset(struct api_ctx *ctx, json_object *params, json_object **ret,
                     struct ferry_error *err);
int api_domain_devices(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err);
int api_domain_iflist(struct api_ctx *ctx, json_object *params, json_object **ret,
                      struct ferry_error *err);
int api_domain_ifaddr(struct api_ctx *ctx, json_object *params, json_object **ret,
                      struct ferry_error *err);
int api_domain_blkinfo(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err);

/* Migration methods (migrate.c). */
int api_migrate_begin(struct api_ctx *ctx, json_object *params, json_object **ret,
                      struct ferry_error *err);
int api_migrate_prepare(struct api_ctx *ctx, json_object *params, json_object **ret,
                        struct ferry_error *err);
int api_migrate_perform(struct api_ctx *ctx, json_object *params, json_object **ret,
                        struct ferry_error *err);
int api_migrate_finish(struct api_ctx *ctx, json_object *params, json_object **ret,
                       struct ferry_error *err);
int api_migrate_confirm(struct api_ctx *ctx, json_object *params, json_object **ret,
                        struct ferry_error *err);
int api_migrate_p2p(struct api_ctx *ctx, json_object *params, json_object **ret,
                    struct ferry_error *err);
int api_job_info(struct api_ctx *ctx, json_object *params, json_object **ret,
                 struct ferry_error *err);
int api_job_abort(struct api_ctx *ctx, json_object *params, json_object **ret,
                  struct ferry_error *err);
/* migrate.start_postcopy (migrate-job.c): switches the domain's running
 * outgoing migration, started with the postcopy flag, to post-copy. */
int api_migrate_start_postcopy(struct api_ctx *ctx, json_object *params, json_object **ret,
                               struct ferry_error *err);

#endif
