/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Domain XML parsing: a minimal and a realistic libvirt document, memory
 * units, vCPUs, names, disks and a direct kernel boot, and every refusal
 * with the message it must carry. Devices, firmware, CPU and machine:
 * test-domain-devices.c. */
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
#include "domain-fixture.h"
#include "domain.h"
#include "util.h"

static void test_minimal(void **state)
{
    struct domain_def *def = domain_load("domain-minimal.xml");
    char uuid[FERRY_UUID_STRLEN];

    assert_string_equal(def->name, "tiny");
    assert_true(ferry_uuid_valid(def->uuid));
    strcpy(uuid, def->uuid);
    assert_int_equal(def->memory_kib, 131072);
    assert_int_equal(def->vcpus, 1);
    assert_null(def->kernel);
    assert_null(def->cmdline);
    assert_null(def->description);
    assert_int_equal(def->n_disks, 1);
    assert_string_equal(def->disks[0].target, "vda");
    assert_string_equal(def->disks[0].bus, "virtio");
    assert_string_equal(def->disks[0].source, "/var/lib/ferry/images/tiny.raw");
    assert_int_equal(def->disks[0].format, DOMAIN_DISK_RAW);
    assert_int_equal(def->disks[0].cache, DOMAIN_CACHE_DEFAULT);
    assert_false(def->disks[0].readonly);
    assert_int_equal(def->n_ignored, 0);
    domain_def_free(def);
    /* A generated UUID is fresh each time. */
    def = domain_load("domain-minimal.xml");
    assert_string_not_equal(def->uuid, uuid);
    domain_def_free(def);
}

