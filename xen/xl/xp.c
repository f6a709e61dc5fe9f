/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The XML reading helpers of the converter's XML side (xmlparse.h):
 * element names, properties, text, counts, once-only children, the notes
 * of what is ignored. Below xmlparse.c and xmldev.c, which both use them. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "cleanup.h"
#include "internal.h"
#include "util.h"
#include "xlcfg.h"
#include "xlconv.h"
#include "xml-cleanup.h"
#include "xmlparse.h"

bool xlconv_xp_is(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* Attribute NAME of N (no namespace), or NULL. Caller frees with free(). */
char *xlconv_xp_prop(const xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetNoNsProp(n, BADCAST name);
    char *s;

    if (!v)
        return NULL;
    s = ferry_strdup((const char *)v);
    xmlFree(v);
    return s;
}

/* Text content of N, bounded. Caller frees *ret. */
int xlconv_xp_text(const struct xparse *xp, const xmlNode *n, const char *what, char **ret)
{
    xmlChar *v = xmlNodeGetContent(n);

    if (!v)
        return ferry_error_set(xp->err, ENOMEM, "domain XML: <%s>: no memory", what);
    if (xmlStrlen(v) > (int)XLCONV_XLCFG_MAX_STRING) {
        xmlFree(v);
        return ferry_error_set(xp->err, EINVAL, "domain XML: <%s> longer than %u bytes", what,
                               XLCONV_XLCFG_MAX_STRING);
    }
    free(*ret);
    *ret = ferry_strdup((const char *)v);
    xmlFree(v);
    return 0;
}

void xlconv_xp_note_ignored(struct xparse *xp, const char *parent, const xmlNode *n)
{
    xlconv_internal_note(xp->cfg, ferry_strdup_printf("domain XML: <%s%s%s> has no xl.cfg "
                                                      "equivalent; not converted",
                                                      parent ? parent : "", parent ? "/" : "",
                                                      (const char *)n->name));
}

int xlconv_xp_uint(const struct xparse *xp, const char *what, const char *s, uint64_t max,
                   uint64_t *ret)
{
    uint64_t v;

    if (!s || ferry_parse_u64(s, &v) < 0 || v > max)
        return ferry_error_set(xp->err, EINVAL,
                               "domain XML: %s: '%s' is not an integer in 0..%" PRIu64, what,
                               s ? s : "", max);
    *ret = v;
    return 0;
}

int xlconv_xp_unique(const struct xparse *xp, const xmlNode *parent, const char *const *names,
                     const char *where)
{
    for (size_t i = 0; names[i]; i++) {
        unsigned seen = 0;
        for (const xmlNode *c = parent->children; c; c = c->next)
            seen += c->type == XML_ELEMENT_NODE && !c->ns && xlconv_xp_is(c, names[i]);
        if (seen > 1)
            return ferry_error_set(xp->err, EINVAL, "domain XML: <%s><%s> given %u times", where,
                                   names[i], seen);
    }
    return 0;
}
