/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The copy engine's core: the disk's life cycle and the event loop that
 * drives one pass (its progress and failure are disk.c's). One thread runs the loop; it polls the
 * target's libnbd sockets (nbd_aio_get_fd/get_direction), the NBD source's socket, the io_uring's
 * own fd (readable while completions wait: no eventfd needed) and an eventfd that mir_disk_cancel()
 * writes. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cleanup.h"
#include "mir-internal.h"
#include "util.h"

static void wake(struct mir_disk *d)
{
    uint64_t one = 1;
    ssize_t r = write(d->cancel_fd, &one, sizeof(one));
    (void)r; /* a full eventfd is still readable: the wake-up is not lost */
}

void mir_disk_cancel(struct mir_disk *d)
{
    atomic_store(&d->cancelled, true);
    wake(d);
    for (unsigned i = 0; i < d->nlanes; i++)
        mir_disk_cancel(d->lanes[i]);
}

void mir_disk_set_bandwidth(struct mir_disk *d, uint64_t bytes_per_sec)
{
    /* Each lane gets an equal share of the cap. */
    uint64_t n = d->nlanes + 1;
    uint64_t each = bytes_per_sec ? (bytes_per_sec + n - 1) / n : 0;
    atomic_store(&d->bandwidth, each);
    for (unsigned i = 0; i < d->nlanes; i++)
        atomic_store(&d->lanes[i]->bandwidth, each);
    /* A loop waiting for the old cap's tokens wakes up to the new one. */
    wake(d);
    for (unsigned i = 0; i < d->nlanes; i++)
        wake(d->lanes[i]);
}

static void disconnect(struct mir_disk *d)
{
    mir_source_close(d);
    mir_target_close(d);
    d->connected = false;
    for (unsigned i = 0; i < d->nslots; i++) {
        d->slots[i].state = MIR_SLOT_FREE;
        d->slots[i].pending = 0;
    }
    d->ready_head = d->ready_tail = NULL;
    d->zero_inflight = 0;
    d->holes = NULL; /* freed with the connections */
}

static int connect_all(struct mir_disk *d, struct ferry_error *err)
{
    int r = mir_source_open(d, err);
    if (r >= 0)
        r = mir_target_connect(d, err);
    if (r < 0) {
        disconnect(d);
        return r;
    }
    if (d->size != 0 && d->src.size != d->size) {
        disconnect(d);
        return ferry_error_set(err, EIO,
                               "disk '%s': source size changed from %" PRIu64 " to %" PRIu64,
                               d->name, d->size, d->src.size);
    }
    d->size = d->src.size;
    if (d->target_size_first && d->tgt.size != d->target_size_first) {
        uint64_t tsize = d->tgt.size;
        disconnect(d);
        return ferry_error_set(err, ESTALE,
                               "disk '%s': target %s is %" PRIu64 " bytes after reconnecting, was "
                               "%" PRIu64 ": not the export it was writing",
                               d->name, d->target_uri, tsize, d->target_size_first);
    }
    if (d->tgt.size < d->size) {
        uint64_t tsize = d->tgt.size;
        disconnect(d);
        return ferry_error_set(err, ENOSPC,
                               "disk '%s': target is smaller (%" PRIu64
                               " bytes) than the source (%" PRIu64 " bytes)",
                               d->name, tsize, d->size);
    }
    /* The URI (and so the export name) never changes; the size is what
     * tells a different export behind it. */
    if (!d->target_size_first)
        d->target_size_first = d->tgt.size;
    d->connected = true;
    return 0;
}

void mir_disk_free(struct mir_disk *d)
{
    if (!d)
        return;
    for (unsigned i = 0; i < d->nlanes; i++)
        mir_disk_free(d->lanes[i]);
    free(d->lanes);
    disconnect(d);
    for (unsigned i = 0; i < d->nslots; i++)
        free(d->slots[i].buf);
    free(d->slots);
    free(d->zerobuf);
    if (d->cancel_fd >= 0)
        close(d->cancel_fd);
    pthread_mutex_destroy(&d->lock);
    free(d->name);
    free(d->source_file);
    free(d->source_uri);
    free(d->target_uri);
    free(d);
}

int mir_disk_open(const struct mir_disk_config *config, const struct mir_copy_opts *opts,
                  struct mir_disk **ret, struct ferry_error *err)
{
    struct mir_copy_opts o = opts ? *opts : (struct mir_copy_opts){0};
    const char *name = config->name ? config->name : "disk";
    int r = mir_copy_opts_check(&o, err);
    if (r < 0) {
        ferry_error_prefix(err, "disk '%s'", name);
        return r;
    }
    if (!!config->source_file == !!config->source_uri)
        return ferry_error_set(err, EINVAL,
                               "disk '%s': give exactly one of a source file "
                               "and a source URI",
                               name);
    if (config->top_only && !config->source_uri)
        return ferry_error_set(err, EINVAL,
                               "disk '%s': copying the top image alone needs an NBD source "
                               "(a raw file has no backing chain)",
                               name);
    if (config->source_uri && (r = mir_uri_check(config->source_uri, err)) < 0) {
        ferry_error_prefix(err, "disk '%s': source", name);
        return r;
    }
    if ((r = mir_uri_check(config->target_uri, err)) < 0) {
        ferry_error_prefix(err, "disk '%s': target", name);
        return r;
    }

    if (o.threads > 1) {
        /* One connection per lane; the queue depth is the disk's total. */
        o.connections = 1;
        o.queue_depth = o.queue_depth / o.threads > 2 ? o.queue_depth / o.threads : 2;
    }

    struct mir_disk *d = ferry_calloc(1, sizeof(*d));
    d->name = ferry_strdup(name);
    d->source_file = ferry_strdup(config->source_file);
    d->source_uri = ferry_strdup(config->source_uri);
    d->target_uri = ferry_strdup(config->target_uri);
    d->source_direct = config->source_direct;
    d->top_only = config->top_only;
    d->opts = o;
    d->src.fd = -1;
    pthread_mutex_init(&d->lock, NULL);
    atomic_init(&d->cancelled, false);
    atomic_init(&d->bandwidth, o.bandwidth);
    d->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->cancel_fd < 0) {
        r = ferry_error_set_errno(err, errno, "disk '%s': eventfd", name);
        mir_disk_free(d);
        return r;
    }
    d->nslots = o.queue_depth;
    d->slots = ferry_calloc(d->nslots, sizeof(*d->slots));
    for (unsigned i = 0; i < d->nslots; i++) {
        d->slots[i].d = d;
        d->slots[i].idx = i;
        if (posix_memalign((void **)&d->slots[i].buf, MIR_DIRECT_ALIGN, o.request_size) != 0) {
            mir_disk_free(d);
            return ferry_error_set(err, ENOMEM, "disk '%s': out of memory for buffers", name);
        }
    }
    d->zerobuf = ferry_calloc(1, o.request_size);

    r = connect_all(d, err);
    if (r < 0) {
        mir_disk_free(d);
        return r;
    }
    d->prog.size = d->size;

    /* More lanes only where every lane may have its own connections. */
    if (o.threads > 1 && nbd_can_multi_conn(d->tgt.h[0]) == 1 &&
        (d->src.fd >= 0 || nbd_can_multi_conn(d->src.nbd) == 1)) {
        struct mir_copy_opts lo = o;
        lo.threads = 1;
        // NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
        d->lanes = ferry_calloc(o.threads - 1, sizeof(*d->lanes));
        for (unsigned i = 1; i < o.threads; i++) {
            struct ferry_error lerr = {0};
            struct mir_disk *lane = NULL;
            if (mir_disk_open(config, &lo, &lane, &lerr) < 0) {
                ferry_debug("mir: disk '%s': lane %u: %s; using %u lanes", name, i,
                            ferry_error_msg(&lerr), d->nlanes + 1);
                break;
            }
            lane->parent = d;
            d->lanes[d->nlanes++] = lane;
        }
        mir_disk_set_bandwidth(d, o.bandwidth);
    }
    *ret = d;
    return 0;
}

