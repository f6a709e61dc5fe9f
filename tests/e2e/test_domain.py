#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A realistic guest, as virt-install describes one (issue 12): q35 pinned
at define, OVMF with a per-VM NVRAM, a qcow2 virtio disk, a virtio NIC of
type user, a serial console on a unix socket, VNC, an empty CD-ROM. It
defines, starts and runs under TCG; its QEMU carries every device at the
PCI address the definition pinned; dumpxml round-trips through define
unchanged; it migrates live with --copy-storage-all to a second agent
and the destination's guest has the same PCI devices and MAC."""

import json
import os
import re
import select
import shutil
import socket
import subprocess
import time
import xml.etree.ElementTree as ET

from ferrytest import FERRYCTL, Agent, Runner, Skip, need_qemu, stop_pid, tmpdir, wait_for

QEMU = os.environ.get("FERRY_QEMU", "qemu-system-x86_64")
OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"


def need_ovmf():
    need_qemu()
    if not (os.path.exists(OVMF_CODE) and os.path.exists(OVMF_VARS)):
        raise Skip("Debian's ovmf is not installed (scripts/deps.sh installs it)")


def q35_pinned():
    """The versioned machine this host's QEMU resolves q35 to."""
    out = subprocess.run([QEMU, "-machine", "help"], capture_output=True, text=True,
                         timeout=30).stdout
    m = re.search(r"^q35\s.*\(alias of (\S+)\)", out, re.M)
    assert m, "no q35 alias in -machine help"
    return m.group(1)


def realistic_xml(name, disk):
    """What virt-install --boot uefi --osinfo detect=on ... leaves after
    libvirt's define, minus what libvirt itself adds for its own use."""
    return """<domain type='kvm'>
  <name>%(name)s</name>
  <memory unit='MiB'>256</memory>
  <currentMemory unit='MiB'>256</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os firmware='efi'>
    <type arch='x86_64' machine='q35'>hvm</type>
    <loader readonly='yes' type='pflash'>%(code)s</loader>
    <nvram template='%(vars)s'/>
    <boot dev='hd'/>
  </os>
  <features>
    <acpi/>
    <apic/>
    <vmport state='off'/>
  </features>
  <clock offset='utc'>
    <timer name='rtc' tickpolicy='catchup'/>
    <timer name='pit' tickpolicy='delay'/>
    <timer name='hpet' present='no'/>
  </clock>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <pm>
    <suspend-to-mem enabled='no'/>
    <suspend-to-disk enabled='no'/>
  </pm>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap'/>
      <source file='%(disk)s'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <interface type='user'>
      <model type='virtio'/>
    </interface>
    <serial type='unix'>
      <target type='isa-serial' port='0'>
        <model name='isa-serial'/>
      </target>
    </serial>
    <console type='unix'>
      <target type='serial' port='0'/>
    </console>
    <graphics type='vnc' port='-1' autoport='yes'>
      <listen type='address'/>
    </graphics>
    <video>
      <model type='virtio' heads='1' primary='yes'/>
    </video>
  </devices>
</domain>
""" % {"name": name, "code": OVMF_CODE, "vars": OVMF_VARS, "disk": disk}


def make_qcow2(path, size="1G"):
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", path, size], check=True,
                   timeout=30)
    return path


def dumpxml(agent, dom, inactive=False):
    args = ["dumpxml", dom] + (["--inactive"] if inactive else [])
    return agent.ctl(*args).stdout


def cmdline(agent, dom):
    pid = agent.qemu_pid(dom)
    assert pid, "no QEMU pid for %s" % dom
    return open("/proc/%d/cmdline" % pid, "rb").read().decode().split("\0")


def devices_args(argv):
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-device"]


def query_pci(agent, dom):
    out = agent.ctl("qemu-monitor-command", dom, '{"execute":"query-pci"}').stdout
    return json.loads(out)["return"]


def pci_summary(buses):
    """(bus, slot, function, vendor, device, class) of every device."""
    out = []
    for b in buses:
        for d in b["devices"]:
            out.append((b["bus"], d["slot"], d["function"], d["id"]["vendor"],
                        d["id"]["device"], d["class_info"]["class"]))
    return sorted(out)


