#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A migration whose orchestrator goes away between (or during) steps is
cleaned up by the agents (docs/control-api.md, "A client that goes away"):
a client speaking the control API directly runs some steps, then closes
its connections. The destination must kill its incoming QEMU, remove the
disk targets it created and forget the domain; the source guest must run
again and migrate afterwards. Peer-to-peer: the source agent dying tears
the destination side down. A client host that vanishes without closing
its connection is noticed by TCP keepalive (needs root for a network
namespace; skipped otherwise)."""

import json
import os
import socket
import subprocess
import threading
import time

from ferrytest import (GUEST_KERNEL, Agent, Runner, Skip, define, hello, hello_frame, frame, make_disk,
                       need_qemu, pid_alive, recv_frame, stop_pid, wait_for)

WIRE_CALL, WIRE_REPLY, WIRE_ERROR, WIRE_EVENT = 2, 3, 4, 5
GONE = "the client that started the migration went away"


class Wire:
    """A control-API client over the raw framed protocol (docs/protocol.md)."""

    def __init__(self, agent):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(agent.control)
        self.sock.sendall(hello_frame())
        f = recv_frame(self.sock)
        assert f and f[0] == 1, f
        self.next_id = 1
        self.events = []

    def send(self, method, params):
        i = self.next_id
        self.next_id += 1
        body = json.dumps({"method": method, "params": params}).encode()
        self.sock.sendall(frame(WIRE_CALL, body, id_=i))
        return i

    def wait(self, i, timeout=60):
        end = time.time() + timeout
        while True:
            f = recv_frame(self.sock, timeout=max(0.1, end - time.time()))
            assert f is not None, "agent closed the connection"
            if f[0] == WIRE_EVENT:
                self.events.append(f[2])
                continue
            assert f[1] == i, f
            if f[0] == WIRE_ERROR:
                raise AssertionError("call %d failed: %s" % (i, f[2]))
            assert f[0] == WIRE_REPLY, f
            return f[2].get("result")

    def call(self, method, params, timeout=60):
        return self.wait(self.send(method, params), timeout)

    def close(self):
        self.sock.close()


class Events(threading.Thread):
    """Collects an agent's events in the background (events.subscribe)."""

    def __init__(self, agent):
        super().__init__(daemon=True)
        self.w = Wire(agent)
        self.w.call("events.subscribe", {})
        self.got = []
        self.done = False
        self.start()

    def run(self):
        while not self.done:
            try:
                f = recv_frame(self.w.sock, timeout=0.5)
            except (socket.timeout, OSError):
                continue
            if f is None:
                return
            if f[0] == WIRE_EVENT:
                self.got.append(f[2])

    def named(self, name):
        return [e for e in self.got if e.get("event") == name]

    def stop(self):
        self.done = True
        self.join(5)
        self.w.close()


class Pair:
    def __init__(self, tag, *extra):
        self.src = Agent("src-" + tag, *extra).start()
        self.dst = Agent("dst-" + tag, *extra).start()

    def stop(self):
        for a in (self.src, self.dst):
            if not a.proc:
                continue
            for name in list(a.domains()):
                if a.state_of(name) != "shutoff":
                    a.ctl("destroy", name, check=False)
            a.stop()


def guest_kw(rate=32, size=64, memory=128):
    if not GUEST_KERNEL or not os.path.exists(GUEST_KERNEL):
        raise Skip("test guest kernel not built")
    return dict(kernel=GUEST_KERNEL, cmdline="rate=%d size=%d" % (rate, size), memory_mib=memory)


def start_guest(agent, name, disk_mib=16, data_mib=0, **kw):
    disk = make_disk(os.path.join(agent.dir, name + "-vda.raw"), disk_mib << 20,
                     [(i << 20, os.urandom(1 << 20)) for i in range(data_mib)])
    define(agent, name, disks=[("vda", disk, "raw")], **kw)
    agent.ctl("start", name)
    return disk


def qmp_status(agent, dom):
    out = agent.ctl("qemu-monitor-command", dom, '{"execute":"query-status"}').stdout
    return json.loads(out)["return"]["status"]


def params(flags, **extra):
    p = {"flags": flags}
    p.update(extra)
    return p


