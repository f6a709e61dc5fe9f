#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Agents SIGKILLed after the switch to post-copy and started again, with
ferry's test guest (it dirties its RAM faster than pre-copy moves it and
checks every page it wrote). The job record says the switch was asked of
QEMU, so a restarted source never resumes its guest (QEMU's stream is left
alone: the destination may still need its pages) and a restarted
destination never tears its guest down (docs/control-api.md "Post-copy").
Also virsh's --timeout-postcopy: the switch instead of the suspend."""

import json
import os
import time

from ferrytest import Runner, Skip, need_qemu, pid_alive, wait_for
from test_orphan import Pair, Wire, begin_prepare, params, qmp_status, start_guest
from test_postcopy import CAP, FAST_GUEST, Events, guest_kw, statuses, wait_heartbeat
from test_recover import edit_record, logged, migration_status, qmp, records

RESTART = "interrupted by an agent restart: "


def postcopy_params(**extra):
    # Switched after the first full pass; the post-copy phase then crawls
    # at 1 MiB/s (96 MiB), so the kills below land inside it.
    return params(["live", "postcopy"], bandwidth=int(CAP), postcopy_after_precopy=True,
                  postcopy_bandwidth=1, **extra)


def perform_until_switch(p, mp):
    """Begin, Prepare, Perform over raw connections: Perform returns once
    the source QEMU reports postcopy-active."""
    start_guest(p.src, "g", **guest_kw(**FAST_GUEST))
    wait_heartbeat(p.src, "g", after=1)
    s, d, r = begin_prepare(p, "g", mp)
    try:
        perf = s.call("migrate.perform", {"name": "g", "params": mp, "version": 3,
                                          "cookie": r["cookie"], "uri": r["uri"]}, timeout=150)
    except AssertionError as e:
        if "ostcopy is not supported" in str(e):
            raise Skip("QEMU has no post-copy here (userfaultfd)")
        raise
    assert migration_status(p.src, "g") == "postcopy-active"
    return s, d, perf


def record(agent, dom):
    with open(os.path.join(agent.state, "jobs", dom + ".json")) as f:
        return json.load(f)


def unlimit_postcopy(agent, dom):
    """The rest of the pages at full speed (QEMU's max-postcopy-bandwidth 0)."""
    qmp(agent, dom, "migrate-set-parameters", {"max-postcopy-bandwidth": 0})


def test_source_restart_before_perform_answer():
    """The source agent dies between the switch and Perform's answer (the
    record is put back to that point: perform_done false). Before the switch
    was recorded the restart cancelled QEMU's stream and resumed the guest
    (run twice, the destination's writes lost). Now it is kept paused; the
    destination finishes; a cancelling Confirm (all an orchestrator that
    lost Perform's answer can send) finds QEMU's stream completed and ends
    the job as a completed migration."""
    need_qemu()
    p = Pair("pcr-src")
    mp = postcopy_params()
    s, d, _ = perform_until_switch(p, mp)
    src_qemu = p.src.qemu_pid("g")
    p.src.kill()
    s.close()
    assert record(p.src, "g")["postcopy"] is True, record(p.src, "g")
    edit_record(p.src, "g", perform_done=False)
    p.src.start()
    assert logged(p.src, RESTART + "kept-paused"), p.src.log_tail()
    assert qmp_status(p.src, "g") != "running"
    assert migration_status(p.src, "g") == "postcopy-active", "the restart cut the stream"
    assert p.src.ctl("domstate", "g", "--reason").stdout == "paused (post-copy)\n"
    info = p.src.ctl_json("domjobinfo", "g")
    assert "after the switch to post-copy" in info.get("orphaned", ""), info
    # The destination finishes: the guest runs there with all its pages.
    unlimit_postcopy(p.src, "g")
    d.call("migrate.finish", {"name": "g", "params": mp, "version": 3, "cancelled": False},
           timeout=120)
    d.close()
    assert p.dst.state_of("g") == "running"
    hb = wait_heartbeat(p.dst, "g", after=1)
    assert hb[2] == 0, "the destination's guest reports %d stale pages" % hb[2]
    wait_for(lambda: migration_status(p.src, "g") == "completed", 30, "QEMU's stream to end")
    # Cancelled, but QEMU completed the post-copy stream: a completion.
    s = Wire(p.src)
    s.call("migrate.confirm", {"name": "g", "params": mp, "version": 3, "cancelled": True})
    s.close()
    wait_for(lambda: not pid_alive(src_qemu), 20, "the source QEMU to stop")
    assert p.src.ctl_json("domjobinfo", "g", "--completed")["status"] == "completed"
    assert records(p.src) == [], records(p.src)
    assert p.dst.state_of("g") == "running"
    p.stop()


