/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Hardened XML parsing for documents a peer sends us (domain definitions,
 * migration cookies). libxml2 is told not to touch the network, not to load
 * or validate DTDs and not to substitute entities; on top of that a SAX hook
 * stops the parser as soon as a DOCTYPE appears, so entity declarations (the
 * billion-laughs bomb, external entities) are never even read. */
#include "proto-xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlsave.h>

#include "cleanup.h"
#include "util.h"
#include "xml-cleanup.h"

struct guard {
    const char *refused; /* what made us stop the parser, or NULL */
};

/* libxml2 calls this when it has read "<!DOCTYPE name [ids]", before the
 * internal subset: stop right there. */
static void refuse_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                           const xmlChar *system_id)
{
    xmlParserCtxt *ctxt = ctx;
    struct guard *g = ctxt->_private;

    if (!g->refused)
        g->refused = "a DOCTYPE declaration";
    xmlStopParser(ctxt);
}

static void refuse_entity(void *ctx, const xmlChar *name, int type, const xmlChar *public_id,
                          const xmlChar *system_id, xmlChar *content)
{
    xmlParserCtxt *ctxt = ctx;
    struct guard *g = ctxt->_private;

    if (!g->refused)
        g->refused = "an entity declaration";
    xmlStopParser(ctxt);
}

static int check_tree(const xmlNode *n, int depth, const char *what, struct ferry_error *err)
{
    for (; n; n = n->next) {
        switch (n->type) {
        case XML_ELEMENT_NODE:
            if (depth > AGENT_XML_MAX_DEPTH)
                return ferry_error_set(err, EINVAL,
                                       "%s: elements nested deeper than %d levels (at <%s>)", what,
                                       AGENT_XML_MAX_DEPTH, (const char *)n->name);
            for (const xmlAttr *a = n->properties; a; a = a->next) {
                for (const xmlNode *t = a->children; t; t = t->next) {
                    if (t->type != XML_TEXT_NODE)
                        return ferry_error_set(err, EINVAL,
                                               "%s: attribute '%s' of <%s> has non-text content",
                                               what, (const char *)a->name, (const char *)n->name);
                    if (t->content && strlen((const char *)t->content) > AGENT_XML_MAX_STRING)
                        return ferry_error_set(
                            err, EINVAL, "%s: attribute '%s' of <%s> is %zu bytes long (limit %d)",
                            what, (const char *)a->name, (const char *)n->name,
                            strlen((const char *)t->content), AGENT_XML_MAX_STRING);
                }
            }
            {
                int r = check_tree(n->children, depth + 1, what, err);
                if (r < 0)
                    return r;
            }
            break;
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
            if (n->content && strlen((const char *)n->content) > AGENT_XML_MAX_STRING)
                return ferry_error_set(err, EINVAL, "%s: text in <%s> is %zu bytes long (limit %d)",
                                       what, n->parent ? (const char *)n->parent->name : "?",
                                       strlen((const char *)n->content), AGENT_XML_MAX_STRING);
            break;
        case XML_COMMENT_NODE:
        case XML_PI_NODE:
            break;
        default:
            /* Entity references, DTD nodes, XInclude markers: none can
             * appear once the DOCTYPE is refused, but never trust that. */
            return ferry_error_set(err, EINVAL, "%s: unexpected XML node type %d", what,
                                   (int)n->type);
        }
    }
    return 0;
}

int agent_xml_parse(const char *xml, size_t len, size_t max_len, const char *what, xmlDoc **ret,
                    struct ferry_error *err)
{
    struct guard g = {0};
    xmlParserCtxt *ctxt;
    _cleanup_(xmlFreeDocp) xmlDoc *doc = NULL;
    xmlNode *root;
    int r;

    if (!xml || len == 0)
        return ferry_error_set(err, EINVAL, "%s: empty document", what);
    if (len > max_len)
        return ferry_error_set(err, EINVAL, "%s: document is %zu bytes, more than the %zu accepted",
                               what, len, max_len);
    if (memchr(xml, '\0', len))
        return ferry_error_set(err, EINVAL, "%s: document contains a NUL byte", what);
    if (len > (size_t)INT32_MAX)
        return ferry_error_set(err, EINVAL, "%s: document too large", what);

