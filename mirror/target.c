/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine's target: one or more libnbd connections to a writable NBD
 * export (several when the server advertises multi-conn), fed with
 * nbd_aio_pwrite for data and nbd_aio_zero for zero runs. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mir-internal.h"

bool mir_tls_hostname_supported(void)
{
#ifdef LIBNBD_HAVE_NBD_SET_TLS_HOSTNAME
    return true;
#else
    return false;
#endif
}

int mir_nbd_set_tls(struct nbd_handle *h, const struct mir_copy_opts *opts, const char *name,
                    struct ferry_error *err)
{
    if (!opts->tls_certificates && opts->tls_psk_file) {
        /* A per-migration key (no --tls): the server refuses whoever
         * lacks it, and we refuse a server that does not ask for it. */
        if (nbd_set_tls(h, LIBNBD_TLS_REQUIRE) < 0 ||
            nbd_set_tls_psk_file(h, opts->tls_psk_file) < 0 ||
            (opts->tls_username && nbd_set_tls_username(h, opts->tls_username) < 0))
            return ferry_error_set(err, nbd_get_errno() ? nbd_get_errno() : EINVAL,
                                   "disk '%s': TLS PSK: %s", name, nbd_get_error());
        return 0;
    }
    if (!opts->tls_certificates)
        return 0;
    /* Required, never "allowed": a server that offers no TLS is refused
     * instead of receiving the disk in clear. */
    if (nbd_set_tls(h, LIBNBD_TLS_REQUIRE) < 0 ||
        nbd_set_tls_certificates(h, opts->tls_certificates) < 0 ||
        nbd_set_tls_verify_peer(h, true) < 0)
        return ferry_error_set(err, nbd_get_errno() ? nbd_get_errno() : EINVAL,
                               "disk '%s': TLS: %s", name, nbd_get_error());
    if (opts->tls_hostname) {
#ifdef LIBNBD_HAVE_NBD_SET_TLS_HOSTNAME
        if (nbd_set_tls_hostname(h, opts->tls_hostname) < 0)
            return ferry_error_set(err, nbd_get_errno() ? nbd_get_errno() : EINVAL,
                                   "disk '%s': TLS: %s", name, nbd_get_error());
#else
        return ferry_error_set(err, ENOTSUP,
                               "disk '%s': TLS: this libnbd cannot check the certificate "
                               "against '%s' (no nbd_set_tls_hostname)",
                               name, opts->tls_hostname);
#endif
    }
    return 0;
}

static int connect_one(struct mir_disk *d, struct nbd_handle **ret, struct ferry_error *err)
{
    struct nbd_handle *h = nbd_create();
    int r;

    if (!h)
        return ferry_error_set(err, ENOMEM, "disk '%s': nbd_create: %s", d->name, nbd_get_error());
    if ((r = mir_nbd_set_tls(h, &d->opts, d->name, err)) < 0) {
        nbd_close(h);
        return r;
    }
    if (nbd_connect_uri(h, d->target_uri) < 0) {
        int code = nbd_get_errno() ? nbd_get_errno() : EIO;
        ferry_error_set(err, code, "disk '%s': target %s: %s", d->name, d->target_uri,
                        nbd_get_error());
        nbd_close(h);
        return -code;
    }
    *ret = h;
    return 0;
}

int mir_target_connect(struct mir_disk *d, struct ferry_error *err)
{
    struct mir_target *t = &d->tgt;
    int r = connect_one(d, &t->h[0], err);
    if (r < 0)
        return r;
    t->n = 1;
    t->next = 0;
    if (nbd_is_read_only(t->h[0]) == 1)
        return ferry_error_set(err, EROFS, "disk '%s': target %s is read-only", d->name,
                               d->target_uri);
    int64_t size = nbd_get_size(t->h[0]);
    if (size < 0)
        return ferry_error_set(err, EIO, "disk '%s': target size: %s", d->name, nbd_get_error());
    t->size = (uint64_t)size;
    t->can_zero = nbd_can_zero(t->h[0]) == 1;
    t->can_flush = nbd_can_flush(t->h[0]) == 1;

    /* Without multi-conn, writes on one connection need not be visible to
     * a flush on another: stay on one. */
    if (nbd_can_multi_conn(t->h[0]) == 1) {
        while (t->n < d->opts.connections) {
            r = connect_one(d, &t->h[t->n], err);
            if (r < 0)
                return r;
            t->n++;
        }
    }
    return 0;
}

void mir_target_close(struct mir_disk *d)
{
    struct mir_target *t = &d->tgt;
    for (unsigned i = 0; i < t->n; i++) {
        /* nbd_close drops commands still in flight without calling their
         * completion callbacks, so cmd objects must be freed here. The
         * engine only closes with commands in flight after a failure. */
        nbd_close(t->h[i]);
        t->h[i] = NULL;
    }
    t->n = 0;
}

static void cmd_account_done(struct mir_cmd *c)
{
    struct mir_disk *d = c->d;
    if (c->zero)
        mir_disk_account(d, 0, c->len, 0);
    else
        mir_disk_account(d, c->len, 0, 0);
    if (c->slot) {
        if (--c->slot->pending == 0)
            c->slot->state = MIR_SLOT_FREE;
    } else {
        d->zero_inflight--;
        if (c->prev)
            c->prev->next = c->next;
        else
            d->holes = c->next;
        if (c->next)
            c->next->prev = c->prev;
    }
}

/* Completion callback, run inside nbd_aio_notify_* on the copy thread. It
 * calls no libnbd function. */
