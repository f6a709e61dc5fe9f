# SPDX-License-Identifier: LGPL-2.1-or-later
"""ferry against real libvirt on one machine (issue 19, part 4): two
libvirtd instances (Debian's libvirt, each in its own mount and UTS
namespace) and two ferryd agents migrate the same idle guest with the same
disk image, `virsh migrate --live --p2p --copy-storage-all` against
`ferryctl migrate --live --p2p --copy-storage-all`, interleaved round by
round. Per migration: wall time of the command, downtime (domjobinfo
--completed of each), host CPU seconds of both sides' QEMU and daemon
(libvirtd / ferryd) over the migration, and the destination image's
allocation; then the medians, ranges and same-round ratios ferry/libvirt,
and each ferry run's phase timeline. Every migration is verified: the
destination image equals the source (cmp) and the guest beats on at the
destination with errors 0.

Optional third system, libvirt-tls: `virsh migrate --tls`, since ferry
encrypts QEMU's streams and libvirt's default does not.

Needs root (namespaces, bind mounts), the packages libvirt-daemon,
libvirt-daemon-driver-qemu and libvirt-clients, and the account
libvirt-qemu (created with useradd when missing: libvirt looks it up even
with user = "root"). Network only on 127.0.0.0/8. Every process started
here is stopped by its PID, every wait is bounded, and the namespaces,
mounts and files go away on exit (also on SIGINT/SIGTERM)."""

import argparse
import calendar
import ctypes
import os
import pwd
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (GIB, MIB, BenchError, machine_facts, proc_cpu_seconds,  # noqa: E402
                      run_timed, stop_pid, summarize, tool_version, write_json)
import ferrybench as fb  # noqa: E402
import guestvm  # noqa: E402
import mirror  # noqa: E402
import scaling  # noqa: E402

# The order within each round. libvirt-tls (not in the default) is libvirt
# with `virsh migrate --tls`: ferry always encrypts QEMU's streams (a
# pre-shared key per migration, docs/security.md), libvirt by default not.
SYSTEMS = ("ferry", "libvirt", "libvirt-tls")
BASELINES = SYSTEMS[1:]
CASES = {
    "dense": "dense raw disk, every byte random data",
    "prealloc": "preallocated raw disk (every byte written), mostly zeros, some random data",
}
QEMU = "/usr/bin/qemu-system-x86_64"
# What libvirtd keeps in these: each instance gets its own (bind mounts
# inside its mount namespace).
LIBVIRT_DIRS = {"etc": "/etc/libvirt", "run": "/run/libvirt", "lib": "/var/lib/libvirt",
                "log": "/var/log/libvirt", "cache": "/var/cache/libvirt"}


# ------------------------------------------------------------ CPU time

class CpuSampler:
    """CPU seconds (user + system) that a set of processes spend in a
    window. DAEMONS are PIDs alive all along; PIDFILES name processes that
    may start (the destination's QEMU) or end (the source's) inside the
    window. A thread samples /proc/PID/stat every INTERVAL s: a process
    first seen inside the window counts from 0, one that ends counts up to
    its last sample (so each QEMU's last INTERVAL may be missed; the same
    for both systems)."""

    def __init__(self, daemons, pidfiles, interval=0.01):
        self.daemons, self.pidfiles, self.interval = dict(daemons), dict(pidfiles), interval
        self.pids = {}      # label -> pid
        self.first = {}     # label -> CPU s at window start (0 if started inside)
        self.last = {}      # label -> last CPU s seen
        self.stop_flag = threading.Event()
        self.thread = None

    def _pid(self, label):
        if label in self.pids:
            return self.pids[label]
        if label in self.daemons:
            self.pids[label] = self.daemons[label]
            return self.pids[label]
        try:
            with open(self.pidfiles[label]) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        self.pids[label] = pid
        return pid

    def _sample(self, at_start=False):
        for label in list(self.daemons) + list(self.pidfiles):
            pid = self._pid(label)
            if pid is None:
                continue
            try:
                cpu = proc_cpu_seconds(pid)
            except (OSError, ValueError, IndexError):
                continue  # gone: keep its last sample
            if label not in self.first:
                self.first[label] = cpu if at_start else 0.0
            self.last[label] = cpu

    def _run(self):
        while not self.stop_flag.wait(self.interval):
            self._sample()

    def start(self):
        self._sample(at_start=True)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """Ends the window; returns {label: CPU seconds in it}."""
        self.stop_flag.set()
        self.thread.join(timeout=5)
        self._sample()
        return {label: round(self.last[label] - self.first[label], 3) for label in self.last}


# ------------------------------------------------------------ libvirtd

