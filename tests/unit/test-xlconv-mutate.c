/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Nothing guest-visible changes across XML -> xl.cfg -> XML. Each corpus
 * document (tests/unit/data/xen/NAME.xml) is mutated structurally, with a
 * fixed seed: an attribute or a leaf's text replaced by a value the same
 * attribute or element has somewhere in the corpus (so values stay in
 * ferry's canonical spelling), an element or attribute deleted, an element
 * duplicated. Every mutant the converter accepts is written as xl.cfg, read
 * back and written as XML again; the two documents must be equal once both
 * are put in a canonical form (children sorted, libvirt's defaults filled
 * in), except for elements the converter reported in its notes as having no
 * xl.cfg equivalent. Mutants it refuses are counted: both outcomes must
 * occur. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlsave.h>

#include "buf.h"
#include "cleanup.h"
#include "util.h"
#include "xen-corpus.h"
#include "xlconv.h"
#include "xml-cleanup.h"

#define ROUNDS 400 /* mutants per corpus file */
#define BAD    (const xmlChar *)

/* --- the value dictionary: NAME -> values seen in the corpus --- */

struct dict {
    size_t n;
    struct {
        char *key; /* "@attr" or "element" */
        char *val;
    } e[4096];
};

static void dict_add(struct dict *d, const char *key, const char *val)
{
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->e[i].key, key) == 0 && strcmp(d->e[i].val, val) == 0)
            return;
    if (d->n < ARRAY_SIZE(d->e)) {
        d->e[d->n].key = ferry_strdup(key);
        d->e[d->n].val = ferry_strdup(val);
        d->n++;
    }
}

static bool is_leaf(const xmlNode *n)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return false;
    return true;
}

static void dict_walk(struct dict *d, const xmlNode *n)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        for (const xmlAttr *a = n->properties; a; a = a->next) {
            _cleanup_(xmlFreep) xmlChar *v = xmlGetProp(n, a->name);
            _cleanup_free_ char *k = ferry_strdup_printf("@%s", (const char *)a->name);
            dict_add(d, k, (const char *)v);
        }
        if (is_leaf(n) && n->children) {
            _cleanup_(xmlFreep) xmlChar *t = xmlNodeGetContent(n);
            dict_add(d, (const char *)n->name, (const char *)t);
        }
        dict_walk(d, n->children);
    }
}

/* A random value for KEY from the dictionary, or NULL. */
static const char *dict_pick(const struct dict *d, const char *key, uint32_t r)
{
    size_t count = 0;

    for (size_t i = 0; i < d->n; i++)
        count += strcmp(d->e[i].key, key) == 0;
    if (!count)
        return NULL;
    r %= count;
    for (size_t i = 0; i < d->n; i++)
        if (strcmp(d->e[i].key, key) == 0 && r-- == 0)
            return d->e[i].val;
    return NULL;
}

/* --- canonical form --- */

static bool attr_is(const xmlNode *n, const char *name, const char *val)
{
    _cleanup_(xmlFreep) xmlChar *v = xmlGetProp(n, BAD name);
    return v && strcmp((const char *)v, val) == 0;
}

