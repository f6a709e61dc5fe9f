/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Domain XML parsing: a minimal and a realistic libvirt document, memory
 * units, and every refusal with the message it must carry. */
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

static struct domain_def *load(const char *file)
{
    _cleanup_free_ char *path = ferry_strdup_printf("%s/%s", FERRY_TEST_DATA, file);
    _cleanup_free_ char *xml = NULL;
    struct domain_def *def = NULL;
    struct ferry_error err = {0};
    size_t len;

    assert_int_equal(ferry_read_file(path, DOMAIN_XML_MAX, &xml, &len, &err), 0);
    if (domain_def_parse(xml, len, &def, &err) < 0)
        fail_msg("%s: %s", file, err.msg);
    return def;
}

static struct domain_def *parse_ok(const char *xml)
{
    struct domain_def *def = NULL;
    struct ferry_error err = {0};

    if (domain_def_parse(xml, strlen(xml), &def, &err) < 0)
        fail_msg("unexpected failure: %s", err.msg);
    return def;
}

static void expect_fail(const char *xml, int code, const char *needle)
{
    struct domain_def *def = NULL;
    struct ferry_error err = {0};

    assert_int_equal(domain_def_parse(xml, strlen(xml), &def, &err), code);
    assert_null(def);
    assert_int_equal(err.code, -code);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' lacks '%s'", err.msg, needle);
}

/* A domain with one disk whose <disk> element is DISK. */
static char *with_disk(const char *disk)
{
    return ferry_strdup_printf("<domain><name>d</name><memory>1024</memory>"
                               "<devices>%s</devices></domain>",
                               disk);
}

static void test_minimal(void **state)
{
    struct domain_def *def = load("domain-minimal.xml");
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
    def = load("domain-minimal.xml");
    assert_string_not_equal(def->uuid, uuid);
    domain_def_free(def);
}

static bool ignored(const struct domain_def *def, const char *path)
{
    for (size_t i = 0; i < def->n_ignored; i++) {
        if (strcmp(def->ignored[i], path) == 0)
            return true;
    }
    return false;
}

static void test_full_libvirt_document(void **state)
{
    struct domain_def *def = load("domain-full.xml");
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
        if (!ignored(def, expect_ignored[i]))
            fail_msg("'%s' not listed as ignored", expect_ignored[i]);
    }
    /* Deduplicated: three <controller>s, two <interface>s, one entry each. */
    assert_int_equal(def->n_ignored, ARRAY_SIZE(expect_ignored));
    assert_false(ignored(def, "devices/disk"));
    assert_false(ignored(def, "os/type"));
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
        struct domain_def *def = parse_ok(xml);

        if (def->memory_kib != t[i].kib)
            fail_msg("%s %s: %llu KiB, expected %llu", t[i].value, t[i].unit,
                     (unsigned long long)def->memory_kib, (unsigned long long)t[i].kib);
        domain_def_free(def);
    }
}

static void test_memory_refusals(void **state)
{
    expect_fail("<domain><name>m</name></domain>", -EINVAL, "<memory> is missing");
    expect_fail("<domain><name>m</name><memory unit='parsec'>1</memory></domain>", -EINVAL,
                "unknown unit 'parsec'");
    expect_fail("<domain><name>m</name><memory unit='KiBB'>1</memory></domain>", -EINVAL,
                "unknown unit");
    expect_fail("<domain><name>m</name><memory>-1</memory></domain>", -EINVAL, "not a number");
    expect_fail("<domain><name>m</name><memory>1.5</memory></domain>", -EINVAL, "not a number");
    expect_fail("<domain><name>m</name><memory>0</memory></domain>", -EINVAL, "zero");
    expect_fail("<domain><name>m</name><memory unit='EiB'>100</memory></domain>", -EINVAL,
                "too large");
    expect_fail("<domain><name>m</name><memory>99999999999999999999999</memory></domain>", -EINVAL,
                "<memory>");
    expect_fail("<domain><name>m</name><memory>1</memory><memory>2</memory></domain>", -EINVAL,
                "<memory> appears more than once");
}

static void test_vcpus(void **state)
{
    struct domain_def *def = parse_ok("<domain><name>v</name><memory>1</memory>"
                                      "<vcpu placement='static' cpuset='0-3'>512</vcpu></domain>");

    assert_int_equal(def->vcpus, DOMAIN_MAX_VCPUS);
    /* Where the host runs them: listed, the guest is the same. */
    assert_int_equal(def->n_ignored, 2);
    assert_string_equal(def->ignored[0], "vcpu@placement");
    assert_string_equal(def->ignored[1], "vcpu@cpuset");
    domain_def_free(def);
    /* Fewer vCPUs online than the guest has: not what ferry starts. */
    expect_fail("<domain><name>v</name><memory>1</memory><vcpu current='1'>2</vcpu></domain>",
                -EOPNOTSUPP, "<vcpu>: attribute 'current' of <vcpu> is not supported");
    expect_fail("<domain><name>v</name><memory>1</memory><launchSecurity type='sev'/></domain>",
                -EOPNOTSUPP, "<launchSecurity> is not supported");
    expect_fail("<domain><name>v</name><memory>1</memory><devices><hostdev mode='subsystem'/>"
                "</devices></domain>",
                -EOPNOTSUPP, "<devices><hostdev> is not supported");
    expect_fail("<domain><name>v</name><memory>1</memory><devices><tpm model='tpm-crb'/>"
                "</devices></domain>",
                -EOPNOTSUPP, "<devices><tpm> is not supported");
    expect_fail("<domain><name>v</name><memory>1</memory><vcpu>0</vcpu></domain>", -EINVAL,
                "<vcpu> '0' is not a count in 1..512");
    expect_fail("<domain><name>v</name><memory>1</memory><vcpu>513</vcpu></domain>", -EINVAL,
                "'513'");
    expect_fail("<domain><name>v</name><memory>1</memory><vcpu>two</vcpu></domain>", -EINVAL,
                "'two'");
}

