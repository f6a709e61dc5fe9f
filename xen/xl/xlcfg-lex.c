/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The xl.cfg tokenizer: strings with their escapes and UTF-8 checked,
 * numbers, identifiers, punctuation and comments, each token with its
 * line and column (xlcfg-lex.h). */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cleanup.h"
#include "util.h"
#include "xlcfg-lex.h"

void xlcfg_tok_clear(struct tok *t)
{
    free(t->text);
    t->text = NULL;
}

/* In parentheses: not the analyzer's macro of xlcfg-lex.h. */
int(xlcfg_perr)(struct parser *ps, unsigned line, unsigned col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ferry_error_set(ps->err, EINVAL, "%s:%u:%u: %s", ps->source, line, col, msg);
}

/* A short human description of a token for "expected X, got Y". */
void xlcfg_tok_describe(const struct tok *t, char *buf, size_t size)
{
    switch (t->kind) {
    case T_EOF:
        snprintf(buf, size, "end of file");
        return;
    case T_NEWLINE:
        snprintf(buf, size, "end of line");
        return;
    case T_SEMI:
        snprintf(buf, size, "';'");
        return;
    case T_COMMA:
        snprintf(buf, size, "','");
        return;
    case T_LBRACK:
        snprintf(buf, size, "'['");
        return;
    case T_RBRACK:
        snprintf(buf, size, "']'");
        return;
    case T_EQ:
        snprintf(buf, size, "'='");
        return;
    case T_PLUSEQ:
        snprintf(buf, size, "'+='");
        return;
    case T_IDENT:
        snprintf(buf, size, "key '%.40s'", t->text);
        return;
    case T_NUMBER:
        snprintf(buf, size, "number %.40s", t->text);
        return;
    case T_STRING:
        snprintf(buf, size, "string \"%.40s%s\"", t->text, strlen(t->text) > 40 ? "..." : "");
        return;
    }
    snprintf(buf, size, "?");
}

static void advance(struct parser *ps)
{
    if (*ps->p == '\n') {
        ps->line++;
        ps->col = 1;
    } else {
        ps->col++;
    }
    ps->p++;
}

