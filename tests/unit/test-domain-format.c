/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Formatting domain definitions back to XML: round trips, escaping of
 * hostile values, and copies that share nothing with the original. */
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

static struct domain_def *parse_ok(const char *xml, size_t len)
{
    struct domain_def *def = NULL;
    struct ferry_error err = {0};

    if (domain_def_parse(xml, len, &def, &err) < 0)
        fail_msg("parse failed: %s\n%s", err.msg, xml);
    return def;
}

static struct domain_def *load(const char *file)
{
    _cleanup_free_ char *path = ferry_strdup_printf("%s/%s", FERRY_TEST_DATA, file);
    _cleanup_free_ char *xml = NULL;
    size_t len;

    assert_int_equal(ferry_read_file(path, DOMAIN_XML_MAX, &xml, &len, NULL), 0);
    return parse_ok(xml, len);
}

static void roundtrip(struct domain_def *a)
{
    _cleanup_free_ char *xml = domain_def_format(a);
    struct domain_def *b;
    _cleanup_free_ char *xml2 = NULL;

    assert_non_null(xml);
    b = parse_ok(xml, strlen(xml));
    assert_true(domain_def_equal(a, b));
    /* Our own output uses nothing we would ignore. */
    assert_int_equal(b->n_ignored, 0);
    /* And formatting is stable. */
    xml2 = domain_def_format(b);
    assert_string_equal(xml, xml2);
    domain_def_free(b);
}

static void test_roundtrip_minimal(void **state)
{
    struct domain_def *a = load("domain-minimal.xml");

    roundtrip(a);
    domain_def_free(a);
}

static void test_roundtrip_full(void **state)
{
    struct domain_def *a = load("domain-full.xml");
    _cleanup_free_ char *xml = domain_def_format(a);

    roundtrip(a);
    /* libvirt-shaped output, block devices as block disks. */
    assert_non_null(strstr(xml, "<domain type=\"kvm\">"));
    assert_non_null(strstr(xml, "<memory unit=\"KiB\">4194304</memory>"));
    assert_non_null(strstr(xml, "<type arch=\"x86_64\" machine=\"pc-q35-7.2\">hvm</type>"));
    assert_non_null(strstr(xml, "<initrd>/var/lib/ferry/boot/initrd.img-6.1.0</initrd>"));
    assert_non_null(strstr(xml, "<disk type=\"block\" device=\"disk\">"));
    assert_non_null(strstr(xml, "<source dev=\"/dev/vg0/web-01-data\"/>"));
    assert_non_null(strstr(xml, "<driver name=\"qemu\" type=\"qcow2\" cache=\"none\" "
                                "io=\"native\" discard=\"unmap\"/>"));
    assert_non_null(strstr(xml, "<target dev=\"sda\" bus=\"sata\"/>"));
    assert_non_null(strstr(xml, "<readonly/>"));
    assert_non_null(strstr(xml, "<interface type=\"ethernet\">\n      <mac "
                                "address=\"52:54:00:6b:3c:58\"/>\n      <target "
                                "dev=\"vnet-web01\"/>\n      <model type=\"virtio\"/>"));
    assert_non_null(strstr(xml, "<source bridge=\"br0\"/>"));
    assert_non_null(strstr(xml, "<address type=\"pci\" domain=\"0x0000\" bus=\"0x00\" "
                                "slot=\"0x04\" function=\"0x0\"/>"));
    assert_non_null(strstr(xml, "<shareable/>"));
    assert_null(strstr(xml, "<?xml"));
    domain_def_free(a);
}

/* A file under /dev (tmpfs at /dev/shm) stays a file disk: the type is
 * kept as written, never guessed from the path, as libvirt's is. */
static void test_file_under_dev_stays_file(void **state)
{
    static const char xml[] = "<domain><name>d</name><memory>1024</memory><devices>"
                              "<disk type='file'><source file='/dev/shm/a.img'/>"
                              "<target dev='vda'/></disk>"
                              "<disk type='block'><source dev='/dev/vg0/b'/>"
                              "<target dev='vdb'/></disk></devices></domain>";
    struct domain_def *a = parse_ok(xml, sizeof xml - 1);
    _cleanup_free_ char *out = domain_def_format(a);

    (void)state;
    assert_non_null(strstr(out, "<disk type=\"file\" device=\"disk\">"));
    assert_non_null(strstr(out, "<source file=\"/dev/shm/a.img\"/>"));
    assert_non_null(strstr(out, "<disk type=\"block\" device=\"disk\">"));
    assert_non_null(strstr(out, "<source dev=\"/dev/vg0/b\"/>"));
    roundtrip(a);
    domain_def_free(a);
}

/* A CD-ROM drive, loaded and empty, and a disk's driver attributes. */
static void test_roundtrip_cdrom(void **state)
{
    static const char xml[] =
        "<domain><name>c</name><memory>1024</memory><devices>"
        "<disk device='cdrom'><source file='/iso/a.iso'/><target dev='sda' bus='sata'/></disk>"
        "<disk type='file' device='cdrom'><target dev='sdb' bus='sata'/></disk>"
        "<disk><driver type='raw' io='threads' detect_zeroes='unmap'/><source file='/a'/>"
        "<target dev='vda'/></disk></devices></domain>";
    struct domain_def *a = parse_ok(xml, strlen(xml));
    _cleanup_free_ char *out = domain_def_format(a);

    roundtrip(a);
    assert_non_null(strstr(out, "<disk type=\"file\" device=\"cdrom\">\n      <driver "
                                "name=\"qemu\" type=\"raw\"/>\n      <target dev=\"sdb\" "
                                "bus=\"sata\"/>\n      <readonly/>\n      <address type=\"drive\" "
                                "controller=\"0\" bus=\"0\" target=\"0\" unit=\"1\"/>\n    "
                                "</disk>"));
    assert_non_null(strstr(out, "io=\"threads\" detect_zeroes=\"unmap\""));
    domain_def_free(a);
}