def begin_prepare(p, name, mp):
    """Begin on the source, Prepare on the destination, over two raw
    connections; returns them with Prepare's answer."""
    s, d = Wire(p.src), Wire(p.dst)
    b = s.call("migrate.begin", {"name": name, "params": mp, "version": 3})
    r = d.call("migrate.prepare", {"params": mp, "version": 3, "xml": b["xml"],
                                   "cookie": b["cookie"], "dest_host": "127.0.0.1"})
    return s, d, r


def send_perform(s, name, mp, prep):
    """Sends Perform (v3) on the raw source connection S without waiting
    for its answer; PREP is Prepare's answer."""
    s.send("migrate.perform", {"name": name, "params": mp, "version": 3,
                               "cookie": prep["cookie"], "uri": prep["uri"]})


def wait_performing(agent, name, what, timeout):
    """Waits until AGENT's job for NAME is in Perform and has moved WHAT
    ("memory" or "disk")."""
    def moving():
        info = agent.ctl_json("domjobinfo", name)
        return info.get("phase") == "perform" and info.get(what + "_processed", 0) > 0
    wait_for(moving, timeout, "Perform to move %s" % what)


def images(agent):
    return sorted(os.listdir(agent.images)) if os.path.isdir(agent.images) else []


def assert_dest_clean(p, name, pid):
    wait_for(lambda: not pid_alive(pid), 30, "the incoming QEMU %d to exit" % pid)
    wait_for(lambda: name not in p.dst.domains(), 20, "the destination to forget '%s'" % name)
    run = os.path.join(p.dst.state, "run")
    left = [f for f in os.listdir(run) if f.startswith(name + ".")]
    assert not left, left
    assert not images(p.dst), images(p.dst)


def completed_error(agent, name):
    def done():
        info = agent.ctl_json("domjobinfo", name, "--completed")
        return info if info.get("type") == "completed" else None
    return wait_for(done, 30, "the job of '%s' to end" % name).get("error", "")


def assert_migrates(p, name, *extra):
    p.src.ctl("migrate", "--live", name, p.dst.uri, *extra, timeout=240)
    assert p.dst.state_of(name) == "running"
    assert name not in p.src.domains(all_=False)


def test_gone_after_prepare():
    """Begin + Prepare, then the client closes both connections."""
    need_qemu()
    p = Pair("prep")
    start_guest(p.src, "g", **guest_kw())
    ev_src, ev_dst = Events(p.src), Events(p.dst)
    s, d, _ = begin_prepare(p, "g", params(["live"]))
    pid = p.dst.qemu_pid("g")
    assert pid and pid_alive(pid)
    assert "g" in p.dst.domains()
    # Closing the source's connection must not touch the destination,
    # which another connection owns.
    s.close()
    assert GONE in completed_error(p.src, "g")
    assert qmp_status(p.src, "g") == "running"
    time.sleep(1)
    assert pid_alive(pid), "the destination was torn down by another connection's close"
    d.close()
    assert_dest_clean(p, "g", pid)
    wait_for(lambda: ev_dst.named("migration-abandoned"), 10, "the destination's event")
    e = ev_src.named("migration-abandoned")
    assert e and e[0]["data"]["phase"] == "begin" and e[0]["data"]["action"] == "cancelled", e
    assert ev_dst.named("migration-abandoned")[0]["data"]["action"] == "torn-down"
    failed = ev_dst.named("migration-failed")
    assert failed and GONE in failed[-1]["data"]["error"], failed
    ev_src.stop()
    ev_dst.stop()
    assert_migrates(p, "g")
    p.stop()


def test_gone_keeps_definition():
    """The destination already had an inactive definition of the guest
    (an earlier --persistent migration): the teardown keeps it."""
    need_qemu()
    p = Pair("def")
    u = "6a1f0c55-3b8e-4f5e-9a4e-0b9d2c7e41a2"
    kw = guest_kw(rate=4, size=16, memory=64)
    start_guest(p.src, "g", uuid=u, **kw)
    define(p.dst, "g", disks=[("vda", os.path.join(p.dst.dir, "g-vda.raw"), "raw")], uuid=u,
           **kw)
    s, d, _ = begin_prepare(p, "g", params(["live"]))
    pid = p.dst.qemu_pid("g")
    assert pid and pid_alive(pid)
    s.close()
    d.close()
    wait_for(lambda: not pid_alive(pid), 30, "the incoming QEMU %d to exit" % pid)
    wait_for(lambda: p.dst.domains().get("g", {}).get("state") == "shutoff", 20,
             "the destination's definition to be inactive again")
    assert p.dst.domains()["g"].get("persistent"), p.dst.domains()["g"]
    assert qmp_status(p.src, "g") == "running"
    p.stop()