/* ---- one pass ---------------------------------------------------------- */

struct gen {
    const struct mir_extent *v;
    size_t n;
    size_t i;
    uint64_t pos;
};

static bool gen_done(const struct gen *g)
{
    return g->i >= g->n;
}

static void gen_advance(struct gen *g, uint64_t len)
{
    g->pos += len;
    if (g->pos >= g->v[g->i].offset + g->v[g->i].length) {
        g->i++;
        if (g->i < g->n)
            g->pos = g->v[g->i].offset;
    }
}

static struct mir_slot *free_slot(struct mir_disk *d)
{
    for (unsigned i = 0; i < d->nslots; i++)
        if (d->slots[i].state == MIR_SLOT_FREE)
            return &d->slots[i];
    return NULL;
}

static unsigned busy(struct mir_disk *d)
{
    unsigned n = d->zero_inflight;
    for (unsigned i = 0; i < d->nslots; i++)
        if (d->slots[i].state != MIR_SLOT_FREE)
            n++;
    return n;
}

/* Starts as much work as the queue, the slots and the bucket allow.
 * Returns microseconds to wait for the bucket (0 if not waiting). */
static int64_t fill(struct mir_disk *d, struct gen *g)
{
    uint64_t rs = d->opts.request_size;
    while (!gen_done(g) && !d->failed) {
        uint64_t end = g->v[g->i].offset + g->v[g->i].length;
        uint64_t len;
        enum mir_map_kind kind;
        if (mir_source_map(d, g->pos, end, &len, &kind) < 0)
            return 0;
        if (kind == MIR_MAP_BELOW) {
            /* Not the top image's: the target's backing file has it. */
            mir_disk_account(d, 0, 0, len);
            gen_advance(g, len);
            continue;
        }
        if (kind == MIR_MAP_ZERO) {
            if (d->target_zero) {
                mir_disk_account(d, 0, 0, len);
                gen_advance(g, len);
                continue;
            }
            if (d->zero_inflight >= d->opts.queue_depth)
                return 0;
            uint64_t max = d->tgt.can_zero ? MIR_ZERO_MAX : rs;
            if (len > max)
                len = max;
            mir_target_zero(d, g->pos, len);
            gen_advance(g, len);
            continue;
        }
        /* Data: at most one request, never crossing a request-size
         * boundary (keeps O_DIRECT reads within the buffer). */
        uint64_t cut = (g->pos / rs + 1) * rs - g->pos;
        if (len > cut)
            len = cut;
        struct mir_slot *s = free_slot(d);
        if (!s)
            return 0;
        uint64_t rate = atomic_load(&d->bandwidth);
        int64_t now = ferry_now_us();
        if (rate != d->bucket_rate) {
            uint64_t burst = rate / 10 > rs ? rate / 10 : rs;
            mir_bucket_set_rate(&d->bucket, rate, burst, now);
            d->bucket_rate = rate;
        }
        int64_t wait = mir_bucket_take(&d->bucket, len, now);
        if (wait > 0)
            return wait;
        s->off = g->pos;
        s->len = (uint32_t)len;
        gen_advance(g, len);
        if (mir_source_read(d, s) < 0)
            return 0;
    }
    return 0;
}

