/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hardened XML parser entry of xml.h. libxml2 is told not to touch the
 * network, not to load or validate DTDs and not to substitute entities; on
 * top of that a SAX hook stops the parser as soon as a DOCTYPE appears, so
 * entity declarations (the billion-laughs bomb, external entities) are never
 * even read, and a walk over the finished tree enforces depth and string
 * limits and refuses any node type a plain document cannot hold. */
#include "xml.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "cleanup.h"
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

static int check_tree(const xmlNode *n, int depth, const struct ferry_xml_limits *lim,
                      const char *what, struct ferry_error *err)
{
    for (; n; n = n->next) {
        switch (n->type) {
        case XML_ELEMENT_NODE:
            if (depth > lim->max_depth)
                return ferry_error_set(err, EINVAL,
                                       "%s: elements nested deeper than %d levels (at <%s>)", what,
                                       lim->max_depth, (const char *)n->name);
            for (const xmlAttr *a = n->properties; a; a = a->next) {
                for (const xmlNode *t = a->children; t; t = t->next) {
                    if (t->type != XML_TEXT_NODE)
                        return ferry_error_set(err, EINVAL,
                                               "%s: attribute '%s' of <%s> has non-text content",
                                               what, (const char *)a->name, (const char *)n->name);
                    if (t->content && strlen((const char *)t->content) > lim->max_string)
                        return ferry_error_set(
                            err, EINVAL, "%s: attribute '%s' of <%s> is %zu bytes long (limit %zu)",
                            what, (const char *)a->name, (const char *)n->name,
                            strlen((const char *)t->content), lim->max_string);
                }
            }
            {
                int r = check_tree(n->children, depth + 1, lim, what, err);
                if (r < 0)
                    return r;
            }
            break;
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
            if (n->content && strlen((const char *)n->content) > lim->max_string)
                return ferry_error_set(err, EINVAL,
                                       "%s: text in <%s> is %zu bytes long (limit %zu)", what,
                                       n->parent ? (const char *)n->parent->name : "?",
                                       strlen((const char *)n->content), lim->max_string);
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

static int fail(struct ferry_xml_failure *why, enum ferry_xml_fault fault, int r)
{
    if (why)
        why->fault = fault;
    return r;
}

int ferry_xml_parse(const char *xml, size_t len, const struct ferry_xml_limits *lim,
                    const char *what, xmlDoc **ret, struct ferry_xml_failure *why,
                    struct ferry_error *err)
{
    struct guard g = {0};
    xmlParserCtxt *ctxt;
    _cleanup_(xmlFreeDocp) xmlDoc *doc = NULL;
    int r;

    if (why)
        memset(why, 0, sizeof *why);
    if (!xml || len == 0)
        return fail(why, FERRY_XML_FAULT_EMPTY,
                    ferry_error_set(err, EINVAL, "%s: empty document", what));
    if (len > lim->max_bytes)
        return fail(why, FERRY_XML_FAULT_TOO_LARGE,
                    ferry_error_set(err, EINVAL,
                                    "%s: document is %zu bytes, more than the %zu accepted", what,
                                    len, lim->max_bytes));
    if (memchr(xml, '\0', len))
        return fail(why, FERRY_XML_FAULT_NUL,
                    ferry_error_set(err, EINVAL, "%s: document contains a NUL byte", what));
    if (len > (size_t)INT32_MAX)
        return fail(why, FERRY_XML_FAULT_TOO_LARGE,
                    ferry_error_set(err, EINVAL, "%s: document too large", what));

    xmlInitParser();
    ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return fail(why, FERRY_XML_FAULT_NOMEM,
                    ferry_error_set(err, ENOMEM, "%s: out of memory", what));
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
        return fail(why, FERRY_XML_FAULT_DOCTYPE,
                    ferry_error_set(err, EINVAL,
                                    "%s: refused %s: DTDs and entity declarations are not accepted",
                                    what, g.refused));
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
        if (why) {
            why->line = line;
            snprintf(why->message, sizeof why->message, "%s", msg);
        }
        return fail(
            why, FERRY_XML_FAULT_MALFORMED,
            ferry_error_set(err, EINVAL, "%s: invalid XML at line %d: %s", what, line, msg));
    }
    xmlFreeParserCtxt(ctxt);
    if (doc->intSubset || doc->extSubset)
        return fail(why, FERRY_XML_FAULT_DOCTYPE,
                    ferry_error_set(err, EINVAL, "%s: refused a DOCTYPE declaration", what));
    if (!xmlDocGetRootElement(doc))
        return fail(why, FERRY_XML_FAULT_MALFORMED,
                    ferry_error_set(err, EINVAL, "%s: no root element", what));
    r = check_tree(doc->children, 1, lim, what, err);
    if (r < 0)
        return fail(why, FERRY_XML_FAULT_LIMIT, r);
    *ret = TAKE_PTR(doc);
    return 0;
}
