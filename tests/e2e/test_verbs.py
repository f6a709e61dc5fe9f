#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The lifecycle and migration-tuning verbs an orchestrator expects, driven
through ferryctl against real agents and real QEMU guests: suspend, resume,
dominfo, domblklist, migrate-setspeed/-getspeed (applied to QEMU's RAM
migration and to ferry's disk copy while a migration runs) and
migrate-setmaxdowntime/-getmaxdowntime. Every value is read back from QEMU
itself (qemu-monitor-command), not only from ferryd's answer."""

import json
import os
import subprocess
import threading
import time

from ferrytest import (FERRYCTL, GUEST_KERNEL, Agent, Runner, Skip, define, make_disk, need_qemu, pid_alive,
                       tmpdir, wait_for)

MIB = 1 << 20


def guest_kw(rate=4, size=16, memory=64):
    if not GUEST_KERNEL or not os.path.exists(GUEST_KERNEL):
        raise Skip("test guest kernel not built")
    return dict(kernel=GUEST_KERNEL, cmdline="rate=%d size=%d" % (rate, size), memory_mib=memory)


class Pair:
    def __init__(self, tag):
        self.src = Agent("src-" + tag).start()
        self.dst = Agent("dst-" + tag).start()

    def stop(self):
        for a in (self.src, self.dst):
            for name in list(a.domains()):
                if a.state_of(name) != "shutoff":
                    a.ctl("destroy", name, check=False)
            a.stop()


def qmp(agent, dom, execute, **arguments):
    return agent.qmp(dom, execute, **arguments)


def mig_param(agent, dom, name):
    return qmp(agent, dom, "query-migrate-parameters")[name]


def refused(agent, args, exit_code, words):
    r = agent.ctl(*args, check=False)
    assert r.returncode == exit_code, "%s: exit %d, wanted %d: %s %s" % (
        " ".join(map(str, args)), r.returncode, exit_code, r.stdout, r.stderr)
    for w in words:
        assert w in r.stderr, "expected '%s' in: %s" % (w, r.stderr)
    return r


def jobinfo(agent, dom):
    r = agent.ctl("domjobinfo", dom, "--json", check=False, timeout=30)
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.stdout)
    except ValueError:
        return None


def migrate_bg(p, dom, *args, timeout=240):
    """Runs `ferryctl migrate` in a thread; returns (thread, dict) where the
    dict gets "r" (CompletedProcess) and "t" (seconds it took)."""
    out = {}

    def run():
        t0 = time.time()
        out["r"] = p.src.ctl("migrate", "--live", *args, dom, p.dst.uri, check=False,
                             timeout=timeout)
        out["t"] = time.time() - t0
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def wait_phase(agent, dom, ram, timeout=60):
    """Waits until the outgoing job of DOM copies RAM (RAM) or disks (not RAM)."""
    def phase():
        info = jobinfo(agent, dom)
        if not info or info.get("type") != "unbounded":
            return None
        if ram:
            return info if info.get("memory_processed", 0) > 0 else None
        return info if info.get("disk_processed", 0) > 0 and not info.get(
            "memory_processed", 0) else None
    return wait_for(phase, timeout, "the migration's %s phase" % ("RAM" if ram else "disk"))


def dense_disk(path, size):
    """A raw image full of random data: every byte must be copied."""
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 4 * MIB)
            f.write(os.urandom(n))
            left -= n
    return path


# ---- 1. dominfo, domblklist ----

