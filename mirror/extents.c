/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Extent lists: the ranges a copy pass covers (a whole disk, or the dirty
 * clusters a frozen bitmap reports), kept sorted and merged. */
#include <errno.h>
#include <stdlib.h>

#include "mir.h"

void mir_extent_list_init(struct mir_extent_list *l)
{
    l->v = NULL;
    l->n = 0;
    l->cap = 0;
}

void mir_extent_list_clear(struct mir_extent_list *l)
{
    free(l->v);
    mir_extent_list_init(l);
}

static int reserve(struct mir_extent_list *l, size_t want)
{
    if (want <= l->cap)
        return 0;
    if (want > MIR_EXTENTS_MAX)
        return -E2BIG;
    size_t cap = l->cap ? l->cap * 2 : 64;
    while (cap < want)
        cap *= 2;
    if (cap > MIR_EXTENTS_MAX)
        cap = MIR_EXTENTS_MAX;
    struct mir_extent *v = realloc(l->v, cap * sizeof(*v));
    if (!v)
        return -ENOMEM;
    l->v = v;
    l->cap = cap;
    return 0;
}

int mir_extent_list_add(struct mir_extent_list *l, uint64_t offset, uint64_t length)
{
    if (length == 0)
        return 0;
    if (offset + length < offset)
        return -EOVERFLOW;
    if (l->n > 0) {
        struct mir_extent *last = &l->v[l->n - 1];
        uint64_t end = last->offset + last->length;
        if (offset >= last->offset && offset <= end) {
            if (offset + length > end)
                last->length = offset + length - last->offset;
            return 0;
        }
    }
    int r = reserve(l, l->n + 1);
    if (r < 0)
        return r;
    l->v[l->n].offset = offset;
    l->v[l->n].length = length;
    l->n++;
    return 0;
}

static int cmp_extent(const void *a, const void *b)
{
    const struct mir_extent *x = a, *y = b;
    if (x->offset != y->offset)
        return x->offset < y->offset ? -1 : 1;
    return 0;
}

void mir_extent_list_normalize(struct mir_extent_list *l)
{
    if (l->n == 0)
        return;
    qsort(l->v, l->n, sizeof(l->v[0]), cmp_extent);
    size_t out = 0;
    for (size_t i = 0; i < l->n; i++) {
        struct mir_extent e = l->v[i];
        if (e.length == 0)
            continue;
        if (out > 0) {
            struct mir_extent *last = &l->v[out - 1];
            uint64_t end = last->offset + last->length;
            if (e.offset <= end) {
                if (e.offset + e.length > end)
                    last->length = e.offset + e.length - last->offset;
                continue;
            }
        }
        l->v[out++] = e;
    }
    l->n = out;
}

void mir_extent_list_clip(struct mir_extent_list *l, uint64_t size)
{
    size_t out = 0;
    for (size_t i = 0; i < l->n; i++) {
        struct mir_extent e = l->v[i];
        if (e.offset >= size)
            continue;
        if (e.length > size - e.offset)
            e.length = size - e.offset;
        l->v[out++] = e;
    }
    l->n = out;
}

int mir_extent_list_split(struct mir_extent_list *l, uint64_t max_len)
{
    if (max_len == 0)
        return -EINVAL;
    size_t need = 0;
    for (size_t i = 0; i < l->n; i++) {
        uint64_t first = l->v[i].offset / max_len;
        uint64_t last = (l->v[i].offset + l->v[i].length - 1) / max_len;
        if (last - first + 1 > MIR_EXTENTS_MAX)
            return -E2BIG;
        need += last - first + 1;
        if (need > MIR_EXTENTS_MAX)
            return -E2BIG;
    }
    if (need == l->n)
        return 0;
    struct mir_extent *v = malloc(need * sizeof(*v));
    if (!v)
        return -ENOMEM;
    size_t out = 0;
    for (size_t i = 0; i < l->n; i++) {
        uint64_t off = l->v[i].offset, end = off + l->v[i].length;
        while (off < end) {
            uint64_t cut = (off / max_len + 1) * max_len;
            if (cut > end || cut < off)
                cut = end;
            v[out].offset = off;
            v[out].length = cut - off;
            out++;
            off = cut;
        }
    }
    free(l->v);
    l->v = v;
    l->n = out;
    l->cap = need;
    return 0;
}

uint64_t mir_extent_list_bytes(const struct mir_extent_list *l)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < l->n; i++)
        sum += l->v[i].length;
    return sum;
}
