#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""libvirt's remaining migration flags between two real agents on
127.0.0.1: --compressed (xbzrle and mt on the classic stream, zstd over
--parallel), --zerocopy, --synchronous-writes with the qemu storage
engine, ferryctl migrate-compcache, and the combinations refused by name
before anything starts. The guest is ferry's dirtying test kernel, so
xbzrle has re-sent pages to encode and every page is checked afterwards."""

import json
import os
import random
import shutil
import socket
import time

import ferrytest

from ferrytest import (Runner, Skip, define, frame, hello_frame, make_disk, need_qemu, pid_alive,
                       recv_frame, sha256_file, tmpdir, wait_for)
from test_migrate import (Pair, assert_intact, guest_kw, migrate_in_background, start_guest,
                          wait_heartbeat)

MIB = 1 << 20
WIRE_CALL, WIRE_REPLY, WIRE_ERROR = 2, 3, 4
HMP_WRITE = 'qemu-io -d /machine/peripheral/%s/virtio-backend "write -P 0x%02x %d %d"'


def qmp(agent, dom, cmd):
    r = agent.ctl("qemu-monitor-command", dom, json.dumps({"execute": cmd}))
    return json.loads(r.stdout)["return"]


def caps(agent, dom):
    return {c["capability"]: c["state"] for c in qmp(agent, dom, "query-migrate-capabilities")}


def migrate(p, name, *args, src=None, dst=None, timeout=240):
    src, dst = src or p.src, dst or p.dst
    pid = src.qemu_pid(name)
    r = src.ctl("migrate", "--live", *args, name, dst.uri, check=False, timeout=timeout)
    assert r.returncode == 0, "migrate %s failed (%d): %s\nsource log: %s\ndest log: %s" % (
        " ".join(args), r.returncode, r.stderr, src.log_tail(), dst.log_tail())
    if pid:
        wait_for(lambda: not pid_alive(pid), 20, "the source QEMU to exit")
    assert dst.state_of(name) == "running"
    return src.ctl_json("domjobinfo", name, "--completed")


def test_refusals():
    """Each nonsense combination is refused by name, by ferryctl and by the
    source agent itself (migrate.p2p with the parameters as JSON), and
    nothing starts: the guest keeps running, the destination has nothing."""
    need_qemu()
    p = Pair("crefuse")
    start_guest(p.src, "g")
    bad = [
        (["--offline", "--persistent", "--compressed"], "--offline"),
        (["--live", "--comp-methods", "mt"], "require --compressed"),
        (["--live", "--comp-xbzrle-cache", "65536"], "require --compressed"),
        (["--live", "--compressed", "--comp-methods", "lz4"], "'lz4'"),
        (["--live", "--compressed", "--comp-methods", "mt,mt"], "twice"),
        (["--live", "--compressed", "--comp-methods", "zstd"], "only supported with parallel"),
        (["--live", "--compressed", "--comp-methods", "zlib"], "only supported with parallel"),
        (["--live", "--compressed", "--parallel"], "zlib or zstd"),
        (["--live", "--compressed", "--parallel", "--comp-methods", "xbzrle"],
         "'xbzrle' is not supported with parallel"),
        (["--live", "--compressed", "--parallel", "--comp-methods", "zlib,zstd"], "only one"),
        (["--live", "--compressed", "--comp-mt-level", "3"], "--comp-methods mt"),
        (["--live", "--compressed", "--comp-methods", "mt", "--comp-xbzrle-cache", "65536"],
         "xbzrle"),
        (["--live", "--compressed", "--comp-xbzrle-cache", "5000"], "power of two"),
        (["--live", "--compressed", "--parallel", "--comp-methods", "zlib",
          "--comp-zstd-level", "3"], "--comp-methods zstd"),
        (["--live", "--compressed", "--comp-methods", "mt", "--postcopy"], "--postcopy"),
        (["--live", "--zerocopy"], "requires --parallel"),
        (["--live", "--zerocopy", "--parallel", "--compressed", "--comp-methods", "zstd"],
         "--compressed"),
        (["--live", "--zerocopy", "--parallel", "--tls"], "--tls"),
        (["--offline", "--persistent", "--zerocopy", "--parallel"], "--offline"),
        (["--live", "--synchronous-writes"], "--copy-storage"),
        (["--live", "--synchronous-writes", "--copy-storage-all"], "--storage-engine qemu"),
    ]
    for args, msg in bad:
        r = p.src.ctl("migrate", *args, "g", p.dst.uri, check=False)
        assert r.returncode != 0 and msg in r.stderr, (args, r.stderr)
    # The agent checks again (an orchestrator may skip ferryctl).
    agent_bad = [
        ({"flags": ["live", "compressed"], "compression": ["zstd"]}, "only supported with parallel"),
        ({"flags": ["live", "compressed"], "compression": ["gzip"]}, "'gzip'"),
        ({"flags": ["live"], "compression_mt_level": 2}, "require --compressed"),
        ({"flags": ["live", "compressed"], "compression_zstd_level": 21}, "out of range"),
        ({"flags": ["live", "zerocopy"]}, "requires --parallel"),
        ({"flags": ["live", "non_shared_disk", "non_shared_synchronous_writes"]},
         "dirty bitmaps"),
    ]
    for params, msg in agent_bad:
        r = call(p.src, "migrate.p2p", {"name": "g", "desturi": p.dst.uri, "params": params})
        assert "error" in r and msg in r["error"].get("message", ""), (params, r)
    assert p.src.state_of("g") == "running"
    assert p.dst.domains() == {}
    p.stop()


def call(agent, method, params):
    """One control call on AGENT's socket, without ferryctl's checks:
    the ERROR frame's payload, or the REPLY's."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(agent.control)
    try:
        s.sendall(hello_frame())
        f = recv_frame(s)
        assert f and f[0] == 1, f
        s.sendall(frame(WIRE_CALL, json.dumps({"method": method, "params": params}).encode(),
                        id_=7))
        while True:
            f = recv_frame(s, timeout=60)
            assert f is not None, "agent closed the connection"
            if f[0] in (WIRE_REPLY, WIRE_ERROR) and f[1] == 7:
                return f[2]
    finally:
        s.close()


