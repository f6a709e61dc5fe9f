/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The xl.cfg parser (grammar of xl.cfg(5) and libxlu) over the tokenizer
 * of xlcfg-lex.c: every
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
#include "xlcfg-lex.h"

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
        return xlcfg_perr(ps, item->line, item->col, "list has more than %d items",
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

    r = xlcfg_take(ps, &t);
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
        xlcfg_tok_describe(&t, what, sizeof what);
        xlcfg_tok_clear(&t);
        return xlcfg_perr(ps, v->line, v->col,
                          "expected a value for '%s' (a quoted string, a number or '['), got %s",
                          key, what);
    }
    if (depth >= XLCONV_XLCFG_MAX_DEPTH)
        return xlcfg_perr(ps, v->line, v->col, "lists nested more than %d deep",
                          XLCONV_XLCFG_MAX_DEPTH);
    v->kind = XLCONV_XLVAL_LIST;

    for (;;) {
        struct tok *la;
        r = xlcfg_skip_newlines(ps);
        if (r < 0)
            return r;
        r = xlcfg_peek(ps, &la);
        if (r < 0)
            return r;
        if (la->kind == T_RBRACK) {
            xlcfg_take(ps, &t);
            xlcfg_tok_clear(&t);
            break;
        }
        if (la->kind == T_EOF)
            return xlcfg_perr(ps, la->line, la->col,
                              "expected ']' to close the list opened at %u:%u, got end of file",
                              v->line, v->col);
        struct xlconv_xlval *item = NULL;
        r = parse_value(ps, key, depth + 1, &item);
        if (r < 0)
            return r;
        r = list_append(ps, v, item);
        if (r < 0) {
            xlconv_xlval_free(item);
            return r;
        }
        r = xlcfg_skip_newlines(ps);
        if (r < 0)
            return r;
        r = xlcfg_take(ps, &t);
        if (r < 0)
            return r;
        if (t.kind == T_RBRACK)
            break;
        if (t.kind == T_EOF)
            return xlcfg_perr(ps, t.line, t.col,
                              "expected ']' to close the list opened at %u:%u, got end of file",
                              v->line, v->col);
        if (t.kind != T_COMMA) {
            xlcfg_tok_describe(&t, what, sizeof what);
            xlcfg_tok_clear(&t);
            return xlcfg_perr(ps, t.line, t.col,
                              "expected ',' or ']' in the list opened at %u:%u, got %s", v->line,
                              v->col, what);
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
        return xlcfg_perr(ps, add->line, add->col, "'+=' on '%s': cannot add a %s to a %s", key,
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
        return xlcfg_perr(ps, add->line, add->col, "'+=' on '%s': string longer than %u bytes", key,
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
        return xlcfg_perr(ps, key->line, key->col, "more than %d settings",
                          XLCONV_XLCFG_MAX_SETTINGS);
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

    r = xlcfg_take(ps, &t);
    if (r < 0)
        return r;
    if (t.kind != T_EQ && t.kind != T_PLUSEQ) {
        xlcfg_tok_describe(&t, what, sizeof what);
        xlcfg_tok_clear(&t);
        return xlcfg_perr(ps, t.line, t.col, "expected '=' after '%s', got %s", key->text, what);
    }
    bool append = t.kind == T_PLUSEQ;

    struct xlconv_xlval *val = NULL;
    r = parse_value(ps, key->text, 0, &val);
    if (r < 0)
        return r;

    r = xlcfg_take(ps, &t);
    if (r < 0) {
        xlconv_xlval_free(val);
        return r;
    }
    if (t.kind != T_NEWLINE && t.kind != T_SEMI && t.kind != T_EOF) {
        xlcfg_tok_describe(&t, what, sizeof what);
        xlcfg_tok_clear(&t);
        xlconv_xlval_free(val);
        return xlcfg_perr(ps, t.line, t.col,
                          "expected end of line or ';' after the value of '%s', got %s", key->text,
                          what);
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
        r = xlcfg_take(&ps, &t);
        if (r < 0)
            break;
        if (t.kind == T_EOF)
            break;
        if (t.kind == T_NEWLINE || t.kind == T_SEMI)
            continue;
        if (t.kind != T_IDENT) {
            xlcfg_tok_describe(&t, what, sizeof what);
            xlcfg_tok_clear(&t);
            r = xlcfg_perr(&ps, t.line, t.col, "expected a key (KEY = VALUE), got %s", what);
            break;
        }
        r = parse_assignment(&ps, &t);
        xlcfg_tok_clear(&t);
        if (r < 0)
            break;
    }
    if (ps.have_la)
        xlcfg_tok_clear(&ps.la);
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
