/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The migration sequence (see orchestrate.h). */
#include "json.h"
#include "orchestrate.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "json-cleanup.h"
#include "migparams.h"
#include "util.h"

/* Steps that only set things up answer quickly; Perform and Finish run as
 * long as the migration does. */
#define STEP_TIMEOUT_MS (5 * 60 * 1000)

int mig_pick_version(const struct wire_hello *a, const struct wire_hello *b)
{
    unsigned common = a->versions & b->versions;

    for (int v = 3; v >= 1; v--)
        if (common & (1u << v))
            return v;
    return 0;
}

static json_object *base_params(const char *name, const struct mig_params *p, int version)
{
    json_object *o = json_object_new_object();

    if (name)
        json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "params", mig_params_to_json(p));
    json_object_object_add(o, "version", json_object_new_int(version));
    return o;
}

static void step(mig_step_cb cb, void *opaque, const char *name, int version)
{
    if (cb)
        cb(name, version, opaque);
}

int mig_orchestrate(struct mig_peer *src, struct mig_peer *dst, const char *name,
                    const char *dest_host, const struct mig_params *params, mig_step_cb cb,
                    void *opaque, struct ferry_error *err)
{
    _cleanup_(json_object_putp) json_object *begin_ret = NULL;
    _cleanup_(json_object_putp) json_object *prep_ret = NULL;
    _cleanup_(json_object_putp) json_object *perf_ret = NULL;
    _cleanup_(json_object_putp) json_object *fin_ret = NULL;
    _cleanup_free_ char *xml = NULL;
    struct ferry_error perr = {0};
    const char *dname = params->dname ? params->dname : name;
    json_object *p;
    int version, r;

    if (src->hello.host_uuid[0] && strcasecmp(src->hello.host_uuid, dst->hello.host_uuid) == 0)
        return ferry_error_set(err, EINVAL,
                               "attempt to migrate guest '%s' to the same host (host uuid %s)",
                               name, src->hello.host_uuid);
    version = mig_pick_version(&src->hello, &dst->hello);
    if (version == 0)
        return ferry_error_set(err, EPROTONOSUPPORT,
                               "no common migration protocol version (source offers 0x%x, "
                               "destination 0x%x)",
                               src->hello.versions, dst->hello.versions);
    ferry_debug("migrate '%s': protocol v%d", name, version);

    if (version == 3) {
        const char *cookie, *uri;

        step(cb, opaque, "begin", version);
        r = src->call(src->opaque, "migrate.begin", base_params(name, params, 3), STEP_TIMEOUT_MS,
                      &begin_ret, err);
        if (r < 0)
            return r; /* nothing started */

        step(cb, opaque, "prepare", version);
        p = base_params(NULL, params, 3);
        json_object_object_add(p, "xml", json_object_new_string(ferry_json_str(begin_ret, "xml")));
        json_object_object_add(p, "cookie",
                               json_object_new_string(ferry_json_str(begin_ret, "cookie")));
        if (dest_host)
            json_object_object_add(p, "dest_host", json_object_new_string(dest_host));
        r = dst->call(dst->opaque, "migrate.prepare", p, STEP_TIMEOUT_MS, &prep_ret, err);
        if (r < 0) {
            struct ferry_error cerr = {0};
            ferry_error_prefix(err, "prepare on the destination");
            p = base_params(name, params, 3);
            json_object_object_add(p, "cancelled", json_object_new_boolean(true));
            json_object_object_add(p, "error", json_object_new_string(ferry_error_msg(err)));
            src->call(src->opaque, "migrate.confirm", p, STEP_TIMEOUT_MS, NULL, &cerr);
            return r;
        }
        cookie = ferry_json_str(prep_ret, "cookie");
        uri = ferry_json_str(prep_ret, "uri");
        if (ferry_json_str(prep_ret, "name"))
            dname = ferry_json_str(prep_ret, "name");

        step(cb, opaque, "perform", version);
        p = base_params(name, params, 3);
        json_object_object_add(p, "cookie", json_object_new_string(cookie ? cookie : ""));
        if (uri)
            json_object_object_add(p, "uri", json_object_new_string(uri));
        r = src->call(src->opaque, "migrate.perform", p, -1, &perf_ret, &perr);

        /* Finish runs either way: on failure it tears down the incoming
         * guest; on success it resumes it. */
        step(cb, opaque, "finish", version);
        p = base_params(dname, params, 3);
        json_object_object_add(p, "cookie",
                               json_object_new_string(r == 0 && ferry_json_str(perf_ret, "cookie")
                                                          ? ferry_json_str(perf_ret, "cookie")
                                                          : ""));
        json_object_object_add(p, "cancelled", json_object_new_boolean(r < 0));
        {
            struct ferry_error ferr = {0};
            int fr = dst->call(dst->opaque, "migrate.finish", p, STEP_TIMEOUT_MS, &fin_ret, &ferr);
            if (r == 0 && fr < 0) {
                r = fr;
                perr = ferr;
                ferry_error_prefix(&perr, "finish on the destination");
            }
        }

        step(cb, opaque, "confirm", version);
        p = base_params(name, params, 3);
        json_object_object_add(p, "cancelled", json_object_new_boolean(r < 0));
        if (r < 0 && ferry_error_is_set(&perr))
            json_object_object_add(p, "error", json_object_new_string(ferry_error_msg(&perr)));
        json_object_object_add(p, "cookie",
                               json_object_new_string(r == 0 && ferry_json_str(fin_ret, "cookie")
                                                          ? ferry_json_str(fin_ret, "cookie")
                                                          : ""));
        {
            struct ferry_error cerr = {0};
            int cr = src->call(src->opaque, "migrate.confirm", p, STEP_TIMEOUT_MS, NULL, &cerr);
            if (r < 0) {
                *err = perr;
                return r;
            }
            if (cr < 0) {
                /* The guest runs on the destination; the source could not
                 * be cleaned up. Report it: the caller must know. */
                *err = cerr;
                ferry_error_prefix(err, "confirm on the source (the guest now runs on the "
                                        "destination)");
                return cr;
            }
        }
        return 0;
    }

    /* v2 and v1: no Begin or Confirm. v2 passes the domain XML to Prepare;
     * v1 passes nothing (the driver's own stream carries the config). */
    if (version == 2) {
        _cleanup_(json_object_putp) json_object *x = NULL;
        step(cb, opaque, "dumpxml", version);
        p = json_object_new_object();
        json_object_object_add(p, "name", json_object_new_string(name));
        json_object_object_add(p, "migratable", json_object_new_boolean(true));
        r = src->call(src->opaque, "domain.xml", p, STEP_TIMEOUT_MS, &x, err);
        if (r < 0)
            return r;
        xml = ferry_strdup(ferry_json_str(x, "xml"));
    }
    step(cb, opaque, "prepare", version);
    p = base_params(NULL, params, version);
    if (xml)
        json_object_object_add(p, "xml", json_object_new_string(xml));
    else
        json_object_object_add(p, "source_name", json_object_new_string(name));
    if (dest_host)
        json_object_object_add(p, "dest_host", json_object_new_string(dest_host));
    r = dst->call(dst->opaque, "migrate.prepare", p, STEP_TIMEOUT_MS, &prep_ret, err);
    if (r < 0) {
        ferry_error_prefix(err, "prepare on the destination");
        return r;
    }
    if (ferry_json_str(prep_ret, "name"))
        dname = ferry_json_str(prep_ret, "name");

    step(cb, opaque, "perform", version);
    p = base_params(name, params, version);
    if (ferry_json_str(prep_ret, "cookie"))
        json_object_object_add(p, "cookie",
                               json_object_new_string(ferry_json_str(prep_ret, "cookie")));
    if (ferry_json_str(prep_ret, "uri"))
        json_object_object_add(p, "uri", json_object_new_string(ferry_json_str(prep_ret, "uri")));
    r = src->call(src->opaque, "migrate.perform", p, -1, &perf_ret, &perr);

    step(cb, opaque, "finish", version);
    p = base_params(dname, params, version);
    json_object_object_add(p, "cancelled", json_object_new_boolean(r < 0));
    {
        struct ferry_error ferr = {0};
        int fr = dst->call(dst->opaque, "migrate.finish", p, STEP_TIMEOUT_MS, NULL, &ferr);
        if (r < 0) {
            *err = perr;
            return r;
        }
        if (fr < 0) {
            /* Without Confirm the source already stopped its guest: the
             * reason v3 exists (seed 003). */
            *err = ferr;
            ferry_error_prefix(err,
                               "finish on the destination (protocol v%d has no confirm "
                               "step; the source guest has stopped)",
                               version);
            return fr;
        }
    }
    return 0;
}
