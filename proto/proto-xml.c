/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* XML for documents a peer sends us (domain definitions, migration
 * cookies): the agent's limits on common/xml.c's hardened parser, and
 * accessors that enforce the same bounds on what is read out of the tree. */
#include "proto-xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/xmlsave.h>

#include "cleanup.h"
#include "util.h"
#include "xml.h"
#include "xml-cleanup.h"

int agent_xml_parse(const char *xml, size_t len, size_t max_len, const char *what, xmlDoc **ret,
                    struct ferry_error *err)
{
    const struct ferry_xml_limits lim = {
        .max_bytes = max_len,
        .max_depth = AGENT_XML_MAX_DEPTH,
        .max_string = AGENT_XML_MAX_STRING,
    };

    return ferry_xml_parse(xml, len, &lim, what, ret, NULL, err);
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