static void drain_ready(struct mir_disk *d)
{
    while (d->ready_head && !d->failed) {
        struct mir_slot *s = d->ready_head;
        d->ready_head = s->next;
        if (!d->ready_head)
            d->ready_tail = NULL;
        mir_target_write_slot(d, s);
    }
}

static void add_nbd_fd(struct pollfd *pfd, unsigned *n, struct nbd_handle **map,
                       struct nbd_handle *h)
{
    int dir = nbd_aio_get_direction(h);
    short ev = 0;
    if (dir & LIBNBD_AIO_DIRECTION_READ)
        ev |= POLLIN;
    if (dir & LIBNBD_AIO_DIRECTION_WRITE)
        ev |= POLLOUT;
    pfd[*n] = (struct pollfd){.fd = nbd_aio_get_fd(h), .events = ev};
    map[*n] = h;
    (*n)++;
}

static void notify(struct mir_disk *d, struct nbd_handle *h, short rev)
{
    int r = 0;
    /* On POLLHUP/POLLERR let libnbd read, so it sees the error itself. */
    if (rev & (POLLIN | POLLHUP | POLLERR))
        r = nbd_aio_notify_read(h);
    if (r >= 0 && (rev & POLLOUT))
        r = nbd_aio_notify_write(h);
    if (r < 0)
        mir_disk_fail(d, mir_nbd_errno(h), "%s", nbd_get_error());
}