class OrphanReaper:
    """libvirt daemonizes QEMU, so a QEMU that ends is reaped by PID 1, and
    libvirt's Confirm waits (virProcessKillPainfully, signal-0 probes) until it
    is gone. PID 1 of this VM reaps orphans 1-2 s late, which a host's systemd does
    not: measured here, it added about 1.4 s to each libvirt migration.
    So this process becomes the child subreaper of everything it starts
    (prctl PR_SET_CHILD_SUBREAPER) and a thread reaps, every 5 ms, the
    QEMU zombies handed to it. Only those: the other children are
    subprocess's, which wait for their own."""

    PR_SET_CHILD_SUBREAPER = 36

    def __init__(self, interval=0.005):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(self.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise BenchError(f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(ctypes.get_errno())}")
        self.interval = interval
        self.reaped = 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _children(self):
        pids = set()
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/children") as f:
                    pids.update(int(x) for x in f.read().split())
            except OSError:
                pass
        return pids

    def _run(self):
        while not self.stop_flag.wait(self.interval):
            for pid in self._children():
                try:
                    with open(f"/proc/{pid}/stat") as f:
                        stat = f.read()
                except OSError:
                    continue
                comm = stat[stat.index("(") + 1:stat.rindex(")")]
                if stat[stat.rindex(")") + 2] == "Z" and comm.startswith("qemu-system"):
                    try:
                        os.waitpid(pid, os.WNOHANG)
                        self.reaped += 1
                    except ChildProcessError:
                        pass

    def stop(self):
        self.stop_flag.set()
        self.thread.join(timeout=5)


def ensure_libvirt_qemu_user():
    """libvirt 9.0's QEMU driver looks up the libvirt-qemu account at start
    even with user = "root" in qemu.conf (the Debian package
    libvirt-daemon-system would create it; it is not needed otherwise).
    Returns a note when it had to be created."""
    try:
        pwd.getpwnam("libvirt-qemu")
        return None
    except KeyError:
        pass
    subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                    "--home-dir", "/var/lib/libvirt", "--shell", "/usr/sbin/nologin",
                    "libvirt-qemu"], check=True, timeout=30)
    return "created the system account libvirt-qemu (useradd --system); it stays"


def make_tls_dir(d):
    """A throwaway CA with one server and one client certificate, the
    layout libvirt's migrate_tls_x509_cert_dir wants; the server's names
    cover both instances' migration addresses."""
    os.makedirs(d, exist_ok=True)

    def ossl(*a):
        subprocess.run(["openssl"] + list(a), check=True, capture_output=True, timeout=60, cwd=d)
    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca-key.pem",
         "-out", "ca-cert.pem", "-days", "2", "-subj", "/CN=ferry-bench CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    for role, usage in (("server", "serverAuth"), ("client", "clientAuth")):
        with open(os.path.join(d, role + ".ext"), "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    f"extendedKeyUsage={usage}\n"
                    "subjectAltName=IP:127.0.0.2,IP:127.0.0.3,DNS:ferry-bench-lv-src,"
                    "DNS:ferry-bench-lv-dst\n")
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{role}-key.pem",
             "-out", f"{role}.csr", "-subj", f"/CN=ferry-bench {role}")
        ossl("x509", "-req", "-in", f"{role}.csr", "-CA", "ca-cert.pem", "-CAkey", "ca-key.pem",
             "-CAcreateserial", "-out", f"{role}-cert.pem", "-days", "2",
             "-extfile", f"{role}.ext")


