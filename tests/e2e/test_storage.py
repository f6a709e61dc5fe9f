#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Storage migration between two real agents on 127.0.0.1 (issue "Storage
migration"): disks that are not on shared storage travel with the guest,
byte for byte and as sparse as they were, while the guest keeps writing.

Guest writes are injected through the device path with qemu-io (HMP), the
way DESIGN.md describes. qemu-io can still write while the source is
paused at pre-switchover, after the last storage pass, which no real guest
can; so a write counts as confirmed only when `domstate` said "running"
after it returned, and only unconfirmed writes' ranges are left out of the
comparison. Random choices come from one seed, printed first (set
FERRY_SEED to replay a run)."""

import json
import os
import random
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
import zlib

from ferrytest import (GUEST_KERNEL, Agent, Runner, Skip, allocated_bytes, data_extents, define,
                       first_difference, make_disk, need_qemu, pid_alive, sha256_file, tmpdir,
                       wait_for)

SEED = int(os.environ.get("FERRY_SEED", str(time.time_ns() % (1 << 32))))
MIB = 1 << 20
# The destination may allocate this much more than the source (file system
# block rounding, a qcow2 table or two), no more.
SPARSE_MARGIN = 2 * MIB
# FERRY_AGENT_DEBUG=1: the agents log at debug level (kept with FERRY_KEEP_TMP).
AGENT_ARGS = ("--debug",) if os.environ.get("FERRY_AGENT_DEBUG") else ()


def guest_kw(rate=4, size=16, memory=64):
    if not GUEST_KERNEL or not os.path.exists(GUEST_KERNEL):
        raise Skip("test guest kernel not built")
    return dict(kernel=GUEST_KERNEL, cmdline="rate=%d size=%d" % (rate, size), memory_mib=memory)


class Pair:
    def __init__(self, tag, *dst_extra, before_dst_start=None):
        self.src = Agent("src-" + tag, *AGENT_ARGS).start()
        self.dst = Agent("dst-" + tag, *(AGENT_ARGS + dst_extra))
        if before_dst_start:
            before_dst_start(self.dst)
        self.dst.start()

    def stop(self):
        for a in (self.src, self.dst):
            if a.proc is None:
                continue
            for name in list(a.domains()):
                if a.state_of(name) != "shutoff":
                    a.ctl("destroy", name, check=False)
            a.stop()


def random_disk(path, size, rng, data_bytes, run_max=8 * MIB, zero_runs=0):
    """A sparse raw image of SIZE bytes with DATA_BYTES of random data in
    runs (4 KiB aligned, up to RUN_MAX) spread over the image with holes
    between them, plus ZERO_RUNS allocated MiB of zeros."""
    nruns = max(1, data_bytes // (run_max // 2))
    slot = size // nruns // 4096 * 4096
    left = data_bytes
    with open(path, "wb") as f:
        f.truncate(size)
        for i in range(nruns):
            if left <= 0:
                break
            n = min(left, rng.randrange(1, run_max // 4096 + 1) * 4096, slot)
            if i == nruns - 1:
                n = min(left, slot)
            off = i * slot + rng.randrange(0, (slot - n) // 4096 + 1) * 4096
            f.seek(off)
            f.write(os.urandom(n))
            left -= n
        for _ in range(zero_runs):
            f.seek(rng.randrange(0, (size - MIB) // 4096) * 4096)
            f.write(bytes(MIB))
        f.flush()
        os.fsync(f.fileno())
    return path


def disk_sources(agent, dom):
    """{target: source path} from the domain's dumpxml."""
    root = ET.fromstring(agent.ctl("dumpxml", dom).stdout)
    out = {}
    for d in root.iter("disk"):
        out[d.find("target").get("dev")] = d.find("source").get("file")
    return out


def images(agent):
    try:
        return sorted(os.listdir(agent.images))
    except FileNotFoundError:
        return []


def image_for(agent, target):
    """The one file in AGENT's image dir made for disk TARGET."""
    names = [n for n in images(agent) if ("-%s." % target) in n]
    assert len(names) == 1, "image dir of %s for '%s': %s" % (agent.name, target, images(agent))
    return os.path.join(agent.images, names[0])


