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
import sys
import time

import ferrytest as ft
import linuxguest as lg

QEMU = os.environ.get("FERRY_QEMU", "qemu-system-x86_64")
BOOT_TIMEOUT_S = 60  # READY takes ~3 s under TCG here; generous for a loaded host
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
        lg.wait_records(g, 4096, 60)
        v = g.console.selfcheck()
        print("selfcheck:", v["line"], flush=True)
        assert v["verdict"] == "ok", v["line"]
        assert v["records"] >= 4096 and v["write_errors"] == 0, v
        assert v["gen"] == r["gen"], (v, r)
        # The same check asked over the heartbeat's flow (ferryd's guests have
        # an output-only serial file): the same journal, further along.
        vn = hb.selfcheck()
        print("selfcheck over the network:", vn["line"], flush=True)
        assert vn["verdict"] == "ok" and vn["gen"] == r["gen"] and vn["last"] >= v["last"], vn
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
        lg.wait_records(g, 2048, 60)
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


def test_plain_migration():
    """Source -> -incoming destination on 127.0.0.1, one shared image, the
    workload writing and beating all along."""
    m = manifest()
    image = ft.make_disk(os.path.join(ft.tmpdir(), "mig.img"), DISK_MIB << 20)
    r = lg.migrate_plain(QEMU, m, ft.tmpdir(), image, rate_mib=RATE_MIB, procs=ft._procs)
    hb, v = r["hb"], r["verdict"]
    print("selfcheck on the destination:", v["line"], flush=True)
    print("migration: %.2f s, QEMU downtime %s ms, total %s ms; heartbeat: max gap %s ms "
          "(after seq %s), lost %d %s, duplicates %d" % (
              r["seconds"], r["info"].get("downtime"), r["info"].get("total-time"),
              hb["max_gap_ms"], hb["gap_after_seq"], hb["lost_count"], hb["lost"][:10],
              hb["duplicates"]), flush=True)
    gen = r["ready"]["gen"]
    # The destination runs the same workload (generation), further along.
    assert r["after"]["gen"] == gen and r["after"]["last"] >= r["before"]["last"], r
    assert v["verdict"] == "ok" and v["gen"] == gen and v["write_errors"] == 0, v["line"]
    assert v["last"] > r["after"]["last"], (v, r["after"])
    vn = r["net_verdict"]
    assert vn["verdict"] == "ok" and vn["gen"] == gen and vn["last"] >= v["last"], vn["line"]
    assert hb["gens"] == [gen] and hb["count"] >= 100 and hb["max_gap_ms"] is not None, hb


def main():
    runner = ft.Runner(240)
    runner.run(test_boot_selfcheck_heartbeat)
    runner.run(test_selfcheck_detects_corruption)
    runner.run(test_plain_migration)
    runner.finish()


if __name__ == "__main__":
    sys.dont_write_bytecode = True
    main()
