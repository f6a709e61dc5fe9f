/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* XML for the domain and cookie parsers: common/xml.h's hardened parser
 * (no network, no DTD, no entity declarations, bounded size, depth and
 * string lengths) with the agent's limits, plus small accessors that enforce
 * the same bounds. Internal to the ferry-agent-proto library. */
#ifndef FERRY_AGENT_PROTO_XML_H
#define FERRY_AGENT_PROTO_XML_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/tree.h>

#include "error.h"

#define AGENT_XML_MAX_DEPTH  32   /* element nesting, root = 1 */
#define AGENT_XML_MAX_STRING 4096 /* bytes in any attribute value or text node */

/* Parses LEN bytes (need not be NUL-terminated; must be UTF-8) of at most
 * MAX_LEN bytes into *RET and checks depth and string limits over the whole
 * tree. WHAT names the document in messages ("domain XML"). Errors: -EINVAL
 * with a message naming the problem. Caller frees *ret with xmlFreeDoc(). */
int agent_xml_parse(const char *xml, size_t len, size_t max_len, const char *what, xmlDoc **ret,
                    struct ferry_error *err);

/* True when N is an element called NAME in no namespace. */
bool agent_xml_is(const xmlNode *n, const char *name);

/* The element's name for messages and ignore lists: "prefix:name" when it
 * has a namespace prefix. Borrowed from N or written into BUF. */
const char *agent_xml_name(const xmlNode *n, char *buf, size_t size);

/* Copies the text content of element N (which must have no element
 * children) into BUF (SIZE bytes, so at most SIZE-1 characters), trimmed of
 * surrounding whitespace when TRIM. Refuses control characters other than
 * tab/newline. -EINVAL with "WHAT: ..." messages. */
int agent_xml_text(const xmlNode *n, bool trim, char *buf, size_t size, const char *what,
                   struct ferry_error *err);
/* Same, allocating: caller frees *ret with free(). At most MAX characters. */
int agent_xml_text_dup(const xmlNode *n, bool trim, size_t max, char **ret, const char *what,
                       struct ferry_error *err);

/* Attribute NAME of N into BUF (at most SIZE-1 characters, no control
 * characters). Returns 1 when present, 0 when absent (BUF = ""), or
 * -EINVAL. */
int agent_xml_prop(const xmlNode *n, const char *name, char *buf, size_t size, const char *what,
                   struct ferry_error *err);

/* Formats DOC without an XML declaration, indented. Caller frees with
 * free(); NULL on allocation failure. */
char *agent_xml_format(xmlDoc *doc);

#endif
