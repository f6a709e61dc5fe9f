#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Python client library (python/ferry) against real agents: HELLO and
plain calls, a managed --copy-storage-all migration with ferry.migrate, its
events through the iterator, and an abort that leaves the guest on the
source."""

import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "python"))

import ferry  # noqa: E402
from ferrytest import (Agent, Runner, first_difference, need_qemu, wait_for)  # noqa: E402
from test_fleet import start_disk_guest, stop_all  # noqa: E402
from test_migrate import guest_kw, heartbeats, wait_heartbeat  # noqa: E402


def test_calls_and_errors():
    a = Agent("py-calls").start()
    with ferry.Client.connect(a.control) as c:
        assert c.peer.role == "agent" and 3 in c.peer.versions, c.peer
        info = c.host_info()
        assert info["host_uuid"] == c.peer.host_uuid and info["maintenance"] is False, info
        assert "<capabilities>" in c.host_capabilities()
        assert c.domain_list(all=True) == []
        try:
            c.domain_state("nosuch")
            raise AssertionError("domain.state of a missing domain succeeded")
        except ferry.FerryError as e:
            assert e.code == "not-found" and "nosuch" in e.message, e
        try:
            c.call("no.such.method")
            raise AssertionError("an unknown method succeeded")
        except ferry.FerryError as e:
            assert e.code == "unsupported", e
        assert c.host_maintenance(True)["maintenance"] is True
        assert c.host_maintenance()["maintenance"] is True
        assert c.host_maintenance(False)["maintenance"] is False
    with ferry.Client.connect(a.uri, auth_key=a.key) as c:  # the same over TCP
        assert c.host_info()["host_uuid"]
    a.stop()


def test_managed_copy_storage():
    need_qemu()
    src = Agent("py-src").start()
    dst = Agent("py-dst").start()
    disk = start_disk_guest(src, "g", disk_mib=32, **guest_kw(rate=8, size=32, memory=96))
    hb = wait_heartbeat(src, "g", after=1)
    events = []
    sub = ferry.Client.connect(src.control)

    def collect():
        for ev in sub.events(timeout=60):
            events.append(ev)
            if ev.event in ("migration-completed", "migration-failed"):
                return
    t = threading.Thread(target=collect)
    t.start()
    # events() subscribes on its first next(): wait for the reply.
    wait_for(lambda: sub.subscription, 10, "the events subscription")
    steps = []
    with ferry.Client.connect(src.control) as s, ferry.Client.connect(dst.uri, auth_key=dst.key) as d:
        res = ferry.migrate(s, d, "g", flags=["live", "non_shared_disk"], on_step=steps.append)
    assert steps == ["begin", "prepare", "perform", "finish", "confirm"], steps
    assert res.name == "g" and res.uri, res
    assert res.statistics["status"] == "completed" and res.statistics["disk_total"] > 0, \
        res.statistics
    assert "<statistics>" in res.cookies["perform"], res.cookies
    t.join(30)
    sub.close()
    names = [e.event for e in events]
    assert "migration-started" in names and "migration-completed" in names, names
    assert all(e.domain == "g" and e.seq > 0 for e in events if e.event.startswith("migration"))
    assert dst.state_of("g") == "running"
    after = wait_heartbeat(dst, "g", after=hb[0])
    assert after[2] == 0, after
    with ferry.Client.connect(dst.uri, auth_key=dst.key) as d:
        path = [x for x in d.domain_blklist("g") if x["target"] == "vda"][0]["source"]
        d.domain_destroy("g")
    assert first_difference(disk, path) is None
    stop_all(src, dst)


def test_abort():
    need_qemu()
    src = Agent("pyab-src").start()
    dst = Agent("pyab-dst").start()
    start_disk_guest(src, "big", disk_mib=16, **guest_kw(rate=512, size=192, memory=256))
    wait_heartbeat(src, "big", after=2)
    out = {}

    def run():
        with ferry.Client.connect(src.control) as s, ferry.Client.connect(dst.uri, auth_key=dst.key) as d:
            try:
                ferry.migrate(s, d, "big", flags=["live", "non_shared_disk"],
                              params={"bandwidth": 1})
                out["r"] = "completed"
            except ferry.MigrationError as e:
                out["r"] = e
    t = threading.Thread(target=run)
    t.start()
    with ferry.Client.connect(src.control) as w:
        wait_for(lambda: w.job_info("big").get("phase") == "perform", 60,
                 "the migration in perform")
        w.job_abort("big")
    t.join(90)
    e = out.get("r")
    assert isinstance(e, ferry.MigrationError), e
    assert e.step == "perform" and e.code == "cancelled", (e.step, e.code, str(e))
    assert not e.guest_on_destination and not e.cleanup_errors, e.cleanup_errors
    assert src.state_of("big") == "running"
    wait_for(lambda: "big" not in dst.domains(), 20, "the destination to forget 'big'")
    with ferry.Client.connect(src.control) as w:
        info = w.job_info("big", completed=True)
        assert info["status"] == "cancelled", info
    hb = heartbeats(src, "big")[-1]
    assert wait_heartbeat(src, "big", after=hb[0])[2] == 0
    stop_all(src, dst)


if __name__ == "__main__":
    r = Runner(600)
    for t in (test_calls_and_errors, test_managed_copy_storage, test_abort):
        r.run(t)
    r.finish()