def check_pinned_devices(agent, dom, xml):
    """Every device of XML is in QEMU's command line at its pinned place."""
    root = ET.fromstring(xml)
    argv = cmdline(agent, dom)
    devs = devices_args(argv)
    slots = {}
    for el in root.find("devices"):
        addr = el.find("address")
        if el.tag in ("disk", "interface", "video"):
            assert addr is not None, "%s without an address in dumpxml" % el.tag
        if addr is not None and addr.get("type") == "pci":
            slot = int(addr.get("slot"), 16)
            assert slot not in slots, "slot %#x twice" % slot
            slots[slot] = el.tag
            want = ",addr=%#x" % slot
            if el.tag == "disk":
                dev = el.find("target").get("dev")
                hit = [d for d in devs if d.startswith("virtio-blk-pci,") and
                       ",id=%s," % dev in d + ","]
            elif el.tag == "interface":
                mac = el.find("mac").get("address")
                hit = [d for d in devs if d.startswith("virtio-net-pci,") and
                       "mac=%s" % mac in d]
            else:
                hit = [d for d in devs if d.startswith("virtio-vga,")]
            assert len(hit) == 1, "%s: %s" % (el.tag, devs)
            assert hit[0].endswith(want) or want + "," in hit[0], (want, hit[0])
    cd = [d for d in devs if d.startswith("ide-cd,")]
    assert cd == ["ide-cd,id=sda,bus=ide.0"], cd
    assert argv[argv.index("-cpu") + 1] == root.find("cpu/model").text, argv
    machine = argv[argv.index("-machine") + 1]
    assert machine.startswith(root.find("os/type").get("machine") + ","), machine
    assert "pflash0=pflash0,pflash1=pflash1" in machine, machine
    # virt-install's <features><vmport state='off'/> and HPET-less <clock>.
    assert machine.endswith(",vmport=off,hpet=off"), machine
    # ... and <pm>: no S3, no S4 in the guest's ACPI.
    globals_ = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-global"]
    assert globals_ == ["ICH9-LPC.disable_s3=1", "ICH9-LPC.disable_s4=1"], globals_
    vnc = argv[argv.index("-vnc") + 1]
    assert vnc == "127.0.0.1:0,to=99", vnc
    chardev = argv[argv.index("-chardev") + 1]
    assert chardev.startswith("socket,id=serial0,") and "server=on,wait=off" in chardev, chardev
    return slots


def console_output(agent, dom, timeout=20, until=(b"BdsDxe",), send=b"\r"):
    """Bytes the guest's firmware writes to the console socket, sending
    SEND each second, until one of UNTIL is among them."""
    path = os.path.join(agent.state, "run", dom + ".console")
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(1)
    data = b""
    end = time.time() + timeout
    try:
        while time.time() < end and not any(u in data for u in until):
            s.send(send)
            try:
                data += s.recv(65536)
            except socket.timeout:
                pass
    finally:
        s.close()
    return data


def test_realistic_guest():
    need_ovmf()
    a = Agent("dom-a").start()
    try:
        disk = make_qcow2(os.path.join(tmpdir(), "vm1.qcow2"))
        path = os.path.join(a.dir, "vm1.xml")
        with open(path, "w") as f:
            f.write(realistic_xml("vm1", disk))
        out = a.ctl("define", path).stdout
        # Only host-side details are ignored; every device is honoured.
        ignored = sorted(re.findall(r"ignored: <([^>]+)>", out))
        assert ignored == ["clock/timer@tickpolicy", "currentMemory", "devices/emulator",
                           "os/boot", "vcpu@placement"], out

        xml = dumpxml(a, "vm1", inactive=True)
        root = ET.fromstring(xml)
        assert root.find("os/type").get("machine") == q35_pinned(), xml
        assert root.find("devices/interface/mac").get("address").startswith("52:54:00:"), xml
        # No <cpu>: pinned to QEMU's migratable default model, by name.
        cpu = root.find("cpu")
        assert cpu is not None and cpu.get("mode") == "custom", xml
        assert cpu.find("model").text == "qemu64", xml

        # dumpxml -> define round-trips unchanged.
        with open(path, "w") as f:
            f.write(xml)
        out = a.ctl("define", path).stdout
        assert "ignored" not in out, out
        assert dumpxml(a, "vm1", inactive=True) == xml

        nvram = os.path.join(a.state, "nvram", "vm1_VARS.fd")
        assert not os.path.exists(nvram)
        a.ctl("start", "vm1")
        assert a.state_of("vm1") == "running"
        # The NVRAM was created from the template at the first start.
        assert os.path.exists(nvram)
        assert os.path.getsize(nvram) == os.path.getsize(OVMF_VARS)

        live = dumpxml(a, "vm1")
        slots = check_pinned_devices(a, "vm1", live)
        # The guest's PCI bus is what the definition says.
        qpci = pci_summary(query_pci(a, "vm1"))
        for slot, tag in slots.items():
            assert any(d[0] == 0 and d[1] == slot for d in qpci), (slot, tag, qpci)
        # OVMF runs and talks on the serial console (the agent's socket),
        # which is also logged to NAME.serial.
        assert b"BdsDxe" in console_output(a, "vm1"), "no firmware output on the console"
        logf = os.path.join(a.state, "run", "vm1.serial")
        wait_for(lambda: b"BdsDxe" in open(logf, "rb").read(), 20,
                 "the console's output in vm1.serial")
        a.ctl("destroy", "vm1")
        # A second start keeps the guest's variables (OVMF wrote its boot
        # options into them: they differ from the template now).
        assert open(nvram, "rb").read() != open(OVMF_VARS, "rb").read()
    finally:
        a.stop()


