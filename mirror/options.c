/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Validation of the engine's tunables and of NBD URIs, before anything is
 * opened, so a bad value is a clean error and not a stalled copy. */
#include <errno.h>
#include <string.h>

#include "mir.h"

static bool is_pow2(uint64_t x)
{
    return x && !(x & (x - 1));
}

int mir_copy_opts_check(struct mir_copy_opts *o, struct ferry_error *err)
{
    if (!o->request_size)
        o->request_size = MIR_DEFAULT_REQUEST_SIZE;
    if (!o->queue_depth)
        o->queue_depth = MIR_DEFAULT_QUEUE_DEPTH;
    if (!o->connections)
        o->connections = MIR_DEFAULT_CONNECTIONS;
    if (!o->zero_granularity)
        o->zero_granularity = MIR_DEFAULT_ZERO_GRANULARITY;
    if (!o->io_timeout_ms)
        o->io_timeout_ms = MIR_DEFAULT_IO_TIMEOUT_MS;
    if (!o->threads)
        o->threads = 1;
    if (o->zero_granularity > o->request_size && o->request_size >= 4096)
        o->zero_granularity = o->request_size;

    if (!is_pow2(o->request_size) || o->request_size < 64 * 1024 ||
        o->request_size > 32u * 1024 * 1024)
        return ferry_error_set(err, EINVAL,
                               "request size %u: must be a power of 2 from 64 KiB to 32 MiB",
                               o->request_size);
    if (o->queue_depth > MIR_MAX_QUEUE_DEPTH)
        return ferry_error_set(err, EINVAL, "queue depth %u: must be 1..%u", o->queue_depth,
                               MIR_MAX_QUEUE_DEPTH);
    if (o->connections > MIR_MAX_CONNECTIONS)
        return ferry_error_set(err, EINVAL, "connections %u: must be 1..%u", o->connections,
                               MIR_MAX_CONNECTIONS);
    if (o->threads > MIR_MAX_CONNECTIONS)
        return ferry_error_set(err, EINVAL, "threads %u: must be 1..%u", o->threads,
                               MIR_MAX_CONNECTIONS);
    if (!is_pow2(o->zero_granularity) || o->zero_granularity < 4096)
        return ferry_error_set(err, EINVAL,
                               "zero granularity %u: must be a power of 2 from 4 KiB to the "
                               "request size",
                               o->zero_granularity);
    return 0;
}

/* Returns the length of the query parameter NAME's value in URI, with
 * *ret_val pointing at it, or -1 if absent. */
static int query_param(const char *uri, const char *name, const char **ret_val)
{
    const char *q = strchr(uri, '?');
    size_t nlen = strlen(name);
    while (q) {
        q++;
        if (strncmp(q, name, nlen) == 0 && q[nlen] == '=') {
            const char *v = q + nlen + 1;
            *ret_val = v;
            return (int)strcspn(v, "&#");
        }
        q = strchr(q, '&');
    }
    return -1;
}

int mir_uri_check(const char *uri, struct ferry_error *err)
{
    static const struct {
        const char *scheme;
        bool unix_socket;
    } schemes[] = {
        {"nbd://", false},
        {"nbds://", false},
        {"nbd+unix://", true},
        {"nbds+unix://", true},
    };

    if (!uri || !*uri)
        return ferry_error_set(err, EINVAL, "NBD URI is empty");
    if (strlen(uri) > 4096)
        return ferry_error_set(err, EINVAL, "NBD URI is longer than 4096 characters");
    for (const char *p = uri; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return ferry_error_set(err, EINVAL,
                                   "NBD URI '%s': contains a space or control "
                                   "character",
                                   uri);
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
        size_t slen = strlen(schemes[i].scheme);
        if (strncmp(uri, schemes[i].scheme, slen) != 0)
            continue;
        const char *rest = uri + slen;
        const char *val;
        int vlen = query_param(uri, "socket", &val);
        if (schemes[i].unix_socket) {
            if (*rest != '/')
                return ferry_error_set(err, EINVAL,
                                       "NBD URI '%s': a unix URI has no host "
                                       "(write nbd+unix:///EXPORT?socket=PATH)",
                                       uri);
            if (vlen <= 0)
                return ferry_error_set(err, EINVAL, "NBD URI '%s': missing ?socket=PATH", uri);
            if (vlen >= 108)
                return ferry_error_set(err, ENAMETOOLONG,
                                       "NBD URI '%s': socket path longer than 107 bytes", uri);
        } else {
            if (*rest == '/' || *rest == '\0' || *rest == '?')
                return ferry_error_set(err, EINVAL, "NBD URI '%s': missing host", uri);
            if (vlen >= 0)
                return ferry_error_set(err, EINVAL,
                                       "NBD URI '%s': ?socket= needs the nbd+unix scheme", uri);
        }
        return 0;
    }
    return ferry_error_set(err, EINVAL,
                           "NBD URI '%s': scheme must be nbd, nbds, nbd+unix or nbds+unix", uri);
}
