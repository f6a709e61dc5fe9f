/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferry's one hardened libxml2 parser entry, for every XML document a peer
 * or a user hands us (domain definitions, migration cookies, converted Xen
 * domains). It never touches the network, never loads or validates a DTD,
 * never substitutes entities, stops at the first DOCTYPE or entity
 * declaration (before the internal subset is read), and bounds the
 * document's size, element depth and every string in it. Callers choose the
 * limits, never the protections. Library code: it logs nothing. */
#ifndef FERRY_COMMON_XML_H
#define FERRY_COMMON_XML_H

#include <stddef.h>

#include <libxml/tree.h>

#include "error.h"

/* What one kind of document may make us allocate. All must be non-zero. */
struct ferry_xml_limits {
    size_t max_bytes;  /* the whole document */
    int max_depth;     /* element nesting, root = 1 */
    size_t max_string; /* bytes in any attribute value or text node */
};

/* Why a document was refused, for callers that word their own messages. */
enum ferry_xml_fault {
    FERRY_XML_FAULT_NONE = 0,
    FERRY_XML_FAULT_EMPTY,
    FERRY_XML_FAULT_TOO_LARGE,
    FERRY_XML_FAULT_NUL,       /* a NUL byte inside the document */
    FERRY_XML_FAULT_DOCTYPE,   /* a DOCTYPE or entity declaration */
    FERRY_XML_FAULT_MALFORMED, /* libxml2 refused it: see line, message */
    FERRY_XML_FAULT_LIMIT,     /* depth, string length or node type */
    FERRY_XML_FAULT_NOMEM,
};

struct ferry_xml_failure {
    enum ferry_xml_fault fault;
    int line;          /* MALFORMED: the line libxml2 names (0 if none) */
    char message[256]; /* MALFORMED: libxml2's message, without its newline */
};

/* Parses LEN bytes of XML (need not be NUL-terminated; read as UTF-8
 * whatever the declaration says) within LIM. WHAT names the document in
 * messages ("domain XML"), which read "WHAT: ..."; WHY (may be NULL) says
 * which protection refused it. Returns 0 with *RET set (caller frees with
 * xmlFreeDoc()), or -EINVAL/-ENOMEM with *RET untouched. */
int ferry_xml_parse(const char *xml, size_t len, const struct ferry_xml_limits *lim,
                    const char *what, xmlDoc **ret, struct ferry_xml_failure *why,
                    struct ferry_error *err);

#endif