class Libvirtd:
    """One libvirtd in its own mount and UTS namespace: private copies of
    LIBVIRT_DIRS (bind mounts of directories under DIR), its own host name
    and host_uuid, its disk images under DIR/images bind-mounted at
    IMAGES_AT (one path in every instance, as a migration with
    --copy-storage-all expects), and QEMU's migration and NBD streams on
    ADDR. Only unix sockets: the control socket is DIR/run/libvirt-sock."""

    def __init__(self, root, name, addr, images_at):
        self.name, self.addr, self.images_at = name, addr, images_at
        self.dir = os.path.join(root, name)
        self.images = os.path.join(self.dir, "images")
        for d in list(LIBVIRT_DIRS) + ["images"]:
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        self.sock = os.path.join(self.dir, "run", "libvirt-sock")
        self.pidfile = os.path.join(self.dir, "libvirtd.pid")
        self.conf = os.path.join(self.dir, "etc", "libvirtd.conf")
        self.log = os.path.join(self.dir, "libvirtd.out")
        self.proc = None
        self.uri = f"qemu+unix:///system?socket={self.sock}"

    def write_config(self):
        with open(self.conf, "w") as f:
            f.write(f'host_uuid = "{uuid.uuid4()}"\n'
                    'auth_unix_ro = "none"\nauth_unix_rw = "none"\n'
                    'unix_sock_rw_perms = "0700"\n'
                    'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n')
        # root without relabelling, no cgroups, no per-QEMU /dev namespace,
        # no virtlogd: nothing of the host's outside the instance's dirs.
        with open(os.path.join(self.dir, "etc", "qemu.conf"), "w") as f:
            f.write('user = "root"\ngroup = "root"\ndynamic_ownership = 0\n'
                    'remember_owner = 0\nsecurity_driver = "none"\n'
                    'cgroup_controllers = []\nnamespaces = []\nstdio_handler = "file"\n'
                    f'migration_address = "{self.addr}"\nmigration_host = "{self.addr}"\n'
                    # for `virsh migrate --tls` (libvirt-tls): certificates
                    # in the instance's private /etc/libvirt
                    'migrate_tls_x509_cert_dir = "/etc/libvirt/pki-qemu"\n'
                    'migrate_tls_x509_verify = 1\n')

    def start(self, timeout=120):
        self.write_config()
        mounts = [(os.path.join(self.dir, k), v) for k, v in LIBVIRT_DIRS.items()]
        mounts.append((self.images, self.images_at))
        script = "set -e\n" + "".join(
            f"mount --bind {shlex.quote(src)} {shlex.quote(dst)}\n" for src, dst in mounts)
        script += (f"hostname ferry-bench-{self.name}\n"
                   f"exec libvirtd --pid-file {shlex.quote(self.pidfile)} "
                   f"--config {shlex.quote(self.conf)}\n")
        logf = open(self.log, "ab")
        # unshare execs sh, which execs libvirtd: one PID, ours.
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--uts", "--propagation", "private", "--", "sh", "-c", script],
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        logf.close()

        def up():
            if self.proc.poll() is not None:
                return True
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                try:
                    s.connect(self.sock)
                    return True
                except OSError:
                    return False
        fb.wait_for(up, 30, f"libvirtd {self.name} to listen")
        if self.proc.poll() is not None:
            raise BenchError(f"libvirtd {self.name} exited {self.proc.returncode}: "
                             f"{self.log_tail()}")
        # The first connection probes QEMU's capabilities (seconds under
        # TCG); do it here, not inside a timed migration.
        self.virsh("capabilities", timeout=timeout)
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def virsh(self, *args, check=True, timeout=60):
        cmd = ["virsh", "-q", "-c", self.uri] + [str(a) for a in args]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            raise BenchError(f"{' '.join(cmd)}: timed out after {timeout} s") from e
        if check and r.returncode != 0:
            raise BenchError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()[-600:]}")
        return r

    def qemu_pidfile(self, dom):
        return os.path.join(self.dir, "run", "qemu", dom + ".pid")

    def kill_domains(self):
        """Every QEMU of this instance: `virsh destroy`, then by the PID
        libvirt wrote (QEMU daemonizes: not our child, but ours)."""
        if self.proc and self.proc.poll() is None:
            r = self.virsh("list", "--name", check=False, timeout=30)
            for dom in r.stdout.split():
                self.virsh("destroy", dom, check=False, timeout=30)
        qdir = os.path.join(self.dir, "run", "qemu")
        for f in os.listdir(qdir) if os.path.isdir(qdir) else []:
            if not f.endswith(".pid"):
                continue
            try:
                pid = int(open(os.path.join(qdir, f)).read().strip())
                cmd = open(f"/proc/{pid}/cmdline", "rb").read()
            except (OSError, ValueError):
                continue
            if b"qemu-system" in cmd:
                os.kill(pid, signal.SIGKILL)
                fb.wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, f"QEMU {pid} to end")

    def stop(self):
        try:
            self.kill_domains()
        finally:
            if self.proc:
                stop_pid(self.proc.pid, timeout=15)
                self.proc = None

    def log_tail(self, n=15):
        out = []
        for p in (self.log, os.path.join(self.dir, "log", "libvirtd.log")):
            try:
                out += open(p, errors="replace").readlines()[-n:]
            except OSError:
                pass
        return "".join(out)[-1500:]


class LibvirtPair:
    """Source and destination libvirtd. The mount points they need are made
    on the host when missing (libvirt-daemon-system is not installed) and
    removed again at close()."""

    def __init__(self, root):
        self.made = []
        for d in LIBVIRT_DIRS.values():
            if not os.path.isdir(d):
                os.makedirs(d)
                self.made.append(d)
        # The common image path: an empty directory on the host, each
        # namespace's own images mounted over it.
        self.images_at = os.path.join(root, "libvirt-images")
        os.makedirs(self.images_at, exist_ok=True)
        # libvirt refuses 127.0.0.1 as migration_host; 127.0.0.2/3 pass.
        self.src = Libvirtd(root, "lv-src", "127.0.0.2", self.images_at)
        self.dst = Libvirtd(root, "lv-dst", "127.0.0.3", self.images_at)

    def start(self):
        # One CA for both: each QEMU checks the other's certificate.
        pki = os.path.join(os.path.dirname(self.images_at), "pki-qemu")
        make_tls_dir(pki)
        for inst in (self.src, self.dst):
            shutil.copytree(pki, os.path.join(inst.dir, "etc", "pki-qemu"))
        self.src.start()
        self.dst.start()
        return self

    def close(self):
        for inst in (self.src, self.dst):
            try:
                inst.stop()
            except BenchError as e:
                print(f"cleanup: {inst.name}: {e}", file=sys.stderr)
        for d in reversed(self.made):
            try:
                os.rmdir(d)
            except OSError as e:
                print(f"cleanup: cannot remove {d}: {e}", file=sys.stderr)


