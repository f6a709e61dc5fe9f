#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Storage roots (docs/security.md, "Storage roots"): a guest definition
may only name files under ferryd's --storage-root directories and its image
dir, after symlinks are resolved. /etc/shadow, a symlink out of the roots,
a path with '..', a kernel, a CD-ROM or a console socket elsewhere are
refused at define, naming the element and the path, and nothing is
defined; a destination refuses at Prepare a shared disk outside its own
roots (the guest runs on at the source), while disks it copies into its
image dir need no root."""

import os

from ferrytest import GUEST_KERNEL, Agent, Runner, Skip, domain_xml, make_disk, need_qemu, tmpdir
from test_migrate import guest_kw, wait_heartbeat


def define_xml(agent, name, xml):
    path = os.path.join(agent.dir, name + ".xml")
    with open(path, "w") as f:
        f.write(xml)
    return agent.ctl("define", path, check=False)


def with_device(xml, device):
    return xml.replace("  </devices>", "    %s\n  </devices>" % device)


def refused(agent, name, xml, *words):
    r = define_xml(agent, name, xml)
    assert r.returncode == 1, (name, r)
    for w in words:
        assert w in r.stderr, (w, r.stderr)
    assert name not in agent.domains(), "a refused define left '%s' behind" % name


def test_define_refusals():
    a = Agent("roots").start()
    inside = make_disk(os.path.join(a.dir, "ok.raw"), 1 << 20)
    refused(a, "shadow", domain_xml("shadow", disks=[("vda", "/etc/shadow", "raw")]),
            "disk 'vda'", "'/etc/shadow' is outside the storage roots", "--storage-root")
    link = os.path.join(a.dir, "innocent.raw")
    os.symlink("/etc/shadow", link)
    refused(a, "link", domain_xml("link", disks=[("vda", link, "raw")]),
            "'%s' (resolving to '/etc/shadow') is outside" % link)
    dotdot = os.path.join(a.dir, "..", os.path.basename(a.dir), "ok.raw")
    refused(a, "dots", domain_xml("dots", disks=[("vda", dotdot, "raw")]),
            "'%s' contains a '..' component" % dotdot)
    refused(a, "kern", domain_xml("kern", disks=[("vda", inside, "raw")], kernel="/etc/passwd"),
            "<kernel>: '/etc/passwd' is outside")
    refused(a, "cd", with_device(domain_xml("cd", disks=[("vda", inside, "raw")]),
                                 "<disk type='file' device='cdrom'><source file='/etc/shadow'/>"
                                 "<target dev='sdb' bus='sata'/><readonly/></disk>"),
            "cdrom 'sdb': '/etc/shadow' is outside")
    refused(a, "sock", with_device(domain_xml("sock", disks=[("vda", inside, "raw")]),
                                   "<serial type='unix'><source mode='bind' "
                                   "path='/etc/ferry-console.sock'/></serial>"),
            "<serial> socket: '/etc/ferry-console.sock' is outside")
    assert not os.path.exists("/etc/ferry-console.sock")
    # Inside the roots, and through a symlink that stays inside: defined.
    inner = os.path.join(a.dir, "inner-link.raw")
    os.symlink(inside, inner)
    assert define_xml(a, "fine", domain_xml("fine", disks=[("vda", inner, "raw")])).returncode == 0
    a.stop()


def test_prepare_uses_destination_roots():
    need_qemu()
    if not GUEST_KERNEL:
        raise Skip("test guest kernel not built")
    shared_dir = os.path.join(tmpdir(), "shared")
    os.makedirs(shared_dir, exist_ok=True)
    src = Agent("roots-src").start()
    # The destination's roots: its image dir and the test kernel's directory only.
    dst = Agent("roots-dst", storage_roots=[os.path.dirname(os.path.abspath(GUEST_KERNEL))]).start()
    disk = make_disk(os.path.join(shared_dir, "g-vda.raw"), 16 << 20)
    define_xml(src, "g", domain_xml("g", disks=[("vda", disk, "raw")], **guest_kw()))
    src.ctl("start", "g")
    wait_heartbeat(src, "g", after=1)
    # Shared storage outside the destination's roots: refused at Prepare.
    r = src.ctl("migrate", "--live", "g", dst.uri, check=False)
    assert r.returncode == 1, r
    assert "prepare 'g': disk 'vda': '%s' is outside the storage roots" % disk in r.stderr, r.stderr
    assert src.state_of("g") == "running"
    assert "g" not in dst.domains()
    # Copied into the destination's image dir: no root needed for the
    # source's path.
    src.ctl("migrate", "--live", "--copy-storage-all", "g", dst.uri)
    assert dst.state_of("g") == "running"
    dst.ctl("destroy", "g")
    src.stop()
    dst.stop()


if __name__ == "__main__":
    r = Runner(300)
    r.run(test_define_refusals)
    r.run(test_prepare_uses_destination_roots)
    r.finish()
