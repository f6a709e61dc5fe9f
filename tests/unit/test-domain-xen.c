/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* <domain type='xen'> documents: the whole document is kept (native_xml),
 * formatted back with the identity fields, carried by copy and equality;
 * Xen's guest types, bus and backends are accepted for such documents only;
 * the hardened parser still guards them. */
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
#include "domain.h"
#include "util.h"

static const char pv_xml[] =
    "<domain type='xen'>\n"
    "  <name>pv</name>\n"
    "  <memory unit='MiB'>256</memory>\n"
    "  <vcpu>2</vcpu>\n"
    "  <os><type machine='xenpv'>linux</type><kernel>/boot/vmlinuz</kernel></os>\n"
    "  <devices>\n"
    "    <disk type='block' device='disk'>\n"
    "      <driver name='phy' type='raw'/>\n"
    "      <source dev='/dev/vg0/pv'/>\n"
    "      <target dev='xvda' bus='xen'/>\n"
    "    </disk>\n"
    "    <interface type='bridge'><mac address='00:16:3e:01:02:03'/>"
    "<source bridge='xenbr0'/></interface>\n"
    "  </devices>\n"
    "  <metadata><ferry:xl xmlns:ferry='urn:ferry:xen-xl:1'>"
    "<ferry:key name='cpus'>\"2\"</ferry:key></ferry:xl></metadata>\n"
    "</domain>\n";

static struct domain_def *parse_ok(const char *xml)
{
    struct domain_def *def = NULL;
    struct ferry_error err = {0};

    if (domain_def_parse(xml, strlen(xml), &def, &err) < 0)
        fail_msg("unexpected failure: %s", err.msg);
    return def;
}

static void parse_fails(const char *xml, int code, const char *msg)
{
    struct domain_def *def = NULL;
    struct ferry_error err = {0};

    assert_int_equal(domain_def_parse(xml, strlen(xml), &def, &err), -code);
    assert_null(def);
    if (!strstr(err.msg, msg))
        fail_msg("message '%s' lacks '%s'", err.msg, msg);
}

static void test_pv_kept_whole(void **state)
{
    (void)state;
    struct domain_def *def = parse_ok(pv_xml);

    assert_non_null(def->native_xml);
    assert_int_equal(def->n_ignored, 0); /* the driver reads all of it */
    assert_int_equal(def->n_disks, 1);
    assert_string_equal(def->disks[0].bus, "xen");
    assert_int_equal(def->memory_kib, 256 * 1024);
    assert_int_equal(def->vcpus, 2);
    /* A generated uuid is written into the kept document. */
    assert_true(ferry_uuid_valid(def->uuid));
    assert_non_null(strstr(def->native_xml, def->uuid));

    _cleanup_free_ char *xml = domain_def_format(def);
    assert_non_null(xml);
    assert_non_null(strstr(xml, "<domain type=\"xen\">"));
    assert_non_null(strstr(xml, ">linux</type>"));
    assert_non_null(strstr(xml, "00:16:3e:01:02:03"));
    assert_non_null(strstr(xml, "urn:ferry:xen-xl:1"));
    assert_non_null(strstr(xml, def->uuid));

    /* parse(format(def)) is the same guest, document included. */
    struct domain_def *again = parse_ok(xml);
    assert_true(domain_def_equal(def, again));
    assert_string_equal(def->native_xml, again->native_xml);

    struct domain_def *copy = domain_def_copy(def);
    assert_true(domain_def_equal(def, copy));
    assert_ptr_not_equal(copy->native_xml, def->native_xml);

    /* The fields win over the kept document when they change. */
    snprintf(copy->name, sizeof copy->name, "renamed");
    _cleanup_free_ char *renamed = domain_def_format(copy);
    assert_non_null(strstr(renamed, "<name>renamed</name>"));
    assert_null(strstr(renamed, "<name>pv</name>"));
    assert_false(domain_def_equal(def, copy));

    domain_def_free(copy);
    domain_def_free(again);
    domain_def_free(def);
}

static void test_xen_types(void **state)
{
    (void)state;
    static const char *const types[] = {"linux", "xen", "xenpvh", "hvm"};

    for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
        _cleanup_free_ char *xml =
            ferry_strdup_printf("<domain type='xen'><name>t</name><memory>1024</memory>"
                                "<os><type>%s</type></os></domain>",
                                types[i]);
        struct domain_def *def = parse_ok(xml);
        assert_non_null(def->native_xml);
        domain_def_free(def);
    }
    parse_fails("<domain type='xen'><name>t</name><memory>1024</memory>"
                "<os><type>exe</type></os></domain>",
                EOPNOTSUPP, "only hvm, linux, xen, xenpvh");
}

static void test_kvm_unchanged(void **state)
{
    (void)state;
    struct domain_def *def = parse_ok("<domain type='kvm'><name>k</name><memory>1024</memory>"
                                      "<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"
                                      "</devices></domain>");

    assert_null(def->native_xml);
    assert_int_equal(def->n_ignored, 1);
    domain_def_free(def);
    parse_fails("<domain type='kvm'><name>k</name><memory>1024</memory>"
                "<devices><interface type='network'/></devices></domain>",
                EOPNOTSUPP, "<interface type='network'> is not supported");
    parse_fails("<domain type='kvm'><name>k</name><memory>1024</memory>"
                "<os><type>linux</type></os></domain>",
                EOPNOTSUPP, "(only hvm)");
    parse_fails("<domain type='kvm'><name>k</name><memory>1024</memory><devices>"
                "<disk type='file'><source file='/a'/><target dev='xvda' bus='xen'/></disk>"
                "</devices></domain>",
                EOPNOTSUPP, "bus 'xen' is not supported");
    parse_fails("<domain type='kvm'><name>k</name><memory>1024</memory><devices>"
                "<disk type='file'><driver name='phy'/><source file='/a'/>"
                "<target dev='vda'/></disk></devices></domain>",
                EOPNOTSUPP, "driver name 'phy'");
}

static void test_xen_still_guarded(void **state)
{
    (void)state;
    parse_fails("<?xml version='1.0'?>\n<!DOCTYPE domain [\n"
                "  <!ENTITY xxe SYSTEM \"file:///etc/passwd\">\n]>\n"
                "<domain type='xen'><name>&xxe;</name><memory>1024</memory></domain>",
                EINVAL, "DOCTYPE");
    parse_fails("<domain type='xen'><name>x</name><memory>1024</memory><devices>"
                "<disk type='file' device='disk'><source file='relative'/>"
                "<target dev='xvda' bus='xen'/></disk></devices></domain>",
                EINVAL, "xvda");
    parse_fails("<domain type='xen'><name>../x</name><memory>1024</memory></domain>", EINVAL,
                "<name>");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pv_kept_whole),
        cmocka_unit_test(test_xen_types),
        cmocka_unit_test(test_kvm_unchanged),
        cmocka_unit_test(test_xen_still_guarded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
