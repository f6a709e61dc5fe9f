# SPDX-License-Identifier: LGPL-2.1-or-later
"""A real, rate-limited network link on this host for the benchmarks: a
network namespace of our own joined to the root namespace by a veth pair
with addresses private to the pair (10.201.N.0/30), and a tbf qdisc on each
end, so both directions are held to RATE bytes/s. A process started under
`wrap()` lives at `peer` on the far side; everything it exchanges with the
root namespace crosses the shaped link.

Needs root (CAP_NET_ADMIN) and iproute2. `close()` deletes the veth (both
ends) and the namespace; processes still inside are stopped by PID first.
Every command has a timeout."""

import os
import socket
import subprocess
import sys
import time

from benchlib import MIB, BenchError, stop_foreign_pid, stop_pid


def _ip(*args, check=True, timeout=15):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise BenchError(f"ip {' '.join(args)}: {r.stderr.strip()}")
    return r


def netns_available():
    """(True, "") when a network namespace can be made here, else (False,
    why): creates and deletes a throwaway one."""
    name = f"ferrybench-probe-{os.getpid()}"
    try:
        r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True,
                           timeout=15)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, f"ip netns add: {e}"
    if r.returncode != 0:
        return False, f"ip netns add: {r.stderr.strip()}"
    _ip("netns", "del", name, check=False)
    return True, ""


