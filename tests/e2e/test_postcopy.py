#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Post-copy migration (libvirt's VIR_MIGRATE_POSTCOPY) between two real
agents on 127.0.0.1, with ferry's test guest, which dirties its RAM far
faster than the --bandwidth cap lets pre-copy move it and checks every
page it wrote. Pre-copy alone never converges here; post-copy does, the
guest's memory is intact on the destination, its disk is byte for byte
what the source left, and a destination lost after the switch leaves the
source paused (postcopy-failed), never resumed."""

import json
import os
import re
import subprocess
import threading
import time

from ferrytest import (FERRYCTL, GUEST_KERNEL, Agent, Runner, Skip, define, make_disk,
                       need_qemu, pid_alive, sha256_file, wait_for)

HEART = re.compile(r"ferry-guest: alive (\d+) dirtied (\d+) MiB errors (\d+)")
MIB = 1 << 20
# Dirtying 512 MiB/s over 96 MiB against a 16 MiB/s cap: pre-copy cannot
# converge (QEMU's default downtime limit, 300 ms, allows ~5 MiB left).
FAST_GUEST = dict(rate=512, size=96, memory=160)
CAP = "16"


def guest_kw(rate, size, memory):
    if not GUEST_KERNEL or not os.path.exists(GUEST_KERNEL):
        raise Skip("test guest kernel not built")
    return dict(kernel=GUEST_KERNEL, cmdline="rate=%d size=%d" % (rate, size), memory_mib=memory)


def heartbeats(agent, dom):
    try:
        text = open(os.path.join(agent.state, "run", dom + ".serial"), errors="replace").read()
    except OSError:
        return []
    return [tuple(map(int, m)) for m in HEART.findall(text)]


def wait_heartbeat(agent, dom, after=0, timeout=30):
    def newer():
        hb = heartbeats(agent, dom)
        return hb[-1] if hb and hb[-1][0] > after else None
    return wait_for(newer, timeout, "a heartbeat from '%s' on %s" % (dom, agent.name))


class Pair:
    def __init__(self, tag, *dst_extra):
        self.src = Agent("src-" + tag).start()
        self.dst = Agent("dst-" + tag, *dst_extra).start()

    def stop(self):
        for a in (self.src, self.dst):
            for name in list(a.domains()):
                if a.state_of(name) != "shutoff":
                    a.ctl("destroy", name, check=False)
            a.stop()


def start_guest(agent, name, disk_chunks=(), **kw):
    disk = make_disk(os.path.join(agent.dir, name + "-vda.raw"), 16 * MIB, disk_chunks)
    define(agent, name, disks=[("vda", disk, "raw")], **kw)
    agent.ctl("start", name)
    return disk


def migrate_in_background(p, *args):
    out = {}

    def run():
        out["r"] = p.src.ctl("migrate", *args, check=False, timeout=240)
    t = threading.Thread(target=run)
    t.start()
    return t, out


def job(agent, name):
    return agent.ctl_json("domjobinfo", name, check=False)


def wait_ram_moving(agent, name, timeout=60):
    """The outgoing migration of NAME is moving RAM (its perform phase)."""
    def moving():
        info = job(agent, name)
        return info if info.get("phase") == "perform" and info.get("memory_processed", 0) > 0 \
            else None
    return wait_for(moving, timeout, "the migration of '%s' to move RAM" % name)


def skip_if_unsupported(r):
    """QEMU refuses postcopy-ram on a host without userfaultfd."""
    if r.returncode != 0 and "ostcopy is not supported" in r.stderr:
        raise Skip("QEMU has no post-copy here (userfaultfd): " + r.stderr.strip())


class Events:
    """ferryctl events on an agent, collected until stop()."""

    def __init__(self, agent, dom):
        self.proc = subprocess.Popen([FERRYCTL, "-c", agent.control, "events", "--timeout", "150",
                                      "--domain", dom], stdout=subprocess.PIPE, text=True)
        time.sleep(0.5)

    def stop(self):
        self.proc.terminate()
        out = self.proc.communicate(timeout=10)[0]
        evs = []
        for line in out.splitlines():
            try:
                evs.append(json.loads(line))
            except ValueError:
                pass
        return evs


def statuses(evs):
    return [e.get("data", {}).get("status") for e in evs if e.get("event") == "migration-status"]


def assert_moved_intact(p, name, hb):
    assert p.dst.state_of(name) == "running"
    st = p.src.ctl("domstate", name, check=False)
    assert st.returncode != 0 or st.stdout.strip() == "shut off", st.stdout
    after = wait_heartbeat(p.dst, name, after=hb[0] + 1)
    assert after[2] == 0, "guest on the destination reports %d stale pages" % after[2]


def test_refusals():
    need_qemu()
    p = Pair("refuse")
    start_guest(p.src, "g")
    bad = [
        (["--postcopy", "--offline", "--persistent"], "--postcopy makes no sense with --offline"),
        (["--postcopy"], "--postcopy requires --live"),
        (["--postcopy", "--live", "--suspend"], "--postcopy and --suspend"),
        (["--postcopy", "--live", "--p2p", "--tunnelled"], "not supported with --tunnelled"),
        (["--postcopy", "--live", "--parallel"], "--postcopy cannot be used with --parallel"),
        (["--live", "--postcopy-after-precopy"], "--postcopy-after-precopy requires --postcopy"),
        (["--live", "--postcopy-bandwidth", "5"], "--postcopy-bandwidth requires --postcopy"),
    ]
    for args, msg in bad:
        r = p.src.ctl("migrate", *args, "g", p.dst.uri, check=False)
        assert r.returncode != 0 and msg in r.stderr, (args, r.stderr)
    # No migration at all, unknown domain, the destination side.
    r = p.src.ctl("migrate-postcopy", "g", check=False)
    assert r.returncode == 1 and "has no outgoing migration running" in r.stderr, r.stderr
    r = p.src.ctl("migrate-postcopy", "nosuch", check=False)
    assert r.returncode == 1 and "not found" in r.stderr, r.stderr
    assert p.src.state_of("g") == "running"
    assert p.dst.domains() == {}
    p.stop()


def test_not_started_with_postcopy():
    """migrate-postcopy on a migration without --postcopy is refused and
    changes nothing; post-copy cannot be aborted once it runs either."""
    need_qemu()
    p = Pair("plain")
    start_guest(p.src, "g", **guest_kw(**FAST_GUEST))
    wait_heartbeat(p.src, "g", after=1)
    t, out = migrate_in_background(p, "--live", "--bandwidth", "4", "g", p.dst.uri)
    wait_ram_moving(p.src, "g")
    r = p.src.ctl("migrate-postcopy", "g", check=False)
    assert r.returncode == 1 and "not started with --postcopy" in r.stderr, r.stderr
    r = p.dst.ctl("migrate-postcopy", "g", check=False)
    assert r.returncode == 1 and "no outgoing migration" in r.stderr, r.stderr
    p.src.ctl("domjobabort", "g")
    t.join(60)
    assert out["r"].returncode == 1, out["r"].stderr
    assert p.src.state_of("g") == "running"
    p.stop()


def test_v2_refused():
    """Post-copy needs Confirm (v3): a v2 destination refuses it by name,
    and the guest keeps running on the source."""
    need_qemu()
    p = Pair("v2", "--max-protocol", "2")
    start_guest(p.src, "g")
    r = p.src.ctl("migrate", "--live", "--postcopy", "g", p.dst.uri, check=False)
    assert r.returncode == 1 and "--postcopy needs migration protocol v3" in r.stderr, r.stderr
    assert p.src.state_of("g") == "running"
    wait_for(lambda: "g" not in p.dst.domains(), 20, "the destination to forget 'g'")
    p.stop()


def test_after_precopy():
    """--postcopy-after-precopy: the source agent switches after the first
    full RAM pass, and the migration that pre-copy could not finish
    completes, the guest's memory intact on the destination."""
    need_qemu()
    p = Pair("after")
    start_guest(p.src, "g", **guest_kw(**FAST_GUEST))
    hb = wait_heartbeat(p.src, "g", after=1)
    ev = Events(p.src, "g")
    t0 = time.time()
    r = p.src.ctl("--debug", "migrate", "--live", "--postcopy", "--postcopy-after-precopy", "--bandwidth",
                  CAP, "--verbose", "g", p.dst.uri, check=False, timeout=240)
    took = time.time() - t0
    evs = ev.stop()
    skip_if_unsupported(r)
    assert r.returncode == 0, r.stderr
    assert "[v3] confirm" in r.stderr, r.stderr
    sts = statuses(evs)
    assert "postcopy-active" in sts and sts[-1] == "completed", sts
    # The switch came after the first full pass, not before it.
    assert sts.index("postcopy-active") > sts.index("active"), sts
    assert_moved_intact(p, "g", hb)
    info = p.src.ctl_json("domjobinfo", "g", "--completed")
    assert info["status"] == "completed" and info["memory_iteration"] >= 2, info
    assert took < 120, "took %.1fs" % took
    # And back, peer-to-peer: the destination agent drives it and switches.
    hb = wait_heartbeat(p.dst, "g", after=1)
    ev = Events(p.src, "g")
    p.dst.ctl("migrate", "--live", "--p2p", "--postcopy", "--postcopy-after-precopy",
              "--bandwidth", CAP, "g", p.src.uri, timeout=240)
    evs = ev.stop()
    assert "postcopy-active" in statuses(evs), evs  # as the incoming side saw it
    assert p.src.state_of("g") == "running"
    after = wait_heartbeat(p.src, "g", after=hb[0] + 1)
    assert after[2] == 0, "guest reports %d stale pages after coming back" % after[2]
    p.stop()