def parse_domjobinfo(text):
    """`virsh domjobinfo` output as {key: (number, unit) or text}."""
    out = {}
    for line in text.splitlines():
        if ":" not in line:
            continue
        k, v = (x.strip() for x in line.split(":", 1))
        m = re.match(r"^(-?[0-9.]+)\s*(\S*)$", v)
        out[k] = (float(m.group(1)), m.group(2)) if m else v
    return out


def libvirt_migrate_once(lv, name, tmpl, kernel, memory_mib, guest_size_mib, time_limit,
                         before_start=None, tls=False):
    """One `virsh migrate --live --p2p --copy-storage-all` of a fresh
    guest NAME whose disk is a hard link of TMPL (the guest does not write
    it). The guest is persistent on the source, so that the source keeps
    its completed job's statistics (`domjobinfo --completed`), and
    transient on the destination. Returns a record like
    ferry_migrate_once's. TLS adds --tls (x509 on QEMU's RAM and NBD
    streams)."""
    src, dst = lv.src, lv.dst
    rec = {"system": "libvirt-tls" if tls else "libvirt", "domain": name}
    base = f"{name}-vda.raw"
    src_img, dst_img = os.path.join(src.images, base), os.path.join(dst.images, base)
    os.link(tmpl, src_img)
    # libvirt needs the destination disk made beforehand, same path, same
    # size; a new sparse file, like the one ferryd creates.
    with open(dst_img, "wb") as f:
        f.truncate(os.path.getsize(tmpl))
    serial = f"{name}.serial"
    xml = os.path.join(src.dir, name + ".xml")
    cmdline = f"rate=0 size={guest_size_mib} pattern=random"
    with open(xml, "w") as f:
        f.write(fb.domain_xml(
            name, kernel, cmdline, [("vda", os.path.join(lv.images_at, base))], memory_mib,
            domain_type="qemu", emulator=QEMU,
            extra_devices=[f"<serial type='file'><source path='{lv.images_at}/{serial}'/>"
                           "<target port='0'/></serial>",
                           "<controller type='usb' model='none'/>",
                           "<memballoon model='none'/>"]))
    try:
        src.virsh("define", xml, timeout=60)
        src.virsh("start", name, timeout=60)
        src_log = os.path.join(src.images, serial)
        fb.wait_for(lambda: guestvm.read_log(src_log)["heartbeats"] >= 2, 60,
                    f"{name}: two heartbeats on the source")
        before = guestvm.read_log(src_log)
        if before_start:
            rec["before_start"] = before_start()
        sampler = CpuSampler({"src-daemon": src.pid, "dst-daemon": dst.pid},
                             {"src-qemu": src.qemu_pidfile(name),
                              "dst-qemu": dst.qemu_pidfile(name)}).start()
        argv = ["virsh", "-q", "-c", src.uri, "migrate", "--live", "--p2p", "--copy-storage-all",
                "--migrateuri", f"tcp://{dst.addr}"] + (["--tls"] if tls else []) + [name, dst.uri]
        rec["command"] = " ".join(argv)
        try:
            wall, client_cpu, _ = run_timed(argv, timeout=time_limit)
        finally:
            rec["cpu_s"] = sampler.stop()
        rec["wall_s"] = wall
        rec["client_cpu_s"] = client_cpu
        rec["dst_allocated"] = mirror.allocated_bytes(dst_img)
        rec["src_allocated"] = mirror.allocated_bytes(src_img)
        # Completed-job statistics of both sides. The downtime reported is
        # the source's, as ferry's (QEMU's figure on the source); the
        # destination's counts from the source's stop to its own resume.
        for where, inst in (("source", src), ("destination", dst)):
            r = inst.virsh("domjobinfo", "--completed", name, check=False, timeout=30)
            if r.returncode == 0:
                rec["jobinfo" if where == "source" else "jobinfo_dst"] = parse_domjobinfo(r.stdout)
            else:
                rec.setdefault("jobinfo_errors", []).append(f"{where}: {r.stderr.strip()[-300:]}")
        job = rec.get("jobinfo", {})
        if "Total downtime" in job:
            rec["downtime_ms"] = job["Total downtime"][0]
        if "Time elapsed" in job:
            rec["time_elapsed_ms"] = job["Time elapsed"][0]
        time.sleep(2.5)  # the destination beats on
        eq, detail = fb.files_equal(src_img, dst_img)
        dlog = guestvm.read_log(os.path.join(dst.images, serial))
        slog = guestvm.read_log(src_log)
        rec["disk_equal"], rec["disk_detail"] = eq, detail
        rec["guest_after"] = {"alive": dlog["alive"], "errors": dlog["errors"],
                              "corrupt_lines": dlog["corrupt_lines"],
                              "source_alive_at_stop": slog["alive"]}
        rec["verified"] = (eq and dlog["alive"] > slog["alive"] and dlog["errors"] == 0
                           and dlog["corrupt_lines"] == 0 and not dlog["fatal"])
        rec["outcome"] = "migrated"
    finally:
        for inst in (dst, src):
            inst.virsh("destroy", name, check=False, timeout=30)
        src.virsh("undefine", name, check=False, timeout=30)
        for p in (src_img, dst_img, os.path.join(src.images, serial),
                  os.path.join(dst.images, serial)):
            if os.path.exists(p):
                os.unlink(p)
    return rec


