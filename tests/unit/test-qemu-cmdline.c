/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QEMU's command line from a domain definition: a table that feeds each
 * supported element and checks the arguments it gives, and the machine
 * types read from `-machine help` that pin an alias at define time. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cleanup.h"
#include "domain.h"
#include "qemu-cmdline.h"
#include "util.h"

/* Where qemu.c puts the NICs' taps in QEMU (-1: a user NIC has none). */
static const int nic_fds[] = {-1, 4, 5, 6, 7, 8, 9, 10};

static const struct qemu_cmdline_host host = {
    .nic_fds = nic_fds,
    .console_path = "/run/ferry/g.console",
    .nvram_path = "/var/lib/ferry/nvram/g_VARS.fd",
    .binary = "/usr/bin/qemu-system-x86_64",
    .kvm = false,
    .qmp_path = "/run/ferry/g.qmp",
    .serial_path = "/run/ferry/g.serial",
};

static struct domain_def *parse_ok(const char *xml)
{
    struct domain_def *def = NULL;
    struct ferry_error err = {0};

    if (domain_def_parse(xml, strlen(xml), &def, &err) < 0)
        fail_msg("unexpected failure: %s\n%s", err.msg, xml);
    return def;
}

/* True when A holds OPT immediately followed by VALUE (VALUE NULL: OPT
 * alone). */
static bool has_arg(const struct qemu_argv *a, const char *opt, const char *value)
{
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->v[i], opt) != 0)
            continue;
        if (!value || (i + 1 < a->n && strcmp(a->v[i + 1], value) == 0))
            return true;
    }
    return false;
}

static void dump(const struct qemu_argv *a)
{
    for (size_t i = 0; i < a->n; i++)
        print_message("  %s\n", a->v[i]);
}

/* One element (in <os> or in <devices>) and the arguments it must give. */
struct row {
    const char *os;       /* inside <os>, NULL for the default */
    const char *devices;  /* inside <devices> */
    const char *root;     /* other children of <domain> */
    const char *want[12]; /* pairs: option, value (NULL value: the option alone) */
    const char *absent;   /* an option that must not appear, or NULL */
};

