/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer harness: migration cookies as a peer sends them
 * (cookie_parse). A cookie that parses must format to one that parses
 * again with the same NBD disks and features. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "cookie.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* struct cookie is large (fixed arrays): off the stack. */
    static struct cookie c, again;
    struct ferry_error err = {0};
    _cleanup_free_ char *xml = NULL;

    if (cookie_parse((const char *)data, size, &c, &err) < 0)
        return 0;
    xml = cookie_format(&c);
    if (!xml)
        abort();
    if (cookie_parse(xml, strlen(xml), &again, &err) < 0) {
        fprintf(stderr, "re-parse failed: %s\n%s\n", ferry_error_msg(&err), xml);
        abort();
    }
    if (again.n_nbd_disks != c.n_nbd_disks || again.nbd_port != c.nbd_port ||
        strcmp(again.nbd_host, c.nbd_host) != 0 || again.persistent != c.persistent)
        abort();
    return 0;
}
