# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers for ferry's end-to-end tests: real ferryd agents on 127.0.0.1
with their own state dirs, real QEMU guests, ferryctl as a user runs it.

Every process a test starts is stopped by PID; every file lives under one
temporary directory removed at exit; every wait is bounded. Paths to the
binaries come from the environment meson sets (FERRYD, FERRYCTL,
FERRY_GUEST_KERNEL)."""

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

FERRYD = os.environ.get("FERRYD", "ferryd")
FERRYCTL = os.environ.get("FERRYCTL", "ferryctl")
GUEST_KERNEL = os.environ.get("FERRY_GUEST_KERNEL", "")
SKIP = 77
# The multiboot test guest invalidates a page's TLB entry before each
# store, which QEMU 7.2's lost TCG writes in extra RAM rounds cannot
# reach: its agents may shrink downtime-limit under TCG as under KVM
# (qemu/qemu-converge.c). The Linux guest's tests (test_linux_agents.py)
# set it back to 0: a kernel does not do that.
os.environ.setdefault("FERRY_TCG_RAM_ROUNDS", "1")

_procs = []
_tmp = None
_auth_key = None


def tmpdir():
    """The test's private directory (short path: unix sockets need it)."""
    global _tmp
    if _tmp is None:
        _tmp = tempfile.mkdtemp(prefix="ferry-e2e-", dir="/tmp")
        atexit.register(_cleanup)
    return _tmp


def auth_key_path():
    """The test's shared key file (docs/security.md): made once per test
    run, passed to every Agent's ferryd with --auth-key and, through
    FERRY_AUTH_KEY in our environment, to every ferryctl the test runs,
    so agents and clients authenticate on ferry+tcp:// without any test
    having to ask for it."""
    global _auth_key
    if _auth_key is None:
        path = os.path.join(tmpdir(), "auth.key")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        os.environ["FERRY_AUTH_KEY"] = path
        _auth_key = path
    return _auth_key


# Where tests keep the files their guests use (docs/security.md, "Storage
# roots"): the test's temporary directory, the build tree (test guests),
# /usr/share (OVMF, QEMU's firmware) and /boot (Linux and Xen PV kernels).
# A test that needs another place appends to this list before starting
# agents, or passes storage_roots.
STORAGE_ROOTS = ["/usr/share", "/boot"]


def storage_roots_default():
    build = os.path.dirname(os.path.dirname(os.path.abspath(FERRYD)))
    roots = [tmpdir(), build] + STORAGE_ROOTS
    if GUEST_KERNEL:
        roots.append(os.path.dirname(os.path.abspath(GUEST_KERNEL)))
    return [r for r in roots if os.path.isdir(r)]


def _cleanup():
    for p in reversed(_procs):
        stop_pid(p)
    if _tmp and not os.environ.get("FERRY_KEEP_TMP"):
        # Guests started by agents are stopped by their pid files.
        for root, _dirs, files in os.walk(_tmp):
            for f in files:
                if f.endswith(".pid"):
                    try:
                        pid = int(open(os.path.join(root, f)).read().strip())
                        if _is_our_qemu(pid):
                            os.kill(pid, signal.SIGKILL)
                    except (ValueError, OSError):
                        pass
        shutil.rmtree(_tmp, ignore_errors=True)


def _is_our_qemu(pid):
    try:
        cmd = open("/proc/%d/cmdline" % pid, "rb").read()
    except OSError:
        return False
    return b"qemu" in cmd and _tmp.encode() in cmd


def stop_pid(p, sig=signal.SIGTERM, timeout=10):
    """Stops a Popen (or pid) we started; escalates to SIGKILL."""
    pid = p.pid if hasattr(p, "pid") else p
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    end = time.time() + timeout
    while time.time() < end:
        if hasattr(p, "poll"):
            if p.poll() is not None:
                return
        elif not pid_alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if hasattr(p, "wait"):
        p.wait(timeout=10)


def pid_alive(pid):
    try:
        st = open("/proc/%d/stat" % pid).read()
    except OSError:
        return False
    state = st[st.rindex(")") + 2]
    return state not in ("Z", "X")