def write_disk(agent, dom, writes):
    """Guest disk writes through the device path: (pattern byte, offset)."""
    for byte, off in writes:
        agent.hmp(dom, 'qemu-io -d /machine/peripheral/vda/virtio-backend '
                  '"write -P 0x%02x %d 65536"' % (byte, off))


def test_on_demand_with_storage(engine="ferry", early=False):
    """migrate-postcopy during a running --copy-storage-all migration:
    the switch happens on demand, the guest's memory is intact, and the
    destination disk is byte for byte the source's as it stood when the
    source stopped, guest writes made during the migration included.
    EARLY: asked while the disks are still being copied, before RAM moves
    (the agent asks QEMU as soon as it starts the RAM migration)."""
    need_qemu()
    p = Pair("demand-" + engine)
    chunks = [(i * MIB, bytes([0x40 + i]) * (256 << 10)) for i in range(0, 16, 3)]
    src_disk = start_guest(p.src, "g", disk_chunks=chunks, **guest_kw(**FAST_GUEST))
    hb = wait_heartbeat(p.src, "g", after=1)
    writes = [(0xa0, 1 * MIB + 4096), (0xa1, 7 * MIB), (0xa2, 15 * MIB - 65536)]
    if early:
        write_disk(p.src, "g", writes)
    ev = Events(p.dst, "g")
    t, out = migrate_in_background(p, "--live", "--postcopy", "--copy-storage-all",
                                   "--storage-engine", engine, "--bandwidth", CAP, "g", p.dst.uri)
    if early:
        wait_for(lambda: job(p.src, "g").get("phase") == "perform", 60, "the perform phase")
    else:
        try:
            wait_ram_moving(p.src, "g")
        except AssertionError:
            t.join(60)
            skip_if_unsupported(out["r"])
            raise
        # Guest disk writes while RAM moves: the final disk pass at the
        # switch (QEMU's pre-switchover, which post-copy passes through
        # too) must carry them.
        write_disk(p.src, "g", writes)
        assert p.src.state_of("g") == "running"  # made before the switch
        time.sleep(2)
        info = job(p.src, "g")
        assert info.get("status") == "active", info  # pre-copy alone does not converge
    r = p.src.ctl("migrate-postcopy", "g")
    assert "switching to post-copy" in r.stdout, r.stdout
    t.join(120)
    assert out["r"].returncode == 0, out["r"].stderr
    evs = ev.stop()
    assert "postcopy-active" in statuses(evs), statuses(evs)
    assert_moved_intact(p, "g", hb)
    assert any(e.get("event") == "migrated-resumed" for e in evs), evs
    dst_disk = [ln.split()[-1] for ln in p.dst.ctl("domblklist", "g").stdout.splitlines()
                if ln.split() and ln.split()[0] == "vda"][0]
    assert os.path.realpath(dst_disk) != os.path.realpath(src_disk)
    assert sha256_file(dst_disk) == sha256_file(src_disk), "destination disk differs"
    with open(src_disk, "rb") as f:
        f.seek(7 * MIB)
        assert f.read(65536) == bytes([0xa1]) * 65536, "the guest write did not reach the disk"
    # Once over, there is nothing left to switch.
    r = p.src.ctl("migrate-postcopy", "g", check=False)
    assert r.returncode == 1, r.stderr
    p.stop()


