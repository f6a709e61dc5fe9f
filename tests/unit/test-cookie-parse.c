/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Migration cookies: a libvirt-looking cookie, round trips, feature
 * negotiation, limits on counts, and hostile documents. */
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
#include "cookie.h"
#include "util.h"

static void parse_ok(const char *xml, size_t len, struct cookie *c)
{
    struct ferry_error err = {0};

    if (cookie_parse(xml, len, c, &err) < 0)
        fail_msg("parse failed: %s\n%s", err.msg, xml);
}

static void expect_fail(const char *xml, int code, const char *needle)
{
    struct cookie c;
    struct ferry_error err = {0};

    memset(&c, 0x5a, sizeof c);
    assert_int_equal(cookie_parse(xml, strlen(xml), &c, &err), code);
    assert_int_equal(err.code, -code);
    /* *ret untouched on failure */
    assert_int_equal(((unsigned char *)&c)[0], 0x5a);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

static void assert_cookie_equal(const struct cookie *a, const struct cookie *b)
{
    assert_string_equal(a->name, b->name);
    assert_string_equal(a->uuid, b->uuid);
    assert_string_equal(a->hostname, b->hostname);
    assert_string_equal(a->hostuuid, b->hostuuid);
    assert_int_equal(a->n_features, b->n_features);
    for (size_t i = 0; i < a->n_features; i++)
        assert_string_equal(a->features[i], b->features[i]);
    assert_int_equal(a->has_nbd, b->has_nbd);
    assert_string_equal(a->nbd_host, b->nbd_host);
    assert_int_equal(a->nbd_port, b->nbd_port);
    assert_int_equal(a->n_nbd_disks, b->n_nbd_disks);
    for (size_t i = 0; i < a->n_nbd_disks; i++) {
        assert_string_equal(a->nbd_disks[i].target, b->nbd_disks[i].target);
        assert_int_equal(a->nbd_disks[i].capacity, b->nbd_disks[i].capacity);
        assert_string_equal(a->nbd_disks[i].export_name, b->nbd_disks[i].export_name);
        assert_string_equal(a->nbd_disks[i].format, b->nbd_disks[i].format);
    }
    assert_string_equal(a->migrate_uri, b->migrate_uri);
    assert_int_equal(a->persistent, b->persistent);
    assert_string_equal(a->nvram_sha256, b->nvram_sha256);
    assert_int_equal(a->nvram_size, b->nvram_size);
    assert_int_equal(a->stats.set, b->stats.set);
    assert_string_equal(a->stats.status, b->stats.status);
    /* Every numeric statistic, field by field (no padding in this range). */
    assert_memory_equal(&a->stats.started_ms, &b->stats.started_ms,
                        offsetof(struct cookie_stats, disk_passes) + sizeof a->stats.disk_passes -
                            offsetof(struct cookie_stats, started_ms));
}

static void test_empty(void **state)
{
    struct cookie c;

    memset(&c, 0x5a, sizeof c);
    assert_int_equal(cookie_parse(NULL, 0, &c, NULL), 0);
    assert_string_equal(c.name, "");
    assert_false(c.has_nbd);
    assert_false(c.stats.set);
    memset(&c, 0x5a, sizeof c);
    assert_int_equal(cookie_parse("<qemu-migration/>", 0, &c, NULL), 0);
    assert_int_equal(c.n_features, 0);
    assert_int_equal(cookie_parse("<qemu-migration/>", 17, &c, NULL), 0);
    assert_int_equal(c.n_nbd_disks, 0);
}

static void test_libvirt_cookie(void **state)
{
    _cleanup_free_ char *xml = NULL;
    size_t len;
    struct cookie c;

    assert_int_equal(
        ferry_read_file(FERRY_TEST_DATA "/cookie-libvirt.xml", COOKIE_XML_MAX, &xml, &len, NULL),
        0);
    parse_ok(xml, len, &c);
    assert_string_equal(c.name, "web-01.prod");
    assert_string_equal(c.uuid, "8f3c2a1e-5b7d-4c9a-9e2f-1a2b3c4d5e6f");
    assert_string_equal(c.hostname, "dst.example.org");
    assert_string_equal(c.hostuuid, "2d9d1a52-8c1e-4f7a-a3b0-6e5f4c3b2a10");
    /* Only the features this build knows are recorded. */
    assert_int_equal(c.n_features, 1);
    assert_true(cookie_has_feature(&c, COOKIE_FEATURE_NBD));
    assert_false(cookie_has_feature(&c, "lockstate"));
    assert_true(c.has_nbd);
    assert_string_equal(c.nbd_host, "192.0.2.10");
    assert_int_equal(c.nbd_port, 49153);
    assert_int_equal(c.n_nbd_disks, 2);
    assert_string_equal(c.nbd_disks[0].target, "vda");
    assert_int_equal(c.nbd_disks[0].capacity, 21474836480ull);
    assert_string_equal(c.nbd_disks[0].export_name, "vda");
    assert_string_equal(c.nbd_disks[0].format, "qcow2");
    assert_string_equal(c.nbd_disks[1].export_name, "");
    assert_int_equal(c.nbd_disks[1].capacity, 107374182400ull);
    assert_string_equal(c.migrate_uri, "tcp:192.0.2.10:49152");
    assert_true(c.persistent);
    assert_true(c.stats.set);
    assert_string_equal(c.stats.status, "completed");
    assert_int_equal(c.stats.started_ms, 1795000000123ll);
    assert_int_equal(c.stats.stopped_ms, 1795000042456ll);
    assert_int_equal(c.stats.time_elapsed_ms, 42333);
    assert_int_equal(c.stats.downtime_ms, 87);
    assert_int_equal(c.stats.setup_time_ms, 12);
    assert_int_equal(c.stats.memory_total, 4295819264ull);
    assert_int_equal(c.stats.memory_processed, 1234567890ull);
    assert_int_equal(c.stats.memory_remaining, 0);
    assert_int_equal(c.stats.memory_bps, 1073741824ull);
    assert_int_equal(c.stats.memory_duplicate_pages, 700000);
    assert_int_equal(c.stats.memory_normal_pages, 300000);
    assert_int_equal(c.stats.memory_dirty_rate, 2500);
    assert_int_equal(c.stats.memory_iteration, 4);
    assert_int_equal(c.stats.memory_transferred, 0);
    assert_int_equal(c.stats.disk_total, 128849018880ull);
    assert_int_equal(c.stats.disk_processed, 128849018880ull);
    assert_int_equal(c.stats.disk_bps, 1900000000ull);
    assert_int_equal(c.stats.storage_downtime_ms, 31);
    assert_int_equal(c.stats.disk_passes, 5);
}

static void test_roundtrip(void **state)
{
    struct cookie a, b;
    _cleanup_free_ char *xml = NULL;
    _cleanup_free_ char *xml2 = NULL;

    memset(&a, 0, sizeof a);
    strcpy(a.name, "guest");
    ferry_uuid_generate(a.uuid);
    strcpy(a.hostname, "src & <friends> \"quoted\"");
    ferry_uuid_generate(a.hostuuid);
    cookie_add_feature(&a, COOKIE_FEATURE_NBD);
    cookie_add_feature(&a, COOKIE_FEATURE_STATISTICS);
    cookie_add_feature(&a, COOKIE_FEATURE_NBD);
    assert_int_equal(a.n_features, 2);
    a.has_nbd = true;
    strcpy(a.nbd_host, "::1");
    a.nbd_port = 10809;
    a.n_nbd_disks = 2;
    strcpy(a.nbd_disks[0].target, "vda");
    a.nbd_disks[0].capacity = UINT64_MAX;
    strcpy(a.nbd_disks[0].export_name, "ferry-vda'\"&<>");
    strcpy(a.nbd_disks[0].format, "raw");
    strcpy(a.nbd_disks[1].target, "sdb");
    a.nbd_disks[1].capacity = 0;
    strcpy(a.migrate_uri, "tcp:[::1]:49152?a=1&b=2");
    a.stats.set = true;
    strcpy(a.stats.status, "active");
    a.stats.started_ms = ferry_wall_ms();
    a.stats.stopped_ms = -1;
    a.stats.time_elapsed_ms = INT64_MAX;
    a.stats.downtime_ms = 1;
    a.stats.setup_time_ms = 2;
    a.stats.memory_total = 3;
    a.stats.memory_processed = 4;
    a.stats.memory_remaining = 5;
    a.stats.memory_bps = 6;
    a.stats.memory_dirty_rate = 7;
    a.stats.memory_iteration = 8;
    a.stats.memory_transferred = 9;
    a.stats.memory_normal_pages = 10;
    a.stats.memory_duplicate_pages = 11;
    a.stats.disk_total = 12;
    a.stats.disk_processed = 13;
    a.stats.disk_remaining = 14;
    a.stats.disk_bps = UINT64_MAX;
    a.stats.storage_downtime_ms = 15;
    a.stats.disk_passes = 16;
    a.persistent = true;
    strcpy(a.nvram_sha256, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    a.nvram_size = 540672;

    xml = cookie_format(&a);
    assert_non_null(xml);
    assert_null(strstr(xml, "<friends>"));
    parse_ok(xml, strlen(xml), &b);
    assert_cookie_equal(&a, &b);
    xml2 = cookie_format(&b);
    assert_string_equal(xml, xml2);
}

static void test_roundtrip_empty(void **state)
{
    struct cookie a, b;
    _cleanup_free_ char *xml = NULL;

    memset(&a, 0, sizeof a);
    xml = cookie_format(&a);
    assert_non_null(xml);
    assert_non_null(strstr(xml, "<qemu-migration/>"));
    parse_ok(xml, strlen(xml), &b);
    assert_cookie_equal(&a, &b);
}

static void test_features(void **state)
{
    struct cookie c;

    static const char ok[] = "<qemu-migration><feature name='statistics' mandatory='yes'/>"
                             "<feature name='shiny-new-thing'/>"
                             "<feature name='other' mandatory='no'/></qemu-migration>";

    parse_ok(ok, strlen(ok), &c);
    assert_int_equal(c.n_features, 1);
    assert_true(cookie_has_feature(&c, COOKIE_FEATURE_STATISTICS));
    expect_fail("<qemu-migration><feature name='nbd'/>"
                "<feature name='dirty-ring-v2' mandatory='yes'/></qemu-migration>",
                -EOPNOTSUPP, "mandatory feature 'dirty-ring-v2' is not supported");
    expect_fail("<qemu-migration><feature name='nbd' mandatory='maybe'/></qemu-migration>", -EINVAL,
                "mandatory='maybe'");
    expect_fail("<qemu-migration><feature/></qemu-migration>", -EINVAL, "without a name");
    expect_fail("<qemu-migration><feature name='abcdefghijklmnopqrstuvwxyz0123456'/>"
                "</qemu-migration>",
                -EINVAL, "attribute 'name' is 33 characters");
}

static void test_over_limit_counts(void **state)
{
    char buf[8192];
    size_t n = 0;
    struct cookie c;

    n += (size_t)snprintf(buf + n, sizeof buf - n, "<qemu-migration><nbd port='1'>");
    for (int i = 0; i < COOKIE_MAX_DISKS; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "<disk target='vd%d' capacity='1'/>", i);
    snprintf(buf + n, sizeof buf - n, "</nbd></qemu-migration>");
    parse_ok(buf, strlen(buf), &c);
    assert_int_equal(c.n_nbd_disks, COOKIE_MAX_DISKS);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "<disk target='vdx' capacity='1'/>");
    snprintf(buf + n, sizeof buf - n, "</nbd></qemu-migration>");
    expect_fail(buf, -EINVAL, "more than 32 <nbd><disk> elements");

    n = 0;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "<qemu-migration>");
    for (int i = 0; i < COOKIE_MAX_FEATURES; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "<feature name='nbd'/>");
    snprintf(buf + n, sizeof buf - n, "</qemu-migration>");
    parse_ok(buf, strlen(buf), &c);
    assert_int_equal(c.n_features, 1);
    n += (size_t)snprintf(buf + n, sizeof buf - n, "<feature name='f'/>");
    snprintf(buf + n, sizeof buf - n, "</qemu-migration>");
    expect_fail(buf, -EINVAL, "more than 32 <feature> elements");
}