static bool at_end(const struct parser *ps)
{
    return ps->p >= ps->end;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Control characters XML 1.0 cannot carry: strings holding them could not
 * make the round trip through domain XML. */
static bool is_bad_control(char c)
{
    unsigned char u = (unsigned char)c;
    return u < 0x20 && u != '\t' && u != '\n' && u != '\r';
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;

    while (*s) {
        unsigned c = *s, n, min, cp;
        if (c < 0x80) {
            s++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            n = 1, min = 0x80, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            n = 2, min = 0x800, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            n = 3, min = 0x10000, cp = c & 0x07;
        else
            return false;
        for (unsigned i = 1; i <= n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        s += n + 1;
    }
    return true;
}

/* Reads a quoted string starting at the quote; escapes as libxlu: \" \' \\
 * \a \b \f \n \r \t \v, \xHH (two hex digits) and \D, \DD, \DDD (decimal,
 * at most 255). A string never spans lines. */
static int lex_string(struct parser *ps, struct tok *t)
{
    char quote = *ps->p;
    struct ferry_buf b = {0};

    advance(ps);
    for (;;) {
        if (at_end(ps) || *ps->p == '\n') {
            ferry_buf_reset(&b);
            return xlcfg_perr(
                ps, t->line, t->col,
                "unterminated string: no closing %c on this line (strings cannot span "
                "lines)",
                quote);
        }
        char c = *ps->p;
        unsigned ecol = ps->col;
        if (c == quote) {
            advance(ps);
            break;
        }
        if (c == '\0') {
            ferry_buf_reset(&b);
            return xlcfg_perr(ps, ps->line, ps->col, "NUL byte inside a string");
        }
        if (c != '\\') {
            if (is_bad_control(c)) {
                ferry_buf_reset(&b);
                return xlcfg_perr(ps, ps->line, ps->col,
                                  "control character 0x%02x in a string (not allowed: domain XML "
                                  "cannot carry it)",
                                  (unsigned char)c);
            }
            ferry_buf_append(&b, &c, 1);
            advance(ps);
        } else {
            advance(ps);
            if (at_end(ps) || *ps->p == '\n') {
                ferry_buf_reset(&b);
                return xlcfg_perr(ps, t->line, t->col, "unterminated string: ends in a backslash");
            }
            char e = *ps->p, out;
            advance(ps);
            switch (e) {
            case '"':
            case '\'':
            case '\\':
                out = e;
                break;
            case 'a':
                out = '\a';
                break;
            case 'b':
                out = '\b';
                break;
            case 'f':
                out = '\f';
                break;
            case 'n':
                out = '\n';
                break;
            case 'r':
                out = '\r';
                break;
            case 't':
                out = '\t';
                break;
            case 'v':
                out = '\v';
                break;
            case 'x': {
                int h1 = at_end(ps) ? -1 : hexval(*ps->p);
                int h2 = (h1 < 0 || ps->p + 1 >= ps->end) ? -1 : hexval(ps->p[1]);
                if (h1 < 0 || h2 < 0) {
                    ferry_buf_reset(&b);
                    return xlcfg_perr(ps, ps->line, ecol,
                                      "invalid escape: \\x needs two hex digits");
                }
                advance(ps);
                advance(ps);
                out = (char)(h1 * 16 + h2);
                break;
            }
            default:
                if (e >= '0' && e <= '9') {
                    unsigned v = (unsigned)(e - '0');
                    for (int i = 0; i < 2 && !at_end(ps) && isdigit((unsigned char)*ps->p); i++) {
                        v = v * 10 + (unsigned)(*ps->p - '0');
                        advance(ps);
                    }
                    if (v > 255) {
                        ferry_buf_reset(&b);
                        return xlcfg_perr(ps, ps->line, ecol,
                                          "invalid escape: decimal character %u is above 255", v);
                    }
                    out = (char)v;
                    break;
                }
                ferry_buf_reset(&b);
                return xlcfg_perr(ps, ps->line, ecol, "invalid escape '\\%c' in string", e);
            }
            if (out == '\0' || is_bad_control(out)) {
                ferry_buf_reset(&b);
                return xlcfg_perr(
                    ps, ps->line, ecol,
                    "escape produces control character 0x%02x (not allowed: domain XML "
                    "cannot carry it)",
                    (unsigned char)out);
            }
            ferry_buf_append(&b, &out, 1);
        }
        if (b.len > XLCONV_XLCFG_MAX_STRING) {
            ferry_buf_reset(&b);
            return xlcfg_perr(ps, t->line, t->col, "string longer than %u bytes",
                              XLCONV_XLCFG_MAX_STRING);
        }
    }
    if (!utf8_valid(b.data ? b.data : "")) {
        ferry_buf_reset(&b);
        return xlcfg_perr(ps, t->line, t->col,
                          "string is not valid UTF-8 (domain XML cannot carry it; convert the file "
                          "to UTF-8)");
    }
    t->kind = T_STRING;
    t->text = ferry_buf_steal(&b);
    return 0;
}

/* Reads the next token into *T (T->text owned by the caller). */
static int lex(struct parser *ps, struct tok *t)
{
    memset(t, 0, sizeof *t);
    while (!at_end(ps) && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\r'))
        advance(ps);
    t->line = ps->line;
    t->col = ps->col;
    if (at_end(ps)) {
        t->kind = T_EOF;
        return 0;
    }

    char c = *ps->p;
    const char *start = ps->p;
    switch (c) {
    case '\n':
        advance(ps);
        t->kind = T_NEWLINE;
        return 0;
    case '#':
        while (!at_end(ps) && *ps->p != '\n')
            advance(ps);
        if (!at_end(ps))
            advance(ps);
        t->kind = T_NEWLINE;
        return 0;
    case ';':
        advance(ps);
        t->kind = T_SEMI;
        return 0;
    case ',':
        advance(ps);
        t->kind = T_COMMA;
        return 0;
    case '[':
        advance(ps);
        t->kind = T_LBRACK;
        return 0;
    case ']':
        advance(ps);
        t->kind = T_RBRACK;
        return 0;
    case '=':
        advance(ps);
        t->kind = T_EQ;
        return 0;
    case '"':
    case '\'':
        return lex_string(ps, t);
    case '+':
        if (ps->p + 1 < ps->end && ps->p[1] == '=') {
            advance(ps);
            advance(ps);
            t->kind = T_PLUSEQ;
            return 0;
        }
        break;
    default:
        break;
    }

    if (isalpha((unsigned char)c) || c == '_') {
        while (!at_end(ps) && (isalnum((unsigned char)*ps->p) || *ps->p == '_'))
            advance(ps);
        size_t n = (size_t)(ps->p - start);
        if (n > XLCONV_XLCFG_MAX_KEY)
            return xlcfg_perr(ps, t->line, t->col, "key longer than %d characters",
                              XLCONV_XLCFG_MAX_KEY);
        t->text = strndup(start, n);
        if (!t->text)
            abort();
        if (!xlconv_xlkey_valid(t->text)) {
            int r =
                xlcfg_perr(ps, t->line, t->col,
                           "invalid key '%s': keys are a lower-case letter followed by lower-case "
                           "letters, digits and '_'",
                           t->text);
            xlcfg_tok_clear(t);
            return r;
        }
        t->kind = T_IDENT;
        return 0;
    }
    if (isdigit((unsigned char)c)) {
        while (!at_end(ps) && (isalnum((unsigned char)*ps->p) || *ps->p == '.'))
            advance(ps);
        size_t n = (size_t)(ps->p - start);
        if (n > 64)
            return xlcfg_perr(ps, t->line, t->col, "number longer than 64 characters");
        for (size_t i = 1; i < n; i++) {
            char d = start[i];
            if (!isdigit((unsigned char)d) && !(d >= 'a' && d <= 'f') && d != 'x')
                return xlcfg_perr(
                    ps, t->line, t->col,
                    "invalid number '%.*s': xl numbers are decimal or 0x hex integers "
                    "(quote other values)",
                    (int)n, start);
        }
        t->text = strndup(start, n);
        if (!t->text)
            abort();
        t->kind = T_NUMBER;
        return 0;
    }
    if (c == '\0')
        return xlcfg_perr(ps, t->line, t->col, "NUL byte in file");
    if (strchr("+-.():{}", c))
        return xlcfg_perr(ps, t->line, t->col,
                          "unexpected character '%c' (xl.cfg is not Python: values are quoted "
                          "strings, integers or [ lists ])",
                          c);
    if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
        return xlcfg_perr(ps, t->line, t->col, "unexpected byte 0x%02x", (unsigned char)c);
    return xlcfg_perr(ps, t->line, t->col, "unexpected character '%c'", c);
}

int xlcfg_peek(struct parser *ps, struct tok **ret)
{
    if (!ps->have_la) {
        int r = lex(ps, &ps->la);
        if (r < 0)
            return r;
        ps->have_la = true;
    }
    *ret = &ps->la;
    return 0;
}

/* Moves the lookahead into *T (caller clears it). */
int xlcfg_take(struct parser *ps, struct tok *t)
{
    if (!ps->have_la) {
        int r = lex(ps, &ps->la);
        if (r < 0)
            return r;
    }
    *t = ps->la;
    memset(&ps->la, 0, sizeof ps->la);
    ps->have_la = false;
    return 0;
}

int xlcfg_skip_newlines(struct parser *ps)
{
    struct tok *t;
    int r;

    for (;;) {
        r = xlcfg_peek(ps, &t);
        if (r < 0)
            return r;
        if (t->kind != T_NEWLINE)
            return 0;
        struct tok nl;
        xlcfg_take(ps, &nl);
        xlcfg_tok_clear(&nl);
    }
}
