#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Disk images across hops (docs/control-api.md, "Disk images and who owns
them"): a guest migrated back and forth with its disks never leaves a
definition that would boot stale data, never leaves a copy behind, and
lands its disks where the caller asked.

Guest writes are injected between hops through the device path with
qemu-io (HMP), each one a distinct pattern at a distinct offset; after
every hop the running guest's image must hold all of them. FERRY_HOPS sets
the number of hops per combination (default 10)."""

import os
import subprocess
import xml.etree.ElementTree as ET

from ferrytest import Agent, Runner, Skip, define, make_disk, need_qemu, pid_alive, wait_for
from test_orphan import Wire, params
from test_storage import AGENT_ARGS, Pair, guest_kw, images, migrate

HOPS = int(os.environ.get("FERRY_HOPS", "10"))
MIB = 1 << 20
WRITE_LEN = 64 * 1024
HMP_WRITE = 'qemu-io -d /machine/peripheral/vda/virtio-backend "write -P 0x%02x %d %d"'
STALE = "was migrated to host"


def write(agent, writes):
    """One more distinct guest write on AGENT's running guest 'g'."""
    n = len(writes)
    off, pat = (n * 4 + 1) * 256 * 1024, 0x21 + n
    agent.hmp("g", HMP_WRITE % (pat, off, WRITE_LEN))
    writes.append((off, pat))


def check_data(path, writes, what):
    with open(path, "rb") as f:
        for off, pat in writes:
            f.seek(off)
            got = f.read(WRITE_LEN)
            assert got == bytes([pat]) * WRITE_LEN, "%s (%s) lacks the write of 0x%02x at %d" % (
                what, path, pat, off)


def sources(agent, dom, inactive=False):
    args = ["dumpxml", dom] + (["--inactive"] if inactive else [])
    root = ET.fromstring(agent.ctl(*args).stdout)
    return {d.find("target").get("dev"): d.find("source").get("file") for d in root.iter("disk")}


def named_paths(agent):
    """Every path a definition or a running guest on AGENT names."""
    out = set()
    for name, d in agent.domains().items():
        if d["state"] != "shutoff":
            out |= set(sources(agent, name).values())
        if d["persistent"]:
            out |= set(sources(agent, name, inactive=True).values())
    return out


def assert_no_orphans(agent):
    named = named_paths(agent)
    left = [f for f in images(agent) if os.path.join(agent.images, f) not in named]
    assert not left, "%s keeps images no definition names: %s (named: %s)" % (
        agent.name, left, sorted(named))


def assert_start_refused(agent):
    r = agent.ctl("start", "g", check=False)
    assert r.returncode != 0 and STALE in r.stderr, "start of a stale definition on %s: %s" % (
        agent.name, r.stdout + r.stderr)
    return r.stderr.strip()


def hops(tag, *flags):
    need_qemu()
    p = Pair(tag)
    a, b = p.src, p.dst
    disk = make_disk(os.path.join(a.dir, "g-vda.raw"), 16 * MIB, [(0, b"ferry" * 100)])
    define(a, "g", disks=[("vda", disk, "raw")], **guest_kw(rate=4, size=16, memory=64))
    a.ctl("start", "g")
    writes = []
    cur, other = a, b
    for hop in range(HOPS):
        write(cur, writes)
        migrate(cur, other, "g", "--copy-storage-all", *flags)
        cur, other = other, cur
        live = sources(cur, "g")["vda"]
        check_data(live, writes, "hop %d: the running guest's disk on %s" % (hop + 1, cur.name))
        for ag in (a, b):
            assert_no_orphans(ag)
        if "g" in other.domains():
            assert_start_refused(other)
        # Space does not grow with hops: at most one image per host (a
        # running guest's, or a definition's), none larger than the live one.
        files = [os.path.join(ag.images, f) for ag in (a, b) for f in images(ag)]
        assert len(files) <= 2, "hop %d: image dirs hold %s" % (hop + 1, files)
        for f in files:
            assert os.stat(f).st_blocks <= os.stat(live).st_blocks + MIB // 512, (
                "hop %d: %s allocates more than the live image" % (hop + 1, f))
    # destroy + start on either host: the newest data, or a refusal naming where it went.
    cur.ctl("destroy", "g")
    if "g" in cur.domains():
        cur.ctl("start", "g")
        check_data(sources(cur, "g")["vda"], writes, "restarted guest on %s" % cur.name)
    if "g" in other.domains():
        print("  %s: %s" % (other.name, assert_start_refused(other)))
    print("  %d hops, image dirs: %s %s" % (HOPS, images(a), images(b)))
    p.stop()


def test_hops_plain():
    hops("h00")


def test_hops_persistent():
    hops("h10", "--persistent")


def test_hops_undefinesource():
    hops("h01", "--undefinesource")


def test_hops_persistent_undefinesource():
    hops("h11", "--persistent", "--undefinesource")


# ---- destinations chosen by the caller ----