static void test_bad_values(void **state)
{
    static const struct {
        const char *xml;
        const char *needle;
    } t[] = {
        {"<migration-cookie/>", "root element is <migration-cookie>"},
        {"<qemu-migration><name>../x</name></qemu-migration>", "<name> '../x'"},
        {"<qemu-migration><uuid>1234</uuid></qemu-migration>", "<uuid> '1234' is not a UUID"},
        {"<qemu-migration><hostuuid>x</hostuuid></qemu-migration>", "<hostuuid> 'x'"},
        {"<qemu-migration><name>a</name><name>b</name></qemu-migration>",
         "<name> appears more than once"},
        {"<qemu-migration><nbd port='0'/></qemu-migration>", "<nbd port='0'>"},
        {"<qemu-migration><nvram sha256='abc' size='1'/></qemu-migration>",
         "<nvram> needs sha256= (64 lower-case hex digits) and a size="},
        {"<qemu-migration><nvram sha256='0123456789ABCDEF0123456789abcdef0123456789abcdef"
         "0123456789abcdef' size='1'/></qemu-migration>",
         "<nvram> needs sha256="},
        {"<qemu-migration><nvram sha256='0123456789abcdef0123456789abcdef0123456789abcdef"
         "0123456789abcdef'/></qemu-migration>",
         "<nvram> needs sha256="},
        {"<qemu-migration><nbd port='65536'/></qemu-migration>", "<nbd port='65536'>"},
        {"<qemu-migration><nbd port='80x'/></qemu-migration>", "<nbd port='80x'>"},
        {"<qemu-migration><nbd/><nbd/></qemu-migration>", "<nbd> appears more than once"},
        {"<qemu-migration><nbd><disk target='vda' capacity='-1'/></nbd></qemu-migration>",
         "disk 'vda': capacity '-1'"},
        {"<qemu-migration><nbd><disk target='vda'/></nbd></qemu-migration>",
         "disk 'vda': capacity ''"},
        {"<qemu-migration><nbd><disk target='../vda' capacity='1'/></nbd></qemu-migration>",
         "target='../vda'"},
        {"<qemu-migration><nbd><disk target='vda' capacity='1'/><disk target='vda' "
         "capacity='2'/></nbd></qemu-migration>",
         "disk 'vda' listed twice"},
        {"<qemu-migration><statistics><downtime>soon</downtime></statistics></qemu-migration>",
         "<downtime> 'soon'"},
        {"<qemu-migration><statistics><disk_total>-5</disk_total></statistics></qemu-migration>",
         "<disk_total> '-5'"},
        {"<qemu-migration><statistics><downtime>1</downtime><downtime>2</downtime>"
         "</statistics></qemu-migration>",
         "<downtime> appears more than once"},
        {"<qemu-migration><statistics/><statistics/></qemu-migration>",
         "<statistics> appears more than once"},
        {"<qemu-migration><statistics><status>DONE!</status></statistics></qemu-migration>",
         "bad <status>"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(t); i++)
        expect_fail(t[i].xml, -EINVAL, t[i].needle);
}

static void test_hostile(void **state)
{
    size_t len = COOKIE_XML_MAX + 1;
    _cleanup_free_ char *big = malloc(len + 1);
    _cleanup_free_ char *attr = malloc(100001);
    _cleanup_free_ char *xml = NULL;
    struct cookie c;
    struct ferry_error err = {0};

    expect_fail("<!DOCTYPE q [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>"
                "<qemu-migration><hostname>&x;</hostname></qemu-migration>",
                -EINVAL, "refused a DOCTYPE declaration");
    expect_fail("<!DOCTYPE q [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;'>"
                "<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;'><!ENTITY d '&c;&c;&c;&c;&c;&c;&c;'>]>"
                "<qemu-migration><hostname>&d;</hostname></qemu-migration>",
                -EINVAL, "refused a DOCTYPE declaration");
    expect_fail("not a cookie", -EINVAL, "invalid XML");
    expect_fail("<qemu-migration><hostname>&x;</hostname></qemu-migration>", -EINVAL,
                "invalid XML");

    /* A comment as filler: comments are not values, only the size counts. */
    memset(big, 'c', len);
    memcpy(big, "<qemu-migration><!--", 20);
    memcpy(big + len - 20, "--></qemu-migration>", 20);
    big[len] = '\0';
    assert_int_equal(cookie_parse(big, len, &c, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "more than the 262144 accepted"));
    /* One byte less is within the limit. */
    memcpy(big + len - 21, "--></qemu-migration>", 20);
    parse_ok(big, len - 1, &c);

    memset(attr, 'h', 100000);
    attr[100000] = '\0';
    xml = ferry_strdup_printf("<qemu-migration><nbd host='%s' port='1'/></qemu-migration>", attr);
    expect_fail(xml, -EINVAL, "is 100000 bytes long");
    free(xml);
    xml = ferry_strdup_printf("<qemu-migration><unknown-thing x='%s'/></qemu-migration>", attr);
    expect_fail(xml, -EINVAL, "is 100000 bytes long");
    free(xml);
    /* A host name one character over its field. */
    attr[256] = '\0';
    xml = ferry_strdup_printf("<qemu-migration><nbd host='%s' port='1'/></qemu-migration>", attr);
    expect_fail(xml, -EINVAL, "attribute 'host' is 256 characters");
    free(xml);
    xml = ferry_strdup_printf("<qemu-migration><hostname>%s</hostname></qemu-migration>", attr);
    expect_fail(xml, -EINVAL, "<hostname>: 256 characters");
    free(xml);
    {
        char deep[64 * 7 + 64] = "<qemu-migration>";
        for (int i = 0; i < 40; i++)
            strcat(deep, "<a>");
        for (int i = 0; i < 40; i++)
            strcat(deep, "</a>");
        strcat(deep, "</qemu-migration>");
        xml = ferry_strdup(deep);
    }
    expect_fail(xml, -EINVAL, "nested deeper than 32 levels");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),      cmocka_unit_test(test_libvirt_cookie),
        cmocka_unit_test(test_roundtrip),  cmocka_unit_test(test_roundtrip_empty),
        cmocka_unit_test(test_features),   cmocka_unit_test(test_over_limit_counts),
        cmocka_unit_test(test_bad_values), cmocka_unit_test(test_hostile),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