# --------------------------------------------------------------- ferry

def ferry_migrate_once(pair, name, tmpl, memory_mib, guest_size_mib, time_limit,
                       before_start=None):
    """One `ferryctl migrate --live --p2p --copy-storage-all` through
    ferrybench.migrate_once (its checks: cmp, heartbeats), with the same
    CPU window and allocation figures as libvirt_migrate_once."""
    state = {}

    def start():
        out = before_start() if before_start else None
        state["sampler"] = CpuSampler(
            {"src-daemon": pair.src.proc.pid, "dst-daemon": pair.dst.proc.pid},
            {"src-qemu": os.path.join(pair.src.state, "run", name + ".pid"),
             "dst-qemu": os.path.join(pair.dst.state, "run", name + ".pid")}).start()
        return out

    def after(_rec):
        cpu = state["sampler"].stop()
        dst = os.path.join(pair.dst.images, f"{name}-vda.raw")
        return {"cpu_s": cpu,
                "dst_allocated": mirror.allocated_bytes(dst) if os.path.exists(dst) else None}

    rec = fb.migrate_once(pair, name, [("vda", tmpl)], "ferry", dirty_mib="0",
                          time_limit=time_limit, guest_size_mib=guest_size_mib,
                          memory_mib=memory_mib, before_start=start, extra_args=["--p2p"],
                          copy_disk=os.link, after_migrate=after)
    if "sampler" in state and not state["sampler"].stop_flag.is_set():
        rec["cpu_s"] = state["sampler"].stop()  # migrate_once failed before its hook
    rec.update(rec.pop("after_migrate", {}))
    rec["system"] = "ferry"
    rec["command"] = ("ferryctl migrate --live --p2p --copy-storage-all --storage-engine ferry "
                      f"{name} {pair.dst.uri}")
    rec["downtime_ms"] = rec.get("job", {}).get("downtime")
    rec["time_elapsed_ms"] = rec.get("job", {}).get("time_elapsed")
    rec["src_allocated"] = mirror.allocated_bytes(tmpl)
    for k in ("events_src", "events_dst"):
        rec.pop(k, None)
    return rec


# ------------------------------------------------------------- report

def cpu_total(rec):
    return sum(rec["cpu_s"].values()) if rec.get("cpu_s") else None


FIGURES = [  # (key, label, from a record, format)
    ("time_s", "time s", lambda r: r.get("wall_s"), "{:.2f}"),
    ("downtime_ms", "downtime ms", lambda r: r.get("downtime_ms"), "{:.0f}"),
    ("cpu_s", "host CPU s", cpu_total, "{:.2f}"),
    ("dst_alloc_mib", "dest. allocated MiB",
     lambda r: r["dst_allocated"] / MIB if r.get("dst_allocated") is not None else None,
     "{:.0f}"),
]


def ok_runs(runs, case, system):
    return [r for r in runs if r["case"] == case and r["system"] == system and r.get("verified")]


def same_round_pairs(runs, case, baseline="libvirt"):
    """(round, ferry record, BASELINE record) for each round where both
    migrations were verified."""
    for rnd in sorted({r["round"] for r in runs if r["case"] == case}):
        f = [r for r in ok_runs(runs, case, "ferry") if r["round"] == rnd]
        lv = [r for r in ok_runs(runs, case, baseline) if r["round"] == rnd]
        if f and lv:
            yield rnd, f[0], lv[0]