static void test_full_libvirt_document(void **state)
{
    struct domain_def *def = domain_load("domain-full.xml");
    static const char *const expect_ignored[] = {
        "title",
        "vcpu@placement",
        "metadata",
        "currentMemory",
        "cputune",
        "resource",
        "sysinfo",
        "os/boot",
        "os/smbios",
        "cpu@check",
        "clock/timer@tickpolicy",
        "devices/emulator",
        "devices/disk/backingStore",
        "devices/disk/boot",
        "devices/disk/alias",
        "devices/controller",
        "devices/channel",
        "devices/input",
        "devices/memballoon",
        "devices/rng",
        "seclabel",
        "qemu:commandline",
    };

    assert_string_equal(def->name, "web-01.prod");
    assert_string_equal(def->uuid, "8f3c2a1e-5b7d-4c9a-9e2f-1a2b3c4d5e6f");
    assert_string_equal(def->description, "Frontend & cache, owner: \"ops\" <ops@example.com>");
    assert_int_equal(def->memory_kib, 4 * 1024 * 1024);
    assert_int_equal(def->vcpus, 4);
    assert_string_equal(def->kernel, "/var/lib/ferry/boot/vmlinuz-6.1.0");
    assert_string_equal(def->initrd, "/var/lib/ferry/boot/initrd.img-6.1.0");
    assert_string_equal(def->machine, "pc-q35-7.2");
    assert_string_equal(def->cmdline, "console=ttyS0 root=/dev/vda1 ro quiet");
    assert_int_equal(def->n_disks, 3);

    assert_string_equal(def->disks[0].target, "vda");
    assert_string_equal(def->disks[0].source, "/var/lib/libvirt/images/web-01 root.qcow2");
    assert_int_equal(def->disks[0].format, DOMAIN_DISK_QCOW2);
    assert_int_equal(def->disks[0].cache, DOMAIN_CACHE_NONE);
    assert_string_equal(def->disks[0].serial, "ROOT-0001");

    assert_string_equal(def->disks[1].target, "vdb");
    assert_string_equal(def->disks[1].source, "/dev/vg0/web-01-data");
    assert_int_equal(def->disks[1].cache, DOMAIN_CACHE_WRITETHROUGH);

    assert_string_equal(def->disks[2].target, "sda");
    assert_string_equal(def->disks[2].bus, "sata");
    assert_true(def->disks[2].readonly);
    assert_true(def->disks[2].shareable);
    assert_string_equal(def->disks[2].serial, "");

    assert_int_equal(def->n_nics, 2);
    assert_int_equal(def->nics[0].type, DOMAIN_NIC_ETHERNET);
    assert_string_equal(def->nics[0].mac, "52:54:00:6b:3c:58");
    assert_string_equal(def->nics[0].tap, "vnet-web01");
    assert_int_equal(def->nics[0].model, DOMAIN_NIC_VIRTIO);
    assert_int_equal(def->nics[1].type, DOMAIN_NIC_BRIDGE);
    assert_string_equal(def->nics[1].bridge, "br0");
    assert_string_equal(def->nics[1].tap, "");

    /* PCI slots as written, and the first free one for the NIC without. */
    assert_true(def->disks[0].addr.set);
    assert_int_equal(def->disks[0].addr.slot, 4);
    assert_int_equal(def->disks[1].addr.slot, 5);
    assert_false(def->disks[2].addr.set); /* sata: on its controller */
    assert_int_equal(def->disks[2].drive, 0);
    assert_int_equal(def->nics[0].addr.slot, 3);
    assert_true(def->nics[1].addr.set);
    assert_int_equal(def->nics[1].addr.slot, 6);
    assert_int_equal(def->video.model, DOMAIN_VIDEO_VIRTIO);
    assert_int_equal(def->video.addr.slot, 2); /* the video card first */
    assert_int_equal(def->serial.type, DOMAIN_CHR_PTY);
    assert_true(def->graphics.vnc);
    assert_int_equal(def->graphics.port, -1);
    assert_string_equal(def->graphics.listen, "127.0.0.1");
    assert_int_equal(def->on_reboot, DOMAIN_REBOOT_RESTART);
    assert_int_equal(def->cpu.mode, DOMAIN_CPU_HOST_PASSTHROUGH);
    assert_int_equal(def->mopts.vmport, DOMAIN_OFF);
    assert_int_equal(def->mopts.hpet, DOMAIN_OFF);
    assert_int_equal(def->mopts.smm, DOMAIN_DEFAULT);
    assert_false(def->mopts.rtc_localtime);
    assert_int_equal(def->mopts.s3, DOMAIN_OFF);
    assert_int_equal(def->mopts.s4, DOMAIN_OFF);
    assert_int_equal(def->cpu.sockets, 1);
    assert_int_equal(def->cpu.cores, 2);
    assert_int_equal(def->cpu.threads, 2);

    for (size_t i = 0; i < ARRAY_SIZE(expect_ignored); i++) {
        if (!domain_ignored(def, expect_ignored[i]))
            fail_msg("'%s' not listed as ignored", expect_ignored[i]);
    }
    /* Deduplicated: three <controller>s, two <interface>s, one entry each. */
    assert_int_equal(def->n_ignored, ARRAY_SIZE(expect_ignored));
    assert_false(domain_ignored(def, "devices/disk"));
    assert_false(domain_ignored(def, "os/type"));
    assert_non_null(domain_def_find_disk(def, "vdb"));
    assert_ptr_equal(domain_def_find_disk(def, "vdb"), &def->disks[1]);
    assert_null(domain_def_find_disk(def, "vdz"));
    domain_def_free(def);
}

static void test_memory_units(void **state)
{
    static const struct {
        const char *unit;
        const char *value;
        uint64_t kib;
    } t[] = {
        {NULL, "2048", 2048},
        {"KiB", "2048", 2048},
        {"k", "2048", 2048},
        {"K", "2048", 2048},
        {"KB", "2048", 2000},
        {"b", "1048576", 1024},
        {"bytes", "1048577", 1025}, /* rounded up */
        {"MiB", "512", 512 * 1024},
        {"M", "512", 512 * 1024},
        {"MB", "512", 500000},
        {"G", "2", 2 * 1024 * 1024},
        {"GiB", "2", 2 * 1024 * 1024},
        {"gib", "2", 2 * 1024 * 1024},
        {"GB", "2", 1953125},
        {"TiB", "1", 1024ull * 1024 * 1024},
        {"T", " 1 ", 1024ull * 1024 * 1024},
    };

    for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
        _cleanup_free_ char *xml = ferry_strdup_printf(
            "<domain><name>m</name><memory%s%s%s>%s</memory></domain>", t[i].unit ? " unit='" : "",
            t[i].unit ? t[i].unit : "", t[i].unit ? "'" : "", t[i].value);
        struct domain_def *def = domain_parse_ok(xml);

        if (def->memory_kib != t[i].kib)
            fail_msg("%s %s: %llu KiB, expected %llu", t[i].value, t[i].unit,
                     (unsigned long long)def->memory_kib, (unsigned long long)t[i].kib);
        domain_def_free(def);
    }
}

