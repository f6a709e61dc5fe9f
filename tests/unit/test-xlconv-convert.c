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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "util.h"
#include "xen-corpus.h"
#include "xlconv.h"

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
    _cleanup_(xlconv_config_freep) struct xlconv_config *cfg = NULL;
    struct ferry_error err = {0};

    if (xlconv_xlcfg_parse(text, strlen(text), source, &cfg, &err) < 0)
        fail_msg("%s: %s", source, ferry_error_msg(&err));
    return xlconv_config_to_xml(cfg);
}

static char *xml_to_cfg(const char *xml, const char *source)
{
    _cleanup_(xlconv_config_freep) struct xlconv_config *cfg = NULL;
    struct ferry_error err = {0};

    if (xlconv_config_from_xml(xml, strlen(xml), &cfg, &err) < 0)
        fail_msg("%s: %s\n%s", source, ferry_error_msg(&err), xml);
    return xlconv_config_format_xlcfg(cfg);
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

/* Whatever the parser accepts must make the round trip: mutated samples
 * (bytes replaced, inserted, deleted; a fixed seed, so failures repeat)
 * either fail with a positioned message or convert, and then
 * cfg -> XML -> cfg -> XML is stable. */
static void test_mutations(void **state)
{
    static const char alphabet[] = "[],;=+#'\"\\\n abcxyz019:/-.\t";
    uint32_t seed = 12345;
    unsigned accepted = 0, refused = 0;

    for (size_t si = 0; si < xlconv_test_corpus_len; si++) {
        _cleanup_free_ char *orig = read_data(xlconv_test_corpus[si], ".cfg");
        size_t olen = strlen(orig);
        for (int round = 0; round < 300; round++) {
            _cleanup_free_ char *m = malloc(olen + 8);
            size_t len = olen;
            memcpy(m, orig, olen + 1);
            for (int k = 0; k < 1 + round % 3; k++) {
                seed = seed * 1103515245u + 12345u;
                size_t pos = len ? (seed >> 8) % len : 0;
                char c = alphabet[(seed >> 20) % (sizeof alphabet - 1)];
                switch ((seed >> 4) % 3) {
                case 0:
                    if (len)
                        m[pos] = c;
                    break;
                case 1:
                    memmove(m + pos + 1, m + pos, len - pos + 1);
                    m[pos] = c;
                    len++;
                    break;
                default:
                    if (len) {
                        memmove(m + pos, m + pos + 1, len - pos);
                        len--;
                    }
                }
            }
            struct xlconv_config *cfg = NULL;
            struct ferry_error err = {0};
            if (xlconv_xlcfg_parse(m, len, "m.cfg", &cfg, &err) < 0) {
                /* Refusals name the file (and, for syntax, a position). */
                assert_true(strncmp(err.msg, "m.cfg", 5) == 0);
                refused++;
                continue;
            }
            accepted++;
            _cleanup_free_ char *xml = xlconv_config_to_xml(cfg);
            _cleanup_free_ char *native = xml_to_cfg(xml, "mutation");
            _cleanup_free_ char *xml2 = cfg_to_xml(native, "mutation native");
            if (strcmp(xml, xml2) != 0)
                fail_msg("unstable round trip of:\n%s\n--- xml ---\n%s\n--- xml2 ---\n%s", m, xml,
                         xml2);
            xlconv_config_free(cfg);
        }
    }
    /* The mix must exercise both outcomes. */
    assert_true(accepted > 100 && refused > 100);
}

/* The same for domain XML: whatever from_xml accepts converts to an xl.cfg
 * that parses, and from there the round trip is stable. */
static void test_xml_mutations(void **state)
{
    static const char alphabet[] = "<>/='\" abcdefmnrstuvx019:-&;\n";
    uint32_t seed = 777;
    unsigned accepted = 0, refused = 0;

    for (size_t si = 0; si < xlconv_test_corpus_len; si++) {
        _cleanup_free_ char *orig = read_data(xlconv_test_corpus[si], ".xml");
        size_t olen = strlen(orig);
        for (int round = 0; round < 300; round++) {
            _cleanup_free_ char *m = malloc(olen + 8);
            size_t len = olen;
            memcpy(m, orig, olen + 1);
            for (int k = 0; k < 1 + round % 2; k++) {
                seed = seed * 1103515245u + 12345u;
                size_t pos = (seed >> 8) % len;
                char c = alphabet[(seed >> 20) % (sizeof alphabet - 1)];
                if ((seed >> 4) % 2) {
                    m[pos] = c;
                } else {
                    memmove(m + pos, m + pos + 1, len - pos);
                    len--;
                }
            }
            struct xlconv_config *cfg = NULL;
            struct ferry_error err = {0};
            if (xlconv_config_from_xml(m, len, &cfg, &err) < 0) {
                assert_true(strncmp(err.msg, "domain XML", 10) == 0);
                refused++;
                continue;
            }
            accepted++;
            _cleanup_free_ char *native = xlconv_config_format_xlcfg(cfg);
            xlconv_config_free(cfg);
            _cleanup_free_ char *xml2 = cfg_to_xml(native, "mutated XML, native");
            _cleanup_free_ char *native2 = xml_to_cfg(xml2, "mutated XML, xml2");
            _cleanup_free_ char *xml3 = cfg_to_xml(native2, "mutated XML, native2");
            if (strcmp(xml2, xml3) != 0)
                fail_msg("unstable round trip of:\n%s\n--- xml2 ---\n%s\n--- xml3 ---\n%s", m, xml2,
                         xml3);
        }
    }
    assert_true(accepted > 100 && refused > 100);
}

/* The corpus sets every key the converter maps, to a value it converts
 * (not kept verbatim), in at least one file. */
static void test_corpus_covers_mapped_keys(void **state)
{
    for (size_t k = 0; xlconv_mapped_keys[k]; k++) {
        const char *key = xlconv_mapped_keys[k];
        bool covered = false;
        for (size_t i = 0; i < xlconv_test_corpus_len && !covered; i++) {
            _cleanup_free_ char *text = read_data(xlconv_test_corpus[i], ".cfg");
            _cleanup_(xlconv_config_freep) struct xlconv_config *cfg = NULL;
            struct ferry_error err = {0};
            bool set = false, kept = false;
            for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
                size_t n = strlen(key);
                if (strncmp(p, key, n) == 0 && strchr(" \t=+", p[n]))
                    set = true;
            }
            if (!set)
                continue;
            assert_int_equal(xlconv_xlcfg_parse(text, strlen(text), "c", &cfg, &err), 0);
            for (size_t j = 0; j < cfg->n_kept; j++)
                kept |= strcmp(cfg->kept[j].key, key) == 0;
            covered = !kept;
        }
        if (!covered)
            fail_msg("no corpus file converts xl.cfg key '%s'", key);
    }
}

static int setup_sample(void **state)
{
    (void)state;
    return 0;
}

int main(void)
{
    size_t n = xlconv_test_corpus_len;
    _cleanup_free_ struct CMUnitTest *tests = ferry_calloc(n + 3, sizeof *tests);

    tests[n] = (struct CMUnitTest){.name = "mutations", .test_func = test_mutations};
    tests[n + 1] = (struct CMUnitTest){.name = "xml-mutations", .test_func = test_xml_mutations};
    tests[n + 2] = (struct CMUnitTest){.name = "corpus-covers-mapped-keys",
                                       .test_func = test_corpus_covers_mapped_keys};
    for (size_t i = 0; i < n; i++) {
        tests[i] = (struct CMUnitTest){
            .name = xlconv_test_corpus[i],
            .test_func = test_sample,
            .setup_func = setup_sample,
            .initial_state = (void *)xlconv_test_corpus[i],
        };
    }
    return _cmocka_run_group_tests("xen-convert", tests, n + 3, NULL, NULL);
}
