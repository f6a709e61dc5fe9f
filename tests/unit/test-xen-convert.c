/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Round trips of the sample xl.cfg files in tests/unit/data/xen/: each NAME.cfg
 * must convert to exactly NAME.xml, that XML back to exactly NAME.native.cfg,
 * and NAME.native.cfg to the same XML again (cfg -> XML -> cfg -> XML is
 * stable). FERRY_XEN_REGENERATE=1 rewrites the expected files instead; review
 * the diff before committing them. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "util.h"
#include "xendrv.h"

static const char *const samples[] = {
    "pv-kernel",       "pvh",          "hvm-vnc",    "builder-hvm", "odd-spacing", "comments",
    "multiline-lists", "unknown-keys", "disk-forms", "vif-forms",   "escapes",     "vnc-off",
    "duplicates",
};

static char *read_data(const char *name, const char *ext)
{
    _cleanup_free_ char *path = ferry_strdup_printf("%s/%s%s", XEN_TEST_DATA_DIR, name, ext);
    char *buf = NULL;
    size_t len;
    struct ferry_error err = {0};

    if (ferry_read_file(path, 1u << 20, &buf, &len, &err) < 0)
        fail_msg("%s", ferry_error_msg(&err));
    return buf;
}

static bool regenerate(void)
{
    const char *e = getenv("FERRY_XEN_REGENERATE");
    return e && strcmp(e, "1") == 0;
}

static void write_data(const char *name, const char *ext, const char *text)
{
    _cleanup_free_ char *path = ferry_strdup_printf("%s/%s%s", XEN_TEST_DATA_DIR, name, ext);
    struct ferry_error err = {0};

    assert_int_equal(ferry_write_file_atomic(path, text, strlen(text), 0644, &err), 0);
}

static char *cfg_to_xml(const char *text, const char *source)
{
    _cleanup_(xendrv_config_freep) struct xendrv_config *cfg = NULL;
    struct ferry_error err = {0};

    if (xendrv_xlcfg_parse(text, strlen(text), source, &cfg, &err) < 0)
        fail_msg("%s: %s", source, ferry_error_msg(&err));
    return xendrv_config_to_xml(cfg);
}

static char *xml_to_cfg(const char *xml, const char *source)
{
    _cleanup_(xendrv_config_freep) struct xendrv_config *cfg = NULL;
    struct ferry_error err = {0};

    if (xendrv_config_from_xml(xml, strlen(xml), &cfg, &err) < 0)
        fail_msg("%s: %s\n%s", source, ferry_error_msg(&err), xml);
    return xendrv_config_format_xlcfg(cfg);
}

static void test_sample(void **state)
{
    const char *name = *state;
    _cleanup_free_ char *cfg = read_data(name, ".cfg");
    _cleanup_free_ char *xml = cfg_to_xml(cfg, name);
    _cleanup_free_ char *native = xml_to_cfg(xml, name);
    _cleanup_free_ char *xml2 = cfg_to_xml(native, name);
    _cleanup_free_ char *native2 = xml_to_cfg(xml2, name);

    if (regenerate()) {
        write_data(name, ".xml", xml);
        write_data(name, ".native.cfg", native);
    }
    _cleanup_free_ char *want_xml = read_data(name, ".xml");
    _cleanup_free_ char *want_native = read_data(name, ".native.cfg");
    assert_string_equal(xml, want_xml);
    assert_string_equal(native, want_native);
    /* Stable: a second trip changes nothing. */
    assert_string_equal(xml2, xml);
    assert_string_equal(native2, native);
}

static int setup_sample(void **state)
{
    (void)state;
    return 0;
}

int main(void)
{
    struct CMUnitTest tests[ARRAY_SIZE(samples)];

    for (size_t i = 0; i < ARRAY_SIZE(samples); i++) {
        tests[i] = (struct CMUnitTest){
            .name = samples[i],
            .test_func = test_sample,
            .setup_func = setup_sample,
            .initial_state = (void *)samples[i],
        };
    }
    return _cmocka_run_group_tests("xen-convert", tests, ARRAY_SIZE(samples), NULL, NULL);
}
