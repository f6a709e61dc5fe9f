# SPDX-License-Identifier: LGPL-2.1-or-later
"""ferry's storage copy benchmark: copies source images into fresh targets
with several engines, interleaved (A B C A B C ...) so that the machine's
drift hits every engine alike, and reports wall time, throughput and host
CPU per GiB (source and destination processes both counted).

Engines that write over NBD all write into the same destination: a QEMU
started with -incoming defer exporting the fresh target (see
qemu_mirror.py). Local engines give the physical bounds of this machine.
Results: a table on stdout, a JSON document and PNG charts in --out."""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (GIB, MIB, PALETTE, BenchError, gnuplot_bars,  # noqa: E402
                      machine_facts, run_timed, summarize, write_json)
import qemu_mirror  # noqa: E402

SLOT = MIB  # images are laid out in 1 MiB slots


# ------------------------------------------------------------- images

def _random_block(n):
    return os.urandom(n)


def make_dense(path, size, rng, **_):
    """Every byte random: nothing to skip."""
    with open(path, "wb") as f:
        for _off in range(0, size, 4 * MIB):
            f.write(_random_block(min(4 * MIB, size - _off)))


def make_mixed(path, size, rng, **_):
    """1 MiB slots: 40% random data, 10% written zeros, 50% holes."""
    with open(path, "wb") as f:
        f.truncate(size)
        zero = bytes(SLOT)
        for off in range(0, size, SLOT):
            r = rng.random()
            if r < 0.4:
                f.seek(off)
                f.write(_random_block(min(SLOT, size - off)))
            elif r < 0.5:
                f.seek(off)
                f.write(zero[:min(SLOT, size - off)])


def make_sparse(path, size, rng, **_):
    """2% of the slots hold data, the rest are holes."""
    with open(path, "wb") as f:
        f.truncate(size)
        for off in range(0, size, SLOT):
            if rng.random() < 0.02:
                f.seek(off)
                f.write(_random_block(min(SLOT, size - off)))


