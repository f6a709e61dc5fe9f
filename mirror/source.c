/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The engine's source: a raw image read with io_uring (registered buffers,
 * O_DIRECT when QEMU uses cache=none, holes found with SEEK_DATA/SEEK_HOLE),
 * or an NBD export read with libnbd (holes from base:allocation; for a
 * top-only pass also qemu:allocation-depth, which tells the top image's
 * clusters from the backing chain's). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cleanup.h"
#include "mir-internal.h"

/* QEMU's meta context: per extent, the depth in the backing chain of the
 * image that allocates it: 0 = none, 1 = the exported node itself (the top
 * image), 2 = its backing file, ... */
#define CONTEXT_DEPTH "qemu:allocation-depth"
/* Most extents one block status reply may give per context (the map cache
 * has the same bound). */
#define MAP_ENTRIES_MAX (1u << 20)

static int setup_ring(struct mir_disk *d, struct ferry_error *err)
{
    struct mir_source *src = &d->src;
    int r = io_uring_queue_init(d->nslots, &src->ring, 0);
    if (r < 0)
        return ferry_error_set_errno(err, -r, "disk '%s': io_uring_queue_init", d->name);
    src->ring_ok = true;

    /* Registered buffers save the kernel a page pin per read. They count
     * against RLIMIT_MEMLOCK for an unprivileged process: fall back to plain
     * reads when the kernel refuses. */
    _cleanup_free_ struct iovec *iov = calloc(d->nslots, sizeof(*iov));
    if (!iov)
        return ferry_error_set(err, ENOMEM, "disk '%s': out of memory", d->name);
    for (unsigned i = 0; i < d->nslots; i++) {
        iov[i].iov_base = d->slots[i].buf;
        iov[i].iov_len = d->opts.request_size;
    }
    src->fixed = io_uring_register_buffers(&src->ring, iov, d->nslots) == 0;
    return 0;
}

static int open_nbd(struct mir_disk *d, struct nbd_handle **ret, bool meta, struct ferry_error *err)
{
    struct nbd_handle *h = nbd_create();
    if (!h)
        return ferry_error_set(err, ENOMEM, "disk '%s': nbd_create: %s", d->name, nbd_get_error());
    if (meta && nbd_add_meta_context(h, "base:allocation") < 0)
        goto fail;
    if (meta && d->top_only && nbd_add_meta_context(h, CONTEXT_DEPTH) < 0)
        goto fail;
    if (nbd_connect_uri(h, d->source_uri) < 0)
        goto fail;
    *ret = h;
    return 0;
fail:;
    int code = nbd_get_errno() ? nbd_get_errno() : EIO;
    ferry_error_set(err, code, "disk '%s': source %s: %s", d->name, d->source_uri, nbd_get_error());
    nbd_close(h);
    return -code;
}

int mir_source_open(struct mir_disk *d, struct ferry_error *err)
{
    struct mir_source *src = &d->src;
    int r;

    src->fd = -1;
    if (d->source_file) {
        int flags = O_RDONLY | O_CLOEXEC | (d->source_direct ? O_DIRECT : 0);
        src->fd = open(d->source_file, flags);
        src->direct = d->source_direct;
        /* A file system without O_DIRECT (tmpfs before 6.6): QEMU could not
         * use cache=none there either, so buffered reads see what it wrote. */
        if (src->fd < 0 && errno == EINVAL && d->source_direct) {
            src->fd = open(d->source_file, flags & ~O_DIRECT);
            src->direct = false;
        }
        if (src->fd < 0)
            return ferry_error_set_errno(err, errno, "disk '%s': open '%s'", d->name,
                                         d->source_file);
        off_t end = lseek(src->fd, 0, SEEK_END);
        if (end < 0)
            return ferry_error_set_errno(err, errno, "disk '%s': size of '%s'", d->name,
                                         d->source_file);
        src->size = (uint64_t)end;
        return setup_ring(d, err);
    }

    /* One connection for reads and block status: servers may allow only
     * one client (qemu-nbd's default --shared=1). nbd_block_status on it
     * while reads are in flight is fine: libnbd completes those reads (their
     * callbacks only queue the slot) while it waits. */
    r = open_nbd(d, &src->nbd, true, err);
    if (r < 0)
        return r;
    src->map = src->nbd;
    int64_t size = nbd_get_size(src->nbd);
    if (size < 0)
        return ferry_error_set(err, EIO, "disk '%s': source size: %s", d->name, nbd_get_error());
    src->size = (uint64_t)size;
    src->map_meta = nbd_can_meta_context(src->map, "base:allocation") == 1;
    src->depth_meta = d->top_only && nbd_can_meta_context(src->map, CONTEXT_DEPTH) == 1;
    /* Without the depths a top-only copy cannot tell the top's data from
     * the backing chain's: refuse, rather than copy the chain into the top. */
    if (d->top_only && !src->depth_meta)
        return ferry_error_set(err, ENOTSUP,
                               "disk '%s': source %s does not offer %s (QEMU: block-export-add "
                               "allocation-depth=true; qemu-nbd -A): cannot copy the top image "
                               "alone",
                               d->name, d->source_uri, CONTEXT_DEPTH);
    return 0;
}

void mir_source_close(struct mir_disk *d)
{
    struct mir_source *src = &d->src;
    if (src->ring_ok) {
        mir_source_drain(d);
        io_uring_queue_exit(&src->ring);
        src->ring_ok = false;
        src->fixed = false;
    }
    if (src->fd >= 0) {
        close(src->fd);
        src->fd = -1;
    }
    if (src->nbd) {
        nbd_close(src->nbd);
        src->nbd = NULL;
    }
    src->map = NULL; /* the same handle as src->nbd */
    free(src->map_v);
    src->map_v = NULL;
    src->map_n = src->map_cap = src->map_i = 0;
}

void mir_source_map_reset(struct mir_disk *d)
{
    d->src.map_n = 0;
    d->src.map_i = 0;
}

/* A growable array of map entries, in order; a run that continues the
 * last one with the same kind extends it. At most MAP_ENTRIES_MAX entries:
 * a server answering one request with millions of extents is refused
 * rather than followed. */
struct map_runs {
    struct mir_map_entry *v;
    size_t n;
    size_t cap;
};

static int runs_push(struct map_runs *l, uint64_t off, uint64_t len, enum mir_map_kind kind)
{
    if (len == 0)
        return 0;
    if (l->n > 0) {
        struct mir_map_entry *last = &l->v[l->n - 1];
        if (last->kind == kind && last->off + last->len == off) {
            last->len += len;
            return 0;
        }
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        if (cap > MAP_ENTRIES_MAX)
            return -E2BIG;
        struct mir_map_entry *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (struct mir_map_entry){off, len, kind};
    return 0;
}

/* Appends to the source's map cache (which has the layout of a map_runs). */
static int map_push(struct mir_source *src, uint64_t off, uint64_t len, enum mir_map_kind kind)
{
    struct map_runs l = {src->map_v, src->map_n, src->map_cap};
    int r = runs_push(&l, off, len, kind);
    src->map_v = l.v;
    src->map_n = l.n;
    src->map_cap = l.cap;
    return r;
}

/* Fills the map cache from offset OFF with at least one entry. */
static int map_fill_file(struct mir_disk *d, uint64_t off)
{
    struct mir_source *src = &d->src;
    off_t data = lseek(src->fd, (off_t)off, SEEK_DATA);
    if (data < 0 && errno == ENXIO)
        return map_push(src, off, src->size - off, MIR_MAP_ZERO);
    if (data < 0) /* no SEEK_DATA here (e.g. a block device): all data */
        return map_push(src, off, src->size - off, MIR_MAP_DATA);
    if ((uint64_t)data > off)
        return map_push(src, off, (uint64_t)data - off, MIR_MAP_ZERO);
    off_t hole = lseek(src->fd, (off_t)off, SEEK_HOLE);
    if (hole < 0 || (uint64_t)hole <= off || (uint64_t)hole > src->size)
        hole = (off_t)src->size;
    return map_push(src, off, (uint64_t)hole - off, MIR_MAP_DATA);
}

struct map_ctx {
    struct mir_source *src;
    bool top;              /* top-only pass: both contexts, kept apart */
    struct map_runs base;  /* top: base:allocation as DATA/ZERO */
    struct map_runs depth; /* top: allocation depth as DATA (1) / BELOW (other) */
    int r;
};

static int map_extent_cb(void *opaque, const char *context, uint64_t offset, uint32_t *entries,
                         size_t nr, int *error)
{
    struct map_ctx *c = opaque;
    bool base = strcmp(context, "base:allocation") == 0;
    if (!base && !(c->top && strcmp(context, CONTEXT_DEPTH) == 0))
        return 0;
    uint64_t pos = offset, size = c->src->size;
    for (size_t i = 0; i + 1 < nr && pos < size; i += 2) {
        uint64_t len = entries[i] < size - pos ? entries[i] : size - pos;
        enum mir_map_kind kind;
        if (base)
            kind = entries[i + 1] & LIBNBD_STATE_ZERO ? MIR_MAP_ZERO : MIR_MAP_DATA;
        else
            kind = entries[i + 1] == 1 ? MIR_MAP_DATA : MIR_MAP_BELOW;
        int r;
        if (!c->top)
            r = map_push(c->src, pos, len, kind);
        else
            r = runs_push(base ? &c->base : &c->depth, pos, len, kind);
        if (r < 0 && c->r == 0)
            c->r = r;
        pos += len;
    }
    return 0;
}

/* Top-only pass: the map from OFF is where both contexts have answered,
 * cut at every boundary of either: not in the top image (depth other than
 * 1) is MIR_MAP_BELOW, else what base:allocation says. Stops at the first
 * gap in either answer; the next lookup asks again from there. */
static int map_merge(struct mir_source *src, uint64_t off, const struct map_runs *base,
                     const struct map_runs *depth)
{
    size_t i = 0, j = 0;
    uint64_t pos = off;
    while (i < base->n && j < depth->n) {
        const struct mir_map_entry *x = &base->v[i], *y = &depth->v[j];
        if (x->off + x->len <= pos) {
            i++;
            continue;
        }
        if (y->off + y->len <= pos) {
            j++;
            continue;
        }
        if (x->off > pos || y->off > pos)
            break;
        uint64_t end = x->off + x->len < y->off + y->len ? x->off + x->len : y->off + y->len;
        int r = map_push(src, pos, end - pos, y->kind == MIR_MAP_BELOW ? MIR_MAP_BELOW : x->kind);
        if (r < 0)
            return r;
        pos = end;
    }
    return 0;
}

static int map_fill_nbd(struct mir_disk *d, uint64_t off)
{
    struct mir_source *src = &d->src;
    uint64_t count = src->size - off;
    if (count > MIR_MAP_MAX)
        count = MIR_MAP_MAX;
    bool top = d->top_pass;
    if (!src->map_meta && !top)
        return map_push(src, off, count, MIR_MAP_DATA);
    struct map_ctx c = {.src = src, .top = top};
    /* No base:allocation: all of it data, as far as zeros go. */
    if (top && !src->map_meta)
        c.r = runs_push(&c.base, off, count, MIR_MAP_DATA);
    nbd_extent_callback cb = {.callback = map_extent_cb, .user_data = &c};
    int r = 0;
    if (c.r == 0 && nbd_block_status(src->map, count, off, cb, 0) < 0) {
        mir_disk_fail(d, mir_nbd_errno(src->map), "nbd_block_status at offset %" PRIu64 ": %s", off,
                      nbd_get_error());
        r = -EIO;
    }
    if (r == 0)
        r = c.r;
    if (r == 0 && top)
        r = map_merge(src, off, &c.base, &c.depth);
    free(c.base.v);
    free(c.depth.v);
    if (r < 0)
        return r;
    if (src->map_n == 0 || src->map_v[0].off != off) { /* server said nothing useful */
        /* Copying it all would put the backing chain's data into the top. */
        if (top) {
            mir_disk_fail(d, EPROTO, "no %s extents at offset %" PRIu64 " from the source",
                          CONTEXT_DEPTH, off);
            return -EPROTO;
        }
        return map_push(src, off, count, MIR_MAP_DATA);
    }
    return 0;
}

int mir_source_map(struct mir_disk *d, uint64_t off, uint64_t end, uint64_t *ret_len,
                   enum mir_map_kind *ret_kind)
{
    struct mir_source *src = &d->src;

    /* Entries are consumed in order; a lookup behind or past the cache
     * refills it. */
    while (src->map_i < src->map_n) {
        struct mir_map_entry *e = &src->map_v[src->map_i];
        if (off < e->off)
            break;
        if (off < e->off + e->len) {
            uint64_t len = e->off + e->len - off;
            *ret_len = len < end - off ? len : end - off;
            *ret_kind = e->kind;
            return 0;
        }
        src->map_i++;
    }
    mir_source_map_reset(d);
    int r = src->fd >= 0 ? map_fill_file(d, off) : map_fill_nbd(d, off);
    if (r < 0) {
        if (!d->failed)
            mir_disk_fail(d, r, "mapping the source at offset %" PRIu64, off);
        return r;
    }
    return mir_source_map(d, off, end, ret_len, ret_kind);
}

void mir_slot_ready(struct mir_disk *d, struct mir_slot *s)
{
    s->state = MIR_SLOT_READY;
    s->next = NULL;
    if (d->ready_tail)
        d->ready_tail->next = s;
    else
        d->ready_head = s;
    d->ready_tail = s;
}

static int nbd_read_done(void *opaque, int *error)
{
    struct mir_slot *s = opaque;
    struct mir_disk *d = s->d;
    if (*error) {
        mir_disk_fail_off(d, s->off);
        mir_disk_fail(d, *error, "nbd_aio_pread at offset %" PRIu64 ": %s", s->off,
                      strerror(*error));
        s->state = MIR_SLOT_FREE;
        return 1;
    }
    mir_slot_ready(d, s);
    return 1;
}

static void ring_submit_read(struct mir_disk *d, struct mir_slot *s)
{
    struct mir_source *src = &d->src;
    struct io_uring_sqe *sqe = io_uring_get_sqe(&src->ring);
    /* The ring has one entry per slot and a slot has at most one read in
     * flight, so an SQE is always free. */
    if (!sqe) {
        io_uring_submit(&src->ring);
        sqe = io_uring_get_sqe(&src->ring);
    }
    unsigned char *p = s->buf + s->rd_done;
    uint64_t off = s->rd_off + s->rd_done;
    unsigned len = s->rd_len - s->rd_done;
    if (src->fixed)
        io_uring_prep_read_fixed(sqe, src->fd, p, len, off, (int)s->idx);
    else
        io_uring_prep_read(sqe, src->fd, p, len, off);
    io_uring_sqe_set_data(sqe, s);
    src->ring_inflight++;
}

int mir_source_read(struct mir_disk *d, struct mir_slot *s)
{
    struct mir_source *src = &d->src;
    s->state = MIR_SLOT_READING;
    s->rd_done = 0;
    if (src->fd >= 0) {
        if (src->direct) {
            s->rd_off = s->off & ~(uint64_t)(MIR_DIRECT_ALIGN - 1);
            uint64_t end =
                (s->off + s->len + MIR_DIRECT_ALIGN - 1) & ~(uint64_t)(MIR_DIRECT_ALIGN - 1);
            s->rd_len = (uint32_t)(end - s->rd_off);
        } else {
            s->rd_off = s->off;
            s->rd_len = s->len;
        }
        s->head = (uint32_t)(s->off - s->rd_off);
        ring_submit_read(d, s);
        return 0;
    }
    s->head = 0;
    s->rd_off = s->off;
    s->rd_len = s->len;
    nbd_completion_callback cb = {.callback = nbd_read_done, .user_data = s};
    if (nbd_aio_pread(src->nbd, s->buf, s->len, s->off, cb, 0) < 0) {
        s->state = MIR_SLOT_FREE;
        mir_disk_fail_off(d, s->off);
        mir_disk_fail(d, mir_nbd_errno(src->nbd), "nbd_aio_pread at offset %" PRIu64 ": %s", s->off,
                      nbd_get_error());
        return -EIO;
    }
    return 0;
}

static void ring_complete(struct mir_disk *d, struct mir_slot *s, int res)
{
    d->src.ring_inflight--;
    if (d->failed) {
        s->state = MIR_SLOT_FREE;
        return;
    }
    if (res < 0) {
        s->state = MIR_SLOT_FREE;
        mir_disk_fail_off(d, s->off);
        mir_disk_fail(d, -res, "read of '%s' at offset %" PRIu64 ": %s", d->source_file,
                      s->rd_off + s->rd_done, strerror(-res));
        return;
    }
    s->rd_done += (uint32_t)res;
    /* O_DIRECT reads are rounded up; at the end of the file they come back
     * short, which is fine once the wanted bytes are in. */
    if (s->rd_done >= s->head + s->len) {
        mir_slot_ready(d, s);
        return;
    }
    if (res == 0) {
        s->state = MIR_SLOT_FREE;
        mir_disk_fail_off(d, s->off);
        mir_disk_fail(d, EIO, "read of '%s' at offset %" PRIu64 ": unexpected end of file",
                      d->source_file, s->rd_off + s->rd_done);
        return;
    }
    ring_submit_read(d, s); /* short read: ask for the rest */
}

void mir_source_reap(struct mir_disk *d)
{
    struct mir_source *src = &d->src;
    struct io_uring_cqe *cqe;
    if (!src->ring_ok)
        return;
    while (io_uring_peek_cqe(&src->ring, &cqe) == 0) {
        struct mir_slot *s = io_uring_cqe_get_data(cqe);
        int res = cqe->res;
        io_uring_cqe_seen(&src->ring, cqe);
        ring_complete(d, s, res);
    }
}

void mir_source_drain(struct mir_disk *d)
{
    struct mir_source *src = &d->src;
    if (!src->ring_ok)
        return;
    io_uring_submit(&src->ring);
    while (src->ring_inflight > 0) {
        struct io_uring_cqe *cqe;
        int r = io_uring_wait_cqe(&src->ring, &cqe);
        if (r == -EINTR)
            continue;
        if (r < 0)
            break;
        struct mir_slot *s = io_uring_cqe_get_data(cqe);
        io_uring_cqe_seen(&src->ring, cqe);
        src->ring_inflight--;
        s->state = MIR_SLOT_FREE;
    }
}