def test_gone_during_perform():
    """Begin + Prepare + Perform (slow: 1 MiB/s, and --timeout makes ferry
    pause the guest after 2 s), then the client closes the source
    connection while RAM moves: the agent cancels Perform at once and
    resumes the guest it paused; then the destination's connection."""
    need_qemu()
    p = Pair("perf")
    start_guest(p.src, "g", **guest_kw(rate=256, size=96, memory=160))
    ev_src = Events(p.src)
    mp = params(["live"], bandwidth=1, timeout=2, timeout_suspend=True)
    s, d, r = begin_prepare(p, "g", mp)
    pid = p.dst.qemu_pid("g")
    send_perform(s, "g", mp, r)
    wait_performing(p.src, "g", "memory", 30)
    wait_for(lambda: qmp_status(p.src, "g") == "paused", 30, "--timeout to pause the guest")
    t0 = time.time()
    s.close()
    assert GONE in completed_error(p.src, "g")
    assert time.time() - t0 < 20, "Perform was not cancelled when its client went away"
    assert qmp_status(p.src, "g") == "running"
    e = ev_src.named("migration-abandoned")
    assert e and e[0]["data"]["phase"] == "perform", e
    d.close()
    assert_dest_clean(p, "g", pid)
    ev_src.stop()
    # The guest dirties RAM faster than a TLS-encrypted stream (the
    # migration's own key) moves it on a busy 2-core TCG host: without a
    # pause it may never converge. --timeout pauses it, as an operator would.
    assert_migrates(p, "g", "--timeout", "10")
    p.stop()


def test_gone_copy_storage_all():
    """--copy-storage-all: Prepare created the target image and an NBD
    server; Perform copies the disk slowly when the client goes."""
    need_qemu()
    p = Pair("disk")
    start_guest(p.src, "g", disk_mib=96, data_mib=48, **guest_kw(rate=4, size=16, memory=64))
    mp = params(["live", "non_shared_disk"], bandwidth=1)
    s, d, r = begin_prepare(p, "g", mp)
    pid = p.dst.qemu_pid("g")
    assert images(p.dst), "Prepare created no target image"
    send_perform(s, "g", mp, r)
    wait_performing(p.src, "g", "disk", 60)
    # The source's connection first: its close alone stops the copy.
    s.close()
    assert GONE in completed_error(p.src, "g")
    assert qmp_status(p.src, "g") == "running"
    d.close()
    assert_dest_clean(p, "g", pid)
    # Nothing of the copy is left on the source (bitmaps, exports, jobs):
    # the next migration with a disk copy succeeds.
    assert_migrates(p, "g", "--copy-storage-all")
    p.stop()


def test_gone_after_perform():
    """v3 past the point of no return: Perform succeeded and its answer was
    delivered, then the client went away. The destination (no Finish) is
    torn down; the source keeps the guest paused (Finish might have started
    it elsewhere) until job.abort resumes it."""
    need_qemu()
    p = Pair("done")
    start_guest(p.src, "g", **guest_kw(rate=4, size=16, memory=64))
    ev_src = Events(p.src)
    s, d, r = begin_prepare(p, "g", params(["live"]))
    pid = p.dst.qemu_pid("g")
    s.call("migrate.perform", {"name": "g", "params": params(["live"]), "version": 3,
                               "cookie": r["cookie"], "uri": r["uri"]}, timeout=120)
    s.close()
    d.close()
    assert_dest_clean(p, "g", pid)
    wait_for(lambda: ev_src.named("migration-abandoned"), 10, "the source's event")
    assert ev_src.named("migration-abandoned")[0]["data"]["action"] == "kept-paused"
    assert qmp_status(p.src, "g") == "postmigrate"
    info = p.src.ctl_json("domjobinfo", "g")
    assert GONE in info.get("orphaned", ""), info
    p.src.ctl("domjobabort", "g")
    assert qmp_status(p.src, "g") == "running"
    ev_src.stop()
    assert_migrates(p, "g")
    p.stop()


