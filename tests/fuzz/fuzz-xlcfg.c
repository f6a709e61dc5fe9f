/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libFuzzer harness: xl.cfg files (xlconv_xlcfg_parse), as ferryctl
 * domxml-from-native and the Xen driver read them. A file that parses must
 * convert to domain XML the converter reads back, and format to an xl.cfg
 * that parses again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "xlconv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct xlconv_config *cfg = NULL, *from_xml = NULL, *again = NULL;
    struct ferry_error err = {0};
    _cleanup_free_ char *xml = NULL, *text = NULL;

    if (xlconv_xlcfg_parse((const char *)data, size, "fuzz.cfg", &cfg, &err) < 0)
        return 0;
    xml = xlconv_config_to_xml(cfg);
    text = xlconv_config_format_xlcfg(cfg);
    if (!xml || !text)
        abort();
    if (xlconv_config_from_xml(xml, strlen(xml), &from_xml, &err) < 0) {
        fprintf(stderr, "XML re-read failed: %s\n%s\n", ferry_error_msg(&err), xml);
        abort();
    }
    if (xlconv_xlcfg_parse(text, strlen(text), "formatted.cfg", &again, &err) < 0) {
        fprintf(stderr, "xl.cfg re-parse failed: %s\n%s\n", ferry_error_msg(&err), text);
        abort();
    }
    xlconv_config_free(again);
    xlconv_config_free(from_xml);
    xlconv_config_free(cfg);
    return 0;
}
