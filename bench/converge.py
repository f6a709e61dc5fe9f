#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Storage convergence benchmark (issue 15): a guest disk written at 0,
0.5x, 1x, 2x and 4x a link, migrated by ferry with --auto-converge-storage,
ferry without it, QEMU's mirror in background mode and QEMU's mirror with
--synchronous-writes. Per cell: converged or not, total time, downtime
(QEMU's figure) and its storage part, and the guest's own write throughput
during the migration against before it.

Two kinds of link (--links): "bandwidth-disk", both agents on 127.0.0.1
and the link a `--bandwidth-disk` cap on the copy engines' streams; and
"shaped", a real one: the destination agent (and the QEMUs it starts) in a
network namespace of our own behind a veth pair with a tbf qdisc on each
end (bench/shapedlink.py), so every stream between the agents (the NBD
copy, the write-blocking mirror's synchronous writes, RAM) crosses it, and
no --bandwidth-disk is given.

The guest's writes go through its virtio device (qemu-io over HMP) on one
control connection kept open (python/ferry): 64 KiB at random offsets of
an 8 MiB region, paced to the rate. A throttled write holds QEMU's
monitor, so the chunk stays small. One round per cell by default: the
machine is shared and 2-core; bench/README.md says how it was run."""

import argparse
import calendar
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

import ferry  # noqa: E402
from benchlib import MIB, BenchError, stop_foreign_pid, stop_pid  # noqa: E402
from ferrybench import (Agent, copy_sparse, domain_xml, make_data_disk, pick_workdir,  # noqa: E402
                        remove_tree, wait_for)
import guestvm  # noqa: E402
import plots  # noqa: E402
from shapedlink import ShapedLink, netns_available  # noqa: E402

CHUNK = 64 * 1024
REGION = 8 * MIB
# The multiboot guest invalidates a page's TLB entry before each store, so
# QEMU 7.2's lost TCG writes in extra RAM rounds cannot touch it: its
# agents may shrink downtime-limit under TCG as under KVM
# (qemu/qemu-converge.c, docs/known-issues.md).
os.environ.setdefault("FERRY_TCG_RAM_ROUNDS", "1")

# The guest's RAM working set, MiB (its pages hold data; the rest of its 64
# MiB is zero and crosses a link as zero pages): small, so that RAM takes
# seconds, not the cell's limit, over a shaped 1 MiB/s link.
GUEST_SET_MIB = 2
# A cell's time besides the migration: boot, 3 s of writes before, cleanup.
CELL_OVERHEAD_S = 12
CONFIGS = {
    "ferry+acs": ["--storage-engine", "ferry", "--auto-converge-storage"],
    "ferry": ["--storage-engine", "ferry"],
    "qemu": ["--storage-engine", "qemu"],
    "qemu+sync": ["--storage-engine", "qemu", "--synchronous-writes"],
}


class Writer:
    """RATE bytes/s of guest writes until stopped or the guest pauses;
    records each write's completion time (monotonic s)."""

    def __init__(self, control, dom, rate, seed):
        self.control, self.dom, self.rate = control, dom, rate
        self.rng = random.Random(seed)
        self.done = []
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def start(self):
        if self.rate:
            self.thread.start()
        return self

    def run(self):
        c = ferry.Client.connect(self.control, timeout=60)
        t0 = time.monotonic()
        n = 0
        try:
            while not self.stop_ev.is_set():
                if c.domain_state(self.dom)[0] != "running":
                    return  # the switchover: qemu-io must not write now
                off = self.rng.randrange(REGION // CHUNK) * CHUNK
                c.domain_monitor(self.dom, 'qemu-io -d /machine/peripheral/vda/virtio-backend '
                                 '"write -P 0x%02x %d %d"' % (n & 0xff, off, CHUNK), hmp=True)
                n += 1
                self.done.append(time.monotonic())
                ahead = n * CHUNK / self.rate - (time.monotonic() - t0)
                if ahead > 0:
                    self.stop_ev.wait(ahead)
                elif ahead < -2:
                    t0 = time.monotonic() - n * CHUNK / self.rate  # no catch-up burst
        except (ferry.FerryError, OSError):
            return
        finally:
            c.close()

    def rate_between(self, a, b):
        n = sum(1 for t in self.done if a <= t <= b)
        return n * CHUNK / max(b - a, 1e-3)

    def stop(self):
        self.stop_ev.set()
        if self.thread.is_alive():
            self.thread.join(30)


def one(src, dst, kernel, template, cfg, write_mult, link_mib, limit_s, seed,
        link="bandwidth-disk", max_downtime=300):
    name = "cv%d" % seed
    disk = os.path.join(src.images, name + "-vda.raw")
    copy_sparse(template, disk)
    xml = os.path.join(src.dir, name + ".xml")
    with open(xml, "w") as f:
        f.write(domain_xml(name, kernel, "rate=0 size=%d" % GUEST_SET_MIB, [("vda", disk)], 64))
    rec = {"config": cfg, "write_mult": write_mult, "link_mib": link_mib, "link": link,
           "started_utc": time.strftime("%H:%M:%S", time.gmtime())}
    w = p = None
    try:
        src.ctl("define", xml)
        src.ctl("start", name)
        wait_for(lambda: guestvm.read_log(src.serial(name))["heartbeats"] >= 1, 60,
                 "a heartbeat")
        w = Writer(src.control, name, int(write_mult * link_mib * MIB), seed).start()
        time.sleep(3)
        t_start = time.monotonic()
        # On the shaped link the interface is the limit, for every stream.
        cap = ["--bandwidth-disk", "%g" % link_mib] if link == "bandwidth-disk" else []
        argv = [src.ferryctl, "-c", src.control, "migrate", "--live", "--copy-storage-all",
                "--max-downtime", str(max_downtime)] + cap + CONFIGS[cfg] + [name, dst.uri]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _, err = p.communicate(timeout=limit_s)
            rec["converged"] = p.returncode == 0
            rec["outcome"] = "converged" if p.returncode == 0 else err.strip()[-200:]
        except subprocess.TimeoutExpired:
            src.ctl("domjobabort", name, check=False)
            p.communicate(timeout=60)
            rec["converged"] = False
            rec["outcome"] = "not in %d s" % limit_s
        t_end = time.monotonic()
        w.stop()
        rec["total_s"] = round(t_end - t_start, 1)
        # Throughput: the 3 s before against the migration (until the
        # writer stopped at the pause, or the end).
        last = w.done[-1] if w.done else t_end
        rec["write_before"] = w.rate_between(t_start - 3, t_start)
        rec["write_during"] = w.rate_between(t_start, min(t_end, max(last, t_start + 1e-3)))
        job = src.ctl_json("domjobinfo", name, "--completed", check=False)
        rec["downtime_ms"] = job.get("downtime")
        rec["storage_downtime_ms"] = job.get("storage_downtime")
        rec["max_throttle"] = max((d.get("throttle", 0) for d in job.get("disks", [])), default=0)
    finally:
        if w:
            w.stop()
        if p and p.poll() is None:
            # Interrupted mid-migration: a domain with a job cannot be
            # destroyed, so end the job first.
            src.ctl("domjobabort", name, check=False)
            try:
                p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                stop_pid(p.pid)
        for a in (dst, src):
            a.ctl("destroy", name, check=False)
            a.ctl("undefine", name, check=False)
        for d in (src.images, dst.images):
            for f in os.listdir(d):
                if f.startswith(name):
                    os.unlink(os.path.join(d, f))
    return rec


def _median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def writes_ratio(r):
    """The guest's write throughput during the migration over before it
    (None when it was not writing)."""
    return r["write_during"] / r["write_before"] if r.get("write_before") else None


def cell_text(rs):
    """One cell from its rounds RS: converged or not, total time, downtime /
    its storage part (ms), writes during vs before (medians over rounds)."""
    if not rs:
        return "-"
    ok = [r for r in rs if r["converged"]]
    wr = _median([writes_ratio(r) for r in rs])
    before = _median([r.get("write_before") or None for r in rs])
    writes = ", writes %.0f%% of %.2f MiB/s" % (100 * wr, before / MIB) if wr is not None else ""
    n = "" if len(rs) == 1 else "%d/%d " % (len(ok), len(rs))
    if ok:
        return "%syes, %.1f s, %s / %s ms%s" % (
            n, _median([r["total_s"] for r in ok]), _median([r.get("downtime_ms") for r in ok]),
            _median([r.get("storage_downtime_ms") for r in ok]), writes)
    return "%s**no** (%s)%s" % (n, rs[0]["outcome"][:60].replace("|", "/"), writes)


def cells_of(recs, link):
    out = {}
    for r in recs:
        if r.get("link", "bandwidth-disk") == link:
            out.setdefault((r["config"], r["write_mult"]), []).append(r)
    return out


def table(recs, configs, mults, link):
    cells = cells_of(recs, link)
    print("| write rate / link | " + " | ".join(configs) + " |")
    print("| --- |" + " --- |" * len(configs))
    for m in mults:
        print("| %gx | %s |" % (m, " | ".join(cell_text(cells.get((c, m), []))
                                            for c in configs)))


def targets(recs, mults, link, max_downtime):
    """Issue 15's targets, judged from the records only; one line each."""
    cells = cells_of(recs, link)
    acs = {m: cells.get(("ferry+acs", m), []) for m in mults}
    lines = []
    ran = [m for m in mults if acs[m]]
    if not ran:
        return ["ferry+acs was not run"]
    conv = [m for m in ran if all(r["converged"] for r in acs[m])]
    lines.append("ferry+acs converges in every cell: %s (converged at %s of %s)" % (
        "met" if len(conv) == len(ran) else "NOT met", _xs(conv), _xs(ran)))
    over = [m for m in ran for r in acs[m]
            if r["converged"] and (r.get("downtime_ms") or 0) > max_downtime]
    lines.append("ferry+acs downtime within --max-downtime %d ms in every cell: %s%s" % (
        max_downtime, "met" if not over and len(conv) == len(ran) else "NOT met",
        " (over at %s)" % _xs(over) if over else
        "" if len(conv) == len(ran) else " (not every cell converged)"))
    pairs = []
    for m in ran:
        sy = cells.get(("qemu+sync", m), [])
        if m == 0 or not sy or not all(r["converged"] for r in sy + acs[m]):
            continue
        a = _median([r["write_during"] for r in acs[m]])
        b = _median([r["write_during"] for r in sy])
        pairs.append((m, a / b if b else None))
    if pairs:
        bad = [m for m, q in pairs if q is None or q < 2]
        ratios = ", ".join("%gx: %s" % (m, "%.2fx" % q if q is not None else "-")
                           for m, q in pairs)
        lines.append("writes >= 2x those under --synchronous-writes where both converge: %s (%s)"
                     % ("met" if not bad else "NOT met", ratios))
    else:
        lines.append("writes >= 2x those under --synchronous-writes: no write rate where both "
                     "converged")
    for other in ("qemu", "qemu+sync"):
        cmp_ = []
        for m in ran:
            o = [r for r in cells.get((other, m), []) if r["converged"]]
            a = [r for r in acs[m] if r["converged"]]
            if o and a:
                cmp_.append((m, _median([r.get("storage_downtime_ms") for r in a]),
                             _median([r.get("storage_downtime_ms") for r in o])))
        if not cmp_:
            lines.append("storage downtime <= %s's: no write rate where both converged" % other)
            continue
        bad = [m for m, a, o in cmp_ if a is None or o is None or a > o]
        lines.append("storage downtime <= %s's where both converged: %s (%s)" % (
            other, "met" if not bad else "NOT met",
            ", ".join("%gx: %s vs %s ms" % c for c in cmp_)))
    return lines


def _xs(ms):
    return ",".join("%gx" % m for m in ms) or "none"


def plot(recs, configs, mults, link, out):
    """Guest write throughput during / before (%) against the write rate,
    one line per config (bench/plots.py); None without gnuplot."""
    cells = cells_of(recs, link)
    xs = [m for m in mults if m > 0]
    series = {}
    for c in configs:
        pts = []
        for m in xs:
            rs = cells.get((c, m), [])
            wr = _median([writes_ratio(r) for r in rs])
            pts.append(("%gx" % m, None if wr is None else 100 * wr,
                        bool(rs) and all(r["converged"] for r in rs)))
        series[c] = pts
    what = ("a --bandwidth-disk cap" if link == "bandwidth-disk" else "a shaped veth link (tbf)")
    return plots.write_throughput(
        os.path.join(out, "converge-%s.png" % link),
        "Guest disk writes during the migration vs before, over %s" % what,
        "guest write rate / link", "writes during / before (%)", ["%gx" % m for m in xs], series)


def stop_guests(agent):
    """Stops, by the PIDs in its pid files, any QEMU that AGENT left
    running (ferryd leaves its guests running when it exits, as libvirtd
    does; a cell cut short may not have destroyed its guest)."""
    run = os.path.join(agent.state, "run")
    for f in os.listdir(run) if os.path.isdir(run) else []:
        if not f.endswith(".pid"):
            continue
        try:
            pid = int(open(os.path.join(run, f)).read().strip())
            cmd = open("/proc/%d/cmdline" % pid, "rb").read()
        except (OSError, ValueError):
            continue
        if b"qemu" in cmd and ("guest=" + f[:-4]).encode() in cmd:
            print("stopping %s's leftover guest %s (pid %d)" % (agent.name, f[:-4], pid))
            stop_foreign_pid(pid)


def run_link(link, a, ferryd, ferryctl, kernel, root, template, configs, mults, recs):
    """Every cell of the grid on one kind of link, A.ROUNDS times."""
    agents, shaped, skipped = [], None, []
    info = {"link": link, "link_mib": a.link}
    try:
        if link == "shaped":
            shaped = ShapedLink(a.link * MIB).create()
            m = shaped.measure()
            info.update({"netns": shaped.ns, "host": shaped.host, "peer": shaped.peer,
                         "measured_host_to_peer_mib_s": round(m["host_to_peer"] / MIB, 3),
                         "measured_peer_to_host_mib_s": round(m["peer_to_host"] / MIB, 3)})
            print("shaped link %s: %s <-> %s, tbf %g MiB/s each way; measured %.2f / %.2f "
                  "MiB/s" % (shaped.ns, shaped.host, shaped.peer, a.link,
                             m["host_to_peer"] / MIB, m["peer_to_host"] / MIB), flush=True)
            d = os.path.join(root, link)
            agents.append(Agent(ferryd, ferryctl, d, "src", listen=shaped.host).start())
            agents.append(Agent(ferryd, ferryctl, d, "dst", listen=shaped.peer,
                                wrap=shaped.wrap()).start())
        else:
            d = os.path.join(root, link)
            agents.append(Agent(ferryd, ferryctl, d, "src").start())
            agents.append(Agent(ferryd, ferryctl, d, "dst").start())
        src, dst = agents
        seed = 1 if link == "bandwidth-disk" else 1001
        for rnd in range(a.rounds):
            for m in mults:
                for c in configs:
                    seed += 1
                    if a.deadline and time.time() + a.limit + CELL_OVERHEAD_S > a.deadline:
                        skipped.append("%s %gx round %d" % (c, m, rnd + 1))
                        continue
                    try:
                        r = one(src, dst, kernel, template, c, m, a.link, a.limit, seed, link,
                                a.max_downtime)
                    except Exception as e:  # noqa: BLE001 - one cell's failure is its result
                        r = {"config": c, "write_mult": m, "link": link, "converged": False,
                             "outcome": "error: %s: %s" % (type(e).__name__, e),
                             "write_before": 0, "write_during": 0}
                    r["round"] = rnd + 1
                    print(json.dumps(r), flush=True)
                    recs.append(r)
        if skipped:
            info["skipped_for_deadline"] = skipped
            print("skipped (they could not end by --deadline):", ", ".join(skipped), flush=True)
        if shaped:
            info["qdisc_after"] = shaped.qdisc_stats()
    finally:
        for ag in agents:
            ag.stop()
            stop_guests(ag)
        if shaped:
            shaped.close()
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--link", type=float, default=1, help="the link's rate, MiB/s")
    ap.add_argument("--links", default="bandwidth-disk",
                    help="bandwidth-disk (a --bandwidth-disk cap) and/or shaped (a tbf-shaped "
                         "veth into a network namespace), comma-separated")
    ap.add_argument("--mults", default="0,0.5,1,2,4", help="guest write rates, in links")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--limit", type=int, default=45, help="seconds per migration")
    ap.add_argument("--rounds", type=int, default=1, help="runs of each cell")
    ap.add_argument("--deadline", default="",
                    help="HH:MM (UTC, today): skip the cells that could not end by then")
    ap.add_argument("--max-downtime", type=int, default=300, help="ms, handed to ferryctl")
    ap.add_argument("--out", default="bench-results")
    ap.add_argument("--report", default="", help="print the tables of an earlier JSON and exit")
    ap.add_argument("--keep", action="store_true", help="keep the agents' directories (logs)")
    a = ap.parse_args()
    configs = a.configs.split(",")
    mults = [float(x) for x in a.mults.split(",")]
    links = a.links.split(",")
    if a.deadline:
        hh, mm = (int(x) for x in a.deadline.split(":"))
        t = time.gmtime()
        a.deadline = calendar.timegm((t.tm_year, t.tm_mon, t.tm_mday, hh, mm, 0))
    for ln in links:
        if ln not in ("bandwidth-disk", "shaped"):
            ap.error("--links: unknown link '%s'" % ln)
    if a.report:
        doc = json.load(open(a.report))
        recs = doc["runs"] if isinstance(doc, dict) else doc
        report(recs, configs, mults, links, a.max_downtime, os.path.dirname(a.report) or ".")
        return 0
    build = os.path.abspath(a.build)
    ferryd = os.path.join(build, "ferryd", "ferryd")
    ferryctl = os.path.join(build, "ctl", "ferryctl")
    kernel = os.path.join(build, "tests", "guest", "multiboot", "ferry-guest.elf")
    for f in (ferryd, ferryctl, kernel):
        if not os.path.exists(f):
            print("converge: %s is not built" % f, file=sys.stderr)
            return 77
    if "shaped" in links:
        ok, why = netns_available()
        if not ok:
            print("converge: no shaped link: %s; running the others" % why, file=sys.stderr)
            links.remove("shaped")
    # SIGTERM ends the run through the finally clauses (agents, namespace).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = pick_workdir(256 * MIB, "ferry-converge-")
    recs, infos = [], []
    try:
        template = os.path.join(root, "template.raw")
        make_data_disk(template, 16 * MIB, 0.125, run=MIB)
        for ln in links:
            infos.append(run_link(ln, a, ferryd, ferryctl, kernel, root, template, configs,
                                  mults, recs))
    finally:
        os.makedirs(a.out, exist_ok=True)
        path = os.path.join(a.out, "converge.json")
        with open(path, "w") as f:
            json.dump({"args": vars(a), "links": infos, "runs": recs}, f, indent=1)
        print("wrote", path)
        if a.keep:
            print("kept", root)
        else:
            remove_tree(root)
    report(recs, configs, mults, links, a.max_downtime, a.out)
    return 0


def report(recs, configs, mults, links, max_downtime, out):
    for ln in links:
        if not any(r.get("link", "bandwidth-disk") == ln for r in recs):
            continue
        print("\n%s link: converged?, total time, downtime / its storage part, writes during "
              "the migration vs before" % ln)
        table(recs, configs, mults, ln)
        print()
        for t in targets(recs, mults, ln, max_downtime):
            print("- " + t)
        png = plot(recs, configs, mults, ln, out)
        print("plot:", png or "none (gnuplot not found)")


if __name__ == "__main__":
    sys.exit(main())
