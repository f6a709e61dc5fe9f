/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The domxml-from-native / domxml-to-native verbs for ferryctl. */
#include "xlconv-cli.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "util.h"
#include "xlconv.h"
#include "xlcfg.h"

/* Reads FILE ("-": stdin) whole, at most MAX bytes, NUL-terminated. */
static int read_input(const char *path, size_t max, char **ret, size_t *ret_len,
                      struct ferry_error *err)
{
    if (strcmp(path, "-") != 0)
        return ferry_read_file(path, max, ret, ret_len, err);

    size_t cap = 65536, len = 0;
    _cleanup_free_ char *buf = ferry_calloc(cap + 1, 1);
    for (;;) {
        if (len == cap) {
            if (cap > max)
                return ferry_error_set(err, EFBIG, "stdin: more than %zu bytes", max);
            cap *= 2;
            char *nb = realloc(buf, cap + 1);
            if (!nb)
                abort();
            buf = nb;
        }
        ssize_t n = read(0, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ferry_error_set_errno(err, errno, "stdin");
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > max)
        return ferry_error_set(err, EFBIG, "stdin: more than %zu bytes", max);
    buf[len] = '\0';
    *ret_len = len;
    *ret = TAKE_PTR(buf);
    return 0;
}

int xlconv_cli_domxml(const char *verb, int argc, char **argv, FILE *out, FILE *errout)
{
    bool from = strcmp(verb, "domxml-from-native") == 0;
    struct ferry_error err = {0};
    _cleanup_(xlconv_config_freep) struct xlconv_config *cfg = NULL;
    _cleanup_free_ char *text = NULL, *result = NULL;
    size_t len = 0;
    int r;

    if (!from && strcmp(verb, "domxml-to-native") != 0) {
        fprintf(errout, "ferryctl: unknown verb '%s'\n", verb);
        return 2;
    }
    if (argc != 3) {
        fprintf(errout, "usage: ferryctl %s xen-xl FILE\n", verb);
        return 2;
    }
    argv++; /* past the verb */
    if (strcmp(argv[0], "xen-xl") != 0) {
        fprintf(errout, "ferryctl: %s: unsupported native format '%s' (only xen-xl)\n", verb,
                argv[0]);
        return 2;
    }
    /* Two limits that happen to be equal today. */
    r = read_input(argv[1],
                   from ? XLCONV_XLCFG_MAX_BYTES : XLCONV_XML_MAX, // NOLINT(bugprone-branch-clone)
                   &text, &len, &err);
    if (r >= 0) {
        r = from ? xlconv_xlcfg_parse(text, len, strcmp(argv[1], "-") ? argv[1] : "stdin", &cfg,
                                      &err)
                 : xlconv_config_from_xml(text, len, &cfg, &err);
    }
    if (r < 0) {
        fprintf(errout, "ferryctl: %s: %s\n", verb, ferry_error_msg(&err));
        return 1;
    }
    result = from ? xlconv_config_to_xml(cfg) : xlconv_config_format_xlcfg(cfg);
    fputs(result, out);
    for (size_t i = 0; i < cfg->n_notes; i++)
        fprintf(errout, "ferryctl: note: %s\n", cfg->notes[i]);
    if (fflush(out) != 0) {
        fprintf(errout, "ferryctl: %s: writing the result failed\n", verb);
        return 1;
    }
    return 0;
}
