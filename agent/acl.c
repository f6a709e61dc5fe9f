/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Roles per key and per certificate DN, and the role each method needs
 * (agent/acl.h). Rules are read once and never change afterwards, so the
 * connection threads read them without a lock. */
#include "acl.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "tls.h"
#include "util.h"

struct acl_rule {
    enum acl_role role;
    bool is_key;
    char *value;               /* DN pattern or key file path */
    struct wire_auth_key *key; /* is_key */
};

struct acl {
    size_t n;
    struct acl_rule rules[ACL_MAX_RULES];
};

static const char *const role_names[] = {"none", "read-only", "migrate", "admin"};

const char *acl_role_name(enum acl_role role)
{
    return role <= ACL_ROLE_ADMIN ? role_names[role] : "?";
}

/* Everything not listed needs admin: a method added later is closed until
 * someone decides who may call it. */
static const struct {
    const char *method;
    enum acl_role role;
} method_roles[] = {
    {"domain.list", ACL_ROLE_READ_ONLY},
    {"domain.state", ACL_ROLE_READ_ONLY},
    {"domain.xml", ACL_ROLE_READ_ONLY},
    {"domain.info", ACL_ROLE_READ_ONLY},
    {"domain.blklist", ACL_ROLE_READ_ONLY},
    {"vol.list", ACL_ROLE_READ_ONLY},
    {"host.capabilities", ACL_ROLE_READ_ONLY},
    {"host.info", ACL_ROLE_READ_ONLY},
    {"events.subscribe", ACL_ROLE_READ_ONLY},
    {"job.info", ACL_ROLE_READ_ONLY},
    {"migrate.get_max_speed", ACL_ROLE_READ_ONLY},
    {"migrate.get_max_downtime", ACL_ROLE_READ_ONLY},
    {"migrate.get_compression_cache", ACL_ROLE_READ_ONLY},
    {"migrate.begin", ACL_ROLE_MIGRATE},
    {"migrate.prepare", ACL_ROLE_MIGRATE},
    {"migrate.perform", ACL_ROLE_MIGRATE},
    {"migrate.finish", ACL_ROLE_MIGRATE},
    {"migrate.confirm", ACL_ROLE_MIGRATE},
    {"migrate.p2p", ACL_ROLE_MIGRATE},
    {"migrate.start_postcopy", ACL_ROLE_MIGRATE},
    {"migrate.set_max_speed", ACL_ROLE_MIGRATE},
    {"migrate.set_max_downtime", ACL_ROLE_MIGRATE},
    {"migrate.set_compression_cache", ACL_ROLE_MIGRATE},
    {"job.abort", ACL_ROLE_MIGRATE},
};

enum acl_role acl_method_role(const char *method)
{
    for (size_t i = 0; i < ARRAY_SIZE(method_roles); i++)
        if (strcmp(method_roles[i].method, method) == 0)
            return method_roles[i].role;
    return ACL_ROLE_ADMIN;
}

void acl_free(struct acl *acl)
{
    if (!acl)
        return;
    for (size_t i = 0; i < acl->n; i++) {
        free(acl->rules[i].value);
        wire_auth_key_free(acl->rules[i].key);
    }
    free(acl);
}

static char *next_token(char **p)
{
    char *s = *p + strspn(*p, " \t"), *e;

    if (!*s)
        return NULL;
    e = s + strcspn(s, " \t");
    *p = *e ? e + 1 : e;
    *e = '\0';
    return s;
}

static int parse_line(struct acl *acl, char *line, const char *path, unsigned lineno,
                      struct ferry_error *err)
{
    struct acl_rule *rule;
    char *p = line, *role, *kind, *value;
    size_t len;
    int r;

    line[strcspn(line, "\r\n")] = '\0';
    p += strspn(p, " \t");
    if (!*p || *p == '#')
        return 0;
    role = next_token(&p);
    kind = next_token(&p);
    value = p + strspn(p, " \t");
    len = strlen(value);
    while (len && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        value[--len] = '\0';
    if (!kind || !*value)
        return ferry_error_set(err, EINVAL, "%s:%u: expected 'ROLE dn PATTERN' or 'ROLE key FILE'",
                               path, lineno);
    if (acl->n == ACL_MAX_RULES)
        return ferry_error_set(err, E2BIG, "%s:%u: more than %d rules", path, lineno,
                               ACL_MAX_RULES);
    rule = &acl->rules[acl->n];
    memset(rule, 0, sizeof *rule);
    if (strcmp(role, "read-only") == 0)
        rule->role = ACL_ROLE_READ_ONLY;
    else if (strcmp(role, "migrate") == 0)
        rule->role = ACL_ROLE_MIGRATE;
    else if (strcmp(role, "admin") == 0)
        rule->role = ACL_ROLE_ADMIN;
    else
        return ferry_error_set(err, EINVAL,
                               "%s:%u: unknown role '%s' (read-only, migrate or admin)", path,
                               lineno, role);
    if (strcmp(kind, "dn") == 0) {
        if (len >= TLS_MAX_DN)
            return ferry_error_set(err, E2BIG, "%s:%u: DN pattern longer than %d bytes", path,
                                   lineno, TLS_MAX_DN - 1);
    } else if (strcmp(kind, "key") == 0) {
        rule->is_key = true;
        r = wire_auth_key_load(value, &rule->key, err);
        if (r < 0) {
            ferry_error_prefix(err, "%s:%u", path, lineno);
            return r;
        }
    } else {
        return ferry_error_set(err, EINVAL, "%s:%u: unknown kind '%s' (dn or key)", path, lineno,
                               kind);
    }
    rule->value = ferry_strdup(value);
    acl->n++;
    return 0;
}

int acl_load(const char *path, struct acl **ret, struct ferry_error *err)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    struct acl *acl;
    char line[ACL_LINE_MAX];
    unsigned lineno = 0;
    int r;

    if (!f)
        return ferry_error_set_errno(err, errno, "--acl '%s'", path);
    acl = ferry_calloc(1, sizeof *acl);
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            acl_free(acl);
            return ferry_error_set(err, E2BIG, "%s:%u: line longer than %d bytes", path, lineno,
                                   ACL_LINE_MAX - 2);
        }
        if ((r = parse_line(acl, line, path, lineno, err)) < 0) {
            acl_free(acl);
            return r;
        }
    }
    *ret = acl;
    return 0;
}

enum acl_role acl_role_for_dn(const struct acl *acl, const char *dn)
{
    if (!acl)
        return ACL_ROLE_ADMIN;
    for (size_t i = 0; i < acl->n; i++)
        if (!acl->rules[i].is_key && dn && fnmatch(acl->rules[i].value, dn, 0) == 0)
            return acl->rules[i].role;
    return ACL_ROLE_NONE;
}

const struct wire_auth_key *acl_key_find(const struct acl *acl, const struct wire_auth_key *primary,
                                         const char *key_id, enum acl_role *ret_role,
                                         const char **ret_name)
{
    const char *want = key_id ? key_id : primary ? primary->fingerprint : NULL;

    if (!want)
        return NULL;
    for (size_t i = 0; acl && i < acl->n; i++) {
        const struct acl_rule *rule = &acl->rules[i];
        if (rule->is_key && strcmp(rule->key->fingerprint, want) == 0) {
            *ret_role = rule->role;
            *ret_name = rule->value;
            return rule->key;
        }
    }
    if (primary && strcmp(primary->fingerprint, want) == 0) {
        *ret_role = ACL_ROLE_ADMIN;
        *ret_name = "--auth-key";
        return primary;
    }
    return NULL;
}
