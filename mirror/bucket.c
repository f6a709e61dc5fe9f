/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Token bucket for the bandwidth cap. Time is passed in, so tests drive it
 * with a fake clock. */
#include "mir.h"

void mir_bucket_init(struct mir_bucket *b, uint64_t rate, uint64_t burst, int64_t now_us)
{
    b->rate = rate;
    b->burst = burst;
    b->tokens = (double)burst;
    b->last_us = now_us;
}

static void refill(struct mir_bucket *b, int64_t now_us)
{
    if (now_us > b->last_us) {
        b->tokens += (double)b->rate * (double)(now_us - b->last_us) / 1e6;
        if (b->tokens > (double)b->burst)
            b->tokens = (double)b->burst;
    }
    b->last_us = now_us;
}

void mir_bucket_set_rate(struct mir_bucket *b, uint64_t rate, uint64_t burst, int64_t now_us)
{
    refill(b, now_us);
    b->rate = rate;
    b->burst = burst;
    if (b->tokens > (double)burst)
        b->tokens = (double)burst;
}

int64_t mir_bucket_take(struct mir_bucket *b, uint64_t n, int64_t now_us)
{
    if (b->rate == 0)
        return 0;
    refill(b, now_us);
    if (b->tokens < 0) {
        int64_t wait = (int64_t)(-b->tokens * 1e6 / (double)b->rate) + 1;
        return wait;
    }
    b->tokens -= (double)n;
    return 0;
}