/* Values that would break a printf-built document are escaped. */
static void test_escaping(void **state)
{
    struct domain_def def = {.memory_kib = 1024, .vcpus = 2, .n_disks = 1};
    _cleanup_free_ char *xml = NULL;
    struct domain_def *back;

    strcpy(def.name, "esc");
    ferry_uuid_generate(def.uuid);
    def.description = "</description><devices><disk/></devices> & \"quotes\" 'single'";
    def.cmdline = "console=ttyS0 init=/bin/sh -c 'echo <hi> && true'";
    strcpy(def.disks[0].target, "vda");
    strcpy(def.disks[0].bus, "virtio");
    def.disks[0].source = "/images/a\"b'c&d<e>.img";
    def.disks[0].cache = DOMAIN_CACHE_WRITEBACK;
    def.disks[0].addr = (struct domain_pci_addr){.set = true, .slot = 2};

    xml = domain_def_format(&def);
    assert_non_null(xml);
    assert_null(strstr(xml, "</description><devices>"));
    assert_non_null(strstr(xml, "&amp;"));
    assert_non_null(strstr(xml, "&lt;"));
    back = parse_ok(xml, strlen(xml));
    assert_string_equal(back->description, def.description);
    assert_string_equal(back->cmdline, def.cmdline);
    assert_string_equal(back->disks[0].source, def.disks[0].source);
    assert_int_equal(back->n_disks, 1);
    assert_true(domain_def_equal(&def, back));
    domain_def_free(back);
}

static void test_equal_detects_changes(void **state)
{
    struct domain_def *a = load("domain-full.xml");
    struct domain_def *b = domain_def_copy(a);

    assert_true(domain_def_equal(a, b));
    b->disks[2].readonly = false;
    assert_false(domain_def_equal(a, b));
    b->disks[2].readonly = true;
    b->memory_kib++;
    assert_false(domain_def_equal(a, b));
    b->memory_kib--;
    b->nics[1].mac[16] = '0';
    assert_false(domain_def_equal(a, b));
    strcpy(b->nics[1].mac, a->nics[1].mac);
    b->nics[0].model = DOMAIN_NIC_E1000;
    assert_false(domain_def_equal(a, b));
    b->nics[0].model = a->nics[0].model;
    b->nics[0].addr.slot++;
    assert_false(domain_def_equal(a, b));
    b->nics[0].addr.slot--;
    b->disks[0].addr.slot++;
    assert_false(domain_def_equal(a, b));
    b->disks[0].addr.slot--;
    strcpy(b->machine, "pc-q35-7.1");
    assert_false(domain_def_equal(a, b));
    strcpy(b->machine, a->machine);
    free(b->initrd);
    b->initrd = NULL;
    assert_false(domain_def_equal(a, b));
    b->initrd = ferry_strdup(a->initrd);
    assert_true(domain_def_equal(a, b));
    free(b->kernel);
    b->kernel = NULL;
    assert_false(domain_def_equal(a, b));
    domain_def_free(b);
    domain_def_free(a);
}

static void test_copy_is_deep(void **state)
{
    struct domain_def *a = load("domain-full.xml");
    struct domain_def *b = domain_def_copy(a);

    assert_ptr_not_equal(a->kernel, b->kernel);
    assert_ptr_not_equal(a->initrd, b->initrd);
    assert_ptr_not_equal(a->disks[0].source, b->disks[0].source);
    assert_ptr_not_equal(a->ignored[0], b->ignored[0]);
    assert_int_equal(a->n_ignored, b->n_ignored);
    assert_string_equal(a->ignored[3], b->ignored[3]);
    domain_def_free(a);
    /* b survives a's release (ASan would flag a shared pointer). */
    assert_string_equal(b->disks[0].source, "/var/lib/libvirt/images/web-01 root.qcow2");
    assert_string_equal(b->description, "Frontend & cache, owner: \"ops\" <ops@example.com>");
    domain_def_free(b);
    domain_def_free(NULL);
}

static void test_names(void **state)
{
    assert_string_equal(domain_disk_format_name(DOMAIN_DISK_RAW), "raw");
    assert_string_equal(domain_disk_format_name(DOMAIN_DISK_QCOW2), "qcow2");
    assert_string_equal(domain_disk_cache_name(DOMAIN_CACHE_DEFAULT), "default");
    assert_string_equal(domain_disk_cache_name(DOMAIN_CACHE_NONE), "none");
    assert_string_equal(domain_disk_cache_name(DOMAIN_CACHE_WRITEBACK), "writeback");
    assert_string_equal(domain_disk_cache_name(DOMAIN_CACHE_WRITETHROUGH), "writethrough");
    assert_string_equal(domain_disk_cache_name(DOMAIN_CACHE_UNSAFE), "unsafe");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_minimal), cmocka_unit_test(test_roundtrip_full),
        cmocka_unit_test(test_roundtrip_cdrom),   cmocka_unit_test(test_file_under_dev_stays_file),
        cmocka_unit_test(test_escaping),          cmocka_unit_test(test_equal_detects_changes),
        cmocka_unit_test(test_copy_is_deep),      cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