/* After a failure, before the connections go: the lowest offset that may
 * not have been copied. Ranges are walked in order, so everything below the
 * generator's position was issued; of that, only pieces still in flight or
 * that failed are not known to be written. */
static uint64_t resume_offset(struct mir_disk *d, const struct gen *g)
{
    uint64_t w = gen_done(g) ? UINT64_MAX : g->pos;
    if (d->fail_off < w)
        w = d->fail_off;
    for (unsigned i = 0; i < d->nslots; i++)
        if (d->slots[i].state != MIR_SLOT_FREE && d->slots[i].off < w)
            w = d->slots[i].off;
    for (struct mir_cmd *c = d->holes; c; c = c->next)
        if (c->off < w)
            w = c->off;
    return w;
}

uint64_t mir_disk_resume_offset(const struct mir_disk *d)
{
    return d->resume_off;
}

static int run_pass(struct mir_disk *d, struct gen *g)
{
    struct pollfd pfd[MIR_MAX_CONNECTIONS + 3];
    struct nbd_handle *hmap[MIR_MAX_CONNECTIONS + 3];

    while (!d->failed) {
        if (atomic_load(&d->cancelled)) {
            mir_disk_fail(d, ECANCELED, "copy cancelled");
            break;
        }
        if (atomic_load(&d->interrupted)) {
            mir_disk_fail(d, ECANCELED, "stopped: another lane failed");
            break;
        }
        drain_ready(d);
        int64_t wait_us = fill(d, g);
        if (d->failed)
            break;
        if (d->src.ring_ok && io_uring_sq_ready(&d->src.ring) > 0) {
            int r = io_uring_submit(&d->src.ring);
            if (r < 0) {
                mir_disk_fail(d, -r, "io_uring_submit: %s", strerror(-r));
                break;
            }
        }
        /* Reads that completed inline are processed before sleeping. */
        mir_source_reap(d);
        if (d->ready_head)
            continue;
        if (gen_done(g) && busy(d) == 0)
            break;

        unsigned n = 0;
        for (unsigned i = 0; i < d->tgt.n; i++)
            add_nbd_fd(pfd, &n, hmap, d->tgt.h[i]);
        if (d->src.nbd)
            add_nbd_fd(pfd, &n, hmap, d->src.nbd);
        unsigned ring_i = n, cancel_i = n + 1;
        pfd[n] = (struct pollfd){.fd = d->src.ring_ok ? d->src.ring.ring_fd : -1, .events = POLLIN};
        hmap[n++] = NULL;
        pfd[n] = (struct pollfd){.fd = d->cancel_fd, .events = POLLIN};
        hmap[n++] = NULL;

        int timeout = wait_us > 0 ? (int)((wait_us + 999) / 1000) : 1000;
        int64_t now = ferry_now_us();
        int64_t stalled_ms = (now - d->last_completion_us) / 1000;
        if (busy(d) > 0 && stalled_ms >= (int64_t)d->opts.io_timeout_ms) {
            mir_disk_fail(d, ETIMEDOUT, "no request completed for %" PRId64 " ms", stalled_ms);
            break;
        }
        if (timeout > (int)d->opts.io_timeout_ms)
            timeout = (int)d->opts.io_timeout_ms;
        int r = poll(pfd, n, timeout);
        if (r < 0 && errno != EINTR) {
            mir_disk_fail(d, errno, "poll: %s", strerror(errno));
            break;
        }
        mir_disk_sample(d, ferry_now_us());
        if (r <= 0)
            continue;
        for (unsigned i = 0; i < n && !d->failed; i++) {
            if (i == ring_i || i == cancel_i || !pfd[i].revents)
                continue;
            notify(d, hmap[i], pfd[i].revents);
        }
        if (pfd[ring_i].revents)
            mir_source_reap(d);
        /* A wake-up (new bandwidth): drained so that poll blocks again. A
         * cancel or interrupt is a flag, checked at the top of the loop. */
        if (pfd[cancel_i].revents) {
            uint64_t v;
            ssize_t rd = read(d->cancel_fd, &v, sizeof(v));
            (void)rd;
        }
    }
    return d->failed ? -d->err.code : 0;
}

