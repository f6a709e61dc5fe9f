# SPDX-License-Identifier: LGPL-2.1-or-later
"""How ferry's storage migration scales: (1) total time of a live
migration with storage against disk size (a fixed fraction of each disk
holds data), (2) against the number of disks migrated together, both with
--storage-engine ferry and qemu interleaved (ferry, qemu, ferry, qemu...)
on an idle guest, every run verified (cmp, guest heartbeat); (3) ferry's
copy engine alone (ferry-bench-mirror into a destination QEMU's NBD
export, as bench/mirror.py) against request size and queue depth, the
settings interleaved round by round; (4) "memory": how long this machine
takes to touch new memory, 1 GiB at a time, twice in a row; (5) "spread"
(not in the default): the same data on one disk of --spread-size and on
--spread-disks disks of a fraction of it, ferry's engine, the two cases
interleaved round by round (issue 19: 4x1 GiB within 1.15x of 1x4 GiB).
Before each timed migration the run touches and frees as much memory as
the destination will write (--warm-memory), so the timing measures the
migration, not the VM's first touch of memory its host took back (see
docs/known-issues.md, "New memory costs 8x more past a few GiB").
Results: a table on stdout, JSON and PNGs in --out."""

import argparse
import os
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (GIB, MIB, BenchError, gnuplot_bars, machine_facts,  # noqa: E402
                      run_timed, summarize, write_json)
import ferrybench as fb  # noqa: E402
import plots  # noqa: E402
import qemu_mirror  # noqa: E402

ENGINES = ("ferry", "qemu")


def parse_size(s):
    units = {"K": 1024, "M": MIB, "G": GIB}
    if s[-1:].upper() in units:
        return int(float(s[:-1]) * units[s[-1:].upper()])
    return int(s)


def size_label(n):
    return f"{n // GIB}G" if n % GIB == 0 else f"{n // MIB}M"


