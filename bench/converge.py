#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Storage convergence benchmark (issue 15): a guest disk written at 0, 1x
and 4x a link limited by --bandwidth-disk, migrated by ferry with
--auto-converge-storage, ferry without it, QEMU's mirror in background
mode and QEMU's mirror with --synchronous-writes. Per cell: converged or
not, total time, downtime (QEMU's figure) and its storage part, and the
guest's own write throughput during the migration against before it.

The guest's writes go through its virtio device (qemu-io over HMP) on one
control connection kept open (python/ferry): 64 KiB at random offsets of
an 8 MiB region, paced to the rate. A throttled write holds QEMU's
monitor, so the chunk stays small. One round per cell by default: the
machine is shared and 2-core; bench/README.md says how it was run."""

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))

import ferry  # noqa: E402
from benchlib import MIB, BenchError  # noqa: E402
from ferrybench import (Agent, copy_sparse, domain_xml, make_data_disk, pick_workdir,  # noqa: E402
                        remove_tree, wait_for)
import guestvm  # noqa: E402

CHUNK = 64 * 1024
REGION = 8 * MIB
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


def one(src, dst, kernel, template, cfg, write_mult, link_mib, limit_s, seed):
    name = "cv%d" % seed
    disk = os.path.join(src.images, name + "-vda.raw")
    copy_sparse(template, disk)
    xml = os.path.join(src.dir, name + ".xml")
    with open(xml, "w") as f:
        f.write(domain_xml(name, kernel, "rate=0 size=16", [("vda", disk)], 64))
    rec = {"config": cfg, "write_mult": write_mult, "link_mib": link_mib}
    w = None
    try:
        src.ctl("define", xml)
        src.ctl("start", name)
        wait_for(lambda: guestvm.read_log(src.serial(name))["heartbeats"] >= 1, 60,
                 "a heartbeat")
        w = Writer(src.control, name, int(write_mult * link_mib * MIB), seed).start()
        time.sleep(3)
        t_start = time.monotonic()
        argv = [src.ferryctl, "-c", src.control, "migrate", "--live", "--copy-storage-all",
                "--bandwidth-disk", str(link_mib), "--max-downtime", "300"] + CONFIGS[cfg] + \
            [name, dst.uri]
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
        for a in (dst, src):
            a.ctl("destroy", name, check=False)
            a.ctl("undefine", name, check=False)
        for d in (src.images, dst.images):
            for f in os.listdir(d):
                if f.startswith(name):
                    os.unlink(os.path.join(d, f))
    return rec


def table(recs, configs, mults):
    print("| write rate / link | " + " | ".join(configs) + " |")
    print("| --- |" + " --- |" * len(configs))
    for m in mults:
        cells = []
        for c in configs:
            r = next((x for x in recs if x["config"] == c and x["write_mult"] == m), None)
            if not r:
                cells.append("-")
                continue
            wr = ("%.0f%%" % (100 * r["write_during"] / r["write_before"])
                  if r["write_before"] else "-")
            if r["converged"]:
                cells.append("yes, %.1f s, %s / %s ms, writes %s" % (
                    r["total_s"], r["downtime_ms"], r["storage_downtime_ms"], wr))
            else:
                cells.append("**no** (%s), writes %s" % (r["outcome"][:40], wr))
        print("| %gx | %s |" % (m, " | ".join(cells)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--link", type=int, default=1, help="--bandwidth-disk, MiB/s")
    ap.add_argument("--mults", default="0,1,4", help="guest write rates, in links")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--limit", type=int, default=45, help="seconds per migration")
    ap.add_argument("--out", default="bench-results")
    ap.add_argument("--report", default="", help="print the table of an earlier JSON and exit")
    ap.add_argument("--keep", action="store_true", help="keep the agents' directories (logs)")
    a = ap.parse_args()
    configs = a.configs.split(",")
    mults = [float(x) for x in a.mults.split(",")]
    if a.report:
        recs = json.load(open(a.report))
        table(recs, configs, mults)
        return
    build = os.path.abspath(a.build)
    ferryd = os.path.join(build, "ferryd", "ferryd")
    ferryctl = os.path.join(build, "ctl", "ferryctl")
    kernel = os.path.join(build, "tests", "guest", "multiboot", "ferry-guest.elf")
    root = pick_workdir(256 * MIB, "ferry-converge-")
    recs, agents = [], []
    try:
        agents.append(Agent(ferryd, ferryctl, root, "src").start())
        agents.append(Agent(ferryd, ferryctl, root, "dst").start())
        src, dst = agents
        template = os.path.join(root, "template.raw")
        make_data_disk(template, 16 * MIB, 0.125, run=MIB)
        seed = 1
        for m in mults:
            for c in configs:
                seed += 1
                try:
                    r = one(src, dst, kernel, template, c, m, a.link, a.limit, seed)
                except BenchError as e:
                    r = {"config": c, "write_mult": m, "converged": False,
                         "outcome": "error: %s" % e, "write_before": 0, "write_during": 0}
                print(json.dumps(r), flush=True)
                recs.append(r)
        os.makedirs(a.out, exist_ok=True)
        path = os.path.join(a.out, "converge.json")
        json.dump(recs, open(path, "w"), indent=1)
        print("wrote", path)
        table(recs, configs, mults)
    finally:
        for ag in agents:
            ag.stop()
        if a.keep:
            print("kept", root)
        else:
            remove_tree(root)


if __name__ == "__main__":
    main()
