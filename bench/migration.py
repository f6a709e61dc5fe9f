# SPDX-License-Identifier: LGPL-2.1-or-later
"""ferry's live-migration benchmark: total time, downtime and bytes moved
for `ferryctl migrate --live --copy-storage-all` of a guest running the
dirtying kernel with a raw disk holding data, across a grid of guest RAM
dirty rates and guest disk write rates, with --storage-engine ferry and
qemu (QEMU's blockdev-mirror, background mode), each with and without
--auto-converge. At each grid point the configurations run interleaved
(ferry, qemu, ferry+ac, qemu+ac, then again), so the machine's drift hits
them alike. Every migration has a time limit; one that does not finish in
it is aborted (domjobabort) and recorded as "did not converge in N s".

Each run is verified: destination disk == source disk (cmp), the guest's
heartbeat goes on on the destination with errors 0. Downtime is reported
twice: QEMU's own figure (domjobinfo --completed: downtime, and
storage_downtime, the final disk pass's share) and an independent one, the
source agent's "suspended" event (QEMU's STOP) to the destination agent's
"resumed" event (QEMU's RESUME), both stamped by agents on one host clock.
Results: a table on stdout, JSON and PNGs in --out.

--workload linux runs ferry's Linux test guest instead (bench/linuxbench.py):
its own workload writes the disk and beats a UDP heartbeat, and downtime is
reported three ways side by side: QEMU's figure, the agents' STOP-to-RESUME
events, and the guest's heartbeat gap (bench/README.md says why they differ)."""

import argparse
import json
import os
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (GIB, MIB, BenchError, gnuplot_bars, machine_facts,  # noqa: E402
                      summarize, write_json)
import ferrybench as fb  # noqa: E402
import linuxbench  # noqa: E402
import plots  # noqa: E402

CONFIGS = [("ferry", False), ("qemu", False), ("ferry", True), ("qemu", True)]
# Configurations outside the default grid: ferry's engine without the
# destination write-back during the bulk pass (as before issue 19), or
# with another interval than the default 128 MiB, to compare against
# "ferry" in the same run.
EXTRA_CONFIGS = {"ferry-nowb": ("ferry", False, ["--disk-writeback", "1048576"]),
                 "ferry-wb32": ("ferry", False, ["--disk-writeback", "32"]),
                 "ferry-wb512": ("ferry", False, ["--disk-writeback", "512"])}


def cfg_name(engine, ac):
    return engine + ("+ac" if ac else "")


def parse_size(s):
    units = {"K": 1024, "M": MIB, "G": GIB}
    if s[-1:].upper() in units:
        return int(float(s[:-1]) * units[s[-1:].upper()])
    return int(s)


def point_name(dirty, disk):
    return f"ram {dirty} / disk {disk}"


def summarise(runs, points, configs):
    out = {}
    for dirty, disk in points:
        p = point_name(dirty, disk)
        out[p] = {}
        for c in configs:
            rs = [r for r in runs if r["point"] == p and r["config"] == c]
            ok = [r for r in rs if r.get("converged")]
            job = [r.get("job", {}) for r in ok]
            s = {
                "runs": len(rs),
                "converged": len(ok),
                "verified": sum(1 for r in ok if r.get("verified")),
                "raced": sum(1 for r in ok if r.get("disks_raced_only") and r.get("guest_ok")),
                "outcomes": sorted({r["outcome"] for r in rs}),
                "time_s": summarize([r["job"]["time_elapsed"] / 1000 for r in ok
                                     if "time_elapsed" in r.get("job", {})]),
                "wall_s": summarize([r["wall_s"] for r in ok]),
                "downtime_ms": summarize([j["downtime"] for j in job if "downtime" in j]),
                "downtime_events_ms": summarize([r["downtime_events_ms"] for r in ok
                                                 if "downtime_events_ms" in r]),
                "storage_downtime_ms": summarize([j["storage_downtime"] for j in job
                                                  if "storage_downtime" in j]),
                "memory_mib": summarize([j.get("memory_processed", 0) / MIB for j in job]),
                "disk_mib": summarize([j.get("disk_processed", 0) / MIB for j in job]),
                "disk_passes": summarize([j["disk_passes"] for j in job if "disk_passes" in j]),
                "downtime_agree": [r.get("downtime_agree") for r in ok],
                "disk_write_mib_s": summarize([r["disk_writes"]["achieved_mib_s"] for r in rs
                                               if "disk_writes" in r]),
            }
            out[p][c] = s
    return out