def summarise(runs, cases, systems):
    out = {}
    for case in cases:
        out[case] = {}
        for system in systems:
            rs = ok_runs(runs, case, system)
            row = {"runs": sum(1 for r in runs if r["case"] == case and r["system"] == system),
                   "verified": len(rs)}
            for key, _, get, _ in FIGURES:
                row[key] = summarize([v for v in map(get, rs) if v is not None])
            for part in ("src-qemu", "dst-qemu", "src-daemon", "dst-daemon"):
                row["cpu_" + part] = summarize([r["cpu_s"][part] for r in rs
                                                if part in r.get("cpu_s", {})])
            out[case][system] = row
        for base in systems[1:]:
            ratios = {}
            for key, _, get, _ in FIGURES:
                vals = [get(f) / get(lv) for _, f, lv in same_round_pairs(runs, case, base)
                        if get(f) is not None and get(lv)]
                ratios[key] = {"values": vals, "summary": summarize(vals)}
            out[case]["ferry_over_" + base] = ratios
    return out


def fmt_range(s, form):
    if not s:
        return "-"
    if s["n"] == 1:
        return form.format(s["median"])
    return f"{form.format(s['median'])} ({form.format(s['min'])}-{form.format(s['max'])})"


def print_table(summary, case_labels, systems):
    bases = systems[1:]
    print("\nmedian (min-max) over the verified runs; ratio: ferry / baseline of the same "
          "round, median (min-max); x faster: baseline time / ferry time, per round")
    print("\n| case | figure | ferry | " + " | ".join(f"{b} | ferry / {b}" for b in bases) + " |")
    print("| --- | --- | --- |" + " --- | --- |" * len(bases))
    for case, row in summary.items():
        lab = case_labels[case]
        for key, label, _, form in FIGURES:
            cells = [fmt_range(row["ferry"][key], form)]
            for b in bases:
                cells += [fmt_range(row[b][key], form),
                          fmt_range(row["ferry_over_" + b][key]["summary"], "{:.2f}")]
            print(f"| {lab} | {label} | " + " | ".join(cells) + " |")
        cells = [""]
        for b in bases:
            fast = sorted(1 / v for v in row["ferry_over_" + b]["time_s"]["values"])
            cells += ["", ", ".join(f"{v:.2f}" for v in fast) or "-"]
        print(f"| {lab} | x faster | " + " | ".join(cells) + " |")
        cells = [f"{row['ferry']['verified']}/{row['ferry']['runs']}"]
        for b in bases:
            cells += [f"{row[b]['verified']}/{row[b]['runs']}", ""]
        print(f"| {lab} | verified runs | " + " | ".join(cells) + " |")
    print("\nhost CPU s by process, median: src QEMU / dst QEMU / src daemon / dst daemon")
    for case, row in summary.items():
        for system in systems:
            parts = [fmt_range(row[system]["cpu_" + p], "{:.2f}").split(" ")[0]
                     for p in ("src-qemu", "dst-qemu", "src-daemon", "dst-daemon")]
            print(f"  {case_labels[case]:<28} {system:<11} " + " / ".join(parts))


def targets(summary, runs, base="libvirt"):
    """Issue 19's targets (set against libvirt's defaults) against what
    this run measured, with BASE as the baseline."""
    lines = []
    need = {"dense": 2.5, "prealloc": 10.0}
    for case, goal in need.items():
        if case not in summary:
            continue
        vals = summary[case]["ferry_over_" + base]["time_s"]["values"]
        if not vals:
            lines.append(f"{case}: no same-round pair, target {goal}x not measured")
            continue
        fast = sorted(1 / v for v in vals)
        med = summarize(fast)["median"]
        lines.append(f"{case}: ferry {med:.2f}x faster than {base} (median of {len(fast)} "
                     f"rounds, lowest {fast[0]:.2f}x); target {goal}x: "
                     + ("met" if fast[0] >= goal else
                        "met by the median, not in every round" if med >= goal else "NOT met"))
    worse = []
    pairs = 0
    for case in summary:
        for rnd, f, lv in same_round_pairs(runs, case, base):
            if f.get("downtime_ms") is not None and lv.get("downtime_ms") is not None:
                pairs += 1
                if f["downtime_ms"] > lv["downtime_ms"]:
                    worse.append(f"{case} round {rnd}: {f['downtime_ms']:.0f} ms against "
                                 f"{lv['downtime_ms']:.0f} ms")
    lines.append(f"downtime no higher than {base}'s in any run: "
                 + ("met" if pairs and not worse else "NOT met" if worse else "not measured")
                 + f" ({pairs} same-round pairs" + ("; higher in " + "; ".join(worse) if worse
                                                    else "") + ")")
    for case in summary:
        rat = summary[case]["ferry_over_" + base]["cpu_s"]["summary"]
        if rat:
            lines.append(f"{case}: host CPU s ferry / {base} median {rat['median']:.2f} "
                         f"({rat['min']:.2f}-{rat['max']:.2f}): "
                         + ("met" if rat["max"] <= 1 else "met by the median" if rat["median"] <= 1
                            else "NOT met"))
    return lines


