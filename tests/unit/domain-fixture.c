/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The domain XML tests' shared pieces (domain-fixture.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "domain-fixture.h"
#include "util.h"

struct domain_def *domain_load(const char *file)
{
    _cleanup_free_ char *path = ferry_strdup_printf("%s/%s", FERRY_TEST_DATA, file);
    _cleanup_free_ char *xml = NULL;
    struct domain_def *def = NULL;
    struct ferry_error err = {0};
    size_t len;

    assert_int_equal(ferry_read_file(path, DOMAIN_XML_MAX, &xml, &len, &err), 0);
    if (domain_def_parse(xml, len, &def, &err) < 0)
        fail_msg("%s: %s", file, err.msg);
    return def;
}

struct domain_def *domain_parse_ok(const char *xml)
{
    struct domain_def *def = NULL;
    struct ferry_error err = {0};

    if (domain_def_parse(xml, strlen(xml), &def, &err) < 0)
        fail_msg("unexpected failure: %s", err.msg);
    return def;
}

void domain_expect_fail(const char *xml, int code, const char *needle)
{
    struct domain_def *def = NULL;
    struct ferry_error err = {0};

    assert_int_equal(domain_def_parse(xml, strlen(xml), &def, &err), code);
    assert_null(def);
    assert_int_equal(err.code, -code);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

char *domain_doc_with_devices(const char *devices)
{
    return ferry_strdup_printf("<domain><name>d</name><memory>1024</memory>"
                               "<devices>%s</devices></domain>",
                               devices);
}

bool domain_ignored(const struct domain_def *def, const char *path)
{
    for (size_t i = 0; i < def->n_ignored; i++) {
        if (strcmp(def->ignored[i], path) == 0)
            return true;
    }
    return false;
}