def test_refusals_name_what_they_refuse():
    need_qemu()
    a = Agent("dom-r").start()
    try:
        disk = os.path.join(tmpdir(), "r.qcow2")
        base = realistic_xml("vmr", disk)
        cases = [
            (base.replace("arch='x86_64'", "arch='aarch64'"),
             "<os><type arch='aarch64'> is not supported (only x86_64)"),
            (base.replace("machine='q35'", "machine='pc-q35-99.0'"),
             "<os><type machine='pc-q35-99.0'>: this host's QEMU has no such machine type"),
            (base.replace("<interface type='user'>",
                          "<interface type='network'><source network='default'/>"),
             "<interface type='network'> is not supported"),
            (base.replace("<vcpu placement='static'>1</vcpu>",
                          "<vcpu placement='static' current='1'>2</vcpu>"),
             "attribute 'current' of <vcpu> is not supported"),
            (base.replace("</devices>", "</devices><launchSecurity type='sev'/>"),
             "<launchSecurity> is not supported"),
            (base.replace("type='pflash'", "type='pflash' secure='yes'"),
             "<loader secure='yes'> is not supported"),
            (base.replace("<graphics type='vnc'", "<graphics type='spice'"),
             "<graphics type='spice'> is not supported"),
            (base.replace("<vcpu placement='static'>1</vcpu>",
                          "<vcpu>1</vcpu><cpu mode='custom'><model>Ferry-9000</model></cpu>"),
             "<cpu><model>Ferry-9000</model>: this host's QEMU has no such CPU model"),
            (base.replace("<vcpu placement='static'>1</vcpu>",
                          "<vcpu>1</vcpu><cpu><model>qemu64</model><feature name='vmx'/></cpu>"),
             "<cpu>: <feature> is not supported"),
        ]
        path = os.path.join(a.dir, "r.xml")
        for xml, msg in cases:
            with open(path, "w") as f:
                f.write(xml)
            r = a.ctl("define", path, check=False)
            assert r.returncode != 0, "accepted: %s" % msg
            assert msg in r.stderr, (msg, r.stderr)
        assert "vmr" not in a.domains()
    finally:
        a.stop()


def test_migrates_with_its_devices():
    need_ovmf()
    src = Agent("dom-src").start()
    dst = Agent("dom-dst").start()
    try:
        os.makedirs(src.images, exist_ok=True)
        disk = make_qcow2(os.path.join(src.images, "vm2.qcow2"))
        path = os.path.join(src.dir, "vm2.xml")
        with open(path, "w") as f:
            f.write(realistic_xml("vm2", disk))
        src.ctl("define", path)
        src.ctl("start", "vm2")
        wait_for(lambda: b"BdsDxe" in open(os.path.join(src.state, "run", "vm2.serial"),
                                            "rb").read(), 60, "OVMF on the source")
        before = pci_summary(query_pci(src, "vm2"))
        xml = dumpxml(src, "vm2")
        mac = ET.fromstring(xml).find("devices/interface/mac").get("address")

        src.ctl("migrate", "--live", "--copy-storage-all", "vm2", dst.uri, timeout=300)
        assert dst.state_of("vm2") == "running"
        after = pci_summary(query_pci(dst, "vm2"))
        assert after == before, (before, after)
        dxml = dumpxml(dst, "vm2")
        droot = ET.fromstring(dxml)
        assert droot.find("devices/interface/mac").get("address") == mac
        assert droot.find("os/type").get("machine") == q35_pinned()
        argv = cmdline(dst, "vm2")
        assert "virtio-net-pci,netdev=hostnet0,id=net0,mac=%s,addr=0x4" % mac in \
            devices_args(argv), devices_args(argv)
        # The variables travel inside the migration stream (QEMU migrates
        # pflash contents and writes them to the destination's NVRAM).
        src_nv = os.path.join(src.state, "nvram", "vm2_VARS.fd")
        dst_nv = os.path.join(dst.state, "nvram", "vm2_VARS.fd")
        assert open(src_nv, "rb").read() != open(OVMF_VARS, "rb").read(), \
            "OVMF wrote no variables on the source: the comparison would prove nothing"
        wait_for(lambda: open(dst_nv, "rb").read() == open(src_nv, "rb").read(), 20,
                 "the destination's NVRAM to equal the source's")
        # The console works on the destination's socket after the switch:
        # only the destination's QEMU writes there, and the firmware, going
        # on through its boot options (the disk, then network boot over
        # the virtio NIC), prints what it tries.
        until = (b"BdsDxe", b"PXE", b"net0:", b"Shell>")
        out = console_output(dst, "vm2", timeout=40, until=until)
        assert any(u in out for u in until), out[-2000:]
        dst.ctl("destroy", "vm2")
    finally:
        for a in (src, dst):
            for name in list(a.domains()):
                if a.state_of(name) != "shutoff":
                    a.ctl("destroy", name, check=False)
            a.stop()


