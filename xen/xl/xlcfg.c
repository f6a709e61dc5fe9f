/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The xl.cfg tokenizer and parser (grammar of xl.cfg(5) and libxlu): every
 * error names SOURCE:LINE:COL and what was expected, and every size a file
 * controls is bounded (see xlcfg.h). */
#include "xlcfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "util.h"
#include "buf.h"

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

static void tok_clear(struct tok *t)
{
    free(t->text);
    t->text = NULL;
}

static int perr(struct parser *ps, unsigned line, unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int perr(struct parser *ps, unsigned line, unsigned col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ferry_error_set(ps->err, EINVAL, "%s:%u:%u: %s", ps->source, line, col, msg);
}
#ifdef __clang_analyzer__ /* perr always returns a negative errno; see error.h */
#define perr(...) ferry_error_analyzer_neg(perr(__VA_ARGS__))
#endif

/* A short human description of a token for "expected X, got Y". */
static void tok_describe(const struct tok *t, char *buf, size_t size)
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
            return perr(ps, t->line, t->col,
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
            return perr(ps, ps->line, ps->col, "NUL byte inside a string");
        }
        if (c != '\\') {
            if (is_bad_control(c)) {
                ferry_buf_reset(&b);
                return perr(ps, ps->line, ps->col,
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
                return perr(ps, t->line, t->col, "unterminated string: ends in a backslash");
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
                    return perr(ps, ps->line, ecol, "invalid escape: \\x needs two hex digits");
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
                        return perr(ps, ps->line, ecol,
                                    "invalid escape: decimal character %u is above 255", v);
                    }
                    out = (char)v;
                    break;
                }
                ferry_buf_reset(&b);
                return perr(ps, ps->line, ecol, "invalid escape '\\%c' in string", e);
            }
            if (out == '\0' || is_bad_control(out)) {
                ferry_buf_reset(&b);
                return perr(ps, ps->line, ecol,
                            "escape produces control character 0x%02x (not allowed: domain XML "
                            "cannot carry it)",
                            (unsigned char)out);
            }
            ferry_buf_append(&b, &out, 1);
        }
        if (b.len > XLCONV_XLCFG_MAX_STRING) {
            ferry_buf_reset(&b);
            return perr(ps, t->line, t->col, "string longer than %u bytes",
                        XLCONV_XLCFG_MAX_STRING);
        }
    }
    if (!utf8_valid(b.data ? b.data : "")) {
        ferry_buf_reset(&b);
        return perr(ps, t->line, t->col,
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
            return perr(ps, t->line, t->col, "key longer than %d characters", XLCONV_XLCFG_MAX_KEY);
        t->text = strndup(start, n);
        if (!t->text)
            abort();
        if (!xlconv_xlkey_valid(t->text)) {
            int r = perr(ps, t->line, t->col,
                         "invalid key '%s': keys are a lower-case letter followed by lower-case "
                         "letters, digits and '_'",
                         t->text);
            tok_clear(t);
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
            return perr(ps, t->line, t->col, "number longer than 64 characters");
        for (size_t i = 1; i < n; i++) {
            char d = start[i];
            if (!isdigit((unsigned char)d) && !(d >= 'a' && d <= 'f') && d != 'x')
                return perr(ps, t->line, t->col,
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
        return perr(ps, t->line, t->col, "NUL byte in file");
    if (strchr("+-.():{}", c))
        return perr(ps, t->line, t->col,
                    "unexpected character '%c' (xl.cfg is not Python: values are quoted "
                    "strings, integers or [ lists ])",
                    c);
    if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f)
        return perr(ps, t->line, t->col, "unexpected byte 0x%02x", (unsigned char)c);
    return perr(ps, t->line, t->col, "unexpected character '%c'", c);
}

static int peek(struct parser *ps, struct tok **ret)
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
static int take(struct parser *ps, struct tok *t)
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

static int skip_newlines(struct parser *ps)
{
    struct tok *t;
    int r;

    for (;;) {
        r = peek(ps, &t);
        if (r < 0)
            return r;
        if (t->kind != T_NEWLINE)
            return 0;
        struct tok nl;
        take(ps, &nl);
        tok_clear(&nl);
    }
}

void xlconv_xlval_free(struct xlconv_xlval *val)
{
    if (!val)
        return;
    for (size_t i = 0; i < val->n_items; i++)
        xlconv_xlval_free(val->items[i]);
    free(val->items);
    free(val->str);
    free(val);
}

FERRY_DEFINE_CLEANUP_FUNC(struct xlconv_xlval, xlconv_xlval_free)

static int list_append(struct parser *ps, struct xlconv_xlval *list, struct xlconv_xlval *item)
{
    if (list->n_items >= XLCONV_XLCFG_MAX_ITEMS)
        return perr(ps, item->line, item->col, "list has more than %d items",
                    XLCONV_XLCFG_MAX_ITEMS);
    struct xlconv_xlval **items = reallocarray(
        list->items, list->n_items + 1,
        sizeof *list->items); // NOLINT(bugprone-sizeof-expression): an array of pointers
    if (!items)
        abort();
    list->items = items;
    list->items[list->n_items++] = item;
    return 0;
}

static int parse_value(struct parser *ps, const char *key, unsigned depth,
                       struct xlconv_xlval **ret)
{
    struct tok t;
    char what[80];
    int r;

    r = take(ps, &t);
    if (r < 0)
        return r;
    _cleanup_(xlconv_xlval_freep) struct xlconv_xlval *v = ferry_calloc(1, sizeof *v);
    v->line = t.line;
    v->col = t.col;
    if (t.kind == T_STRING || t.kind == T_NUMBER) {
        v->kind = t.kind == T_STRING ? XLCONV_XLVAL_STRING : XLCONV_XLVAL_NUMBER;
        v->str = TAKE_PTR(t.text);
        *ret = TAKE_PTR(v);
        return 0;
    }
    if (t.kind != T_LBRACK) {
        tok_describe(&t, what, sizeof what);
        tok_clear(&t);
        return perr(ps, v->line, v->col,
                    "expected a value for '%s' (a quoted string, a number or '['), got %s", key,
                    what);
    }
    if (depth >= XLCONV_XLCFG_MAX_DEPTH)
        return perr(ps, v->line, v->col, "lists nested more than %d deep", XLCONV_XLCFG_MAX_DEPTH);
    v->kind = XLCONV_XLVAL_LIST;

    for (;;) {
        struct tok *la;
        r = skip_newlines(ps);
        if (r < 0)
            return r;
        r = peek(ps, &la);
        if (r < 0)
            return r;
        if (la->kind == T_RBRACK) {
            take(ps, &t);
            tok_clear(&t);
            break;
        }
        if (la->kind == T_EOF)
            return perr(ps, la->line, la->col,
                        "expected ']' to close the list opened at %u:%u, got end of file", v->line,
                        v->col);
        struct xlconv_xlval *item = NULL;
        r = parse_value(ps, key, depth + 1, &item);
        if (r < 0)
            return r;
        r = list_append(ps, v, item);
        if (r < 0) {
            xlconv_xlval_free(item);
            return r;
        }
        r = skip_newlines(ps);
        if (r < 0)
            return r;
        r = take(ps, &t);
        if (r < 0)
            return r;
        if (t.kind == T_RBRACK)
            break;
        if (t.kind == T_EOF)
            return perr(ps, t.line, t.col,
                        "expected ']' to close the list opened at %u:%u, got end of file", v->line,
                        v->col);
        if (t.kind != T_COMMA) {
            tok_describe(&t, what, sizeof what);
            tok_clear(&t);
            return perr(ps, t.line, t.col,
                        "expected ',' or ']' in the list opened at %u:%u, got %s", v->line, v->col,
                        what);
        }
    }
    *ret = TAKE_PTR(v);
    return 0;
}

static void add_warning(struct xlconv_xlcfg *cfg, char *msg)
{
    char **w = reallocarray(cfg->warnings, cfg->n_warnings + 1, sizeof *w);
    if (!w)
        abort();
    cfg->warnings = w;
    cfg->warnings[cfg->n_warnings++] = msg;
}

/* "+=": lists are joined, atoms concatenated (xl keeps numbers as strings). */
static int concat_values(struct parser *ps, const char *key, struct xlconv_xlval *old,
                         struct xlconv_xlval *add)
{
    bool old_list = old->kind == XLCONV_XLVAL_LIST, add_list = add->kind == XLCONV_XLVAL_LIST;

    if (old_list != add_list)
        return perr(ps, add->line, add->col, "'+=' on '%s': cannot add a %s to a %s", key,
                    add_list ? "list" : "string", old_list ? "list" : "string");
    if (old_list) {
        for (size_t i = 0; i < add->n_items; i++) {
            int r = list_append(ps, old, add->items[i]);
            if (r < 0)
                return r;
            add->items[i] = NULL;
        }
        add->n_items = 0;
        return 0;
    }
    size_t n = strlen(old->str) + strlen(add->str);
    if (n > XLCONV_XLCFG_MAX_STRING)
        return perr(ps, add->line, add->col, "'+=' on '%s': string longer than %u bytes", key,
                    XLCONV_XLCFG_MAX_STRING);
    char *s = ferry_strdup_printf("%s%s", old->str, add->str);
    free(old->str);
    old->str = s;
    old->kind = XLCONV_XLVAL_STRING;
    return 0;
}

static int store(struct parser *ps, struct tok *key, bool append, struct xlconv_xlval *val)
{
    struct xlconv_xlcfg *cfg = ps->cfg;

    for (size_t i = 0; i < cfg->n_settings; i++) {
        struct xlconv_xlset *s = &cfg->settings[i];
        if (strcmp(s->key, key->text) != 0)
            continue;
        if (append) {
            int r = concat_values(ps, key->text, s->value, val);
            xlconv_xlval_free(val);
            return r;
        }
        add_warning(cfg, ferry_strdup_printf("%s:%u:%u: '%s' is set again; the value from line "
                                             "%u is overridden (as xl does)",
                                             ps->source, key->line, key->col, key->text, s->line));
        xlconv_xlval_free(s->value);
        s->value = val;
        s->line = key->line;
        s->col = key->col;
        return 0;
    }
    if (cfg->n_settings >= XLCONV_XLCFG_MAX_SETTINGS) {
        xlconv_xlval_free(val);
        return perr(ps, key->line, key->col, "more than %d settings", XLCONV_XLCFG_MAX_SETTINGS);
    }
    struct xlconv_xlset *ns =
        reallocarray(cfg->settings, cfg->n_settings + 1, sizeof *cfg->settings);
    if (!ns)
        abort();
    cfg->settings = ns;
    struct xlconv_xlset *set = &ns[cfg->n_settings++];
    set->key = TAKE_PTR(key->text);
    set->value = val;
    set->line = key->line;
    set->col = key->col;
    return 0;
}

static int parse_assignment(struct parser *ps, struct tok *key)
{
    struct tok t;
    char what[80];
    int r;

    r = take(ps, &t);
    if (r < 0)
        return r;
    if (t.kind != T_EQ && t.kind != T_PLUSEQ) {
        tok_describe(&t, what, sizeof what);
        tok_clear(&t);
        return perr(ps, t.line, t.col, "expected '=' after '%s', got %s", key->text, what);
    }
    bool append = t.kind == T_PLUSEQ;

    struct xlconv_xlval *val = NULL;
    r = parse_value(ps, key->text, 0, &val);
    if (r < 0)
        return r;

    r = take(ps, &t);
    if (r < 0) {
        xlconv_xlval_free(val);
        return r;
    }
    if (t.kind != T_NEWLINE && t.kind != T_SEMI && t.kind != T_EOF) {
        tok_describe(&t, what, sizeof what);
        tok_clear(&t);
        xlconv_xlval_free(val);
        return perr(ps, t.line, t.col,
                    "expected end of line or ';' after the value of '%s', got %s", key->text, what);
    }
    return store(ps, key, append, val);
}

void xlconv_xlcfg_free(struct xlconv_xlcfg *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n_settings; i++) {
        free(cfg->settings[i].key);
        xlconv_xlval_free(cfg->settings[i].value);
    }
    free(cfg->settings);
    for (size_t i = 0; i < cfg->n_warnings; i++)
        free(cfg->warnings[i]);
    free(cfg->warnings);
    free(cfg->source);
    free(cfg);
}

FERRY_DEFINE_CLEANUP_FUNC(struct xlconv_xlcfg, xlconv_xlcfg_free)

int xlconv_xlcfg_parse_syntax(const char *text, size_t len, const char *source,
                              struct xlconv_xlcfg **ret, struct ferry_error *err)
{
    if (!source)
        source = "xl.cfg";
    if (len > XLCONV_XLCFG_MAX_BYTES)
        return ferry_error_set(err, EFBIG, "%s: file larger than %u bytes", source,
                               XLCONV_XLCFG_MAX_BYTES);

    _cleanup_(xlconv_xlcfg_freep) struct xlconv_xlcfg *cfg = ferry_calloc(1, sizeof *cfg);
    cfg->source = ferry_strdup(source);
    struct parser ps = {.p = text,
                        .end = text + len,
                        .line = 1,
                        .col = 1,
                        .source = source,
                        .err = err,
                        .cfg = cfg};
    int r = 0;

    for (;;) {
        struct tok t;
        char what[80];
        r = take(&ps, &t);
        if (r < 0)
            break;
        if (t.kind == T_EOF)
            break;
        if (t.kind == T_NEWLINE || t.kind == T_SEMI)
            continue;
        if (t.kind != T_IDENT) {
            tok_describe(&t, what, sizeof what);
            tok_clear(&t);
            r = perr(&ps, t.line, t.col, "expected a key (KEY = VALUE), got %s", what);
            break;
        }
        r = parse_assignment(&ps, &t);
        tok_clear(&t);
        if (r < 0)
            break;
    }
    if (ps.have_la)
        tok_clear(&ps.la);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(cfg);
    return 0;
}

const struct xlconv_xlset *xlconv_xlcfg_find(const struct xlconv_xlcfg *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n_settings; i++)
        if (strcmp(cfg->settings[i].key, key) == 0)
            return &cfg->settings[i];
    return NULL;
}

bool xlconv_xlkey_valid(const char *key)
{
    size_t n = strlen(key);

    if (n == 0 || n > XLCONV_XLCFG_MAX_KEY || !(key[0] >= 'a' && key[0] <= 'z'))
        return false;
    for (size_t i = 1; i < n; i++) {
        char c = key[i];
        if (!(c >= 'a' && c <= 'z') && !(c >= '0' && c <= '9') && c != '_')
            return false;
    }
    return true;
}
