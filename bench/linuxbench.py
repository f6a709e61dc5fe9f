# SPDX-License-Identifier: LGPL-2.1-or-later
"""One live migration with storage of ferry's Linux test guest
(tests/guest/linux) for bench/migration.py --workload linux: the guest's own
workload writes checksummed records to its disk at a set rate, rewrites a
RAM working set and sends a UDP heartbeat every 10 ms to this process.
Downtime comes out three ways: QEMU's figure (domjobinfo --completed), the
agents' STOP-to-RESUME events, and the heartbeat's largest gap. Checks: the
destination's image against the source's as the switchover left it, and the
guest's own self-check on the destination."""

import os
import subprocess
import sys
import time

from benchlib import BenchError, stop_pid
import ferrybench as fb

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "guest", "linux"))
import linuxguest as lg  # noqa: E402


def migrate_once(pair, manifest, name, disk_template, engine, disk_rate, ram_mib, ram_rate,
                 memory_mib=256, time_limit=120, auto_converge=False):
    """DISK_RATE, RAM_RATE: MiB/s, 0 = as fast as the guest can. Returns a
    record like ferrybench.migrate_once's, plus "downtime_ms" (the three
    figures) and the checks."""
    src, dst = pair.src, pair.dst
    rec = {"engine": engine, "auto_converge": auto_converge, "workload": "linux",
           "disk_write_rate": disk_rate, "dirty_rate": ram_rate, "ram_mib": ram_mib,
           "domain": name}
    disk = os.path.join(src.images, f"{name}-vda.raw")
    fb.copy_sparse(disk_template, disk)
    hb = lg.HeartbeatReceiver()
    cmdline = lg.kernel_cmdline(rate_mib=disk_rate, hb_port=hb.port, span_mib=64,
                                extra=f"ferry.ram={ram_mib} ferry.ramrate={ram_rate}")
    xml = os.path.join(src.dir, name + ".xml")
    with open(xml, "w") as f:
        f.write(lg.domain_xml(name, manifest, disk, cmdline, memory_mib))
    streams = []
    try:
        src.ctl("define", xml)
        src.ctl("start", name)
        fb.wait_for(lambda: hb.count() > 0, 90, f"{name}: the guest's first heartbeat")
        gen = hb.status()["gen"]
        # Warm: the whole span written once, so the copy has the guest's data.
        fb.wait_for(lambda: hb.status()["last"] >= 16384 + 1024, 120, f"{name}: 64 MiB written")
        streams = [fb.EventStream(src, name), fb.EventStream(dst, name)]
        time.sleep(0.3)  # both subscriptions in place
        before = hb.status()
        argv = [src.ferryctl, "-c", src.control, "migrate", "--live", "--copy-storage-all",
                "--persistent", "--storage-engine", engine]
        if auto_converge:
            argv.append("--auto-converge")
        argv += [name, dst.uri]
        t_start = fb.wall_ms()
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True)
        try:
            _, err = proc.communicate(timeout=time_limit)
        except subprocess.TimeoutExpired:
            src.ctl("domjobabort", name, check=False, timeout=30)
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                stop_pid(proc.pid)
            rec.update(outcome=f"did not converge in {time_limit} s", converged=False)
            return rec
        t1 = time.monotonic()
        rec["wall_s"] = t1 - t0
        if proc.returncode != 0:
            rec.update(outcome="failed", converged=False, error=err.strip()[-600:])
            return rec
        rec.update(outcome="converged", converged=True)
        rec["job"] = src.ctl_json("domjobinfo", name, "--completed", timeout=30)
        # The heartbeat's gap can end after migrate returns: wait for the
        # destination's first heartbeat before stopping the guest to compare.
        t2 = hb.wait_arrival_after(t1)
        dst.ctl("suspend", name)
        dst_disk = [d for d in os.listdir(dst.images) if d.startswith(name + "-vda")]
        cmp = lg.compare_switchover(disk, os.path.join(dst.images, dst_disk[0]), gen) \
            if dst_disk else {"bad_count": 1, "bad": ["no destination image"]}
        dst.ctl("resume", name)
        verdict = hb.selfcheck()
        for s in streams:
            s.stop()
        sus = [t for e, t, _ in streams[0].events if e == "suspended" and t >= t_start]
        res = [t for e, t, _ in streams[1].events if e == "resumed" and t >= t_start]
        after = [t for t in res if sus and t >= sus[-1]]
        rep = hb.report(since=t0, until=t2 if t2 else t1)
        rec["downtime_ms"] = {"qemu": rec["job"].get("downtime"),
                              "storage": rec["job"].get("storage_downtime"),
                              "events": after[0] - sus[-1] if after else None,
                              "heartbeat_gap": rep["max_gap_ms"]}
        rec["heartbeat"] = {k: rep[k] for k in ("count", "lost_count", "duplicates")}
        rec["disk_check"] = {k: cmp.get(k) for k in ("identical", "rewritten", "src_last",
                                                      "bad_count", "bad")}
        rec["selfcheck"] = verdict["line"]
        rec["status_after"] = hb.status()
        rec["guest_writes_mib_s"] = round(
            (cmp.get("src_last", 0) - before["last"]) * 4096 / (1 << 20) / rec["wall_s"], 1)
        rec["verified"] = (cmp["bad_count"] == 0 and verdict["verdict"] == "ok" and
                           verdict["gen"] == gen)
        return rec
    except (BenchError, lg.GuestError, AssertionError) as e:
        rec.update(outcome="failed", converged=False, error=str(e)[-600:])
        # What the guest printed last, on either side: why it stopped beating.
        for a in (src, dst):
            try:
                with open(a.serial(name), errors="replace") as f:
                    rec["serial_tail_" + a.name] = f.read().splitlines()[-8:]
            except OSError:
                pass
        rec["heartbeat_at_failure"] = hb.report()
        return rec
    finally:
        for s in streams:
            if s.proc.poll() is None:
                s.stop()
        hb.close()
        for a in (dst, src):
            a.ctl("destroy", name, check=False)
            a.ctl("undefine", name, check=False)
        for d in (src.images, dst.images):
            for f in os.listdir(d):
                if f.startswith(name + "-"):
                    os.unlink(os.path.join(d, f))


