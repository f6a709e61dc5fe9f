/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The xl.cfg syntax layer, internal to xen/: a tokenizer and recursive-descent
 * parser for the grammar of xl.cfg(5) (KEY = VALUE or KEY += VALUE, values
 * "strings", 'strings', numbers and [ lists ] that may span lines, '#'
 * comments, statements ended by a newline or ';'), producing a tree of
 * settings with the line and column of every value, and a formatter that
 * writes values back in a canonical form xl accepts.
 *
 * It knows nothing of what the keys mean; config.c interprets them. */
#ifndef FERRY_XEN_XL_XLCFG_H
#define FERRY_XEN_XL_XLCFG_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

/* Limits on what a file may make us allocate. Exceeding one is a clean
 * error naming the line and column. */
#define XLCONV_XLCFG_MAX_BYTES    (1u * 1024 * 1024) /* whole file */
#define XLCONV_XLCFG_MAX_SETTINGS 1024
#define XLCONV_XLCFG_MAX_ITEMS    1024         /* items in one list */
#define XLCONV_XLCFG_MAX_STRING   (64u * 1024) /* one string, dequoted */
#define XLCONV_XLCFG_MAX_KEY      64
#define XLCONV_XLCFG_MAX_DEPTH    4 /* nested lists */

enum xlconv_xlval_kind {
    XLCONV_XLVAL_STRING, /* "..." or '...', stored dequoted */
    XLCONV_XLVAL_NUMBER, /* [0-9][0-9a-fx]*, stored as written */
    XLCONV_XLVAL_LIST,
};

struct xlconv_xlval {
    enum xlconv_xlval_kind kind;
    char *str;                   /* STRING and NUMBER; NULL for LIST */
    size_t n_items;              /* LIST */
    struct xlconv_xlval **items; /* LIST: owned */
    unsigned line, col;          /* where the value starts, 1-based */
};

struct xlconv_xlset {
    char *key;                  /* [a-z][a-z0-9_]* */
    struct xlconv_xlval *value; /* owned */
    unsigned line, col;         /* position of the key */
};

struct xlconv_xlcfg {
    char *source; /* name used in messages ("xl.cfg", a path) */
    size_t n_settings;
    struct xlconv_xlset *settings; /* in file order; a key appears once */
    size_t n_warnings;
    char **warnings; /* "SRC:L:C: ..." for overridden keys */
};

/* Parses TEXT (LEN bytes, need not be NUL-terminated; a NUL byte inside is an
 * error). SOURCE names the file in messages (NULL: "xl.cfg"); errors read
 * "SOURCE:LINE:COL: expected ']' or ',' ...". A key set twice keeps the last
 * value, as xl does, and adds a warning; "KEY += VALUE" appends to a list or
 * concatenates to a string. On success *ret is a new tree; caller frees with
 * xlconv_xlcfg_free(). */
int xlconv_xlcfg_parse_syntax(const char *text, size_t len, const char *source,
                              struct xlconv_xlcfg **ret, struct ferry_error *err);

void xlconv_xlcfg_free(struct xlconv_xlcfg *cfg);
void xlconv_xlval_free(struct xlconv_xlval *val);

/* The setting for KEY, or NULL. Borrowed from CFG. */
const struct xlconv_xlset *xlconv_xlcfg_find(const struct xlconv_xlcfg *cfg, const char *key);

/* Writes VAL in xl syntax: strings double-quoted with C-style escapes,
 * numbers as written, lists as "[ a, b ]" on one line (ONELINE) or one item
 * per line indented by four spaces. Caller frees with free(). */
char *xlconv_xlval_format(const struct xlconv_xlval *val, bool oneline);

/* S as an xl string literal: double-quoted, with C-style escapes for '"',
 * '\\' and control characters. Caller frees with free(). */
char *xlconv_xl_quote(const char *s);

/* True when KEY is a valid xl.cfg key. */
bool xlconv_xlkey_valid(const char *key);

#endif