static xmlNode *child(xmlNode *n, const char *name)
{
    for (xmlNode *c = n->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    return NULL;
}

static void set_default(xmlNode *n, const char *attr, const char *val)
{
    if (!xmlHasProp(n, BAD attr))
        xmlSetProp(n, BAD attr, BAD val);
}

/* libvirt's defaults and the equivalent spellings the converter picks,
 * applied to both documents so that only meaning is compared. */
static void normalize(xmlNode *root)
{
    xmlNode *mem = child(root, "memory"), *cur = child(root, "currentMemory");
    xmlNode *vcpu = child(root, "vcpu"), *devices = child(root, "devices");

    xmlNode *md = child(root, "metadata"), *xl = md ? child(md, "xl") : NULL;
    if (xl && is_leaf(xl)) {
        xmlUnlinkNode(xl);
        xmlFreeNode(xl);
    }
    if (md && is_leaf(md)) { /* nothing kept: the converter writes none */
        xmlUnlinkNode(md);
        xmlFreeNode(md);
    }
    if (!devices) /* the converter always writes one */
        devices = xmlNewChild(root, NULL, BAD "devices", NULL);

    if (mem)
        set_default(mem, "unit", "KiB");
    if (cur)
        set_default(cur, "unit", "KiB");
    if (mem && !cur) {
        _cleanup_(xmlFreep) xmlChar *t = xmlNodeGetContent(mem);
        xmlSetProp(xmlNewTextChild(root, NULL, BAD "currentMemory", t), BAD "unit", BAD "KiB");
    } else if (cur && !mem) {
        _cleanup_(xmlFreep) xmlChar *t = xmlNodeGetContent(cur);
        xmlSetProp(xmlNewTextChild(root, NULL, BAD "memory", t), BAD "unit", BAD "KiB");
    }
    if (vcpu) {
        _cleanup_(xmlFreep) xmlChar *t = xmlNodeGetContent(vcpu);
        set_default(vcpu, "placement", "static");
        if (attr_is(vcpu, "current", (const char *)t))
            xmlUnsetProp(vcpu, BAD "current");
    }
    xmlNode *os = child(root, "os");
    if (!os) /* xl's default guest type */
        os = xmlNewChild(root, NULL, BAD "os", NULL);
    xmlNode *type = child(os, "type");
    if (!type)
        type = xmlNewTextChild(os, NULL, BAD "type", BAD "linux");
    if (type && !xmlHasProp(type, BAD "machine")) {
        _cleanup_(xmlFreep) xmlChar *t = xmlNodeGetContent(type);
        const char *m = strcmp((const char *)t, "hvm") == 0      ? "xenfv"
                        : strcmp((const char *)t, "xenpvh") == 0 ? "xenpvh"
                                                                 : "xenpv";
        xmlSetProp(type, BAD "machine", BAD m);
    }
    xmlNode *loader = child(os, "loader");
    if (loader && attr_is(loader, "type", "pflash")) /* xl's OVMF is read-only */
        set_default(loader, "readonly", "yes");
    if (type && attr_is(type, "machine", "xenpvh")) /* libvirt's older PVH spelling */
        xmlNodeSetContent(type, BAD "xenpvh");
    for (xmlNode *d = devices ? devices->children : NULL; d; d = d->next) {
        if (d->type != XML_ELEMENT_NODE)
            continue;
        if (strcmp((const char *)d->name, "disk") == 0) {
            xmlNode *src = child(d, "source");
            bool network = attr_is(d, "type", "network");
            /* file or block is how the host opens the path, not what the
             * guest sees; the path is the same. */
            if (!network) {
                xmlUnsetProp(d, BAD "type");
                if (src && xmlHasProp(src, BAD "dev")) {
                    _cleanup_(xmlFreep) xmlChar *p = xmlGetProp(src, BAD "dev");
                    xmlUnsetProp(src, BAD "dev");
                    xmlSetProp(src, BAD "file", p);
                }
            }
            set_default(d, "device", "disk");
            xmlNode *drv = child(d, "driver");
            if (drv && !drv->properties) { /* says nothing */
                xmlUnlinkNode(drv);
                xmlFreeNode(drv);
            }
            if ((src || network) && !child(d, "driver"))
                xmlNewChild(d, NULL, BAD "driver", NULL);
            if ((src || network) && child(d, "driver"))
                set_default(child(d, "driver"), "type", "raw");
            if (attr_is(d, "device", "cdrom") && !child(d, "readonly"))
                xmlNewChild(d, NULL, BAD "readonly", NULL);
        } else if (strcmp((const char *)d->name, "interface") == 0) {
            xmlNode *vp = child(d, "virtualport"), *vlan = child(d, "vlan");
            xmlNode *script = child(d, "script");
            _cleanup_(xmlFreep) xmlChar *sp = script ? xmlGetProp(script, BAD "path") : NULL;
            const char *base = sp ? strrchr((const char *)sp, '/') : NULL;
            base = base ? base + 1 : (const char *)sp;
            /* vif-openvswitch is what <virtualport type='openvswitch'> means. */
            if (!vp && base && strcmp(base, "vif-openvswitch") == 0 && child(d, "source")) {
                vp = xmlNewChild(d, NULL, BAD "virtualport", NULL);
                xmlSetProp(vp, BAD "type", BAD "openvswitch");
            }
            if (vp && attr_is(vp, "type", "openvswitch") && !vlan && !child(d, "script"))
                xmlSetProp(xmlNewChild(d, NULL, BAD "script", NULL), BAD "path",
                           BAD "vif-openvswitch");
            if (vlan) {
                size_t tags = 0;
                for (xmlNode *t = vlan->children; t; t = t->next)
                    tags += t->type == XML_ELEMENT_NODE;
                if (tags > 1)
                    set_default(vlan, "trunk", "yes");
                if (attr_is(vlan, "trunk", "no"))
                    xmlUnsetProp(vlan, BAD "trunk");
            }
        } else if (strcmp((const char *)d->name, "graphics") == 0 && attr_is(d, "type", "spice")) {
            set_default(d, "autoport", "no");
        }
    }
}

/* The notes' "<PATH> has no xl.cfg equivalent" paths, '\n'-separated. */
static char *ignored_paths(const struct xlconv_config *cfg)
{
    struct ferry_buf b = {0};

    ferry_buf_puts(&b, "\n");
    for (size_t i = 0; i < cfg->n_notes; i++) {
        const char *s = strstr(cfg->notes[i], "domain XML: <");
        const char *e = s ? strstr(s, "> has no xl.cfg equivalent") : NULL;
        if (e)
            ferry_buf_printf(&b, "%.*s\n", (int)(e - s - 13), s + 13);
    }
    return ferry_buf_steal(&b);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Element N as one string: name, sorted attributes, trimmed leaf text and
 * sorted children; elements on IGNORED paths left out. Caller frees. */
static char *canon(const xmlNode *n, const char *path, const char *ignored)
{
    struct ferry_buf b = {0};
    char *parts[256];
    size_t np = 0;

    ferry_buf_printf(&b, "<%s", (const char *)n->name);
    for (const xmlAttr *a = n->properties; a && np < ARRAY_SIZE(parts); a = a->next) {
        _cleanup_(xmlFreep) xmlChar *v = xmlGetProp(n, a->name);
        parts[np++] = ferry_strdup_printf(" %s='%s'", (const char *)a->name, (const char *)v);
    }
    qsort(parts, np, sizeof parts[0], cmp_str);
    for (size_t i = 0; i < np; i++) {
        ferry_buf_puts(&b, parts[i]);
        free(parts[i]);
    }
    np = 0;
    if (is_leaf(n)) {
        _cleanup_(xmlFreep) xmlChar *t = xmlNodeGetContent(n);
        const char *s = (const char *)t;
        size_t len = strlen(s);
        while (len && strchr(" \n\t", s[len - 1]))
            len--;
        while (len && strchr(" \n\t", *s))
            s++, len--;
        ferry_buf_printf(&b, ">%.*s", (int)len, s);
    } else {
        ferry_buf_puts(&b, ">");
    }
    for (const xmlNode *c = n->children; c && np < ARRAY_SIZE(parts); c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        _cleanup_free_ char *p = path[0] ? ferry_strdup_printf("%s/%s", path, c->name)
                                         : ferry_strdup((const char *)c->name);
        _cleanup_free_ char *needle = ferry_strdup_printf("\n%s\n", p);
        if (strstr(ignored, needle))
            continue;
        parts[np++] = canon(c, p, ignored);
    }
    qsort(parts, np, sizeof parts[0], cmp_str);
    for (size_t i = 0; i < np; i++) {
        ferry_buf_printf(&b, "\n%s", parts[i]);
        free(parts[i]);
    }
    ferry_buf_printf(&b, "</%s>", (const char *)n->name);
    return ferry_buf_steal(&b);
}

static char *canon_doc(const char *xml, const char *ignored)
{
    _cleanup_(xmlFreeDocp) xmlDoc *doc =
        xmlReadMemory(xml, (int)strlen(xml), "t.xml", NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);

    assert_non_null(doc);
    normalize(xmlDocGetRootElement(doc));
    return canon(xmlDocGetRootElement(doc), "", ignored);
}

/* --- mutation --- */

static uint32_t next(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 8;
}

/* All elements below ROOT in document order (ROOT itself excluded). */
static size_t collect(xmlNode *n, xmlNode **out, size_t max, size_t count)
{
    for (xmlNode *c = n->children; c; c = c->next) {
        if (c->type != XML_ELEMENT_NODE || count >= max)
            continue;
        out[count++] = c;
        count = collect(c, out, max, count);
    }
    return count;
}

/* Applies one mutation to DOC; false when the drawn one did not apply. */
static bool mutate(xmlDoc *doc, const struct dict *d, uint32_t *seed, char *what, size_t wsize)
{
    xmlNode *all[512];
    size_t n = collect(xmlDocGetRootElement(doc), all, ARRAY_SIZE(all), 0);
    xmlNode *e = all[next(seed) % n];

    switch (next(seed) % 5) {
    case 0: { /* an attribute gets another corpus value */
        size_t na = 0;
        for (xmlAttr *a = e->properties; a; a = a->next)
            na++;
        if (!na)
            return false;
        xmlAttr *a = e->properties;
        for (size_t k = next(seed) % na; k; k--)
            a = a->next;
        _cleanup_free_ char *key = ferry_strdup_printf("@%s", (const char *)a->name);
        const char *v = dict_pick(d, key, next(seed));
        if (!v)
            return false;
        snprintf(what, wsize, "<%s %s='%s'>", e->name, a->name, v);
        xmlSetProp(e, a->name, BAD v);
        return true;
    }
    case 1: { /* a leaf's text gets another corpus value */
        const char *v = is_leaf(e) ? dict_pick(d, (const char *)e->name, next(seed)) : NULL;
        if (!v)
            return false;
        snprintf(what, wsize, "<%s>%s", e->name, v);
        xmlNodeSetContent(e, BAD v);
        return true;
    }
    case 2: /* an element goes */
        snprintf(what, wsize, "delete <%s>", e->name);
        xmlUnlinkNode(e);
        xmlFreeNode(e);
        return true;
    case 3: /* an element twice */
        snprintf(what, wsize, "duplicate <%s>", e->name);
        xmlAddNextSibling(e, xmlCopyNode(e, 1));
        return true;
    default: { /* an attribute goes */
        if (!e->properties)
            return false;
        snprintf(what, wsize, "delete <%s %s>", e->name, e->properties->name);
        xmlRemoveProp(e->properties);
        return true;
    }
    }
}

static char *doc_text(xmlDoc *doc)
{
    xmlBuffer *buf = xmlBufferCreate();
    xmlSaveCtxt *save = xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_NO_DECL);

    xmlSaveDoc(save, doc);
    xmlSaveClose(save);
    char *s = ferry_strdup((const char *)xmlBufferContent(buf));
    xmlBufferFree(buf);
    return s;
}

static char *read_corpus(const char *name)
{
    _cleanup_free_ char *path = ferry_strdup_printf("%s/%s.xml", XEN_TEST_DATA_DIR, name);
    struct ferry_error err = {0};
    char *buf = NULL;

    if (ferry_read_file(path, 1u << 20, &buf, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    return buf;
}

static void test_guest_visible_unchanged(void **state)
{
    static struct dict d;
    uint32_t seed = 20;
    unsigned accepted = 0, refused = 0;

    for (size_t i = 0; i < xlconv_test_corpus_len; i++) {
        _cleanup_free_ char *xml = read_corpus(xlconv_test_corpus[i]);
        _cleanup_(xmlFreeDocp) xmlDoc *doc =
            xmlReadMemory(xml, (int)strlen(xml), "c.xml", NULL, XML_PARSE_NOBLANKS);
        dict_walk(&d, xmlDocGetRootElement(doc));
    }
    for (size_t i = 0; i < xlconv_test_corpus_len; i++) {
        _cleanup_free_ char *orig = read_corpus(xlconv_test_corpus[i]);
        for (int round = 0; round < ROUNDS; round++) {
            _cleanup_(xmlFreeDocp) xmlDoc *doc =
                xmlReadMemory(orig, (int)strlen(orig), "c.xml", NULL, XML_PARSE_NOBLANKS);
            char what[2][160] = {"", ""};
            bool any = false;
            for (int k = 0; k < 1 + round % 2; k++)
                any |= mutate(doc, &d, &seed, what[k], sizeof what[k]);
            if (!any)
                continue;
            _cleanup_free_ char *in = doc_text(doc);
            _cleanup_(xlconv_config_freep) struct xlconv_config *cfg = NULL, *back = NULL;
            struct ferry_error err = {0};
            if (xlconv_config_from_xml(in, strlen(in), &cfg, &err) < 0) {
                refused++;
                continue;
            }
            accepted++;
            _cleanup_free_ char *native = xlconv_config_format_xlcfg(cfg);
            if (xlconv_xlcfg_parse(native, strlen(native), "native", &back, &err) < 0)
                fail_msg("%s [%s; %s]: ferry's own xl.cfg is refused: %s\n%s",
                         xlconv_test_corpus[i], what[0], what[1], err.msg, native);
            _cleanup_free_ char *out = xlconv_config_to_xml(back);
            _cleanup_free_ char *ignored = ignored_paths(cfg);
            _cleanup_free_ char *a = canon_doc(in, ignored), *b = canon_doc(out, "\n");
            if (strcmp(a, b) != 0) {
                /* cmocka truncates long messages: the documents go to stderr. */
                fprintf(stderr, "--- in ---\n%s\n--- out ---\n%s\n--- xl.cfg ---\n%s\n", a, b,
                        native);
                fail_msg("%s [%s; %s]: guest-visible change across XML -> xl.cfg -> XML",
                         xlconv_test_corpus[i], what[0], what[1]);
            }
        }
    }
    print_message("xml mutants: %u accepted, %u refused\n", accepted, refused);
    assert_true(accepted > 500 && refused > 500);
    for (size_t i = 0; i < d.n; i++) {
        free(d.e[i].key);
        free(d.e[i].val);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guest_visible_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