static void test_memory_refusals(void **state)
{
    domain_expect_fail("<domain><name>m</name></domain>", -EINVAL, "<memory> is missing");
    domain_expect_fail("<domain><name>m</name><memory unit='parsec'>1</memory></domain>", -EINVAL,
                       "unknown unit 'parsec'");
    domain_expect_fail("<domain><name>m</name><memory unit='KiBB'>1</memory></domain>", -EINVAL,
                       "unknown unit");
    domain_expect_fail("<domain><name>m</name><memory>-1</memory></domain>", -EINVAL,
                       "not a number");
    domain_expect_fail("<domain><name>m</name><memory>1.5</memory></domain>", -EINVAL,
                       "not a number");
    domain_expect_fail("<domain><name>m</name><memory>0</memory></domain>", -EINVAL, "zero");
    domain_expect_fail("<domain><name>m</name><memory unit='EiB'>100</memory></domain>", -EINVAL,
                       "too large");
    domain_expect_fail("<domain><name>m</name><memory>99999999999999999999999</memory></domain>",
                       -EINVAL, "<memory>");
    domain_expect_fail("<domain><name>m</name><memory>1</memory><memory>2</memory></domain>",
                       -EINVAL, "<memory> appears more than once");
}

static void test_vcpus(void **state)
{
    struct domain_def *def =
        domain_parse_ok("<domain><name>v</name><memory>1</memory>"
                        "<vcpu placement='static' cpuset='0-3'>512</vcpu></domain>");

    assert_int_equal(def->vcpus, DOMAIN_MAX_VCPUS);
    /* Where the host runs them: listed, the guest is the same. */
    assert_int_equal(def->n_ignored, 2);
    assert_string_equal(def->ignored[0], "vcpu@placement");
    assert_string_equal(def->ignored[1], "vcpu@cpuset");
    domain_def_free(def);
    /* Fewer vCPUs online than the guest has: not what ferry starts. */
    domain_expect_fail(
        "<domain><name>v</name><memory>1</memory><vcpu current='1'>2</vcpu></domain>", -EOPNOTSUPP,
        "<vcpu>: attribute 'current' of <vcpu> is not supported");
    domain_expect_fail(
        "<domain><name>v</name><memory>1</memory><launchSecurity type='sev'/></domain>",
        -EOPNOTSUPP, "<launchSecurity> is not supported");
    domain_expect_fail(
        "<domain><name>v</name><memory>1</memory><devices><hostdev mode='subsystem'/>"
        "</devices></domain>",
        -EOPNOTSUPP, "<devices><hostdev> is not supported");
    domain_expect_fail("<domain><name>v</name><memory>1</memory><devices><tpm model='tpm-crb'/>"
                       "</devices></domain>",
                       -EOPNOTSUPP, "<devices><tpm> is not supported");
    domain_expect_fail("<domain><name>v</name><memory>1</memory><vcpu>0</vcpu></domain>", -EINVAL,
                       "<vcpu> '0' is not a count in 1..512");
    domain_expect_fail("<domain><name>v</name><memory>1</memory><vcpu>513</vcpu></domain>", -EINVAL,
                       "'513'");
    domain_expect_fail("<domain><name>v</name><memory>1</memory><vcpu>two</vcpu></domain>", -EINVAL,
                       "'two'");
}