def test_dominfo_domblklist():
    need_qemu()
    a = Agent("info").start()
    d = a.dir
    vda = make_disk(os.path.join(d, "g-vda.raw"), 16 * MIB)
    vdb = make_disk(os.path.join(d, "g-vdb.raw"), 16 * MIB)
    vdc = make_disk(os.path.join(d, "g-vdc.raw"), 16 * MIB)
    define(a, "g", disks=[("vda", vda, "raw"),
                          {"target": "vdb", "path": vdb, "extra": "<readonly/>"},
                          {"target": "vdc", "path": vdc, "extra": "<shareable/>"}],
           vcpus=2, **guest_kw())

    info = a.ctl_json("dominfo", "g")
    assert info["state"] == "shutoff" and info["id"] == -1, info
    assert info["vcpus"] == 2 and info["max_memory"] == 64 * 1024, info
    assert info["persistent"] is True and info["os_type"] == "hvm", info
    text = a.ctl("dominfo", "g").stdout
    assert "Id:             -\n" in text and "State:          shut off\n" in text, text

    a.ctl("start", "g")
    pid = a.qemu_pid("g")
    info = a.ctl_json("dominfo", "g")
    assert info["state"] == "running" and info["id"] == pid and info["pid"] == pid, (info, pid)
    assert info["cpu_time"] > 0, info
    assert len(info["uuid"]) == 36 and info["name"] == "g", info
    text = a.ctl("dominfo", "g").stdout
    for line in ("Id:             %d" % pid, "Name:           g", "CPU(s):         2",
                 "Max memory:     65536 KiB", "Persistent:     yes", "UUID:           " +
                 info["uuid"]):
        assert line in text, "'%s' not in:\n%s" % (line, text)

    disks = {x["target"]: x for x in a.ctl_json("domblklist", "g")}
    assert [x for x in disks] == ["vda", "vdb", "vdc"], disks
    assert disks["vda"]["source"] == vda and disks["vda"]["copy"] is True, disks
    assert disks["vdb"]["copy"] is False and disks["vdb"]["no_copy_reason"] == "read-only"
    assert disks["vdc"]["copy"] is False and disks["vdc"]["no_copy_reason"] == "shareable"
    text = a.ctl("domblklist", "g").stdout.splitlines()
    assert text[0].split() == ["Target", "Source"], text
    assert text[2].split() == ["vda", vda] and text[4].split() == ["vdc", vdc], text
    text = a.ctl("domblklist", "g", "--details").stdout.splitlines()
    # virsh's columns in virsh's order, ferry's extras after them.
    assert text[0].split() == ["Type", "Device", "Target", "Source", "Format", "Copy"], text
    assert text[2].split() == ["file", "disk", "vda", vda, "raw", "yes"], text
    assert text[3].split() == ["file", "disk", "vdb", vdb, "raw", "no", "(read-only)"], text

    for verb in ("dominfo", "domblklist"):
        refused(a, [verb, "nosuch"], 1, ["'nosuch' not found"])
        refused(a, [verb], 2, ["expected 1 argument"])
        refused(a, [verb, "g", "--bogus"], 2, ["unknown option '--bogus'"])
    a.ctl("destroy", "g")
    a.stop()


# ---- 2. suspend / resume ----