def migrate(src, dst, dom, *args, timeout=240):
    """Runs one migration to completion and waits for the source QEMU to go."""
    pid = src.qemu_pid(dom)
    r = src.ctl("migrate", "--live", *args, dom, dst.uri, check=False, timeout=timeout)
    assert r.returncode == 0, "migrate %s failed (%d): %s\nsource log: %s\ndest log: %s" % (
        " ".join(args), r.returncode, r.stderr, src.log_tail(), dst.log_tail())
    if pid:
        wait_for(lambda: not pid_alive(pid), 20, "the source QEMU to exit")
    assert dst.state_of(dom) == "running"
    return r


def assert_identical(a, b, ranges=None, what="destination"):
    off = first_difference(a, b, ranges)
    assert off is None, "%s differs from the source at byte %d (0x%x): %s vs %s" % (
        what, off, off, a, b)


def assert_sparse(src_path, dst_path):
    sa, da = allocated_bytes(src_path), allocated_bytes(dst_path)
    assert da <= sa + SPARSE_MARGIN, "destination allocates %d bytes, the source %d" % (da, sa)
    sd = sum(n for _, n in data_extents(src_path))
    dd = sum(n for _, n in data_extents(dst_path))
    assert dd <= sd + SPARSE_MARGIN, "destination maps %d bytes of data, the source %d" % (dd, sd)
    return sa, da


# ---- 1. selective copy: two raw disks, only vda travels ----