def make_prealloc(path, size, rng, data=512 * MIB, **_):
    """Fully allocated (every byte written, so SEEK_DATA sees no hole) and
    mostly zero: DATA bytes of random data in slots spread over the image."""
    zero = bytes(4 * MIB)
    with open(path, "wb") as f:
        for off in range(0, size, len(zero)):
            f.write(zero[:min(len(zero), size - off)])
        slots = size // SLOT
        for slot in sorted(rng.sample(range(slots), min(slots, data // SLOT))):
            f.seek(slot * SLOT)
            f.write(_random_block(SLOT))


def make_big_sparse(path, size, rng, data=512 * MIB, **_):
    """A large, mostly empty disk: DATA bytes of random data in 1 MiB slots
    spread over the image, holes everywhere else."""
    with open(path, "wb") as f:
        f.truncate(size)
        slots = size // SLOT
        for slot in sorted(rng.sample(range(slots), min(slots, data // SLOT))):
            f.seek(slot * SLOT)
            f.write(_random_block(SLOT))


PAIRED = ("small-dense", "big-sparse")

IMAGES = {
    "dense": (make_dense, "every byte random data"),
    "small-dense": (make_dense, "every byte random data, as much as big-sparse holds"),
    "big-sparse": (make_big_sparse, "large and sparse: random data in 1 MiB slots, holes between"),
    "mixed": (make_mixed, "40% data, 10% written zeros, 50% holes (1 MiB slots)"),
    "sparse": (make_sparse, "2% data, the rest holes"),
    "prealloc": (make_prealloc, "fully allocated, mostly zeros (random data in a few slots)"),
}


def allocated_bytes(path):
    return os.stat(path).st_blocks * 512


# ------------------------------------------------------------ engines

class Run:
    """What one engine run needs: the source, a fresh target path, the
    destination (for NBD engines) and where QEMU's files go."""

    def __init__(self, src, target, workdir, qemu, dest=None):
        self.src, self.target, self.workdir, self.qemu, self.dest = (
            src, target, workdir, qemu, dest)


def eng_qemu_mirror(run):
    src = qemu_mirror.Source(run.workdir, run.src, qemu=run.qemu)
    try:
        cpu0 = src.cpu() + run.dest.cpu()
        r = src.mirror(run.dest)
        cpu = src.cpu() + run.dest.cpu() - cpu0
    finally:
        src.stop()
    return r["done_s"], cpu, {"ready_s": r["ready_s"]}


def _nbd_command(argv_fn):
    def engine(run):
        cpu0 = run.dest.cpu()
        wall, cpu, out = run_timed(argv_fn(run), stdout=subprocess.PIPE)
        extra = {}
        last = (out or "").strip().splitlines()[-1:] or [""]
        if last[0].startswith("{"):
            extra = json.loads(last[0])
        return wall, cpu + run.dest.cpu() - cpu0, extra
    return engine


def _local_command(argv_fn, prepare=None):
    def engine(run):
        if prepare:
            prepare(run)
        wall, cpu, _ = run_timed(argv_fn(run))
        return wall, cpu, {}
    return engine


def _remove_target(run):
    os.unlink(run.target)


def engines(ferry_copy):
    """(name, needs a destination QEMU, copies into the target, function,
    what it is), in the order they run within a round."""
    table = [
        ("qemu-mirror", True, True, eng_qemu_mirror,
         "QEMU blockdev-mirror sync=full into the NBD export (libvirt's way)"),
        ("nbdcopy", True, True, _nbd_command(lambda r: ["nbdcopy", r.src, r.dest.uri]),
         "nbdcopy FILE URI (zeroes the target's holes itself)"),
        ("nbdcopy-dz", True, True,
         _nbd_command(lambda r: ["nbdcopy", "--destination-is-zero", r.src, r.dest.uri]),
         "nbdcopy --destination-is-zero (fair: the target is new and sparse)"),
        ("qemu-img", True, True,
         _nbd_command(lambda r: ["qemu-img", "convert", "-n", "-f", "raw", "-O", "raw",
                                 r.src, r.dest.uri]),
         "qemu-img convert -n into the NBD export"),
    ]
    if ferry_copy:
        table += [
            ("ferry", True, True, _nbd_command(lambda r: [ferry_copy, r.src, r.dest.uri]),
             "ferry's engine (nbd/mir.h): io_uring reads, zero scan, write-zeroes"),
            ("ferry-dz", True, True,
             _nbd_command(lambda r: [ferry_copy, "--target-zero", r.src, r.dest.uri]),
             "ferry's engine told the target is zero: holes and zeros are skipped"),
        ]
    table += [
        ("pagecache-read", False, False, _local_command(lambda r: ["cat", r.src]),
         "bound: cat SOURCE > /dev/null from the page cache"),
        ("local-dd", False, True,
         _local_command(lambda r: ["dd", f"if={r.src}", f"of={r.target}", "bs=1M",
                                   "conv=notrunc", "status=none"]),
         "bound: dd bs=1M into a local file (every byte written)"),
        ("local-cp-sparse", False, True,
         _local_command(lambda r: ["cp", "--sparse=always", r.src, r.target], _remove_target),
         "bound: cp --sparse=always into a local file (zero blocks become holes)"),
    ]
    return table


# ------------------------------------------------------------- runner

def fresh_target(path, size):
    if os.path.exists(path):
        os.unlink(path)
    with open(path, "wb") as f:
        f.truncate(size)


def same_content(a, b):
    try:
        run_timed(["cmp", "-s", a, b], timeout=600)
        return True
    except BenchError:
        return False


def run_one(image, size, engine, workdir, qemu, verify, listen="tcp-nodelay", malloc="ferryd"):
    name, needs_dest, copies, fn, _ = engine
    target = os.path.join(workdir, "target.raw")
    src = os.path.join(workdir, f"{image}.raw")
    fresh_target(target, size)
    dest = None
    rec = {"engine": name, "image": image}
    try:
        if needs_dest:
            dest = qemu_mirror.Destination(workdir, target, qemu=qemu, listen=listen,
                                           malloc=malloc)
        wall, cpu, extra = fn(Run(src, target, workdir, qemu, dest))
        if dest:
            dest.stop()
            dest = None
        rec.update({
            "wall_s": wall,
            "mb_s": size / 1e6 / wall,
            "cpu_s": cpu,
            "cpu_s_per_gib": cpu / (size / GIB),
            "target_allocated": allocated_bytes(target) if copies else None,
            "extra": extra,
        })
        if verify and copies:
            rec["verified"] = same_content(src, target)
            if not rec["verified"]:
                rec["error"] = "target differs from source"
    except BenchError as e:
        rec["error"] = str(e)
    finally:
        if dest:
            dest.stop()
        if os.path.exists(target):
            os.unlink(target)
    return rec


def summarise(results, images, engine_names):
    summary = {}
    for image in images:
        summary[image] = {}
        for e in engine_names:
            ok = [r for r in results if r["image"] == image and r["engine"] == e
                  and "error" not in r]
            if not ok:
                continue
            summary[image][e] = {
                "mb_s": summarize([r["mb_s"] for r in ok]),
                "wall_s": summarize([r["wall_s"] for r in ok]),
                "cpu_s_per_gib": summarize([r["cpu_s_per_gib"] for r in ok]),
                "failed_runs": sum(1 for r in results if r["image"] == image
                                   and r["engine"] == e and "error" in r),
                "target_allocated_max": max((r["target_allocated"] for r in ok
                                             if r.get("target_allocated") is not None),
                                            default=None),
            }
    return summary


def pairwise(results, images, engine_names):
    """Throughput ratios A/B taken within the same round, then summarised:
    the only comparison that survives this machine's drift."""
    out = {}
    for image in images:
        rounds = {}
        for r in results:
            if r["image"] == image and "error" not in r:
                rounds.setdefault(r["round"], {})[r["engine"]] = r["mb_s"]
        ratios = {}
        for a in engine_names:
            for b in engine_names:
                if a == b:
                    continue
                v = [rd[a] / rd[b] for rd in rounds.values() if a in rd and b in rd]
                if v:
                    ratios[f"{a}/{b}"] = summarize(v)
        out[image] = ratios
    return out


def fmt_bytes(n):
    if n is None:
        return "-"
    return f"{n / GIB:.2f}G" if n >= GIB else f"{n / MIB:.0f}M"


def print_table(summary, ratios, images, engine_names, sizes, allocated, reference):
    for image in images:
        print(f"\n{image}: {fmt_bytes(sizes[image])} virtual, "
              f"{fmt_bytes(allocated[image])} allocated - {IMAGES[image][1]}")
        print(f"  {'engine':<16} {'MB/s median':>11} {'(min-max)':>15} {'spread':>7} "
              f"{'CPU s/GiB':>9} {'vs ' + reference:>16} {'target alloc':>12}")
        for e in engine_names:
            s = summary[image].get(e)
            if not s:
                print(f"  {e:<16} {'failed':>11}")
                continue
            m = s["mb_s"]
            ratio = ratios[image].get(f"{e}/{reference}")
            rtxt = f"{ratio['median']:.2f}x" if ratio else "-"
            print(f"  {e:<16} {m['median']:>11.0f} {m['min']:>7.0f}-{m['max']:<7.0f} "
                  f"{m['spread']:>6.0%} {s['cpu_s_per_gib']['median']:>9.2f} {rtxt:>16} "
                  f"{fmt_bytes(s['target_allocated_max']):>12}")


def sparse_vs_dense(summary, engine_names, allocated, results):
    """Issue 4's target: a big sparse disk holding N bytes of data copies
    within 1.2x of the time of a dense disk of N bytes, and its target
    allocates no more than the source. The ratio is the median of the
    same-round ratios (the two images take turns in each round)."""
    if "big-sparse" not in summary or "small-dense" not in summary:
        return {}
    out = {}
    for e in engine_names:
        big, small = summary["big-sparse"].get(e), summary["small-dense"].get(e)
        if not big or not small:
            continue
        walls = {}
        for r in results:
            if r["engine"] == e and r["image"] in PAIRED and "error" not in r:
                walls.setdefault(r["round"], {})[r["image"]] = r["wall_s"]
        ratios = summarize([w["big-sparse"] / w["small-dense"] for w in walls.values()
                            if len(w) == 2])
        out[e] = {
            "wall_ratio": ratios["median"],
            "wall_ratio_rounds": ratios,
            "big_sparse_wall_s": big["wall_s"]["median"],
            "small_dense_wall_s": small["wall_s"]["median"],
            "target_allocated_max": big["target_allocated_max"],
            "source_allocated": allocated["big-sparse"],
        }
    if out:
        print("\nbig-sparse against small-dense (same data; median wall times, and the "
              "median of same-round ratios with their range; target: at most 1.2x, "
              "target allocation <= source)")
        print(f"  {'engine':<16} {'big-sparse s':>12} {'small-dense s':>13} {'ratio':>6} "
              f"{'(min-max)':>11} {'target alloc':>12} {'source alloc':>12}")
        for e, r in out.items():
            alloc = r["target_allocated_max"]
            print(f"  {e:<16} {r['big_sparse_wall_s']:>12.3f} {r['small_dense_wall_s']:>13.3f} "
                  f"{r['wall_ratio']:>5.2f}x {r['wall_ratio_rounds']['min']:>5.2f}-"
                  f"{r['wall_ratio_rounds']['max']:<5.2f} {fmt_bytes(alloc):>12} "
                  f"{fmt_bytes(r['source_allocated']):>12}")
    return out


def plot(out_stem, summary, images, engine_names, ratios=None, reference=None):
    colors = {e: PALETTE[i % len(PALETTE)] for i, e in enumerate(engine_names)}
    pngs = []
    for key, title, ylabel, log in (
            ("mb_s", "Copy throughput, virtual bytes / wall time (median, min-max; log scale)",
             "MB/s", True),
            ("cpu_s_per_gib", "Host CPU per GiB of disk, source + destination (median, min-max)",
             "CPU seconds / GiB", False)):
        values = {g: {e: summary[g][e][key]["median"] for e in summary[g]} for g in images}
        errors = {g: {e: (summary[g][e][key]["min"], summary[g][e][key]["max"])
                      for e in summary[g]} for g in images}
        series = [e for e in engine_names if any(e in values[g] for g in images)]
        png = gnuplot_bars(f"{out_stem}-{key.replace('_', '-')}.png", title, ylabel,
                           images, series, values, errors, log, colors)
        if png:
            pngs.append(png)
    if reference and ratios:
        values = {g: {} for g in images}
        errors = {g: {} for g in images}
        for g in images:
            for e in engine_names:
                r = ratios[g].get(f"{e}/{reference}")
                if r and e != reference:
                    values[g][e] = r["median"]
                    errors[g][e] = (r["min"], r["max"])
        series = [e for e in engine_names if any(e in values[g] for g in images)]
        if series:
            png = gnuplot_bars(f"{out_stem}-vs-{reference}.png",
                               f"Throughput relative to {reference}, same-round ratios "
                               "(median, min-max; log scale)",
                               f"x {reference}", images, series, values, errors, True,
                               colors)
            if png:
                pngs.append(png)
    return pngs


def ferry_source():
    """The commit the ferry engine was built from, and whether nbd/ had
    uncommitted changes (the build uses the work tree)."""
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", top, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", top, "status", "--porcelain", "--", "nbd"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return head + (" + uncommitted nbd/ changes" if dirty else "") if head else "unknown"


def pick_workdir(need):
    for base in ("/dev/shm", tempfile.gettempdir()):
        try:
            st = os.statvfs(base)
        except OSError:
            continue
        if st.f_bavail * st.f_frsize > need:
            return tempfile.mkdtemp(prefix="ferry-bench-mirror-", dir=base)
    raise BenchError(f"no temporary directory with {fmt_bytes(need)} free")


def parse_size(s):
    units = {"K": 1024, "M": MIB, "G": GIB}
    if s[-1:].upper() in units:
        return int(float(s[:-1]) * units[s[-1:].upper()])
    return int(s)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--images", default=",".join(IMAGES), help="comma list of " +
                    ", ".join(IMAGES))
    ap.add_argument("--engines", default="", help="comma list (default: all available)")
    ap.add_argument("--size", type=parse_size, default=GIB,
                    help="size of dense/mixed/sparse images (default 1G)")
    ap.add_argument("--prealloc-size", type=parse_size, default=4 * GIB,
                    help="size of the preallocated image (default 4G)")
    ap.add_argument("--prealloc-data", type=parse_size, default=512 * MIB,
                    help="non-zero data in the preallocated image (default 512M)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every size")
    ap.add_argument("--quick", action="store_true", help="smoke run: --scale 1/16 --runs 1")
    ap.add_argument("--verify", choices=("first", "all", "none"), default="first",
                    help="compare target and source after the first round / all / never")
    ap.add_argument("--ferry-copy", default="", help="ferry's copy driver (bench/mirror-ferry)")
    ap.add_argument("--qemu", default=qemu_mirror.DEFAULT_QEMU)
    ap.add_argument("--malloc", choices=qemu_mirror.Destination.MALLOC, default="ferryd",
                    help="the destination QEMU's glibc malloc settings: ferryd's (default: "
                         "NBD request buffers stay in the heap) or glibc's defaults (every "
                         "buffer faulted in anew)")
    ap.add_argument("--listen", choices=qemu_mirror.Destination.LISTEN, default="tcp-nodelay",
                    help="how the destination's NBD server listens: tcp-nodelay (default: "
                         "as ferryd starts it), tcp (as libvirt does: QEMU 7.2's replies then "
                         "wait for delayed ACKs), unix")
    ap.add_argument("--out", default="bench-results", help="directory for JSON and PNGs")
    ap.add_argument("--big-size", type=parse_size, default=8 * GIB,
                    help="size of the big-sparse image (default 8G; it holds "
                         "--prealloc-data of data, and small-dense is that size)")
    ap.add_argument("--seed", type=int, default=1, help="layout of mixed/sparse/prealloc")
    args = ap.parse_args(argv)
    if args.quick:
        args.scale, args.runs = args.scale / 16, 1
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    def scaled(n):
        return max(SLOT, int(n * args.scale) // SLOT * SLOT)

    images = [i for i in args.images.split(",") if i]
    for i in images:
        if i not in IMAGES:
            ap.error(f"unknown image '{i}'")
    sizes = {i: scaled({"prealloc": args.prealloc_size, "big-sparse": args.big_size,
                        "small-dense": args.prealloc_data}.get(i, args.size)) for i in images}
    table = engines(args.ferry_copy if args.ferry_copy and os.access(args.ferry_copy, os.X_OK)
                    else None)
    tools = {"nbdcopy": "nbdcopy", "nbdcopy-dz": "nbdcopy", "qemu-img": "qemu-img"}
    table = [e for e in table if shutil.which(tools.get(e[0], "cat"))]
    if not shutil.which(args.qemu):
        table = [e for e in table if not e[1]]
    if args.engines:
        wanted = args.engines.split(",")
        known = [e[0] for e in engines("ferry")]
        for w in wanted:
            if w not in known:
                ap.error(f"unknown engine '{w}' (known: {', '.join(known)})")
        table = [e for e in table if e[0] in wanted]
    engine_names = [e[0] for e in table]
    if not engine_names:
        print("SKIP: no engine available")
        return 77

    # One image at a time: its source and one target (dd fills it) at most.
    need = 2 * max(sizes.values()) + 256 * MIB
    workdir = pick_workdir(need)
    os.makedirs(args.out, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_stem = os.path.join(args.out, f"mirror-{stamp}")
    doc = {
        "benchmark": "mirror",
        "inputs": {
            "runs": args.runs, "scale": args.scale, "verify": args.verify, "seed": args.seed,
            "images": {i: {"size": sizes[i], "layout": IMAGES[i][1]} for i in images},
            "prealloc_data": int(args.prealloc_data * args.scale),
            "engines": {e[0]: e[4] for e in table},
            "destination": "QEMU -incoming defer, raw image on the work directory, "
                           "discard=unmap, NBD export on " +
                           {"tcp": "127.0.0.1 (TCP, nbd-server-start as libvirt)",
                            "tcp-nodelay": "127.0.0.1 (TCP, a TCP_NODELAY listener passed "
                                           "with getfd, as ferryd)",
                            "unix": "a unix socket"}[args.listen] +
                           ("; ferryd's malloc settings" if args.malloc == "ferryd"
                            else "; glibc's default malloc settings"),
            "listen": args.listen,
            "malloc": args.malloc,
            "workdir": workdir,
            "ferry_source": ferry_source(),
        },
        "machine": machine_facts(workdir, args.qemu),
        "runs": [],
    }
    print(f"ferry mirror benchmark: {args.runs} rounds, engines {', '.join(engine_names)}; "
          f"ferry from {doc['inputs']['ferry_source']}")
    print(f"destination: {doc['inputs']['destination']}")
    print(f"machine: {doc['machine']['cpu_model']}, {doc['machine']['cores']} cores, "
          f"kernel {doc['machine']['kernel']}, work dir {workdir} "
          f"({doc['machine']['workdir_fs']})")
    load = doc["machine"]["loadavg_start"][0]
    if load > 0.5 * doc["machine"]["cores"]:
        print(f"warning: load average {load:.1f} on {doc['machine']['cores']} cores: "
              "other work is running, expect wide spreads")
    allocated = {}
    try:
        rng = random.Random(args.seed)
        # big-sparse and small-dense hold the same data and little of it:
        # they are made together and take turns within each round, so
        # their ratio is a same-round one like the engines'.
        groups = []
        for image in images:
            if image in PAIRED and all(p in images for p in PAIRED):
                if image == PAIRED[0]:
                    groups.append(list(PAIRED))
            else:
                groups.append([image])
        for group in groups:
            for image in group:
                t0 = time.monotonic()
                path = os.path.join(workdir, f"{image}.raw")
                IMAGES[image][0](path, sizes[image], rng,
                                 data=int(args.prealloc_data * args.scale) // SLOT * SLOT)
                allocated[image] = allocated_bytes(path)
                doc["inputs"]["images"][image]["allocated"] = allocated[image]
                print(f"  made {image} ({fmt_bytes(sizes[image])}) in "
                      f"{time.monotonic() - t0:.1f} s")
            for rnd in range(args.runs):
                for eng in table:
                    for image in group:
                        verify = args.verify == "all" or (args.verify == "first" and rnd == 0)
                        rec = run_one(image, sizes[image], eng, workdir, args.qemu, verify,
                                      args.listen, args.malloc)
                        rec["round"] = rnd
                        doc["runs"].append(rec)
                        if "error" in rec:
                            print(f"  {image} round {rnd} {eng[0]}: FAILED: {rec['error']}")
                        else:
                            print(f"  {image} round {rnd} {eng[0]:<16} {rec['wall_s']:7.2f} s "
                                  f"{rec['mb_s']:7.0f} MB/s  CPU {rec['cpu_s']:6.2f} s")
            for image in group:
                os.unlink(os.path.join(workdir, f"{image}.raw"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    doc["machine"]["loadavg_end"] = list(os.getloadavg())
    doc["summary"] = summarise(doc["runs"], images, engine_names)
    doc["ratios"] = pairwise(doc["runs"], images, engine_names)
    reference = "qemu-mirror" if "qemu-mirror" in engine_names else engine_names[0]
    print_table(doc["summary"], doc["ratios"], images, engine_names, sizes, allocated,
                reference)
    doc["sparse_vs_dense"] = sparse_vs_dense(doc["summary"], engine_names, allocated, doc["runs"])
    doc["charts"] = plot(out_stem, doc["summary"], images, engine_names, doc["ratios"],
                         reference)
    write_json(out_stem + ".json", doc)
    print(f"\nMB/s = virtual disk bytes / wall time (10^6). CPU counts the source and "
          f"destination processes.\nresults: {out_stem}.json" +
          "".join(f"\nchart: {p}" for p in doc["charts"]))
    failed = [r for r in doc["runs"] if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
