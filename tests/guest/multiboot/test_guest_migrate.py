# SPDX-License-Identifier: LGPL-2.1-or-later
"""e2e: the test guest keeps running, consistent, across a plain QEMU live
migration (no ferry involved), so that ferry's migration tests can trust
what it reports. Source and destination QEMU on 127.0.0.1; after the
migration the destination's first heartbeat must continue the source's
count (a stale copy of the guest's state would repeat it), keep dirtying,
and report no stale page.

usage: test_guest_migrate.py GUEST-KERNEL [QEMU]; exit 0 pass, 1 fail, 77 skip."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "bench"))
import benchlib  # noqa: E402
import guestvm  # noqa: E402

CASES = [
    # name, guest options, MiB per heartbeat the destination must at least
    # dirty (far below the rate: "keeps dirtying" on a loaded 2-core TCG host;
    # test-guest-boot checks the rate itself)
    ("random-128", dict(rate_mib=128, size_mib=64, pattern="random"), 24),
    ("seq-page-64", dict(rate_mib=64, size_mib=32, pattern="seq", touch="page"), 16),
]
DEADLINE_S = 60  # per case


class Fail(Exception):
    pass


def wait_log(path, pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = guestvm.read_log(path)
        if st["fatal"] or st["corrupt_lines"]:
            raise Fail(f"{what}: guest reported an error: {st}")
        if pred(st):
            return st
        time.sleep(0.1)
    raise Fail(f"timed out waiting for {what}: {guestvm.read_log(path)}")


def start(qemu, kernel, workdir, name, opts, extra):
    serial = os.path.join(workdir, f"{name}.serial")
    qmp_path = os.path.join(workdir, f"{name}.qmp")
    argv = ([qemu] + guestvm.guest_args(kernel, serial, **opts) +
            ["-qmp", f"unix:{qmp_path},server=on,wait=off"] + extra)
    log = open(os.path.join(workdir, f"{name}.log"), "wb")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        return proc, benchlib.QMP(qmp_path), serial
    except benchlib.BenchError:
        benchlib.stop_pid(proc.pid)
        raise


def run_case(qemu, kernel, workdir, name, opts, min_rate):
    procs = []
    try:
        sp, sq, sserial = start(qemu, kernel, workdir, f"{name}-src", opts, [])
        procs.append(sp)
        dp, dq, dserial = start(qemu, kernel, workdir, f"{name}-dst", opts,
                                ["-incoming", "defer"])
        procs.append(dp)
        port = benchlib.free_tcp_port()
        dq.execute("migrate-incoming", {"uri": f"tcp:127.0.0.1:{port}"})
        wait_log(sserial, lambda s: s["heartbeats"] >= 2, 30, "source heartbeats")

        sq.execute("migrate-set-parameters", {"max-bandwidth": 1 << 30,
                                              "downtime-limit": 300})
        sq.execute("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        start_t = time.monotonic()
        forced = False
        while True:
            st = sq.execute("query-migrate")
            if st["status"] == "completed":
                break
            if st["status"] in ("failed", "cancelled"):
                raise Fail(f"migration {st['status']}: {st.get('error-desc')}")
            if not forced and time.monotonic() - start_t > 20:
                # A slow TCG host may not converge: accept a long downtime,
                # the guest's checks matter here, not the downtime.
                sq.execute("migrate-set-parameters", {"downtime-limit": 20000})
                forced = True
            if time.monotonic() - start_t > 45:
                raise Fail("migration did not complete in 45 s")
            time.sleep(0.1)
        src = guestvm.read_log(sserial)
        dst = wait_log(dserial, lambda s: s["heartbeats"] >= 3, 20, "destination heartbeats")

        first_alive = None
        with open(dserial, "rb") as f:
            for line in f.read().decode(errors="replace").splitlines():
                m = guestvm.HEARTBEAT.search(line)
                if m:
                    first_alive = int(m.group(1))
                    break
        print(f"{name}: source last alive {src['alive']} dirtied {src['dirtied_mib']} MiB; "
              f"destination first alive {first_alive}, last alive {dst['alive']} dirtied "
              f"{dst['dirtied_mib']} MiB errors {dst['errors']}; migration "
              f"{st.get('total-time')} ms, downtime {st.get('downtime')} ms"
              f"{' (forced)' if forced else ''}")
        if first_alive != src["alive"] + 1:
            raise Fail(f"destination resumed at heartbeat {first_alive}, source was at "
                       f"{src['alive']}: the guest's state came over stale")
        if dst["errors"] != 0:
            raise Fail(f"destination guest found {dst['errors']} stale pages")
        beats = dst["alive"] - first_alive
        per_beat = (dst["dirtied_mib"] - src["dirtied_mib"]) / (dst["alive"] - src["alive"])
        if beats < 2 or per_beat < min_rate:
            raise Fail(f"destination dirtied {per_beat:.0f} MiB per heartbeat, "
                       f"expected at least {min_rate}")
    finally:
        for p in procs:
            benchlib.stop_pid(p.pid)


def main():
    if len(sys.argv) < 2 or not sys.argv[1] or not os.path.exists(sys.argv[1]):
        print("SKIP: the test guest kernel was not built")
        return 77
    kernel = sys.argv[1]
    qemu = sys.argv[2] if len(sys.argv) > 2 else "qemu-system-x86_64"
    if not shutil.which(qemu):
        print(f"SKIP: {qemu} not found")
        return 77
    print(f"accel {guestvm.accel()}, kernel {kernel}")
    workdir = tempfile.mkdtemp(prefix="ferry-guest-mig-")
    failed = 0
    try:
        for name, opts, min_rate in CASES:
            try:
                run_case(qemu, kernel, workdir, name, opts, min_rate)
            except (Fail, benchlib.BenchError) as e:
                failed += 1
                print(f"{name}: FAIL: {e}")
                for f in sorted(os.listdir(workdir)):
                    if f.startswith(name) and f.endswith((".serial", ".log")):
                        with open(os.path.join(workdir, f), "rb") as fh:
                            tail = fh.read()[-1500:].decode(errors="replace")
                        print(f"---- {f} ----\n{tail}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{failed} of {len(CASES)} cases failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