def selective_copy(tag, *engine, extra=()):
    need_qemu()
    rng = random.Random(SEED ^ zlib.crc32(tag.encode()))
    p = Pair(tag)
    vda = os.path.join(p.src.dir, "g-vda.raw")
    vdb = os.path.join(p.src.dir, "g-vdb.raw")
    random_disk(vda, 256 * MIB, rng, 48 * MIB, zero_runs=3)
    random_disk(vdb, 32 * MIB, rng, 4 * MIB)
    define(p.src, "g", disks=[("vda", vda, "raw"), ("vdb", vdb, "raw")], **guest_kw())
    p.src.ctl("start", "g")
    vdb_sum = sha256_file(vdb)
    migrate(p.src, p.dst, "g", "--copy-storage-all", "--migrate-disks", "vda", *engine, *extra)
    # vda: a new image in the destination's image dir, same bytes, no
    # more allocated than on the source.
    dst_vda = image_for(p.dst, "vda")
    assert os.path.getsize(dst_vda) == os.path.getsize(vda)
    assert_identical(vda, dst_vda)
    sa, da = assert_sparse(vda, dst_vda)
    print("  vda %s: source allocates %.1f MiB, destination %.1f MiB (of %d MiB)" % (
        engine[-1] if engine else "ferry", sa / MIB, da / MIB, os.path.getsize(vda) // MIB))
    assert da < os.path.getsize(vda) // 2, "destination image is not sparse"
    # vdb: shared storage, not copied; the destination uses the source's file.
    assert not [n for n in images(p.dst) if "vdb" in n], images(p.dst)
    src_of = disk_sources(p.dst, "g")
    assert src_of == {"vda": dst_vda, "vdb": vdb}, src_of
    assert sha256_file(vdb) == vdb_sum
    info = p.src.ctl_json("domjobinfo", "g", "--completed")
    assert info["status"] == "completed" and info["disk_total"] == 256 * MIB, info
    assert [d["target"] for d in info.get("disks", [])] == ["vda"], info
    # Progress is reported for either engine: all of vda is accounted for.
    assert info["disk_processed"] == info["disk_total"] and info["disk_remaining"] == 0, info
    assert info["downtime"] > 0 and info["storage_downtime"] <= info["downtime"], info
    tl = assert_timeline(info, engine[-1] if engine else "ferry", ["vda"])
    if "--disk-writeback" in extra:
        # The destination was flushed while the bulk pass ran (48 MiB of
        # data; a flush every 4 MiB written, at most one in flight).
        wb = tl.get("writeback:vda")
        assert wb and wb["count"] >= 1, "no write-back flush during the bulk pass: %s" % sorted(tl)
        bulk = tl["bulk:vda"]
        assert bulk["start_ms"] <= wb["start_ms"] <= bulk["end_ms"], (wb, bulk)
    p.stop()


# The steps every --copy-storage-all migration's timeline holds on the
# source (both agents here share one clock), in the order they start.
TIMELINE_ORDER = ["begin", "dest:prepare", "dest:create-targets", "dest:qemu-start", "perform",
                  "storage", "ram", "pre-switchover", "final-pass", "switchover", "confirm"]


def assert_timeline(info, engine, disks):
    """INFO (domjobinfo --completed --json of the source) has a timeline
    with every step of a copy-storage migration, started in order, each
    ended, none longer than the whole job, and the destination's steps
    (from the cookies) inside its own Prepare/Finish."""
    tl = {p["phase"]: p for p in info["timeline"]}
    want = list(TIMELINE_ORDER)
    if engine == "ferry":
        want[want.index("storage") + 1:want.index("storage") + 1] = ["bulk:" + d for d in disks]
    for name in want + ["dest:finish", "dest:incoming", "dest:resume"]:
        assert name in tl, "timeline lacks %s: %s" % (name, sorted(tl))
        assert "end_ms" in tl[name], "%s never ended: %s" % (name, tl[name])
        assert 0 <= tl[name]["duration_ms"] <= info["time_elapsed"] + 1, tl[name]
    starts = [tl[n]["start_ms"] for n in want]
    assert starts == sorted(starts), "steps out of order: %s" % list(zip(want, starts))
    # Nested steps lie within their parent (0.1 ms rounding).
    def inside(child, parent):
        c, p = tl[child], tl[parent]
        assert p["start_ms"] - 0.1 <= c["start_ms"] and c["end_ms"] <= p["end_ms"] + 0.1, (
            "%s %s is not inside %s %s" % (child, c, parent, p))
    for child in ("dest:create-targets", "dest:qemu-start"):
        inside(child, "dest:prepare")
    inside("storage", "perform")
    inside("final-pass", "pre-switchover")
    inside("dest:incoming", "dest:finish")
    if engine == "ferry":
        for d in disks:
            inside("bulk:" + d, "storage")
    # The guest was paused from pre-switchover to the switchover's end:
    # that is QEMU's downtime, give or take the event's delivery.
    paused = tl["switchover"]["end_ms"] - tl["pre-switchover"]["start_ms"]
    assert paused <= info["downtime"] + 200, (paused, info["downtime"])
    print("  timeline (%s): %s" % (engine, ", ".join(
        "%s %.0f+%.0f" % (n, tl[n]["start_ms"], tl[n]["duration_ms"]) for n in want)))
    return tl


def test_selective_copy_ferry():
    selective_copy("sel", extra=("--disk-writeback", "4"))


def test_selective_copy_qemu_engine():
    selective_copy("selq", "--storage-engine", "qemu")


# ---- 2. guest writes before, during the bulk pass and during RAM ----

HMP_WRITE = 'qemu-io -d /machine/peripheral/%s/virtio-backend "write -P 0x%02x %d %d"'


class Write:
    __slots__ = ("off", "len", "pat", "phase", "confirmed")

    def __init__(self, off, length, pat, phase, confirmed):
        self.off, self.len, self.pat = off, length, pat
        self.phase, self.confirmed = phase, confirmed


def job_phase(info):
    """'bulk', 'dirty' (disk passes before RAM), 'ram' or None (no job)."""
    if not info or info.get("type") != "unbounded":
        return None
    if info.get("memory_processed", 0) > 0:
        return "ram"
    disks = info.get("disks") or []
    if disks and all(d.get("pass", 0) <= 1 for d in disks):
        return "bulk"
    if disks:
        return "dirty"
    return "setup"


def jobinfo(agent, dom):
    r = agent.ctl("domjobinfo", dom, "--json", check=False, timeout=30)
    if r.returncode != 0:
        return None
    try:
        return json.loads(r.stdout)
    except ValueError:
        return None


def inject(agent, dom, size, rng, during_migration):
    """One random write through the device; returns a Write."""
    length = rng.choice((512, 4096, rng.randrange(1, 257) * 512, rng.randrange(1, 65537)))
    off = rng.randrange(0, size - length)
    if rng.random() < 0.7:
        off &= ~511
    pat = rng.randrange(1, 256)
    before = job_phase(jobinfo(agent, dom)) if during_migration else "before"
    if during_migration:
        # Not into a source paused for the switchover: once QEMU has handed
        # its images over, a qemu-io write aborts QEMU 7.2 (no guest can
        # write then), and that moment can follow the pause by a few ms.
        # The agent itself refuses monitor commands from pre-switchover on
        # (EBUSY): this check only saves the round trip.
        st = agent.ctl("domstate", dom, check=False, timeout=30)
        if st.returncode != 0 or st.stdout.strip() != "running":
            return Write(off, length, pat, before or "setup", False)
    r = agent.ctl("qemu-monitor-command", dom, "--hmp", HMP_WRITE % ("vda", pat, off, length),
                  check=False, timeout=30)
    ok = r.returncode == 0 and "error" not in r.stdout.lower()
    st = agent.ctl("domstate", dom, check=False, timeout=30)
    confirmed = ok and st.returncode == 0 and st.stdout.strip() == "running"
    phase = before or "setup"
    if during_migration and confirmed:
        after = job_phase(jobinfo(agent, dom))
        if before == "bulk" and after not in ("bulk", None):
            phase = "bulk-end"
    return Write(off, length, pat, phase, confirmed)


def subtract(ranges, off, length):
    """RANGES minus [off, off+length)."""
    out = []
    end = off + length
    for a, n in ranges:
        b = a + n
        if b <= off or a >= end:
            out.append((a, n))
            continue
        if a < off:
            out.append((a, off - a))
        if b > end:
            out.append((end, b - end))
    return out


def check_writes(src_img, dst_img, size, writes):
    """The destination equals the source as it stood when the source
    stopped, outside unconfirmed writes' ranges; and every confirmed write's
    surviving bytes are on both."""
    keep = [(0, size)]
    for w in writes:
        if not w.confirmed:
            keep = subtract(keep, w.off, w.len)
    assert_identical(src_img, dst_img, keep)
    with open(src_img, "rb") as fs, open(dst_img, "rb") as fd:
        for i, w in enumerate(writes):
            if not w.confirmed:
                continue
            live = [(w.off, w.len)]
            for later in writes[i + 1:]:
                live = subtract(live, later.off, later.len)
            for a, n in live:
                for f, which in ((fs, "source"), (fd, "destination")):
                    f.seek(a)
                    got = f.read(n)
                    assert got == bytes([w.pat]) * n, (
                        "confirmed write %d (0x%02x at %d+%d, %s) missing on the %s at %d+%d" %
                        (i, w.pat, w.off, w.len, w.phase, which, a, n))


def pingpong(iterations, bandwidth=24, data_mib=160, disk_mib=384, tag="", engine=()):
    need_qemu()
    rng = random.Random(SEED ^ zlib.crc32(("%s/%d" % (tag, iterations)).encode()))
    a, b = Agent("ping" + tag, *AGENT_ARGS).start(), Agent("pong" + tag, *AGENT_ARGS).start()
    size = disk_mib * MIB
    vda = os.path.join(a.dir, "g-vda.raw")
    random_disk(vda, size, rng, data_mib * MIB)
    # RAM: about 128 MiB for the guest to fill, so that at --bandwidth the
    # RAM pass lasts seconds; it dirties slowly enough to converge.
    define(a, "g", disks=[("vda", vda, "raw")], **guest_kw(rate=2, size=112, memory=160))
    a.ctl("start", "g")
    totals = {}
    src, dst = a, b
    for it in range(iterations):
        writes = [inject(src, "g", size, rng, False) for _ in range(8)]
        out = {}

        def run():
            try:
                # --keep-images: the source's copy stays for the comparison
                # below (ferryd would remove it once the migration succeeded).
                out["r"] = src.ctl("migrate", "--live", "--copy-storage-all", "--keep-images",
                                   "--bandwidth", bandwidth, *engine, "g", dst.uri, check=False,
                                   timeout=240)
            except subprocess.TimeoutExpired as e:
                out["timeout"] = e

        src_img = disk_sources(src, "g")["vda"]
        src_pid = src.qemu_pid("g")
        t = threading.Thread(target=run)
        t.start()
        deadline = time.time() + 200
        while t.is_alive() and time.time() < deadline:
            w = inject(src, "g", size, rng, True)
            writes.append(w)
            if not w.confirmed:
                # The source is paused for the switchover. Stop here: once
                # QEMU has handed its images over (inactivated them), a
                # qemu-io write aborts QEMU 7.2, which no guest can cause.
                break
        t.join(240)
        r = out.get("r")
        assert r is not None and r.returncode == 0, (
            "iteration %d %s->%s: migrate %s\nlast writes: %s\nsource log: %s\ndest log: %s" % (
                it, src.name, dst.name,
                "failed: " + r.stderr if r else "did not return: %s" % out.get("timeout"),
                [(w.phase, w.confirmed) for w in writes[-3:]], src.log_tail(), dst.log_tail()))
        wait_for(lambda: not pid_alive(src_pid), 20, "the source QEMU to exit")
        dst_img = image_for(dst, "vda")
        assert disk_sources(dst, "g")["vda"] == dst_img
        check_writes(src_img, dst_img, size, writes)
        counts = {}
        for w in writes:
            k = w.phase if w.confirmed else "unconfirmed"
            counts[k] = counts.get(k, 0) + 1
            totals[k] = totals.get(k, 0) + 1
        print("  iteration %d %s->%s: %s" % (it, src.name, dst.name, counts), flush=True)
        for ph in ("before", "bulk", "ram"):
            assert counts.get(ph, 0) > 0, "iteration %d: no confirmed write in phase '%s': %s" % (
                it, ph, counts)
        # The source's copy is stale now. A definition kept there still
        # names it (and refuses to start); else only --keep-images kept it,
        # and vol-delete removes it.
        if os.path.dirname(src_img) == src.images and "g" not in src.domains():
            src.ctl("vol-delete", src_img)
            assert not os.path.exists(src_img)
        elif "g" in src.domains():
            r = src.ctl("start", "g", check=False)
            assert r.returncode != 0 and "was migrated to host" in r.stderr, r.stderr
        src, dst = dst, src
    print("  all iterations: %s" % totals)
    for ag in (a, b):
        if "g" in ag.domains() and ag.state_of("g") != "shutoff":
            ag.ctl("destroy", "g")
        ag.stop()


def test_guest_writes_pingpong():
    pingpong(3)


def test_guest_writes_qemu_engine():
    """The same with QEMU's blockdev-mirror, there and back."""
    pingpong(2, bandwidth=48, tag="-q", engine=("--storage-engine", "qemu"))


# ---- 3. qcow2 chains: --copy-storage-inc, and QEMU's engine ----

def qemu_img(*args):
    r = subprocess.run(["qemu-img"] + list(args), capture_output=True, text=True, timeout=60)
    return r


def qcow2_chain(p, rng):
    """A raw base with data and a qcow2 overlay with writes of its own
    (zeros over the base's data among them). Returns (base, top)."""
    base = os.path.join(p.src.dir, "base.raw")
    top = os.path.join(p.src.dir, "g-vda.qcow2")
    random_disk(base, 64 * MIB, rng, 24 * MIB)
    r = qemu_img("create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", top)
    assert r.returncode == 0, r.stderr
    cmds = []
    for _ in range(6):
        off = rng.randrange(0, 60 * MIB // 512) * 512
        cmds += ["-c", "write -P 0x%02x %d %d" % (rng.randrange(1, 256), off,
                                                   rng.randrange(1, 512) * 512)]
    # Zeros in the overlay over the base's data must travel as zeros.
    cmds += ["-c", "write -z 0 1M"]
    r = subprocess.run(["qemu-io", "-f", "qcow2"] + cmds + [top], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and "error" not in r.stdout.lower(), r.stdout + r.stderr
    return base, top


def need_qemu_img():
    need_qemu()
    if not shutil.which("qemu-img") or not shutil.which("qemu-io"):
        raise Skip("qemu-img/qemu-io not installed")


def qcow2_inc(tag, *engine):
    need_qemu_img()
    rng = random.Random(SEED ^ zlib.crc32(tag.encode()))
    p = Pair(tag)
    base, top = qcow2_chain(p, rng)
    define(p.src, "g", disks=[("vda", top, "qcow2")], **guest_kw())
    p.src.ctl("start", "g")
    migrate(p.src, p.dst, "g", "--copy-storage-inc", *engine)
    dst_top = image_for(p.dst, "vda")
    info = json.loads(qemu_img("info", "-U", "--output", "json", dst_top).stdout)
    assert info["format"] == "qcow2", info
    assert info.get("full-backing-filename", info.get("backing-filename")) == base, info
    r = qemu_img("compare", "-U", top, dst_top)
    assert r.returncode == 0 and "identical" in r.stdout, r.stdout + r.stderr
    # Only the top travelled: the destination's overlay holds no more than
    # the source's (the base's 24 MiB are not in it).
    sa, da = allocated_bytes(top), allocated_bytes(dst_top)
    print("  overlay: source allocates %.1f MiB, destination %.1f MiB" % (sa / MIB, da / MIB))
    assert da <= sa + SPARSE_MARGIN, (
        "the destination's overlay holds %.1f MiB, the source's %.1f MiB: the base's data was "
        "copied into the top" % (da / MIB, sa / MIB))
    assert disk_sources(p.dst, "g")["vda"] == dst_top
    # The engine asked for ran: ferry's copies the top alone through
    # qemu:allocation-depth, with no fallback to QEMU's mirror.
    want = engine[-1] if engine else "ferry"
    info = p.src.ctl_json("domjobinfo", "g", "--completed")
    assert [(d["target"], d["engine"]) for d in info.get("disks", [])] == [("vda", want)], info
    copied = "copying the top image only" in open(p.src.log, errors="replace").read()
    assert copied == (want == "ferry"), p.src.log_tail()
    p.stop()


def test_qcow2_copy_storage_inc():
    qcow2_inc("inc")


def test_qcow2_copy_storage_inc_qemu_engine():
    qcow2_inc("incq", "--storage-engine", "qemu")


def test_qcow2_copy_storage_all_flattens():
    """--copy-storage-all copies the whole chain: the destination's qcow2
    stands alone (no backing file) and reads the same."""
    need_qemu_img()
    p = Pair("flat")
    base, top = qcow2_chain(p, random.Random(SEED ^ zlib.crc32(b"flat")))
    define(p.src, "g", disks=[("vda", top, "qcow2")], **guest_kw())
    p.src.ctl("start", "g")
    migrate(p.src, p.dst, "g", "--copy-storage-all")
    dst = image_for(p.dst, "vda")
    info = json.loads(qemu_img("info", "-U", "--output", "json", dst).stdout)
    assert info["format"] == "qcow2" and "backing-filename" not in info, info
    r = qemu_img("compare", "-U", top, dst)
    assert r.returncode == 0 and "identical" in r.stdout, r.stdout + r.stderr
    p.stop()


# ---- 4. failures during the bulk pass leave the source as it was ----

def start_big(p, rng, data_mib=128):
    vda = os.path.join(p.src.dir, "g-vda.raw")
    vdb = os.path.join(p.src.dir, "g-vdb.raw")
    random_disk(vda, 256 * MIB, rng, data_mib * MIB)
    random_disk(vdb, 64 * MIB, rng, 16 * MIB)
    define(p.src, "g", disks=[("vda", vda, "raw"), ("vdb", vdb, "raw")], **guest_kw())
    p.src.ctl("start", "g")
    return {v: sha256_file(v) for v in (vda, vdb)}


def migrate_bg(p, *args):
    out = {}

    def run():
        out["r"] = p.src.ctl("migrate", "--live", *args, "g", p.dst.uri, check=False, timeout=240)
    t = threading.Thread(target=run)
    t.start()
    return t, out


def wait_bulk(p, timeout=60):
    def in_bulk():
        info = jobinfo(p.src, "g")
        return info if job_phase(info) == "bulk" and info.get("disk_processed", 0) > 0 else None
    return wait_for(in_bulk, timeout, "the bulk pass to be under way")


def assert_source_intact(p, sums, dst_pid):
    assert p.src.state_of("g") == "running", "source guest not running"
    for path, s in sums.items():
        assert sha256_file(path) == s, "source disk %s changed" % path
    wait_for(lambda: "g" not in p.dst.domains(), 30, "the destination to forget the domain")
    if dst_pid:
        wait_for(lambda: not pid_alive(dst_pid), 20, "the destination QEMU to exit")
    wait_for(lambda: not images(p.dst), 20, "the destination to remove its target images")
    run = os.path.join(p.dst.state, "run")
    left = [f for f in os.listdir(run) if f.startswith("g.")] if os.path.isdir(run) else []
    assert not left, left
    info = p.src.ctl_json("domjobinfo", "g", "--completed")
    assert info["status"] in ("failed", "cancelled"), info


def test_dest_qemu_killed_in_bulk():
    need_qemu()
    p = Pair("kill")
    sums = start_big(p, random.Random(SEED + 4))
    t, out = migrate_bg(p, "--copy-storage-all", "--bandwidth", "8")
    wait_bulk(p)
    dst_pid = p.dst.qemu_pid("g")
    assert dst_pid and pid_alive(dst_pid)
    killed = time.monotonic()
    os.kill(dst_pid, 9)
    t.join(120)
    took = time.monotonic() - killed
    r = out.get("r")
    assert r is not None and r.returncode == 1 and r.stderr, r and r.stderr
    print("  migrate said, %.1f s after the kill: %s" % (took, r.stderr.strip().splitlines()[-1]))
    # Not the 30 s reconnect window: a refused connect says nothing listens
    # there any more, and the second one in a row ends the copy (about 1 s).
    assert "refused" in r.stderr, r.stderr
    assert took < 10, "the migration failed %.1f s after the destination QEMU died" % took
    assert_source_intact(p, sums, dst_pid)
    p.stop()


def abort_in_bulk(tag, *engine):
    need_qemu()
    p = Pair(tag)
    sums = start_big(p, random.Random(SEED ^ zlib.crc32(tag.encode())))
    t, out = migrate_bg(p, "--copy-storage-all", "--bandwidth", "8", *engine)
    wait_bulk(p)
    dst_pid = p.dst.qemu_pid("g")
    assert dst_pid and pid_alive(dst_pid)
    p.src.ctl("domjobabort", "g")
    t.join(60)
    r = out.get("r")
    assert r is not None and r.returncode == 1 and "cancel" in r.stderr, r and r.stderr
    assert_source_intact(p, sums, dst_pid)
    p.stop()


def test_abort_in_bulk():
    abort_in_bulk("abort")


def test_abort_in_bulk_qemu_engine():
    abort_in_bulk("abortq", "--storage-engine", "qemu")


# ---- 5. refused before anything starts, naming the disk ----

def refused(p, args, words):
    r = p.src.ctl("migrate", "--live", *args, "g", p.dst.uri, check=False)
    assert r.returncode != 0, "migrate %s was not refused" % " ".join(args)
    for w in words:
        assert w in r.stderr, "expected '%s' in: %s" % (w, r.stderr)
    print("  refused: %s" % r.stderr.strip())
    assert p.src.state_of("g") == "running"
    assert "g" not in p.dst.domains(), p.dst.domains()
    assert not images(p.dst), images(p.dst)
    run = os.path.join(p.dst.state, "run")
    assert not os.path.isdir(run) or not [f for f in os.listdir(run) if f.startswith("g.")]


def two_disk_guest(p, vdb_extra=""):
    vda = make_disk(os.path.join(p.src.dir, "g-vda.raw"), 16 * MIB, [(0, b"x" * 4096)])
    vdb = make_disk(os.path.join(p.src.dir, "g-vdb.raw"), 16 * MIB, [(0, b"y" * 4096)])
    define(p.src, "g", disks=[("vda", vda, "raw"),
                              {"target": "vdb", "path": vdb, "extra": vdb_extra}], **guest_kw())
    p.src.ctl("start", "g")


def test_refuse_unknown_disk():
    need_qemu()
    p = Pair("unknown")
    two_disk_guest(p)
    refused(p, ["--copy-storage-all", "--migrate-disks", "vda,vdz"], ["'vdz'"])
    p.stop()


def test_refuse_readonly_disk():
    need_qemu()
    p = Pair("ro")
    two_disk_guest(p, "<readonly/>")
    refused(p, ["--copy-storage-all", "--migrate-disks", "vda,vdb"], ["'vdb'", "read-only"])
    # Named alone, too; and the read-write disk alone still goes.
    refused(p, ["--copy-storage-all", "--migrate-disks", "vdb"], ["'vdb'", "read-only"])
    migrate(p.src, p.dst, "g", "--copy-storage-all", "--migrate-disks", "vda")
    assert images(p.dst) == ["g-vda.raw"], images(p.dst)
    p.stop()


def test_refuse_existing_target():
    """A file already in the destination's image dir under the target's name
    (say, a stale copy) is neither overwritten nor removed."""
    need_qemu()
    p = Pair("exists")
    two_disk_guest(p)
    os.makedirs(p.dst.images, exist_ok=True)
    stale = make_disk(os.path.join(p.dst.images, "g-vda.raw"), MIB, [(0, b"stale" * 100)])
    before = sha256_file(stale)
    r = p.src.ctl("migrate", "--live", "--copy-storage-all", "g", p.dst.uri, check=False)
    assert r.returncode != 0 and "already exists" in r.stderr and "vda" in r.stderr, r.stderr
    print("  refused: %s" % r.stderr.strip())
    assert p.src.state_of("g") == "running"
    assert "g" not in p.dst.domains(), p.dst.domains()
    assert images(p.dst) == ["g-vda.raw"] and sha256_file(stale) == before, images(p.dst)
    p.stop()


def test_refuse_no_room():
    need_qemu()
    mounted = []

    def mount_small(agent):
        os.makedirs(agent.images, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m", "ferry-e2e", agent.images],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise Skip("cannot mount a small tmpfs for the image dir: %s" % (
                r.stderr.strip() or r.returncode))
        mounted.append(agent.images)

    try:
        p = Pair("room", before_dst_start=mount_small)
        vda = os.path.join(p.src.dir, "g-vda.raw")
        random_disk(vda, 128 * MIB, random.Random(SEED + 6), 48 * MIB)
        define(p.src, "g", disks=[("vda", vda, "raw")], **guest_kw())
        p.src.ctl("start", "g")
        refused(p, ["--copy-storage-all"], ["'vda'", "free"])
        p.stop()
    finally:
        for m in mounted:
            subprocess.run(["umount", m], capture_output=True, timeout=30)


ALL = (test_refuse_unknown_disk, test_refuse_readonly_disk, test_refuse_existing_target,
       test_refuse_no_room, test_selective_copy_ferry, test_selective_copy_qemu_engine,
       test_qcow2_copy_storage_inc, test_qcow2_copy_storage_inc_qemu_engine,
       test_qcow2_copy_storage_all_flattens,
       test_guest_writes_pingpong, test_guest_writes_qemu_engine, test_dest_qemu_killed_in_bulk,
       test_abort_in_bulk, test_abort_in_bulk_qemu_engine)


def main(tests, deadline_s=420):
    """Runs TESTS (or those named on the command line) under one time bound."""
    import sys
    print("seed %d (FERRY_SEED=%d replays it), files in %s" % (SEED, SEED, tmpdir()), flush=True)
    named = [t for t in tests if t.__name__ in sys.argv[1:]] or tests
    r = Runner(deadline_s)
    for t in named:
        r.run(t)
    r.finish()


if __name__ == "__main__":
    main(ALL)