static void test_name_and_uuid(void **state)
{
    domain_expect_fail("<domain><memory>1</memory></domain>", -EINVAL, "<name> is missing");
    domain_expect_fail("<domain><name></name><memory>1</memory></domain>", -EINVAL,
                       "<name> '' must be");
    domain_expect_fail("<domain><name>../etc</name><memory>1</memory></domain>", -EINVAL,
                       "<name> '../etc' must be");
    domain_expect_fail("<domain><name>a b</name><memory>1</memory></domain>", -EINVAL, "'a b'");
    domain_expect_fail("<domain><name>a</name><name>b</name><memory>1</memory></domain>", -EINVAL,
                       "<name> appears more than once");
    domain_expect_fail("<domain><name>a<b/></name><memory>1</memory></domain>", -EINVAL,
                       "must contain only text");
    domain_expect_fail("<domain><name>"
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                       "</name><memory>1</memory></domain>",
                       -EINVAL, "65 characters");
    domain_expect_fail("<domain><name>u</name><uuid>not-a-uuid</uuid><memory>1</memory></domain>",
                       -EINVAL, "<uuid> 'not-a-uuid' is not a canonical");
    domain_expect_fail("<domain><name>u</name><uuid>8f3c2a1e5b7d4c9a9e2f1a2b3c4d5e6f</uuid>"
                       "<memory>1</memory></domain>",
                       -EINVAL, "is not a canonical");
    domain_expect_fail("<domain><name>u</name><uuid>8f3c2a1e-5b7d-4c9a-9e2f-1a2b3c4d5e6g</uuid>"
                       "<memory>1</memory></domain>",
                       -EINVAL, "is not a canonical");
    domain_expect_fail("<domian><name>u</name><memory>1</memory></domian>", -EINVAL,
                       "root element is <domian>");
}

