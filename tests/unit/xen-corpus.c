/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The corpus list of xen-corpus.h. */
#include "xen-corpus.h"

const char *const xlconv_test_corpus[] = {
    "pv-kernel",       "pvh",          "hvm-vnc",    "builder-hvm", "odd-spacing", "comments",
    "multiline-lists", "unknown-keys", "disk-forms", "vif-forms",   "escapes",     "vnc-off",
    "duplicates",      "rbd",          "ovmf",       "ovmf-path",   "spice",       "spice-noticket",
    "ovs-vlan",        "pvh-legacy",   NULL,
};
const size_t xlconv_test_corpus_len = sizeof xlconv_test_corpus / sizeof xlconv_test_corpus[0] - 1;