def test_recover_after_perform():
    """The documented recovery: the source's client went away after a
    successful Perform, the destination's Finish did run (its connection
    stayed), so a new connection confirms and the guest runs only there."""
    need_qemu()
    p = Pair("recover")
    start_guest(p.src, "g", **guest_kw(rate=4, size=16, memory=64))
    mp = params(["live"])
    s, d, r = begin_prepare(p, "g", mp)
    perf = s.call("migrate.perform", {"name": "g", "params": mp, "version": 3,
                                      "cookie": r["cookie"], "uri": r["uri"]}, timeout=120)
    s.close()
    wait_for(lambda: GONE in p.src.ctl_json("domjobinfo", "g").get("orphaned", ""), 10,
             "the source job to be marked orphaned")
    assert qmp_status(p.src, "g") == "postmigrate"
    # A step of the kept job from another connection is accepted.
    fin = d.call("migrate.finish", {"name": "g", "params": mp, "version": 3,
                                    "cookie": perf["cookie"], "cancelled": False})
    d.close()
    assert p.dst.state_of("g") == "running"
    c = Wire(p.src)
    c.call("migrate.confirm", {"name": "g", "params": mp, "version": 3, "cookie": fin["cookie"],
                               "cancelled": False})
    c.close()
    assert "g" not in p.src.domains(all_=False)
    assert p.src.ctl_json("domjobinfo", "g", "--completed")["status"] == "completed"
    time.sleep(1)
    assert p.dst.state_of("g") == "running"
    p.stop()


def test_v2_gone_after_perform():
    """Protocol v2: a successful Perform stopped the source guest itself,
    so the destination finishes a complete incoming migration whose
    client went away instead of losing the guest."""
    need_qemu()
    p = Pair("v2", "--max-protocol", "2")
    start_guest(p.src, "g", **guest_kw(rate=4, size=16, memory=64))
    ev_dst = Events(p.dst)
    s, d = Wire(p.src), Wire(p.dst)
    mp = params(["live"])
    xml = s.call("domain.xml", {"name": "g"})
    xml = xml["xml"] if isinstance(xml, dict) else xml
    r = d.call("migrate.prepare", {"params": mp, "version": 2, "xml": xml,
                                   "dest_host": "127.0.0.1"})
    s.call("migrate.perform", {"name": "g", "params": mp, "version": 2, "cookie": r["cookie"],
                               "uri": r["uri"]}, timeout=120)
    s.close()
    d.close()
    wait_for(lambda: p.dst.domains().get("g", {}).get("state") == "running", 150,
             "the destination to finish the migration")
    assert qmp_status(p.dst, "g") == "running"
    assert p.dst.ctl_json("domjobinfo", "g", "--completed")["status"] == "completed"
    e = ev_dst.named("migration-abandoned")
    assert e and e[0]["data"]["action"] == "finishing", e
    assert "g" not in p.src.domains(all_=False)
    ev_dst.stop()
    p.stop()


def test_p2p_source_agent_dies():
    """Peer-to-peer: the source agent's own connection owns the
    destination side; the source agent dying mid-Perform tears it down."""
    need_qemu()
    p = Pair("p2p")
    start_guest(p.src, "g", **guest_kw(rate=256, size=96, memory=160))
    mig = subprocess.Popen([os.environ.get("FERRYCTL", "ferryctl"), "-c", p.src.control,
                            "migrate", "--live", "--p2p", "--bandwidth", "1", "g", p.dst.uri],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: p.dst.qemu_pid("g"), 30, "the destination's incoming QEMU")
        pid = p.dst.qemu_pid("g")
        wait_performing(p.src, "g", "memory", 30)
        src_qemu = p.src.qemu_pid("g")
        p.src.kill()
        assert_dest_clean(p, "g", pid)
    finally:
        stop_pid(mig)
        src_qemu = p.src.qemu_pid("g")
        if src_qemu:
            stop_pid(src_qemu, timeout=5)
    p.stop()


NETNS_CLIENT = r"""
import json, socket, sys
sys.path.insert(0, sys.argv[3])
from ferrytest import frame, hello, recv_frame
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
assert hello(c, sys.argv[4])[0] == 1
c.sendall(frame(2, json.dumps({"method": "migrate.prepare",
                               "params": json.loads(sys.stdin.readline())}).encode()))
print(json.dumps(recv_frame(c, timeout=60)), flush=True)
sys.stdin.readline()  # holds the connection until the test ends
"""


