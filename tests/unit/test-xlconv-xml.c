/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Domain XML to xl.cfg: libvirt-style input maps to the right xl keys, what
 * has no xl equivalent is reported, and hostile documents (DTDs, entities,
 * oversize, values that would smuggle extra xl settings) are refused with a
 * clear message. */
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
#include "xlconv.h"

static struct xlconv_config *xml_ok(const char *xml)
{
    struct xlconv_config *cfg = NULL;
    struct ferry_error err = {0};

    if (xlconv_config_from_xml(xml, strlen(xml), &cfg, &err) < 0)
        fail_msg("unexpected error: %s", ferry_error_msg(&err));
    return cfg;
}

static void xml_bad(const char *xml, const char *want)
{
    struct xlconv_config *cfg = NULL;
    struct ferry_error err = {0};

    int r = xlconv_config_from_xml(xml, strlen(xml), &cfg, &err);
    if (r == 0) {
        xlconv_config_free(cfg);
        fail_msg("accepted, expected: %s", want);
    }
    assert_true(r < 0);
    assert_null(cfg);
    assert_string_equal(err.msg, want);
}

static bool has_note(const struct xlconv_config *cfg, const char *note)
{
    for (size_t i = 0; i < cfg->n_notes; i++)
        if (strcmp(cfg->notes[i], note) == 0)
            return true;
    return false;
}

static const char libvirt_hvm[] =
    "<domain type='xen'>\n"
    "  <name>from-libvirt</name>\n"
    "  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
    "  <memory unit='GiB'>2</memory>\n"
    "  <currentMemory unit='MiB'>1536</currentMemory>\n"
    "  <vcpu placement='static' current='2'>4</vcpu>\n"
    "  <os><type arch='x86_64' machine='xenfv'>hvm</type><boot dev='cdrom'/></os>\n"
    "  <features><acpi/><apic/></features>\n"
    "  <clock offset='variable' adjustment='0' basis='utc'/>\n"
    "  <on_poweroff>destroy</on_poweroff>\n"
    "  <on_crash>restart</on_crash>\n"
    "  <devices>\n"
    "    <emulator>/usr/lib/xen/bin/qemu-system-i386</emulator>\n"
    "    <disk type='block' device='disk'>\n"
    "      <driver name='phy' type='raw'/>\n"
    "      <source dev='/dev/vg0/guest'/>\n"
    "      <target dev='hda' bus='ide'/>\n"
    "    </disk>\n"
    "    <disk type='file' device='cdrom'>\n"
    "      <driver name='qemu' type='raw'/>\n"
    "      <source file='/srv/iso/boot.iso'/>\n"
    "      <target dev='hdc' bus='ide'/>\n"
    "    </disk>\n"
    "    <interface type='bridge'>\n"
    "      <mac address='00:16:3E:66:92:9C'/>\n"
    "      <source bridge='xenbr1'/>\n"
    "      <script path='vif-bridge'/>\n"
    "      <model type='e1000'/>\n"
    "    </interface>\n"
    "    <graphics type='vnc' port='5901' autoport='no'>\n"
    "      <listen type='address' address='127.0.0.1'/>\n"
    "    </graphics>\n"
    "    <console type='pty'/>\n"
    "  </devices>\n"
    "</domain>\n";

