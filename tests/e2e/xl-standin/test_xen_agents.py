#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Xen driver between two real ferryd agents (--hypervisor xen), each
with its own xl: the stand-in of tests/e2e/xl-standin (TEST CODE imitating
xl's documented behaviour, not Xen) keeping that host's domains in its own
directory. Lifecycle, managed and peer-to-peer migration, and each failure
path the stand-in can produce: receiver refuses, stream cut mid-way,
target fails to start, sender dies after xl's point of no return.

Skips (77) while ferryd has no xen driver registered."""

import os
import socket
import stat
import subprocess
import threading
import time

from ferrytest import (FERRYD, Agent, Runner, Skip, define, hello_frame, make_disk, recv_frame,
                       tmpdir, wait_for)

BUILD = os.path.dirname(os.path.dirname(os.path.abspath(FERRYD)))
XL = os.path.join(BUILD, "tests", "e2e", "xl-standin", "xl")
PIPE = os.path.join(BUILD, "xen", "ferry-xl-pipe")


def xl_wrapper(agent):
    """This host's xl: the stand-in pointed at this host's directory."""
    state = os.path.join(agent.dir, "xl-state")
    os.makedirs(state, exist_ok=True)
    path = os.path.join(agent.dir, "xl.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n# TEST ONLY: the xl stand-in for agent %s\n"
                "FERRY_XL_STANDIN_DIR='%s' FERRY_XL_STANDIN_TIMEOUT_S=30 "
                "FERRY_XL_STANDIN_MEM_BYTES=3000000 exec '%s' \"$@\"\n" % (agent.name, state, XL))
    os.chmod(path, stat.S_IRWXU)
    return path, state


class XenAgent(Agent):
    def __init__(self, name, *extra):
        super().__init__(name)
        self.xl, self.xl_state = xl_wrapper(self)
        self.extra = ["--hypervisor", "xen", "--xl", self.xl] + list(extra)

    def start(self):
        try:
            return super().start()
        except AssertionError as e:
            if "unknown hypervisor" in str(e):
                raise Skip("ferryd has no xen driver registered (agent/drivers.c)")
            raise

    def fail(self, spec):
        """Arms a stand-in failure switch for this host's xl."""
        with open(os.path.join(self.xl_state, "fail"), "w") as f:
            f.write(spec)

    def xl_states(self):
        """{name: state letters} from this host's `xl list` (Domain-0 left out)."""
        out = subprocess.run([self.xl, "list"], capture_output=True, text=True, timeout=30,
                             check=True).stdout
        return {f[0]: f[4] for f in (line.split() for line in out.splitlines()[2:])}

    def xl_names(self):
        return list(self.xl_states())


def pipe_spy(d):
    """ferry-xl-pipe behind a script that first notes its target argument
    (HOST, or unix:PATH when the stream rides inside the agents' connection)."""
    log = os.path.join(d, "xl-pipe.targets")
    path = os.path.join(d, "ferry-xl-pipe.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n# TEST ONLY: notes xl's transport target\n"
                "printf '%%s\\n' \"$1\" >> '%s'\nexec '%s' \"$@\"\n" % (log, PIPE))
    os.chmod(path, stat.S_IRWXU)
    return path, log


class Pair:
    def __init__(self, tag, *dst_extra):
        if not (os.access(XL, os.X_OK) and os.access(PIPE, os.X_OK)):
            raise Skip("xl stand-in or ferry-xl-pipe not built")
        self.src = XenAgent("xsrc-" + tag)
        spy, self.pipe_log = pipe_spy(self.src.dir)
        os.environ["FERRY_XL_PIPE"] = spy
        self.src.start()
        self.dst = XenAgent("xdst-" + tag, *dst_extra).start()

    def pipe_targets(self):
        """What each ferry-xl-pipe was told to connect to, in order."""
        try:
            with open(self.pipe_log) as f:
                return f.read().split()
        except FileNotFoundError:
            return []

    def migrate(self, name, *extra, p2p=False, check=True, timeout=None):
        args = ["migrate", "--live"] + (["--p2p"] if p2p else []) + list(extra) + \
            [name, self.dst.uri]
        kw = {"check": check}
        if timeout:
            kw["timeout"] = timeout
        return self.src.ctl(*args, **kw)

    def stop(self):
        for a in (self.src, self.dst):
            a.stop()


def start_guest(agent, name):
    disk = make_disk(os.path.join(agent.dir, name + "-vda.raw"), 1 << 20)
    define(agent, name, disks=[("vda", disk, "raw")], memory_mib=128, vcpus=2)
    agent.ctl("start", name)


def test_lifecycle():
    p = Pair("life")
    start_guest(p.src, "g")
    assert p.src.state_of("g") == "running"
    assert "g" in p.src.xl_names()
    caps = p.src.ctl("capabilities").stdout
    assert "<live/>" in caps and "<resource/>" not in caps, caps
    # A Xen agent offers no storage copy, in its capabilities or its HELLO.
    assert "storage_copy" not in caps, caps
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(p.src.control)
    try:
        s.sendall(hello_frame())
        f = recv_frame(s)
        assert f and f[0] == 1, f
        feats = f[2]["features"]
        assert "hv-xen" in feats and "p2p" in feats, feats
        assert not [x for x in feats if x == "nbd" or x.startswith("storage-")], feats
    finally:
        s.close()
    p.src.ctl("destroy", "g")
    assert p.src.state_of("g") == "shutoff"
    assert "g" not in p.src.xl_names()
    p.stop()


def test_migrate_managed_and_p2p():
    p = Pair("mig")
    start_guest(p.src, "g")
    p.src.ctl("migrate", "--live", "g", p.dst.uri)
    # Managed: xl's stream has its own TCP connection to the destination.
    assert len(p.pipe_targets()) == 1 and not p.pipe_targets()[0].startswith("unix:"), \
        p.pipe_targets()
    assert p.dst.state_of("g") == "running"
    assert "g" not in p.src.xl_names() and "g" in p.dst.xl_names()
    # The figures of xl's stream reached the destination's completed job.
    info = p.dst.ctl_json("domjobinfo", "g", "--completed")
    assert info["status"] == "completed" and info["memory_processed"] > 2500000, info
    assert info["memory_total"] == 128 << 20, info
    p.dst.ctl("migrate", "--live", "--p2p", "g", p.src.uri)
    assert p.src.state_of("g") == "running"
    assert "g" not in p.dst.xl_names()
    assert len(p.pipe_targets()) == 2 and p.pipe_targets()[1].startswith("unix:"), \
        p.pipe_targets()
    # Peer-to-peer from the source agent: the stream rides inside the
    # agents' connection (ferry-xl-pipe talks to the source agent only).
    p.src.ctl("migrate", "--live", "--p2p", "g", p.dst.uri)
    targets = p.pipe_targets()
    assert len(targets) == 3 and targets[2].startswith("unix:"), targets
    assert p.dst.state_of("g") == "running" and p.dst.xl_names() == ["g"]
    assert p.src.xl_names() == [] and p.src.state_of("g") == "shutoff"
    info = p.dst.ctl_json("domjobinfo", "g", "--completed")
    assert info["status"] == "completed" and info["memory_processed"] > 2500000, info
    # An explicit --migrateuri keeps xl's own connection even in p2p.
    p.dst.ctl("migrate", "--live", "--p2p", "--migrateuri", "tcp:127.0.0.1:0", "g",
              p.src.uri)
    assert p.src.state_of("g") == "running"
    assert p.pipe_targets()[3] == "127.0.0.1", p.pipe_targets()
    # A receiver whose daemon keeps xl's connection open: the tunnel's
    # return direction never sees an end, and Perform still ends in bounded
    # time, leaving the agents' connection usable for Finish and Confirm.
    p.dst.fail("receiver-daemon")
    t0 = time.time()
    p.migrate("g", p2p=True)
    assert p.dst.state_of("g") == "running" and p.src.xl_names() == []
    assert time.time() - t0 < 30, time.time() - t0
    p.stop()


def test_protocol_versions():
    """v2 sends the definition to Prepare; v1 sends none, and the destination
    learns the guest (uuid, memory, vcpus) from xl's own stream."""
    for v in (2, 1):
        p = Pair("proto%d" % v, "--max-protocol", str(v))
        start_guest(p.src, "g")
        uuid = p.src.domains()["g"]["uuid"]
        r = p.src.ctl("--debug", "migrate", "--live", "--verbose", "g", p.dst.uri)
        assert "[v%d] finish" % v in r.stderr, r.stderr
        assert p.dst.state_of("g") == "running"
        assert p.dst.domains()["g"]["uuid"] == uuid, (v, p.dst.domains())
        xml = p.dst.ctl("dumpxml", "g").stdout
        assert "131072" in xml and ">2</vcpu>" in xml, xml
        assert p.src.xl_names() == []
        p.stop()


MODES = (("managed", False), ("p2p", True))


def failed_migration(p, name, p2p):
    r = p.migrate(name, p2p=p2p, check=False)
    assert r.returncode != 0, r.stdout
    # The failure path ran over the transport the mode promises.
    targets = p.pipe_targets()
    assert targets and targets[-1].startswith("unix:") == p2p, targets
    return r


def after_failure(p):
    """The agents' connection is still usable after a failed tunnelled
    stream: a clean migration follows on a fresh pair of xl processes."""
    for a in (p.src, p.dst):
        a.fail("")


def test_receiver_refuses():
    for mode, p2p in MODES:
        p = Pair("refuse-" + mode)
        start_guest(p.src, "g")
        p.dst.fail("receiver-refuse")
        failed_migration(p, "g", p2p)
        assert p.src.state_of("g") == "running"
        wait_for(lambda: "g" not in p.dst.domains(), 20, "the destination to forget 'g'")
        assert p.dst.xl_names() == []
        after_failure(p)
        p.migrate("g", p2p=p2p)
        assert p.dst.state_of("g") == "running" and p.src.xl_names() == []
        p.stop()


def test_stream_cut():
    for mode, p2p in MODES:
        p = Pair("cut-" + mode)
        start_guest(p.src, "g")
        p.src.fail("cut-after=500000")
        r = failed_migration(p, "g", p2p)
        assert "resuming at sender" in r.stderr, r.stderr
        assert p.src.state_of("g") == "running"
        assert p.dst.xl_names() == []
        p.stop()


def test_target_fails_start():
    for mode, p2p in MODES:
        p = Pair("nostart-" + mode)
        start_guest(p.src, "g")
        p.dst.fail("receiver-fail-start")
        failed_migration(p, "g", p2p)
        assert p.src.state_of("g") == "running"
        assert p.dst.xl_names() == []
        p.stop()


def test_sender_dies_after_point_of_no_return():
    for mode, p2p in MODES:
        p = Pair("nogo-" + mode)
        start_guest(p.src, "g")
        p.src.fail("sender-die-after-go")
        r = failed_migration(p, "g", p2p)
        assert "killed by signal 9" in r.stderr, r.stderr
        # Neither copy is destroyed or resumed: both stay paused for a human.
        assert p.src.xl_states() == {"g--migratedaway": "--p---"}, p.src.xl_states()
        assert p.dst.xl_states() == {"g": "--p---"}, p.dst.xl_states()
        p.stop()


def test_abort():
    for mode, p2p in MODES:
        p = Pair("abort-" + mode)
        start_guest(p.src, "g")
        p.src.fail("delay-ms=100")  # about 5 s of stream
        out = {}
        t = threading.Thread(target=lambda: out.setdefault(
            "r", p.migrate("g", p2p=p2p, check=False, timeout=120)))
        t.start()
        wait_for(lambda: p.src.ctl_json("domjobinfo", "g", check=False).get("phase") ==
                 "perform", 20, "the migration of 'g' to reach perform")
        time.sleep(0.3)
        p.src.ctl("domjobabort", "g")
        t.join(60)
        r = out["r"]
        assert r.returncode != 0, r.stdout
        assert p.src.state_of("g") == "running"
        wait_for(lambda: "g" not in p.dst.domains(), 20, "the destination to forget 'g'")
        assert p.dst.xl_names() == []
        p.stop()


def test_offline():
    p = Pair("offline")
    define(p.src, "cold", disks=[], memory_mib=64)
    p.src.ctl("migrate", "--offline", "--persistent", "cold", p.dst.uri)
    d = p.dst.domains()["cold"]
    assert d["persistent"] and d["state"] == "shutoff", d
    assert p.dst.xl_names() == [] and p.src.xl_names() == []
    p.dst.ctl("start", "cold")
    assert p.dst.state_of("cold") == "running" and p.dst.xl_names() == ["cold"]
    p.stop()


def test_rename_refused():
    p = Pair("rename")
    start_guest(p.src, "g")
    r = p.src.ctl("migrate", "--live", "--dname", "h", "g", p.dst.uri, check=False)
    assert r.returncode != 0 and "cannot rename" in r.stderr, r.stderr
    assert p.src.state_of("g") == "running"
    p.stop()


PV_XML = """<domain type='xen'>
  <name>%(name)s</name>
  <memory unit='MiB'>256</memory>
  <vcpu>2</vcpu>
  <os>
    <type machine='xenpv'>linux</type>
    <kernel>/boot/vmlinuz-pv</kernel>
    <cmdline>root=/dev/xvda ro console=hvc0</cmdline>
  </os>
  <on_crash>preserve</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='%(disk)s'/>
      <target dev='xvda' bus='xen'/>
    </disk>
    <interface type='bridge'>
      <mac address='00:16:3e:12:34:56'/>
      <source bridge='xenbr1'/>
    </interface>
    <interface type='bridge'>
      <mac address='00:16:3e:12:34:57'/>
      <source bridge='xenbr2'/>
      <model type='e1000'/>
    </interface>
    <graphics type='vnc' port='5907' listen='127.0.0.1'/>
  </devices>
  <metadata>
    <ferry:xl xmlns:ferry='urn:ferry:xen-xl:1'>
      <ferry:key name='cpus'>"2-3"</ferry:key>
    </ferry:xl>
  </metadata>
</domain>
"""


def assert_pv_kept(agent, name, where):
    """The guest's PV type, vifs, VNC and kept xl key, in ferryd's XML and
    in the xl.cfg the driver hands xl."""
    xml = agent.ctl("dumpxml", name).stdout
    for want in (">linux</type>", "00:16:3e:12:34:56", "xenbr1", "00:16:3e:12:34:57",
                 "xenbr2", "e1000", "vnc", "5907", "urn:ferry:xen-xl:1", "2-3",
                 "/boot/vmlinuz-pv", "bus=\"xen\""):
        assert want in xml, (where, want, xml)
    with open(os.path.join(agent.dir, "state", "run", name + ".xl.cfg")) as f:
        cfg = f.read()
    for want in ('type = "pv"', "00:16:3e:12:34:56", "bridge=xenbr1", "model=e1000",
                 "vnc = 1", 'cpus = "2-3"', "xvda", 'kernel = "/boot/vmlinuz-pv"'):
        assert want in cfg, (where, want, cfg)
    assert "builder" not in cfg and 'type = "hvm"' not in cfg, (where, cfg)


def test_native_definition():
    """A PV guest with vifs defined through ferryctl keeps every Xen part
    through define, start, dumpxml and migration (managed, then p2p back)."""
    p = Pair("native")
    disk = make_disk(os.path.join(p.src.dir, "pv-xvda.raw"), 1 << 20)
    path = os.path.join(p.src.dir, "pv.xml")
    with open(path, "w") as f:
        f.write(PV_XML % {"name": "pv", "disk": disk})
    p.src.ctl("define", path)
    inactive = p.src.ctl("dumpxml", "--inactive", "pv").stdout
    assert "xenbr2" in inactive and ">linux</type>" in inactive, inactive
    p.src.ctl("start", "pv")
    assert p.src.state_of("pv") == "running"
    assert_pv_kept(p.src, "pv", "source after start")
    p.src.ctl("migrate", "--live", "--persistent", "pv", p.dst.uri)
    assert p.dst.state_of("pv") == "running"
    assert_pv_kept(p.dst, "pv", "destination after a managed migration")
    # The persistent definition survives an agent restart on the destination.
    assert "xenbr2" in p.dst.ctl("dumpxml", "--inactive", "pv").stdout
    p.dst.stop()
    p.dst.start()
    assert p.dst.state_of("pv") == "running"
    assert "xenbr2" in p.dst.ctl("dumpxml", "--inactive", "pv").stdout
    p.dst.ctl("migrate", "--live", "--p2p", "pv", p.src.uri)
    assert p.src.state_of("pv") == "running"
    assert_pv_kept(p.src, "pv", "source after a p2p migration back")
    # A kvm-typed document still refuses a Xen guest type.
    bad = os.path.join(p.src.dir, "bad.xml")
    with open(bad, "w") as f:
        f.write(PV_XML.replace("type='xen'", "type='kvm'") % {"name": "bad", "disk": disk})
    r = p.src.ctl("define", bad, check=False)
    assert r.returncode != 0 and "not supported" in r.stderr, r.stderr
    p.stop()


if __name__ == "__main__":
    tmpdir()
    run = Runner(170)
    for t in (test_lifecycle, test_migrate_managed_and_p2p, test_protocol_versions,
              test_receiver_refuses,
              test_stream_cut, test_target_fails_start,
              test_sender_dies_after_point_of_no_return, test_abort, test_offline,
              test_rename_refused, test_native_definition):
        run.run(t)
    run.finish()
