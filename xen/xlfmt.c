/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Writing xl.cfg values: strings quoted and escaped so that xlcfg.c (and
 * xl) read back exactly the same bytes, lists on one line or one item per
 * line. */
#include <stdlib.h>

#include "xenbuf.h"
#include "xlcfg.h"

static void quote_into(struct xendrv_buf *b, const char *s)
{
    xendrv_buf_puts(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            xendrv_buf_puts(b, "\\\"");
            break;
        case '\\':
            xendrv_buf_puts(b, "\\\\");
            break;
        case '\n':
            xendrv_buf_puts(b, "\\n");
            break;
        case '\t':
            xendrv_buf_puts(b, "\\t");
            break;
        case '\r':
            xendrv_buf_puts(b, "\\r");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                xendrv_buf_printf(b, "\\x%02x", *p);
            else
                xendrv_buf_append(b, (const char *)p, 1);
        }
    }
    xendrv_buf_puts(b, "\"");
}

char *xendrv_xl_quote(const char *s)
{
    struct xendrv_buf b = {0};

    quote_into(&b, s);
    return xendrv_buf_steal(&b);
}

static void format_into(struct xendrv_buf *b, const struct xendrv_xlval *v, bool oneline,
                        unsigned indent)
{
    switch (v->kind) {
    case XENDRV_XLVAL_STRING:
        quote_into(b, v->str);
        return;
    case XENDRV_XLVAL_NUMBER:
        xendrv_buf_puts(b, v->str);
        return;
    case XENDRV_XLVAL_LIST:
        break;
    }
    if (v->n_items == 0) {
        xendrv_buf_puts(b, "[ ]");
        return;
    }
    /* One item per line only for lists of several items at the top level:
     * disk and vif lists read best that way. */
    bool split = !oneline && v->n_items > 1 && indent == 0;
    xendrv_buf_puts(b, split ? "[\n" : "[ ");
    for (size_t i = 0; i < v->n_items; i++) {
        if (split)
            xendrv_buf_puts(b, "    ");
        format_into(b, v->items[i], oneline, indent + 1);
        if (i + 1 < v->n_items)
            xendrv_buf_puts(b, split ? ",\n" : ", ");
    }
    xendrv_buf_puts(b, split ? ",\n]" : " ]");
}

char *xendrv_xlval_format(const struct xendrv_xlval *val, bool oneline)
{
    struct xendrv_buf b = {0};

    format_into(&b, val, oneline, 0);
    return xendrv_buf_steal(&b);
}