def test_xbzrle_and_compcache():
    """migrate-compcache reads and sets QEMU's xbzrle cache; --compressed
    (libvirt's default method, xbzrle) then uses it while the dirtying
    guest keeps re-sending pages, and domjobinfo shows xbzrle's work. The
    way back names its own cache with --comp-xbzrle-cache."""
    need_qemu()
    p = Pair("xbzrle")
    start_guest(p.src, "g", **guest_kw(rate=32, size=96, memory=160))
    hb = wait_heartbeat(p.src, "g", after=1)
    r = p.src.ctl("migrate-compcache", "g")
    assert r.stdout.strip() == "Compression cache: 64.000 MiB", r.stdout  # QEMU 7.2's default
    r = p.src.ctl("migrate-compcache", "g", "--size", str(32 * MIB))
    assert r.stdout.strip() == "Compression cache: 32.000 MiB", r.stdout
    assert p.src.ctl_json("migrate-compcache", "g")["cache_size"] == 32 * MIB
    assert qmp(p.src, "g", "query-migrate-parameters")["xbzrle-cache-size"] == 32 * MIB
    r = p.src.ctl("migrate-compcache", "g", "--size", "5000", check=False)
    assert r.returncode != 0 and "power of two" in r.stderr, r.stderr
    r = p.src.ctl("migrate-compcache", "nosuch", check=False)
    assert r.returncode != 0 and "not found" in r.stderr, r.stderr
    # 40 MiB/s against a guest dirtying 32 MiB/s: several passes, so
    # xbzrle encodes pages it sent before.
    info = migrate(p, "g", "--compressed", "--bandwidth", "40", "--timeout", "60",
                   "--persistent")
    assert info["status"] == "completed", info
    assert info.get("compression_cache") == 32 * MIB, info
    assert info.get("compression_pages", 0) > 0 and info.get("compression_bytes", 0) > 0, info
    assert "compression_cache_misses" in info and "compression_overflow" in info, info
    print("  xbzrle: %d pages, %d bytes, %d cache misses, %d overflows, %d passes" % (
        info["compression_pages"], info["compression_bytes"], info["compression_cache_misses"],
        info["compression_overflow"], info["memory_iteration"]))
    text = p.src.ctl("domjobinfo", "g", "--completed").stdout
    assert "Compression cache:" in text and "Compressed pages:" in text, text
    assert caps(p.dst, "g")["xbzrle"], "destination QEMU lacks the xbzrle capability"
    hb = assert_intact(p.dst, "g", hb)
    # Back, peer-to-peer, with the cache named per migration.
    info = migrate(p, "g", "--p2p", "--compressed", "--comp-methods", "xbzrle",
                   "--comp-xbzrle-cache", str(8 * MIB), "--bandwidth", "40", "--timeout", "60",
                   src=p.dst, dst=p.src)
    assert info.get("compression_cache") == 8 * MIB, info
    assert_intact(p.src, "g", hb)
    # A plain migration after a compressed one turns xbzrle off again.
    info = migrate(p, "g")
    assert "compression_pages" not in info, info
    assert not caps(p.dst, "g")["xbzrle"]
    p.stop()


