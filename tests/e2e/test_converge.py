#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Storage that converges inside the downtime budget (issue 15), between two
real agents on 127.0.0.1: a guest disk written at about 4x the disk copy's
link (--bandwidth-disk 1 MiB/s against 4 MiB/s of writes into a 4 MiB
region) converges with --auto-converge-storage, which caps the guest's
writes with QEMU's I/O throttling, and fails cleanly without it; an abort
and a killed destination QEMU leave no cap behind on the source. Along the
way: domjobinfo --json carries the dirty rate, the cap and the ETAs, the
events stream carries migration-progress, and migrate-setspeed-disk
changes the disk copy's cap while it runs.

The guest's writes go through the device path with qemu-io over HMP, on one
control connection kept open (python/ferry), so a write costs a round trip
rather than a ferryctl process."""

import json
import os
import random
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "python"))

import ferry  # noqa: E402
from ferrytest import Runner, define, need_qemu, pid_alive, tmpdir, wait_for  # noqa: E402
from test_storage import SEED, Pair, guest_kw, random_disk  # noqa: E402

MIB = 1 << 20
LINK_MIB = 1             # --bandwidth-disk
WRITE_RATE = 4 * MIB     # the guest's writes: 4x the link
WRITE_SIZE = 64 * 1024  # a throttled write holds QEMU's monitor: keep it short
REGION = 4 * MIB         # where they land: 4 s of the link
HMP_WRITE = 'qemu-io -d /machine/peripheral/vda/virtio-backend "write -P 0x%02x %d %d"'


class Writer:
    """Writes WRITE_RATE bytes/s into the guest's vda until stopped or the
    domain is gone from the source; counts what it wrote."""

    def __init__(self, agent, rng):
        self.agent, self.rng = agent, rng
        self.stop_ev = threading.Event()
        self.written = 0
        self.t0 = time.monotonic()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        c = ferry.Client.connect(self.agent.control, timeout=30)
        try:
            n = 0
            while not self.stop_ev.is_set():
                off = self.rng.randrange(0, REGION // WRITE_SIZE) * WRITE_SIZE
                try:
                    # Never once the switchover paused the guest: a
                    # qemu-io write after QEMU handed its images over
                    # aborts QEMU 7.2 (test_storage.py), which no guest's
                    # write can do.
                    if c.domain_state("g")[0] != "running":
                        return
                    c.domain_monitor("g", HMP_WRITE % (n & 0xff, off, WRITE_SIZE), hmp=True)
                except (ferry.FerryError, OSError):
                    return  # the domain left this host, or the agent went away
                n += 1
                self.written += WRITE_SIZE
                # Paced to the rate; at least 2 ms apart, so that QMP gets
                # the monitor between writes a throttle makes slow.
                ahead = self.written / WRITE_RATE - (time.monotonic() - self.t0)
                time.sleep(max(ahead, 0.002))
        finally:
            c.close()

    def rate(self):
        return self.written / max(time.monotonic() - self.t0, 1e-3)

    def stop(self):
        self.stop_ev.set()
        self.thread.join(30)


def start_guest(tag):
    p = Pair(tag)
    vda = os.path.join(p.src.dir, "g-vda.raw")
    random_disk(vda, 16 * MIB, random.Random(SEED), 2 * MIB)
    define(p.src, "g", disks=[("vda", vda, "raw")], **guest_kw())
    p.src.ctl("start", "g")
    return p


def migrate_bg(p, *args):
    out = {}

    def run():
        out["r"] = p.src.ctl("migrate", "--live", "--copy-storage-all", "--bandwidth-disk",
                             str(LINK_MIB), *args, "g", p.dst.uri, check=False, timeout=240)
    t = threading.Thread(target=run)
    t.start()
    return t, out


def jobinfo(agent):
    r = agent.ctl("domjobinfo", "g", "--json", check=False)
    return json.loads(r.stdout) if r.returncode == 0 else {}


def throttles(agent):
    """{qdev: (bps_wr, group)} of the source's block devices that QEMU
    throttles (query-block's inserted.bps_wr and group)."""
    out = agent.ctl("qemu-monitor-command", "g", '{"execute":"query-block"}').stdout
    res = json.loads(out)
    res = res.get("return", res) if isinstance(res, dict) else res
    got = {}
    for b in res:
        ins = b.get("inserted") or {}
        if ins.get("bps_wr") or ins.get("group"):
            got[b.get("qdev")] = (ins.get("bps_wr"), ins.get("group"))
    return got


def wait_throttled(p, timeout=90):
    """Until job.info reports a write cap and QEMU has it on vda."""
    def capped():
        info = jobinfo(p.src)
        return info if info.get("disk_throttle", 0) > 0 and throttles(p.src) else None
    return wait_for(capped, timeout, "auto-converge to cap the guest's writes")


def assert_left_clean(p):
    """The failed or cancelled migration left the guest running here, with
    no write cap and no throttle group of ferry's."""
    assert p.src.state_of("g") == "running", p.src.state_of("g")
    assert throttles(p.src) == {}, throttles(p.src)
    info = p.src.ctl_json("domjobinfo", "g", "--completed")
    assert info["status"] in ("failed", "cancelled"), info


def test_converges_with_auto_converge():
    need_qemu()
    p = start_guest("conv")
    ev = subprocess.Popen([os.environ.get("FERRYCTL", "ferryctl"), "-c", p.src.control, "events",
                           "--timeout", "120", "--domain", "g"], stdout=subprocess.PIPE,
                          text=True)
    w = Writer(p.src, random.Random(SEED + 1))
    time.sleep(2)
    before = w.rate()
    t, out = migrate_bg(p, "--auto-converge-storage", "--max-downtime", "500")
    seen = wait_throttled(p)
    # domjobinfo --json carries the convergence figures.
    for k in ("disk_dirty_rate", "disk_copy_rate", "disk_throttle", "disk_predicted_downtime",
              "disk_eta"):
        assert k in seen, (k, seen)
    line = seen["disks"][0]
    assert line["throttle"] > 0 and line["throttle"] < WRITE_RATE, line
    print("  capped at %d B/s (copy %d B/s, dirty %d B/s, final pass predicted %d ms)" % (
        line["throttle"], line["copy_rate"], line["dirty_rate"], line["predicted_downtime"]))
    t.join(200)
    w.stop()
    r = out.get("r")
    assert r is not None and r.returncode == 0, (r and r.stderr, p.src.log_tail(40))
    assert p.dst.state_of("g") == "running"
    done = p.src.ctl_json("domjobinfo", "g", "--completed", check=False)
    print("  guest wrote %.2f MiB/s before, downtime %s ms (storage %s ms)" % (
        before / MIB, done.get("downtime"), done.get("storage_downtime")))
    assert done.get("storage_downtime", 0) <= 500, done
    ev.terminate()
    lines = ev.communicate(timeout=10)[0]
    progress = [json.loads(x) for x in lines.splitlines() if '"migration-progress"' in x]
    assert progress, lines[-2000:]
    assert any((e.get("data") or {}).get("disk_throttle", 0) > 0 for e in progress), progress[-1]
    p.stop()


def test_fails_cleanly_without():
    need_qemu()
    p = start_guest("noconv")
    w = Writer(p.src, random.Random(SEED + 2))
    time.sleep(1)
    t, out = migrate_bg(p)
    t.join(200)
    w.stop()
    r = out.get("r")
    assert r is not None and r.returncode != 0, r and r.stdout
    assert "not converging" in r.stderr, r.stderr
    print("  migrate said: %s" % r.stderr.strip().splitlines()[-1])
    assert_left_clean(p)
    p.stop()


def test_abort_leaves_no_throttle():
    need_qemu()
    p = start_guest("convabort")
    w = Writer(p.src, random.Random(SEED + 3))
    t, out = migrate_bg(p, "--auto-converge-storage")
    wait_throttled(p)
    # The disk copy's cap changes while it runs, and RAM's stays.
    p.src.ctl("migrate-setspeed-disk", "g", "2")
    assert p.src.ctl("migrate-getspeed-disk", "g").stdout.strip() == "2"
    assert p.src.ctl("migrate-getspeed", "g").stdout.strip() == "0"  # RAM: unlimited still
    p.src.ctl("domjobabort", "g")
    t.join(60)
    w.stop()
    r = out.get("r")
    assert r is not None and r.returncode != 0 and "cancel" in r.stderr, r and r.stderr
    assert_left_clean(p)
    p.stop()


def test_dest_killed_leaves_no_throttle():
    need_qemu()
    p = start_guest("convkill")
    w = Writer(p.src, random.Random(SEED + 4))
    t, out = migrate_bg(p, "--auto-converge-storage")
    wait_throttled(p)
    dst_pid = p.dst.qemu_pid("g")
    assert dst_pid and pid_alive(dst_pid)
    os.kill(dst_pid, 9)
    t.join(120)
    w.stop()
    r = out.get("r")
    assert r is not None and r.returncode != 0, r and r.stdout
    print("  migrate said: %s" % r.stderr.strip().splitlines()[-1])
    assert_left_clean(p)
    p.stop()


def test_agent_restart_releases_throttle():
    """The source agent SIGKILLed while a cap is on: the guest must not stay
    slowed down for good. The agent that starts again finds the job record,
    resumes the guest and sweeps the ferry-conv-* throttle group."""
    need_qemu()
    p = start_guest("convrestart")
    w = Writer(p.src, random.Random(SEED + 5))
    t, out = migrate_bg(p, "--auto-converge-storage")
    wait_throttled(p)
    src_qemu = p.src.qemu_pid("g")
    p.src.kill()
    w.stop()
    assert pid_alive(src_qemu), "the guest went with the agent"
    p.src.start()
    t.join(120)
    wait_for(lambda: p.src.state_of("g") == "running", 30, "the guest to run on the source")
    wait_for(lambda: throttles(p.src) == {}, 30, "the sweep to remove the write cap")
    out = p.src.ctl("events", "--domain", "g", "--timeout", "2", "--since", "0", timeout=30).stdout
    rec = [json.loads(x) for x in out.splitlines() if '"migration-recovered"' in x]
    assert rec and any(r.startswith("throttle:") for r in rec[-1]["data"]["removed"]), rec
    p.stop()


ALL = (test_converges_with_auto_converge, test_fails_cleanly_without,
       test_abort_leaves_no_throttle, test_dest_killed_leaves_no_throttle,
       test_agent_restart_releases_throttle)

if __name__ == "__main__":
    print("seed %d, files in %s" % (SEED, tmpdir()), flush=True)
    named = [t for t in ALL if t.__name__ in sys.argv[1:]] or ALL
    runner = Runner(600)
    for fn in named:
        runner.run(fn)
    runner.finish()