static int cmd_done(void *opaque, int *error)
{
    struct mir_cmd *c = opaque;
    if (*error) {
        mir_disk_fail_off(c->d, c->off);
        mir_disk_fail(c->d, *error, "%s at offset %" PRIu64 ": %s",
                      c->zero ? "nbd_aio_zero" : "nbd_aio_pwrite", c->off, strerror(*error));
    }
    cmd_account_done(c);
    return 1;
}

static void cmd_free(void *opaque)
{
    free(opaque);
}

static void issue(struct mir_disk *d, struct mir_slot *slot, unsigned conn, const void *buf,
                  uint64_t off, uint64_t len, bool zero)
{
    struct mir_target *t = &d->tgt;
    struct mir_cmd *c = malloc(sizeof(*c));
    if (!c) {
        mir_disk_fail(d, ENOMEM, "out of memory");
        return;
    }
    *c = (struct mir_cmd){.d = d, .slot = slot, .off = off, .len = len, .zero = zero};
    if (slot)
        slot->pending++;
    else
        d->zero_inflight++;

    nbd_completion_callback cb = {.callback = cmd_done, .user_data = c, .free = cmd_free};
    int64_t cookie;
    if (zero && t->can_zero)
        cookie = nbd_aio_zero(t->h[conn], len, off, cb, 0);
    else if (zero)
        cookie = nbd_aio_pwrite(t->h[conn], d->zerobuf, len, off, cb, 0);
    else
        cookie = nbd_aio_pwrite(t->h[conn], buf, len, off, cb, 0);
    if (cookie >= 0 && !slot) {
        /* Linked only once issued: a failed call has already freed C. */
        c->prev = NULL;
        c->next = d->holes;
        if (d->holes)
            d->holes->prev = c;
        d->holes = c;
    }
    if (cookie < 0) {
        /* libnbd has already called .free on the callback when the call
         * fails, so C is gone: undo the count by hand. */
        mir_disk_fail_off(d, off);
        mir_disk_fail(d, mir_nbd_errno(t->h[conn]), "%s at offset %" PRIu64 ": %s",
                      zero && t->can_zero ? "nbd_aio_zero" : "nbd_aio_pwrite", off,
                      nbd_get_error());
        if (slot) {
            if (--slot->pending == 0)
                slot->state = MIR_SLOT_FREE;
        } else {
            d->zero_inflight--;
        }
    }
}

static void zero_run(struct mir_disk *d, struct mir_slot *slot, unsigned conn, uint64_t off,
                     uint64_t len)
{
    if (d->target_zero) {
        mir_disk_account(d, 0, 0, len);
        return;
    }
    /* Without write-zeroes on the server, zeros go as data from a shared
     * zero buffer, in request-size pieces. */
    uint64_t max = d->tgt.can_zero ? MIR_ZERO_MAX : d->opts.request_size;
    while (len > 0 && !d->failed) {
        uint64_t n = len < max ? len : max;
        issue(d, slot, conn, NULL, off, n, true);
        off += n;
        len -= n;
    }
}

void mir_target_write_slot(struct mir_disk *d, struct mir_slot *s)
{
    const unsigned char *p = s->buf + s->head;
    uint64_t g = d->opts.zero_granularity;
    unsigned conn = d->tgt.next;
    d->tgt.next = (d->tgt.next + 1) % d->tgt.n;

    s->state = MIR_SLOT_WRITING;
    s->pending = 1; /* held until every command is issued */

    /* Scan in blocks aligned to the granularity on the disk, and merge
     * neighbours of the same kind into one command. */
    uint64_t pos = 0;
    while (pos < s->len && !d->failed) {
        uint64_t run = pos;
        bool zero = false;
        bool first = true;
        while (run < s->len) {
            uint64_t abs = s->off + run;
            uint64_t bend = (abs / g + 1) * g - s->off;
            if (bend > s->len)
                bend = s->len;
            bool z = mir_is_zero(p + run, bend - run);
            if (first) {
                zero = z;
                first = false;
            } else if (z != zero) {
                break;
            }
            run = bend;
        }
        if (zero)
            zero_run(d, s, conn, s->off + pos, run - pos);
        else
            issue(d, s, conn, p + pos, s->off + pos, run - pos, false);
        pos = run;
    }
    if (--s->pending == 0)
        s->state = MIR_SLOT_FREE;
}

void mir_target_zero(struct mir_disk *d, uint64_t off, uint64_t len)
{
    unsigned conn = d->tgt.next;
    d->tgt.next = (d->tgt.next + 1) % d->tgt.n;
    zero_run(d, NULL, conn, off, len);
}

static int flush_n(struct mir_disk *d, unsigned n, struct ferry_error *err)
{
    struct mir_target *t = &d->tgt;
    if (!t->can_flush)
        return 0;
    for (unsigned i = 0; i < n && i < t->n; i++) {
        if (nbd_flush(t->h[i], 0) < 0) {
            int code = mir_nbd_errno(t->h[i]);
            return ferry_error_set(err, code, "disk '%s': nbd_flush: %s", d->name, nbd_get_error());
        }
    }
    return 0;
}

int mir_target_flush(struct mir_disk *d, struct ferry_error *err)
{
    return flush_n(d, d->tgt.n, err);
}

int mir_target_flush_one(struct mir_disk *d, struct ferry_error *err)
{
    return flush_n(d, 1, err);
}

bool mir_disk_target_multi_conn(const struct mir_disk *d)
{
    return d->tgt.n > 0 && d->tgt.h[0] && nbd_can_multi_conn(d->tgt.h[0]) == 1;
}
