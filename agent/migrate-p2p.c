/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Peer-to-peer migration (migrate.p2p): the source agent connects to the
 * destination agent itself and runs the whole sequence through
 * mig_orchestrate(), its own steps as local calls, the destination's over
 * that connection (which also carries tunnelled streams). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cleanup.h"
#include "client.h"
#include "json-cleanup.h"
#include "migparams.h"
#include "migrate-priv.h"
#include "orchestrate.h"

#define P2P_CONNECT_TIMEOUT_MS 10000

struct local_peer {
    struct agent *ag;
    struct ctl_client *peer;
};

static int local_call(void *opaque, const char *method, json_object *params, int timeout_ms,
                      json_object **ret, struct ferry_error *err)
{
    struct local_peer *lp = opaque;
    struct api_ctx ctx = {.ag = lp->ag, .p2p_dest = lp->peer};
    json_object *res = NULL;
    int r;

    (void)timeout_ms;
    r = api_dispatch(&ctx, method, params, &res, err);
    json_object_put(params);
    if (ret)
        *ret = res;
    else
        json_object_put(res);
    return r;
}

static int remote_call(void *opaque, const char *method, json_object *params, int timeout_ms,
                       json_object **ret, struct ferry_error *err)
{
    return ctl_client_call(opaque, method, params, timeout_ms, ret, err);
}

int api_migrate_p2p(struct api_ctx *ctx, json_object *params, json_object **ret,
                    struct ferry_error *err)
{
    struct agent *ag = ctx->ag;
    struct mig_params mp;
    struct local_peer lp = {.ag = ag};
    struct mig_peer src = {0}, dst = {0};
    struct ctl_client *peer = NULL;
    struct wire_hello me;
    const char *name, *desturi;
    _cleanup_free_ char *host = NULL;
    int r;

    (void)ret;
    if ((r = api_param_str(params, "name", true, &name, err)) < 0 ||
        (r = api_param_str(params, "desturi", true, &desturi, err)) < 0)
        return r;
    if ((r = mig_params_from_json(json_object_object_get(params, "params"), &mp, err)) < 0)
        return r;
    mp.flags |= MIG_PEER2PEER;
    if (!(mp.flags & MIG_OFFLINE) && !mp.migrate_uri)
        mp.flags |= ag->driver->p2p_implied_flags;
    if ((r = mig_params_validate_for(&mp, ag->driver, err)) < 0)
        goto out;
    host = ctl_uri_host(desturi); /* NULL for a socket path */
    api_fill_hello(ag, &me);
    r = ctl_client_connect(desturi, &me, P2P_CONNECT_TIMEOUT_MS, &peer, err);
    if (r < 0) {
        ferry_error_prefix(err, "peer-to-peer: destination agent");
        goto out;
    }
    lp.peer = peer;
    src.call = local_call;
    src.opaque = &lp;
    src.hello = me;
    dst.call = remote_call;
    dst.opaque = peer;
    dst.hello = *ctl_client_peer(peer);
    r = mig_orchestrate(&src, &dst, name, host, &mp, NULL, NULL, err);
out:
    ctl_client_free(peer);
    mig_params_clear(&mp);
    return r;
}
