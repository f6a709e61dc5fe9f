#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Connection floods cannot starve the operator (docs/protocol.md,
"Connection limits"): 1,000 idle TCP connections and 1,000 stalled TLS
handshakes against one agent from one address, renewed as the agent
drops them, while ferryctl on its unix socket, an authenticated TCP
client from another address, and a live migration between two other agents all succeed; the
refusals reach the log at a bounded rate and the agent has not kept a
thread or descriptor per refused connection."""

import os
import resource
import socket
import threading
import time

from ferrytest import Agent, Runner, Skip, need_qemu, tmpdir, wait_for
from test_migrate import assert_intact, guest_kw, start_guest, wait_heartbeat
from test_tls import pki

N = 1000
ATTACKER = "127.0.0.3"  # the flood's source address; everyone else comes from 127.0.0.1
VICTIM = "127.0.0.1"


class Flood(threading.Thread):
    """Holds up to N connections to each port, from ATTACKER; every round
    replaces the ones the agent has closed, like an attacker that keeps
    reconnecting. TLS ones send half a record header and stall."""

    def __init__(self, tcp_port, tls_port):
        super().__init__(daemon=True)
        self.ports = {"tcp": tcp_port, "tls": tls_port}
        self.socks = {"tcp": [], "tls": []}
        self.opened = 0
        self.stop = threading.Event()
        self.error = None

    def fill(self):
        for kind, port in self.ports.items():
            alive = []
            for s in self.socks[kind]:
                try:
                    if s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"":
                        s.close()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    s.close()
                    continue
                alive.append(s)
            while len(alive) < N and not self.stop.is_set():
                s = socket.socket()
                s.bind((ATTACKER, 0))
                s.settimeout(5)
                s.connect((VICTIM, port))
                if kind == "tls":
                    s.sendall(b"\x16\x03")  # a handshake record that never completes
                alive.append(s)
                self.opened += 1
            self.socks[kind] = alive

    def run(self):
        try:
            while not self.stop.is_set():
                self.fill()
                self.stop.wait(4)
        except Exception as e:  # reported by the test
            self.error = e

    def end(self):
        self.stop.set()
        self.join(30)
        for lst in self.socks.values():
            for s in lst:
                s.close()


def threads_of(pid):
    return len(os.listdir("/proc/%d/task" % pid))


def fds_of(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_flood_does_not_starve():
    need_qemu()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < 2 * N + 200:
        raise Skip("RLIMIT_NOFILE hard limit %d is below the %d sockets the test holds"
                   % (hard, 2 * N + 200))
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        probe = socket.socket()
        probe.bind((ATTACKER, 0))
        probe.close()
    except OSError as e:
        raise Skip("cannot use %s as a source address on loopback: %s" % (ATTACKER, e))
    tls_port_file = os.path.join(tmpdir(), "victim.tls-port")
    victim = Agent("victim", "--tls-listen", VICTIM + ":0", "--tls-dir", pki().agent,
                   "--tls-port-file", tls_port_file).start()
    tls_port = int(open(tls_port_file).read().strip())
    src, dst = Agent("fsrc").start(), Agent("fdst").start()
    start_guest(src, "g", **guest_kw())
    hb = wait_heartbeat(src, "g", after=1)
    base_threads = threads_of(victim.proc.pid)

    flood = Flood(victim.port, tls_port)
    flood.fill()
    assert len(flood.socks["tcp"]) + len(flood.socks["tls"]) >= N, "flood did not start"
    flood.start()
    t0 = time.time()
    try:
        victim_tcp = "ferry+tcp://%s:%d" % (VICTIM, victim.port)
        # The operator's socket and a client from another address: each
        # call answers promptly, again and again, while the flood lasts.
        for _ in range(5):
            t = time.time()
            victim.ctl("list", "--all")
            victim.ctl("list", "--all", uri=victim_tcp)
            assert time.time() - t < 10, "a call took %.1fs under the flood" % (time.time() - t)
            time.sleep(1)
        # The agent holds a bounded number of threads and descriptors,
        # not one per connection the flood opened.
        assert threads_of(victim.proc.pid) <= base_threads + 2 * 64 + 8, threads_of(victim.proc.pid)
        assert fds_of(victim.proc.pid) < 300, fds_of(victim.proc.pid)
        # A migration between two other agents meanwhile.
        src.ctl("migrate", "--live", "--p2p", "g", dst.uri)
        assert dst.state_of("g") == "running"
        assert_intact(dst, "g", hb)
        victim.ctl("list", "--all")
        assert flood.error is None, flood.error
        took = time.time() - t0
        opened = flood.opened
    finally:
        flood.end()
    assert opened >= 2 * N, opened
    # Refusals: thousands happened, a bounded number of lines was logged,
    # and the rest were counted.
    log = open(victim.log).read()
    lines = [ln for ln in log.splitlines() if "refus" in ln]
    assert lines, "no refusal logged"
    # At most 5 lines and one "N more were not logged" per 10 s window,
    # over the time the refusals were logged (handshake deadlines expire
    # after the flood ended, so that can be longer than the flood took).
    stamps = [float(ln.split()[0]) for ln in lines]
    span = max(took, stamps[-1] - stamps[0])
    assert len(lines) <= 6 * (int(span / 10) + 2) + 2, (len(lines), span, lines[:20])
    wait_for(lambda: threads_of(victim.proc.pid) <= base_threads + 2, 30,
             "the victim's connection threads to end after the flood")
    victim.ctl("list", "--all", uri=victim_tcp)
    dst.ctl("destroy", "g")
    for a in (victim, src, dst):
        a.stop()


if __name__ == "__main__":
    r = Runner(400)
    r.run(test_flood_does_not_starve)
    r.finish()