def run(args, pair_factory, root, make_template):
    """bench/migration.py --workload linux: each disk rate x each config,
    --runs rounds, interleaved; prints the three downtime figures per run."""
    manifest = lg.load_manifest(args.linux_manifest or os.path.join(
        args.build, "tests", "guest", "linux", "ferry-linux.manifest"))
    if "SKIP" in manifest:
        print(f"SKIP: no Linux guest: {manifest['SKIP']}")
        return 77, []
    tmpl = os.path.join(root, "template.raw")
    make_template(tmpl)
    pair = pair_factory()
    runs = []
    n = 0
    try:
        rates = [0 if r == "max" else float(r) for r in args.disk_rates.split(",")]
        ram_rate = 0 if args.dirty_rates.split(",")[-1] == "max" else \
            float(args.dirty_rates.split(",")[-1])
        for rate in rates:
            for rnd in range(args.runs):
                for c in args.configs.split(","):
                    n += 1
                    engine, ac = c.split("+")[0], c.endswith("+ac")
                    rec = migrate_once(pair, manifest, f"l{n}", tmpl, engine, rate,
                                       args.linux_ram, ram_rate,
                                       memory_mib=args.guest_mem, time_limit=args.time_limit,
                                       auto_converge=ac)
                    rec.update({"config": c, "round": rnd, "load": list(os.getloadavg())})
                    runs.append(rec)
                    d = rec.get("downtime_ms", {})
                    print(f"  [{n}] linux disk {'max' if rate == 0 else rate} MiB/s {c:9s} "
                          f"round {rnd}: {rec['outcome']}"
                          + (f", {rec['wall_s']:.1f} s, guest wrote "
                             f"{rec['guest_writes_mib_s']} MiB/s; downtime ms: QEMU {d['qemu']}"
                             f" (storage {d['storage']}), agents' STOP->RESUME {d['events']}, "
                             f"heartbeat gap {d['heartbeat_gap']}; disk identical "
                             f"{rec['disk_check']['bad_count'] == 0}, {rec['selfcheck']}"
                             if rec.get("converged") else f" {rec.get('error', '')[:200]}"),
                          flush=True)
    finally:
        pair.close()
    print("\n%-22s %-9s %8s %8s %8s %8s %s" % ("disk rate", "config", "QEMU", "events",
                                              "hb gap", "storage", "verified"))
    for r in runs:
        d = r.get("downtime_ms", {})
        print("%-22s %-9s %8s %8s %8s %8s %s" % (
            "max" if r["disk_write_rate"] == 0 else "%g MiB/s" % r["disk_write_rate"],
            r["config"], d.get("qemu"), d.get("events"), d.get("heartbeat_gap"),
            d.get("storage"), r.get("verified")))
    bad = [r for r in runs if r.get("converged") and not r.get("verified")]
    return (1 if bad else 0), runs

