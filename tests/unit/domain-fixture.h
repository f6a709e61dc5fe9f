/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The domain XML tests' shared pieces: parse a sample document or a
 * string, expect a refusal, build a document around some devices. */
#ifndef FERRY_TEST_DOMAIN_FIXTURE_H
#define FERRY_TEST_DOMAIN_FIXTURE_H

#include <stdbool.h>

#include "domain.h"

/* FILE under tests/unit/data parsed; fails the test if it does not. */
struct domain_def *domain_load(const char *file);
/* XML parsed; fails the test if it does not. */
struct domain_def *domain_parse_ok(const char *xml);
/* XML refused with CODE (negative errno) and a message holding NEEDLE. */
void domain_expect_fail(const char *xml, int code, const char *needle);
/* A minimal domain whose <devices> holds DEVICES (free it). */
char *domain_doc_with_devices(const char *devices);
/* Whether DEF lists PATH among what it ignored. */
bool domain_ignored(const struct domain_def *def, const char *path);

#endif
