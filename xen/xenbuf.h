/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A growable NUL-terminated string buffer for the formatters in xen/. It
 * aborts on out-of-memory like ferry_strdup_printf (a daemon cannot go on). */
#ifndef FERRY_XEN_XENBUF_H
#define FERRY_XEN_XENBUF_H

#include <stddef.h>

struct xendrv_buf {
    char *data; /* NUL-terminated once anything was appended; owned */
    size_t len;
    size_t cap;
};

void xendrv_buf_append(struct xendrv_buf *b, const char *s, size_t n);
void xendrv_buf_puts(struct xendrv_buf *b, const char *s);
void xendrv_buf_printf(struct xendrv_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Hands the string to the caller (never NULL: "" when empty); the buffer is
 * left empty. Caller frees with free(). */
char *xendrv_buf_steal(struct xendrv_buf *b);

void xendrv_buf_reset(struct xendrv_buf *b);

#endif