def test_vanished_host():
    """The host of the client that ran Prepare vanishes (its link goes
    down: no FIN, no RST). TCP keepalive ends the destination's connection
    in bounded time and its close tears the incoming migration down. The
    client lives in a network namespace behind a veth pair."""
    need_qemu()
    if os.geteuid() != 0:
        raise Skip("needs root for a network namespace")
    tag = os.getpid() % 100000
    ns, va, vb = "ferry-orph-%d" % tag, "fo%da" % tag, "fo%db" % tag
    net = "10.213.%d." % (tag % 250)
    if subprocess.run(["ip", "netns", "add", ns], capture_output=True).returncode != 0:
        raise Skip("cannot create a network namespace")
    client = None
    try:
        for cmd in (["ip", "link", "add", va, "type", "veth", "peer", "name", vb],
                    ["ip", "link", "set", vb, "netns", ns],
                    ["ip", "addr", "add", net + "1/30", "dev", va],
                    ["ip", "link", "set", va, "up"],
                    ["ip", "netns", "exec", ns, "ip", "addr", "add", net + "2/30", "dev", vb],
                    ["ip", "netns", "exec", ns, "ip", "link", "set", vb, "up"]):
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            if r.returncode != 0:
                raise Skip("network setup failed: %s: %s" % (" ".join(cmd), r.stderr.strip()))
        src = Agent("src-vanish").start()
        dst = Agent("dst-vanish", "--listen", net + "1:0", listen=False).start()
        start_guest(src, "g", **guest_kw(rate=4, size=16, memory=64))
        s = Wire(src)
        mp = params(["live"])
        b = s.call("migrate.begin", {"name": "g", "params": mp, "version": 3})
        client = subprocess.Popen(["ip", "netns", "exec", ns, "python3", "-c", NETNS_CLIENT,
                                   net + "1", str(dst.port), os.path.dirname(__file__),
                                   dst.key],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        client.stdin.write(json.dumps({"params": mp, "version": 3, "xml": b["xml"],
                                       "cookie": b["cookie"], "dest_host": net + "1"}) + "\n")
        client.stdin.flush()
        reply = json.loads(client.stdout.readline())
        assert reply and reply[0] == WIRE_REPLY, reply
        pid = dst.qemu_pid("g")
        assert pid and pid_alive(pid)
        t0 = time.time()
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", vb, "down"], check=True,
                       timeout=20)
        wait_for(lambda: not pid_alive(pid), 90, "keepalive to end the vanished client's "
                 "connection and the incoming QEMU %d to exit" % pid)
        took = time.time() - t0
        assert took > 10, "the connection ended before keepalive could have noticed (%.0fs)" % took
        wait_for(lambda: "g" not in dst.domains(), 20, "the destination to forget 'g'")
        s.close()
        assert GONE in completed_error(src, "g")
        assert qmp_status(src, "g") == "running"
        src.ctl("destroy", "g")
        src.stop()
        dst.stop()
    finally:
        if client:
            stop_pid(client)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)
        subprocess.run(["ip", "link", "del", va], capture_output=True, timeout=20)


def test_tcp_keepalive():
    """Accepted TCP connections carry keepalive (ss shows its timer)."""
    a = Agent("ka").start()
    c = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    try:
        assert hello(c)[0] == 1
        mine = "127.0.0.1:%d" % c.getsockname()[1]
        agent_end = "127.0.0.1:%d" % a.port

        def agent_timer():
            try:
                out = subprocess.run(["ss", "-tnoH", "state", "established"],
                                     capture_output=True, text=True, timeout=10).stdout
            except FileNotFoundError:
                raise Skip("ss (iproute2) not installed")
            # Columns: Recv-Q Send-Q Local Peer Timer; the agent's end is ours.
            line = [ln for ln in out.splitlines() if ln.split()[2:4] == [agent_end, mine]]
            assert line, out
            return line[0]
        # ss shows one timer: until our delayed ACK of the agent's last
        # HELLO arrives (up to 200 ms after the three-frame handshake) that
        # is the retransmit timer, then keepalive's.
        wait_for(lambda: "keepalive" in agent_timer(), 5, "the keepalive timer on the agent's end")
    finally:
        c.close()
        a.stop()


if __name__ == "__main__":
    r = Runner(900)
    for t in (test_tcp_keepalive, test_gone_after_prepare, test_gone_keeps_definition,
              test_gone_during_perform,
              test_gone_copy_storage_all, test_gone_after_perform, test_recover_after_perform,
              test_v2_gone_after_perform,
              test_p2p_source_agent_dies, test_vanished_host):
        r.run(t)
    r.finish()