static const struct row rows[] = {
    {.os = "<type arch='x86_64' machine='pc-q35-7.2'>hvm</type>",
     .want = {"-machine", "pc-q35-7.2,accel=tcg"}},
    {.os = "<type>hvm</type>", .want = {"-machine", "pc,accel=tcg"}},
    {.os = "<type>hvm</type><kernel>/boot/vmlinuz</kernel><initrd>/boot/initrd.img</initrd>"
           "<cmdline>console=ttyS0 quiet</cmdline>",
     .want = {"-kernel", "/boot/vmlinuz", "-initrd", "/boot/initrd.img", "-append",
              "console=ttyS0 quiet"}},
    {.os = "<type>hvm</type><kernel>/boot/vmlinuz</kernel>",
     .want = {"-kernel", "/boot/vmlinuz"},
     .absent = "-initrd"},
    {.devices = "<disk type='file'><driver name='qemu' type='qcow2' cache='none'/>"
                "<source file='/img/a,b.qcow2'/><target dev='vda' bus='virtio'/></disk>",
     .want = {"-blockdev",
              "driver=file,node-name=p-vda,filename=/img/a,,b.qcow2,cache.direct=on,"
              "cache.no-flush=off,discard=unmap,read-only=off",
              "-blockdev", "driver=qcow2,node-name=f-vda,file=p-vda,discard=unmap,read-only=off",
              "-device", "virtio-blk-pci,drive=f-vda,id=vda,addr=0x2"}},
    {.devices = "<interface type='user'><mac address='52:54:00:12:34:56'/>"
                "<model type='virtio'/></interface>",
     .want = {"-netdev", "user,id=hostnet0", "-device",
              "virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:12:34:56,addr=0x2"}},
    {.devices = "<interface type='user'><mac address='52:54:00:12:34:56'/></interface>"
                "<interface type='ethernet'><mac address='52:54:00:12:34:57'/>"
                "<target dev='tap7'/><model type='e1000'/></interface>",
     .want = {"-netdev", "tap,id=hostnet1,fd=4", "-device",
              "e1000,netdev=hostnet1,id=net1,mac=52:54:00:12:34:57,addr=0x3", "-device",
              "rtl8139,netdev=hostnet0,id=net0,mac=52:54:00:12:34:56,addr=0x2"}},
    {.devices = "<interface type='user'/><interface type='bridge'>"
                "<mac address='52:54:00:12:34:58'/><source bridge='br0'/>"
                "<model type='rtl8139'/></interface>",
     .want = {"-netdev", "tap,id=hostnet1,fd=4", "-device",
              "rtl8139,netdev=hostnet1,id=net1,mac=52:54:00:12:34:58,addr=0x3"}},
    /* Pinned slots go to QEMU as written, whatever the element order. */
    {.devices = "<interface type='user'><mac address='52:54:00:12:34:56'/>"
                "<model type='virtio'/><address type='pci' domain='0x0000' bus='0x00' "
                "slot='0x11' function='0x0'/></interface>"
                "<disk type='file'><source file='/img/a.raw'/><target dev='vda'/>"
                "<address type='pci' domain='0x0000' bus='0x00' slot='0x0a' function='0x0'/>"
                "</disk>",
     .want = {"-device", "virtio-blk-pci,drive=f-vda,id=vda,addr=0xa", "-device",
              "virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:12:34:56,addr=0x11"}},
    {.devices = "<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
                "<source file='/iso/debian.iso'/><target dev='sda' bus='sata'/><readonly/></disk>"
                "<disk type='file' device='cdrom'><target dev='sdb' bus='sata'/></disk>",
     .want = {"-blockdev", "driver=raw,node-name=f-sda,file=p-sda,discard=unmap,read-only=on",
              "-device", "ide-cd,drive=f-sda,id=sda,bus=ide.0,unit=0", "-device",
              "ide-cd,id=sdb,bus=ide.0,unit=1"}},
    /* q35's AHCI: one drive per port, in the pinned order. */
    {.os = "<type machine='pc-q35-7.2'>hvm</type>",
     .devices = "<disk device='cdrom'><target dev='sdb' bus='sata'/>"
                "<address type='drive' controller='0' bus='0' target='0' unit='3'/></disk>"
                "<disk><source file='/img/s.raw'/><target dev='sda' bus='sata'/></disk>",
     .want = {"-device", "ide-cd,id=sdb,bus=ide.3", "-device",
              "ide-hd,drive=f-sda,id=sda,bus=ide.0"}},
    {.devices = "<disk type='file'><driver name='qemu' type='raw' cache='none' io='native' "
                "discard='ignore' detect_zeroes='on'/><source file='/img/a.raw'/>"
                "<target dev='vda'/></disk>"
                "<disk type='file'><driver name='qemu' type='raw' io='io_uring' "
                "detect_zeroes='unmap'/><source file='/img/b.raw'/><target dev='vdb'/></disk>",
     .want = {"-blockdev",
              "driver=file,node-name=p-vda,filename=/img/a.raw,cache.direct=on,"
              "cache.no-flush=off,aio=native,discard=unmap,read-only=off",
              "-blockdev",
              "driver=raw,node-name=f-vda,file=p-vda,discard=ignore,detect-zeroes=on,"
              "read-only=off",
              "-blockdev",
              "driver=file,node-name=p-vdb,filename=/img/b.raw,cache.direct=off,"
              "cache.no-flush=off,aio=io_uring,discard=unmap,read-only=off",
              "-blockdev",
              "driver=raw,node-name=f-vdb,file=p-vdb,discard=unmap,detect-zeroes=unmap,"
              "read-only=off"}},
    /* The first serial port: logged to the agent's file whatever the host
     * side is. */
    {.want = {"-chardev", "file,id=serial0,path=/run/ferry/g.serial,append=on", "-serial",
              "chardev:serial0"}},
    {.devices = "<serial type='pty'><target port='0'/></serial><console type='pty'/>",
     .want = {"-chardev", "pty,id=serial0,logfile=/run/ferry/g.serial,logappend=on", "-serial",
              "chardev:serial0"}},
    {.devices = "<serial type='unix'/>",
     .want = {"-chardev", "socket,id=serial0,path=/run/ferry/g.console,server=on,wait=off,"
                          "logfile=/run/ferry/g.serial,logappend=on"}},
    {.devices = "<serial type='unix'><source mode='bind' path='/run/a,b.sock'/></serial>",
     .want = {"-chardev", "socket,id=serial0,path=/run/a,,b.sock,server=on,wait=off,"
                          "logfile=/run/ferry/g.serial,logappend=on"}},
    /* VNC: autoport is the first free display from 0; a fixed port its
     * display; a display gets a VGA card in a pinned slot. */
    {.devices = "<graphics type='vnc' port='-1' autoport='yes'/>",
     .want = {"-vnc", "127.0.0.1:0,to=99", "-device", "VGA,id=video0,addr=0x2"}},
    {.devices = "<graphics type='vnc' port='5907' autoport='no' listen='::1'/>"
                "<video><model type='virtio' heads='1' primary='yes'/>"
                "<address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>"
                "</video>",
     .want = {"-vnc", "[::1]:7", "-device", "virtio-vga,id=video0,addr=0x1"}},
    {.devices = "<video><model type='vga' vram='16384'/></video>",
     .want = {"-device", "VGA,id=video0,vgamem_mb=16,addr=0x2"},
     .absent = "-vnc"},
    {.devices = "<graphics type='vnc'/><video><model type='none'/></video>",
     .want = {"-vnc", "127.0.0.1:0,to=99"},
     .absent = "-device"},
    /* UEFI: code read-only, variables read-write, on the machine's pflash. */
    {.os = "<type machine='pc-q35-7.2'>hvm</type>"
           "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"
           "<nvram template='/usr/share/OVMF/OVMF_VARS_4M.fd'/>",
     .want = {"-machine", "pc-q35-7.2,accel=tcg,pflash0=pflash0,pflash1=pflash1", "-blockdev",
              "driver=file,node-name=pflash0-file,filename=/usr/share/OVMF/OVMF_CODE_4M.fd,"
              "read-only=on",
              "-blockdev", "driver=raw,node-name=pflash0,file=pflash0-file,read-only=on",
              "-blockdev",
              "driver=file,node-name=pflash1-file,filename=/var/lib/ferry/nvram/g_VARS.fd,"
              "read-only=off",
              "-blockdev", "driver=raw,node-name=pflash1,file=pflash1-file,read-only=off"}},
    {.os = "<type>hvm</type><loader type='rom'>/usr/share/seabios/bios-256k.bin</loader>",
     .want = {"-bios", "/usr/share/seabios/bios-256k.bin", "-machine", "pc,accel=tcg"}},
    {.root = "<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot>"
             "<on_crash>destroy</on_crash>",
     .want = {"-no-reboot", NULL}},
    {.root = "<on_reboot>restart</on_reboot>", .absent = "-no-reboot"},
    {.devices = "<disk type='file'><source file='/img/s.raw'/><target dev='sda' bus='sata'/>"
                "<serial>S1</serial></disk>",
     .want = {"-device", "ide-hd,drive=f-sda,id=sda,serial=S1,bus=ide.0,unit=0"}},
    /* <cpu>: a named model as it is; the host's CPU is TCG's max here (the
     * table's host has no KVM); a topology splits -smp. No <cpu>: nothing
     * (QEMU's default) until the driver pins QEMU_CPU_DEFAULT at define. */
    {.root = "<cpu mode='custom' match='exact'><model>Skylake-Server-v4</model></cpu>",
     .want = {"-cpu", "Skylake-Server-v4"}},
    {.root = "<cpu mode='host-passthrough'/>", .want = {"-cpu", "max"}},
    {.root = "<cpu mode='host-model'/>", .want = {"-cpu", "max"}},
    {.root = "<vcpu>4</vcpu><cpu mode='custom'><model>qemu64</model>"
             "<topology sockets='2' cores='1' threads='2'/></cpu>",
     .want = {"-cpu", "qemu64", "-smp", "4,sockets=2,cores=1,threads=2"}},
    {.root = "<vcpu>3</vcpu>", .want = {"-smp", "3"}, .absent = "-cpu"},
    /* <features>, <clock>: machine properties, only those the document sets. */
    {.os = "<type machine='pc-q35-7.2'>hvm</type>",
     .root = "<features><acpi/><apic/><vmport state='off'/><smm state='on'/></features>"
             "<clock offset='localtime'><timer name='hpet' present='no'/></clock>",
     .want = {"-machine", "pc-q35-7.2,accel=tcg,vmport=off,smm=on,hpet=off", "-rtc",
              "base=localtime"}},
    {.os = "<type machine='pc-q35-7.2'>hvm</type>",
     .root = "<pm><suspend-to-mem enabled='no'/><suspend-to-disk enabled='no'/></pm>",
     .want = {"-global", "ICH9-LPC.disable_s3=1", "-global", "ICH9-LPC.disable_s4=1"}},
    {.os = "<type machine='pc-i440fx-7.2'>hvm</type>",
     .root = "<pm><suspend-to-mem enabled='yes'/></pm>",
     .want = {"-global", "PIIX4_PM.disable_s3=0"}},
    {.os = "<type machine='pc-q35-7.2'>hvm</type>",
     .root = "<clock offset='utc'/>",
     .want = {"-machine", "pc-q35-7.2,accel=tcg"},
     .absent = "-rtc"},
    /* virtio-scsi: the controller at its slot, then each disk at its LUN. */
    {.devices = "<controller type='scsi' index='0' model='virtio-scsi'>"
                "<address type='pci' slot='0x06'/></controller>"
                "<disk type='block'><source dev='/dev/vg/d'/><target dev='sda' bus='scsi'/>"
                "<address type='drive' controller='0' bus='0' target='0' unit='3'/></disk>"
                "<disk device='cdrom'><target dev='sdb' bus='scsi'/></disk>",
     .want = {"-device", "virtio-scsi-pci,id=scsi0,addr=0x6", "-device",
              "scsi-hd,drive=f-sda,id=sda,bus=scsi0.0,channel=0,scsi-id=0,lun=3", "-device",
              "scsi-cd,id=sdb,bus=scsi0.0,channel=0,scsi-id=0,lun=0"}},
};

