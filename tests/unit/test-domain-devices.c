/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Domain XML parsing of what makes a real guest: NICs, PCI and drive
 * addresses, consoles and graphics, UEFI loader and NVRAM, arch and
 * machine, CPU, SCSI, features and clock; every refusal with the message
 * it must carry. */
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
        _cleanup_free_ char *xml = domain_doc_with_devices(cases[i].devices);
        domain_expect_fail(xml, cases[i].code, cases[i].msg);
    }
}

/* A MAC is generated in libvirt's 52:54:00 range when absent, and a
 * <model> defaults to libvirt's rtl8139. */
static void test_nic_defaults(void **state)
{
    _cleanup_free_ char *xml =
        domain_doc_with_devices("<interface type='user'/><interface type='user'/>"
                                "<interface type='bridge'><source bridge='br0'/>"
                                "<model type='e1000'/></interface>");
    struct domain_def *def = domain_parse_ok(xml);

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
        _cleanup_free_ char *xml = domain_doc_with_devices(cases[i].devices);
        domain_expect_fail(xml, cases[i].code, cases[i].msg);
    }
}

/* Slots are assigned to devices without one, lowest free first, around
 * those already written; sata disks get none. */
/* SATA/IDE drives get a position on the machine's controller the same
 * way, as libvirt's <address type='drive'>. */
static void test_drive_addresses(void **state)
{
    _cleanup_free_ char *xml = domain_doc_with_devices(
        "<disk device='cdrom'><target dev='sda' bus='sata'/></disk>"
        "<disk device='cdrom'><target dev='sdb' bus='sata'/>"
        "<address type='drive' controller='0' bus='0' target='0' unit='0'/></disk>"
        "<disk device='cdrom'><target dev='hdc' bus='ide'/>"
        "<address type='drive' controller='0' bus='1' target='0' unit='1'/></disk>"
        "<disk><source file='/a'/><target dev='vda'/></disk>");
    struct domain_def *def = domain_parse_ok(xml);

    assert_int_equal(def->disks[0].drive, 1);
    assert_int_equal(def->disks[1].drive, 0);
    assert_int_equal(def->disks[2].drive, 3);
    assert_int_equal(def->disks[3].drive, -1);
    domain_def_free(def);

    {
        _cleanup_free_ char *x = domain_doc_with_devices(
            "<disk device='cdrom'><target dev='sda' bus='sata'/>"
            "<address type='drive' controller='1' bus='0' target='0' unit='0'/></disk>");
        domain_expect_fail(x, -EOPNOTSUPP,
                           "disk 'sda': <address controller='1' target='0'> is not supported");
    }
    {
        _cleanup_free_ char *x =
            domain_doc_with_devices("<disk device='cdrom'><target dev='sda' bus='sata'/>"
                                    "<address type='drive' bus='0' unit='6'/></disk>");
        domain_expect_fail(x, -EOPNOTSUPP,
                           "<address bus='0' unit='6'> is not supported (bus 0, unit 0..5)");
    }
    {
        _cleanup_free_ char *x =
            domain_doc_with_devices("<disk device='cdrom'><target dev='sda' bus='sata'/>"
                                    "<address type='pci' slot='3'/></disk>");
        domain_expect_fail(x, -EOPNOTSUPP, "<address type='pci'> is not supported for a sata disk");
    }
    {
        _cleanup_free_ char *x =
            domain_doc_with_devices("<disk device='cdrom'><target dev='sda' bus='sata'/>"
                                    "<address type='drive' unit='2'/></disk>"
                                    "<disk device='cdrom'><target dev='hda' bus='ide'/>"
                                    "<address type='drive' bus='1' unit='0'/></disk>");
        domain_expect_fail(x, -EINVAL, "disk 'hda': drive address 2 is already disk 'sda''s");
    }
}

static void test_pci_address_assignment(void **state)
{
    _cleanup_free_ char *xml = domain_doc_with_devices(
        "<disk><source file='/a'/><target dev='vda'/></disk>"
        "<disk><source file='/b'/><target dev='sda' bus='sata'/></disk>"
        "<interface type='user'><address type='pci' domain='0x0000' bus='0x00' slot='0x02' "
        "function='0x0'/></interface>"
        "<disk><source file='/c'/><target dev='vdb'/><address type='pci' slot='4'/></disk>"
        "<interface type='user'/>");
    struct domain_def *def = domain_parse_ok(xml);

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
        _cleanup_free_ char *many = domain_doc_with_devices(buf);
        domain_expect_fail(many, -EINVAL, "disk 'vdbd': no free PCI slot left on the root bus");
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
        _cleanup_free_ char *xml = domain_doc_with_devices(cases[i].devices);
        domain_expect_fail(xml, cases[i].code, cases[i].msg);
    }
}