def test_source_restart_after_destination_finished():
    """Perform answered, the destination's Finish succeeded, and the source
    agent died before Confirm. Its QEMU's post-copy stream completed (the
    destination loaded every page), so the restart ends the job as a
    completed migration and stops the source QEMU; before, it kept the
    guest paused and a cancelling Confirm then resumed it."""
    need_qemu()
    p = Pair("pcr-done")
    mp = postcopy_params()
    s, d, perf = perform_until_switch(p, mp)
    src_qemu = p.src.qemu_pid("g")
    unlimit_postcopy(p.src, "g")
    d.call("migrate.finish", {"name": "g", "params": mp, "version": 3, "cookie": perf["cookie"],
                              "cancelled": False}, timeout=120)
    d.close()
    wait_for(lambda: migration_status(p.src, "g") == "completed", 30, "QEMU's stream to end")
    p.src.kill()
    s.close()
    p.src.start()
    assert logged(p.src, RESTART + "stopped"), p.src.log_tail()
    wait_for(lambda: not pid_alive(src_qemu), 20, "the source QEMU to stop")
    assert p.src.ctl_json("domjobinfo", "g", "--completed")["status"] == "completed"
    assert records(p.src) == [], records(p.src)
    assert p.dst.state_of("g") == "running"
    hb = wait_heartbeat(p.dst, "g", after=1)
    assert hb[2] == 0, "the destination's guest reports %d stale pages" % hb[2]
    p.stop()


def test_source_restart_during_cancelled_confirm():
    """The source agent dies inside a cancelled Confirm after the switch
    (the record is put in that phase). The restart does that Confirm again
    without cancelling QEMU's stream: the guest stays paused, and since the
    destination's outcome is unknown (pages still flow), it says so:
    postcopy-unknown, not failed."""
    need_qemu()
    p = Pair("pcr-conf")
    mp = postcopy_params()
    s, d, _ = perform_until_switch(p, mp)
    p.src.kill()
    s.close()
    edit_record(p.src, "g", phase="confirm", ending="cancelled")
    p.src.start()
    assert logged(p.src, RESTART + "kept-paused"), p.src.log_tail()
    assert migration_status(p.src, "g") == "postcopy-active", "the restart cut the stream"
    st = p.src.ctl("domstate", "g", "--reason").stdout
    assert st == "paused (post-copy failed)\n", st
    assert p.src.ctl_json("domstate", "g")["reason"] == "postcopy-unknown"
    r = p.src.ctl("resume", "g", check=False)
    assert r.returncode == 1 and "post-copy" in r.stderr, r.stderr
    assert qmp_status(p.src, "g") != "running"
    err = p.src.ctl_json("domjobinfo", "g", "--completed").get("error", "")
    assert "outcome there is unknown" in err, err
    assert records(p.src) == [], records(p.src)
    d.close()
    p.stop()


def test_dest_restart_during_finish():
    """The destination agent dies while Finish waits for the last pages
    (the guest runs there). The restarted agent finishes the job: the
    guest keeps running there, its memory intact. Meanwhile job.info on
    the destination showed the post-copy phase."""
    need_qemu()
    p = Pair("pcr-dst")
    mp = postcopy_params()
    s, d, perf = perform_until_switch(p, mp)
    d.send("migrate.finish", {"name": "g", "params": mp, "version": 3, "cookie": perf["cookie"],
                              "cancelled": False})
    wait_for(lambda: p.dst.state_of("g") == "running", 30, "the guest to run on the destination")
    info = p.dst.ctl_json("domjobinfo", "g")
    assert info.get("status") == "postcopy-active" and info.get("phase") == "finish", info
    assert record(p.dst, "g")["postcopy"] is True, record(p.dst, "g")
    dst_qemu = p.dst.qemu_pid("g")
    p.dst.kill()
    d.close()
    unlimit_postcopy(p.src, "g")
    p.dst.start()
    assert logged(p.dst, RESTART + "finished"), p.dst.log_tail()
    assert p.dst.qemu_pid("g") == dst_qemu and pid_alive(dst_qemu)
    assert p.dst.state_of("g") == "running"
    assert records(p.dst) == [], records(p.dst)
    hb = wait_heartbeat(p.dst, "g", after=1)
    assert hb[2] == 0, "the destination's guest reports %d stale pages" % hb[2]
    s.call("migrate.confirm", {"name": "g", "params": mp, "version": 3,
                               "cookie": perf["cookie"], "cancelled": False})
    s.close()
    assert "g" not in p.src.domains(all_=False)
    p.stop()