static void test_table(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
        const struct row *row = &rows[i];
        _cleanup_free_ char *xml =
            ferry_strdup_printf("<domain><name>g</name><memory unit='MiB'>64</memory><os>%s</os>%s"
                                "<devices>%s</devices></domain>",
                                row->os ? row->os : "<type>hvm</type>", row->root ? row->root : "",
                                row->devices ? row->devices : "");
        struct domain_def *def = parse_ok(xml);
        struct qemu_argv a = {0};

        qemu_cmdline_build(&host, def, &a);
        for (size_t j = 0; j < ARRAY_SIZE(row->want) && row->want[j]; j += 2) {
            if (!has_arg(&a, row->want[j], row->want[j + 1])) {
                dump(&a);
                fail_msg("row %zu: no '%s %s'", i, row->want[j],
                         row->want[j + 1] ? row->want[j + 1] : "");
            }
        }
        if (row->absent && has_arg(&a, row->absent, NULL)) {
            dump(&a);
            fail_msg("row %zu: '%s' should be absent", i, row->absent);
        }
        assert_null(a.v[a.n]);
        qemu_argv_clear(&a);
        domain_def_free(def);
    }
}

static void test_common_arguments(void **state)
{
    struct domain_def *def = parse_ok("<domain><name>g</name><memory unit='MiB'>96</memory>"
                                      "<vcpu>2</vcpu></domain>");
    struct qemu_cmdline_host h = host;
    struct qemu_argv a = {0};

    h.kvm = true;
    h.incoming = true;
    qemu_cmdline_build(&h, def, &a);
    assert_string_equal(a.v[0], "/usr/bin/qemu-system-x86_64");
    assert_true(has_arg(&a, "-name", "guest=g,debug-threads=on"));
    assert_true(has_arg(&a, "-uuid", def->uuid));
    assert_true(has_arg(&a, "-machine", "pc,accel=kvm"));
    assert_true(has_arg(&a, "-m", "96"));
    assert_true(has_arg(&a, "-smp", "2"));
    assert_true(has_arg(&a, "-nodefaults", NULL));
    assert_true(has_arg(&a, "-qmp", "unix:/run/ferry/g.qmp,server=on,wait=off"));
    assert_true(has_arg(&a, "-S", NULL));
    assert_true(has_arg(&a, "-incoming", "defer"));
    qemu_argv_clear(&a);
    domain_def_free(def);
}

