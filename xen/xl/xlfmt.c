/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Writing xl.cfg values: strings quoted and escaped so that xlcfg.c (and
 * xl) read back exactly the same bytes, lists on one line or one item per
 * line. */
#include <stdlib.h>

#include "buf.h"
#include "xlcfg.h"

static void quote_into(struct ferry_buf *b, const char *s)
{
    ferry_buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            ferry_buf_puts(b, "\\\"");
            break;
        case '\\':
            ferry_buf_puts(b, "\\\\");
            break;
        case '\n':
            ferry_buf_puts(b, "\\n");
            break;
        case '\t':
            ferry_buf_puts(b, "\\t");
            break;
        case '\r':
            ferry_buf_puts(b, "\\r");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                ferry_buf_printf(b, "\\x%02x", *p);
            else
                ferry_buf_append(b, (const char *)p, 1);
        }
    }
    ferry_buf_puts(b, "\"");
}

char *xlconv_xl_quote(const char *s)
{
    struct ferry_buf b = {0};

    quote_into(&b, s);
    return ferry_buf_steal(&b);
}

static void format_into(struct ferry_buf *b, const struct xlconv_xlval *v, bool oneline,
                        unsigned indent)
{
    switch (v->kind) {
    case XLCONV_XLVAL_STRING:
        quote_into(b, v->str);
        return;
    case XLCONV_XLVAL_NUMBER:
        ferry_buf_puts(b, v->str);
        return;
    case XLCONV_XLVAL_LIST:
        break;
    }
    if (v->n_items == 0) {
        ferry_buf_puts(b, "[ ]");
        return;
    }
    /* One item per line only for lists of several items at the top level:
     * disk and vif lists read best that way. */
    bool split = !oneline && v->n_items > 1 && indent == 0;
    ferry_buf_puts(b, split ? "[\n" : "[ ");
    for (size_t i = 0; i < v->n_items; i++) {
        if (split)
            ferry_buf_puts(b, "    ");
        format_into(b, v->items[i], oneline, indent + 1);
        if (i + 1 < v->n_items)
            ferry_buf_puts(b, split ? ",\n" : ", ");
    }
    ferry_buf_puts(b, split ? ",\n]" : " ]");
}

char *xlconv_xlval_format(const struct xlconv_xlval *val, bool oneline)
{
    struct ferry_buf b = {0};

    format_into(&b, val, oneline, 0);
    return ferry_buf_steal(&b);
}
