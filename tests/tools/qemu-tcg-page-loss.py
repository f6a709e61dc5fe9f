#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reproducer, without ferry: live-migrates ferry's test guest between two
plain QEMU processes over QMP, N times, and prints the guest's count of
stale pages after each hop. On QEMU 7.2 with TCG, pages that the guest
keeps writing arrive stale now and then (see docs/known-issues.md).

  FERRY_GUEST_KERNEL=build/tests/guest/multiboot/ferry-guest.elf N=8 ACCEL=tcg PSW=1 \
      python3 tests/tools/qemu-tcg-page-loss.py

ACCEL: QEMU -accel value; PSW=0 turns pause-before-switchover off."""
import json, os, re, shutil, socket, subprocess, sys, tempfile, time
K = os.environ.get("FERRY_GUEST_KERNEL", "build/tests/guest/multiboot/ferry-guest.elf")
D = tempfile.mkdtemp(prefix="tcg-page-loss-")
PSW = os.environ.get("PSW", "1") == "1"
ACCEL = os.environ.get("ACCEL", "tcg")
def qmp(path):
    for _ in range(200):
        try:
            s = socket.socket(socket.AF_UNIX); s.connect(path); break
        except OSError: time.sleep(0.05)
    f = s.makefile("rw"); f.readline()
    def cmd(c, a=None):
        m = {"execute": c}
        if a is not None: m["arguments"] = a
        f.write(json.dumps(m) + "\n"); f.flush()
        while True:
            l = json.loads(f.readline())
            if "return" in l or "error" in l: return l
            cmd.events.append(l)
    cmd.events = []
    cmd("qmp_capabilities"); return cmd
def start(name, incoming):
    for e in ("sock", "serial"):
        try: os.unlink("%s/%s.%s" % (D, name, e))
        except OSError: pass
    args = ["qemu-system-x86_64", "-machine", "pc", "-accel", ACCEL, "-m", "160", "-nodefaults", "-display", "none",
            "-qmp", "unix:%s/%s.sock,server=on,wait=off" % (D, name), "-serial", "file:%s/%s.serial" % (D, name),
            "-kernel", K, "-append", os.environ.get("GUEST_ARGS", "rate=32 size=96 invlpg=off")]
    if incoming: args += ["-S", "-incoming", "defer"]
    p = subprocess.Popen(args, stderr=subprocess.DEVNULL)
    return p, qmp("%s/%s.sock" % (D, name))
bad = 0
src, sq = start("s0", False)
time.sleep(2)
for i in range(int(os.environ.get("N", "8"))):
    dst, dq = start("d%d" % i, True)
    dq("migrate-set-capabilities", {"capabilities": [{"capability": "events", "state": True}]})
    dq("migrate-incoming", {"uri": "tcp:127.0.0.1:0"})
    port = dq("query-migrate")["return"]["socket-address"][0]["port"]
    caps = [{"capability": "events", "state": True}, {"capability": "pause-before-switchover", "state": PSW}]
    sq("migrate-set-capabilities", {"capabilities": caps})
    sq("migrate-set-parameters", {"max-bandwidth": 1 << 40})
    sq("migrate", {"uri": "tcp:127.0.0.1:%s" % port})
    while True:
        st = sq("query-migrate")["return"].get("status")
        if st == "pre-switchover":
            sq("migrate-continue", {"state": "pre-switchover"})
        if st == "completed": break
        if st in ("failed", "cancelled"): print("fail", st); sys.exit(1)
        time.sleep(0.02)
    while dq("query-migrate")["return"].get("status") != "completed": time.sleep(0.02)
    dq("cont")
    sq("quit"); src.wait()
    time.sleep(2.5)
    txt = open("%s/d%d.serial" % (D, i)).read()
    errs = re.findall(r"errors (\d+)", txt)
    print(i, "errors", errs[-1] if errs else "?", flush=True)
    if errs and errs[-1] != "0": bad += 1
    src, sq = dst, dq
sq("quit"); src.wait()
shutil.rmtree(D, ignore_errors=True)
print("bad", bad)