def same_run_ratios(runs, points):
    """ferry / qemu total time, same round, same grid point, same
    auto-converge setting, both converged."""
    out = {}
    for dirty, disk in points:
        p = point_name(dirty, disk)
        for ac in (False, True):
            key = f"{p} {'ac' if ac else 'no-ac'}"
            vals, wb = [], []
            rounds = sorted({r["round"] for r in runs if r["point"] == p})
            for rnd in rounds:
                f = [r for r in runs if r["point"] == p and r["round"] == rnd
                     and r["config"] == cfg_name("ferry", ac) and r.get("converged")]
                q = [r for r in runs if r["point"] == p and r["round"] == rnd
                     and r["config"] == cfg_name("qemu", ac) and r.get("converged")]
                if f and q:
                    vals.append(f[0]["wall_s"] / q[0]["wall_s"])
                n = [r for r in runs if r["point"] == p and r["round"] == rnd
                     and r["config"] == "ferry-nowb" and r.get("converged")]
                if f and n and not ac:
                    wb.append(f[0]["wall_s"] / n[0]["wall_s"])
            if vals:
                out[key] = {"ferry_over_qemu_time": summarize(vals), "values": vals}
            if wb:
                out[key + " write-back"] = {"ferry_over_ferry_nowb_time": summarize(wb),
                                            "values": wb}
    return out


def verdict(summary, configs, max_disk_rate):
    """Grid points where one engine converged in every run and the other
    did not, per auto-converge setting."""
    lines = []
    for ac in (False, True):
        f, q = cfg_name("ferry", ac), cfg_name("qemu", ac)
        if f not in configs or q not in configs:
            continue
        fw, qw = [], []
        for p, row in summary.items():
            fs, qs = row[f], row[q]
            if fs["runs"] and fs["converged"] == fs["runs"] and qs["converged"] < qs["runs"]:
                fw.append(p)
            if qs["runs"] and qs["converged"] == qs["runs"] and fs["converged"] < fs["runs"]:
                qw.append(p)
        tag = "with --auto-converge" if ac else "without --auto-converge"
        if fw:
            lines.append(f"{tag}: ferry's engine converged where QEMU's mirror (background) "
                         f"did not at: {'; '.join(fw)}")
        else:
            allq = all(row[q]["converged"] == row[q]["runs"] for row in summary.values())
            lines.append(f"{tag}: no grid point where ferry's engine converged and QEMU's "
                         "mirror did not" + (f" (QEMU's mirror converged at every point, guest "
                                             f"disk writes up to {max_disk_rate} MiB/s)"
                                             if allq else ""))
        if qw:
            lines.append(f"{tag}: QEMU's mirror converged where ferry's engine did not at: "
                         f"{'; '.join(qw)}")
    return lines


def fmt(s, scale=1.0, digits=1):
    if not s:
        return "-"
    return f"{s['median'] * scale:.{digits}f}"