/* Debian 12's QEMU 7.2, abridged. */
static const char machine_help[] =
    "Supported machines are:\n"
    "microvm              microvm (i386)\n"
    "pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\n"
    "pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)\n"
    "pc-i440fx-7.1        Standard PC (i440FX + PIIX, 1996)\n"
    "q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)\n"
    "pc-q35-7.2           Standard PC (Q35 + ICH9, 2009)\n"
    "pc-q35-7.1           Standard PC (Q35 + ICH9, 2009)\n"
    "none                 empty machine\n";

static void test_machines_resolve(void **state)
{
    struct qemu_machines *l = ferry_calloc(1, sizeof *l);
    struct ferry_error err = {0};
    char buf[DOMAIN_MACHINE_MAX];

    assert_int_equal(qemu_machines_parse(machine_help, l, &err), 0);
    assert_int_equal(l->n, 8);
    assert_int_equal(qemu_machines_resolve(l, "q35", buf, &err), 0);
    assert_string_equal(buf, "pc-q35-7.2");
    assert_int_equal(qemu_machines_resolve(l, "pc", buf, &err), 0);
    assert_string_equal(buf, "pc-i440fx-7.2");
    /* A versioned name stays as it is: it is the pin. */
    assert_int_equal(qemu_machines_resolve(l, "pc-q35-7.1", buf, &err), 0);
    assert_string_equal(buf, "pc-q35-7.1");
    assert_int_equal(qemu_machines_resolve(l, "microvm", buf, &err), 0);
    assert_string_equal(buf, "microvm");
    assert_int_equal(qemu_machines_resolve(l, "pc-q35-9.9", buf, &err), -EOPNOTSUPP);
    assert_non_null(strstr(err.msg, "<os><type machine='pc-q35-9.9'>"));
    assert_int_equal(qemu_machines_parse("Supported machines are:\n", l, &err), -EPROTO);
    free(l);
}