def test_early_request_engine_qemu():
    test_on_demand_with_storage(engine="qemu", early=True)


def assert_postcopy_failed(agent, name, state="paused"):
    st = agent.ctl("domstate", name, "--reason").stdout
    assert st == "%s (post-copy failed)\n" % state, "%s: '%s' is %s" % (agent.name, name, st)


def start_slow_postcopy(p):
    """A migration that switches after the first pass, with a slow
    post-copy phase (1 MiB/s) so that a kill lands inside it; returns once
    the guest runs on the destination."""
    start_guest(p.src, "g", **guest_kw(**FAST_GUEST))
    wait_heartbeat(p.src, "g", after=1)
    t, out = migrate_in_background(p, "--live", "--postcopy", "--postcopy-after-precopy",
                                   "--bandwidth", CAP, "--postcopy-bandwidth", "1", "g",
                                   p.dst.uri)

    def switched():
        if not t.is_alive():
            return "ended"
        st = p.dst.ctl("domstate", "g", check=False).stdout.strip()
        return "switched" if st == "running" else None
    if wait_for(switched, 120, "the guest to run on the destination") == "ended":
        skip_if_unsupported(out["r"])
        raise AssertionError("migration ended before the switch: %s" % out["r"].stderr)
    assert job(p.src, "g").get("status") == "postcopy-active"
    st = p.src.ctl("domstate", "g", "--reason").stdout
    assert st == "paused (post-copy)\n", st
    return t, out