def wait_for(cond, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


class Agent:
    """One ferryd with its own state dir, control socket and TCP port."""

    def __init__(self, name, *extra, listen=True, env=None, auth=True, insecure=False,
                 storage_roots=None):
        """AUTH: start ferryd with the test's --auth-key (the default; a
        path string names another key file, False none). INSECURE: add
        --insecure (clients without a key get in). STORAGE_ROOTS: the
        --storage-root directories (default: storage_roots())."""
        self.name = name
        self.storage_roots = storage_roots_default() if storage_roots is None else storage_roots
        self.key = auth_key_path() if auth is True else (auth or None)
        self.insecure = insecure
        self.env = env  # extra environment variables for ferryd
        self.dir = os.path.join(tmpdir(), name)
        self.state = os.path.join(self.dir, "state")
        self.images = os.path.join(self.dir, "images")
        self.control = os.path.join(self.dir, "ctl.sock")
        self.port_file = os.path.join(self.dir, "port")
        self.log = os.path.join(self.dir, "ferryd.log")
        self.extra = list(extra)
        self.wrap = []  # a command ferryd runs under (it execs ferryd: same pid)
        self.listen = listen
        self.proc = None
        self.port = None
        os.makedirs(self.dir, exist_ok=True)

    def start(self):
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        args = self.wrap + [FERRYD, "--state-dir", self.state, "--image-dir", self.images,
                "--control", self.control, "--port-file", self.port_file] + self.extra
        if self.key:
            args += ["--auth-key", self.key]
        for root in self.storage_roots:
            args += ["--storage-root", root]
        if self.insecure:
            args += ["--insecure"]
        if self.listen:
            args += ["--listen", "127.0.0.1:0"]
        logf = open(self.log, "ab")
        env = dict(os.environ, **self.env) if self.env else None
        self.proc = subprocess.Popen(args, stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                                     env=env)
        _procs.append(self.proc)
        wait_for(lambda: os.path.exists(self.port_file) or self.proc.poll() is not None,
                 20, "ferryd %s to listen" % self.name)
        if self.proc.poll() is not None:
            raise AssertionError("ferryd %s exited: %s" % (self.name, open(self.log).read()))
        self.port = int(open(self.port_file).read().strip())
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc:
            proc = self.proc
            stop_pid(proc, sig)
            if proc in _procs:
                _procs.remove(proc)
            self.proc = None
            # A clean SIGTERM must end ferryd with status 0: a sanitizer
            # report (ASan/UBSan/LSan builds) or a crash shows up here.
            if sig == signal.SIGTERM and proc.returncode != 0:
                raise AssertionError("ferryd %s exited with %s on SIGTERM:\n%s" % (
                    self.name, proc.returncode, self.log_tail(60)))

    def kill(self):
        self.stop(signal.SIGKILL)

    @property
    def uri(self):
        return "ferry+tcp://127.0.0.1:%d" % self.port

    def ctl(self, *args, check=True, timeout=120, uri=None):
        """Runs ferryctl against this agent; returns CompletedProcess."""
        cmd = [FERRYCTL, "-c", uri or self.control] + [str(a) for a in args]
        # ferryctl proves this agent's key (FERRY_AUTH_KEY); an agent
        # started without one cannot prove it back, so ferryctl goes keyless.
        env = dict(os.environ, FERRY_AUTH_KEY=self.key or "")
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if check and r.returncode != 0:
            raise AssertionError("%s failed (%d):\nstdout: %s\nstderr: %s\nagent log tail: %s" % (
                " ".join(cmd), r.returncode, r.stdout, r.stderr, self.log_tail()))
        return r

    def ctl_json(self, *args, **kw):
        r = self.ctl(*(list(args) + ["--json"]), **kw)
        return json.loads(r.stdout)

    def state_of(self, dom):
        """The control API's state name ("shutoff"; ferryctl shows virsh's "shut off")."""
        return self.ctl_json("domstate", dom)["state"]

    def domains(self, all_=True):
        args = ["list", "--all"] if all_ else ["list"]
        return {d["name"]: d for d in self.ctl_json(*args)}

    def qemu_pid(self, dom):
        path = os.path.join(self.state, "run", dom + ".pid")
        try:
            return int(open(path).read().strip())
        except (OSError, ValueError):
            return None

    def hmp(self, dom, cmd):
        return self.ctl("qemu-monitor-command", dom, "--hmp", cmd).stdout

    def qmp(self, dom, execute, **arguments):
        """One QMP command through ferryctl qemu-monitor-command; its
        "return" member."""
        cmd = {"execute": execute}
        if arguments:
            cmd["arguments"] = arguments
        out = self.ctl("qemu-monitor-command", dom, json.dumps(cmd)).stdout
        return json.loads(out)["return"]

    def log_tail(self, n=30):
        try:
            return "".join(open(self.log, errors="replace").readlines()[-n:])
        except OSError:
            return ""


def make_disk(path, size, chunks=()):
    """A sparse raw image of SIZE bytes; CHUNKS: (offset, bytes) written."""
    with open(path, "wb") as f:
        f.truncate(size)
        for off, data in chunks:
            f.seek(off)
            f.write(data)
    return path


def domain_xml(name, disks=(), memory_mib=64, vcpus=1, kernel=None, cmdline=None, uuid=None):
    """DISKS: list of (target, path, fmt) or dicts with extra keys."""
    out = ["<domain type='kvm'>", "  <name>%s</name>" % name]
    if uuid:
        out.append("  <uuid>%s</uuid>" % uuid)
    out.append("  <memory unit='MiB'>%d</memory>" % memory_mib)
    out.append("  <vcpu>%d</vcpu>" % vcpus)
    out.append("  <os>")
    out.append("    <type arch='x86_64' machine='pc'>hvm</type>")
    if kernel:
        out.append("    <kernel>%s</kernel>" % kernel)
    if cmdline:
        out.append("    <cmdline>%s</cmdline>" % cmdline)
    out.append("  </os>")
    out.append("  <devices>")
    for d in disks:
        if isinstance(d, dict):
            tgt, path, fmt = d["target"], d["path"], d.get("format", "raw")
            extra = d.get("extra", "")
        else:
            tgt, path, fmt = d
            extra = ""
        out.append("    <disk type='file' device='disk'>")
        out.append("      <driver name='qemu' type='%s'/>" % fmt)
        out.append("      <source file='%s'/>" % path)
        out.append("      <target dev='%s' bus='virtio'/>" % tgt)
        if extra:
            out.append("      " + extra)
        out.append("    </disk>")
    out.append("  </devices>")
    out.append("</domain>")
    return "\n".join(out) + "\n"


def define(agent, name, **kw):
    path = os.path.join(agent.dir, name + ".xml")
    with open(path, "w") as f:
        f.write(domain_xml(name, **kw))
    agent.ctl("define", path)
    return path


class Runner:
    """Runs test functions, prints a summary line, exits 0/1/77."""

    def __init__(self, deadline_s):
        self.results = []
        self.deadline = time.time() + deadline_s
        signal.signal(signal.SIGALRM, self._timeout)
        signal.alarm(int(deadline_s))

    def _timeout(self, *_):
        print("FAIL: test run exceeded its time bound", flush=True)
        _cleanup()
        os._exit(1)

    def run(self, fn, *args):
        name = fn.__name__
        t0 = time.time()
        try:
            fn(*args)
        except Skip as e:
            self.results.append((name, "skip"))
            print("SKIP %s: %s" % (name, e), flush=True)
            return
        except Exception:
            self.results.append((name, "fail"))
            print("FAIL %s (%.1fs)" % (name, time.time() - t0), flush=True)
            traceback.print_exc()
            sys.stdout.flush()
            return
        self.results.append((name, "pass"))
        print("PASS %s (%.1fs)" % (name, time.time() - t0), flush=True)

    def finish(self):
        p = sum(1 for _, r in self.results if r == "pass")
        f = sum(1 for _, r in self.results if r == "fail")
        s = sum(1 for _, r in self.results if r == "skip")
        print("%d passed, %d failed, %d skipped" % (p, f, s), flush=True)
        _cleanup()
        if f:
            sys.exit(1)
        if p == 0 and s:
            sys.exit(SKIP)
        sys.exit(0)


class Skip(Exception):
    pass


def need_qemu():
    if not shutil.which(os.environ.get("FERRY_QEMU", "qemu-system-x86_64")):
        raise Skip("qemu-system-x86_64 not installed")


def frame(type_, payload=b"", id_=1, flags=0, magic=0x46525259, version=1, length=None,
          reserved=0):
    import struct
    if length is None:
        length = len(payload)
    return struct.pack(">IHHIIII", magic, version, type_, flags, id_, length, reserved) + payload


def recv_frame(sock, timeout=10):
    """One frame (type, id, json-or-bytes) or None on close."""
    import struct
    sock.settimeout(timeout)
    hdr = b""
    while len(hdr) < 24:
        chunk = sock.recv(24 - len(hdr))
        if not chunk:
            return None
        hdr += chunk
    magic, ver, typ, flags, id_, length, _ = struct.unpack(">IHHIIII", hdr)
    body = b""
    while len(body) < length:
        chunk = sock.recv(length - len(body))
        if not chunk:
            return None
        body += chunk
    try:
        return typ, id_, json.loads(body)
    except ValueError:
        return typ, id_, body


def hello_payload():
    return {"agent": "ferry-test", "agent_version": "0", "role": "client", "host": "test",
            "host_uuid": "", "versions": [1, 2, 3], "features": []}


def hello_frame():
    return frame(1, json.dumps(hello_payload()).encode())


def auth_proof(key_path, side, client_nonce, server_nonce, host_uuid=""):
    """HMAC-SHA256 proof of docs/protocol.md, "Authentication"."""
    import hashlib
    import hmac
    secret = open(key_path, "rb").read().rstrip(b" \t\r\n")
    msg = (b"ferry-auth-v1\0" + side.encode() + b"\0" + client_nonce + server_nonce +
           host_uuid.encode() + b"\0")
    return hmac.new(secret, msg, hashlib.sha256).digest()


def hello(sock, key=True, timeout=10):
    """HELLO on a raw socket to an agent, with the shared-key exchange when
    KEY (a key file; True: the test's key) is given: returns the agent's
    HELLO frame (type, id, payload), after checking its proof, or whatever
    else it answered (an ERROR frame, None on close)."""
    if key is True:
        key = auth_key_path()
    if not key:
        sock.sendall(hello_frame())
        return recv_frame(sock, timeout)
    nc = os.urandom(32)
    body = hello_payload()
    body["auth"] = {"scheme": "hmac-sha256", "nonce": nc.hex()}
    sock.sendall(frame(1, json.dumps(body).encode()))
    f = recv_frame(sock, timeout)
    if not f or f[0] != 1:
        return f
    ns = bytes.fromhex(f[2]["auth"]["nonce"])
    proof = auth_proof(key, "client", nc, ns)
    sock.sendall(frame(1, json.dumps({"auth": {"scheme": "hmac-sha256",
                                               "proof": proof.hex()}}).encode()))
    f = recv_frame(sock, timeout)
    if f and f[0] == 1:
        want = auth_proof(key, "server", nc, ns, f[2].get("host_uuid", ""))
        assert f[2]["auth"]["proof"] == want.hex(), "the agent's proof of the key is wrong"
    return f


# ---- disk images (appended for the storage tests) ----

def sha256_file(path, chunk=4 << 20):
    """Hex SHA-256 of a file's bytes."""
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                return h.hexdigest()
            h.update(b)


def allocated_bytes(path):
    """Bytes the file system allocated for PATH (st_blocks is in 512-byte units)."""
    return os.stat(path).st_blocks * 512


def data_extents(path):
    """The file's data extents as [(offset, length)], from SEEK_DATA/SEEK_HOLE."""
    out = []
    fd = os.open(path, os.O_RDONLY)
    try:
        end = os.fstat(fd).st_size
        off = 0
        while off < end:
            try:
                data = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            out.append((data, hole - data))
            off = hole
    finally:
        os.close(fd)
    return out


def first_difference(a, b, ranges=None, chunk=1 << 20):
    """The first offset at which files A and B differ (within RANGES, a list
    of (offset, length), when given; else anywhere, sizes included), or None."""
    with open(a, "rb") as fa, open(b, "rb") as fb:
        if ranges is None:
            sa, sb = os.fstat(fa.fileno()).st_size, os.fstat(fb.fileno()).st_size
            if sa != sb:
                return min(sa, sb)
            ranges = [(0, sa)]
        for off, length in ranges:
            pos, end = off, off + length
            while pos < end:
                n = min(chunk, end - pos)
                fa.seek(pos)
                fb.seek(pos)
                x, y = fa.read(n), fb.read(n)
                if x != y:
                    for i in range(min(len(x), len(y))):
                        if x[i] != y[i]:
                            return pos + i
                    return pos + min(len(x), len(y))
                pos += n
    return None