def print_table(summary, configs):
    print()
    print("| ram MiB/s / disk MiB/s | config | converged | verified | time s | "
          "downtime ms (QEMU) | downtime ms (events) | storage downtime ms | "
          "RAM MiB | disk MiB | passes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for p, row in summary.items():
        for c in configs:
            s = row[c]
            # ferryd reports no disk progress for QEMU's mirror (0 bytes,
            # 0 passes): show it as unknown, not as nothing moved.
            qemu_eng = c.startswith("qemu")
            disk_mib = "n/a" if qemu_eng else fmt(s["disk_mib"], digits=0)
            passes = "n/a" if qemu_eng else fmt(s["disk_passes"], digits=0)
            conv = f"{s['converged']}/{s['runs']}"
            if s["converged"] < s["runs"]:
                conv += " (" + ", ".join(o for o in s["outcomes"] if o != "converged") + ")"
            agree = [a for a in s["downtime_agree"] if a is not None]
            ev = fmt(s["downtime_events_ms"], digits=0)
            if agree:
                ev += "" if all(agree) else f" (disagree {agree.count(False)}/{len(agree)})"
            print(f"| {p.replace('ram ', '').replace(' disk ', ' ')} | {c} | {conv} | "
                  f"{s['verified']}/{s['converged']}"
                  f"{' (' + str(s['raced']) + ' raced)' if s.get('raced') else ''} | {fmt(s['time_s'])} | "
                  f"{fmt(s['downtime_ms'], digits=0)} | {ev} | "
                  f"{fmt(s['storage_downtime_ms'], digits=0)} | {fmt(s['memory_mib'], digits=0)} | "
                  f"{disk_mib} | {passes} |")


def print_compact(summary, configs):
    """One row per grid point: time s / downtime ms (QEMU's figure) per
    configuration, or what happened instead."""
    print("\n| RAM MiB/s / disk MiB/s | " + " | ".join(configs) + " |")
    print("| --- |" + " --- |" * len(configs))
    for p, row in summary.items():
        cells = []
        for c in configs:
            s = row[c]
            if not s["converged"]:
                cells.append(", ".join(s["outcomes"]))
                continue
            cell = f"{fmt(s['time_s'])} s / {fmt(s['downtime_ms'], digits=0)} ms"
            if s["converged"] < s["runs"]:
                cell += f" ({s['converged']}/{s['runs']} converged)"
            cells.append(cell)
        print(f"| {p.replace('ram ', '').replace(' disk ', ' ')} | " + " | ".join(cells) + " |")


def plot(stem, summary, configs, points):
    pngs = []
    groups = list(summary)
    vals = {g: {c: (summary[g][c]["time_s"] or {}).get("median") for c in configs}
            for g in groups}
    errs = {g: {c: ((summary[g][c]["time_s"]["min"], summary[g][c]["time_s"]["max"])
                    if summary[g][c]["time_s"] else None) for c in configs} for g in groups}
    pngs.append(gnuplot_bars(stem + "-time.png",
                             "Live migration with storage: total time (median, min-max; "
                             "missing bar = did not converge)",
                             "seconds", groups, configs, vals, errs))
    # Downtime against RAM dirty rate, one line per config, at the lowest
    # disk write rate of the grid.
    disk0 = min(d for _, d in points)
    rows = [(dirty, point_name(dirty, disk)) for dirty, disk in points if disk == disk0]
    series = {}
    for c in configs:
        series[c] = [(dirty, (summary[p][c]["downtime_ms"] or {}).get("median")) for dirty, p in rows]
        series[c + " (events)"] = [(dirty, (summary[p][c]["downtime_events_ms"] or {}).get("median"))
                                   for dirty, p in rows]
    pngs.append(plots.lines_categorical(
        stem + "-downtime.png", f"Downtime against guest RAM dirty rate (disk writes {disk0} MiB/s)",
        "guest RAM dirty rate, MiB/s", "downtime, ms", [str(d) for d, _ in rows], series))
    return [p for p in pngs if p]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="meson build directory (binaries)")
    ap.add_argument("--ferryd", default="")
    ap.add_argument("--ferryctl", default="")
    ap.add_argument("--kernel", default="", help="the test guest (BUILD/tests/guest/multiboot/ferry-guest.elf)")
    ap.add_argument("--dirty-rates", default="0,16,64,max",
                    help="guest RAM dirty rates, MiB/s or max (default 0,16,64,max)")
    ap.add_argument("--disk-rates", default="0,4,16",
                    help="guest disk write rates, MiB/s (default 0,4,16)")
    ap.add_argument("--configs", default=",".join(cfg_name(*c) for c in CONFIGS),
                    help="comma list of ferry, qemu, ferry+ac, qemu+ac")
    ap.add_argument("--disk-size", type=parse_size, default=GIB, help="default 1G")
    ap.add_argument("--data", type=float, default=0.4, help="fraction of the disk holding data")
    ap.add_argument("--guest-mem", type=int, default=256, help="guest RAM MiB")
    ap.add_argument("--working-set", type=int, default=128, help="guest dirtying set MiB")
    ap.add_argument("--runs", type=int, default=2, help="rounds per grid point (default 2)")
    ap.add_argument("--time-limit", type=int, default=120, help="seconds per migration")
    ap.add_argument("--bandwidth", type=int, default=0,
                    help="ferryctl migrate --bandwidth MiB/s (default: none)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 256M disk, ram 0,max x disk 0,16, 1 round, 45 s limit")
    ap.add_argument("--workload", choices=("dirtying", "linux"), default="dirtying",
                    help="the guest: the RAM-dirtying test kernel with qemu-io disk writes "
                    "(default), or the Linux test guest with its own disk workload and "
                    "heartbeat (--disk-rates: its write MiB/s, 0 or max = as fast as it can; "
                    "the last --dirty-rates entry: its RAM rewrite MiB/s)")
    ap.add_argument("--linux-ram", type=int, default=16,
                    help="--workload linux: the guest's RAM working set, MiB (default 16; "
                    "docs/known-issues.md: large sets under TCG)")
    ap.add_argument("--linux-manifest", default="",
                    help="BUILD/tests/guest/linux/ferry-linux.manifest")
    ap.add_argument("--dest-image-dir", default="",
                    help="the destination agent's image dir (default: in the tmpfs workdir); "
                         "on a disk, the destination's flushes cost what they cost on a host")
    ap.add_argument("--no-timeline", action="store_true",
                    help="do not print each run's phase timeline")
    ap.add_argument("--out", default="bench-results")
    ap.add_argument("--report", default="", help="print the tables of an earlier JSON and exit")
    args = ap.parse_args(argv)
    if args.report:
        with open(args.report) as f:
            old = json.load(f)
        print_table(old["summary"], list(next(iter(old["summary"].values()))))
        print_compact(old["summary"], list(next(iter(old["summary"].values()))))
        for line in old.get("verdict", []):
            print(line)
        return 0
    if args.quick:
        args.disk_size, args.runs, args.time_limit = 256 * MIB, 1, 45
        args.dirty_rates, args.disk_rates = "0,max", "0,16"
    ferryd = args.ferryd or os.path.join(args.build, "ferryd", "ferryd")
    ferryctl = args.ferryctl or os.path.join(args.build, "ctl", "ferryctl")
    kernel = os.path.abspath(args.kernel or os.path.join(args.build, "tests", "guest", "multiboot", "ferry-guest.elf"))
    for what in (ferryd, ferryctl, kernel):
        if not os.path.exists(what):
            print(f"SKIP: {what} not built")
            return 77
    ferryd, ferryctl = os.path.abspath(ferryd), os.path.abspath(ferryctl)
    configs = [c for c in args.configs.split(",") if c]
    known = [cfg_name(*c) for c in CONFIGS] + list(EXTRA_CONFIGS)
    for c in configs:
        if c not in known:
            ap.error(f"unknown config '{c}' (known: {', '.join(known)})")
    points = [] if args.workload == "linux" else [
        (d, int(w)) for d in args.dirty_rates.split(",") for w in args.disk_rates.split(",")]

    os.makedirs(args.out, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    stem = os.path.join(os.path.abspath(args.out), f"migration-{stamp}")
    root = fb.pick_workdir(3 * args.disk_size + 512 * MIB, "ferry-bench-mig-")
    facts = machine_facts(root)
    doc = {"benchmark": "migration",
           "inputs": {k: v for k, v in vars(args).items()},
           "machine": facts, "runs": []}
    doc["inputs"]["points"] = points
    print(f"migration benchmark: {len(points)} grid points x {len(configs)} configs x "
          f"{args.runs} rounds; disk {args.disk_size // MIB} MiB ({args.data:.0%} data), guest "
          f"{args.guest_mem} MiB (set {args.working_set} MiB), limit {args.time_limit} s; "
          f"workdir {root} ({facts['workdir_fs']}); load {facts['loadavg_start']}", flush=True)
    if args.workload == "linux":
        try:
            code, doc["runs"] = linuxbench.run(
                args, lambda: fb.Pair(ferryd, ferryctl, kernel, root), root,
                lambda p: fb.make_data_disk(p, args.disk_size, args.data))
        finally:
            fb.remove_tree(root)
        doc["machine"]["loadavg_end"] = list(os.getloadavg())
        write_json(stem + ".json", doc)
        print(f"\nJSON: {stem}.json")
        return code
    pair = None
    try:
        tmpl = os.path.join(root, "template.raw")
        fb.make_data_disk(tmpl, args.disk_size, args.data)
        if args.dest_image_dir:
            os.makedirs(args.dest_image_dir, exist_ok=True)
        pair = fb.Pair(ferryd, ferryctl, kernel, root, dst_images=args.dest_image_dir or None)
        n = 0
        for dirty, disk in points:
            for rnd in range(args.runs):
                for c in configs:
                    engine, ac = c.split("+")[0], c.endswith("+ac")
                    extra = []
                    if c in EXTRA_CONFIGS:
                        engine, ac, extra = EXTRA_CONFIGS[c]
                    n += 1
                    name = f"m{n}"
                    try:
                        rec = fb.migrate_once(pair, name, [("vda", tmpl)], engine,
                                              auto_converge=ac, dirty_mib=dirty,
                                              disk_write_mib=disk, time_limit=args.time_limit,
                                              guest_size_mib=args.working_set,
                                              memory_mib=args.guest_mem,
                                              bandwidth=args.bandwidth or None, seed=n,
                                              extra_args=extra)
                    except BenchError as e:
                        rec = {"engine": engine, "auto_converge": ac, "outcome": "failed",
                               "converged": False, "error": str(e)}
                    rec.update({"point": point_name(dirty, disk), "config": c, "round": rnd,
                                "load": list(os.getloadavg())})
                    doc["runs"].append(rec)
                    job = rec.get("job", {})
                    print(f"  [{n}] {point_name(dirty, disk)} {c:9s} round {rnd}: "
                          f"{rec['outcome']}"
                          + (f", {rec['wall_s']:.1f} s, downtime {job.get('downtime')} ms "
                             f"(events {rec.get('downtime_events_ms')} ms, storage "
                             f"{job.get('storage_downtime')} ms), verified "
                             f"{rec.get('verified')}" if rec.get("converged") else
                             f" {rec.get('error', '')[:200]}"), flush=True)
                    if not args.no_timeline and job.get("timeline"):
                        print(fb.format_timeline(job), flush=True)
                    write_json(stem + ".json", doc)
    finally:
        if pair:
            pair.close()
        fb.remove_tree(root)
    doc["machine"]["loadavg_end"] = list(os.getloadavg())
    doc["summary"] = summarise(doc["runs"], points, configs)
    doc["same_run_ratios"] = same_run_ratios(doc["runs"], points)
    doc["verdict"] = verdict(doc["summary"], configs, max(d for _, d in points))
    print_table(doc["summary"], configs)
    print_compact(doc["summary"], configs)
    print()
    for k, v in doc["same_run_ratios"].items():
        s = v.get("ferry_over_qemu_time") or v["ferry_over_ferry_nowb_time"]
        what = "ferry/qemu" if "ferry_over_qemu_time" in v else "ferry/ferry-nowb"
        print(f"same-round time {what}, {k}: median {s['median']:.2f} "
              f"(min {s['min']:.2f}, max {s['max']:.2f}, n {s['n']})")
    for line in doc["verdict"]:
        print(line)
    raced = [r for r in doc["runs"] if r.get("converged") and not r.get("verified")
             and r.get("disks_raced_only") and r.get("guest_ok")]
    bad = [r for r in doc["runs"] if r.get("converged") and not r.get("verified")
           and r not in raced]
    doc["pngs"] = plot(stem, doc["summary"], configs, points)
    write_json(stem + ".json", doc)
    print(f"\nJSON: {stem}.json")
    for p in doc["pngs"]:
        print(f"PNG:  {p}")
    if raced:
        print(f"note: {len(raced)} run(s) differ only in blocks a harness qemu-io write was "
              "still writing when the source paused (HMP can write to a paused guest's disk, "
              "a guest cannot): counted as 'raced', not verified")
    if bad:
        print(f"FAILED: {len(bad)} converged run(s) not verified (disk or guest check)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