def hiding_qemu(path, hide_cpu=None, hide_machine=None):
    """A QEMU that lacks a CPU model or a machine type: the real one, whose
    -cpu help / -machine help leave it out (the only fake here: one host
    cannot have two QEMUs that differ)."""
    with open(path, "w") as f:
        f.write("""#!/bin/sh
if [ "$1 $2" = "-cpu help" ] && [ -n "%(cpu)s" ]; then
    %(qemu)s -cpu help | grep -v "^x86 %(cpu)s "; exit 0
fi
if [ "$1 $2" = "-machine help" ] && [ -n "%(machine)s" ]; then
    %(qemu)s -machine help | grep -v "^%(machine)s " | sed "s/(alias of %(machine)s)//"; exit 0
fi
exec %(qemu)s "$@"
""" % {"qemu": QEMU, "cpu": hide_cpu or "", "machine": hide_machine or ""})
    os.chmod(path, 0o755)
    return path


def test_destination_refusals():
    """Prepare refuses, naming it, a destination whose QEMU lacks the
    guest's machine type or CPU model, or that lacks the medium of its
    CD-ROM; the guest runs on at the source."""
    need_ovmf()
    cd_dir = os.path.join(tmpdir(), "isos")
    os.makedirs(cd_dir, exist_ok=True)
    iso = os.path.join(cd_dir, "install.iso")
    with open(iso, "wb") as f:
        f.truncate(1 << 20)
    src = Agent("ref-src").start()
    dsts = []
    try:
        os.makedirs(src.images, exist_ok=True)
        disk = make_qcow2(os.path.join(src.images, "vm4.qcow2"))
        xml = realistic_xml("vm4", disk).replace(
            "<target dev='sda' bus='sata'/>",
            "<source file='%s'/><target dev='sda' bus='sata'/>" % iso)
        path = os.path.join(src.dir, "vm4.xml")
        with open(path, "w") as f:
            f.write(xml)
        src.ctl("define", path)
        src.ctl("start", "vm4")
        machine = ET.fromstring(dumpxml(src, "vm4")).find("os/type").get("machine")
        no_cpu = Agent("ref-nocpu", env={"FERRY_QEMU": hiding_qemu(
            os.path.join(tmpdir(), "qemu-nocpu"), hide_cpu="qemu64")})
        no_machine = Agent("ref-nomachine", env={"FERRY_QEMU": hiding_qemu(
            os.path.join(tmpdir(), "qemu-nomachine"), hide_machine=machine)})
        # A destination whose view of the ISO's directory is an empty tmpfs.
        no_iso = Agent("ref-noiso")
        no_iso.wrap = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                       'mount -t tmpfs ferry-e2e "$0" && exec "$@"', cd_dir]
        cases = [
            (no_cpu, "<cpu><model>qemu64</model>: this host's QEMU has no such CPU model"),
            (no_machine, "<os><type machine='%s'>: this host's QEMU has no such machine type" %
             machine),
            (no_iso, "disk 'sda': CD-ROM medium '%s' is not on this host" % iso),
        ]
        for dst, msg in cases:
            dsts.append(dst.start())
            r = src.ctl("migrate", "--live", "--copy-storage-all", "vm4", dst.uri, check=False,
                        timeout=120)
            assert r.returncode != 0 and msg in r.stderr, (msg, r.stderr)
            assert src.state_of("vm4") == "running"
            assert "vm4" not in dst.domains()
        src.ctl("destroy", "vm4")
    finally:
        for a in [src] + dsts:
            if a.proc:
                for name in list(a.domains()):
                    if a.state_of(name) != "shutoff":
                        a.ctl("destroy", name, check=False)
                a.stop()


