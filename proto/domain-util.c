/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every part of the domain parser shares (domain-priv.h): the list of
 * ignored elements, the once-only and attribute checks, child lookup. The
 * lowest file of the parser: domain.c and each domain-*.c use it. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup.h"
#include "domain-priv.h"
#include "proto-xml.h"
#include "util.h"
#include "xml-cleanup.h"

#define WHAT DOMAIN_WHAT

void domain_add_ignored(struct domain_def *def, const char *path)
{
    for (size_t i = 0; i < def->n_ignored; i++) {
        if (strcmp(def->ignored[i], path) == 0)
            return;
    }
    /* Bounded: a document listing more kinds of ignored elements than this
     * is still accepted, the list just stops growing. */
    if (def->n_ignored < DOMAIN_MAX_IGNORED)
        def->ignored[def->n_ignored++] = ferry_strdup(path);
}

void domain_parse_ignore(struct parse_state *st, const char *parent, const xmlNode *n)
{
    char nbuf[128];
    const char *name = agent_xml_name(n, nbuf, sizeof nbuf);
    _cleanup_free_ char *path =
        parent ? ferry_strdup_printf("%s/%s", parent, name) : ferry_strdup(name);

    if (st->xen)
        return; /* kept in native_xml for the Xen driver */
    domain_add_ignored(st->def, path);
}

int domain_parse_once(struct parse_state *st, bool *seen, const char *name)
{
    if (*seen)
        return ferry_error_set(st->err, EINVAL, WHAT ": <%s> appears more than once", name);
    *seen = true;
    return 0;
}

int domain_check_path(struct ferry_error *err, const char *path, const char *what)
{
    if (path[0] != '/')
        return ferry_error_set(err, EINVAL, "%s: path '%s' is not absolute", what, path);
    return 0;
}

bool domain_in_list(const char *const *list, const char *s)
{
    for (; list && *list; list++) {
        if (strcmp(*list, s) == 0)
            return true;
    }
    return false;
}

int domain_check_attrs(struct parse_state *st, const xmlNode *n, const char *path,
                       const char *const *known, const char *const *host_side, const char *what)
{
    if (st->xen)
        return 0; /* the Xen driver reads the kept document */
    for (const xmlAttr *a = n->properties; a; a = a->next) {
        const char *name = (const char *)a->name;

        if (a->ns || domain_in_list(known, name))
            continue; /* namespaced attributes belong to other tools */
        if (domain_in_list(host_side, name)) {
            _cleanup_free_ char *p = ferry_strdup_printf("%s@%s", path, name);
            domain_add_ignored(st->def, p);
            continue;
        }
        return ferry_error_set(st->err, EOPNOTSUPP, "%s: attribute '%s' of <%s> is not supported",
                               what, name, (const char *)n->name);
    }
    return 0;
}

const xmlNode *domain_xml_child(const xmlNode *parent, const char *name)
{
    for (const xmlNode *n = parent->children; n; n = n->next) {
        if (agent_xml_is(n, name))
            return n;
    }
    return NULL;
}

/* A name as QEMU spells machine types and CPU models: "pc-q35-7.2",
 * "Skylake-Server-v4". */
bool domain_qemu_name_valid(const char *m)
{
    if (!m[0])
        return false;
    for (; *m; m++) {
        if (!((*m >= 'a' && *m <= 'z') || (*m >= 'A' && *m <= 'Z') || (*m >= '0' && *m <= '9') ||
              *m == '-' || *m == '.' || *m == '_'))
            return false;
    }
    return true;
}
