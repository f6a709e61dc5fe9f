/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* State and helpers shared by the domain XML parser's files (domain.c: the
 * document, <os> and disks; domain-nic.c: network interfaces). Internal
 * to the ferry-agent-proto library. */
#ifndef FERRY_AGENT_DOMAIN_PRIV_H
#define FERRY_AGENT_DOMAIN_PRIV_H

#include <stdbool.h>

#include <libxml/tree.h>

#include "domain.h"
#include "error.h"

#define DOMAIN_WHAT "domain XML"

struct parse_state {
    struct domain_def *def;
    struct ferry_error *err;
    bool seen_name, seen_uuid, seen_memory, seen_vcpu, seen_os, seen_devices, seen_description;
    bool xen; /* <domain type='xen'>: Xen's guest types, buses and backends too */
};

/* Lists PARENT/N's name in def->ignored (unless Xen keeps the document). */
void domain_parse_ignore(struct parse_state *st, const char *parent, const xmlNode *n);
/* Single-valued elements: a second one is ambiguous, refused naming NAME. */
int domain_parse_once(struct parse_state *st, bool *seen, const char *name);
/* PARENT's first child element NAME, or NULL. Borrowed. */
const xmlNode *domain_xml_child(const xmlNode *parent, const char *name);

/* <interface>: appends one NIC to st->def. */
int domain_parse_interface(struct parse_state *st, const xmlNode *n);
/* After the whole document: MACs generated for NICs that had none. */
void domain_nics_complete(struct domain_def *def);

#endif
