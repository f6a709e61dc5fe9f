# SPDX-License-Identifier: LGPL-2.1-or-later
"""Live migrations through ferry for the benchmarks (migration.py,
scaling.py): two ferryd agents on 127.0.0.1, a guest running the dirtying
kernel with raw disks holding data, guest disk writes at a set rate through
qemu-io, event streams on both agents, one timed `ferryctl migrate
--live --copy-storage-all` with a time limit, and the checks afterwards
(destination disks equal the source's, heartbeats go on with errors 0).

Same approach as scripts/demo.sh and tests/e2e/ferrytest.py. Every process
started here is stopped by its PID; every wait is bounded."""

import glob
import json
import os
import random
import shlex
import shutil
import subprocess
import threading
import time

from benchlib import MIB, BenchError, stop_pid
import guestvm


def wall_ms():
    return int(time.time() * 1000)


def wait_for(cond, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")


def bench_auth_key(root):
    """One shared key per benchmark run (docs/security.md): both agents get
    it with --auth-key (the source proves it to the destination), ferryctl
    through FERRY_AUTH_KEY."""
    path = os.path.join(root, "auth.key")
    if not os.path.exists(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
    os.environ["FERRY_AUTH_KEY"] = path
    return path


class Agent:
    """One ferryd with its own state dir, image dir, control socket and port.
    LISTEN: the address of its TCP listener (a veth's, for a shaped link);
    WRAP: a command it runs under that execs it, so its PID stays ferryd's
    (`ip netns exec NS`)."""

    def __init__(self, ferryd, ferryctl, root, name, images=None, listen="127.0.0.1", wrap=()):
        self.ferryd, self.ferryctl, self.name = ferryd, ferryctl, name
        self.listen, self.wrap = listen, list(wrap)
        self.dir = os.path.join(root, name)
        self.state = os.path.join(self.dir, "state")
        # IMAGES: elsewhere than the tmpfs workdir, e.g. on a disk, where a
        # flush of the destination costs what it costs on a real host.
        self.images = images or os.path.join(self.dir, "images")
        self.control = os.path.join(self.dir, "ctl.sock")
        self.port_file = os.path.join(self.dir, "port")
        self.log = os.path.join(self.dir, "ferryd.log")
        self.proc = None
        self.port = None
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(self.images, exist_ok=True)

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(
            self.wrap + [self.ferryd, "--state-dir", self.state, "--image-dir", self.images,
             "--control", self.control, "--port-file", self.port_file,
             "--listen", f"{self.listen}:0",
             "--auth-key", bench_auth_key(os.path.dirname(self.dir)),
             # the guests' disks live under the run's root, their kernel in
             # the build tree (docs/security.md, "Storage roots")
             "--storage-root", os.path.dirname(self.dir),
             "--storage-root", os.path.dirname(os.path.dirname(os.path.abspath(self.ferryd)))]
            # FERRY_BENCH_DEBUG=1: the agents' debug log (passes, predictions,
            # throttles) in their log files; keep them with --keep.
            + (["--debug"] if os.environ.get("FERRY_BENCH_DEBUG") else [])
            # FERRY_BENCH_FERRYD_ARGS: more options for both agents, for
            # experiments (say --migrate-tls-priority).
            + shlex.split(os.environ.get("FERRY_BENCH_FERRYD_ARGS", "")),
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        logf.close()
        wait_for(lambda: os.path.exists(self.port_file) and os.path.getsize(self.port_file)
                 or self.proc.poll() is not None, 20, f"ferryd {self.name} to listen")
        if self.proc.poll() is not None:
            raise BenchError(f"ferryd {self.name} exited: {self.log_tail()}")
        self.port = int(open(self.port_file).read().strip())
        return self

    def stop(self):
        if self.proc:
            stop_pid(self.proc.pid)
            self.proc = None

    @property
    def uri(self):
        return f"ferry+tcp://{self.listen}:{self.port}"

    def ctl(self, *args, check=True, timeout=60):
        cmd = [self.ferryctl, "-c", self.control] + [str(a) for a in args]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise BenchError(f"{' '.join(cmd)}: timed out after {timeout} s") from e
        if check and r.returncode != 0:
            raise BenchError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()[-600:]}")
        return r

    def ctl_json(self, *args, **kw):
        return json.loads(self.ctl(*(list(args) + ["--json"]), **kw).stdout)

    def serial(self, dom):
        return os.path.join(self.state, "run", dom + ".serial")

    def log_tail(self, n=20):
        try:
            return "".join(open(self.log, errors="replace").readlines()[-n:])
        except OSError:
            return ""


class EventStream:
    """`ferryctl events --domain NAME` on one agent, read by a thread: a
    list of (event, timestamp ms, data) as they arrive."""

    def __init__(self, agent, dom, on_event=None):
        self.events = []
        self.on_event = on_event
        self.proc = subprocess.Popen(
            [agent.ferryctl, "-c", agent.control, "events", "--domain", dom],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            item = (ev.get("event"), ev.get("timestamp"), ev.get("data"))
            self.events.append(item)
            if self.on_event:
                self.on_event(item)

    def stop(self):
        stop_pid(self.proc.pid)
        self.thread.join(timeout=5)

    def times(self, name):
        return [t for e, t, _ in self.events if e == name]


class DiskWriter:
    """Guest disk writes at RATE MiB/s: `qemu-io write -P` of CHUNK bytes at
    random offsets of DISK (in the first SIZE bytes), issued through the
    guest's virtio device by HMP, paced against the wall clock. Stops when
    told to (the source guest was suspended); records every write with its
    wall-clock start and end (ms), so a write that overlapped the guest's
    pause can be found."""

    def __init__(self, agent, dom, disk, size, rate_mib, seed=1):
        self.agent, self.dom, self.disk, self.size = agent, dom, disk, size  # DISK: target dev, "vda"
        self.rate = rate_mib
        # One HMP call (a ferryctl process) costs tens of ms here: larger
        # writes, not more calls, for higher rates (8 calls/s at most).
        self.chunk = min(16, max(1, int(rate_mib) // 8)) * MIB
        self.rng = random.Random(seed)
        self.writes = []
        self.errors = []
        self.stop_flag = threading.Event()
        self.thread = None

    def start(self):
        if self.rate > 0:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()
        return self

    def _run(self):
        interval = self.chunk / MIB / self.rate
        nxt = time.monotonic()
        slots = self.size // self.chunk
        while not self.stop_flag.is_set():
            off = self.rng.randrange(slots) * self.chunk
            pat = self.rng.randrange(1, 255)
            t0 = wall_ms()
            r = self.agent.ctl("qemu-monitor-command", self.dom, "--hmp",
                               f'qemu-io -d /machine/peripheral/{self.disk}/virtio-backend '
                               f'"write -P 0x{pat:02x} {off} {self.chunk}"', check=False,
                               timeout=30)
            t1 = wall_ms()
            text = (r.stdout + r.stderr).strip()
            if r.returncode != 0 or "error" in text.lower() or "failed" in text.lower():
                self.errors.append({"t0": t0, "t1": t1, "msg": text[-200:]})
            else:
                self.writes.append((t0, t1, off))
            nxt += interval
            delay = nxt - time.monotonic()
            if delay > 0:
                self.stop_flag.wait(delay)
            elif delay < -2.0:
                nxt = time.monotonic()  # fell behind (the machine is busy): no burst

    def stop(self):
        self.stop_flag.set()
        if self.thread:
            self.thread.join(timeout=40)

    def achieved_mib_s(self, t_start_ms, t_end_ms):
        n = sum(1 for t0, _, _ in self.writes if t_start_ms <= t0 <= t_end_ms)
        dur = max(1, t_end_ms - t_start_ms) / 1000
        return n * self.chunk / MIB / dur


def make_data_disk(path, size, data_fraction, seed=1, run=64 * MIB):
    """A sparse raw image: data (random bytes) in RUN-sized extents spread
    evenly, DATA_FRACTION of SIZE in all, holes between them."""
    rng = random.Random(seed)
    with open(path, "wb") as f:
        f.truncate(size)
        runs = max(1, int(size * data_fraction) // run)
        stride = size // runs
        block = rng.randbytes(4 * MIB)
        for i in range(runs):
            f.seek(i * stride)
            for k in range(0, min(run, size - i * stride), 4 * MIB):
                # Varying data per block, cheaply: rotate the random block.
                s = (i * 7919 + k // MIB) % (4 * MIB)
                f.write(block[s:] + block[:s])


def copy_sparse(src, dst):
    subprocess.run(["cp", "--sparse=always", src, dst], check=True, timeout=600)


def domain_xml(name, kernel, cmdline, disks, memory_mib=256, domain_type="kvm", emulator=None,
               extra_devices=()):
    """The guest's domain XML. DOMAIN_TYPE, EMULATOR and EXTRA_DEVICES
    (lines of XML inside <devices>) are for libvirt (bench/libvirt.py),
    which needs type='qemu' under TCG, an <emulator> and a serial device
    where ferryd picks its own."""
    out = [f"<domain type='{domain_type}'>", f"  <name>{name}</name>",
           f"  <memory unit='MiB'>{memory_mib}</memory>", "  <vcpu>1</vcpu>", "  <os>",
           "    <type arch='x86_64' machine='pc'>hvm</type>",
           f"    <kernel>{kernel}</kernel>", f"    <cmdline>{cmdline}</cmdline>", "  </os>",
           "  <devices>"]
    if emulator:
        out.append(f"    <emulator>{emulator}</emulator>")
    for tgt, path in disks:
        out += ["    <disk type='file' device='disk'>",
                "      <driver name='qemu' type='raw'/>",
                f"      <source file='{path}'/>",
                f"      <target dev='{tgt}' bus='virtio'/>", "    </disk>"]
    out += ["    " + line for line in extra_devices]
    out += ["  </devices>", "</domain>"]
    return "\n".join(out) + "\n"


def files_equal(a, b, chunk=8 * MIB):
    """Byte-for-byte comparison (cmp); returns (equal, detail)."""
    r = subprocess.run(["cmp", a, b], capture_output=True, text=True, timeout=900)
    return r.returncode == 0, (r.stdout + r.stderr).strip()[:300]


class Pair:
    """Two agents for a whole benchmark; domains come and go per run."""

    def __init__(self, ferryd, ferryctl, kernel, root, dst_images=None):
        self.kernel = kernel
        self.root = root
        self.src = Agent(ferryd, ferryctl, root, "src").start()
        self.dst = Agent(ferryd, ferryctl, root, "dst", images=dst_images).start()

    def close(self):
        for a in (self.src, self.dst):
            a.stop()


def migrate_once(pair, name, disks_template, engine, auto_converge=False, dirty_mib="0",
                 disk_write_mib=0, time_limit=120, guest_size_mib=128, memory_mib=256,
                 bandwidth=None, seed=1, before_start=None, extra_args=(), copy_disk=None,
                 after_migrate=None):
    """One live migration with storage of a fresh guest NAME whose disks
    are copies of DISKS_TEMPLATE [(target dev, template path)]. Returns a
    record: outcome ("converged", "did not converge in N s", "failed"),
    wall time, ferry's job statistics, downtime from the event streams,
    write pacing achieved, and the checks. BEFORE_START, if given, is
    called right before `ferryctl migrate` starts (outside the timing);
    its result is the record's "before_start". COPY_DISK(template, path)
    makes each source disk (default: a sparse copy; os.link keeps a
    preallocated template preallocated and costs no memory). AFTER_MIGRATE,
    if given, is called with the record as soon as `ferryctl migrate` has
    ended, while the destination's disks still exist; its result is the
    record's "after_migrate"."""
    src, dst = pair.src, pair.dst
    rec = {"engine": engine, "auto_converge": auto_converge, "dirty_rate": str(dirty_mib),
           "disk_write_rate": disk_write_mib, "time_limit_s": time_limit, "domain": name}
    disks = []
    for tgt, tmpl in disks_template:
        path = os.path.join(src.images, f"{name}-{tgt}.raw")
        (copy_disk or copy_sparse)(tmpl, path)
        disks.append((tgt, path))
    xml = os.path.join(src.dir, name + ".xml")
    cmdline = f"rate={dirty_mib} size={guest_size_mib} pattern=random"
    with open(xml, "w") as f:
        f.write(domain_xml(name, pair.kernel, cmdline, disks, memory_mib))
    streams, writer = [], None
    try:
        src.ctl("define", xml)
        src.ctl("start", name)
        wait_for(lambda: guestvm.read_log(src.serial(name))["heartbeats"] >= 2, 60,
                 f"{name}: two heartbeats on the source")
        before = guestvm.read_log(src.serial(name))
        rec["alive_before"] = before["alive"]

        writer = DiskWriter(src, name, disks[0][0], os.path.getsize(disks[0][1]),
                            disk_write_mib, seed)

        def on_src(item):
            if item[0] in ("suspended", "migration-completed", "migration-failed"):
                writer.stop_flag.set()

        streams = [EventStream(src, name, on_src), EventStream(dst, name)]
        time.sleep(0.3)  # let both subscriptions land before anything happens
        writer.start()
        time.sleep(1.0 if disk_write_mib else 0)  # writes are under way when it starts

        argv = [src.ferryctl, "-c", src.control, "migrate", "--live", "--copy-storage-all",
                "--storage-engine", engine]
        if auto_converge:
            argv.append("--auto-converge")
        if bandwidth:
            argv += ["--bandwidth", str(bandwidth)]
        argv += list(extra_args) + [name, dst.uri]
        if before_start:
            rec["before_start"] = before_start()
        t_start = wall_ms()
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True)
        try:
            out, err = proc.communicate(timeout=time_limit)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
            try:
                rec["job_at_limit"] = src.ctl_json("domjobinfo", name, timeout=30)
            except (BenchError, ValueError) as e:
                rec["job_at_limit"] = {"error": str(e)}
            src.ctl("domjobabort", name, check=False, timeout=30)
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                stop_pid(proc.pid)
                out, err = "", "ferryctl migrate did not end after domjobabort"
        wall = time.monotonic() - t0
        t_end = wall_ms()
        if after_migrate:
            rec["after_migrate"] = after_migrate(rec)
        writer.stop()
        rec["wall_s"] = wall
        rec["migrate_exit"] = proc.returncode
        rec["disk_writes"] = {"issued": len(writer.writes), "chunk": writer.chunk,
                              "errors": len(writer.errors),
                              "achieved_mib_s": writer.achieved_mib_s(t_start, t_end)}
        if timed_out:
            rec["outcome"] = f"did not converge in {time_limit} s"
            rec["converged"] = False
        elif proc.returncode != 0:
            rec["outcome"] = "failed"
            rec["converged"] = False
            rec["error"] = (err or out).strip()[-600:]
        else:
            rec["outcome"] = "converged"
            rec["converged"] = True
        try:
            rec["job"] = src.ctl_json("domjobinfo", name, "--completed", timeout=30)
        except (BenchError, ValueError) as e:
            rec["job"] = {"error": str(e)}

        time.sleep(2.5 if rec["converged"] else 0.5)  # the destination beats on
        for s in streams:
            s.stop()
        rec["events_src"] = [(e, t) for e, t, _ in streams[0].events]
        rec["events_dst"] = [(e, t) for e, t, _ in streams[1].events]
        if rec["converged"]:
            _check_after(pair, name, disks, rec, writer, t_start)
        else:
            after = guestvm.read_log(src.serial(name))
            rec["source_guest_after_abort"] = {"alive": after["alive"], "errors": after["errors"]}
            rec["source_still_running"] = after["alive"] > before["alive"]
    finally:
        if writer:
            writer.stop()
        for s in streams:
            if s.proc.poll() is None:
                s.stop()
        for a in (dst, src):
            a.ctl("destroy", name, check=False)
            a.ctl("undefine", name, check=False)
        for _, path in disks:
            if os.path.exists(path):
                os.unlink(path)
        for path in glob.glob(os.path.join(dst.images, f"{name}-*")):
            os.unlink(path)
    return rec


def _check_after(pair, name, disks, rec, writer, t_start):
    src, dst = pair.src, pair.dst
    # Independent downtime: the source's last "suspended" before the end
    # and the destination's first "resumed" after it (both agents' wall
    # clocks on one host; they stamp QEMU's STOP and RESUME on arrival).
    sus = [t for e, t in rec["events_src"] if e == "suspended" and t >= t_start]
    res = [t for e, t in rec["events_dst"] if e == "resumed" and t >= t_start]
    if sus and res:
        stop_t = sus[-1]
        after = [t for t in res if t >= stop_t]
        if after:
            rec["downtime_events_ms"] = after[0] - stop_t
            rec["suspended_at_ms"] = stop_t
            late = [w for w in writer.writes if w[1] >= stop_t]
            rec["disk_writes"]["ended_after_suspend"] = len(late)
    job = rec.get("job", {})
    d = job.get("downtime")
    e = rec.get("downtime_events_ms")
    if d is not None and e is not None:
        rec["downtime_agree"] = abs(d - e) <= 50 + 0.2 * max(d, e)
    # Disks: the destination holds the same bytes.
    checks = []
    for tgt, path in disks:
        cands = glob.glob(os.path.join(dst.images, os.path.basename(path)))
        if not cands:
            cands = glob.glob(os.path.join(dst.images, f"*{tgt}*"))
        if not cands:
            checks.append({"disk": tgt, "equal": False, "detail": "no destination image"})
            continue
        eq, detail = files_equal(path, cands[0])
        check = {"disk": tgt, "equal": eq, "detail": detail}
        if not eq and tgt == writer.disk:
            check.update(_explain_difference(path, cands[0], writer, rec.get("suspended_at_ms")))
        checks.append(check)
    rec["disks_equal"] = all(c["equal"] for c in checks)
    # A harness write (qemu-io through HMP) that was still in flight when
    # the source paused may land after the final disk pass: a real guest
    # cannot write while paused, HMP can. Differences confined to such
    # writes are counted apart ("raced"), never as verified.
    rec["disks_raced_only"] = (not rec["disks_equal"] and
                               all(c["equal"] or c.get("only_in_raced_writes") for c in checks))
    rec["disk_checks"] = checks
    log = guestvm.read_log(dst.serial(name))
    srclog = guestvm.read_log(src.serial(name))
    rec["guest_after"] = {"alive": log["alive"], "errors": log["errors"],
                          "corrupt_lines": log["corrupt_lines"],
                          "source_alive_at_stop": srclog["alive"]}
    rec["guest_ok"] = (log["alive"] > srclog["alive"] and log["errors"] == 0
                       and log["corrupt_lines"] == 0 and not log["fatal"])
    rec["verified"] = rec["disks_equal"] and rec["guest_ok"]


def _explain_difference(a, b, writer, stop_ms, slack_ms=100):
    """Which CHUNK-sized blocks differ between A and B, and whether each
    lies under a harness write that ended after the source's pause (less
    SLACK_MS: the pause is stamped when its event reaches the agent)."""
    chunk = writer.chunk
    bad = []
    with open(a, "rb") as fa, open(b, "rb") as fb_:
        off = 0
        while True:
            x, y = fa.read(chunk), fb_.read(chunk)
            if not x and not y:
                break
            if x != y:
                bad.append(off)
            off += chunk
    late = {o for t0, t1, o in writer.writes if stop_ms is not None and t1 >= stop_ms - slack_ms}
    unexplained = [o for o in bad if o not in late]
    return {"differing_blocks": bad[:64], "block_size": chunk,
            "writes_in_flight_at_pause": sorted(late),
            "only_in_raced_writes": bool(bad) and not unexplained}


def format_timeline(job, indent="      "):
    """The job's timeline (job.info's "timeline", ms since the job started)
    as one line per step: start, duration (or "running"), repeats."""
    lines = []
    for p in job.get("timeline") or []:
        took = f"{p['duration_ms']:8.1f} ms" if "duration_ms" in p else "running"
        rep = f"  x{p['count']}" if p.get("count", 1) > 1 else ""
        lines.append(f"{indent}{p['phase']:<22} at {p['start_ms']:8.1f} ms  {took}{rep}")
    return "\n".join(lines)


def pick_workdir(need, prefix):
    import tempfile
    for base in ("/dev/shm", tempfile.gettempdir()):
        try:
            st = os.statvfs(base)
        except OSError:
            continue
        if st.f_bavail * st.f_frsize > need:
            return tempfile.mkdtemp(prefix=prefix, dir=base)
    raise BenchError(f"no temporary directory with {need // MIB} MiB free")


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)