static void test_libvirt_hvm(void **state)
{
    _cleanup_(xlconv_config_freep) struct xlconv_config *cfg = xml_ok(libvirt_hvm);

    assert_string_equal(cfg->name, "from-libvirt");
    assert_int_equal(cfg->type, XLCONV_GUEST_HVM);
    assert_int_equal(cfg->memory_mib, 1536);
    assert_int_equal(cfg->maxmem_mib, 2048);
    assert_int_equal(cfg->vcpus, 2);
    assert_int_equal(cfg->maxvcpus, 4);
    assert_int_equal(cfg->on_poweroff, XLCONV_ACTION_DESTROY);
    assert_int_equal(cfg->on_reboot, XLCONV_ACTION_UNSET);
    assert_int_equal(cfg->on_crash, XLCONV_ACTION_RESTART);
    assert_int_equal(cfg->n_disks, 2);
    assert_string_equal(cfg->disks[0].backendtype, "phy");
    assert_string_equal(cfg->disks[1].backendtype, "qdisk");
    assert_true(cfg->disks[1].cdrom && cfg->disks[1].readonly);
    assert_int_equal(cfg->n_vifs, 1);
    assert_string_equal(cfg->vifs[0].mac, "00:16:3e:66:92:9c");
    assert_true(cfg->vnc);
    assert_int_equal(cfg->vncdisplay, 1);
    assert_int_equal(cfg->vncunused, 0);
    assert_string_equal(cfg->vnclisten, "127.0.0.1");

    assert_true(has_note(cfg, "domain XML: <os/boot> has no xl.cfg equivalent; not converted"));
    assert_true(has_note(cfg, "domain XML: <features> has no xl.cfg equivalent; not converted"));
    assert_true(has_note(cfg, "domain XML: <clock> has no xl.cfg equivalent; not converted"));
    assert_true(
        has_note(cfg, "domain XML: <devices/emulator> has no xl.cfg equivalent; not converted"));
    assert_true(
        has_note(cfg, "domain XML: <devices/console> has no xl.cfg equivalent; not converted"));

    _cleanup_free_ char *native = xlconv_config_format_xlcfg(cfg);
    assert_string_equal(native, "name = \"from-libvirt\"\n"
                                "uuid = \"c7a5fdbd-edaf-9455-926a-d65c16db1809\"\n"
                                "type = \"hvm\"\n"
                                "memory = 1536\n"
                                "maxmem = 2048\n"
                                "vcpus = 2\n"
                                "maxvcpus = 4\n"
                                "on_poweroff = \"destroy\"\n"
                                "on_crash = \"restart\"\n"
                                "vnc = 1\n"
                                "vnclisten = \"127.0.0.1\"\n"
                                "vncdisplay = 1\n"
                                "vncunused = 0\n"
                                "disk = [\n"
                                "    \"format=raw, vdev=hda, access=rw, backendtype=phy, "
                                "target=/dev/vg0/guest\",\n"
                                "    \"format=raw, vdev=hdc, access=ro, devtype=cdrom, "
                                "backendtype=qdisk, target=/srv/iso/boot.iso\",\n"
                                "]\n"
                                "vif = [ \"mac=00:16:3e:66:92:9c,bridge=xenbr1,model=e1000,"
                                "script=vif-bridge\" ]\n");
}

static void test_memory_rounding_noted(void **state)
{
    _cleanup_(xlconv_config_freep) struct xlconv_config *cfg =
        xml_ok("<domain type='xen'><name>m</name><memory unit='KiB'>1000</memory></domain>");

    assert_int_equal(cfg->memory_mib, 1);
    assert_true(has_note(cfg, "domain XML: <memory> 1024000 bytes is not whole MiB; xl.cfg gets "
                              "1 MiB"));
}

static void test_pvh_and_pv_types(void **state)
{
    _cleanup_(xlconv_config_freep) struct xlconv_config *a = xml_ok(
        "<domain type='xen'><name>a</name><os><type machine='xenpvh'>xenpvh</type></os></domain>");
    _cleanup_(xlconv_config_freep) struct xlconv_config *b =
        xml_ok("<domain type='xen'><name>b</name><os><type>linux</type>"
               "<kernel>/k</kernel><initrd>/i</initrd><cmdline>c=1</cmdline></os></domain>");

    assert_int_equal(a->type, XLCONV_GUEST_PVH);
    assert_int_equal(b->type, XLCONV_GUEST_PV);
    assert_string_equal(b->kernel, "/k");
    assert_string_equal(b->ramdisk, "/i");
    assert_string_equal(b->cmdline, "c=1");
}

static void test_hostile_documents(void **state)
{
    xml_bad("<?xml version='1.0'?>\n<!DOCTYPE domain [ <!ENTITY a 'aaaaaaaaaa'>\n"
            "<!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'> ]>\n"
            "<domain type='xen'><name>&b;</name></domain>",
            "domain XML: a DTD (<!DOCTYPE>) is not accepted");
    xml_bad("<!DOCTYPE domain [ <!ENTITY x SYSTEM 'file:///etc/passwd'> ]>"
            "<domain type='xen'><name>&x;</name></domain>",
            "domain XML: a DTD (<!DOCTYPE>) is not accepted");
    xml_bad("<domain type='xen'><name>&undefined;</name></domain>",
            "domain XML: line 1: Entity 'undefined' not defined");
    xml_bad("<domain type='xen'><name>x</name>", "domain XML: line 1: Premature end of data in "
                                                 "tag domain line 1");
    xml_bad("<domain type='kvm'><name>x</name></domain>",
            "domain XML: <domain type='kvm'> is not 'xen'");
    xml_bad("<guest/>", "domain XML: the root element is not <domain>");

    size_t big = XLCONV_XML_MAX + 1;
    _cleanup_free_ char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[big] = '\0';
    struct xlconv_config *cfg = NULL;
    struct ferry_error err = {0};
    assert_int_equal(xlconv_config_from_xml(huge, big, &cfg, &err), -EFBIG);
    assert_string_equal(err.msg, "domain XML: larger than 1048576 bytes");
}