def test_dest_restart_cancelled_finish_keeps_disks():
    """A destination that went post-copy (the record says so) and restarts
    inside a cancelled Finish keeps its guest and the disk targets
    Prepare made (--copy-storage-all): before, the restart removed the
    images of the guest it kept."""
    need_qemu()
    p = Pair("pcr-keep")
    mp = postcopy_params()
    mp["flags"].append("non_shared_disk")
    s, d, perf = perform_until_switch(p, mp)
    d.send("migrate.finish", {"name": "g", "params": mp, "version": 3, "cookie": perf["cookie"],
                              "cancelled": False})
    wait_for(lambda: p.dst.state_of("g") == "running", 30, "the guest to run on the destination")
    wait_for(lambda: record(p.dst, "g").get("postcopy"), 10, "the record to say post-copy")
    targets = record(p.dst, "g")["created_targets"]
    assert targets and all(os.path.exists(t) for t in targets), targets
    p.dst.kill()
    d.close()
    edit_record(p.dst, "g", ending="cancelled")
    p.dst.start()
    assert logged(p.dst, RESTART + "kept"), p.dst.log_tail()
    assert all(os.path.exists(t) for t in targets), "the kept guest's disks were removed"
    st = p.dst.ctl("domstate", "g", "--reason").stdout
    assert st == "running (post-copy failed)\n", st
    s.close()
    p.stop()


def test_timeout_postcopy():
    """--timeout N --timeout-postcopy: when N seconds pass the source
    switches to post-copy instead of suspending the guest, and a migration
    pre-copy could not finish completes. Refused by name without --postcopy
    or --timeout, and with --timeout-suspend."""
    need_qemu()
    p = Pair("pcr-tmo")
    start_guest(p.src, "g", **guest_kw(**FAST_GUEST))
    for args, msg in [
            (["--live", "--timeout", "3", "--timeout-postcopy"],
             "--timeout-postcopy requires --postcopy"),
            (["--live", "--postcopy", "--timeout-postcopy"],
             "--timeout-postcopy requires --timeout"),
            (["--live", "--postcopy", "--timeout", "3", "--timeout-suspend", "--timeout-postcopy"],
             "--timeout-suspend and --timeout-postcopy are mutually exclusive")]:
        r = p.src.ctl("migrate", *args, "g", p.dst.uri, check=False)
        assert r.returncode != 0 and msg in r.stderr, (args, r.stderr)
    hb = wait_heartbeat(p.src, "g", after=1)
    ev = Events(p.src, "g")
    t0 = time.time()
    r = p.src.ctl("migrate", "--live", "--postcopy", "--timeout", "3", "--timeout-postcopy",
                  "--bandwidth", CAP, "g", p.dst.uri, check=False, timeout=150)
    evs = ev.stop()
    if r.returncode != 0 and "ostcopy is not supported" in r.stderr:
        raise Skip("QEMU has no post-copy here (userfaultfd)")
    assert r.returncode == 0, r.stderr
    names = [e.get("event") for e in evs]
    assert "migration-timeout-postcopy" in names, names
    assert "migration-timeout-suspend" not in names, names
    sts = statuses(evs)
    assert "postcopy-active" in sts and sts[-1] == "completed", sts
    assert time.time() - t0 < 120
    assert p.dst.state_of("g") == "running"
    after = wait_heartbeat(p.dst, "g", after=hb[0] + 1)
    assert after[2] == 0, "guest on the destination reports %d stale pages" % after[2]
    p.stop()


if __name__ == "__main__":
    r = Runner(180)
    for t in (test_source_restart_before_perform_answer,
              test_source_restart_after_destination_finished,
              test_source_restart_during_cancelled_confirm,
              test_dest_restart_during_finish,
              test_dest_restart_cancelled_finish_keeps_disks,
              test_timeout_postcopy):
        r.run(t)
    r.finish()
