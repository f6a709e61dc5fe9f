#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""An agent killed (SIGKILL) in the middle of a migration and started again
recovers the job from its record (docs/control-api.md, "An agent that
restarts"): the source cancels QEMU's migration, removes ferry's bitmaps
and exports and resumes the guest; the destination kills its incoming QEMU
and removes the targets Prepare made; after a v3 Perform that succeeded
the source keeps the guest paused until job.abort."""

import json
import os
import time

from ferrytest import Runner, need_qemu, pid_alive, stop_pid, wait_for
from test_orphan import (Pair, Wire, assert_dest_clean, assert_migrates, begin_prepare,
                         completed_error, guest_kw, images, params, qmp_status, send_perform,
                         start_guest, wait_performing)

RESTARTED = "the agent restarted"


def qmp(agent, dom, command, args=None):
    return agent.qmp(dom, command, **(args or {}))


def ferry_leftovers(agent, dom):
    """Ferry's exports, bitmaps, block jobs and client nodes in DOM's QEMU."""
    left = ["export:" + e["id"] for e in qmp(agent, dom, "query-block-exports")
            if e["id"].startswith("ferry-")]
    for n in qmp(agent, dom, "query-named-block-nodes", {"flat": True}):
        if n.get("node-name", "").startswith("ferry-"):
            left.append("node:" + n["node-name"])
        left += ["bitmap:" + b["name"] for b in n.get("dirty-bitmaps", [])
                 if b.get("name", "").startswith("ferry-")]
    # query-block reports the device's bitmaps as well (what an operator reads)
    for b in qmp(agent, dom, "query-block"):
        left += ["bitmap:" + x["name"] for x in b.get("inserted", {}).get("dirty-bitmaps", [])
                 if x.get("name", "").startswith("ferry-")]
    left += ["job:" + j["device"] for j in qmp(agent, dom, "query-block-jobs")
             if j["device"].startswith("ferry-")]
    return sorted(set(left))


def migration_status(agent, dom):
    return qmp(agent, dom, "query-migrate").get("status", "none")


def records(agent):
    d = os.path.join(agent.state, "jobs")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def restart(agent):
    agent.kill()
    agent.start()


def recovered_events(agent, dom, *since):
    """The migration-recovered events of DOM that `ferryctl events` shows
    within two seconds, with `--since SINCE` when given."""
    args = ["events", "--domain", dom, "--timeout", "2"]
    if since:
        args += ["--since", str(since[0])]
    out = agent.ctl(*args, timeout=30).stdout
    evs = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [e for e in evs if e["event"] == "migration-recovered"]


def logged(agent, text):
    return text in open(agent.log, errors="replace").read()


def source_killed_during_perform(tag, ram, engine="ferry"):
    """--copy-storage-all held in Perform by --bandwidth 1; the source agent
    is SIGKILLed while the disk copy runs (RAM: while QEMU's migration
    moves RAM, the disk copy converged) and started again."""
    need_qemu()
    p = Pair(tag)
    if ram:
        start_guest(p.src, "g", disk_mib=16, data_mib=1, **guest_kw(rate=256, size=96,
                                                                    memory=160))
    else:
        start_guest(p.src, "g", disk_mib=96, data_mib=48, **guest_kw(rate=4, size=16, memory=64))
    mp = params(["live", "non_shared_disk"], bandwidth=1, storage_engine=engine)
    s, d, r = begin_prepare(p, "g", mp)
    pid = p.dst.qemu_pid("g")
    src_qemu = p.src.qemu_pid("g")
    send_perform(s, "g", mp, r)
    wait_performing(p.src, "g", "disk", 60)
    if ram:
        wait_for(lambda: migration_status(p.src, "g") == "active", 60,
                 "QEMU's migration to move RAM")
    # What the recovery must remove is really there now.
    assert ferry_leftovers(p.src, "g"), "the copy added nothing to QEMU: the test proves nothing"
    assert records(p.src) == ["g.json"], records(p.src)
    rec = json.load(open(os.path.join(p.src.state, "jobs", "g.json")))
    assert rec["phase"] == "perform" and not rec["perform_done"] and rec["was_running"], rec
    # The record holds the timeline so far: Begin, the destination's
    # Prepare (from its cookie), and Perform still running.
    steps = {t["phase"]: t for t in rec["timeline"]}
    assert {"begin", "dest:prepare", "dest:qemu-start", "perform"} <= set(steps), rec["timeline"]
    assert "end_ms" in steps["begin"] and "end_ms" not in steps["perform"], rec["timeline"]
    restart(p.src)
    s.close()
    assert p.src.qemu_pid("g") == src_qemu and pid_alive(src_qemu)
    assert qmp_status(p.src, "g") == "running"
    # No QEMU migration left running; one that ran was cancelled.
    assert migration_status(p.src, "g") in (("cancelled",) if ram else ("none",)), \
        migration_status(p.src, "g")
    assert ferry_leftovers(p.src, "g") == [], ferry_leftovers(p.src, "g")
    assert RESTARTED in completed_error(p.src, "g")
    assert p.src.ctl_json("domjobinfo", "g", "--completed")["status"] == "cancelled"
    assert logged(p.src, "interrupted by an agent restart: resumed")
    assert records(p.src) == [], records(p.src)
    # The event was emitted before anyone could subscribe: a plain
    # subscription does not see it, one that asks for the kept events does.
    assert recovered_events(p.src, "g") == []
    evs = recovered_events(p.src, "g", 0)
    assert len(evs) == 1, evs
    ev = evs[0]
    assert ev["data"]["operation"] == "migration-out" and ev["data"]["phase"] == "perform" \
        and ev["data"]["action"] == "resumed", ev
    assert ev["data"]["removed"], ev  # what the sweep took out of QEMU
    assert ev["seq"] >= 1, ev
    # SINCE is exclusive: from the event's own seq on, it is not sent again.
    assert recovered_events(p.src, "g", ev["seq"]) == []
    # The destination learns it from its own client's close.
    d.close()
    assert_dest_clean(p, "g", pid)
    # The RAM variant's guest dirties faster than a TLS-encrypted stream
    # (the migration's own key) moves it on a busy 2-core TCG host:
    # --timeout pauses it so that the migration ends, as an operator would.
    assert_migrates(p, "g", "--copy-storage-all", "--timeout", "10")
    p.stop()


def test_source_killed_during_disk_copy():
    source_killed_during_perform("rdisk", ram=False)


def test_source_killed_during_ram():
    source_killed_during_perform("rram", ram=True)


def test_source_killed_during_qemu_mirror():
    """The same with QEMU's own mirror (a block job and an NBD client node
    in the source QEMU)."""
    source_killed_during_perform("rmirror", ram=False, engine="qemu")


def test_dest_killed_after_prepare():
    """The destination agent is SIGKILLed after Prepare created a target
    image, an NBD server and the incoming QEMU, and started again."""
    need_qemu()
    p = Pair("rdst")
    start_guest(p.src, "g", disk_mib=32, data_mib=4, **guest_kw(rate=4, size=16, memory=64))
    mp = params(["live", "non_shared_disk"])
    s, d, _ = begin_prepare(p, "g", mp)
    pid = p.dst.qemu_pid("g")
    assert pid and pid_alive(pid)
    assert images(p.dst), "Prepare created no target image"
    rec = json.load(open(os.path.join(p.dst.state, "jobs", "g.json")))
    assert rec["phase"] == "prepare" and rec["created_sure"], rec
    steps = {t["phase"]: t for t in rec["timeline"]}
    assert "end_ms" in steps["qemu-start"] and "prepare" in steps, rec["timeline"]
    assert [os.path.basename(t) for t in rec["created_targets"]] == images(p.dst), rec
    restart(p.dst)
    d.close()
    assert_dest_clean(p, "g", pid)
    assert "g" not in p.dst.domains()
    assert records(p.dst) == [], records(p.dst)
    assert logged(p.dst, "interrupted by an agent restart: torn-down")
    # The source's client goes too: its own close cancels its side.
    s.close()
    assert "went away" in completed_error(p.src, "g")
    assert qmp_status(p.src, "g") == "running"
    assert_migrates(p, "g", "--copy-storage-all")
    p.stop()


def test_source_killed_after_perform():
    """v3 past the point of no return: Perform succeeded and answered, then
    the source agent is SIGKILLed before Confirm. The restarted agent keeps
    the guest paused (Finish may have started it on the destination) until
    domjobabort resumes it."""
    need_qemu()
    p = Pair("rdone")
    start_guest(p.src, "g", **guest_kw(rate=4, size=16, memory=64))
    mp = params(["live"])
    s, d, r = begin_prepare(p, "g", mp)
    pid = p.dst.qemu_pid("g")
    s.call("migrate.perform", {"name": "g", "params": mp, "version": 3, "cookie": r["cookie"],
                               "uri": r["uri"]}, timeout=120)
    restart(p.src)
    s.close()
    assert qmp_status(p.src, "g") == "postmigrate"
    time.sleep(1)
    assert qmp_status(p.src, "g") == "postmigrate", "the restarted agent resumed the guest"
    info = p.src.ctl_json("domjobinfo", "g")
    assert info.get("type") == "unbounded" and RESTARTED in info.get("orphaned", ""), info
    assert logged(p.src, "interrupted by an agent restart: kept-paused")
    assert records(p.src) == ["g.json"], records(p.src)
    d.close()
    assert_dest_clean(p, "g", pid)
    p.src.ctl("domjobabort", "g")
    assert qmp_status(p.src, "g") == "running"
    assert p.src.ctl_json("domjobinfo", "g", "--completed")["status"] == "cancelled"
    assert records(p.src) == [], records(p.src)
    assert_migrates(p, "g")
    p.stop()


def test_dest_incoming_without_record():
    """An incoming QEMU whose Prepare left no record (an agent older than
    records) is torn down at start-up: nobody could Finish it."""
    need_qemu()
    p = Pair("rnorec")
    start_guest(p.src, "g", **guest_kw(rate=4, size=16, memory=64))
    s, d, _ = begin_prepare(p, "g", params(["live"]))
    pid = p.dst.qemu_pid("g")
    p.dst.kill()
    d.close()
    os.unlink(os.path.join(p.dst.state, "jobs", "g.json"))
    p.dst.start()
    assert_dest_clean(p, "g", pid)
    assert logged(p.dst, "interrupted by an agent restart: torn-down")
    s.close()
    assert qmp_status(p.src, "g") == "running"
    p.stop()


def test_stale_leftovers_without_job():
    """A source QEMU that carries ferry's bitmap and export with no job
    record (a record lost with a disk) is cleaned at start-up."""
    need_qemu()
    p = Pair("rstale")
    start_guest(p.src, "g", disk_mib=16, **guest_kw(rate=4, size=16, memory=64))
    sock = os.path.join(p.src.state, "run", "stale-test.sock")
    qmp(p.src, "g", "block-dirty-bitmap-add", {"node": "f-vda", "name": "ferry-mir-vda"})
    qmp(p.src, "g", "nbd-server-start",
        {"addr": {"type": "unix", "data": {"path": sock}}})
    qmp(p.src, "g", "block-export-add", {"type": "nbd", "id": "ferry-src-vda",
                                         "node-name": "f-vda", "name": "ferry-src-vda"})
    assert len(ferry_leftovers(p.src, "g")) >= 2, ferry_leftovers(p.src, "g")
    p.src.kill()
    # A record that is not one is logged and removed; the agent starts.
    os.makedirs(os.path.join(p.src.state, "jobs"), exist_ok=True)
    with open(os.path.join(p.src.state, "jobs", "junk.json"), "w") as f:
        f.write('{"domain": "../x", "operation": "migration-out"')
    p.src.start()
    assert logged(p.src, "ignoring migration job record")
    assert records(p.src) == [], records(p.src)
    assert ferry_leftovers(p.src, "g") == [], ferry_leftovers(p.src, "g")
    assert qmp_status(p.src, "g") == "running"
    if os.path.exists(sock):
        os.unlink(sock)
    p.stop()


def edit_record(agent, dom, **fields):
    """Rewrites DOM's job record while AGENT is down: puts it in a phase a
    test cannot stop an agent in reliably (a Finish or Confirm running)."""
    path = os.path.join(agent.state, "jobs", dom + ".json")
    rec = json.load(open(path))
    rec.update(fields)
    with open(path, "w") as f:
        json.dump(rec, f)


def test_dest_killed_during_finish():
    """The destination agent dies inside a Finish of a completed stream:
    the guest belongs to the destination, which resumes it."""
    need_qemu()
    p = Pair("rfin")
    start_guest(p.src, "g", **guest_kw(rate=4, size=16, memory=64))
    mp = params(["live"])
    s, d, r = begin_prepare(p, "g", mp)
    perf = s.call("migrate.perform", {"name": "g", "params": mp, "version": 3,
                                      "cookie": r["cookie"], "uri": r["uri"]}, timeout=120)
    p.dst.kill()
    d.close()
    edit_record(p.dst, "g", phase="finish", ending="success")
    p.dst.start()
    assert logged(p.dst, "interrupted by an agent restart: finished")
    assert p.dst.state_of("g") == "running"
    assert qmp_status(p.dst, "g") == "running"
    assert records(p.dst) == [], records(p.dst)
    assert p.dst.ctl_json("domjobinfo", "g", "--completed")["status"] == "completed"
    s.call("migrate.confirm", {"name": "g", "params": mp, "version": 3,
                               "cookie": perf["cookie"], "cancelled": False})
    s.close()
    assert "g" not in p.src.domains(all_=False)
    p.stop()


def test_source_killed_during_confirm():
    """The source agent dies inside a Confirm of a migration that
    succeeded: the guest runs on the destination, so the source stops its
    copy and the job ends as completed."""
    need_qemu()
    p = Pair("rconf")
    start_guest(p.src, "g", **guest_kw(rate=4, size=16, memory=64))
    mp = params(["live"])
    s, d, r = begin_prepare(p, "g", mp)
    perf = s.call("migrate.perform", {"name": "g", "params": mp, "version": 3,
                                      "cookie": r["cookie"], "uri": r["uri"]}, timeout=120)
    d.call("migrate.finish", {"name": "g", "params": mp, "version": 3,
                              "cookie": perf["cookie"], "cancelled": False})
    d.close()
    src_qemu = p.src.qemu_pid("g")
    p.src.kill()
    s.close()
    edit_record(p.src, "g", phase="confirm", ending="success")
    p.src.start()
    assert logged(p.src, "interrupted by an agent restart: stopped")
    wait_for(lambda: not pid_alive(src_qemu), 20, "the source QEMU to stop")
    assert "g" not in p.src.domains(all_=False)
    assert records(p.src) == [], records(p.src)
    assert p.dst.state_of("g") == "running"
    p.stop()


def test_v2_dest_killed_after_prepare():
    """Protocol v2: the destination agent dies after Prepare and the
    source's Perform completes (and stops the source guest) meanwhile. The
    restarted destination applies the v2 close rule: a complete stream is
    finished here, so the guest is not lost."""
    need_qemu()
    p = Pair("rv2", "--max-protocol", "2")
    start_guest(p.src, "g", **guest_kw(rate=4, size=16, memory=64))
    s, d = Wire(p.src), Wire(p.dst)
    mp = params(["live"])
    xml = s.call("domain.xml", {"name": "g"})
    xml = xml["xml"] if isinstance(xml, dict) else xml
    r = d.call("migrate.prepare", {"params": mp, "version": 2, "xml": xml,
                                   "dest_host": "127.0.0.1"})
    p.dst.kill()
    d.close()
    s.call("migrate.perform", {"name": "g", "params": mp, "version": 2, "cookie": r["cookie"],
                               "uri": r["uri"]}, timeout=120)
    s.close()
    assert "g" not in p.src.domains(all_=False)
    p.dst.start()
    assert logged(p.dst, "interrupted by an agent restart: finished")
    assert p.dst.state_of("g") == "running"
    assert qmp_status(p.dst, "g") == "running"
    assert p.dst.ctl_json("domjobinfo", "g", "--completed")["status"] == "completed"
    assert records(p.dst) == [], records(p.dst)
    p.stop()


def test_dest_qemu_gone():
    """The destination agent and its incoming QEMU both die after Prepare:
    the record is dropped and the targets Prepare created are removed."""
    need_qemu()
    p = Pair("rgone")
    start_guest(p.src, "g", disk_mib=32, data_mib=4, **guest_kw(rate=4, size=16, memory=64))
    s, d, _ = begin_prepare(p, "g", params(["live", "non_shared_disk"]))
    pid = p.dst.qemu_pid("g")
    assert images(p.dst)
    p.dst.kill()
    d.close()
    stop_pid(pid, timeout=10)
    # A record is data, not a licence: a path outside the image dir stays.
    outside = os.path.join(p.dst.dir, "not-a-target.raw")
    open(outside, "wb").close()
    path = os.path.join(p.dst.state, "jobs", "g.json")
    rec = json.load(open(path))
    edit_record(p.dst, "g", created_targets=rec["created_targets"] + [
        outside, os.path.join(p.dst.images, "..", "not-a-target.raw")])
    p.dst.start()
    assert logged(p.dst, "interrupted by an agent restart: dropped")
    assert images(p.dst) == [], images(p.dst)
    assert os.path.exists(outside), "the recovery removed a file outside the image dir"
    assert records(p.dst) == [], records(p.dst)
    assert "g" not in p.dst.domains()
    s.close()
    assert qmp_status(p.src, "g") == "running"
    p.stop()


if __name__ == "__main__":
    r = Runner(900)
    for t in (test_source_killed_during_disk_copy, test_source_killed_during_ram,
              test_source_killed_during_qemu_mirror,
              test_dest_killed_after_prepare,
              test_source_killed_after_perform, test_dest_killed_during_finish,
              test_source_killed_during_confirm, test_v2_dest_killed_after_prepare,
              test_dest_qemu_gone, test_dest_incoming_without_record,
              test_stale_leftovers_without_job):
        r.run(t)
    r.finish()