def test_nvram_checked_at_switchover():
    """Finish compares the variables store the destination received with
    the NVRAM file the stopped source ended with. QEMU does not track the
    guest's flash writes for migration, so they can differ; the test makes
    them differ by changing a byte of the source's file behind QEMU's back:
    the migration is refused and the guest runs on at the source; with the
    byte back, it migrates."""
    need_ovmf()
    src = Agent("nv-src").start()
    dst = Agent("nv-dst").start()
    try:
        os.makedirs(src.images, exist_ok=True)
        disk = make_qcow2(os.path.join(src.images, "vm5.qcow2"))
        path = os.path.join(src.dir, "vm5.xml")
        with open(path, "w") as f:
            f.write(realistic_xml("vm5", disk))
        src.ctl("define", path)
        src.ctl("start", "vm5")
        wait_for(lambda: b"BdsDxe" in open(os.path.join(src.state, "run", "vm5.serial"),
                                            "rb").read(), 60, "OVMF on the source")
        nv = os.path.join(src.state, "nvram", "vm5_VARS.fd")
        # An offline migration would leave the variables behind: refused.
        r = src.ctl("migrate", "--offline", "--persistent", "vm5", dst.uri, check=False)
        assert r.returncode != 0 and "offline migration: nvram '%s' holds the guest's UEFI " \
            "variables" % nv in r.stderr, r.stderr
        assert "vm5" not in dst.domains()
        with open(nv, "r+b") as f:
            f.seek(-1, os.SEEK_END)
            last = f.read(1)
            f.seek(-1, os.SEEK_END)
            f.write(bytes([last[0] ^ 0xff]))
        r = src.ctl("migrate", "--live", "--copy-storage-all", "vm5", dst.uri, check=False,
                    timeout=300)
        assert r.returncode != 0, "migrated with a variables store that differs"
        assert "nvram: the guest's UEFI variables changed during the migration" in r.stderr, \
            r.stderr
        assert src.state_of("vm5") == "running"
        assert "vm5" not in dst.domains()
        with open(nv, "r+b") as f:
            f.seek(-1, os.SEEK_END)
            f.write(last)
        # The copy the refused migration made stays on the destination,
        # ferryd's to delete on request (docs/control-api.md, "Disk images
        # and who owns them").
        for v in dst.ctl_json("vol-list"):
            dst.ctl("vol-delete", v["path"])
        src.ctl("migrate", "--live", "--copy-storage-all", "vm5", dst.uri, timeout=300)
        assert dst.state_of("vm5") == "running"
        dst.ctl("destroy", "vm5")
    finally:
        for a in (src, dst):
            if a.proc:
                for name in list(a.domains()):
                    if a.state_of(name) != "shutoff":
                        a.ctl("destroy", name, check=False)
                a.stop()


