/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer harness: domain XML as ferryd takes it from domain.define and
 * from a migration's Prepare (domain_def_parse). A document that parses
 * must format to one that parses again into an equal definition, the
 * promise dumpxml/define round trips rest on. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "domain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct domain_def *def = NULL, *again = NULL, *copy = NULL;
    struct ferry_error err = {0};
    _cleanup_free_ char *xml = NULL;

    if (domain_def_parse((const char *)data, size, &def, &err) < 0)
        return 0;
    xml = domain_def_format(def);
    if (!xml)
        abort();
    if (domain_def_parse(xml, strlen(xml), &again, &err) < 0) {
        fprintf(stderr, "re-parse failed: %s\n%s\n", ferry_error_msg(&err), xml);
        abort();
    }
    if (!domain_def_equal(def, again)) {
        fprintf(stderr, "round trip changed the definition:\n%s\n", xml);
        abort();
    }
    copy = domain_def_copy(def);
    if (!copy || !domain_def_equal(def, copy))
        abort();
    domain_def_free(copy);
    domain_def_free(again);
    domain_def_free(def);
    return 0;
}