def test_mt():
    """--comp-methods mt: QEMU's compress capability on both QEMUs (the
    destination runs the decompression threads), with its tuning."""
    need_qemu()
    p = Pair("mt")
    start_guest(p.src, "g", **guest_kw(rate=8, size=64, memory=128))
    hb = wait_heartbeat(p.src, "g", after=1)
    info = migrate(p, "g", "--compressed", "--comp-methods", "mt", "--comp-mt-level", "1",
                   "--comp-mt-threads", "2", "--comp-mt-dthreads", "3")
    assert info.get("compression_mt_pages", 0) > 0, info
    assert info.get("compression_mt_compressed_size", 0) > 0, info
    c = caps(p.dst, "g")
    assert c["compress"] and not c["xbzrle"], c
    q = qmp(p.dst, "g", "query-migrate-parameters")
    assert q["decompress-threads"] == 3, q
    assert_intact(p.dst, "g", hb)
    p.stop()


def test_parallel_zstd():
    """--parallel with multifd zstd compression (and zlib the way back)."""
    need_qemu()
    p = Pair("zstd")
    start_guest(p.src, "g", **guest_kw(rate=8, size=64, memory=128))
    hb = wait_heartbeat(p.src, "g", after=1)
    # QEMU 7.2 takes multifd-zstd-level and multifd-zlib-level but keeps
    # them at 1: the level options are refused at Begin, by name, there.
    r = p.src.ctl("migrate", "--live", "--parallel", "--compressed", "--comp-methods", "zstd",
                  "--comp-zstd-level", "5", "g", p.dst.uri, check=False)
    level_ok = r.returncode == 0
    if not level_ok:
        assert "--comp-zstd-level 5: this QEMU accepts multifd-zstd-level but does not apply it" \
            in r.stderr, r.stderr
        assert p.src.state_of("g") == "running" and p.dst.domains() == {}
    else:
        assert qmp(p.dst, "g", "query-migrate-parameters")["multifd-compression"] == "zstd"
        p.dst.ctl("migrate", "--live", "g", p.src.uri)
    t, out = migrate_in_background(p, "migrate", "--live", "--parallel-connections", "2",
                                   "--compressed", "--comp-methods", "zstd", "--bandwidth", "20",
                                   "--persistent", "g", p.dst.uri)
    # While RAM moves the source QEMU holds what was asked.
    wait_for(lambda: p.src.ctl_json("domjobinfo", "g", check=False).get("memory_processed", 0) > 0,
             60, "RAM to move")
    q = qmp(p.src, "g", "query-migrate-parameters")
    t.join(240)
    assert out["r"].returncode == 0, out["r"].stderr
    assert q["multifd-compression"] == "zstd" and q["multifd-channels"] == 2, q
    assert qmp(p.dst, "g", "query-migrate-parameters")["multifd-compression"] == "zstd"
    assert caps(p.dst, "g")["multifd"]
    hb = assert_intact(p.dst, "g", hb)
    migrate(p, "g", "--parallel", "--compressed", "--comp-methods", "zlib", src=p.dst, dst=p.src)
    assert qmp(p.src, "g", "query-migrate-parameters")["multifd-compression"] == "zlib"
    assert_intact(p.src, "g", hb)
    p.stop()