/* Debian 12's QEMU 7.2 -cpu help, abridged. */
static const char cpu_help[] =
    "Available CPUs:\n"
    "x86 486                   (alias configured by machine type)\n"
    "x86 486-v1                \n"
    "x86 Skylake-Server-v4     Intel Xeon Processor (Skylake, IBRS, no TSX)\n"
    "x86 qemu64                (alias configured by machine type)\n"
    "x86 host                  processor with all supported host features \n"
    "x86 max                   Enables all features supported by the accelerator in the current "
    "host\n"
    "\n"
    "Recognized CPUID flags:\n"
    "  3dnow 3dnowext 3dnowprefetch abm ace2 aes\n";

static void test_cpus_parse(void **state)
{
    struct qemu_cpus *l = ferry_calloc(1, sizeof *l);
    struct ferry_error err = {0};

    assert_int_equal(qemu_cpus_parse(cpu_help, l, &err), 0);
    assert_int_equal(l->n, 6);
    assert_int_equal(qemu_cpus_check(l, "qemu64", &err), 0);
    assert_int_equal(qemu_cpus_check(l, "Skylake-Server-v4", &err), 0);
    /* Not a model: a CPUID flag, the list's header. */
    assert_int_equal(qemu_cpus_check(l, "aes", &err), -EOPNOTSUPP);
    err = (struct ferry_error){0}; /* the first error is kept */
    assert_int_equal(qemu_cpus_check(l, "EPYC-Genoa", &err), -EOPNOTSUPP);
    assert_string_equal(err.msg,
                        "<cpu><model>EPYC-Genoa</model>: this host's QEMU has no such CPU model");
    assert_int_equal(qemu_cpus_parse("Available CPUs:\n", l, &err), -EPROTO);
    free(l);
}

/* A migration's destination takes a versioned machine it lists as such,
 * never an alias (which could stand for another machine there). */
static void test_machines_check(void **state)
{
    struct qemu_machines *l = ferry_calloc(1, sizeof *l);
    struct ferry_error err = {0};

    assert_int_equal(qemu_machines_parse(machine_help, l, &err), 0);
    assert_int_equal(qemu_machines_check(l, "pc-q35-7.1", &err), 0);
    assert_int_equal(qemu_machines_check(l, "q35", &err), -EOPNOTSUPP);
    err = (struct ferry_error){0}; /* the first error is kept */
    assert_int_equal(qemu_machines_check(l, "pc-q35-8.0", &err), -EOPNOTSUPP);
    assert_string_equal(
        err.msg, "<os><type machine='pc-q35-8.0'>: this host's QEMU has no such machine type");
    free(l);
}

/* A bridge NIC on a host without its bridge: refused, naming the NIC and
 * the bridge (a start, and a migration's Prepare). */
static void test_net_check_bridge(void **state)
{
    struct domain_def *def =
        parse_ok("<domain><name>g</name><memory>1024</memory><devices>"
                 "<interface type='bridge'><mac address='52:54:00:12:34:56'/>"
                 "<source bridge='ferry-nobr9'/><model type='virtio'/></interface>"
                 "<interface type='user'/></devices></domain>");
    struct ferry_error err = {0};

    (void)state;
    assert_int_equal(qemu_net_check(def, &err), -ENODEV);
    assert_string_equal(
        err.msg, "interface '52:54:00:12:34:56': bridge 'ferry-nobr9' not found on this host");
    domain_def_free(def);
    /* User and ethernet NICs need no bridge. */
    def = parse_ok("<domain><name>g</name><memory>1024</memory><devices>"
                   "<interface type='ethernet'/><interface type='user'/></devices></domain>");
    err = (struct ferry_error){0};
    assert_int_equal(qemu_net_check(def, &err), 0);
    domain_def_free(def);
}

