/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ferry must accept what it produces: the converter's XML for every corpus
 * file (tests/unit/data/xen/NAME.cfg) goes through the domain parser that
 * `define` uses (agent/domain.h), and the document the parser keeps
 * (native_xml, what the Xen driver turns into RUN/NAME.xl.cfg) converts
 * back to the same xl.cfg. Guests the QEMU driver cannot run (network disks)
 * must instead be refused naming what is missing, never accepted as
 * something else.
 * HVM guests with a CD-ROM (hvm-vnc, disk-forms, ovmf, spice) are among
 * them: the converter writes libvirt's CD-ROM shape and define takes it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "domain.h"
#include "util.h"
#include "xen-corpus.h"
#include "xlconv.h"

FERRY_DEFINE_CLEANUP_FUNC(struct domain_def, domain_def_free)

/* Corpus files whose guest ferry runs: define must accept them. */
static const char *const accepted[] = {
    "pv-kernel",       "pvh",          "builder-hvm",    "odd-spacing", "comments",
    "multiline-lists", "unknown-keys", "vif-forms",      "escapes",     "vnc-off",
    "duplicates",      "ovmf-path",    "spice-noticket", "ovs-vlan",    "pvh-legacy",
    "hvm-vnc",         "disk-forms",   "ovmf",           "spice",
};

/* Guests no ferry driver can run here, and the refusal define must give. */
static const struct {
    const char *name;
    const char *refusal;
} refused[] = {
    {"rbd", "<disk type='network'> is not supported"},
};

static char *corpus_xml(const char *name, struct xlconv_config **ret_cfg)
{
    _cleanup_free_ char *path = ferry_strdup_printf("%s/%s.cfg", XEN_TEST_DATA_DIR, name);
    _cleanup_free_ char *text = NULL;
    struct ferry_error err = {0};
    size_t len;

    if (ferry_read_file(path, 1u << 20, &text, &len, &err) < 0 ||
        xlconv_xlcfg_parse(text, len, name, ret_cfg, &err) < 0)
        fail_msg("%s: %s", name, ferry_error_msg(&err));
    return xlconv_config_to_xml(*ret_cfg);
}

static int define(const char *xml, struct domain_def **ret, struct ferry_error *err)
{
    return domain_def_parse(xml, strlen(xml), ret, err);
}

static void test_accepted(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(accepted); i++) {
        _cleanup_(xlconv_config_freep) struct xlconv_config *cfg = NULL, *back = NULL;
        _cleanup_(domain_def_freep) struct domain_def *def = NULL;
        _cleanup_free_ char *xml = corpus_xml(accepted[i], &cfg);
        struct ferry_error err = {0};

        if (define(xml, &def, &err) < 0)
            fail_msg("%s: define refused ferry's own output: %s\n%s", accepted[i], err.msg, xml);
        assert_non_null(def->native_xml);
        /* What the Xen driver makes of the kept document is the same
         * xl.cfg, with the identity the agent knows (a uuid may have been
         * generated), as xen-dom.c's cfg_from_def does. */
        if (xlconv_config_from_xml(def->native_xml, strlen(def->native_xml), &back, &err) < 0)
            fail_msg("%s: kept document does not convert: %s", accepted[i], err.msg);
        snprintf(cfg->uuid, sizeof cfg->uuid, "%s", def->uuid);
        snprintf(back->uuid, sizeof back->uuid, "%s", def->uuid);
        _cleanup_free_ char *want = xlconv_config_format_xlcfg(cfg);
        _cleanup_free_ char *got = xlconv_config_format_xlcfg(back);
        assert_string_equal(got, want);
    }
}

static void test_refused(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
        _cleanup_(xlconv_config_freep) struct xlconv_config *cfg = NULL;
        _cleanup_(domain_def_freep) struct domain_def *def = NULL;
        _cleanup_free_ char *xml = corpus_xml(refused[i].name, &cfg);
        struct ferry_error err = {0};

        assert_int_equal(define(xml, &def, &err), -EOPNOTSUPP);
        if (!strstr(err.msg, refused[i].refusal))
            fail_msg("%s: '%s' lacks '%s'", refused[i].name, err.msg, refused[i].refusal);
    }
}

/* Every corpus file is in exactly one list, so a new one cannot be
 * forgotten. */
static void test_corpus_classified(void **state)
{
    for (size_t i = 0; xlconv_test_corpus[i]; i++) {
        const char *n = xlconv_test_corpus[i];
        unsigned found = 0;
        for (size_t j = 0; j < ARRAY_SIZE(accepted); j++)
            found += strcmp(n, accepted[j]) == 0;
        for (size_t j = 0; j < ARRAY_SIZE(refused); j++)
            found += strcmp(n, refused[j].name) == 0;
        if (found != 1)
            fail_msg("corpus file '%s' is in %u lists of test-xlconv-define.c", n, found);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepted),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_corpus_classified),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