def events_bg(agent, dom, count):
    """`ferryctl events` collecting COUNT events of DOM (bounded)."""
    return subprocess.Popen([FERRYCTL, "-c", agent.control, "events", "--domain", dom,
                             "--count", str(count), "--timeout", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_suspend_resume():
    need_qemu()
    a = Agent("susp").start()
    disk = make_disk(os.path.join(a.dir, "g-vda.raw"), 16 * MIB)
    define(a, "g", disks=[("vda", disk, "raw")], **guest_kw())
    refused(a, ["suspend", "g"], 1, ["not running"])
    refused(a, ["resume", "g"], 1, ["not running"])
    a.ctl("start", "g")

    ev = events_bg(a, "g", 2)
    time.sleep(1)  # the subscription is in place before the first event
    r = a.ctl("suspend", "g")
    assert r.stdout == "Domain 'g' suspended\n", r.stdout
    assert a.state_of("g") == "paused"
    assert a.ctl("domstate", "g", "--reason").stdout == "paused (user)\n"
    st = qmp(a, "g", "query-status")
    assert st["running"] is False and st["status"] == "paused", st
    info = a.ctl_json("dominfo", "g")
    assert info["state"] == "paused" and info["reason"] == "user", info
    # libvirt's no-op: suspending a paused guest succeeds and changes nothing.
    assert a.ctl_json("suspend", "g") == {"changed": False}
    assert a.ctl("suspend", "g").stdout == "Domain 'g' was already paused\n"

    r = a.ctl("resume", "g")
    assert r.stdout == "Domain 'g' resumed\n", r.stdout
    assert a.state_of("g") == "running"
    st = qmp(a, "g", "query-status")
    assert st["running"] is True and st["status"] == "running", st
    assert a.ctl_json("resume", "g") == {"changed": False}

    out, _ = ev.communicate(timeout=40)
    evs = [json.loads(x) for x in out.splitlines()]
    assert [e["event"] for e in evs] == ["suspended", "resumed"], evs
    assert evs[0].get("data", {}).get("reason") == "user", evs

    refused(a, ["suspend", "nosuch"], 1, ["'nosuch' not found"])
    refused(a, ["resume", "g", "h"], 2, ["unexpected argument 'h'"])
    assert a.state_of("g") == "running"
    a.ctl("destroy", "g")
    a.stop()


# ---- 3. tuning without a migration ----

def test_tuning_without_migration():
    need_qemu()
    a = Agent("tune").start()
    disk = make_disk(os.path.join(a.dir, "g-vda.raw"), 16 * MIB)
    define(a, "g", disks=[("vda", disk, "raw")], **guest_kw())
    refused(a, ["migrate-setspeed", "g", "10"], 1, ["not running"])
    refused(a, ["migrate-getmaxdowntime", "g"], 1, ["not running"])
    a.ctl("start", "g")

    # No migrate-setspeed yet: the next migration is unlimited (0).
    assert a.ctl("migrate-getspeed", "g").stdout == "0\n"
    r = a.ctl("migrate-setspeed", "g", "77")
    assert r.stdout == "", r.stdout  # like virsh, the setters print nothing
    assert a.ctl("migrate-getspeed", "g").stdout == "77\n"
    assert a.ctl_json("migrate-getspeed", "g") == {"bandwidth": 77}
    assert mig_param(a, "g", "max-bandwidth") == 77 * MIB

    assert a.ctl_json("migrate-setmaxdowntime", "g", "123") == {"downtime": 123}
    assert mig_param(a, "g", "downtime-limit") == 123
    assert a.ctl("migrate-getmaxdowntime", "g").stdout == "123\n"

    # Bad numbers: refused, nothing changed.
    refused(a, ["migrate-setspeed", "g", "-5"], 2, ["'-5'"])
    refused(a, ["migrate-setspeed", "g", "12abc"], 2, ["'12abc'"])
    refused(a, ["migrate-setspeed", "g", "99999999999999"], 1, ["between 0 and 8796093022207"])
    refused(a, ["migrate-setspeed", "g", "99999999999999999999999"], 2, ["in range"])
    refused(a, ["migrate-setmaxdowntime", "g", "0"], 1, ["between 1 and 2000000"])
    refused(a, ["migrate-setmaxdowntime", "g", "2000001"], 1, ["between 1 and 2000000"])
    refused(a, ["migrate-setspeed", "g"], 2, ["expected 2 arguments"])
    refused(a, ["migrate-setspeed", "nosuch", "5"], 1, ["'nosuch' not found"])
    refused(a, ["migrate-getspeed", "nosuch"], 1, ["'nosuch' not found"])
    assert a.ctl("migrate-getspeed", "g").stdout == "77\n"
    assert mig_param(a, "g", "max-bandwidth") == 77 * MIB
    assert mig_param(a, "g", "downtime-limit") == 123

    # 0 is "unlimited", as for migrate --bandwidth.
    a.ctl("migrate-setspeed", "g", "0")
    assert a.ctl("migrate-getspeed", "g").stdout == "0\n"
    assert mig_param(a, "g", "max-bandwidth") >= 1 << 40
    a.ctl("destroy", "g")
    a.stop()


# ---- 4. setspeed during a migration ----

def setspeed_raises_disk_copy(tag, *engine):
    """A --copy-storage-all migration capped at 1 MiB/s with a 160 MiB dense
    disk (2.5 minutes of copying at that cap) is raised mid-bulk-pass and
    must then finish within 90 s."""
    need_qemu()
    p = Pair(tag)
    vda = dense_disk(os.path.join(p.src.dir, "g-vda.raw"), 160 * MIB)
    define(p.src, "g", disks=[("vda", vda, "raw")], **guest_kw())
    p.src.ctl("start", "g")
    pid = p.src.qemu_pid("g")
    t, out = migrate_bg(p, "g", "--copy-storage-all", "--bandwidth", "1", *engine)
    wait_phase(p.src, "g", ram=False)
    assert p.src.ctl("migrate-getspeed", "g").stdout == "1\n"
    time.sleep(1)
    info = jobinfo(p.src, "g")
    assert info and info["disk_processed"] < 64 * MIB, info  # the cap holds
    p.src.ctl("migrate-setspeed", "g", "4000")
    raised = time.time()
    assert p.src.ctl("migrate-getspeed", "g").stdout == "4000\n"
    assert mig_param(p.src, "g", "max-bandwidth") == 4000 * MIB
    if engine:  # QEMU's blockdev-mirror job got the new speed
        jobs = [j for j in qmp(p.src, "g", "query-block-jobs")
                if j["device"].startswith("ferry-mig-")]
        assert jobs and all(j["speed"] == 4000 * MIB for j in jobs), jobs
    t.join(90)
    assert not t.is_alive(), "the migration did not finish within 90 s of the raise"
    r = out["r"]
    assert r.returncode == 0, "migrate failed: %s\n%s" % (r.stderr, p.src.log_tail())
    print("  finished %.1f s after the raise" % (time.time() - raised))
    wait_for(lambda: not pid_alive(pid), 20, "the source QEMU to exit")
    assert p.dst.state_of("g") == "running"
    p.stop()


def test_setspeed_raises_disk_copy():
    setspeed_raises_disk_copy("speed")


def test_setspeed_raises_disk_copy_qemu_engine():
    setspeed_raises_disk_copy("speedq", "--storage-engine", "qemu")


def test_setspeed_raises_ram():
    """A RAM migration that cannot converge at 1 MiB/s (the guest dirties 4
    MiB/s) completes once migrate-setspeed raises the cap."""
    need_qemu()
    p = Pair("ram")
    disk = make_disk(os.path.join(p.src.dir, "g-vda.raw"), 16 * MIB)
    define(p.src, "g", disks=[("vda", disk, "raw")], **guest_kw(rate=4, size=32))
    p.src.ctl("start", "g")
    t, out = migrate_bg(p, "g", "--bandwidth", "1")
    wait_phase(p.src, "g", ram=True)
    assert mig_param(p.src, "g", "max-bandwidth") == 1 * MIB
    p.src.ctl("migrate-setspeed", "g", "2000")
    assert mig_param(p.src, "g", "max-bandwidth") == 2000 * MIB
    t.join(90)
    assert not t.is_alive(), "the migration did not finish within 90 s of the raise"
    assert out["r"].returncode == 0, out["r"].stderr
    assert p.dst.state_of("g") == "running"
    p.stop()


# ---- 5. the default for the next migration, and verbs during a migration ----

def test_verbs_during_migration():
    """migrate-setspeed without a migration is the next migration's cap;
    during the migration resume is refused, suspend works and, when the
    migration is then cancelled, the guest stays paused as the user asked."""
    need_qemu()
    p = Pair("during")
    disk = make_disk(os.path.join(p.src.dir, "g-vda.raw"), 16 * MIB)
    define(p.src, "g", disks=[("vda", disk, "raw")], **guest_kw(rate=4, size=32))
    p.src.ctl("start", "g")
    p.src.ctl("migrate-setspeed", "g", "1")
    p.src.ctl("migrate-setmaxdowntime", "g", "50")
    t, out = migrate_bg(p, "g")  # no --bandwidth: migrate-setspeed's value
    wait_phase(p.src, "g", ram=True)
    assert mig_param(p.src, "g", "max-bandwidth") == 1 * MIB
    assert mig_param(p.src, "g", "downtime-limit") == 50
    assert p.src.ctl("migrate-getspeed", "g").stdout == "1\n"
    # downtime changes apply to the running migration
    p.src.ctl("migrate-setmaxdowntime", "g", "60")
    assert mig_param(p.src, "g", "downtime-limit") == 60

    # The destination's incoming guest refuses both.
    refused(p.dst, ["suspend", "g"], 1, ["incoming migration"])
    refused(p.dst, ["resume", "g"], 1, ["incoming migration"])
    refused(p.src, ["resume", "g"], 1, ["migration job"])
    assert p.src.state_of("g") == "running"
    p.src.ctl("suspend", "g")
    assert p.src.state_of("g") == "paused"
    refused(p.src, ["resume", "g"], 1, ["migration job"])
    assert p.src.state_of("g") == "paused"

    p.src.ctl("domjobabort", "g")
    t.join(60)
    assert not t.is_alive() and out["r"].returncode == 1, out
    wait_for(lambda: "g" not in p.dst.domains(), 30, "the destination to forget the domain")
    assert p.src.ctl("domstate", "g", "--reason").stdout == "paused (user)\n"
    p.src.ctl("resume", "g")
    assert p.src.state_of("g") == "running"
    assert qmp(p.src, "g", "query-status")["running"] is True
    p.stop()


ALL = (test_dominfo_domblklist, test_suspend_resume, test_tuning_without_migration,
       test_setspeed_raises_disk_copy, test_setspeed_raises_disk_copy_qemu_engine,
       test_setspeed_raises_ram, test_verbs_during_migration)


def main(tests, deadline_s=840):
    import sys
    print("files in %s" % tmpdir(), flush=True)
    named = [t for t in tests if t.__name__ in sys.argv[1:]] or tests
    r = Runner(deadline_s)
    for t in named:
        r.run(t)
    r.finish()


if __name__ == "__main__":
    main(ALL)