def test_source_killed_after_switch():
    """The source QEMU dies during post-copy: the destination keeps its
    guest (the newest state there is), reason postcopy-failed, instead of
    killing it, and says so. As in libvirt it is "running, postcopy-failed":
    its vCPUs wait for pages that will not come, which QEMU cannot pause."""
    need_qemu()
    p = Pair("srckill")
    t, out = start_slow_postcopy(p)
    dst_pid = p.dst.qemu_pid("g")
    os.kill(p.src.qemu_pid("g"), 9)
    t.join(120)
    r = out["r"]
    assert r.returncode == 1, r.stderr
    assert "post-copy migration of 'g' failed after the switch" in r.stderr, r.stderr
    assert "kept on this host (postcopy-failed)" in r.stderr, r.stderr
    assert pid_alive(dst_pid)
    assert_postcopy_failed(p.dst, "g", "running")
    r = p.dst.ctl("suspend", "g", check=False)
    assert r.returncode == 1 and "post-copy" in r.stderr, r.stderr
    assert_postcopy_failed(p.dst, "g", "running")  # its monitor still answers
    p.stop()


def test_destination_killed_after_switch():
    """The destination QEMU dies during post-copy: the migration fails with
    a message that says so, and the source is NOT resumed (its guest would
    run twice, or lose what it did on the destination): it stays paused,
    reason postcopy-failed, and refuses a resume."""
    need_qemu()
    p = Pair("kill")
    t, out = start_slow_postcopy(p)
    r = p.src.ctl("domjobabort", "g", check=False)
    assert r.returncode == 1 and "post-copy" in r.stderr, r.stderr
    src_pid = p.src.qemu_pid("g")
    os.kill(p.dst.qemu_pid("g"), 9)
    t.join(120)
    r = out["r"]
    assert r.returncode == 1, r.stderr
    assert "post-copy migration of 'g' failed after the switch" in r.stderr, r.stderr
    assert "kept paused on the source" in r.stderr, r.stderr
    # The source guest is paused and stays so.
    assert pid_alive(src_pid)
    assert_postcopy_failed(p.src, "g")
    r = p.src.ctl("resume", "g", check=False)
    assert r.returncode == 1 and "post-copy" in r.stderr, r.stderr
    time.sleep(1)
    assert_postcopy_failed(p.src, "g")
    info = p.src.ctl_json("domjobinfo", "g", "--completed")
    assert "postcopy-failed" in info.get("error", ""), info
    r = p.src.ctl("migrate", "--live", "g", p.dst.uri, check=False)
    assert r.returncode == 1 and "after a failed post-copy migration" in r.stderr, r.stderr
    # Destroyed and started again, it is a guest like any other.
    p.src.ctl("destroy", "g")
    p.src.ctl("start", "g")
    st = p.src.ctl("domstate", "g", "--reason").stdout
    assert st.startswith("running") and "post-copy" not in st, st
    p.stop()


if __name__ == "__main__":
    r = Runner(240)
    for t in (test_refusals, test_v2_refused, test_not_started_with_postcopy, test_after_precopy,
              test_on_demand_with_storage, test_early_request_engine_qemu,
              test_destination_killed_after_switch,
              test_source_killed_after_switch):
        r.run(t)
    r.finish()