    xmlInitParser();
    ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return ferry_error_set(err, ENOMEM, "%s: out of memory", what);
    ctxt->_private = &g;
    ctxt->sax->internalSubset = refuse_doctype;
    ctxt->sax->entityDecl = refuse_entity;
    /* XML_PARSE_NOERROR/NOWARNING keep libxml2 off stderr; the message
     * comes from the context. Deliberately absent: XML_PARSE_NOENT (substitutes entities),
     * XML_PARSE_DTDLOAD/DTDATTR/DTDVALID (fetch DTDs), XML_PARSE_HUGE
     * (lifts libxml2's own size and depth limits), XML_PARSE_XINCLUDE. */
    doc = xmlCtxtReadMemory(ctxt, xml, (int)len, "ferry.xml", "UTF-8",
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                XML_PARSE_NOCDATA | XML_PARSE_NOXINCNODE);
    if (g.refused) {
        xmlFreeParserCtxt(ctxt);
        return ferry_error_set(err, EINVAL,
                               "%s: refused %s: DTDs and entity declarations are not accepted",
                               what, g.refused);
    }
    if (!doc || !ctxt->wellFormed) {
        const xmlError *e = xmlCtxtGetLastError(ctxt);
        char msg[256] = "not well-formed";
        int line = e ? e->line : 0;

        if (e && e->message) {
            size_t n;
            snprintf(msg, sizeof msg, "%s", e->message);
            n = strlen(msg);
            while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
                msg[--n] = '\0';
        }
        xmlFreeParserCtxt(ctxt);
        return ferry_error_set(err, EINVAL, "%s: invalid XML at line %d: %s", what, line, msg);
    }
    xmlFreeParserCtxt(ctxt);
    if (doc->intSubset || doc->extSubset)
        return ferry_error_set(err, EINVAL, "%s: refused a DOCTYPE declaration", what);
    root = xmlDocGetRootElement(doc);
    if (!root)
        return ferry_error_set(err, EINVAL, "%s: no root element", what);
    r = check_tree(doc->children, 1, what, err);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(doc);
    return 0;
}

bool agent_xml_is(const xmlNode *n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && !n->ns && strcmp((const char *)n->name, name) == 0;
}

const char *agent_xml_name(const xmlNode *n, char *buf, size_t size)
{
    if (n->ns && n->ns->prefix) {
        snprintf(buf, size, "%s:%s", (const char *)n->ns->prefix, (const char *)n->name);
        return buf;
    }
    return (const char *)n->name;
}

static int check_chars(const char *s, bool allow_newlines, const char *what,
                       struct ferry_error *err)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == 0x7f || (*p < 0x20 && !(allow_newlines && (*p == '\n' || *p == '\t'))))
            return ferry_error_set(err, EINVAL, "%s: control character 0x%02x not allowed", what,
                                   *p);
    }
    return 0;
}

/* Text of N, trimmed when asked. Returns a pointer into *owned (xmlFree). */
static int get_text(const xmlNode *n, bool trim, xmlChar **owned, const char **ret_s,
                    size_t *ret_len, const char *what, struct ferry_error *err)
{
    const char *s;
    size_t len;

    for (const xmlNode *c = n->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE)
            return ferry_error_set(err, EINVAL, "%s: <%s> must contain only text, found <%s>", what,
                                   (const char *)n->name, (const char *)c->name);
    }
    *owned = xmlNodeGetContent(n);
    s = *owned ? (const char *)*owned : "";
    len = strlen(s);
    if (trim) {
        while (len > 0 && strchr(" \t\r\n", s[len - 1]))
            len--;
        while (len > 0 && strchr(" \t\r\n", *s)) {
            s++;
            len--;
        }
    }
    *ret_s = s;
    *ret_len = len;
    return 0;
}

int agent_xml_text(const xmlNode *n, bool trim, char *buf, size_t size, const char *what,
                   struct ferry_error *err)
{
    _cleanup_(xmlFreep) xmlChar *owned = NULL;
    const char *s;
    size_t len;
    int r;

    r = get_text(n, trim, &owned, &s, &len, what, err);
    if (r < 0)
        return r;
    if (len >= size)
        return ferry_error_set(err, EINVAL, "%s: %zu characters, more than the %zu accepted", what,
                               len, size - 1);
    memcpy(buf, s, len);
    buf[len] = '\0';
    return check_chars(buf, false, what, err);
}

int agent_xml_text_dup(const xmlNode *n, bool trim, size_t max, char **ret, const char *what,
                       struct ferry_error *err)
{
    _cleanup_(xmlFreep) xmlChar *owned = NULL;
    _cleanup_free_ char *copy = NULL;
    const char *s;
    size_t len;
    int r;

    r = get_text(n, trim, &owned, &s, &len, what, err);
    if (r < 0)
        return r;
    if (len > max)
        return ferry_error_set(err, EINVAL, "%s: %zu characters, more than the %zu accepted", what,
                               len, max);
    copy = strndup(s, len);
    if (!copy)
        return ferry_error_set(err, ENOMEM, "%s: out of memory", what);
    r = check_chars(copy, true, what, err);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(copy);
    return 0;
}

int agent_xml_prop(const xmlNode *n, const char *name, char *buf, size_t size, const char *what,
                   struct ferry_error *err)
{
    _cleanup_(xmlFreep) xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
    size_t len;

    buf[0] = '\0';
    if (!v)
        return 0;
    len = strlen((const char *)v);
    if (len >= size)
        return ferry_error_set(err, EINVAL,
                               "%s: attribute '%s' is %zu characters, more than the %zu accepted",
                               what, name, len, size - 1);
    memcpy(buf, v, len + 1);
    if (check_chars(buf, false, what, err) < 0)
        return -EINVAL;
    return 1;
}

char *agent_xml_format(xmlDoc *doc)
{
    xmlBuffer *buf = xmlBufferCreate();
    xmlSaveCtxt *save;
    char *out = NULL;

    if (!buf)
        return NULL;
    save = xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_FORMAT | XML_SAVE_NO_DECL);
    if (save) {
        xmlSaveDoc(save, doc);
        if (xmlSaveClose(save) >= 0)
            out = strdup((const char *)xmlBufferContent(buf));
    }
    xmlBufferFree(buf);
    return out;
}