static void test_chardev_display(void **state)
{
    _cleanup_free_ char *xml =
        domain_doc_with_devices("<console type='unix'><source mode='bind' path='/run/c.sock'/>"
                                "<target type='serial' port='0'/></console>"
                                "<graphics type='vnc' port='5905' autoport='no' keymap='de'/>");
    struct domain_def *def = domain_parse_ok(xml);

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
        domain_expect_fail(xml, cases[i].code, cases[i].msg);
    }
    def = domain_parse_ok(
        "<domain><name>u</name><memory>1024</memory><os firmware='efi'>"
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
    def = domain_parse_ok(
        "<domain><name>u</name><memory>1024</memory><os>"
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

    domain_expect_fail("<domain><name>k</name><memory>1</memory><os><type arch='aarch64' "
                       "machine='virt'>hvm</type></os></domain>",
                       -EOPNOTSUPP, "<os><type arch='aarch64'> is not supported (only x86_64)");
    domain_expect_fail(
        "<domain><name>k</name><memory>1</memory><os><type arch='i686'>hvm</type></os>"
        "</domain>",
        -EOPNOTSUPP, "<os><type arch='i686'>");
    domain_expect_fail(
        "<domain><name>k</name><memory>1</memory><os><type machine='pc q35'>hvm</type>"
        "</os></domain>",
        -EINVAL, "<os><type machine='pc q35'> is not a machine type name");
    domain_expect_fail(
        "<domain><name>k</name><memory>1</memory><os><type>hvm</type><type>hvm</type>"
        "</os></domain>",
        -EINVAL, "<type> appears more than once");

    /* As written: the driver pins it at define (unit: test-qemu-cmdline). */
    def = domain_parse_ok("<domain><name>k</name><memory>1</memory><os><type arch='x86_64' "
                          "machine='q35'>hvm</type><kernel>/boot/k</kernel><initrd>/boot/i</initrd>"
                          "</os></domain>");
    assert_string_equal(def->machine, "q35");
    assert_string_equal(def->initrd, "/boot/i");
    domain_def_free(def);
    def = domain_parse_ok(
        "<domain><name>k</name><memory>1</memory><os><type>hvm</type></os></domain>");
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
    def = domain_parse_ok(CPU_DOC("1", ""));
    assert_int_equal(def->cpu.mode, DOMAIN_CPU_ABSENT); /* the driver pins it */
    domain_def_free(def);
    def = domain_parse_ok(CPU_DOC("4",
                                  "<cpu mode='custom' match='exact' check='partial'>"
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
        struct domain_def *again = domain_parse_ok(xml);

        assert_true(domain_def_equal(def, again));
        assert_int_equal(again->n_ignored, 0);
        domain_def_free(again);
    }
    free(xml);
    domain_def_free(def);
    def = domain_parse_ok(
        CPU_DOC("1", "<cpu mode='host-passthrough' check='none' migratable='on'/>"));
    assert_int_equal(def->cpu.mode, DOMAIN_CPU_HOST_PASSTHROUGH);
    domain_def_free(def);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        domain_expect_fail(cases[i].xml, cases[i].code, cases[i].msg);
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
    def = domain_parse_ok(
        SCSI_DOC("<disk><source file='/a'/><target dev='sda' bus='scsi'/></disk>"
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
    again = domain_parse_ok(xml);
    assert_true(domain_def_equal(def, again));
    assert_int_equal(again->n_ignored, 0);
    domain_def_free(again);
    free(xml);
    domain_def_free(def);
    /* A controller as virt-install writes it; the machine's own are listed. */
    def = domain_parse_ok(
        SCSI_DOC("<controller type='scsi' index='0' model='virtio-scsi'>"
                 "<driver queues='2'/><address type='pci' slot='0x07'/></controller>"
                 "<controller type='usb' model='qemu-xhci'/>"));
    assert_true(def->scsi.present);
    assert_int_equal(def->scsi.addr.slot, 7);
    assert_int_equal(def->n_ignored, 2);
    assert_string_equal(def->ignored[0], "devices/controller/driver");
    assert_string_equal(def->ignored[1], "devices/controller");
    domain_def_free(def);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        domain_expect_fail(cases[i].xml, cases[i].code, cases[i].msg);
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
    def = domain_parse_ok(
        FC_DOC("<features><acpi/><apic/><pae/><vmport state='off'/>"
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
    again = domain_parse_ok(xml);
    assert_true(domain_def_equal(def, again));
    assert_int_equal(again->n_ignored, 0);
    domain_def_free(again);
    free(xml);
    domain_def_free(def);
    /* Nothing said: QEMU's defaults, and nothing formatted. */
    def = domain_parse_ok(FC_DOC(""));
    xml = domain_def_format(def);
    assert_null(strstr(xml, "<features"));
    assert_null(strstr(xml, "<clock"));
    free(xml);
    domain_def_free(def);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        domain_expect_fail(cases[i].xml, cases[i].code, cases[i].msg);
#undef FC_DOC
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nic_refusals),
        cmocka_unit_test(test_nic_defaults),
        cmocka_unit_test(test_pci_address_refusals),
        cmocka_unit_test(test_drive_addresses),
        cmocka_unit_test(test_pci_address_assignment),
        cmocka_unit_test(test_chardev_display_refusals),
        cmocka_unit_test(test_chardev_display),
        cmocka_unit_test(test_loader_lifecycle),
        cmocka_unit_test(test_os_arch_machine),
        cmocka_unit_test(test_cpu),
        cmocka_unit_test(test_scsi),
        cmocka_unit_test(test_features_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