#define MD_OPEN  "<metadata><ferry:xl xmlns:ferry='" XLCONV_XML_NS "'>"
#define MD_CLOSE "</ferry:xl></metadata>"

static void test_smuggling_refused(void **state)
{
    /* A kept value that is really two settings. */
    xml_bad("<domain type='xen'><name>s</name>" MD_OPEN
            "<ferry:key name='boot'>\"c\"\nbootloader = \"/tmp/evil\"</ferry:key>" MD_CLOSE
            "</domain>",
            "domain XML: <ferry:key name='boot'> is not one xl value: more than one setting");
    /* A kept key that would contradict a converted one. */
    xml_bad("<domain type='xen'><name>s</name>" MD_OPEN
            "<ferry:key name='memory'>99999</ferry:key>" MD_CLOSE "</domain>",
            "domain XML: <ferry:key name='memory'>: this key is converted from the XML and "
            "cannot be kept verbatim");
    /* Kept disk options that would retarget the disk. */
    xml_bad("<domain type='xen'><name>s</name><devices><disk type='file' device='disk'>"
            "<source file='/srv/a.img'/><target dev='xvda'/></disk></devices>" MD_OPEN
            "<ferry:disk dev='xvda'>discard, target=/etc/shadow</ferry:disk>" MD_CLOSE "</domain>",
            "domain XML: disk 'xvda' cannot be written as an xl disk spec without changing its "
            "meaning");
    /* A bridge name that carries a second vif option. */
    xml_bad("<domain type='xen'><name>s</name><devices><interface type='bridge'>"
            "<source bridge='xenbr0,script=/tmp/evil'/></interface></devices></domain>",
            "domain XML: interface 0 cannot be written as an xl vif spec without changing its "
            "meaning");
    /* A disk path with a comma is fine: target= takes the rest. */
    _cleanup_(xlconv_config_freep) struct xlconv_config *ok =
        xml_ok("<domain type='xen'><name>s</name><devices><disk type='file' device='disk'>"
               "<source file='/srv/a,format=qcow2.img'/><target dev='xvda'/></disk></devices>"
               "</domain>");
    assert_string_equal(ok->disks[0].target, "/srv/a,format=qcow2.img");
    assert_string_equal(ok->disks[0].format, "raw");
}

static void test_metadata_references(void **state)
{
    xml_bad("<domain type='xen'><name>s</name>" MD_OPEN
            "<ferry:disk dev='xvdz'>discard</ferry:disk>" MD_CLOSE "</domain>",
            "domain XML: <ferry:disk dev='xvdz'> names no such device");
    xml_bad("<domain type='xen'><name>s</name>" MD_OPEN "<ferry:gizmo/>" MD_CLOSE "</domain>",
            "domain XML: unknown element <ferry:gizmo> in <ferry:xl>");
    _cleanup_(xlconv_config_freep) struct xlconv_config *cfg =
        xml_ok("<domain type='xen'><name>s</name><metadata><other xmlns='urn:x'/></metadata>"
               "</domain>");
    assert_true(has_note(cfg, "domain XML: <metadata/other> has no xl.cfg equivalent; not "
                              "converted"));
}

static void test_kept_keys_listed_from_cfg(void **state)
{
    const char *text = "name='k'\nboot='dc'\nacpi=1\n";
    _cleanup_(xlconv_config_freep) struct xlconv_config *cfg = NULL;
    struct ferry_error err = {0};

    assert_int_equal(xlconv_xlcfg_parse(text, strlen(text), "k.cfg", &cfg, &err), 0);
    assert_int_equal(cfg->n_kept, 2);
    assert_string_equal(cfg->kept[0].key, "boot");
    assert_string_equal(cfg->kept[0].raw, "\"dc\"");
    assert_string_equal(cfg->kept[1].raw, "1");
    assert_true(has_note(cfg, "k.cfg: key 'boot' is not converted by ferry; kept verbatim"));
    assert_true(has_note(cfg, "k.cfg: key 'acpi' is not converted by ferry; kept verbatim"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libvirt_hvm),
        cmocka_unit_test(test_memory_rounding_noted),
        cmocka_unit_test(test_pvh_and_pv_types),
        cmocka_unit_test(test_hostile_documents),
        cmocka_unit_test(test_smuggling_refused),
        cmocka_unit_test(test_metadata_references),
        cmocka_unit_test(test_kept_keys_listed_from_cfg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