def guest_on(p, path_dir):
    os.makedirs(path_dir, exist_ok=True)
    disk = make_disk(os.path.join(path_dir, "g-vda.raw"), 16 * MIB, [(0, b"ferry" * 100)])
    define(p.src, "g", disks=[("vda", disk, "raw")], **guest_kw(rate=4, size=16, memory=64))
    p.src.ctl("start", "g")
    return disk


def refused(p, words, *args):
    r = p.src.ctl("migrate", "--live", "--copy-storage-all", *args, "g", p.dst.uri, check=False)
    assert r.returncode != 0, "migrate %s was not refused" % " ".join(args)
    for w in words:
        assert w in r.stderr, "expected '%s' in: %s" % (w, r.stderr)
    assert p.src.state_of("g") == "running"
    assert "g" not in p.dst.domains(), p.dst.domains()
    return r.stderr.strip()


def test_disk_path():
    """--disk-path vda=PATH lands the disk there; an existing non-empty file
    there, a missing directory and a path with '..' are refused by name,
    and nothing changes."""
    need_qemu()
    p = Pair("dpath")
    writes = []
    guest_on(p, os.path.join(p.src.dir, "vm"))
    write(p.src, writes)
    there = os.path.join(p.dst.dir, "elsewhere")
    os.makedirs(there)
    taken = make_disk(os.path.join(there, "taken.raw"), MIB, [(0, b"mine" * 100)])
    before = open(taken, "rb").read()
    print("  " + refused(p, ["'vda'", taken, "not empty"], "--disk-path", "vda=" + taken))
    assert open(taken, "rb").read() == before
    missing = os.path.join(p.dst.dir, "nowhere", "a.raw")
    print("  " + refused(p, ["'vda'", os.path.dirname(missing)], "--disk-path", "vda=" + missing))
    print("  " + refused(p, ["'..'"], "--disk-path", "vda=%s/../x.raw" % there))
    print("  " + refused(p, ["'vdz'"], "--disk-path", "vdz=" + os.path.join(there, "z.raw")))
    target = os.path.join(there, "a.raw")
    migrate(p.src, p.dst, "g", "--copy-storage-all", "--disk-path", "vda=" + target)
    assert sources(p.dst, "g")["vda"] == target
    check_data(target, writes, "the --disk-path target")
    assert images(p.dst) == [], images(p.dst)
    p.stop()


def test_xml_paths():
    """libvirt's way: an --xml whose disk names another path puts the copy
    there."""
    need_qemu()
    p = Pair("xpath")
    writes = []
    src = guest_on(p, os.path.join(p.src.dir, "vm"))
    write(p.src, writes)
    os.makedirs(os.path.join(p.dst.dir, "vm2"))
    target = os.path.join(p.dst.dir, "vm2", "g.raw")
    xml = p.src.ctl("dumpxml", "g").stdout.replace(src, target)
    xml_path = os.path.join(p.src.dir, "dest.xml")
    open(xml_path, "w").write(xml)
    migrate(p.src, p.dst, "g", "--copy-storage-all", "--xml", xml_path)
    assert sources(p.dst, "g")["vda"] == target
    check_data(target, writes, "the --xml target")
    p.stop()


class NsAgent(Agent):
    """A ferryd in a mount namespace of its own with a private tmpfs on
    PRIVATE_DIR: the destination of a same-path migration on one machine
    (its QEMU inherits the namespace). unshare and sh exec ferryd, so the
    pid is ferryd's."""

    def __init__(self, name, private_dir, *extra):
        super().__init__(name, *extra)
        self.wrap = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                     'mount -t tmpfs ferry-e2e "$0" && exec "$@"', private_dir]

    def path(self, p):
        """P as this agent (and its QEMU) sees it."""
        return "/proc/%d/root%s" % (self.proc.pid, p)


def test_same_path():
    """--same-path: the copy takes the source's path on the destination
    (a private tmpfs there); back to a source whose file is still there it
    is refused, naming the path."""
    need_qemu()
    if subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode != 0:
        raise Skip("cannot create a mount namespace here (needs root)")
    vm = os.path.join(Agent("unused-sp").dir, "vm")
    os.makedirs(vm, exist_ok=True)
    src = Agent("src-sp", *AGENT_ARGS).start()
    dst = NsAgent("dst-sp", vm, *AGENT_ARGS).start()

    class P:
        pass
    p = P()
    p.src, p.dst = src, dst
    writes = []
    disk = guest_on(p, vm)
    write(src, writes)
    migrate(src, dst, "g", "--copy-storage-all", "--same-path")
    assert sources(dst, "g")["vda"] == disk
    check_data(dst.path(disk), writes, "the same-path copy")
    assert open(disk, "rb").read(500) == b"ferry" * 100  # the source's file is another one
    assert images(dst) == [], images(dst)
    r = dst.ctl("migrate", "--live", "--copy-storage-all", "--same-path", "g", src.uri,
                check=False)
    assert r.returncode != 0 and disk in r.stderr and "not empty" in r.stderr, r.stderr
    print("  back: " + r.stderr.strip())
    assert dst.state_of("g") == "running"
    for a in (dst, src):
        for name in list(a.domains()):
            if a.state_of(name) != "shutoff":
                a.ctl("destroy", name, check=False)
        a.stop()


