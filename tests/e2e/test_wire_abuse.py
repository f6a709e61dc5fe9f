#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Hostile frames on the agent's TCP listener: every bad frame gets an
ERROR or a closed connection, and a normal client is served afterwards."""

import json
import socket
import struct
import time

from ferrytest import Agent, Runner, frame, hello, hello_frame, recv_frame


def connect(a):
    s = socket.create_connection(("127.0.0.1", a.port), timeout=10)
    return s


def expect_closed_or_error(s, what):
    try:
        f = recv_frame(s, timeout=15)
    except (ConnectionResetError, socket.timeout) as e:
        if isinstance(e, socket.timeout):
            raise AssertionError("%s: neither an error nor a close within 15 s" % what)
        return
    if f is None:
        return
    assert f[0] == 4, "%s: expected ERROR, got %r" % (what, f)
    # After an error for a broken stream the agent closes.


def served(a):
    r = a.ctl("list", "--all", uri=a.uri)
    assert "Name" in r.stdout


def test_bad_frames():
    a = Agent("w").start()
    cases = [
        ("bad magic", frame(1, b"{}", magic=0xdeadbeef)),
        ("bad version", frame(1, b"{}", version=99)),
        ("unknown type", frame(77, b"{}")),
        ("unknown flags", frame(1, b"{}", flags=0x80)),
        ("reserved set", frame(1, b"{}", reserved=1)),
        ("oversized length", frame(1, b"", length=0xFFFFFFF0)),
        ("invalid json", frame(1, b"{not json")),
        ("json array", frame(1, b"[1,2]")),
        ("call before hello", frame(2, b'{"method":"domain.list"}')),
        ("deep json", frame(1, b"[" * 5000 + b"]" * 5000)),
    ]
    for what, data in cases:
        s = connect(a)
        s.sendall(data)
        expect_closed_or_error(s, what)
        s.close()
        served(a)
    # Truncated frame, then the client goes away.
    s = connect(a)
    s.sendall(hello_frame()[:10])
    s.close()
    served(a)
    # A frame header promising more than it sends, held open: the agent
    # must not block anyone else meanwhile.
    hold = connect(a)
    hold.sendall(frame(1, b"", length=1000) + b"{")
    served(a)
    hold.close()
    # After a valid hello: garbage calls get ERROR frames, the connection
    # remains usable for well-formed calls.
    s = connect(a)
    f = hello(s)
    assert f and f[0] == 1 and f[2]["role"] == "agent", f
    s.sendall(frame(2, json.dumps({"method": "no.such"}).encode(), id_=5))
    f = recv_frame(s)
    assert f[0] == 4 and f[1] == 5 and "no.such" in f[2]["error"]["message"], f
    s.sendall(frame(2, json.dumps({"nomethod": 1}).encode(), id_=6))
    f = recv_frame(s)
    assert f[0] == 4 and f[1] == 6, f
    s.sendall(frame(2, json.dumps({"method": "domain.start", "params": {"name": 7}}).encode(),
                    id_=7))
    f = recv_frame(s)
    assert f[0] == 4 and "name" in f[2]["error"]["message"], f
    s.sendall(frame(2, json.dumps({"method": "domain.list", "params": {}}).encode(), id_=8))
    f = recv_frame(s)
    assert f[0] == 3 and f[1] == 8 and "domains" in f[2]["result"], f
    s.close()
    # Many connections at once, then normal service.
    socks = [connect(a) for _ in range(40)]
    for x in socks:
        x.sendall(b"\x00" * 24)
    for x in socks:
        x.close()
    served(a)
    a.stop()


def test_slowloris_hello():
    a = Agent("w2").start()
    s = connect(a)
    t0 = time.time()
    # No hello at all: the agent gives up on its own.
    f = recv_frame(s, timeout=30)
    assert f is None or f[0] == 4
    assert time.time() - t0 < 25
    served(a)
    a.stop()


if __name__ == "__main__":
    r = Runner(200)
    r.run(test_bad_frames)
    r.run(test_slowloris_hello)
    r.finish()