def touch_memory(root, gib):
    """Write GIB GiB of new pages into a file under ROOT (tmpfs: RAM; a
    disk: page cache), then unlink it. Returns the seconds each GiB took.
    Where the host reclaims the memory a guest frees (free page
    reporting), touching such memory is several times slower than reusing
    freed pages the host still backs; done right before a run, the run's
    own new pages are those reused ones."""
    path = os.path.join(root, "touch-memory.tmp")
    zero = bytes(MIB)
    steps = []
    try:
        with open(path, "wb") as f:
            for _ in range(gib):
                t = time.monotonic()
                for _ in range(GIB // MIB):
                    f.write(zero)
                f.flush()
                steps.append(round(time.monotonic() - t, 3))
    finally:
        os.unlink(path)
    return steps


def warm_gib(warm, sizes, data):
    """--warm-memory: "auto" is what the destination writes (the data of
    SIZES), rounded up, plus 1 GiB for its QEMU and the page cache."""
    if warm == "auto":
        return -(-int(sum(sizes) * data) // GIB) + 1
    return int(warm)


def memory_series(root, gib, doc):
    """Touch GIB GiB twice in a row, 1 GiB at a time: the seconds per GiB
    show how much new memory this machine hands out at full speed."""
    for rnd in range(2):
        steps = touch_memory(root, gib)
        doc["runs"].append({"series": "memory", "round": rnd, "gib": gib, "s_per_gib": steps})
        print(f"  memory round {rnd}: s per GiB touched: " + " ".join(f"{x:.2f}" for x in steps),
              flush=True)


def migration_series(pair, root, label, cases, runs, time_limit, data, doc, counter,
                     warm="auto"):
    """CASES: [(case label, [disk sizes])]. Per case and round, every
    engine once (interleaved); template disks are made per case. WARM:
    GiB of memory touched and freed right before each timed migration
    ("auto": see warm_gib)."""
    for case, sizes in cases:
        gib = warm_gib(warm, sizes, data)

        def before_start():
            return {"gib": gib, "s_per_gib": touch_memory(root, gib) if gib else []}

        tmpls = []
        for i, sz in enumerate(sizes):
            path = os.path.join(root, f"tmpl-{i}.raw")
            fb.make_data_disk(path, sz, data, seed=i + 1)
            tmpls.append((f"vd{chr(ord('a') + i)}", path))
        try:
            for rnd in range(runs):
                for eng in ENGINES:
                    counter[0] += 1
                    name = f"s{counter[0]}"
                    try:
                        rec = fb.migrate_once(pair, name, tmpls, eng, dirty_mib="0",
                                              time_limit=time_limit, guest_size_mib=64,
                                              memory_mib=128, seed=counter[0],
                                              before_start=before_start)
                    except BenchError as e:
                        rec = {"engine": eng, "outcome": "failed", "converged": False,
                               "error": str(e)}
                    rec.update({"series": label, "case": case, "round": rnd,
                                "disk_bytes": sum(sizes), "load": list(os.getloadavg())})
                    warmed = rec.get("before_start", {}).get("s_per_gib") or []
                    for k in ("events_src", "events_dst"):
                        rec.pop(k, None)
                    doc["runs"].append(rec)
                    print(f"  [{counter[0]}] {label} {case} {eng:5s} round {rnd}: "
                          f"{rec['outcome']}"
                          + (f", {rec['wall_s']:.1f} s, verified {rec.get('verified')}"
                             if rec.get("converged") else f" {rec.get('error', '')[:200]}")
                          + (f" (warmed {len(warmed)} GiB first, slowest GiB "
                             f"{max(warmed):.1f} s)" if warmed else ""),
                          flush=True)
        finally:
            for _, p in tmpls:
                os.unlink(p)


def engine_series(root, qemu, ferry_copy, size, data, reqs, depths, runs, doc):
    """ferry-bench-mirror SOURCE nbd://dest with -r/-q settings, each
    setting once per round, into a fresh destination QEMU every time."""
    src = os.path.join(root, "engine-src.raw")
    fb.make_data_disk(src, size, data, seed=7, run=4 * MIB)
    settings = [("request", r, 8) for r in reqs] + [("depth", 1 * MIB, q) for q in depths]
    try:
        for rnd in range(runs):
            for kind, r, q in settings:
                target = os.path.join(root, "engine-dst.raw")
                with open(target, "wb") as f:
                    f.truncate(size)
                rec = {"series": "engine-" + kind, "request_size": r, "queue_depth": q,
                       "round": rnd, "bytes": size}
                dest = None
                try:
                    dest = qemu_mirror.Destination(root, target, qemu=qemu)
                    cpu0 = dest.cpu()
                    wall, cpu, _ = run_timed([ferry_copy, "-r", str(r), "-q", str(q),
                                              src, dest.uri], timeout=600)
                    rec.update({"wall_s": wall, "mb_s": size / 1e6 / wall,
                                "cpu_s": cpu + dest.cpu() - cpu0})
                    dest.stop()
                    dest = None
                    if rnd == 0:
                        eq, detail = fb.files_equal(src, target)
                        rec["verified"] = eq
                        if not eq:
                            rec["error"] = "target differs from source: " + detail
                except BenchError as e:
                    rec["error"] = str(e)
                finally:
                    if dest:
                        dest.stop()
                    os.unlink(target)
                rec["load"] = list(os.getloadavg())
                doc["runs"].append(rec)
                print(f"  engine -r {size_label(r) if r >= MIB else str(r // 1024) + 'K'} "
                      f"-q {q:3d} round {rnd}: "
                      + (f"{rec['mb_s']:.0f} MB/s" if "mb_s" in rec else rec["error"][:200]),
                      flush=True)
    finally:
        os.unlink(src)


def spread_series(pair, root, total, n, data, runs, time_limit, doc, counter):
    """One disk of TOTAL against N disks of TOTAL / N, each DATA full (so
    both hold the same data), ferry's engine, the two alternating within
    each round; no memory warming (the sizes are meant to stay small
    enough). Each run's timeline is printed: it shows whether the disks'
    bulk passes ran side by side."""
    cases = [(f"1x{size_label(total)}", [total]),
             (f"{n}x{size_label(total // n)}", [total // n] * n)]
    tmpls = {}
    for case, sizes in cases:
        tmpls[case] = []
        for i, sz in enumerate(sizes):
            path = os.path.join(root, f"spread-{len(tmpls)}-{i}.raw")
            fb.make_data_disk(path, sz, data, seed=i + 1)
            tmpls[case].append((f"vd{chr(ord('a') + i)}", path))
    try:
        for rnd in range(runs):
            for case, sizes in cases:
                counter[0] += 1
                name = f"s{counter[0]}"
                try:
                    rec = fb.migrate_once(pair, name, tmpls[case], "ferry", dirty_mib="0",
                                          time_limit=time_limit, guest_size_mib=64,
                                          memory_mib=128, seed=counter[0])
                except BenchError as e:
                    rec = {"engine": "ferry", "outcome": "failed", "converged": False,
                           "error": str(e)}
                rec.update({"series": "spread", "case": case, "round": rnd,
                            "disk_bytes": sum(sizes), "load": list(os.getloadavg())})
                for k in ("events_src", "events_dst"):
                    rec.pop(k, None)
                doc["runs"].append(rec)
                print(f"  [{counter[0]}] spread {case} round {rnd}: {rec['outcome']}"
                      + (f", {rec['wall_s']:.1f} s (job {rec['job']['time_elapsed'] / 1000:.1f}"
                         f" s), verified {rec.get('verified')}" if rec.get("converged")
                         else f" {rec.get('error', '')[:200]}"), flush=True)
                if rec.get("job", {}).get("timeline"):
                    print(fb.format_timeline(rec["job"]), flush=True)
    finally:
        for t in tmpls.values():
            for _, p in t:
                os.unlink(p)
    ratios = []
    for rnd in range(runs):
        one = [r for r in doc["runs"] if r.get("series") == "spread" and r["round"] == rnd
               and r["case"] == cases[0][0] and r.get("converged")]
        many = [r for r in doc["runs"] if r.get("series") == "spread" and r["round"] == rnd
                and r["case"] == cases[1][0] and r.get("converged")]
        if one and many:
            ratios.append(many[0]["job"]["time_elapsed"] / one[0]["job"]["time_elapsed"])
    doc.setdefault("summary", {})["spread"] = {"cases": [c for c, _ in cases],
                                               "many_over_one_time": summarize(ratios),
                                               "values": ratios}


def summarise_migrations(runs, label):
    out = {}
    cases = []
    for r in runs:
        if r.get("series") == label and r["case"] not in cases:
            cases.append(r["case"])
    for case in cases:
        out[case] = {}
        for eng in ENGINES:
            rs = [r for r in runs if r.get("series") == label and r["case"] == case
                  and r["engine"] == eng]
            ok = [r for r in rs if r.get("converged")]
            out[case][eng] = {
                "runs": len(rs), "converged": len(ok),
                "verified": sum(1 for r in ok if r.get("verified")),
                "wall_s": summarize([r["wall_s"] for r in ok]),
                "time_s": summarize([r["job"]["time_elapsed"] / 1000 for r in ok
                                     if "time_elapsed" in r.get("job", {})]),
                "downtime_ms": summarize([r["job"]["downtime"] for r in ok
                                          if "downtime" in r.get("job", {})]),
                "disk_mib": summarize([r["job"].get("disk_processed", 0) / MIB for r in ok]),
                "warm_slowest_s_per_gib": summarize(
                    [max(r["before_start"]["s_per_gib"]) for r in ok
                     if r.get("before_start", {}).get("s_per_gib")]),
            }
        vals = []
        for rnd in sorted({r["round"] for r in runs if r.get("series") == label}):
            pick = {e: [r for r in runs if r.get("series") == label and r["case"] == case
                        and r["round"] == rnd and r["engine"] == e and r.get("converged")]
                    for e in ENGINES}
            if pick["ferry"] and pick["qemu"]:
                vals.append(pick["ferry"][0]["wall_s"] / pick["qemu"][0]["wall_s"])
        out[case]["ferry_over_qemu_time"] = summarize(vals)
    return out


def summarise_engine(runs):
    out = {}
    for kind in ("request", "depth"):
        out[kind] = {}
        rs = [r for r in runs if r.get("series") == "engine-" + kind and "mb_s" in r]
        keys = sorted({(r["request_size"], r["queue_depth"]) for r in rs})
        base = (1 * MIB, 8)
        for k in keys:
            lab = f"-r {k[0] // 1024}K -q {k[1]}"
            vals = [r["mb_s"] for r in rs if (r["request_size"], r["queue_depth"]) == k]
            ratios = []
            for rnd in sorted({r["round"] for r in rs}):
                a = [r for r in rs if r["round"] == rnd and (r["request_size"], r["queue_depth"]) == k]
                b = [r for r in rs if r["round"] == rnd and (r["request_size"], r["queue_depth"]) == base]
                if a and b:
                    ratios.append(a[0]["mb_s"] / b[0]["mb_s"])
            out[kind][lab] = {"mb_s": summarize(vals), "vs_default": summarize(ratios),
                              "cpu_s": summarize([r["cpu_s"] for r in rs
                                                  if (r["request_size"], r["queue_depth"]) == k])}
    return out


def med(s, digits=1):
    return "-" if not s else f"{s['median']:.{digits}f}"


def print_tables(doc):
    sp = doc["summary"].get("spread")
    if sp:
        print(f"\nthe same data on {sp['cases'][1]} against {sp['cases'][0]} (ferry, job time): "
              f"same-round ratio {med(sp['many_over_one_time'], 2)} "
              f"(values {', '.join(f'{v:.2f}' for v in sp['values'])})")
    for label, title in (("size", "disk size"), ("disks", "number of disks")):
        s = doc["summary"].get(label)
        if not s:
            continue
        print(f"\n{title}: live migration with storage, idle guest")
        print(f"| {title} | ferry time s | qemu time s | ferry/qemu same round | "
              "ferry downtime ms | qemu downtime ms | converged+verified ferry, qemu |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for case, row in s.items():
            f, q = row["ferry"], row["qemu"]
            print(f"| {case} | {med(f['wall_s'])} | {med(q['wall_s'])} | "
                  f"{med(row['ferry_over_qemu_time'], 2)} | {med(f['downtime_ms'], 0)} | "
                  f"{med(q['downtime_ms'], 0)} | {f['verified']}/{f['runs']}, "
                  f"{q['verified']}/{q['runs']} |")
    e = doc["summary"].get("engine")
    if e:
        print("\nferry's copy engine alone (ferry-bench-mirror into a QEMU NBD export)")
        print("| setting | MB/s | same-round vs -r 1M -q 8 | CPU s |")
        print("| --- | --- | --- | --- |")
        for kind in ("request", "depth"):
            for lab, v in e[kind].items():
                print(f"| {lab} | {med(v['mb_s'], 0)} | {med(v['vs_default'], 2)} | "
                      f"{med(v['cpu_s'], 2)} |")


def plot(stem, doc):
    pngs = []
    for label, title, xl in (("size", "Migration time against disk size", "disk size"),
                             ("disks", "Migration time against number of disks",
                              "disks migrated together")):
        s = doc["summary"].get(label)
        if not s:
            continue
        cases = list(s)
        series = {eng: [(c, (s[c][eng]["wall_s"] or {}).get("median")) for c in cases]
                  for eng in ENGINES}
        pngs.append(plots.lines_categorical(stem + f"-{label}.png", title + " (median, idle guest)",
                                            xl, "seconds", cases, series))
    e = doc["summary"].get("engine")
    if e:
        groups = [g for kind in ("request", "depth") for g in e[kind]]
        vals = {g: {"MB/s": (e[k][g]["mb_s"] or {}).get("median")}
                for k in ("request", "depth") for g in e[k]}
        errs = {g: {"MB/s": ((e[k][g]["mb_s"]["min"], e[k][g]["mb_s"]["max"])
                             if e[k][g]["mb_s"] else None)}
                for k in ("request", "depth") for g in e[k]}
        pngs.append(gnuplot_bars(stem + "-engine.png",
                                 "ferry copy engine: request size (-r) and queue depth (-q)",
                                 "MB/s (median, min-max)", groups, ["MB/s"], vals, errs))
    return [p for p in pngs if p]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--qemu", default=qemu_mirror.DEFAULT_QEMU)
    ap.add_argument("--sizes", default="1G,2G,4G,8G", help="disk sizes (default 1G,2G,4G,8G)")
    ap.add_argument("--disks", default="1,2,3,4", help="disk counts (default 1,2,3,4)")
    ap.add_argument("--disk-size", type=parse_size, default=512 * MIB,
                    help="size of each disk in the disk-count series (default 512M)")
    ap.add_argument("--data", type=float, default=0.25, help="fraction of data (default 0.25)")
    ap.add_argument("--engine-size", type=parse_size, default=GIB,
                    help="image for the request size / queue depth series (default 1G)")
    ap.add_argument("--requests", default="64K,256K,1M,4M")
    ap.add_argument("--depths", default="1,2,8,32")
    ap.add_argument("--series", default="size,disks,engine",
                    help="comma list of size, disks, engine, memory (default size,disks,engine)")
    ap.add_argument("--warm-memory", default="auto",
                    help="GiB of memory to touch and free right before each timed migration; "
                    "auto (default): the destination's data + 1 GiB; 0: none")
    ap.add_argument("--memory-probe", type=int, default=10,
                    help="GiB the memory series touches per round (default 10)")
    ap.add_argument("--spread-size", type=parse_size, default=4 * GIB,
                    help="spread series: the one disk's size (default 4G)")
    ap.add_argument("--spread-disks", type=int, default=4,
                    help="spread series: how many disks share that size (default 4)")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--time-limit", type=int, default=300)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: sizes 128M,256M,512M, 1-3 disks of 128M, 256M engine image, "
                    "1 round")
    ap.add_argument("--out", default="bench-results")
    args = ap.parse_args(argv)
    if args.warm_memory != "auto" and not args.warm_memory.isdigit():
        ap.error("--warm-memory takes auto or a number of GiB")
    if args.quick:
        args.sizes, args.disks, args.disk_size = "128M,256M,512M", "1,2,3", 128 * MIB
        args.engine_size, args.runs, args.time_limit = 256 * MIB, 1, 120
        args.requests, args.depths = "256K,1M,4M", "1,8,32"
        if args.warm_memory == "auto":
            args.warm_memory = "0"  # these sizes stay in memory handed out at full speed
    ferryd = os.path.abspath(os.path.join(args.build, "ferryd", "ferryd"))
    ferryctl = os.path.abspath(os.path.join(args.build, "ctl", "ferryctl"))
    kernel = os.path.abspath(os.path.join(args.build, "tests", "guest", "multiboot", "ferry-guest.elf"))
    ferry_copy = os.path.abspath(os.path.join(args.build, "bench", "ferry-bench-mirror"))
    for what in (ferryd, ferryctl, kernel, ferry_copy):
        if not os.path.exists(what):
            print(f"SKIP: {what} not built")
            return 77
    series = args.series.split(",")
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    counts = [int(n) for n in args.disks.split(",")]
    reqs = [parse_size(s) for s in args.requests.split(",")]
    depths = [int(q) for q in args.depths.split(",")]
    # Sources, destination and template are sparse; the destination may be
    # fully allocated (QEMU's mirror may write holes as zeros).
    need = max(sizes) * (2 * args.data + 1) + 512 * MIB
    if "memory" in series:
        need = max(need, args.memory_probe * GIB + 512 * MIB)
    if "spread" in series:
        need = max(need, args.spread_size * (4 * args.data + 1) + 512 * MIB)
    os.makedirs(args.out, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    stem = os.path.join(os.path.abspath(args.out), f"scaling-{stamp}")
    root = fb.pick_workdir(int(need), "ferry-bench-scale-")
    facts = machine_facts(root, args.qemu)
    doc = {"benchmark": "scaling", "inputs": vars(args), "machine": facts, "runs": []}
    print(f"scaling benchmark: series {series}, {args.runs} rounds; workdir {root} "
          f"({facts['workdir_fs']}); load {facts['loadavg_start']}", flush=True)
    pair = None
    counter = [0]
    try:
        if "memory" in series:
            memory_series(root, args.memory_probe, doc)
            write_json(stem + ".json", doc)
        if "size" in series or "disks" in series or "spread" in series:
            pair = fb.Pair(ferryd, ferryctl, kernel, root)
        if "spread" in series:
            spread_series(pair, root, args.spread_size, args.spread_disks, args.data, args.runs,
                          args.time_limit, doc, counter)
            write_json(stem + ".json", doc)
        if "size" in series:
            migration_series(pair, root, "size", [(size_label(s), [s]) for s in sizes],
                             args.runs, args.time_limit, args.data, doc, counter,
                             args.warm_memory)
            write_json(stem + ".json", doc)
        if "disks" in series:
            migration_series(pair, root, "disks",
                             [(str(n), [args.disk_size] * n) for n in counts],
                             args.runs, args.time_limit, args.data, doc, counter,
                             args.warm_memory)
            write_json(stem + ".json", doc)
        if pair:
            pair.close()
            pair = None
        if "engine" in series:
            engine_series(root, args.qemu, ferry_copy, args.engine_size, 0.5, reqs, depths,
                          args.runs, doc)
    finally:
        if pair:
            pair.close()
        fb.remove_tree(root)
    doc["machine"]["loadavg_end"] = list(os.getloadavg())
    doc["summary"] = {k: v for k, v in doc.get("summary", {}).items() if k == "spread"}
    if "size" in series:
        doc["summary"]["size"] = summarise_migrations(doc["runs"], "size")
    if "disks" in series:
        doc["summary"]["disks"] = summarise_migrations(doc["runs"], "disks")
    if "engine" in series:
        doc["summary"]["engine"] = summarise_engine(doc["runs"])
    print_tables(doc)
    doc["pngs"] = plot(stem, doc)
    write_json(stem + ".json", doc)
    print(f"\nJSON: {stem}.json")
    for p in doc["pngs"]:
        print(f"PNG:  {p}")
    bad = [r for r in doc["runs"] if (r.get("converged") and not r.get("verified"))
           or r.get("verified") is False]
    if bad:
        print(f"FAILED: {len(bad)} run(s) not verified")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