static void test_name_and_uuid(void **state)
{
    expect_fail("<domain><memory>1</memory></domain>", -EINVAL, "<name> is missing");
    expect_fail("<domain><name></name><memory>1</memory></domain>", -EINVAL, "<name> '' must be");
    expect_fail("<domain><name>../etc</name><memory>1</memory></domain>", -EINVAL,
                "<name> '../etc' must be");
    expect_fail("<domain><name>a b</name><memory>1</memory></domain>", -EINVAL, "'a b'");
    expect_fail("<domain><name>a</name><name>b</name><memory>1</memory></domain>", -EINVAL,
                "<name> appears more than once");
    expect_fail("<domain><name>a<b/></name><memory>1</memory></domain>", -EINVAL,
                "must contain only text");
    expect_fail("<domain><name>"
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                "</name><memory>1</memory></domain>",
                -EINVAL, "65 characters");
    expect_fail("<domain><name>u</name><uuid>not-a-uuid</uuid><memory>1</memory></domain>", -EINVAL,
                "<uuid> 'not-a-uuid' is not a canonical");
    expect_fail("<domain><name>u</name><uuid>8f3c2a1e5b7d4c9a9e2f1a2b3c4d5e6f</uuid>"
                "<memory>1</memory></domain>",
                -EINVAL, "is not a canonical");
    expect_fail("<domain><name>u</name><uuid>8f3c2a1e-5b7d-4c9a-9e2f-1a2b3c4d5e6g</uuid>"
                "<memory>1</memory></domain>",
                -EINVAL, "is not a canonical");
    expect_fail("<domian><name>u</name><memory>1</memory></domian>", -EINVAL,
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
        _cleanup_free_ char *xml = with_disk(t[i].disk);
        expect_fail(xml, t[i].code, t[i].needle);
    }
}

static void test_disk_variants(void **state)
{
    _cleanup_free_ char *xml =
        with_disk("<disk device='cdrom'><target dev='sda' bus='sata'/></disk>"
                  "<disk type='block' device='disk'><driver type='raw' cache='unsafe'/>"
                  "<source dev='/dev/sdb'/><target dev='sdb' bus='sata'/></disk>"
                  "<disk type='file'><driver cache='writeback'/><source file='/a/b'/>"
                  "<target dev='hda' bus='ide'/><serial> S1 </serial></disk>");
    struct domain_def *def = parse_ok(xml);

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
        _cleanup_free_ char *x = with_disk(
            "<disk><driver name='qemu' type='qcow2' cache='none' io='native' discard='ignore' "
            "detect_zeroes='on' error_policy='stop' iothread='1'/><source file='/a'/>"
            "<target dev='vda'/></disk>");
        def = parse_ok(x);
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
        _cleanup_free_ char *xml = with_disk(disks);
        def = parse_ok(xml);
        assert_int_equal(def->n_disks, DOMAIN_MAX_DISKS);
        domain_def_free(def);
    }
    snprintf(disks + n, sizeof disks - n, "<disk><source file='/i/x'/><target dev='vdx'/></disk>");
    {
        _cleanup_free_ char *xml = with_disk(disks);
        expect_fail(xml, -EINVAL, "more than 32 disks");
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
        _cleanup_free_ char *xml = with_disk(disk);
        struct domain_def *def = parse_ok(xml);
        assert_int_equal(strlen(def->disks[0].source), DOMAIN_PATH_MAX);
        domain_def_free(def);
    }
    path[DOMAIN_PATH_MAX] = 'p';
    path[DOMAIN_PATH_MAX + 1] = '\0';
    {
        _cleanup_free_ char *disk =
            ferry_strdup_printf("<disk><source file='%s'/><target dev='vda'/></disk>", path);
        _cleanup_free_ char *xml = with_disk(disk);
        expect_fail(xml, -EINVAL, "<source file> is 1025 characters");
    }
}

static void test_os_kernel(void **state)
{
    expect_fail("<domain><name>k</name><memory>1</memory><os><kernel>vmlinuz</kernel></os>"
                "</domain>",
                -EINVAL, "<os><kernel>: path 'vmlinuz' is not absolute");
    expect_fail("<domain><name>k</name><memory>1</memory><os><type>xen</type></os></domain>",
                -EOPNOTSUPP, "<os><type>xen</type> is not supported");
    expect_fail("<domain><name>k</name><memory>1</memory><os/><os/></domain>", -EINVAL,
                "<os> appears more than once");
    expect_fail("<domain><name>k</name><memory>1</memory><os><initrd>/boot/i</initrd></os>"
                "</domain>",
                -EINVAL, "<os><initrd> needs an <os><kernel>");
    expect_fail("<domain><name>k</name><memory>1</memory><os><kernel>/k</kernel>"
                "<initrd>initrd.img</initrd></os></domain>",
                -EINVAL, "<os><initrd>: path 'initrd.img' is not absolute");
    expect_fail("<domain><name>k</name><memory>1</memory><os><kernel>/k</kernel>"
                "<initrd>/a</initrd><initrd>/b</initrd></os></domain>",
                -EINVAL, "<initrd> appears more than once");
}

/* A domain whose <devices> is DEVICES. */
static char *with_devices(const char *devices)
{
    return ferry_strdup_printf("<domain><name>d</name><memory>1024</memory>"
                               "<devices>%s</devices></domain>",
                               devices);
}

