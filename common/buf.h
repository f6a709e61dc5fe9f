/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A growable NUL-terminated string buffer (formatters, captured output). It
 * aborts on out-of-memory like ferry_strdup_printf (a daemon cannot go on). */
#ifndef FERRY_COMMON_BUF_H
#define FERRY_COMMON_BUF_H

#include <stddef.h>

struct ferry_buf {
    char *data; /* NUL-terminated once anything was appended; owned */
    size_t len;
    size_t cap;
};

void ferry_buf_append(struct ferry_buf *b, const char *s, size_t n);
void ferry_buf_puts(struct ferry_buf *b, const char *s);
void ferry_buf_printf(struct ferry_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Hands the string to the caller (never NULL: "" when empty); the buffer is
 * left empty. Caller frees with free(). */
char *ferry_buf_steal(struct ferry_buf *b);

void ferry_buf_reset(struct ferry_buf *b);

#endif
