#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Host side of ferry's Linux test guest (README.md here), standard library
only: the build's manifest, QEMU options that boot the guest, a heartbeat
receiver (largest gap, lost sequence numbers), a serial-console driver (the
guest's console is a unix socket chardev: send "selfcheck", read the verdict
line), a minimal QMP client, and readers of the records on a disk image.

Also a command line for people:
  linuxguest.py heartbeat --port P [--seconds S]   receive, then print the report
  linuxguest.py selfcheck --console SOCKET          trigger it, print the verdict
  linuxguest.py records IMAGE                       list the records on an image
  linuxguest.py compare SRC DST                     DST against SRC as the switchover left it
  linuxguest.py boot-time [--runs N]                measure the boot time
  linuxguest.py migrate [--runs N] [--rate MIB]     plain QEMU migrations: downtime, gap"""

import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

REC_SIZE = 4096
REC_HEADER = struct.Struct("<8sQQQII")  # magic, seq, gen, slot, crc, reserved
REC_MAGIC = b"FERRYREC"
VERDICT_PREFIX = "FERRY-SELFCHECK "
# What the slirp network of "-netdev user" looks like from the guest: the
# host's 127.0.0.1 is 10.0.2.2.
HOST_FROM_GUEST = "10.0.2.2"


class GuestError(Exception):
    pass


# ---- the build's manifest ----

def load_manifest(path=None):
    """The KEY=VALUE manifest written by mkinitramfs.py (path from
    $FERRY_LINUX_GUEST_MANIFEST by default) as a dict; {"SKIP": reason} when
    the build could not make a guest or there is no manifest."""
    path = path or os.environ.get("FERRY_LINUX_GUEST_MANIFEST", "")
    if not path:
        return {"SKIP": "the build did not make the Linux guest (no static libc or python3?)"}
    try:
        with open(path) as f:
            info = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    except FileNotFoundError:
        return {"SKIP": "%s is missing: build first" % path}
    if "SKIP" not in info:
        for k in ("KERNEL", "INITRD"):
            if not os.path.exists(info.get(k, "")):
                info = {"SKIP": "%s %s is gone: rebuild" % (k, info.get(k))}
                break
    return info


def accel():
    """$FERRY_TEST_ACCEL, else TCG on hosts whose /dev/kvm is PVM (Debian's
    kernel cannot run there) or absent, else kvm:tcg (tests/guest/multibootvm.py's rule)."""
    env = os.environ.get("FERRY_TEST_ACCEL")
    if env:
        return env
    if os.path.exists("/sys/module/kvm_pvm") or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    return "kvm:tcg"


def kernel_cmdline(rate_mib=16, hb_port=None, bs_kib=64, span_mib=0, extra=""):
    """The guest's kernel command line: the serial console, quiet (every
    console byte is slow under TCG), and the workload's ferry.* settings."""
    args = ["console=ttyS0", "quiet", "panic=-1", "ferry.rate=%g" % rate_mib,
            "ferry.bs=%d" % bs_kib]
    if span_mib:
        args.append("ferry.span=%d" % span_mib)
    if hb_port:
        args.append("ferry.hb=%s:%d" % (HOST_FROM_GUEST, hb_port))
    if extra:
        args.append(extra)
    return " ".join(args)


def qemu_args(manifest, image, console_sock, qmp_sock, cmdline, mem_mib=128, console_log=None,
              incoming=None):
    """QEMU options (after the binary) for the guest: q35, direct kernel
    boot, IMAGE (raw) as a virtio-blk disk, a user-network virtio NIC, COM1
    on a unix socket server CONSOLE_SOCK (its output also in CONSOLE_LOG), QMP
    on QMP_SOCK; INCOMING ("defer", a URI) for a migration destination."""
    log = ",logfile=%s" % console_log if console_log else ""
    argv = ["-nodefaults", "-display", "none", "-machine", "q35,accel=%s" % accel(),
            "-m", str(mem_mib), "-smp", "1", "-no-reboot",
            "-kernel", manifest["KERNEL"], "-initrd", manifest["INITRD"], "-append", cmdline,
            "-drive", "file=%s,if=none,id=d0,format=raw" % image,
            "-device", "virtio-blk-pci,drive=d0,id=vda",
            "-netdev", "user,id=n0",
            # No iPXE option ROM: the guest boots its kernel directly.
            "-device", "virtio-net-pci,netdev=n0,id=net0,romfile=",
            "-chardev", "socket,id=con0,path=%s,server=on,wait=off%s" % (console_sock, log),
            "-serial", "chardev:con0",
            "-qmp", "unix:%s,server=on,wait=off" % qmp_sock]
    if incoming:
        argv += ["-incoming", incoming]
    return argv


def domain_xml(name, manifest, image, cmdline, mem_mib=128, fmt="raw", console=False):
    """A libvirt-style domain XML for ferryd (docs/control-api.md, "Domain
    XML") that boots the guest as qemu_args() does: q35, direct kernel boot
    with the initramfs, IMAGE as virtio disk vda, a user-network virtio NIC
    (the heartbeat goes to 10.0.2.2, the host's 127.0.0.1). The serial port
    is ferryd's default: its output is logged to STATE/run/NAME.serial, and
    commands reach the workload over the heartbeat's flow. CONSOLE: the
    serial port is also a unix socket, STATE/run/NAME.console, for Console."""
    from xml.sax.saxutils import escape
    return """<domain type='kvm'>
  <name>%s</name>
  <memory unit='MiB'>%d</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>%s</kernel>
    <initrd>%s</initrd>
    <cmdline>%s</cmdline>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='%s'/>
      <source file='%s'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='user'>
      <model type='virtio'/>
    </interface>%s
  </devices>
</domain>
""" % (escape(name), mem_mib, escape(manifest["KERNEL"]), escape(manifest["INITRD"]),
       escape(cmdline), fmt, escape(image), "\n    <serial type='unix'/>" if console else "")


def compare_switchover(src_image, dst_image, gen=None, later_gens=()):
    """Compares the source's image as the switchover left it (the source QEMU
    stopped: nothing wrote to it since) with the destination's image after
    the guest ran there a while and was stopped again. Every 4 KiB block must
    be byte-identical, except blocks the guest rewrote on the destination
    after the switchover: those must hold an intact record of generation GEN
    (the source's newest when None) for that slot, numbered above the newest
    record on the source. Returns a dict: blocks, identical, rewritten,
    src_last (the newest record on the source), bad (the first mismatches as
    (block, why)), stale_count (how many of them the guest wrote after the
    switchover with a counter gone back: _stale_counter); the images match
    when bad is empty. LATER_GENS: the
    generations of a guest that rebooted on the destination after the
    switchover (a kernel panic with panic=-1): their intact records, in
    their own slots, were written there too."""
    recs = read_records(src_image, gen)
    if gen is None and recs:
        newest = max(recs.values())
        gen = newest[1]
        recs = {s: r for s, r in recs.items() if r[1] == gen}
    src_last = max((r[0] for r in recs.values()), default=0)
    out = {"blocks": 0, "identical": 0, "rewritten": 0, "src_last": src_last, "bad": [],
           "bad_count": 0, "stale_count": 0, "gen": gen}
    if os.path.getsize(src_image) != os.path.getsize(dst_image):
        out["bad"].append((0, "sizes differ: %d vs %d" % (os.path.getsize(src_image),
                                                         os.path.getsize(dst_image))))
        out["bad_count"] = 1
        return out
    with open(src_image, "rb") as fs, open(dst_image, "rb") as fd:
        block = 0
        while True:
            a, b = fs.read(1 << 20), fd.read(1 << 20)
            if not a:
                break
            if a == b:
                n = len(a) // REC_SIZE
                out["blocks"] += n
                out["identical"] += n
                block += n
                continue
            for off in range(0, len(a), REC_SIZE):
                x, y = a[off:off + REC_SIZE], b[off:off + REC_SIZE]
                out["blocks"] += 1
                if x == y:
                    out["identical"] += 1
                else:
                    why = _post_switchover(y, block, gen, src_last, later_gens)
                    if why is not None:
                        why += " (the source holds %s)" % _describe(x)
                    if why is None:
                        out["rewritten"] += 1
                    else:
                        out["bad_count"] += 1
                        if _stale_counter(x, y, gen):
                            out["stale_count"] += 1
                        if len(out["bad"]) < 10:
                            out["bad"].append((block, why))
                block += 1
    return out


def _stale_counter(src_block, dst_block, gen):
    """Whether a bad DST_BLOCK (an intact record of GEN, numbered no
    higher than the source's newest) is one the guest wrote after the
    switchover with a sequence counter that went back: the source's block
    is older (zeros, or a lower number), so no write before the switchover
    can be missing there. That is the guest's memory going stale on the
    destination (QEMU's lost TCG writes), not the disk copy: a lost write
    leaves the source's block the newer one."""
    if dst_block[:8] != REC_MAGIC:
        return False
    _, dseq, dgen, _, _, _ = REC_HEADER.unpack_from(dst_block)
    if dgen != gen:
        return False
    if src_block[:8] != REC_MAGIC:
        return not any(src_block)
    _, sseq, sgen, _, _, _ = REC_HEADER.unpack_from(src_block)
    return sgen == gen and sseq < dseq


def _describe(block):
    if block[:8] != REC_MAGIC:
        return "no record" if any(block) else "zeros"
    _, seq, g, s, _, _ = REC_HEADER.unpack_from(block)
    return "record %d gen %d slot %d" % (seq, g, s)


def _post_switchover(block, slot, gen, src_last, later_gens=()):
    """None when BLOCK is a record the guest wrote in SLOT after the
    switchover (intact, generation GEN and numbered above SRC_LAST, or of
    one of LATER_GENS); else why not."""
    if block[:8] != REC_MAGIC:
        return "differs, and the destination holds no record"
    _, seq, g, s, crc, _ = REC_HEADER.unpack_from(block)
    if zlib.crc32(block[:32] + b"\0\0\0\0" + block[36:]) != crc:
        return "differs, and the destination's record %d is damaged (crc)" % seq
    if g in later_gens and g != gen and s == slot:
        return None
    if g != gen or s != slot:
        return "differs: the destination's record is of gen %d slot %d" % (g, s)
    if seq <= src_last:
        return ("differs: the destination holds record %d, not newer than the source's "
                "newest (%d): a write before the switchover did not arrive" % (seq, src_last))
    return None


def _connect_unix(path, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError as e:
            s.close()
            if proc is not None and proc.poll() is not None:
                raise GuestError("QEMU exited (%s) before %s appeared" % (proc.returncode, path))
            if time.monotonic() > deadline:
                raise GuestError("cannot connect to %s: %s" % (path, e))
            time.sleep(0.02)


# ---- QMP ----

class QMP:
    """A synchronous QMP client: one command at a time; events are kept."""

    def __init__(self, path, timeout=20, proc=None):
        self.sock = _connect_unix(path, timeout, proc)
        self.sock.settimeout(60)
        self.file = self.sock.makefile("rb")
        self.events = []
        self._recv()  # greeting
        self.execute("qmp_capabilities")

    def _recv(self):
        line = self.file.readline()
        if not line:
            raise GuestError("QMP connection closed")
        return json.loads(line)

    def execute(self, cmd, args=None):
        msg = {"execute": cmd}
        if args is not None:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self._recv()
            if "event" in r:
                self.events.append(r)
            elif "error" in r:
                raise GuestError("QMP %s: %s" % (cmd, r["error"].get("desc", r["error"])))
            elif "return" in r:
                return r["return"]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---- the serial console ----

class Console:
    """The guest's serial console through QEMU's unix socket chardev. A
    reader thread keeps every line with its arrival time (time.monotonic()),
    so nothing is missed between commands."""

    def __init__(self, path, timeout=20, proc=None):
        self.sock = _connect_unix(path, timeout, proc)
        self.t_connected = time.monotonic()
        self.lines = []  # (monotonic time, text)
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        buf = b""
        while True:
            try:
                data = self.sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                with self.cond:
                    self.closed = True
                    self.cond.notify_all()
                return
            buf += data
            *complete, buf = buf.split(b"\n")
            if complete:
                now = time.monotonic()
                with self.cond:
                    for raw in complete:
                        self.lines.append((now, raw.rstrip(b"\r").decode("utf-8", "replace")))
                    self.cond.notify_all()

    def mark(self):
        """An index for wait_line(since=...): lines after this point."""
        with self.cond:
            return len(self.lines)

    def wait_line(self, prefix, timeout, since=0):
        """The first line at index >= SINCE that contains PREFIX (at its start,
        or after console noise such as terminal escapes) as (time, text);
        raises GuestError on timeout or when the console closes."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = since
            while True:
                while i < len(self.lines):
                    t, text = self.lines[i]
                    k = text.find(prefix)
                    if k >= 0:
                        return t, text[k:]
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise GuestError("%s waiting for '%s' on the console; last lines:\n%s" % (
                        "console closed" if self.closed else "timed out after %ss" % timeout,
                        prefix, self.tail()))
                self.cond.wait(min(left, 0.5))

    def command(self, cmd, reply_prefix, timeout=60):
        """Sends CMD as one line; returns the text of the first reply line."""
        since = self.mark()
        self.sock.sendall(cmd.encode() + b"\n")
        return self.wait_line(reply_prefix, timeout, since)[1]

    def selfcheck(self, timeout=120):
        """Runs the guest's self-check; returns the parsed verdict (dict)."""
        return parse_verdict(self.command("selfcheck", VERDICT_PREFIX, timeout))

    def status(self, timeout=30):
        return parse_fields(self.command("status", "FERRY-STATUS ", timeout))

    def tail(self, n=20):
        return "\n".join(text for _, text in self.lines[-n:])

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


def parse_fields(line):
    """KEY=VALUE words of a FERRY-* line as a dict (numbers as int)."""
    out = {}
    for word in line.split()[1:]:
        if "=" in word:
            k, v = word.split("=", 1)
            out[k] = int(v) if re.fullmatch(r"-?\d+", v) else v
    return out


def parse_verdict(line):
    """'FERRY-SELFCHECK ok records=N ...' or 'FERRY-SELFCHECK fail record=K
    ...' as a dict with "verdict" ("ok"/"fail") and the fields."""
    words = line[line.index(VERDICT_PREFIX):].split()
    if len(words) < 2 or words[1] not in ("ok", "fail"):
        raise GuestError("not a verdict line: %r" % line)
    out = parse_fields(" ".join(words[1:]))
    out["verdict"] = words[1]
    out["line"] = line
    return out


# ---- heartbeats ----

class HeartbeatReceiver:
    """Receives the guest's UDP heartbeats ("FERRY-HB SEQ GEN GUEST_US") on
    127.0.0.1:port (0 = any free port) in a thread, keeping each datagram's
    sequence number and arrival time. command() sends the workload a command
    back along the same flow (for guests whose serial port is an output file,
    as under ferryd) and returns its reply line."""

    PEER_FRESH_S = 0.25  # 25 heartbeat intervals

    def __init__(self, port=0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.arrivals = []  # (monotonic time, seq, gen)
        self.garbage = 0
        self.peer = None  # where the latest heartbeat came from (QEMU's slirp socket)
        self.peer_time = 0.0  # and when
        self.replies = {}  # nonce -> reply line
        self.nonce = int(time.time() * 1000) % 1000000 * 1000
        self.cond = threading.Condition(self.lock)
        self._stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self._stop:
            try:
                data, addr = self.sock.recvfrom(1024)
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            w = data.split()
            with self.lock:
                if len(w) >= 3 and w[0] == b"FERRY-HB" and w[1].isdigit() and w[2].isdigit():
                    self.arrivals.append((now, int(w[1]), int(w[2])))
                    self.peer, self.peer_time = addr, now
                    self.cond.notify_all()
                elif len(w) >= 3 and w[0] == b"FERRY-REPLY" and w[1].isdigit():
                    line = data.decode("utf-8", "replace").strip()
                    self.replies[int(w[1])] = line.split(" ", 2)[2]
                    self.cond.notify_all()
                else:
                    self.garbage += 1

    def command(self, cmd, timeout=60, resend_s=2.0):
        """Sends CMD ("selfcheck", "status", ...) to the workload through the
        address its latest heartbeat came from, resending every RESEND_S
        seconds (UDP may drop; after a migration the flow comes from another
        host port), and returns the reply line. It sends only to an address a
        heartbeat came from in the last PEER_FRESH_S: once a migration's
        source QEMU has gone, its slirp port may belong to another QEMU on
        this host, whose guest would answer."""
        deadline = time.monotonic() + timeout
        with self.lock:
            self.nonce += 1
            nonce = self.nonce
            while True:
                if self.peer is None or time.monotonic() - self.peer_time > self.PEER_FRESH_S:
                    if time.monotonic() > deadline:
                        raise GuestError("no recent heartbeat: nowhere to send '%s'" % cmd)
                    self.cond.wait(0.1)
                    continue
                self.sock.sendto(("FERRY-CMD %d %s\n" % (nonce, cmd)).encode(), self.peer)
                resend = time.monotonic() + resend_s
                while nonce not in self.replies and time.monotonic() < min(resend, deadline):
                    self.cond.wait(0.1)
                if nonce in self.replies:
                    return self.replies.pop(nonce)
                if time.monotonic() >= deadline:
                    raise GuestError("no reply to '%s' over the network in %ss" % (cmd, timeout))

    def selfcheck(self, timeout=120):
        """The workload's self-check, triggered over the network."""
        return parse_verdict(self.command("selfcheck", timeout))

    def status(self, timeout=30):
        return parse_fields(self.command("status", timeout))

    def count(self):
        with self.lock:
            return len(self.arrivals)

    def report(self, since=None, until=None):
        """What arrived (between monotonic times SINCE and UNTIL when given):
        count, first/last seq, max_gap_ms (the largest interval between two
        consecutive arrivals) with the seq numbers around it, lost (seq
        numbers missing between the first and last, per generation),
        duplicates, out_of_order, gens."""
        with self.lock:
            arr = [a for a in self.arrivals
                   if (since is None or a[0] >= since) and (until is None or a[0] <= until)]
            garbage = self.garbage
        rep = {"count": len(arr), "max_gap_ms": None, "gap_after_seq": None,
               "gap_before_seq": None, "lost": [], "lost_count": 0, "duplicates": 0,
               "out_of_order": 0, "gens": sorted({a[2] for a in arr}), "garbage": garbage}
        if not arr:
            return rep
        rep["first_seq"], rep["last_seq"] = arr[0][1], arr[-1][1]
        for prev, cur in zip(arr, arr[1:]):
            gap = (cur[0] - prev[0]) * 1000
            if rep["max_gap_ms"] is None or gap > rep["max_gap_ms"]:
                rep["max_gap_ms"], rep["gap_after_seq"], rep["gap_before_seq"] = (
                    round(gap, 1), prev[1], cur[1])
            if cur[2] == prev[2] and cur[1] < prev[1]:
                rep["out_of_order"] += 1
        for gen in rep["gens"]:
            seqs = [a[1] for a in arr if a[2] == gen]
            seen = set(seqs)
            rep["duplicates"] += len(seqs) - len(seen)
            lost = [s for s in range(min(seen), max(seen) + 1) if s not in seen]
            rep["lost_count"] += len(lost)
            rep["lost"] += lost[:50]  # the first ones say enough
        return rep

    def wait_arrival_after(self, t, timeout=10):
        """The arrival time of the first heartbeat after monotonic time T
        (waiting for it up to TIMEOUT seconds); None if none came."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                if self.arrivals and self.arrivals[-1][0] > t:
                    return next(a[0] for a in self.arrivals if a[0] > t)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 0.1))

    def gaps(self, since, until, n=3):
        """The N largest intervals between consecutive arrivals from SINCE to
        UNTIL (monotonic times): [(gap_ms, start_ms after SINCE, seq before,
        seq after)], largest first."""
        with self.lock:
            arr = [a for a in self.arrivals if since <= a[0] <= until]
        out = [(round((c[0] - p[0]) * 1000, 1), round((p[0] - since) * 1000), p[1], c[1])
               for p, c in zip(arr, arr[1:])]
        return sorted(out, reverse=True)[:n]

    def close(self):
        self._stop = True
        self.thread.join(5)
        self.sock.close()


# ---- the records on a disk image ----

def read_records(image, gen=None):
    """{slot: (seq, gen, crc_ok)} for every 4 KiB block of IMAGE holding a
    record (of generation GEN when given). Reads the file directly: stop the
    guest first if its writes must all be there."""
    out = {}
    with open(image, "rb") as f:
        slot = 0
        while True:
            block = f.read(REC_SIZE)
            if len(block) < REC_SIZE:
                return out
            if block[:8] == REC_MAGIC:
                magic, seq, g, s, crc, _ = REC_HEADER.unpack_from(block)
                if (gen is None or g == gen) and s == slot:
                    zeroed = block[:32] + b"\0\0\0\0" + block[36:]
                    out[slot] = (seq, g, zlib.crc32(zeroed) == crc)
            slot += 1


def corrupt_record(image, slot, offset=REC_HEADER.size + 100):
    """Flips one payload byte of the record in SLOT of IMAGE (written through
    the host page cache, which QEMU's raw driver shares)."""
    with open(image, "r+b") as f:
        f.seek(slot * REC_SIZE + offset)
        b = f.read(1)
        f.seek(slot * REC_SIZE + offset)
        f.write(bytes([b[0] ^ 0xff]))
        f.flush()
        os.fsync(f.fileno())


# ---- a QEMU process running the guest ----

class Guest:
    """One QEMU process running the Linux guest. Files live in WORKDIR under
    NAME; stop() (or kill()) ends the process by its PID. PROCS: a list the
    caller's cleanup stops (ferrytest's); the process is in it while it runs."""

    def __init__(self, qemu, manifest, workdir, name, image, cmdline, mem_mib=128,
                 incoming=None, procs=None):
        self.name = name
        self.console_sock = os.path.join(workdir, name + ".con")
        self.console_log = os.path.join(workdir, name + ".console.log")
        self.qmp_sock = os.path.join(workdir, name + ".qmp")
        self.log = os.path.join(workdir, name + ".qemu.log")
        argv = [qemu] + qemu_args(manifest, image, self.console_sock, self.qmp_sock, cmdline,
                                  mem_mib, self.console_log, incoming)
        with open(self.log, "wb") as log:
            self.t_start = time.monotonic()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        self.procs = procs
        if procs is not None:
            procs.append(self.proc)
        try:
            self.console = Console(self.console_sock, proc=self.proc)
            self.qmp = QMP(self.qmp_sock, proc=self.proc)
        except Exception:
            self.kill()
            raise
        self.ready = None

    def wait_ready(self, timeout=60):
        """Waits for the workload's FERRY-READY line; returns its fields plus
        boot_s (host seconds from QEMU's start to the line)."""
        t, line = self.console.wait_line("FERRY-READY ", timeout)
        self.ready = parse_fields(line)
        self.ready["boot_s"] = round(t - self.t_start, 2)
        return self.ready

    def qemu_log(self):
        try:
            return open(self.log, errors="replace").read()
        except OSError:
            return ""

    def stop(self, timeout=10):
        """Ends QEMU: SIGTERM, then SIGKILL after TIMEOUT seconds."""
        for c in (getattr(self, "console", None), getattr(self, "qmp", None)):
            if c:
                c.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._untrack()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._untrack()

    def _untrack(self):
        # A reaped PID can be reused: nobody may signal it any more.
        if self.procs is not None and self.proc in self.procs:
            self.procs.remove(self.proc)


# ---- measurements: boot time, a plain QEMU live migration ----

def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_image(path, size_mib):
    with open(path, "wb") as f:
        f.truncate(size_mib << 20)
    return path


def boot_times(qemu, manifest, workdir, runs=5, disk_mib=64, procs=None):
    """Boots the guest RUNS times; returns a list of (seconds from QEMU's
    start to FERRY-READY, guest uptime in ms at READY)."""
    out = []
    for i in range(runs):
        img = make_image(os.path.join(workdir, "boot.img"), disk_mib)
        g = Guest(qemu, manifest, workdir, "boot%d" % i, img, kernel_cmdline(), procs=procs)
        try:
            r = g.wait_ready()
            out.append((r["boot_s"], r["uptime_ms"]))
        finally:
            g.stop()
    return out


def wait_records(guest, at_least, timeout):
    """Waits until GUEST's workload has acknowledged AT_LEAST records;
    returns its last status."""
    end = time.monotonic() + timeout
    while True:
        st = guest.console.status()
        if st["last"] >= at_least:
            return st
        if time.monotonic() > end:
            raise GuestError("%s: only %d records acknowledged after %ss: %s" % (
                guest.name, st["last"], timeout, st))
        time.sleep(0.5)


def migrate_plain(qemu, manifest, workdir, image, rate_mib=8, warm_records=2048,
                  procs=None, name="mig"):
    """One live migration of the guest between two QEMU processes on
    127.0.0.1 sharing IMAGE (source -> -incoming defer destination), the
    workload writing and beating throughout. Returns a dict: ready (the
    source's READY fields), before/after (workload status on the source just
    before, on the destination just after), info (the source's final
    query-migrate), seconds, verdict and net_verdict (the destination's
    self-check asked on its console, then over the network), hb (the
    heartbeat report from 1 s before the migration to 1 s after)."""
    hb = HeartbeatReceiver()
    cmdline = kernel_cmdline(rate_mib=rate_mib, hb_port=hb.port)
    src = Guest(qemu, manifest, workdir, name + "-src", image, cmdline, procs=procs)
    dst = None
    try:
        ready = src.wait_ready()
        wait_records(src, warm_records, 60)
        dst = Guest(qemu, manifest, workdir, name + "-dst", image, cmdline, incoming="defer",
                    procs=procs)
        port = free_tcp_port()
        dst.qmp.execute("migrate-incoming", {"uri": "tcp:127.0.0.1:%d" % port})
        # QEMU's default bandwidth cap (128 MiB/s) would only slow this down.
        src.qmp.execute("migrate-set-parameters", {"max-bandwidth": 1 << 30,
                                                   "downtime-limit": 300})
        before = src.console.status()
        t0 = time.monotonic()
        src.qmp.execute("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        deadline = t0 + 120
        while True:
            info = src.qmp.execute("query-migrate")
            if info.get("status") in ("completed", "failed", "cancelled"):
                break
            if time.monotonic() > deadline:
                raise GuestError("migration not finished after 120 s: %s" % info)
            time.sleep(0.05)
        seconds = time.monotonic() - t0
        if info["status"] != "completed":
            raise GuestError("migration %s: %s" % (info["status"], info.get("error-desc")))
        deadline = time.monotonic() + 30
        while dst.qmp.execute("query-status")["status"] != "running":
            if time.monotonic() > deadline:
                raise GuestError("the destination does not run after the migration")
            time.sleep(0.05)
        after = dst.console.status()
        wait_records(dst, after["last"] + 1024, 60)  # still writing
        verdict = dst.console.selfcheck()
        # The same through the network: after the switchover the heartbeat
        # comes from the destination QEMU's own slirp socket.
        net_verdict = hb.selfcheck()
        time.sleep(max(0.0, t0 + seconds + 1 - time.monotonic()))
        rep = hb.report(since=t0 - 1, until=t0 + seconds + 1)
        return {"ready": ready, "before": before, "after": after, "info": info,
                "seconds": round(seconds, 2), "verdict": verdict, "net_verdict": net_verdict,
                "hb": rep}
    finally:
        src.stop()
        if dst:
            dst.stop()
        hb.close()


# ---- command line ----

def main(argv):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    hb = sub.add_parser("heartbeat", help="receive heartbeats, then print the report (JSON)")
    hb.add_argument("--port", type=int, required=True)
    hb.add_argument("--seconds", type=float, default=10)
    sc = sub.add_parser("selfcheck", help="trigger the guest's self-check; exit 0 if ok, 1 if "
                        "not, 3 for another generation's verdict, 4 for none")
    sc.add_argument("--console", required=True, help="the console's unix socket")
    sc.add_argument("--timeout", type=float, default=120)
    sc.add_argument("--gen", type=int, default=None,
                    help="the workload's generation before: a verdict of another one (the "
                    "guest restarted, its workload began afresh) fails")
    rc = sub.add_parser("records", help="summarize the records on a raw image")
    rc.add_argument("image")
    cp = sub.add_parser("compare", help="the destination's image against the source's as "
                        "the switchover left it; exit 0 if they match")
    cp.add_argument("source")
    cp.add_argument("destination")
    for name, what in (("boot-time", "boot the guest N times, print the boot times"),
                       ("migrate", "N plain QEMU live migrations, print downtime and gap")):
        p = sub.add_parser(name, help=what)
        p.add_argument("--manifest", default=None,
                       help="the build's ferry-linux.manifest ($FERRY_LINUX_GUEST_MANIFEST)")
        p.add_argument("--qemu", default=os.environ.get("FERRY_QEMU", "qemu-system-x86_64"))
        p.add_argument("--runs", type=int, default=3)
        p.add_argument("--rate", type=float, default=8, help="write MiB/s, 0 = flat out")
    a = ap.parse_args(argv)
    if a.cmd in ("boot-time", "migrate"):
        import shutil
        import tempfile
        m = load_manifest(a.manifest)
        if "SKIP" in m:
            print("no Linux guest: %s" % m["SKIP"], file=sys.stderr)
            return 77
        wd = tempfile.mkdtemp(prefix="ferry-linux-", dir="/tmp")
        try:
            if a.cmd == "boot-time":
                for i, (secs, up) in enumerate(boot_times(a.qemu, m, wd, a.runs)):
                    print("boot %d: FERRY-READY %.2f s after QEMU started, guest uptime %d ms, "
                          "accel %s, load %s" % (i, secs, up, accel(),
                                                 open("/proc/loadavg").read().split()[0]))
                return 0
            for i in range(a.runs):
                img = make_image(os.path.join(wd, "mig.img"), 64)
                r = migrate_plain(a.qemu, m, wd, img, rate_mib=a.rate)
                print("run %d rate %g: %.2f s, QEMU downtime %s ms; heartbeat max gap %s ms, "
                      "lost %d, duplicates %d; %s" % (
                          i, a.rate, r["seconds"], r["info"].get("downtime"),
                          r["hb"]["max_gap_ms"], r["hb"]["lost_count"], r["hb"]["duplicates"],
                          r["verdict"]["line"]), flush=True)
            return 0
        finally:
            shutil.rmtree(wd, ignore_errors=True)
    if a.cmd == "heartbeat":
        # Until --seconds pass or SIGTERM/SIGINT comes (a script stops it by PID).
        import signal
        done = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: done.set())
        r = HeartbeatReceiver(a.port)
        done.wait(a.seconds)
        r.close()
        print(json.dumps(r.report()))
        return 0
    if a.cmd == "compare":
        c = compare_switchover(a.source, a.destination)
        if c["bad_count"]:
            print("disk check: FAIL: %d of %d blocks differ; first: %s" % (
                c["bad_count"], c["blocks"], "; ".join("block %d: %s" % b for b in c["bad"][:3])))
            return 1
        print("disk check: ok: %d blocks (4 KiB) byte-identical to the source, %d rewritten by "
              "the guest after the switchover (intact records newer than the source's newest, "
              "%d)" % (c["identical"], c["rewritten"], c["src_last"]))
        return 0
    if a.cmd == "selfcheck":
        # Exit 0: ok; 1: the check failed; 3: a verdict of another
        # generation (the guest restarted); 4: no verdict (the console
        # closed or stayed silent: the guest or its QEMU died).
        try:
            c = Console(a.console)
            v = c.selfcheck(a.timeout)
            c.close()
        except (GuestError, OSError) as e:
            print("no verdict from the guest: %s" % e)
            return 4
        print(v["line"])
        if a.gen is not None and v.get("gen") != a.gen:
            # An ok verdict of a new generation checks only what the new
            # boot wrote: the guest that migrated died.
            print("the guest restarted: its workload is generation %s, was %d (its kernel died; "
                  "under TCG, QEMU's page loss: docs/known-issues.md)" % (v.get("gen"), a.gen))
            return 3
        return 0 if v["verdict"] == "ok" else 1
    recs = read_records(a.image)
    bad = sorted(s for s, r in recs.items() if not r[2])
    print(json.dumps({"records": len(recs), "max_seq": max((r[0] for r in recs.values()),
                                                             default=0),
                      "gens": sorted({r[1] for r in recs.values()}), "bad_crc_slots": bad[:50]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