# ---- the images ferryd keeps: vol-list, vol-delete, --keep-images ----

def test_keep_images_and_vol_verbs():
    need_qemu()
    p = Pair("vol")
    guest_on(p, os.path.join(p.src.dir, "vm"))
    migrate(p.src, p.dst, "g", "--copy-storage-all")
    copy = sources(p.dst, "g")["vda"]
    vols = p.dst.ctl_json("vol-list")
    assert [v["path"] for v in vols] == [copy] and vols[0]["used_by"] == "running", vols
    r = p.dst.ctl("vol-delete", copy, check=False)
    assert r.returncode != 0 and "used by" in r.stderr, r.stderr
    migrate(p.dst, p.src, "g", "--copy-storage-all", "--keep-images")
    vols = p.dst.ctl_json("vol-list")
    assert [v["path"] for v in vols] == [copy] and vols[0]["used_by"] is None, vols
    # The kept copy blocks the next hop, and the refusal says what to run.
    r = p.src.ctl("migrate", "--live", "--copy-storage-all", "g", p.dst.uri, check=False)
    assert r.returncode != 0 and "vol-delete" in r.stderr, r.stderr
    print("  " + r.stderr.strip())
    p.dst.ctl("vol-delete", os.path.basename(copy))
    assert not os.path.exists(copy) and p.dst.ctl_json("vol-list") == []
    r = p.src.ctl("vol-delete", sources(p.src, "g")["vda"], check=False)
    assert r.returncode != 0, "vol-delete of an image in use: %s" % r.stdout
    operator = os.path.join(p.src.dir, "vm", "g-vda.raw")
    r = p.src.ctl("vol-delete", operator, check=False)
    assert r.returncode != 0 and "not an image ferryd created" in r.stderr, r.stderr
    assert os.path.exists(operator)
    migrate(p.src, p.dst, "g", "--copy-storage-all")
    p.stop()


# ---- an agent killed between Finish and Confirm ----

def managed_until_finish(p, mp):
    s, d = Wire(p.src), Wire(p.dst)
    b = s.call("migrate.begin", {"name": "g", "params": mp, "version": 3})
    r = d.call("migrate.prepare", {"params": mp, "version": 3, "xml": b["xml"],
                                   "cookie": b["cookie"], "dest_host": "127.0.0.1"})
    perf = s.call("migrate.perform", {"name": "g", "params": mp, "version": 3,
                                      "cookie": r["cookie"], "uri": r["uri"]}, timeout=120)
    fin = d.call("migrate.finish", {"name": "g", "params": mp, "version": 3,
                                    "cookie": perf["cookie"], "cancelled": False}, timeout=120)
    return s, d, fin


def killed_between(tag, victim):
    need_qemu()
    p = Pair(tag)
    writes = []
    guest_on(p, os.path.join(p.src.dir, "vm"))
    write(p.src, writes)
    mp = params(["live", "non_shared_disk", "persist_dest"])
    s, d, fin = managed_until_finish(p, mp)
    src_qemu = p.src.qemu_pid("g")
    agent = p.src if victim == "source" else p.dst
    agent.kill()
    (s if victim == "source" else d).close()
    agent.start()
    if victim == "source":
        # The restarted source keeps its guest paused, and its definition
        # marked: nothing may boot it while the outcome is open.
        assert "g" in p.src.domains(all_=False)
        s = Wire(p.src)
    s.call("migrate.confirm", {"name": "g", "params": mp, "version": 3,
                               "cookie": fin["cookie"], "cancelled": False}, timeout=120)
    s.close()
    d.close()
    wait_for(lambda: not pid_alive(src_qemu), 20, "the source QEMU to stop")
    print("  source: " + assert_start_refused(p.src))
    p.dst.ctl("destroy", "g")
    p.dst.ctl("start", "g")
    check_data(sources(p.dst, "g")["vda"], writes, "the destination after destroy + start")
    for ag in (p.src, p.dst):
        assert_no_orphans(ag)
    p.stop()


def test_source_killed_between_finish_and_confirm():
    killed_between("kfs", "source")


def test_dest_killed_between_finish_and_confirm():
    killed_between("kfd", "destination")


if __name__ == "__main__":
    r = Runner(1500)
    for t in (test_hops_plain, test_hops_persistent, test_hops_undefinesource,
              test_hops_persistent_undefinesource, test_disk_path, test_xml_paths, test_same_path,
              test_keep_images_and_vol_verbs, test_source_killed_between_finish_and_confirm,
              test_dest_killed_between_finish_and_confirm):
        r.run(t)
    r.finish()