class ShapedLink:
    """RATE bytes/s each way between the root namespace (`host`) and a
    namespace of ours (`peer`). LATENCY_MS bounds the tbf queue (longer
    queues drop less and delay more); BURST the bytes sent at line rate."""

    def __init__(self, rate, latency_ms=100, burst=64 * 1024):
        self.rate, self.latency_ms, self.burst = int(rate), latency_ms, burst
        tag = os.getpid() % 100000
        self.ns = f"ferrybench-{tag}"
        self.dev_host, self.dev_peer = f"fbh{tag}", f"fbp{tag}"
        self.host, self.peer = self._pick_subnet()
        self.created = False

    @staticmethod
    def _pick_subnet():
        used = _ip("-4", "-o", "addr").stdout
        for n in range(os.getpid() % 200, os.getpid() % 200 + 200):
            net = f"10.201.{n % 256}."
            if net not in used:
                return net + "1", net + "2"
        raise BenchError("no free 10.201.N.0/30 for the shaped link")

    def create(self):
        _ip("netns", "add", self.ns)
        self.created = True
        _ip("link", "add", self.dev_host, "type", "veth", "peer", "name", self.dev_peer)
        _ip("link", "set", self.dev_peer, "netns", self.ns)
        _ip("addr", "add", self.host + "/30", "dev", self.dev_host)
        _ip("-n", self.ns, "addr", "add", self.peer + "/30", "dev", self.dev_peer)
        _ip("link", "set", self.dev_host, "up")
        _ip("-n", self.ns, "link", "set", self.dev_peer, "up")
        _ip("-n", self.ns, "link", "set", "lo", "up")
        # tbf shapes what a device sends: one on each end shapes both ways.
        tbf = ["root", "tbf", "rate", f"{self.rate * 8}bit", "burst", str(self.burst),
               "latency", f"{self.latency_ms}ms"]
        for argv in (["tc", "qdisc", "add", "dev", self.dev_host] + tbf,
                     ["ip", "netns", "exec", self.ns, "tc", "qdisc", "add", "dev",
                      self.dev_peer] + tbf):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=15)
            if r.returncode != 0:
                raise BenchError(f"{' '.join(argv)}: {r.stderr.strip()}")
        return self

    def wrap(self):
        """The prefix that runs a command in the peer namespace; `ip netns
        exec` execs it, so the PID Popen returns is the command's."""
        return ["ip", "netns", "exec", self.ns]

    def qdisc_stats(self):
        """`tc -s qdisc` of both ends (bytes sent, drops, overlimits)."""
        out = subprocess.run(["tc", "-s", "qdisc", "show", "dev", self.dev_host],
                             capture_output=True, text=True, timeout=15).stdout
        out += subprocess.run(self.wrap() + ["tc", "-s", "qdisc", "show", "dev", self.dev_peer],
                              capture_output=True, text=True, timeout=15).stdout
        return out.strip()

    def measure(self, seconds=2.0):
        """Achieved TCP throughput each way (bytes/s, as the receiver saw
        it), to show the link is shaped before anything is measured on it."""
        return {"host_to_peer": self._measure(seconds, to_peer=True),
                "peer_to_host": self._measure(seconds, to_peer=False)}

    def _measure(self, seconds, to_peer):
        # The receiver: a python child in the peer namespace (to_peer) or
        # in ours, printing bytes and seconds from first byte to EOF.
        recv_host = self.peer if to_peer else self.host
        code = ("import socket,sys,time\n"
                "l=socket.socket();l.bind((sys.argv[1],0));l.listen(1)\n"
                "print(l.getsockname()[1],flush=True)\n"
                "c,_=l.accept();c.settimeout(30);n=0;t0=None\n"
                "while True:\n"
                " b=c.recv(1<<16)\n"
                " if not b:break\n"
                " t0=t0 or time.monotonic();n+=len(b)\n"
                "print(n,time.monotonic()-(t0 or time.monotonic()),flush=True)\n")
        argv = (self.wrap() if to_peer else []) + [sys.executable, "-c", code, recv_host]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            port = int(p.stdout.readline())
            src = self.host if to_peer else self.peer
            if to_peer:
                self._send(src, recv_host, port, seconds)
            else:
                sender = subprocess.Popen(
                    self.wrap() + [sys.executable, "-c",
                                   "import socket,sys,time\n"
                                   "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),10)\n"
                                   "e=time.monotonic()+float(sys.argv[3]);b=bytes(1<<16)\n"
                                   "while time.monotonic()<e:s.sendall(b)\n"
                                   "s.close()\n", recv_host, str(port), str(seconds)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    sender.wait(timeout=seconds + 40)
                except subprocess.TimeoutExpired:
                    stop_pid(sender.pid)
                    sender.wait(timeout=10)
            out, _ = p.communicate(timeout=40)
            n, dt = out.split()
            return int(n) / max(float(dt), 1e-3)
        finally:
            if p.poll() is None:
                stop_pid(p.pid)
                p.wait(timeout=10)

    @staticmethod
    def _send(src, dst, port, seconds):
        s = socket.create_connection((dst, port), timeout=10, source_address=(src, 0))
        try:
            end = time.monotonic() + seconds
            buf = bytes(1 << 16)
            while time.monotonic() < end:
                s.sendall(buf)
        finally:
            s.close()

    def pids(self):
        r = _ip("netns", "pids", self.ns, check=False)
        return [int(x) for x in r.stdout.split()] if r.returncode == 0 else []

    def close(self):
        """Stops what still runs in the namespace (by PID: our agents'
        children, should any outlive them), deletes the veth pair and the
        namespace. Safe to call twice or after a failed create()."""
        if not self.created:
            return
        for pid in self.pids():
            stop_foreign_pid(pid)
        _ip("link", "del", self.dev_host, check=False)
        _ip("netns", "del", self.ns, check=False)
        self.created = False


def main():
    """Alone: make a link at MiB/s (default 1), measure it, tear it down."""
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    ok, why = netns_available()
    if not ok:
        print("no network namespace here:", why)
        return 77
    link = ShapedLink(rate * MIB)
    try:
        link.create()
        m = link.measure()
        print(f"{link.ns}: {link.host} <-> {link.peer}, tbf {rate} MiB/s: "
              f"host->peer {m['host_to_peer'] / MIB:.2f} MiB/s, "
              f"peer->host {m['peer_to_host'] / MIB:.2f} MiB/s")
    finally:
        link.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
