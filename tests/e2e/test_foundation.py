#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Foundation end to end: a real ferryd runs a real QEMU guest with two
disks; state comes from QMP; HMP passes through; destroy stops QEMU; an
agent restart finds its running guest again."""

import os
import re
import signal

from ferrytest import Agent, Runner, define, make_disk, need_qemu, pid_alive, wait_for, tmpdir


def test_lifecycle_and_restart():
    need_qemu()
    a = Agent("a").start()
    d = tmpdir()
    vda = make_disk(os.path.join(d, "vda.raw"), 64 << 20, [(1 << 20, b"\x5a" * 4096)])
    vdb = make_disk(os.path.join(d, "vdb.raw"), 32 << 20)
    define(a, "g1", disks=[("vda", vda, "raw"), ("vdb", vdb, "raw")])
    doms = a.domains()
    assert doms["g1"]["state"] == "shutoff", doms
    assert doms["g1"]["persistent"] is True
    assert "g1" not in a.domains(all_=False), "inactive domain listed without --all"

    a.ctl("start", "g1")
    assert a.state_of("g1") == "running"
    pid = a.qemu_pid("g1")
    assert pid and pid_alive(pid), "no QEMU process"
    cmdline = open("/proc/%d/cmdline" % pid, "rb").read()
    assert vda.encode() in cmdline and vdb.encode() in cmdline

    # The state comes from QMP: pause the guest behind the agent's back.
    out = a.ctl("qemu-monitor-command", "g1", '{"execute":"stop"}').stdout
    assert '"return"' in out, out
    assert a.state_of("g1") == "paused", "domstate did not follow QMP"
    a.ctl("qemu-monitor-command", "g1", '{"execute":"cont"}')
    assert a.state_of("g1") == "running"

    # HMP round trip, and a guest write through the device path reaching
    # the image file.
    info = a.hmp("g1", "info block")
    assert "vda" in info and "vdb" in info, info
    a.hmp("g1", 'qemu-io -d /machine/peripheral/vdb/virtio-backend "write -P 0xc3 65536 4096"')
    def written():
        with open(vdb, "rb") as f:
            f.seek(65536)
            return f.read(4096) == b"\xc3" * 4096
    wait_for(written, 10, "guest write to reach vdb")

    # An unknown QMP command is QEMU's error, reported as a failure.
    r = a.ctl("qemu-monitor-command", "g1", '{"execute":"no-such-command"}', check=False)
    assert r.returncode != 0 and "CommandNotFound" in r.stdout, (r.stdout, r.stderr)

    # Agent killed hard and restarted: it finds the guest again.
    a.kill()
    assert pid_alive(pid), "guest died with the agent"
    a.start()
    assert a.state_of("g1") == "running"
    assert a.domains()["g1"]["state"] == "running"
    assert "vda" in a.hmp("g1", "info block")

    a.ctl("destroy", "g1")
    wait_for(lambda: not pid_alive(pid), 10, "QEMU to exit after destroy")
    assert a.state_of("g1") == "shutoff"

    xml = a.ctl("dumpxml", "g1").stdout
    assert "<name>g1</name>" in xml and vda in xml and "vdb" in xml, xml
    a.ctl("undefine", "g1")
    assert "g1" not in a.domains()
    a.stop()


def qemu_environ(pid):
    """QEMU's initial environment as bytes. glibc's loader rewrites the
    GLIBC_TUNABLES string in place as it parses it (a NUL may replace the
    ':' between two settings), so tests look for each setting in turn."""
    return open("/proc/%d/environ" % pid, "rb").read()


def test_qemu_environment():
    """ferryd's QEMUs get glibc malloc thresholds that keep NBD request
    buffers off mmap (mirror/README.md), unless the operator set
    GLIBC_TUNABLES for the agent: then that goes through unchanged."""
    need_qemu()
    d = tmpdir()
    vda = make_disk(os.path.join(d, "env.raw"), 16 << 20)
    a = Agent("env").start()
    define(a, "e1", disks=[("vda", vda, "raw")])
    a.ctl("start", "e1")
    env = qemu_environ(a.qemu_pid("e1"))
    tun = env.find(b"GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304")
    assert tun >= 0, env
    assert env.find(b"glibc.malloc.trim_threshold=33554432", tun) > tun, env
    assert b"\0PATH=" + os.environ.get("PATH", "").encode() + b"\0" in env, \
        "the agent's environment was not passed on"
    a.ctl("destroy", "e1")
    a.stop()
    b = Agent("env-own", env={"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}).start()
    define(b, "e2", disks=[("vda", vda, "raw")])
    b.ctl("start", "e2")
    env = qemu_environ(b.qemu_pid("e2"))
    assert b"GLIBC_TUNABLES=glibc.malloc.arena_max=2" in env, env
    assert b"mmap_threshold" not in env, env
    b.ctl("destroy", "e2")
    b.stop()


def test_guest_that_quits_is_shutoff():
    need_qemu()
    a = Agent("b").start()
    define(a, "q1")
    a.ctl("start", "q1")
    pid = a.qemu_pid("q1")
    a.ctl("qemu-monitor-command", "q1", '{"execute":"quit"}', check=False)
    wait_for(lambda: not pid_alive(pid), 10, "QEMU to quit")
    assert a.state_of("q1") == "shutoff"
    a.ctl("start", "q1")  # and it can start again
    assert a.state_of("q1") == "running"
    a.ctl("destroy", "q1")
    a.stop()


def test_errors_change_nothing():
    need_qemu()
    a = Agent("c").start()
    d = tmpdir()
    r = a.ctl("start", "nosuch", check=False)
    assert r.returncode == 1 and "not found" in r.stderr, r.stderr
    bad = os.path.join(d, "bad.xml")
    open(bad, "w").write("<domain><name>x</name>")
    r = a.ctl("define", bad, check=False)
    assert r.returncode == 1 and r.stderr, r.stderr
    # A disk that does not exist: start fails with the disk named, and the
    # domain stays defined and off.
    define(a, "nodisk", disks=[("vda", os.path.join(d, "missing.raw"), "raw")])
    r = a.ctl("start", "nodisk", check=False)
    assert r.returncode == 1 and "vda" in r.stderr, r.stderr
    assert a.state_of("nodisk") == "shutoff"
    r = a.ctl("destroy", "nodisk", check=False)
    assert r.returncode == 1 and "not running" in r.stderr, r.stderr
    r = a.ctl("frobnicate", check=False)
    assert r.returncode == 2
    a.stop()


def test_capabilities():
    a = Agent("d").start()
    xml = a.ctl("capabilities").stdout
    for tag in ("<migration_features>", "<live/>", "<resource/>", "<domain_rename/>",
                "<uri_transports>", "<uri_transport>tcp</uri_transport>",
                "<storage_copy engines='ferry qemu'/>", "<offline/>", "<emulator>"):
        assert tag in xml, (tag, xml)
    uuid = re.search(r"<uuid>([0-9a-f-]{36})</uuid>", xml).group(1)
    # The host uuid is stable across restarts.
    a.stop()
    a.start()
    assert uuid in a.ctl("capabilities").stdout
    # The control socket is private.
    assert os.stat(a.control).st_mode & 0o777 == 0o600
    # The TCP listener serves the same API.
    assert "<migration_features>" in a.ctl("capabilities", uri=a.uri).stdout
    a.stop()


if __name__ == "__main__":
    r = Runner(280)
    r.run(test_capabilities)
    r.run(test_lifecycle_and_restart)
    r.run(test_qemu_environment)
    r.run(test_guest_that_quits_is_shutoff)
    r.run(test_errors_change_nothing)
    r.finish()
