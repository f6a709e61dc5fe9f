/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferryctl's domxml-from-native / domxml-to-native xen-xl verbs, ready made:
 * read the file, convert, print the result and the notes. Kept apart from
 * xlconv.h, whose conversion API does no I/O. */
#ifndef FERRY_XEN_XL_XLCONV_CLI_H
#define FERRY_XEN_XL_XLCONV_CLI_H

#include <stdio.h>

/* VERB is "domxml-from-native" or "domxml-to-native"; ARGV is as ferryctl
 * passes it: ARGV[0] the verb, then FORMAT ("xen-xl") and FILE ("-" reads
 * stdin), at most XLCONV_XLCFG_MAX_BYTES / XLCONV_XML_MAX bytes. Writes the
 * converted document to OUT and one "ferryctl: note: ..." line per note, or
 * "ferryctl: VERB: ERROR", to ERROUT. Returns the process exit status: 0,
 * 1 on a failed conversion, 2 on a usage error (as ferryctl does). */
int xlconv_cli_domxml(const char *verb, int argc, char **argv, FILE *out, FILE *errout);

#endif
