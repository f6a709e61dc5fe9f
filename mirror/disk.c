/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One disk's shared state below the copy loop: its failure (first error
 * wins), its progress and rate samples, and what it is. source.c and
 * target.c report into it; copy.c runs the passes above all three. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mir-internal.h"
#include "util.h"

void mir_disk_fail(struct mir_disk *d, int code, const char *fmt, ...)
{
    if (d->failed)
        return;
    d->failed = true;
    char msg[FERRY_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ferry_error_set(&d->err, code ? code : EIO, "disk '%s': %s", d->name, msg);
}

/* ---- progress ---------------------------------------------------------- */

void mir_disk_account(struct mir_disk *d, uint64_t copied, uint64_t zeroed, uint64_t skipped)
{
    d->last_completion_us = ferry_now_us();
    if (d->parent)
        d = d->parent;
    uint64_t n = copied + zeroed + skipped;
    pthread_mutex_lock(&d->lock);
    d->prog.copied += copied;
    d->prog.zeroed += zeroed;
    d->prog.skipped += skipped;
    d->done_total += n;
    uint64_t again = n < d->redo ? n : d->redo;
    d->redo -= again;
    d->prog.pass_done += n - again;
    pthread_mutex_unlock(&d->lock);
}

/* Takes a rate sample at most every 250 ms. */
void mir_disk_sample(struct mir_disk *d, int64_t now_us)
{
    pthread_mutex_lock(&d->lock);
    unsigned last = (d->sample_n + MIR_RATE_SAMPLES - 1) % MIR_RATE_SAMPLES;
    if (d->sample_n == 0 || now_us - d->samples[last].t_us >= 250000) {
        unsigned i = d->sample_n % MIR_RATE_SAMPLES;
        d->samples[i].t_us = now_us;
        d->samples[i].done = d->done_total;
        d->samples[i].copied = d->prog.copied;
        d->sample_n++;
    }
    pthread_mutex_unlock(&d->lock);
}

void mir_disk_progress(struct mir_disk *d, struct mir_progress *ret)
{
    int64_t now = ferry_now_us();
    pthread_mutex_lock(&d->lock);
    *ret = d->prog;
    ret->done_per_sec = ret->written_per_sec = 0;
    /* Rate from the oldest sample at most 4 s old to now. */
    unsigned n = d->sample_n < MIR_RATE_SAMPLES ? d->sample_n : MIR_RATE_SAMPLES;
    for (unsigned k = n; k > 0; k--) {
        unsigned i = (d->sample_n - k) % MIR_RATE_SAMPLES;
        int64_t dt = now - d->samples[i].t_us;
        if (dt > 4000000)
            continue;
        if (dt >= 200000) {
            ret->done_per_sec = (d->done_total - d->samples[i].done) * 1000000 / (uint64_t)dt;
            ret->written_per_sec = (d->prog.copied - d->samples[i].copied) * 1000000 / (uint64_t)dt;
        }
        break;
    }
    pthread_mutex_unlock(&d->lock);
}

void mir_disk_set_dirty(struct mir_disk *d, uint64_t dirty, bool converged)
{
    pthread_mutex_lock(&d->lock);
    d->prog.dirty = dirty;
    d->prog.converged = converged;
    pthread_mutex_unlock(&d->lock);
}

/* ---- life cycle -------------------------------------------------------- */

uint64_t mir_disk_size(const struct mir_disk *d)
{
    return d->size;
}

const char *mir_disk_name(const struct mir_disk *d)
{
    return d->name;
}

unsigned mir_disk_connections(const struct mir_disk *d)
{
    unsigned n = d->tgt.n;
    for (unsigned i = 0; i < d->nlanes; i++)
        n += d->lanes[i]->tgt.n;
    return n;
}