/* The host's own QEMU, when installed: its aliases resolve to versioned
 * machines it lists too. */
static void test_machines_query_host(void **state)
{
    const char *bin = getenv("FERRY_QEMU") ? getenv("FERRY_QEMU") : "/usr/bin/qemu-system-x86_64";
    struct qemu_machines *l;
    struct ferry_error err = {0};
    char buf[DOMAIN_MACHINE_MAX], again[DOMAIN_MACHINE_MAX];

    if (access(bin, X_OK) < 0)
        skip();
    l = ferry_calloc(1, sizeof *l);
    if (qemu_machines_query(bin, l, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(qemu_machines_resolve(l, "q35", buf, &err), 0);
    assert_non_null(strstr(buf, "pc-q35-"));
    assert_int_equal(qemu_machines_resolve(l, buf, again, &err), 0);
    assert_string_equal(buf, again);
    assert_int_equal(qemu_machines_query("/nonexistent/qemu", l, &err), -EIO);
    free(l);
    {
        struct qemu_cpus *c = ferry_calloc(1, sizeof *c);

        if (qemu_cpus_query(bin, c, &err) < 0)
            fail_msg("%s", err.msg);
        assert_int_equal(qemu_cpus_check(c, QEMU_CPU_DEFAULT, &err), 0);
        assert_int_equal(qemu_cpus_check(c, "max", &err), 0);
        free(c);
    }
}

/* The template beside the code is pinned at define; the NVRAM is created
 * from it once, then kept. */
static void test_firmware_nvram(void **state)
{
    char dir[] = "/tmp/ferry-fw-XXXXXX";
    struct ferry_error err = {0};
    struct domain_def *def;
    _cleanup_free_ char *code = NULL, *vars = NULL, *xml = NULL, *nvram = NULL, *buf = NULL;
    size_t len;

    assert_non_null(mkdtemp(dir));
    code = ferry_strdup_printf("%s/OVMF_CODE_4M.fd", dir);
    vars = ferry_strdup_printf("%s/OVMF_VARS_4M.fd", dir);
    assert_int_equal(ferry_write_file_atomic(code, "code", 4, 0600, &err), 0);
    assert_int_equal(ferry_write_file_atomic(vars, "vars", 4, 0600, &err), 0);
    xml = ferry_strdup_printf("<domain><name>fw</name><memory>1024</memory><os>"
                              "<loader readonly='yes' type='pflash'>%s</loader></os></domain>",
                              code);
    def = parse_ok(xml);
    assert_null(def->nvram_template);
    qemu_firmware_define(def);
    assert_string_equal(def->nvram_template, vars);

    nvram = qemu_firmware_nvram_path(dir, def);
    assert_int_equal(strlen(nvram), strlen(dir) + strlen("/nvram/fw_VARS.fd"));
    assert_int_equal(qemu_firmware_prepare(def, nvram, &err), 0);
    assert_int_equal(ferry_read_file(nvram, 64, &buf, &len, &err), 0);
    assert_memory_equal(buf, "vars", 4);
    /* The guest wrote its variables: a second start keeps them. */
    assert_int_equal(ferry_write_file_atomic(nvram, "mine", 4, 0600, &err), 0);
    assert_int_equal(qemu_firmware_prepare(def, nvram, &err), 0);
    free(buf);
    assert_int_equal(ferry_read_file(nvram, 64, &buf, &len, &err), 0);
    assert_memory_equal(buf, "mine", 4);
    unlink(nvram);
    /* Without a template there is nothing to create it from. */
    free(def->nvram_template);
    def->nvram_template = NULL;
    assert_int_equal(qemu_firmware_prepare(def, nvram, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "names no template"));
    domain_def_free(def);
    {
        _cleanup_free_ char *nd = ferry_strdup_printf("%s/nvram", dir);
        rmdir(nd);
    }
    unlink(code);
    unlink(vars);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_common_arguments),
        cmocka_unit_test(test_machines_resolve),
        cmocka_unit_test(test_machines_query_host),
        cmocka_unit_test(test_cpus_parse),
        cmocka_unit_test(test_machines_check),
        cmocka_unit_test(test_net_check_bridge),
        cmocka_unit_test(test_firmware_nvram),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
