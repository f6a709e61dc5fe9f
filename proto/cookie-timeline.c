/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The timeline of a migration job (cookie.h): marks of its steps' starts
 * and ends, kept on the job and carried in cookies so that the source sees
 * the destination's steps too. Pure data: no clock, no lock. */
#include <stdio.h>
#include <string.h>

#include "cookie.h"

bool cookie_phase_name_valid(const char *name)
{
    size_t len = name ? strlen(name) : 0;

    if (len == 0 || len >= COOKIE_PHASE_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' || c == '.' ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

const struct cookie_phase *cookie_timeline_find(const struct cookie_timeline *t, const char *name)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->p[i].name, name) == 0)
            return &t->p[i];
    return NULL;
}

void cookie_timeline_mark(struct cookie_timeline *t, const char *name, bool end, int64_t now_us)
{
    struct cookie_phase *p = (struct cookie_phase *)cookie_timeline_find(t, name);

    if (!cookie_phase_name_valid(name)) {
        t->dropped++;
        return;
    }
    if (end) {
        if (!p) {
            t->dropped++;
            return;
        }
        /* An end of a step not running is a no-op: a caller may end a
         * step on two paths, and the first end is the true one. */
        if (p->open == 0)
            return;
        p->open--;
        if (now_us > p->end_us)
            p->end_us = now_us;
        return;
    }
    if (p) {
        p->count++;
        p->open++;
        return;
    }
    if (t->n == COOKIE_MAX_PHASES) {
        t->dropped++;
        return;
    }
    p = &t->p[t->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->start_us = now_us;
    p->count = 1;
    p->open = 1;
}

void cookie_timeline_close(struct cookie_timeline *t, int64_t now_us)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->p[i].open == 0 && t->p[i].end_us)
            continue;
        t->p[i].open = 0;
        if (now_us > t->p[i].end_us)
            t->p[i].end_us = now_us;
    }
}

void cookie_timeline_merge(struct cookie_timeline *dst, const struct cookie_timeline *src,
                           const char *prefix)
{
    for (size_t i = 0; i < src->n; i++) {
        char name[COOKIE_PHASE_NAME_MAX];
        struct cookie_phase *p;

        if (snprintf(name, sizeof name, "%s%s", prefix, src->p[i].name) >= (int)sizeof name ||
            !cookie_phase_name_valid(name)) {
            dst->dropped++;
            continue;
        }
        p = (struct cookie_phase *)cookie_timeline_find(dst, name);
        if (!p) {
            if (dst->n == COOKIE_MAX_PHASES) {
                dst->dropped++;
                continue;
            }
            p = &dst->p[dst->n++];
        }
        *p = src->p[i];
        snprintf(p->name, sizeof p->name, "%s", name);
    }
}