static void drop_ready(struct mir_disk *d)
{
    while (d->ready_head) {
        struct mir_slot *s = d->ready_head;
        d->ready_head = s->next;
        s->state = MIR_SLOT_FREE;
    }
    d->ready_tail = NULL;
}

static bool handle_live(struct nbd_handle *h)
{
    return nbd_aio_is_dead(h) != 1 && nbd_aio_is_closed(h) != 1;
}

/* After a failure or a cancel: lets the requests in flight finish (bounded
 * by DEADLINE_US), then tells each live server we are leaving. Closing a
 * socket with replies still owed is rude, and some servers handle it badly
 * (nbdkit 1.32 aborts on an assertion when it then sends a reply). */
static void wind_down(struct mir_disk *d, int64_t deadline_us)
{
    struct pollfd pfd[MIR_MAX_CONNECTIONS + 2];
    struct nbd_handle *hmap[MIR_MAX_CONNECTIONS + 2];
    bool disconnecting = false;

    for (;;) {
        if (d->src.ring_ok) {
            io_uring_submit(&d->src.ring);
            mir_source_reap(d);
        }
        drop_ready(d);
        if (!disconnecting && busy(d) == 0) {
            for (unsigned i = 0; i < d->tgt.n; i++)
                if (handle_live(d->tgt.h[i]))
                    nbd_aio_disconnect(d->tgt.h[i], 0);
            disconnecting = true;
        }
        unsigned n = 0;
        for (unsigned i = 0; i < d->tgt.n; i++)
            if (handle_live(d->tgt.h[i]))
                add_nbd_fd(pfd, &n, hmap, d->tgt.h[i]);
        if (d->src.nbd && handle_live(d->src.nbd))
            add_nbd_fd(pfd, &n, hmap, d->src.nbd);
        if (disconnecting && n == 0)
            return;
        if (!disconnecting && n == 0 && (!d->src.ring_ok || d->src.ring_inflight == 0))
            return; /* what is left in flight cannot complete */
        unsigned ring_i = n;
        pfd[n] = (struct pollfd){.fd = d->src.ring_ok ? d->src.ring.ring_fd : -1, .events = POLLIN};
        hmap[n++] = NULL;
        int64_t left = deadline_us - ferry_now_us();
        if (left <= 0)
            return;
        if (poll(pfd, n, (int)((left + 999) / 1000)) <= 0)
            continue;
        for (unsigned i = 0; i < n; i++) {
            if (i == ring_i || !pfd[i].revents)
                continue;
            /* Errors here are expected (the server may have gone); the first
             * error of the pass is already recorded. */
            if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
                nbd_aio_notify_read(hmap[i]);
            if ((pfd[i].revents & POLLOUT) && handle_live(hmap[i]))
                nbd_aio_notify_write(hmap[i]);
        }
    }
}

/* One pass of one lane over OWN (normalized, clipped). Connects if needed.
 * On failure sets d->resume_off and drops the connections. */
static int copy_one(struct mir_disk *d, const struct mir_extent_list *own, unsigned flags,
                    struct ferry_error *err)
{
    int r;
    if (!d->connected && (r = connect_all(d, err)) < 0) {
        d->resume_off = own->n ? own->v[0].offset : 0;
        return r;
    }
    ferry_error_clear(&d->err);
    d->failed = false;
    d->fail_off = UINT64_MAX;
    d->resume_off = 0;
    d->target_zero = (flags & MIR_COPY_TARGET_ZERO) != 0;
    d->top_pass = (flags & MIR_COPY_TOP_ONLY) != 0;
    d->bucket_rate = atomic_load(&d->bandwidth);
    uint64_t rs = d->opts.request_size;
    mir_bucket_init(&d->bucket, d->bucket_rate, d->bucket_rate / 10 > rs ? d->bucket_rate / 10 : rs,
                    ferry_now_us());
    mir_source_map_reset(d);
    d->last_completion_us = ferry_now_us();
    if (!d->parent)
        mir_disk_sample(d, ferry_now_us());

