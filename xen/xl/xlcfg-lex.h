/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The xl.cfg tokenizer (xlcfg-lex.c) as the parser (xlcfg.c) sees it.
 * Internal to xen/xl/. */
#ifndef FERRY_XLCONV_XLCFG_LEX_H
#define FERRY_XLCONV_XLCFG_LEX_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "xlcfg.h"

enum tok_kind {
    T_EOF,
    T_NEWLINE, /* '\n', or a '#' comment up to and including its '\n' */
    T_SEMI,
    T_COMMA,
    T_LBRACK,
    T_RBRACK,
    T_EQ,
    T_PLUSEQ,
    T_IDENT,
    T_NUMBER,
    T_STRING,
};

struct tok {
    enum tok_kind kind;
    char *text; /* IDENT, NUMBER, STRING (dequoted): owned */
    unsigned line, col;
};

struct parser {
    const char *p, *end;
    unsigned line, col; /* position of *p */
    const char *source;
    struct ferry_error *err;
    struct tok la; /* lookahead, valid when have_la */
    bool have_la;
    struct xlconv_xlcfg *cfg;
};

void xlcfg_tok_clear(struct tok *t);
/* An error at LINE:COL of the file being parsed; returns -EINVAL. */
int xlcfg_perr(struct parser *ps, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#ifdef __clang_analyzer__ /* perr always returns a negative errno; see error.h */
#define xlcfg_perr(...) ferry_error_analyzer_neg(xlcfg_perr(__VA_ARGS__))
#endif
/* "end of file", "string \"...\"", ...: T for a message. */
void xlcfg_tok_describe(const struct tok *t, char *buf, size_t size);
/* The next token without taking it. */
int xlcfg_peek(struct parser *ps, struct tok **ret);
/* Moves the lookahead into *T (caller clears it). */
int xlcfg_take(struct parser *ps, struct tok *t);
int xlcfg_skip_newlines(struct parser *ps);

#endif