def test_zerocopy():
    """--zerocopy over --parallel: QEMU sends RAM with MSG_ZEROCOPY. The
    kernel charges the pages it pins to QEMU's locked-memory limit unless
    QEMU holds CAP_IPC_LOCK; ferryd raises the limit, and says why when it
    cannot (then this case is skipped with that reason)."""
    need_qemu()
    p = Pair("zcopy")
    start_guest(p.src, "g", **guest_kw(rate=8, size=64, memory=128))
    hb = wait_heartbeat(p.src, "g", after=1)
    t, out = migrate_in_background(p, "migrate", "--live", "--parallel", "--zerocopy",
                                   "--bandwidth", "30", "g", p.dst.uri)
    c = None
    end = time.time() + 60
    while time.time() < end and t.is_alive():
        info = p.src.ctl_json("domjobinfo", "g", check=False)
        if info.get("memory_processed", 0) > 0:
            c = caps(p.src, "g")
            break
        time.sleep(0.1)
    t.join(240)
    r = out["r"]
    if r.returncode != 0:
        for reason in ("locked-memory", "Zero copy send feature not detected",
                       "lock enough memory"):
            if reason in r.stderr:
                p.stop()
                raise Skip("zero-copy cannot run on this machine: " + r.stderr.strip())
        raise AssertionError("--zerocopy failed: %s\n%s" % (r.stderr, p.src.log_tail()))
    assert c and c["zero-copy-send"] and c["multifd"], c
    assert_intact(p.dst, "g", hb)
    p.stop()


def test_zerocopy_memlock():
    """The same with both agents (and so their QEMUs) started without
    CAP_IPC_LOCK: the kernel now charges the pinned pages to the source
    QEMU's RLIMIT_MEMLOCK. ferryd raises that limit to cover the guest, or,
    when it may not (no CAP_SYS_RESOURCE and a lower hard limit, as in
    this test machine's containers), refuses in Begin by saying which
    limit: the guest keeps running on the source, no destination QEMU was
    started."""
    need_qemu()
    setpriv = shutil.which("setpriv")
    if not setpriv:
        raise Skip("setpriv (util-linux) not installed")
    if os.geteuid() != 0:
        raise Skip("needs root to drop CAP_IPC_LOCK from a root agent")
    wrapper = os.path.join(tmpdir(), "ferryd-no-ipc-lock")
    with open(wrapper, "w") as f:
        f.write('#!/bin/sh\nexec %s --bounding-set -ipc_lock --inh-caps -ipc_lock -- %s "$@"\n'
                % (setpriv, ferrytest.FERRYD))
    os.chmod(wrapper, 0o755)
    real, ferrytest.FERRYD = ferrytest.FERRYD, wrapper
    try:
        p = Pair("zclock")
    finally:
        ferrytest.FERRYD = real
    start_guest(p.src, "g", **guest_kw(rate=8, size=64, memory=128))
    hb = wait_heartbeat(p.src, "g", after=1)
    pid = p.src.qemu_pid("g")
    caps_eff = [l for l in open("/proc/%d/status" % pid) if l.startswith("CapEff:")][0]
    assert not (int(caps_eff.split()[1], 16) >> 14) & 1, "QEMU still holds CAP_IPC_LOCK"
    r = p.src.ctl("migrate", "--live", "--parallel", "--zerocopy", "g", p.dst.uri, check=False,
                  timeout=240)
    if r.returncode != 0:
        assert ("--zerocopy: cannot raise QEMU's (pid %d) locked-memory limit (RLIMIT_MEMLOCK)" %
                pid) in r.stderr, r.stderr
        assert p.src.state_of("g") == "running" and p.dst.domains() == {}
        assert "incoming migration" not in open(p.dst.log).read(), p.dst.log_tail()
        print("  refused: " + r.stderr.strip())
    else:
        # Raised, and the pages really went zero-copy under that limit.
        assert_intact(p.dst, "g", hb)
    p.stop()