    struct gen g = {own->v, own->n, 0, own->n ? own->v[0].offset : 0};
    r = run_pass(d, &g);
    if (!d->parent)
        mir_disk_sample(d, ferry_now_us());
    if (r < 0) {
        d->resume_off = resume_offset(d, &g);
        if (d->resume_off == UINT64_MAX) /* everything was written, flush or not */
            d->resume_off = own->n ? own->v[own->n - 1].offset + own->v[own->n - 1].length : 0;
        /* Commands may still be in flight: give them a moment, then drop
         * the connections (callbacks still pending are freed with them) and
         * reconnect on the next call. */
        int64_t grace = d->opts.io_timeout_ms < 2000 ? d->opts.io_timeout_ms : 2000;
        wind_down(d, ferry_now_us() + grace * 1000);
        disconnect(d);
        ferry_error_set(err, d->err.code, "%s", d->err.msg);
        return r;
    }
    return 0;
}

/* Clears a wake-up left on the eventfd by an interrupt (not a cancel). */
static void drain_wake(struct mir_disk *d)
{
    uint64_t v;
    if (!atomic_load(&d->cancelled)) {
        ssize_t r = read(d->cancel_fd, &v, sizeof(v));
        (void)r;
    }
    atomic_store(&d->interrupted, false);
}

struct lane_run {
    struct mir_disk *d;    /* the parent */
    struct mir_disk *lane; /* the lane this runs (the parent itself for lane 0) */
    struct mir_extent_list list;
    unsigned flags;
    int r;
    struct ferry_error err;
    pthread_t thread;
    bool started;
};

static void interrupt_lanes(struct mir_disk *d)
{
    atomic_store(&d->interrupted, true);
    wake(d);
    for (unsigned i = 0; i < d->nlanes; i++) {
        atomic_store(&d->lanes[i]->interrupted, true);
        wake(d->lanes[i]);
    }
}

static void *lane_main(void *opaque)
{
    struct lane_run *lr = opaque;
    lr->r = copy_one(lr->lane, &lr->list, lr->flags, &lr->err);
    /* A lane that failed on its own (not stopped by another) stops the rest
     * and its error is the pass's. */
    if (lr->r < 0 && !atomic_load(&lr->lane->interrupted))
        interrupt_lanes(lr->d);
    return NULL;
}

/* Splits OWN into pieces dealt round-robin to the lanes, runs them in
 * parallel, and combines errors and resume offsets. */
static int copy_lanes(struct mir_disk *d, struct mir_extent_list *own, unsigned flags,
                      struct ferry_error *err)
{
    unsigned n = d->nlanes + 1;
    int r = mir_extent_list_split(own, MIR_LANE_PIECE);
    if (r < 0) /* too many pieces: one lane does it all */
        return copy_one(d, own, flags, err);

    struct lane_run *runs = ferry_calloc(n, sizeof(*runs));
    for (unsigned k = 0; k < n; k++) {
        runs[k].d = d;
        runs[k].lane = k == 0 ? d : d->lanes[k - 1];
        runs[k].flags = flags;
        mir_extent_list_init(&runs[k].list);
        drain_wake(runs[k].lane);
    }
    for (size_t i = 0; i < own->n; i++)
        /* n >= 2: nlanes is at most threads - 1 (the analyzer fears n wrapped to 0) */
        // NOLINTNEXTLINE(clang-analyzer-core.DivideZero)
        mir_extent_list_add(&runs[i % n].list, own->v[i].offset, own->v[i].length);

    for (unsigned k = 1; k < n; k++) {
        if (pthread_create(&runs[k].thread, NULL, lane_main, &runs[k]) == 0) {
            runs[k].started = true;
        } else { /* run it here after lane 0 instead */
            runs[k].started = false;
        }
    }
    lane_main(&runs[0]);
    for (unsigned k = 1; k < n; k++) {
        if (runs[k].started)
            pthread_join(runs[k].thread, NULL);
        else
            lane_main(&runs[k]);
    }

