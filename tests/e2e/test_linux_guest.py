# SPDX-License-Identifier: LGPL-2.1-or-later
"""e2e: ferry's Linux test guest (tests/guest/linux) under plain QEMU, no
ferryd: it boots in bounded time, its disk workload passes its own
self-check, its heartbeat reaches the host; the self-check fails, naming the
record, when one acknowledged record is corrupted on the image; and the guest
survives a plain QEMU live migration (shared image) with its workload
running, self-check ok on the destination, the heartbeat gap reported.

Skips (77) when the build could not make the guest (no linux-image-cloud-amd64,
busybox-static or cpio installed) or QEMU is absent."""

import os
import socket
import sys
import time

import ferrytest as ft
import linuxguest as lg

QEMU = os.environ.get("FERRY_QEMU", "qemu-system-x86_64")
BOOT_TIMEOUT_S = 60  # ~4.5 s under TCG on an idle 2-core host; generous for a loaded one
DISK_MIB = 64
RATE_MIB = 8  # with a 64 MiB disk: the workload wraps after 8 s


def manifest():
    ft.need_qemu()
    m = lg.load_manifest()
    if "SKIP" in m:
        raise ft.Skip("no Linux guest: %s" % m["SKIP"])
    return m


def start_guest(m, name, image, hb=None, incoming=None, rate=RATE_MIB):
    cmdline = lg.kernel_cmdline(rate_mib=rate, hb_port=hb.port if hb else None)
    # ferrytest's cleanup stops the processes in its list, also on its timeout.
    return lg.Guest(QEMU, m, ft.tmpdir(), name, image, cmdline, incoming=incoming,
                    procs=ft._procs)


def wait_records(g, at_least, timeout):
    """Waits until the workload has acknowledged AT_LEAST records."""
    end = time.monotonic() + timeout
    while True:
        st = g.console.status()
        if st["last"] >= at_least:
            return st
        if time.monotonic() > end:
            raise AssertionError("%s: only %d records acknowledged after %ss: %s" % (
                g.name, st["last"], timeout, st))
        time.sleep(0.5)


def test_boot_selfcheck_heartbeat():
    m = manifest()
    hb = lg.HeartbeatReceiver()
    image = ft.make_disk(os.path.join(ft.tmpdir(), "boot.img"), DISK_MIB << 20)
    g = start_guest(m, "boot", image, hb)
    try:
        r = g.wait_ready(BOOT_TIMEOUT_S)
        print("boot: FERRY-READY %.2f s after QEMU started (guest uptime %d ms), accel %s, "
              "kernel %s" % (r["boot_s"], r["uptime_ms"], lg.accel(), m["VERSION"]), flush=True)
        t_ready = time.monotonic()
        # A few seconds of writes: 8 MiB/s is 2048 records a second.
        wait_records(g, 4096, 60)
        v = g.console.selfcheck()
        print("selfcheck:", v["line"], flush=True)
        assert v["verdict"] == "ok", v["line"]
        assert v["records"] >= 4096 and v["write_errors"] == 0, v
        assert v["gen"] == r["gen"], (v, r)
        # The heartbeat: every 10 ms since READY.
        ft.wait_for(lambda: hb.count() >= 100, 30, "100 heartbeats")
        rep = hb.report(since=t_ready)
        print("heartbeat:", rep, flush=True)
        assert rep["count"] >= 100 and rep["gens"] == [r["gen"]], rep
        assert rep["duplicates"] == 0 and rep["out_of_order"] == 0, rep
    finally:
        g.stop()
        hb.close()


def test_selfcheck_detects_corruption():
    """The check can fail: one acknowledged record is corrupted on the image
    while the guest is stopped; the guest re-reads with O_DIRECT (its page
    cache cannot hide the damage) and names that record."""
    m = manifest()
    image = ft.make_disk(os.path.join(ft.tmpdir(), "corrupt.img"), DISK_MIB << 20)
    g = start_guest(m, "corrupt", image)
    try:
        r = g.wait_ready(BOOT_TIMEOUT_S)
        wait_records(g, 2048, 60)
        g.qmp.execute("stop")  # drains the guest's in-flight requests
        recs = lg.read_records(image, gen=r["gen"])
        assert recs and all(ok for _, _, ok in recs.values()), "records before corruption bad"
        # The writer is sequential: every record older than the newest one on
        # the disk was acknowledged and journaled. The one just before it is
        # overwritten last when the workload wraps.
        newest = max(seq for seq, _, _ in recs.values())
        slot, (seq, _, _) = next((s, v) for s, v in recs.items() if v[0] == newest - 1)
        lg.corrupt_record(image, slot)
        print("corrupted record %d in slot %d (newest on disk: %d)" % (seq, slot, newest),
              flush=True)
        g.qmp.execute("cont")
        v = g.console.selfcheck()
        print("selfcheck:", v["line"], flush=True)
        assert v["verdict"] == "fail", v["line"]
        assert v["record"] == seq and v["slot"] == slot and v["reason"] == "crc", v
        assert v["bad"] == 1, v
    finally:
        g.stop()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_plain_migration():
    """Source -> -incoming destination on 127.0.0.1, one shared image, the
    workload writing and beating all along."""
    m = manifest()
    hb = lg.HeartbeatReceiver()
    image = ft.make_disk(os.path.join(ft.tmpdir(), "mig.img"), DISK_MIB << 20)
    src = start_guest(m, "mig-src", image, hb)
    dst = None
    try:
        r = src.wait_ready(BOOT_TIMEOUT_S)
        wait_records(src, 2048, 60)
        dst = start_guest(m, "mig-dst", image, hb, incoming="defer")
        port = free_port()
        dst.qmp.execute("migrate-incoming", {"uri": "tcp:127.0.0.1:%d" % port})
        src.qmp.execute("migrate-set-parameters", {"max-bandwidth": 1 << 30,
                                                   "downtime-limit": 300})
        before = src.console.status()
        t0 = time.monotonic()
        src.qmp.execute("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        info = ft.wait_for(lambda: (lambda i: i if i.get("status") in ("completed", "failed")
                                    else None)(src.qmp.execute("query-migrate")),
                           120, "the migration to finish")
        t1 = time.monotonic()
        assert info["status"] == "completed", info
        ft.wait_for(lambda: dst.qmp.execute("query-status")["status"] == "running", 30,
                    "the destination to run")
        # The destination's console: the same workload (generation), still going.
        after = dst.console.status()
        assert after["gen"] == r["gen"], (after, r)
        assert after["last"] >= before["last"], (before, after)
        wait_records(dst, after["last"] + 1024, 60)
        v = dst.console.selfcheck()
        print("selfcheck on the destination:", v["line"], flush=True)
        assert v["verdict"] == "ok", v["line"]
        time.sleep(1)  # heartbeats after the switchover
        rep = hb.report(since=t0 - 1)
        print("migration: %.2f s, QEMU downtime %s ms, total %s ms; heartbeat: max gap %s ms "
              "(after seq %s), lost %d %s, duplicates %d" % (
                  t1 - t0, info.get("downtime"), info.get("total-time"), rep["max_gap_ms"],
                  rep["gap_after_seq"], rep["lost_count"], rep["lost"][:10], rep["duplicates"]),
              flush=True)
        assert rep["gens"] == [r["gen"]], rep
        assert rep["count"] >= 100, rep
    finally:
        src.stop()
        if dst:
            dst.stop()
        hb.close()


def main():
    runner = ft.Runner(240)
    runner.run(test_boot_selfcheck_heartbeat)
    runner.run(test_selfcheck_detects_corruption)
    runner.run(test_plain_migration)
    runner.finish()


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    main()
