/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The growable string buffer of buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

static void buf_reserve(struct ferry_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;

    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        abort();
    b->data = p;
    b->cap = cap;
}

void ferry_buf_append(struct ferry_buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void ferry_buf_puts(struct ferry_buf *b, const char *s)
{
    ferry_buf_append(b, s, strlen(s));
}

void ferry_buf_printf(struct ferry_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *ferry_buf_steal(struct ferry_buf *b)
{
    char *s = b->data ? b->data : ferry_strdup("");

    b->data = NULL;
    b->len = b->cap = 0;
    return s;
}

void ferry_buf_reset(struct ferry_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