static void test_disk_refusals(void **state)
{
    static const struct {
        const char *disk;
        int code;
        const char *needle;
    } t[] = {
        {"<disk type='file' device='cdrom'><source file='/iso/x.iso'/><target dev='vdc' "
         "bus='virtio'/><readonly/></disk>",
         -EOPNOTSUPP, "disk 'vdc': <disk device='cdrom'> on bus 'virtio' is not supported"},
        {"<disk type='file' device='disk'><target dev='vdc'/></disk>", -EINVAL,
         "disk 'vdc': <disk device='disk'> without <source>: only a cdrom may be empty"},
        {"<disk type='file'><source file='/x'/><target dev='sdb' bus='usb'/></disk>", -EOPNOTSUPP,
         "disk 'sdb': bus 'usb' is not supported (virtio, sata, ide, scsi)"},
        {"<disk type='file'><driver name='qemu' io='native'/><source file='/x'/>"
         "<target dev='vda'/></disk>",
         -EINVAL, "disk 'vda': <driver io='native'> needs cache='none'"},
        {"<disk type='file'><driver name='qemu' io='posix'/><source file='/x'/>"
         "<target dev='vda'/></disk>",
         -EOPNOTSUPP, "disk 'vda': <driver io='posix'> is not supported"},
        {"<disk type='file'><driver name='qemu' discard='on'/><source file='/x'/>"
         "<target dev='vda'/></disk>",
         -EOPNOTSUPP, "<driver discard='on'> is not supported (unmap, ignore)"},
        {"<disk type='file'><driver name='qemu' detect_zeroes='yes'/><source file='/x'/>"
         "<target dev='vda'/></disk>",
         -EOPNOTSUPP, "<driver detect_zeroes='yes'> is not supported"},
        {"<disk type='file'><driver name='qemu' discard='ignore' detect_zeroes='unmap'/>"
         "<source file='/x'/><target dev='vda'/></disk>",
         -EINVAL, "<driver detect_zeroes='unmap'> needs discard='unmap'"},
        {"<disk type='file'><driver name='qemu' queues='4'/><source file='/x'/>"
         "<target dev='vda'/></disk>",
         -EOPNOTSUPP, "disk 'vda': attribute 'queues' of <driver> is not supported"},
        {"<disk type='file' device='floppy'><target dev='fda' bus='fdc'/></disk>", -EOPNOTSUPP,
         "disk 'fda': <disk device='floppy'> is not supported (disk, cdrom)"},
        {"<disk type='network' device='disk'><source protocol='rbd' name='pool/img'/>"
         "<target dev='vdc'/></disk>",
         -EOPNOTSUPP, "disk 'vdc': <disk type='network'> is not supported"},
        {"<disk type='volume' device='disk'><source pool='p' volume='v'/><target dev='vdd'/>"
         "</disk>",
         -EOPNOTSUPP, "disk 'vdd': <disk type='volume'>"},
        {"<disk type='file'><source file='relative/x.img'/><target dev='vda'/></disk>", -EINVAL,
         "disk 'vda': path 'relative/x.img' is not absolute"},
        {"<disk type='file'><source file=''/><target dev='vda'/></disk>", -EINVAL,
         "is not absolute"},
        {"<disk type='file'><source file='/x'/></disk>", -EINVAL, "<disk> without <target"},
        {"<disk type='file'><source file='/x'/><target dev='v'/></disk>", -EINVAL,
         "target dev 'v' must be 2..31"},
        {"<disk type='file'><source file='/x'/><target dev='VDA'/></disk>", -EINVAL,
         "target dev 'VDA'"},
        {"<disk type='file'><source file='/x'/><target dev='vd-a'/></disk>", -EINVAL,
         "target dev 'vd-a'"},
        {"<disk type='file'><source file='/x'/><target dev='vda' bus='usb'/></disk>", -EOPNOTSUPP,
         "disk 'vda': bus 'usb' is not supported"},
        {"<disk type='file'><driver name='qemu' type='vmdk'/><source file='/x'/>"
         "<target dev='vda'/></disk>",
         -EOPNOTSUPP, "disk 'vda': image format 'vmdk'"},
        {"<disk type='file'><driver name='tap'/><source file='/x'/><target dev='vda'/></disk>",
         -EOPNOTSUPP, "driver name 'tap'"},
        {"<disk type='file'><driver name='qemu' cache='directsync'/><source file='/x'/>"
         "<target dev='vda'/></disk>",
         -EOPNOTSUPP, "cache mode 'directsync'"},
        {"<disk type='file'><source file='/x'/><target dev='vda'/><encryption format='luks'/>"
         "</disk>",
         -EOPNOTSUPP, "disk 'vda': <encryption> is not supported"},
        {"<disk type='file'><source file='/x'/><target dev='vda'/><serial>a,b</serial></disk>",
         -EINVAL, "<serial> 'a,b'"},
        {"<disk type='file'><source file='/x'/><source file='/y'/><target dev='vda'/></disk>",
         -EINVAL, "<source> appears more than once"},
        {"<disk type='file'><source file='/x'/><target dev='vda'/></disk>"
         "<disk type='file'><source file='/y'/><target dev='vda'/></disk>",
         -EINVAL, "disk 'vda': target used by more than one disk"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
        _cleanup_free_ char *xml = domain_doc_with_devices(t[i].disk);
        domain_expect_fail(xml, t[i].code, t[i].needle);
    }
}

static void test_disk_variants(void **state)
{
    _cleanup_free_ char *xml = domain_doc_with_devices(
        "<disk device='cdrom'><target dev='sda' bus='sata'/></disk>"
        "<disk type='block' device='disk'><driver type='raw' cache='unsafe'/>"
        "<source dev='/dev/sdb'/><target dev='sdb' bus='sata'/></disk>"
        "<disk type='file'><driver cache='writeback'/><source file='/a/b'/>"
        "<target dev='hda' bus='ide'/><serial> S1 </serial></disk>");
    struct domain_def *def = domain_parse_ok(xml);

    assert_int_equal(def->n_disks, 3);
    assert_null(def->disks[0].source); /* an empty tray */
    assert_true(def->disks[0].cdrom);
    assert_true(def->disks[0].readonly);
    assert_string_equal(def->disks[1].source, "/dev/sdb");
    assert_int_equal(def->disks[1].cache, DOMAIN_CACHE_UNSAFE);
    assert_false(def->disks[1].cdrom);
    assert_int_equal(def->disks[2].cache, DOMAIN_CACHE_WRITEBACK);
    assert_string_equal(def->disks[2].serial, "S1");
    domain_def_free(def);

    /* <driver io discard detect_zeroes>; host-side attributes listed. */
    {
        _cleanup_free_ char *x = domain_doc_with_devices(
            "<disk><driver name='qemu' type='qcow2' cache='none' io='native' discard='ignore' "
            "detect_zeroes='on' error_policy='stop' iothread='1'/><source file='/a'/>"
            "<target dev='vda'/></disk>");
        def = domain_parse_ok(x);
        assert_string_equal(def->disks[0].io, "native");
        assert_string_equal(def->disks[0].discard, "ignore");
        assert_string_equal(def->disks[0].detect_zeroes, "on");
        assert_int_equal(def->n_ignored, 2);
        assert_string_equal(def->ignored[0], "devices/disk/driver@error_policy");
        assert_string_equal(def->ignored[1], "devices/disk/driver@iothread");
        domain_def_free(def);
    }
}

static void test_disk_count_limit(void **state)
{
    char disks[DOMAIN_MAX_DISKS * 80 + 200];
    size_t n = 0;
    struct domain_def *def;

    disks[0] = '\0';
    /* 26 virtio disks and 6 SATA ones: 29 PCI slots and 6 AHCI ports. */
    for (int i = 0; i < DOMAIN_MAX_DISKS; i++)
        n += (size_t)snprintf(disks + n, sizeof disks - n,
                              "<disk><source file='/i/%d'/><target dev='d%d' bus='%s'/></disk>", i,
                              i, i < 26 ? "virtio" : "sata");
    {
        _cleanup_free_ char *xml = domain_doc_with_devices(disks);
        def = domain_parse_ok(xml);
        assert_int_equal(def->n_disks, DOMAIN_MAX_DISKS);
        domain_def_free(def);
    }
    snprintf(disks + n, sizeof disks - n, "<disk><source file='/i/x'/><target dev='vdx'/></disk>");
    {
        _cleanup_free_ char *xml = domain_doc_with_devices(disks);
        domain_expect_fail(xml, -EINVAL, "more than 32 disks");
    }
}

static void test_source_path_limit(void **state)
{
    char path[DOMAIN_PATH_MAX + 2];

    memset(path, 'p', sizeof path);
    path[0] = '/';
    path[DOMAIN_PATH_MAX] = '\0'; /* exactly DOMAIN_PATH_MAX characters */
    {
        _cleanup_free_ char *disk =
            ferry_strdup_printf("<disk><source file='%s'/><target dev='vda'/></disk>", path);
        _cleanup_free_ char *xml = domain_doc_with_devices(disk);
        struct domain_def *def = domain_parse_ok(xml);
        assert_int_equal(strlen(def->disks[0].source), DOMAIN_PATH_MAX);
        domain_def_free(def);
    }
    path[DOMAIN_PATH_MAX] = 'p';
    path[DOMAIN_PATH_MAX + 1] = '\0';
    {
        _cleanup_free_ char *disk =
            ferry_strdup_printf("<disk><source file='%s'/><target dev='vda'/></disk>", path);
        _cleanup_free_ char *xml = domain_doc_with_devices(disk);
        domain_expect_fail(xml, -EINVAL, "<source file> is 1025 characters");
    }
}

static void test_os_kernel(void **state)
{
    domain_expect_fail("<domain><name>k</name><memory>1</memory><os><kernel>vmlinuz</kernel></os>"
                       "</domain>",
                       -EINVAL, "<os><kernel>: path 'vmlinuz' is not absolute");
    domain_expect_fail("<domain><name>k</name><memory>1</memory><os><type>xen</type></os></domain>",
                       -EOPNOTSUPP, "<os><type>xen</type> is not supported");
    domain_expect_fail("<domain><name>k</name><memory>1</memory><os/><os/></domain>", -EINVAL,
                       "<os> appears more than once");
    domain_expect_fail("<domain><name>k</name><memory>1</memory><os><initrd>/boot/i</initrd></os>"
                       "</domain>",
                       -EINVAL, "<os><initrd> needs an <os><kernel>");
    domain_expect_fail("<domain><name>k</name><memory>1</memory><os><kernel>/k</kernel>"
                       "<initrd>initrd.img</initrd></os></domain>",
                       -EINVAL, "<os><initrd>: path 'initrd.img' is not absolute");
    domain_expect_fail("<domain><name>k</name><memory>1</memory><os><kernel>/k</kernel>"
                       "<initrd>/a</initrd><initrd>/b</initrd></os></domain>",
                       -EINVAL, "<initrd> appears more than once");
}

/* A domain whose <devices> is DEVICES. */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal),
        cmocka_unit_test(test_full_libvirt_document),
        cmocka_unit_test(test_memory_units),
        cmocka_unit_test(test_memory_refusals),
        cmocka_unit_test(test_vcpus),
        cmocka_unit_test(test_name_and_uuid),
        cmocka_unit_test(test_disk_refusals),
        cmocka_unit_test(test_disk_variants),
        cmocka_unit_test(test_disk_count_limit),
        cmocka_unit_test(test_source_path_limit),
        cmocka_unit_test(test_os_kernel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