static void test_nic_refusals(void **state)
{
    static const struct {
        const char *devices;
        int code;
        const char *msg;
    } cases[] = {
        {"<interface type='network'><source network='default'/></interface>", -EOPNOTSUPP,
         "interface 0: <interface type='network'> is not supported (user, ethernet, bridge)"},
        {"<interface type='direct'/>", -EOPNOTSUPP, "<interface type='direct'>"},
        {"<interface/>", -EOPNOTSUPP, "<interface type=''> is not supported"},
        {"<interface type='user'><model type='ne2k_pci'/></interface>", -EOPNOTSUPP,
         "<model type='ne2k_pci'> is not supported (virtio, e1000, rtl8139)"},
        {"<interface type='user'><mac address='01:00:5e:00:00:01'/></interface>", -EINVAL,
         "<mac address='01:00:5e:00:00:01'> is not a unicast MAC address"},
        {"<interface type='user'><mac address='52:54:00:zz:00:01'/></interface>", -EINVAL,
         "<mac address='52:54:00:zz:00:01'>"},
        {"<interface type='bridge'><mac address='52:54:00:00:00:01'/></interface>", -EINVAL,
         "interface '52:54:00:00:00:01': <interface type='bridge'> without <source bridge=...>"},
        {"<interface type='bridge'><source bridge='br 0'/></interface>", -EINVAL,
         "<source bridge='br 0'> is not an interface name"},
        {"<interface type='user'><source bridge='br0'/></interface>", -EOPNOTSUPP,
         "<source> of <interface type='user'> is not supported"},
        {"<interface type='user'><target dev='tap0'/></interface>", -EOPNOTSUPP,
         "<target dev> of <interface type='user'> is not supported"},
        {"<interface type='ethernet'><target dev='tap%d'/></interface>", -EINVAL,
         "<target dev='tap%d'> is not an interface name"},
        {"<interface type='ethernet'><target dev='averyveryverylongname'/></interface>", -EINVAL,
         "attribute 'dev'"},
        {"<interface type='user'><mac address='52:54:00:00:00:01'/><mac "
         "address='52:54:00:00:00:02'/></interface>",
         -EINVAL, "<mac> appears more than once"},
        {"<interface type='user'><mac address='52:54:00:00:00:01'/></interface>"
         "<interface type='user'><mac address='52:54:00:00:00:01'/></interface>",
         -EINVAL, "interface '52:54:00:00:00:01': MAC address used by more than one NIC"},
        {"<interface type='ethernet'><target dev='t0'/></interface>"
         "<interface type='ethernet'><target dev='t0'/></interface>",
         -EINVAL, "<target dev='t0'> used twice"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *xml = with_devices(cases[i].devices);
        expect_fail(xml, cases[i].code, cases[i].msg);
    }
}

/* A MAC is generated in libvirt's 52:54:00 range when absent, and a
 * <model> defaults to libvirt's rtl8139. */
static void test_nic_defaults(void **state)
{
    _cleanup_free_ char *xml = with_devices("<interface type='user'/><interface type='user'/>"
                                            "<interface type='bridge'><source bridge='br0'/>"
                                            "<model type='e1000'/></interface>");
    struct domain_def *def = parse_ok(xml);

    assert_int_equal(def->n_nics, 3);
    assert_int_equal(def->nics[0].type, DOMAIN_NIC_USER);
    assert_int_equal(def->nics[0].model, DOMAIN_NIC_RTL8139);
    assert_int_equal(strncmp(def->nics[0].mac, "52:54:00:", 9), 0);
    assert_int_equal(strlen(def->nics[0].mac), 17);
    assert_string_not_equal(def->nics[0].mac, def->nics[1].mac);
    assert_int_equal(def->nics[2].model, DOMAIN_NIC_E1000);
    assert_string_equal(def->nics[2].bridge, "br0");
    domain_def_free(def);
}

static void test_pci_address_refusals(void **state)
{
    static const struct {
        const char *devices;
        int code;
        const char *msg;
    } cases[] = {
        {"<interface type='user'><mac address='52:54:00:00:00:01'/>"
         "<address type='pci' bus='0x01' slot='0x00'/></interface>",
         -EOPNOTSUPP,
         "interface '52:54:00:00:00:01': <address bus='0x1'> is not supported (ferry puts "
         "devices on the root bus"},
        {"<interface type='user'><address type='pci' domain='0x0001' slot='3'/></interface>",
         -EOPNOTSUPP, "<address domain='0x1'> is not supported"},
        {"<interface type='user'><address type='pci' slot='3' function='1'/></interface>",
         -EOPNOTSUPP, "<address function='0x1' multifunction=''> is not supported"},
        {"<interface type='user'><address type='pci' slot='3' multifunction='on'/></interface>",
         -EOPNOTSUPP, "multifunction='on'> is not supported"},
        {"<interface type='user'><address type='pci' slot='0x20'/></interface>", -EINVAL,
         "<address slot='0x20'> is not a number in 0..0x1f"},
        {"<interface type='user'><address type='pci' slot='0'/></interface>", -EINVAL,
         "<address slot='0x0'> is the host bridge's slot"},
        {"<interface type='user'><address type='pci' slot='x3'/></interface>", -EINVAL,
         "<address slot='x3'> is not a number"},
        {"<interface type='user'><address type='ccw'/></interface>", -EOPNOTSUPP,
         "<address type='ccw'> is not supported for a PCI device"},
        {"<interface type='user'><address type='pci' slot='3'/><address type='pci' slot='4'/>"
         "</interface>",
         -EINVAL, "<address> appears more than once"},
        {"<disk><source file='/a'/><target dev='vda'/><address type='drive'/></disk>", -EOPNOTSUPP,
         "disk 'vda': <address type='drive'> is not supported for a PCI device"},
        {"<disk><source file='/a'/><target dev='vda'/><address type='pci' slot='7'/></disk>"
         "<interface type='user'><mac address='52:54:00:00:00:01'/>"
         "<address type='pci' slot='0x07'/></interface>",
         -EINVAL, "interface '52:54:00:00:00:01': PCI slot 0x7 is already disk 'vda''s"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *xml = with_devices(cases[i].devices);
        expect_fail(xml, cases[i].code, cases[i].msg);
    }
}

/* Slots are assigned to devices without one, lowest free first, around
 * those already written; sata disks get none. */
/* SATA/IDE drives get a position on the machine's controller the same
 * way, as libvirt's <address type='drive'>. */
static void test_drive_addresses(void **state)
{
    _cleanup_free_ char *xml =
        with_devices("<disk device='cdrom'><target dev='sda' bus='sata'/></disk>"
                     "<disk device='cdrom'><target dev='sdb' bus='sata'/>"
                     "<address type='drive' controller='0' bus='0' target='0' unit='0'/></disk>"
                     "<disk device='cdrom'><target dev='hdc' bus='ide'/>"
                     "<address type='drive' controller='0' bus='1' target='0' unit='1'/></disk>"
                     "<disk><source file='/a'/><target dev='vda'/></disk>");
    struct domain_def *def = parse_ok(xml);

    assert_int_equal(def->disks[0].drive, 1);
    assert_int_equal(def->disks[1].drive, 0);
    assert_int_equal(def->disks[2].drive, 3);
    assert_int_equal(def->disks[3].drive, -1);
    domain_def_free(def);

    {
        _cleanup_free_ char *x = with_devices(
            "<disk device='cdrom'><target dev='sda' bus='sata'/>"
            "<address type='drive' controller='1' bus='0' target='0' unit='0'/></disk>");
        expect_fail(x, -EOPNOTSUPP,
                    "disk 'sda': <address controller='1' target='0'> is not supported");
    }
    {
        _cleanup_free_ char *x = with_devices("<disk device='cdrom'><target dev='sda' bus='sata'/>"
                                              "<address type='drive' bus='0' unit='6'/></disk>");
        expect_fail(x, -EOPNOTSUPP,
                    "<address bus='0' unit='6'> is not supported (bus 0, unit 0..5)");
    }
    {
        _cleanup_free_ char *x = with_devices("<disk device='cdrom'><target dev='sda' bus='sata'/>"
                                              "<address type='pci' slot='3'/></disk>");
        expect_fail(x, -EOPNOTSUPP, "<address type='pci'> is not supported for a sata disk");
    }
    {
        _cleanup_free_ char *x = with_devices("<disk device='cdrom'><target dev='sda' bus='sata'/>"
                                              "<address type='drive' unit='2'/></disk>"
                                              "<disk device='cdrom'><target dev='hda' bus='ide'/>"
                                              "<address type='drive' bus='1' unit='0'/></disk>");
        expect_fail(x, -EINVAL, "disk 'hda': drive address 2 is already disk 'sda''s");
    }
}

static void test_pci_address_assignment(void **state)
{
    _cleanup_free_ char *xml = with_devices(
        "<disk><source file='/a'/><target dev='vda'/></disk>"
        "<disk><source file='/b'/><target dev='sda' bus='sata'/></disk>"
        "<interface type='user'><address type='pci' domain='0x0000' bus='0x00' slot='0x02' "
        "function='0x0'/></interface>"
        "<disk><source file='/c'/><target dev='vdb'/><address type='pci' slot='4'/></disk>"
        "<interface type='user'/>");
    struct domain_def *def = parse_ok(xml);

    assert_int_equal(def->disks[0].addr.slot, 3);
    assert_false(def->disks[1].addr.set);
    assert_int_equal(def->disks[2].addr.slot, 4);
    assert_int_equal(def->nics[0].addr.slot, 2);
    assert_int_equal(def->nics[1].addr.slot, 5);
    domain_def_free(def);

    /* 29 slots (2..0x1e) for 32 disks: the 30th has none left. */
    {
        char buf[8192] = "";
        size_t off = 0;

        for (int i = 0; i < 30; i++)
            off += (size_t)snprintf(buf + off, sizeof buf - off,
                                    "<disk><source file='/d%d'/><target dev='vd%c%c'/></disk>", i,
                                    'a' + i / 26, 'a' + i % 26);
        _cleanup_free_ char *many = with_devices(buf);
        expect_fail(many, -EINVAL, "disk 'vdbd': no free PCI slot left on the root bus");
    }
}

/* <serial>, <console>, <graphics>, <video>: each refusal names what it
 * refuses. */
static void test_chardev_display_refusals(void **state)
{
    static const struct {
        const char *devices;
        int code;
        const char *msg;
    } cases[] = {
        {"<serial type='file'><source path='/x'/></serial>", -EOPNOTSUPP,
         "<serial>: <serial type='file'> is not supported (pty, unix)"},
        {"<serial type='pty'><target port='1'/></serial>", -EOPNOTSUPP,
         "<serial>: <target port='1'> is not supported (only the first serial port, 0)"},
        {"<serial type='pty'/><serial type='pty'/>", -EOPNOTSUPP,
         "more than one <serial> is not supported"},
        {"<serial type='pty'><target type='pci-serial'/></serial>", -EOPNOTSUPP,
         "<target type='pci-serial'> is not supported (isa-serial)"},
        {"<serial type='unix'><source mode='connect' path='/s'/></serial>", -EOPNOTSUPP,
         "<source mode='connect'> is not supported (only bind"},
        {"<serial type='unix'><source mode='bind' path='rel/s'/></serial>", -EINVAL,
         "<source path='rel/s'> is not absolute"},
        {"<console type='pty'><target type='virtio' port='0'/></console>", -EOPNOTSUPP,
         "<console>: <target type='virtio'> is not supported (only serial"},
        {"<serial type='pty'/><console type='unix'/>", -EINVAL,
         "<console>: type differs from the <serial>"},
        {"<graphics type='spice' autoport='yes'/>", -EOPNOTSUPP,
         "<graphics type='spice'> is not supported (only vnc)"},
        {"<graphics type='vnc' passwd='secret'/>", -EOPNOTSUPP,
         "<graphics>: attribute 'passwd' of <graphics> is not supported"},
        {"<graphics type='vnc' port='80' autoport='no'/>", -EINVAL,
         "<graphics port='80'> is not a port in 5900..65535"},
        {"<graphics type='vnc'><listen type='network' network='default'/></graphics>", -EOPNOTSUPP,
         "<listen type='network'> is not supported (only address)"},
        {"<graphics type='vnc' listen='0.0.0.0'><listen type='address' address='127.0.0.1'/>"
         "</graphics>",
         -EINVAL, "<listen address='127.0.0.1'> differs from listen='0.0.0.0'"},
        {"<graphics type='vnc' listen='a,b'/>", -EINVAL, "listen address 'a,b' is not an address"},
        {"<graphics type='vnc'/><graphics type='vnc'/>", -EOPNOTSUPP,
         "more than one <graphics> is not supported"},
        {"<video><model type='qxl'/></video>", -EOPNOTSUPP,
         "<video>: <model type='qxl'> is not supported (vga, virtio, none)"},
        {"<video><model type='vga' heads='2'/></video>", -EOPNOTSUPP,
         "<model heads='2'> is not supported"},
        {"<video><model type='virtio' vram='16384'/></video>", -EOPNOTSUPP,
         "<model vram> is supported for type='vga' only"},
        {"<video><model type='vga' vram='1000'/></video>", -EINVAL, "<model vram='1000'>"},
        {"<video><model type='virtio'><acceleration accel3d='yes'/></model></video>", -EOPNOTSUPP,
         "<video>: <acceleration> is not supported"},
        {"<video><model type='vga' ram='65536'/></video>", -EOPNOTSUPP,
         "attribute 'ram' of <model> is not supported"},
        {"<video/>", -EINVAL, "<video>: no <model type=...>"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *xml = with_devices(cases[i].devices);
        expect_fail(xml, cases[i].code, cases[i].msg);
    }
}

static void test_chardev_display(void **state)
{
    _cleanup_free_ char *xml =
        with_devices("<console type='unix'><source mode='bind' path='/run/c.sock'/>"
                     "<target type='serial' port='0'/></console>"
                     "<graphics type='vnc' port='5905' autoport='no' keymap='de'/>");
    struct domain_def *def = parse_ok(xml);

    /* A console alone defines the serial port it names. */
    assert_int_equal(def->serial.type, DOMAIN_CHR_UNIX);
    assert_string_equal(def->serial.path, "/run/c.sock");
    assert_true(def->graphics.vnc);
    assert_int_equal(def->graphics.port, 5905);
    /* A display without a video card gets libvirt's VGA, in a slot. */
    assert_int_equal(def->video.model, DOMAIN_VIDEO_VGA);
    assert_true(def->video.addr.set);
    assert_int_equal(def->n_ignored, 1);
    assert_string_equal(def->ignored[0], "devices/graphics@keymap");
    domain_def_free(def);
}

/* UEFI firmware and lifecycle actions. */
static void test_loader_lifecycle(void **state)
{
    static const struct {
        const char *xml;
        int code;
        const char *msg;
    } cases[] = {
        {"<os><loader type='pflash'>/f/CODE.fd</loader></os>", -EOPNOTSUPP,
         "<loader type='pflash' readonly=''> is not supported (only readonly='yes'"},
        {"<os><loader readonly='yes' type='pflash' secure='yes'>/f/CODE.fd</loader></os>",
         -EOPNOTSUPP, "<loader secure='yes'> is not supported"},
        {"<os><loader readonly='yes' type='floppy'>/f/CODE.fd</loader></os>", -EOPNOTSUPP,
         "<loader type='floppy'> is not supported (pflash, rom)"},
        {"<os><loader readonly='yes' type='pflash'>CODE.fd</loader></os>", -EINVAL,
         "<os><loader>: path 'CODE.fd' is not absolute"},
        {"<os><loader readonly='yes' type='pflash' format='qcow2'>/c</loader></os>", -EOPNOTSUPP,
         "attribute 'format' of <loader> is not supported"},
        {"<os><nvram>/v/VARS.fd</nvram></os>", -EINVAL,
         "<os><nvram> needs a <loader type='pflash'>"},
        {"<os><loader type='rom'>/b.bin</loader><nvram>/v</nvram></os>", -EINVAL,
         "<os><nvram> needs a <loader type='pflash'>"},
        {"<os firmware='efi'><type>hvm</type></os>", -EOPNOTSUPP,
         "<os firmware='efi'> without <loader> is not supported"},
        {"<on_poweroff>restart</on_poweroff>", -EOPNOTSUPP,
         "<on_poweroff>restart</on_poweroff> is not supported (only destroy)"},
        {"<on_reboot>preserve</on_reboot>", -EOPNOTSUPP,
         "<on_reboot>preserve</on_reboot> is not supported (restart, destroy)"},
        {"<on_crash>coredump-restart</on_crash>", -EOPNOTSUPP,
         "<on_crash>coredump-restart</on_crash> is not supported (only destroy)"},
        {"<on_reboot>restart</on_reboot><on_reboot>restart</on_reboot>", -EINVAL,
         "<on_reboot> appears more than once"},
    };
    struct domain_def *def;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *xml = ferry_strdup_printf(
            "<domain><name>u</name><memory>1024</memory>%s</domain>", cases[i].xml);
        expect_fail(xml, cases[i].code, cases[i].msg);
    }
    def = parse_ok("<domain><name>u</name><memory>1024</memory><os firmware='efi'>"
                   "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
                   "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'>/v/u_VARS.fd</nvram></os>"
                   "<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot>"
                   "<on_crash>destroy</on_crash></domain>");
    assert_string_equal(def->loader, "/usr/share/OVMF/OVMF_CODE_4M.fd");
    assert_false(def->loader_rom);
    assert_string_equal(def->nvram, "/v/u_VARS.fd");
    assert_string_equal(def->nvram_template, "/usr/share/OVMF/OVMF_VARS_4M.fd");
    assert_int_equal(def->on_reboot, DOMAIN_REBOOT_DESTROY);
    domain_def_free(def);
    def = parse_ok("<domain><name>u</name><memory>1024</memory><os>"
                   "<loader readonly='yes' type='pflash'>/c.fd</loader><nvram/></os></domain>");
    assert_null(def->nvram); /* the agent's own file */
    assert_null(def->nvram_template);
    domain_def_free(def);
}

/* The guest's instruction set and machine: another arch than x86_64 would
 * silently become an x86_64 guest, so it is refused by name. */
static void test_os_arch_machine(void **state)
{
    struct domain_def *def;

    expect_fail("<domain><name>k</name><memory>1</memory><os><type arch='aarch64' "
                "machine='virt'>hvm</type></os></domain>",
                -EOPNOTSUPP, "<os><type arch='aarch64'> is not supported (only x86_64)");
    expect_fail("<domain><name>k</name><memory>1</memory><os><type arch='i686'>hvm</type></os>"
                "</domain>",
                -EOPNOTSUPP, "<os><type arch='i686'>");
    expect_fail("<domain><name>k</name><memory>1</memory><os><type machine='pc q35'>hvm</type>"
                "</os></domain>",
                -EINVAL, "<os><type machine='pc q35'> is not a machine type name");
    expect_fail("<domain><name>k</name><memory>1</memory><os><type>hvm</type><type>hvm</type>"
                "</os></domain>",
                -EINVAL, "<type> appears more than once");

    /* As written: the driver pins it at define (unit: test-qemu-cmdline). */
    def = parse_ok("<domain><name>k</name><memory>1</memory><os><type arch='x86_64' "
                   "machine='q35'>hvm</type><kernel>/boot/k</kernel><initrd>/boot/i</initrd>"
                   "</os></domain>");
    assert_string_equal(def->machine, "q35");
    assert_string_equal(def->initrd, "/boot/i");
    domain_def_free(def);
    def = parse_ok("<domain><name>k</name><memory>1</memory><os><type>hvm</type></os></domain>");
    assert_string_equal(def->machine, "");
    assert_null(def->initrd);
    domain_def_free(def);
}

/* <cpu>: the modes, a named model, the topology; what would change the
 * CPU the guest sees is refused by name. */
static void test_cpu(void **state)
{
#define CPU_DOC(vcpu, cpu)                                                                         \
    "<domain><name>c</name><memory>1</memory><vcpu>" vcpu "</vcpu>" cpu "</domain>"
    static const struct {
        const char *xml;
        int code;
        const char *msg;
    } cases[] = {
        {CPU_DOC("1", "<cpu mode='host-model'><model>qemu64</model></cpu>"), -EOPNOTSUPP,
         "<cpu>: <model> is supported with mode='custom' only, not 'host-model'"},
        {CPU_DOC("1", "<cpu mode='custom'/>"), -EINVAL, "<cpu mode='custom'> names no <model>"},
        {CPU_DOC("1", "<cpu mode='maximum'/>"), -EOPNOTSUPP, "<cpu mode='maximum'> is not"},
        {CPU_DOC("1", "<cpu match='minimum'><model>qemu64</model></cpu>"), -EOPNOTSUPP,
         "<cpu match='minimum'> is not supported"},
        {CPU_DOC("1", "<cpu mode='host-passthrough' migratable='off'/>"), -EOPNOTSUPP,
         "<cpu migratable='off'> is not supported"},
        {CPU_DOC("1", "<cpu><model>qemu64</model><feature policy='require' name='vmx'/></cpu>"),
         -EOPNOTSUPP, "<cpu>: <feature> is not supported"},
        {CPU_DOC("1", "<cpu><model>qemu64</model><vendor>Intel</vendor></cpu>"), -EOPNOTSUPP,
         "<cpu>: <vendor> is not supported"},
        {CPU_DOC("1", "<cpu mode='host-passthrough'><numa/></cpu>"), -EOPNOTSUPP,
         "<cpu>: <numa> is not supported"},
        {CPU_DOC("1", "<cpu><model>qemu 64</model></cpu>"), -EINVAL,
         "<model> 'qemu 64' is not a CPU model name"},
        {CPU_DOC("1", "<cpu mode='host-passthrough' cache='x'/>"), -EOPNOTSUPP,
         "attribute 'cache' of <cpu> is not supported"},
        {CPU_DOC("4", "<cpu mode='host-passthrough'><topology sockets='1' cores='2' "
                      "threads='1'/></cpu>"),
         -EINVAL, "<topology> has 1 sockets x 2 cores x 1 threads, not the 4 of <vcpu>"},
        {CPU_DOC("2", "<cpu mode='host-passthrough'><topology sockets='1' dies='2' cores='1' "
                      "threads='1'/></cpu>"),
         -EOPNOTSUPP, "<topology dies='2'> is not supported"},
        {CPU_DOC("2", "<cpu mode='host-passthrough'><topology sockets='2'/></cpu>"), -EINVAL,
         "<topology> has no cores="},
        {CPU_DOC("1", "<cpu mode='host-passthrough'/><cpu mode='host-model'/>"), -EINVAL, "cpu"},
    };
    struct domain_def *def;
    char *xml;

    (void)state;
    def = parse_ok(CPU_DOC("1", ""));
    assert_int_equal(def->cpu.mode, DOMAIN_CPU_ABSENT); /* the driver pins it */
    domain_def_free(def);
    def = parse_ok(CPU_DOC("4", "<cpu mode='custom' match='exact' check='partial'>"
                                "<model fallback='forbid'>Skylake-Server-v4</model>"
                                "<topology sockets='2' dies='1' cores='1' threads='2'/></cpu>"));
    assert_int_equal(def->cpu.mode, DOMAIN_CPU_CUSTOM);
    assert_string_equal(def->cpu.model, "Skylake-Server-v4");
    assert_int_equal(def->cpu.sockets, 2);
    assert_int_equal(def->n_ignored, 2);
    assert_string_equal(def->ignored[0], "cpu@check");
    assert_string_equal(def->ignored[1], "cpu/model@fallback");
    /* Formatted back without what was ignored; parsed again, the same. */
    xml = domain_def_format(def);
    assert_non_null(strstr(xml, "<cpu mode=\"custom\" match=\"exact\">"));
    assert_non_null(strstr(xml, "<model>Skylake-Server-v4</model>"));
    assert_non_null(strstr(xml, "<topology sockets=\"2\" cores=\"1\" threads=\"2\"/>"));
    {
        struct domain_def *again = parse_ok(xml);

        assert_true(domain_def_equal(def, again));
        assert_int_equal(again->n_ignored, 0);
        domain_def_free(again);
    }
    free(xml);
    domain_def_free(def);
    def = parse_ok(CPU_DOC("1", "<cpu mode='host-passthrough' check='none' migratable='on'/>"));
    assert_int_equal(def->cpu.mode, DOMAIN_CPU_HOST_PASSTHROUGH);
    domain_def_free(def);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        expect_fail(cases[i].xml, cases[i].code, cases[i].msg);
#undef CPU_DOC
}

/* Disks on bus scsi sit on the one virtio-scsi controller, added when a
 * disk needs it, with a PCI slot and a LUN each pinned like the others. */
static void test_scsi(void **state)
{
#define SCSI_DOC(devs)                                                                             \
    "<domain><name>s</name><memory>1</memory><devices>" devs "</devices></domain>"
    static const struct {
        const char *xml;
        int code;
        const char *msg;
    } cases[] = {
        {SCSI_DOC("<controller type='scsi' index='0'/>"), -EOPNOTSUPP,
         "<controller type='scsi'>: model='' is not supported (only virtio-scsi)"},
        {SCSI_DOC("<controller type='scsi' model='lsilogic'/>"), -EOPNOTSUPP,
         "model='lsilogic' is not supported (only virtio-scsi)"},
        {SCSI_DOC("<controller type='scsi' index='1' model='virtio-scsi'/>"), -EOPNOTSUPP,
         "index='1' is not supported (one SCSI controller, 0)"},
        {SCSI_DOC("<controller type='scsi' model='virtio-scsi' ports='4'/>"), -EOPNOTSUPP,
         "attribute 'ports' of <controller> is not supported"},
        {SCSI_DOC("<controller type='scsi' model='virtio-scsi'/>"
                  "<controller type='scsi' model='virtio-scsi'/>"),
         -EINVAL, "controller type='scsi'"},
        {SCSI_DOC("<disk><source file='/a'/><target dev='sda' bus='scsi'/>"
                  "<address type='drive' controller='0' bus='0' target='1' unit='0'/></disk>"),
         -EOPNOTSUPP, "<address controller='0' bus='0' target='1' unit='0'> is not supported"},
        {SCSI_DOC("<disk><source file='/a'/><target dev='sda' bus='scsi'/>"
                  "<address type='drive' unit='2'/></disk>"
                  "<disk><source file='/b'/><target dev='sdb' bus='scsi'/>"
                  "<address type='drive' unit='2'/></disk>"),
         -EINVAL, "disk 'sdb': SCSI unit 2 is already disk 'sda''s"},
    };
    struct domain_def *def, *again;
    char *xml;

    (void)state;
    /* No controller in the document: added; the LUNs by order, around
     * the one written. */
    def = parse_ok(SCSI_DOC("<disk><source file='/a'/><target dev='sda' bus='scsi'/></disk>"
                            "<disk><source file='/b'/><target dev='sdb' bus='scsi'/>"
                            "<address type='drive' controller='0' bus='0' target='0' unit='0'/>"
                            "</disk>"
                            "<disk device='cdrom'><target dev='sdc' bus='scsi'/></disk>"
                            "<disk><source file='/v'/><target dev='vda'/></disk>"));
    assert_true(def->scsi.present);
    assert_true(def->scsi.addr.set);
    assert_int_equal(def->scsi.addr.slot, 2); /* before the virtio disk */
    assert_int_equal(def->disks[3].addr.slot, 3);
    assert_int_equal(def->disks[0].drive, 1);
    assert_int_equal(def->disks[1].drive, 0);
    assert_int_equal(def->disks[2].drive, 2);
    xml = domain_def_format(def);
    assert_non_null(strstr(xml, "<controller type=\"scsi\" index=\"0\" model=\"virtio-scsi\">"));
    assert_non_null(strstr(xml, "<address type=\"drive\" controller=\"0\" bus=\"0\" "
                                "target=\"0\" unit=\"2\"/>"));
    again = parse_ok(xml);
    assert_true(domain_def_equal(def, again));
    assert_int_equal(again->n_ignored, 0);
    domain_def_free(again);
    free(xml);
    domain_def_free(def);
    /* A controller as virt-install writes it; the machine's own are listed. */
    def = parse_ok(SCSI_DOC("<controller type='scsi' index='0' model='virtio-scsi'>"
                            "<driver queues='2'/><address type='pci' slot='0x07'/></controller>"
                            "<controller type='usb' model='qemu-xhci'/>"));
    assert_true(def->scsi.present);
    assert_int_equal(def->scsi.addr.slot, 7);
    assert_int_equal(def->n_ignored, 2);
    assert_string_equal(def->ignored[0], "devices/controller/driver");
    assert_string_equal(def->ignored[1], "devices/controller");
    domain_def_free(def);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        expect_fail(cases[i].xml, cases[i].code, cases[i].msg);
#undef SCSI_DOC
}

/* <features> and <clock>: the machine properties ferry gives as written;
 * a feature or timer it cannot give is refused by name. */
static void test_features_clock(void **state)
{
#define FC_DOC(x) "<domain><name>f</name><memory>1</memory>" x "</domain>"
    static const struct {
        const char *xml;
        int code;
        const char *msg;
    } cases[] = {
        {FC_DOC("<features><hyperv mode='custom'><relaxed state='on'/></hyperv></features>"),
         -EOPNOTSUPP, "<features><hyperv> is not supported"},
        {FC_DOC("<features><kvm><hidden state='on'/></kvm></features>"), -EOPNOTSUPP,
         "<features><kvm> is not supported"},
        {FC_DOC("<features><apic eoi='on'/></features>"), -EOPNOTSUPP,
         "attribute 'eoi' of <apic> is not supported"},
        {FC_DOC("<features><vmport state='maybe'/></features>"), -EINVAL,
         "<features><vmport>: state='maybe' is not on or off"},
        {FC_DOC("<features><smm state='on'><tseg unit='MiB'>48</tseg></smm></features>"),
         -EOPNOTSUPP, "<features><smm>: <tseg> is not supported"},
        {FC_DOC("<clock offset='variable' adjustment='0'/>"), -EOPNOTSUPP,
         "attribute 'adjustment' of <clock> is not supported"},
        {FC_DOC("<clock offset='timezone'/>"), -EOPNOTSUPP,
         "<clock>: offset='timezone' is not supported (utc, localtime)"},
        {FC_DOC("<clock><timer name='hypervclock' present='yes'/></clock>"), -EOPNOTSUPP,
         "<timer name='hypervclock' present='yes'> is not supported"},
        {FC_DOC("<clock><timer name='rtc' present='no'/></clock>"), -EOPNOTSUPP,
         "<timer name='rtc' present='no'> is not supported"},
        {FC_DOC("<clock><timer name='tsc' frequency='1'/></clock>"), -EOPNOTSUPP,
         "attribute 'frequency' of <timer> is not supported"},
        {FC_DOC("<features/><features/>"), -EINVAL, "features"},
        {FC_DOC("<pm><suspend-to-mem enabled='maybe'/></pm>"), -EINVAL,
         "<pm>: <suspend-to-mem enabled='maybe'> is not yes or no"},
        {FC_DOC("<pm><suspend-to-ram enabled='no'/></pm>"), -EOPNOTSUPP,
         "<pm>: <suspend-to-ram> is not supported"},
    };
    struct domain_def *def, *again;
    char *xml;

    (void)state;
    def =
        parse_ok(FC_DOC("<features><acpi/><apic/><pae/><vmport state='off'/>"
                        "<smm state='on'/><ioapic driver='kvm'/></features>"
                        "<clock offset='localtime'><timer name='rtc' tickpolicy='catchup'/>"
                        "<timer name='pit' tickpolicy='delay'/>"
                        "<timer name='hpet' present='yes'/></clock>"
                        "<pm><suspend-to-mem enabled='no'/><suspend-to-disk enabled='yes'/></pm>"));
    assert_int_equal(def->mopts.s3, DOMAIN_OFF);
    assert_int_equal(def->mopts.s4, DOMAIN_ON);
    assert_int_equal(def->mopts.vmport, DOMAIN_OFF);
    assert_int_equal(def->mopts.smm, DOMAIN_ON);
    assert_int_equal(def->mopts.hpet, DOMAIN_ON);
    assert_true(def->mopts.rtc_localtime);
    assert_int_equal(def->n_ignored, 2);
    assert_string_equal(def->ignored[0], "features/ioapic");
    assert_string_equal(def->ignored[1], "clock/timer@tickpolicy");
    xml = domain_def_format(def);
    assert_non_null(strstr(xml, "<vmport state=\"off\"/>"));
    assert_non_null(strstr(xml, "<clock offset=\"localtime\">"));
    again = parse_ok(xml);
    assert_true(domain_def_equal(def, again));
    assert_int_equal(again->n_ignored, 0);
    domain_def_free(again);
    free(xml);
    domain_def_free(def);
    /* Nothing said: QEMU's defaults, and nothing formatted. */
    def = parse_ok(FC_DOC(""));
    xml = domain_def_format(def);
    assert_null(strstr(xml, "<features"));
    assert_null(strstr(xml, "<clock"));
    free(xml);
    domain_def_free(def);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        expect_fail(cases[i].xml, cases[i].code, cases[i].msg);
#undef FC_DOC
}

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
        cmocka_unit_test(test_os_arch_machine),
        cmocka_unit_test(test_nic_refusals),
        cmocka_unit_test(test_nic_defaults),
        cmocka_unit_test(test_pci_address_refusals),
        cmocka_unit_test(test_pci_address_assignment),
        cmocka_unit_test(test_drive_addresses),
        cmocka_unit_test(test_chardev_display_refusals),
        cmocka_unit_test(test_chardev_display),
        cmocka_unit_test(test_loader_lifecycle),
        cmocka_unit_test(test_cpu),
        cmocka_unit_test(test_scsi),
        cmocka_unit_test(test_features_clock),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