# --------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="meson build directory (binaries)")
    ap.add_argument("--out", default="bench-results")
    ap.add_argument("--cases", default="dense,prealloc")
    ap.add_argument("--systems", default="ferry,libvirt",
                    help="ferry first, then baselines: libvirt, libvirt-tls (virsh migrate --tls)")
    ap.add_argument("--dense-size", type=scaling.parse_size, default=2 * GIB, help="default 2G")
    ap.add_argument("--prealloc-size", type=scaling.parse_size, default=4 * GIB, help="default 4G")
    ap.add_argument("--prealloc-data", type=scaling.parse_size, default=512 * MIB,
                    help="default 512M")
    ap.add_argument("--runs", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--guest-mem", type=int, default=256, help="MiB (default 256)")
    ap.add_argument("--time-limit", type=int, default=300, help="s per migration (default 300)")
    ap.add_argument("--warm-memory", default="auto",
                    help="GiB touched and freed before each migration (auto: the disk's "
                         "size + 1, what libvirt's destination writes; see scaling.py)")
    ap.add_argument("--no-timeline", action="store_true")
    ap.add_argument("--deadline", default="",
                    help="HH:MM (UTC, today): start no round that the last one's duration "
                         "says would end after it")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 256 MiB disks (prealloc 64 MiB data), one round")
    args = ap.parse_args(argv)
    if args.quick:
        args.dense_size, args.prealloc_size, args.prealloc_data = 256 * MIB, 256 * MIB, 64 * MIB
        args.runs = 1
        args.warm_memory = "0"
    cases = [c for c in args.cases.split(",") if c]
    deadline = None
    if args.deadline:
        hh, mm = (int(x) for x in args.deadline.split(":"))
        now = time.gmtime()
        deadline = calendar.timegm((now.tm_year, now.tm_mon, now.tm_mday, hh, mm, 0))
    systems = [x for x in args.systems.split(",") if x]
    if systems[:1] != ["ferry"] or len(systems) < 2 or any(x not in SYSTEMS for x in systems):
        ap.error(f"--systems: ferry, then one or more of {', '.join(BASELINES)}")
    for c in cases:
        if c not in CASES:
            ap.error(f"unknown case {c}")
    ferryd = os.path.abspath(os.path.join(args.build, "ferryd", "ferryd"))
    ferryctl = os.path.abspath(os.path.join(args.build, "ctl", "ferryctl"))
    kernel = os.path.abspath(os.path.join(args.build, "tests", "guest", "multiboot",
                                          "ferry-guest.elf"))
    for what in (ferryd, ferryctl, kernel):
        if not os.path.exists(what):
            print(f"SKIP: {what} not built")
            return 77
    for tool in ("libvirtd", "virsh", "unshare", QEMU):
        if not shutil.which(tool):
            print(f"SKIP: {tool} not found (apt-get install libvirt-daemon "
                  "libvirt-daemon-driver-qemu libvirt-clients)")
            return 77
    if os.geteuid() != 0:
        print("SKIP: needs root (mount and UTS namespaces, bind mounts)")
        return 77
    sizes = {"dense": args.dense_size, "prealloc": args.prealloc_size}
    labels = {"dense": f"dense {scaling.size_label(args.dense_size)}",
              "prealloc": f"prealloc {scaling.size_label(args.prealloc_size)} / "
                          f"{scaling.size_label(args.prealloc_data)} data"}

    # SIGTERM (and SIGHUP) unwind like Ctrl-C, so every finally runs.
    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    note = ensure_libvirt_qemu_user()
    if note:
        print(f"note: {note}", flush=True)
    os.makedirs(args.out, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    stem = os.path.join(os.path.abspath(args.out), f"libvirt-{stamp}")
    # Peak: the largest template, libvirt's destination (fully written)
    # and the memory warmed before a run.
    need = 2 * max(sizes[c] for c in cases) + 512 * MIB
    root = fb.pick_workdir(need, "ferry-bench-lv-")
    facts = machine_facts(root, QEMU)
    facts["libvirtd"] = tool_version(["libvirtd", "--version"])
    facts["virsh"] = tool_version(["virsh", "--version"])
    facts["commit"] = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)),
                                      "rev-parse", "--short", "HEAD"], capture_output=True,
                                     text=True, timeout=10).stdout.strip()
    doc = {"benchmark": "libvirt", "inputs": vars(args), "machine": facts, "notes": [note] if note
           else [], "runs": []}
    print(f"ferry against libvirt: {systems}, cases {cases}, {args.runs} rounds, guest "
          f"{args.guest_mem} MiB idle; workdir {root} ({facts['workdir_fs']}); "
          f"{facts['libvirtd']}; {facts['qemu']}; commit {facts['commit']}; "
          f"load {facts['loadavg_start']}", flush=True)
    pair = lv = reaper = None
    n = 0
    rc = 0
    try:
        pair = fb.Pair(ferryd, ferryctl, kernel, root)
        reaper = OrphanReaper()
        lv = LibvirtPair(root)
        lv.start()
        tmpls = {}
        for case in cases:
            tmpls[case] = os.path.join(root, f"tmpl-{case}.raw")
            t = time.monotonic()
            if case == "dense":
                mirror.make_dense(tmpls[case], sizes[case], None)
            else:
                mirror.make_prealloc(tmpls[case], sizes[case], random.Random(1),
                                     data=args.prealloc_data)
            print(f"{labels[case]}: image made in {time.monotonic() - t:.1f} s, "
                  f"{mirror.allocated_bytes(tmpls[case]) // MIB} MiB allocated", flush=True)
        # Round by round: every case, every system in turn, so that the
        # machine's drift (and a deadline) hits them alike.
        last_round = None
        for rnd in range(args.runs):
            if deadline and last_round and time.time() + last_round > deadline:
                msg = (f"round {rnd} not started: the last round took {last_round:.0f} s and "
                       f"--deadline is {time.strftime('%H:%M', time.gmtime(deadline))} UTC")
                print(msg, flush=True)
                doc["notes"].append(msg)
                break
            t_round = time.monotonic()
            for case in cases:
                size = sizes[case]
                gib = (-(-size // GIB) + 1) if args.warm_memory == "auto" else int(args.warm_memory)

                def warm():
                    return {"gib": gib,
                            "s_per_gib": scaling.touch_memory(root, gib) if gib else []}
                for system in systems:
                    n += 1
                    name = f"lv{n}"
                    try:
                        if system == "ferry":
                            rec = ferry_migrate_once(pair, name, tmpls[case], args.guest_mem, 128,
                                                     args.time_limit, before_start=warm)
                        else:
                            rec = libvirt_migrate_once(lv, name, tmpls[case], kernel,
                                                       args.guest_mem, 128, args.time_limit,
                                                       before_start=warm,
                                                       tls=system == "libvirt-tls")
                    except BenchError as e:
                        rec = {"system": system, "outcome": "failed", "error": str(e)}
                    rec.update({"case": case, "round": rnd, "disk_bytes": size,
                                "load": list(os.getloadavg())})
                    doc["runs"].append(rec)
                    write_json(stem + ".json", doc)
                    print_run(rec, labels[case], args.no_timeline)
            last_round = time.monotonic() - t_round
    except KeyboardInterrupt as e:
        print(f"interrupted: {e}", file=sys.stderr)
        rc = 130
    finally:
        # A second signal must not cut the cleanup short.
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        if lv:
            lv.close()
        if reaper:
            reaper.stop()
            doc["qemu_orphans_reaped"] = reaper.reaped
        if pair:
            pair.close()
        fb.remove_tree(root)
    done = [c for c in cases if any(r["case"] == c for r in doc["runs"])]
    summary = summarise(doc["runs"], done, systems)
    doc["summary"] = summary
    doc["targets"] = [t for b in systems[1:] for t in targets(summary, doc["runs"], b)]
    doc["machine"]["loadavg_end"] = list(os.getloadavg())
    write_json(stem + ".json", doc)
    print_table(summary, labels, systems)
    print()
    for line in doc["targets"]:
        print("target: " + line)
    print(f"\nload average at the end {doc['machine']['loadavg_end']}; results in {stem}.json")
    failed = [r for r in doc["runs"] if not r.get("verified")]
    if failed:
        print(f"{len(failed)} migration(s) failed or not verified", file=sys.stderr)
        rc = rc or 1
    return rc


def print_run(rec, label, no_timeline):
    head = f"  [{rec['system']:<11}] {label} round {rec['round']}: "
    if rec.get("outcome") not in ("migrated", "converged"):
        print(head + f"{rec.get('outcome')}: {rec.get('error', '')[-400:]}", flush=True)
        return
    cpu = rec.get("cpu_s", {})
    warmed = (rec.get("before_start") or {}).get("s_per_gib") or []
    alloc = rec.get("dst_allocated")
    print(head + f"{rec['wall_s']:.2f} s, downtime {rec.get('downtime_ms')} ms, host CPU "
          f"{sum(cpu.values()):.2f} s (" + ", ".join(f"{k} {v:.2f}" for k, v in cpu.items())
          + f"), dest. allocated {alloc / MIB if alloc is not None else float('nan'):.0f} MiB, "
          f"verified {rec.get('verified')}"
          + (f" (warmed {len(warmed)} GiB, slowest {max(warmed):.1f} s)" if warmed else ""),
          flush=True)
    if rec["system"] == "ferry" and not no_timeline and rec.get("job", {}).get("timeline"):
        print(fb.format_timeline(rec["job"]), flush=True)


if __name__ == "__main__":
    sys.exit(main())
