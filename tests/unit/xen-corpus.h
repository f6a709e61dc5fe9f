/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The round-trip corpus of the xl.cfg converter: NAME.cfg, NAME.xml and
 * NAME.native.cfg under tests/unit/data/xen/. One list for every test that
 * walks it, so a new file cannot be left out of one of them. */
#ifndef FERRY_TESTS_XEN_CORPUS_H
#define FERRY_TESTS_XEN_CORPUS_H

#include <stddef.h>

extern const char *const xlconv_test_corpus[]; /* NULL-terminated */
extern const size_t xlconv_test_corpus_len;

#endif