    /* The pass's error: the first lane that failed on its own; else any. */
    int rc = 0;
    uint64_t resume = UINT64_MAX;
    for (unsigned pass = 0; pass < 2 && rc == 0; pass++)
        for (unsigned k = 0; k < n && rc == 0; k++)
            if (runs[k].r < 0 &&
                (pass == 1 || runs[k].err.code != ECANCELED || atomic_load(&d->cancelled))) {
                rc = runs[k].r;
                ferry_error_set(err, runs[k].err.code, "%s", runs[k].err.msg);
            }
    for (unsigned k = 0; k < n; k++) {
        if (runs[k].r < 0 && runs[k].lane->resume_off < resume)
            resume = runs[k].lane->resume_off;
        mir_extent_list_clear(&runs[k].list);
    }
    d->resume_off = resume == UINT64_MAX ? 0 : resume;
    free(runs);
    return rc;
}

int mir_disk_copy(struct mir_disk *d, const struct mir_extent_list *ranges, unsigned flags,
                  struct ferry_error *err)
{
    struct mir_extent_list own;
    mir_extent_list_init(&own);
    int r;

    d->resume_off = 0; /* nothing is known written until the pass says so */
    if ((flags & MIR_COPY_TOP_ONLY) && !d->top_only)
        return ferry_error_set(
            err, EINVAL, "disk '%s': a top-only pass needs a disk opened with top_only", d->name);
    if (atomic_load(&d->cancelled))
        return ferry_error_set(err, ECANCELED, "disk '%s': copy cancelled", d->name);
    drain_wake(d);
    if (!d->connected && (r = connect_all(d, err)) < 0)
        return r;

    if (ranges) {
        for (size_t i = 0; i < ranges->n; i++) {
            r = mir_extent_list_add(&own, ranges->v[i].offset, ranges->v[i].length);
            if (r < 0) {
                mir_extent_list_clear(&own);
                return ferry_error_set(err, -r, "disk '%s': too many extents", d->name);
            }
        }
        mir_extent_list_normalize(&own);
        mir_extent_list_clip(&own, d->size);
    } else if (d->size > 0) {
        mir_extent_list_add(&own, 0, d->size);
    }

    pthread_mutex_lock(&d->lock);
    uint64_t bytes = mir_extent_list_bytes(&own);
    if ((flags & MIR_COPY_CONTINUE) && d->prog.pass > 0) {
        /* The same pass goes on: its number and total stay; what it had
         * counted beyond the bytes still to copy is copied again. */
        uint64_t left =
            d->prog.pass_total > d->prog.pass_done ? d->prog.pass_total - d->prog.pass_done : 0;
        if (bytes > left) {
            if (bytes - left > d->prog.pass_done) /* ranges beyond the pass's */
                d->prog.pass_total += bytes - left - d->prog.pass_done;
            d->redo = bytes - left < d->prog.pass_done ? bytes - left : d->prog.pass_done;
        } else {
            d->redo = 0;
            d->prog.pass_total = d->prog.pass_done + bytes;
        }
    } else {
        d->prog.pass++;
        d->prog.pass_total = bytes;
        d->prog.pass_done = 0;
        d->redo = 0;
    }
    pthread_mutex_unlock(&d->lock);

    r = d->nlanes ? copy_lanes(d, &own, flags, err) : copy_one(d, &own, flags, err);
    mir_extent_list_clear(&own);
    return r;
}

int mir_disk_flush(struct mir_disk *d, struct ferry_error *err)
{
    if (!d->connected)
        return ferry_error_set(err, ENOTCONN, "disk '%s': flush: not connected", d->name);
    /* Multi-conn (NBD spec): once a flush is answered, every write the
     * server had answered before it, on any connection, is on stable
     * storage. Writes are answered when mir_disk_copy returns, so one flush
     * covers every connection and lane (lanes exist only with multi-conn);
     * each flush costs a round trip, in the final pass in the downtime. */
    if (nbd_can_multi_conn(d->tgt.h[0]) == 1)
        return mir_target_flush_one(d, err);
    int r = mir_target_flush(d, err);
    for (unsigned i = 0; i < d->nlanes && r >= 0; i++)
        if (d->lanes[i]->connected)
            r = mir_target_flush(d->lanes[i], err);
    return r;
}