def test_scsi_disks_migrate():
    """Disks on a virtio-scsi controller (a qcow2 disk, an empty CD-ROM):
    the controller and each LUN pinned at define and on QEMU's command
    line, the same PCI bus on the destination, the disk's data copied by
    --copy-storage-all."""
    need_qemu()
    src = Agent("scsi-src").start()
    dst = Agent("scsi-dst").start()
    try:
        os.makedirs(src.images, exist_ok=True)
        disk = make_qcow2(os.path.join(src.images, "vm8.qcow2"), "64M")
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0xab 1M 2M", disk], check=True,
                       capture_output=True, timeout=30)
        xml = """<domain type='kvm'><name>vm8</name><memory unit='MiB'>64</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <controller type='scsi' index='0' model='virtio-scsi'/>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
      <source file='%s'/><target dev='sda' bus='scsi'/></disk>
    <disk type='file' device='cdrom'><target dev='sdb' bus='scsi'/><readonly/></disk>
  </devices></domain>""" % disk
        path = os.path.join(src.dir, "vm8.xml")
        with open(path, "w") as f:
            f.write(xml)
        src.ctl("define", path)
        root = ET.fromstring(dumpxml(src, "vm8", inactive=True))
        slot = int(root.find("devices/controller[@type='scsi']/address").get("slot"), 16)
        units = [d.find("address").get("unit") for d in root.findall("devices/disk")]
        assert units == ["0", "1"], units
        src.ctl("start", "vm8")
        devs = devices_args(cmdline(src, "vm8"))
        assert "virtio-scsi-pci,id=scsi0,addr=%#x" % slot in devs, devs
        assert any(d.startswith("scsi-hd,drive=f-sda,id=sda,") and d.endswith(",lun=0")
                   for d in devs), devs
        assert "scsi-cd,id=sdb,bus=scsi0.0,channel=0,scsi-id=0,lun=1" in devs, devs
        before = pci_summary(query_pci(src, "vm8"))
        assert any(d[1] == slot and d[3] == 0x1af4 for d in before), before

        src.ctl("migrate", "--live", "--copy-storage-all", "vm8", dst.uri, timeout=300)
        assert pci_summary(query_pci(dst, "vm8")) == before
        target = ET.fromstring(dumpxml(dst, "vm8")).find("devices/disk/source").get("file")
        dst.ctl("destroy", "vm8")
        r = subprocess.run(["qemu-img", "compare", "-f", "qcow2", "-F", "qcow2", disk, target],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        for a in (src, dst):
            if a.proc:
                for name in list(a.domains()):
                    if a.state_of(name) != "shutoff":
                        a.ctl("destroy", name, check=False)
                a.stop()


def test_xl_conversion_defines():
    """ferryctl domxml-from-native xen-xl output on the QEMU driver: an HVM
    guest QEMU can run is defined (Xen's xenfv machine becomes the PC it is
    built on, said in the ignored list) and starts; one with what QEMU
    cannot give (a PV disk on bus xen) is refused, naming it."""
    need_qemu()
    a = Agent("xl").start()
    try:
        d = os.path.join(tmpdir(), "xl")
        os.makedirs(d, exist_ok=True)
        raw = os.path.join(d, "xl.raw")
        with open(raw, "wb") as f:
            f.truncate(16 << 20)
        cfg = os.path.join(d, "hvm.cfg")
        with open(cfg, "w") as f:
            f.write('name = "xlvm"\ntype = "hvm"\nmemory = 64\nvcpus = 1\n'
                    'disk = [ "format=raw, vdev=hda, access=rw, target=%s" ]\n' % raw)
        xml = a.ctl("domxml-from-native", "xen-xl", cfg).stdout
        assert "<domain type=\"xen\">" in xml and "xenfv" in xml, xml
        path = os.path.join(d, "hvm.xml")
        with open(path, "w") as f:
            f.write(xml)
        out = a.ctl("define", path).stdout
        assert sorted(re.findall(r"ignored: <([^>]+)>", out)) == [
            "currentMemory", "os/type@machine", "vcpu@placement"], out
        root = ET.fromstring(dumpxml(a, "xlvm", inactive=True))
        assert root.get("type") == "kvm", ET.tostring(root)
        assert root.find("os/type").get("machine").startswith("pc-i440fx-"), ET.tostring(root)
        a.ctl("start", "xlvm")
        assert a.state_of("xlvm") == "running"
        a.ctl("destroy", "xlvm")

        with open(cfg, "w") as f:
            f.write('name = "xlpv"\ntype = "hvm"\nmemory = 64\n'
                    'disk = [ "format=raw, vdev=xvda, access=rw, target=%s" ]\n' % raw)
        xml = a.ctl("domxml-from-native", "xen-xl", cfg).stdout
        with open(path, "w") as f:
            f.write(xml)
        r = a.ctl("define", path, check=False)
        assert r.returncode != 0, xml
        assert "<domain type='xen'> on the QEMU driver" in r.stderr and \
            "bus 'xen' is not supported" in r.stderr, r.stderr
        assert "xlpv" not in a.domains()
    finally:
        if a.proc:
            if "xlvm" in a.domains() and a.state_of("xlvm") != "shutoff":
                a.ctl("destroy", "xlvm", check=False)
            a.stop()


def linux_guest():
    """Kernel and initramfs of ferry's Linux test guest (tests/guest/linux),
    from the build's manifest."""
    path = os.environ.get("FERRY_LINUX_GUEST_MANIFEST", "")
    try:
        info = dict(l.rstrip("\n").split("=", 1) for l in open(path) if "=" in l)
    except OSError:
        raise Skip("no Linux test guest manifest (%r): build first" % path)
    if "SKIP" in info:
        raise Skip("no Linux test guest: %s" % info["SKIP"])
    return info["KERNEL"], info["INITRD"]


class Console:
    """ferryctl console NAME, driven as a script would: commands written to
    its stdin, the guest's answers read from its stdout."""

    def __init__(self, agent, dom, timeout=120):
        self.proc = subprocess.Popen([FERRYCTL, "-c", agent.control, "console", dom,
                                      "--timeout", str(timeout)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = b""

    def run(self, cmd, want, timeout=60):
        """Sends CMD (again every 3 s, the shell may not be up yet) until
        WANT is in the output after it."""
        start = len(self.out)
        end = time.time() + timeout
        sent = 0
        while time.time() < end:
            if time.time() - sent > 3:
                self.proc.stdin.write(cmd.encode() + b"\n")
                self.proc.stdin.flush()
                sent = time.time()
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                self.out += chunk
                if want.encode() in self.out[start:]:
                    return
        err = b""
        if self.proc.poll() is not None:
            err = self.proc.stderr.read()
        raise AssertionError("no %r on the console after %r: %r %r" % (
            want, cmd, self.out[-1500:], err))

    def close(self):
        stop_pid(self.proc)


def test_guest_verbs():
    """shutdown, reboot, reset, console, domiflist, domifaddr, domblkinfo,
    vncdisplay on ferry's Linux test guest (its shell on the console; it
    has no ACPI power-button handler, which is what shutdown meets)."""
    kernel, initrd = linux_guest()
    a = Agent("verbs").start()
    con = None
    try:
        disk = os.path.join(tmpdir(), "vm7.raw")
        with open(disk, "wb") as f:
            f.truncate(64 << 20)
        xml = """<domain type='kvm'><name>vm7</name><memory unit='MiB'>192</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type><kernel>%s</kernel><initrd>%s</initrd>
    <cmdline>console=ttyS0 quiet panic=-1 ferry.shell=1</cmdline></os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='%s'/>
      <target dev='vda' bus='virtio'/></disk>
    <interface type='user'><model type='virtio'/></interface>
    <serial type='unix'/>
    <graphics type='vnc' autoport='yes'/>
  </devices></domain>""" % (kernel, initrd, disk)
        path = os.path.join(a.dir, "vm7.xml")
        with open(path, "w") as f:
            f.write(xml)
        a.ctl("define", path)
        a.ctl("start", "vm7")
        pid = a.qemu_pid("vm7")
        con = Console(a, "vm7")
        con.run("echo UP-$((6*7))", "UP-42", timeout=90)

        mac = ET.fromstring(dumpxml(a, "vm7")).find("devices/interface/mac").get("address")
        out = a.ctl("domiflist", "vm7").stdout
        assert re.search(r"user\s+-\s+virtio\s+%s" % mac, out), out
        out = a.ctl("domifaddr", "vm7").stdout
        assert "10.0.2.15/24" in out and "convention" in out, out
        info = a.ctl_json("domblkinfo", "vm7", "vda")
        assert info == {"capacity": 64 << 20, "allocation": os.stat(disk).st_blocks * 512,
                        "physical": 64 << 20}, info
        vnc = a.ctl("vncdisplay", "vm7").stdout.strip()
        m = re.match(r"^127\.0\.0\.1:(\d+)$", vnc)
        assert m, vnc
        s = socket.create_connection(("127.0.0.1", 5900 + int(m.group(1))), timeout=10)
        assert s.recv(12).startswith(b"RFB "), "no VNC server on display %s" % vnc
        s.close()

        # reset: the guest starts again (a new shell, without the variable).
        con.run("X=kept; echo X-$X", "X-kept")
        out = a.ctl("reset", "vm7").stdout
        assert "was reset" in out, out
        con.run("echo AFTER-RESET-$X-", "AFTER-RESET--", timeout=90)

        # shutdown: the button is pressed (QEMU's POWERDOWN) but this guest
        # has nothing listening to it: --timeout says so, the guest runs.
        r = a.ctl("shutdown", "vm7", "--mode", "acpi", "--timeout", "3", check=False)
        assert r.returncode == 1 and "did not shut down within 3 s" in r.stderr, r.stderr
        assert a.state_of("vm7") == "running"
        r = a.ctl("shutdown", "vm7", "--mode", "agent", check=False)
        assert r.returncode != 0 and "mode 'agent' is not supported (acpi)" in r.stderr

        # reboot: armed by the button; the guest's own power-off then
        # becomes a reset, in the same QEMU.
        out = a.ctl("reboot", "vm7").stdout
        assert "is being rebooted" in out, out
        con.run("Y=1; echo Y-$Y", "Y-1")
        con.proc.stdin.write(b"poweroff -f\n")
        con.proc.stdin.flush()
        con.run("echo REBOOTED-$Y-", "REBOOTED--", timeout=90)
        assert a.qemu_pid("vm7") == pid and a.state_of("vm7") == "running"
        # One shot: the next power-off is one.
        con.proc.stdin.write(b"poweroff -f\n")
        con.proc.stdin.flush()
        # (domstate may fail for the moment QEMU's monitor closes before
        # the agent has seen the process end: asked again.)
        wait_for(lambda: a.ctl("domstate", "vm7", check=False).stdout.strip() == "shut off", 60,
                 "the guest to power off")
        out = a.ctl("events", "--domain", "vm7", "--since", "0", "--timeout", "2").stdout
        events = [json.loads(l)["event"] for l in out.splitlines() if l.strip()]
        assert events.count("powerdown") == 2 and "reset" in events, events
    finally:
        if con:
            con.close()
        if a.proc:
            if a.state_of("vm7") != "shutoff":
                a.ctl("destroy", "vm7", check=False)
            a.stop()


class NetNs:
    """A network namespace of the test's own, held by a sleeping process
    (stopped by pid): agents run in it through nsenter, which execs them,
    so their pid stays theirs."""

    def __init__(self):
        for tool in ("unshare", "nsenter", "ip"):
            if not shutil.which(tool):
                raise Skip("no %s (util-linux, iproute2)" % tool)
        try:
            self.proc = subprocess.Popen(["unshare", "--net", "sleep", "600"],
                                         stderr=subprocess.PIPE)
        except OSError as e:
            raise Skip("cannot run unshare: %s" % e)
        self.path = "/proc/%d/ns/net" % self.proc.pid
        wait_for(lambda: self.proc.poll() is not None or
                 os.readlink(self.path) != os.readlink("/proc/self/ns/net"), 10,
                 "the network namespace")
        if self.proc.poll() is not None:
            raise Skip("cannot create a network namespace (no CAP_NET_ADMIN?): %s" %
                       self.proc.stderr.read().decode().strip())
        self.run("ip", "link", "set", "lo", "up")
        if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
            self.stop()
            raise Skip("no /dev/net/tun")

    def wrap(self):
        return ["nsenter", "--net=" + self.path, "--"]

    def run(self, *cmd):
        return subprocess.run(self.wrap() + list(cmd), check=True, capture_output=True,
                              text=True, timeout=30).stdout

    def taps(self):
        """{name: (rx_packets, tx_packets)} of the namespace's taps."""
        # ip, not /sys: this process's sysfs shows its own namespace.
        links = json.loads(self.run("ip", "-j", "-s", "link", "show", "type", "tun"))
        return {l["ifname"]: (l["stats64"]["rx"]["packets"], l["stats64"]["tx"]["packets"])
                for l in links}

    def stop(self):
        stop_pid(self.proc)


def test_ethernet_and_user_nics_migrate():
    """Two NICs, type ethernet (a tap ferryd opens in a namespace the test
    made) and type user, keep their MACs and PCI slots across a live
    migration; the destination's tap carries the guest's frames (OVMF's
    network boot sends DHCP requests on every NIC)."""
    need_ovmf()
    ns = NetNs()
    src = Agent("eth-src")
    dst = Agent("eth-dst")
    try:
        for a in (src, dst):
            a.wrap = ns.wrap()
            a.start()
        os.makedirs(src.images, exist_ok=True)
        disk = make_qcow2(os.path.join(src.images, "vm3.qcow2"))
        xml = realistic_xml("vm3", disk).replace(
            "<interface type='user'>",
            "<interface type='ethernet'><model type='virtio'/></interface>\n"
            "    <interface type='user'>").replace("<boot dev='hd'/>", "<boot dev='network'/>")
        path = os.path.join(src.dir, "vm3.xml")
        with open(path, "w") as f:
            f.write(xml)
        src.ctl("define", path)
        src.ctl("start", "vm3")
        before_taps = ns.taps()
        assert len(before_taps) == 1, before_taps
        stap = list(before_taps)[0]
        wait_for(lambda: ns.taps()[stap][0] > 0, 60, "the guest's first frame on " + stap)
        sxml = ET.fromstring(dumpxml(src, "vm3"))
        nics = [(i.get("type"), i.find("mac").get("address"), i.find("address").get("slot"))
                for i in sxml.findall("devices/interface")]
        before = pci_summary(query_pci(src, "vm3"))

        # ferryctl drives the migration and reaches the destination agent
        # over TCP: from inside the namespace too.
        r = subprocess.run(ns.wrap() + [FERRYCTL, "-c", src.control, "migrate", "--live",
                                        "--copy-storage-all", "vm3", dst.uri],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, (r.stderr, src.log_tail(), dst.log_tail())
        assert dst.state_of("vm3") == "running"
        dxml = ET.fromstring(dumpxml(dst, "vm3"))
        assert [(i.get("type"), i.find("mac").get("address"), i.find("address").get("slot"))
                for i in dxml.findall("devices/interface")] == nics
        assert pci_summary(query_pci(dst, "vm3")) == before
        # The source's tap went with its QEMU; the destination's is new and
        # the guest, running there, sends on it.
        taps = ns.taps()
        assert stap not in taps and len(taps) == 1, (stap, taps)
        dtap = list(taps)[0]
        wait_for(lambda: ns.taps()[dtap][0] > 0, 60, "the guest's frames on " + dtap)
        dst.ctl("destroy", "vm3")
    finally:
        for a in (src, dst):
            if a.proc:
                for name in list(a.domains()):
                    if a.state_of(name) != "shutoff":
                        a.ctl("destroy", name, check=False)
                a.stop()
        ns.stop()


if __name__ == "__main__":
    r = Runner(420)
    r.run(test_realistic_guest)
    r.run(test_refusals_name_what_they_refuse)
    r.run(test_migrates_with_its_devices)
    r.run(test_ethernet_and_user_nics_migrate)
    r.run(test_destination_refusals)
    r.run(test_nvram_checked_at_switchover)
    r.run(test_guest_verbs)
    r.run(test_scsi_disks_migrate)
    r.run(test_xl_conversion_defines)
    r.finish()