def disk_image(agent, target):
    names = [n for n in os.listdir(agent.images) if ("-%s." % target) in n]
    assert len(names) == 1, names
    return os.path.join(agent.images, names[0])


def read_at(path, off, length):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(length)


def sync_writes_run(tag, sync):
    """A guest write made while the mirror still copies the bulk of the
    disk (at 4 MiB/s) far ahead of its cursor: with --synchronous-writes it
    is on the destination when the write completes; without, not yet.
    Either way the images are byte-identical in the end. Returns whether
    the write was on the destination at once."""
    p = Pair(tag)
    rng = random.Random(7)
    disk = os.path.join(p.src.dir, "g-vda.raw")
    make_disk(disk, 64 * MIB, [(0, rng.randbytes(40 * MIB))])
    define(p.src, "g", disks=[("vda", disk, "raw")], **guest_kw(rate=1, size=16, memory=96))
    p.src.ctl("start", "g")
    hb = wait_heartbeat(p.src, "g", after=1)
    args = ["migrate", "--live", "--copy-storage-all", "--storage-engine", "qemu",
            "--bandwidth", "4", "g", p.dst.uri]
    if sync:
        args.insert(2, "--synchronous-writes")
    t, out = migrate_in_background(p, *args)
    wait_for(lambda: p.src.ctl_json("domjobinfo", "g", check=False).get("disk_processed", 0)
             > MIB, 60, "the mirror to copy")
    info = p.src.ctl_json("domjobinfo", "g")
    assert info["disk_processed"] < 30 * MIB, "the mirror went too fast to tell: %s" % info
    off, length = 60 * MIB, 64 * 1024
    p.src.ctl("qemu-monitor-command", "g", "--hmp", HMP_WRITE % ("vda", 0x5A, off, length))
    there = read_at(disk_image(p.dst, "vda"), off, length) == b"\x5a" * length
    p.src.ctl("migrate-setspeed", "g", "0")  # the rest at full speed, RAM included
    t.join(240)
    assert out["r"].returncode == 0, out["r"].stderr
    dst = disk_image(p.dst, "vda")
    assert read_at(disk, off, length) == b"\x5a" * length
    assert sha256_file(dst) == sha256_file(disk), "destination image differs from the source"
    assert_intact(p.dst, "g", hb)
    p.stop()
    return there


def test_synchronous_writes():
    need_qemu()
    assert sync_writes_run("sync", True), \
        "with --synchronous-writes a completed guest write was not on the destination"
    # The same without the flag shows the check can tell the modes apart.
    assert not sync_writes_run("async", False), \
        "without --synchronous-writes the write reached the destination at once (check is blind)"


if __name__ == "__main__":
    r = Runner(280)
    for t in (test_refusals, test_xbzrle_and_compcache, test_mt, test_parallel_zstd,
              test_zerocopy, test_zerocopy_memlock, test_synchronous_writes):
        r.run(t)
    r.finish()
