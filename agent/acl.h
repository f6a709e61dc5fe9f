/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Authorization: which role a client holds (read-only, migrate, admin), by
 * the key it proved or the DN of its certificate, and which role each
 * control-API method needs (docs/security.md, "Roles"). The file given
 * with ferryd --acl is read once at start. */
#ifndef FERRY_AGENT_ACL_H
#define FERRY_AGENT_ACL_H

#include <stddef.h>

#include "auth.h"
#include "error.h"

enum acl_role {
    ACL_ROLE_NONE = 0,  /* authenticated, but granted nothing */
    ACL_ROLE_READ_ONLY, /* list, state, info, XML, job info, events */
    ACL_ROLE_MIGRATE,   /* + the migration steps, tuning, abort, tunnelled streams */
    ACL_ROLE_ADMIN,     /* + define, undefine, start, destroy, monitor, ... */
};

#define ACL_MAX_RULES 64
#define ACL_LINE_MAX  1100

/* "none", "read-only", "migrate", "admin". */
const char *acl_role_name(enum acl_role role);
/* The role METHOD needs: unknown methods need admin. */
enum acl_role acl_method_role(const char *method);

struct acl;

/* Reads PATH: one rule per line, "ROLE KIND VALUE" with ROLE read-only,
 * migrate or admin, KIND "dn" (VALUE an fnmatch(3) pattern on the client
 * certificate's DN, spaces allowed) or "key" (VALUE a key file, loaded as
 * for --auth-key); blank lines and lines starting with '#' are skipped.
 * Errors name the file and line: -EINVAL, -E2BIG, or the key file's.
 * *ret: free with acl_free(). */
int acl_load(const char *path, struct acl **ret, struct ferry_error *err);
void acl_free(struct acl *acl);

/* A TLS client's role: the first "dn" rule that matches DN; ACL NULL (no
 * --acl) gives admin, no match none. */
enum acl_role acl_role_for_dn(const struct acl *acl, const char *dn);

/* The key a TCP client names by KEY_ID (its fingerprint; NULL: PRIMARY,
 * the agent's --auth-key): PRIMARY or one of ACL's "key" rules. Returns
 * NULL when none has that fingerprint. *ret_role: the rule's role;
 * PRIMARY's is admin unless a rule names the same key. *ret_name: the
 * key's file, for logs (borrowed). */
const struct wire_auth_key *acl_key_find(const struct acl *acl, const struct wire_auth_key *primary,
                                         const char *key_id, enum acl_role *ret_role,
                                         const char **ret_name);

#endif
