#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared-key authentication on the TCP listener (docs/protocol.md,
"Authentication"; docs/security.md): a client without the key, or with
another key, gets one ERROR in answer to HELLO and nothing about the host;
ferryctl and agents refuse an agent that cannot prove the key back; ferryd
will not open an unauthenticated listener unless told --insecure, and says
so when told."""

import json
import os
import socket
import subprocess
import threading

import ferrytest
from ferrytest import (FERRYCTL, FERRYD, Agent, Runner, auth_key_path, frame, hello,
                       hello_payload, recv_frame, tmpdir)


def new_key(name, mode=0o600, content=None):
    path = os.path.join(tmpdir(), name)
    with open(path, "w") as f:
        f.write(content if content is not None else os.urandom(32).hex() + "\n")
    os.chmod(path, mode)
    return path


def ctl(uri, *args, key=None):
    env = dict(os.environ, FERRY_AUTH_KEY=key or "")
    return subprocess.run([FERRYCTL, "-c", uri] + list(args), capture_output=True, text=True,
                          timeout=60, env=env)


def connect(a):
    return socket.create_connection(("127.0.0.1", a.port), timeout=10)


def only_refusal(s, f, words):
    """F is an ERROR permission-denied naming WORDS, and the agent then
    closes: nothing else arrives (no HELLO, no host name or uuid)."""
    assert f and f[0] == 4, "expected ERROR, got %r" % (f,)
    assert f[2]["error"]["code"] == "permission-denied", f
    assert words in f[2]["error"]["message"], f
    assert recv_frame(s, timeout=10) is None, "the agent sent more after refusing"


def test_unauthenticated_refused():
    a = Agent("au").start()
    # No "auth" at all: an old client, or a stranger.
    s = connect(a)
    only_refusal(s, hello(s, key=None), "authentication required")
    s.close()
    # A wrong key: refused after its proof, still nothing about the host.
    s = connect(a)
    f = hello(s, key=new_key("other.key"))
    only_refusal(s, f, "does not hold this agent's key")
    s.close()
    # A CALL instead of the proof.
    s = connect(a)
    body = hello_payload()
    body["auth"] = {"scheme": "hmac-sha256", "nonce": "00" * 32}
    s.sendall(frame(1, json.dumps(body).encode()))
    f = recv_frame(s)
    assert f[0] == 1 and set(f[2]) == {"agent", "auth"}, "challenge says more than a nonce: %r" % (f,)
    s.sendall(frame(2, json.dumps({"method": "domain.list"}).encode(), id_=3))
    f = recv_frame(s)
    assert f[0] == 4 and f[2]["error"]["code"] == "protocol-error", f
    s.close()
    # Malformed auth members are refused by name, bounded.
    for auth, words in (({"scheme": "hmac-sha256", "nonce": "zz" * 32}, "64 hex digits"),
                        ({"scheme": "hmac-sha256", "nonce": "00" * 33}, "64 hex digits"),
                        ({"scheme": "md5", "nonce": "00" * 32}, "scheme"),
                        ("x" * 100000, "not an object")):
        s = connect(a)
        body = hello_payload()
        body["auth"] = auth
        s.sendall(frame(1, json.dumps(body).encode()))
        f = recv_frame(s)
        assert f and f[0] == 4 and words in f[2]["error"]["message"], (auth, f)
        s.close()
    # ferryctl: without a key, with another key, with the right one.
    r = ctl(a.uri, "list")
    assert r.returncode == 1 and "authentication required" in r.stderr and "--auth-key" in r.stderr, r
    r = ctl(a.uri, "list", key=new_key("other2.key"))
    assert r.returncode == 1 and "does not hold this agent's key" in r.stderr, r
    r = ctl(a.uri, "list", "--all", key=a.key)
    assert r.returncode == 0, r
    # The key also works as an option, and the unix socket needs none.
    r = subprocess.run([FERRYCTL, "--auth-key", a.key, "-c", a.uri, "list"], capture_output=True,
                       text=True, timeout=60, env=dict(os.environ, FERRY_AUTH_KEY=""))
    assert r.returncode == 0, r
    assert ctl(a.control, "list").returncode == 0
    log = open(a.log).read()
    assert "refusing client" in log and "authentication required" in log, log[-2000:]
    assert a.key not in log and open(a.key).read().strip() not in log
    a.stop()


class FakeAgent(threading.Thread):
    """A listener that plays an agent without the key: MODE "plain"
    answers HELLO without a challenge, "guess" sends a challenge and then a
    HELLO with a made-up proof. It must not be believed either way."""

    def __init__(self, mode):
        super().__init__(daemon=True)
        self.mode = mode
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.lsock.settimeout(30)
        self.port = self.lsock.getsockname()[1]
        self.calls = 0

    def run(self):
        try:
            c, _ = self.lsock.accept()
        except OSError:
            return
        c.settimeout(10)
        f = recv_frame(c)
        me = dict(hello_payload(), role="agent", host="fake",
                  host_uuid="11111111-2222-3333-4444-555555555555")
        if self.mode == "guess":
            c.sendall(frame(1, json.dumps({"agent": "ferry", "auth": {
                "scheme": "hmac-sha256", "nonce": "ab" * 32}}).encode(), id_=f[1]))
            recv_frame(c)
            me["auth"] = {"scheme": "hmac-sha256", "proof": "cd" * 32}
        c.sendall(frame(1, json.dumps(me).encode(), id_=f[1]))
        try:
            while recv_frame(c, timeout=5):
                self.calls += 1
        except OSError:
            pass
        c.close()


def test_agent_must_prove_key():
    for mode, words in (("plain", "did not authenticate itself"), ("guess", "proof of the key is wrong")):
        fake = FakeAgent(mode)
        fake.start()
        r = ctl("ferry+tcp://127.0.0.1:%d" % fake.port, "list", key=auth_key_path())
        fake.join(20)
        fake.lsock.close()
        assert r.returncode == 1 and words in r.stderr, (mode, r)
        assert fake.calls == 0, "ferryctl sent a call to an agent that proved nothing"
    # An agent with another key fails the same way as seen from ferryctl,
    # and --insecure without a key cannot prove anything.
    b = Agent("au-ins", auth=False, insecure=True).start()
    r = ctl(b.uri, "list", key=auth_key_path())
    assert r.returncode == 1 and "did not authenticate itself" in r.stderr, r
    assert ctl(b.uri, "list").returncode == 0, "--insecure lets keyless clients in"
    log = open(b.log).read()
    assert "--insecure" in log and "NO authentication" in log, log
    b.stop()


def test_startup_checks():
    d = os.path.join(tmpdir(), "au-start")
    base = [FERRYD, "--state-dir", d, "--control", os.path.join(d, "s.sock"),
            "--listen", "127.0.0.1:0"]

    def run(*extra):
        return subprocess.run(base + list(extra), capture_output=True, text=True, timeout=30)

    r = run()
    assert r.returncode == 2 and "--listen needs --auth-key" in r.stderr, r
    r = run("--auth-key", new_key("open.key", mode=0o644))
    assert r.returncode == 1 and "chmod 600" in r.stderr and "open.key" in r.stderr, r
    r = run("--auth-key", new_key("short.key", content="tooshort\n"))
    assert r.returncode == 1 and "fewer than the 32 required" in r.stderr, r
    r = run("--auth-key", os.path.join(d, "missing.key"))
    assert r.returncode == 1 and "missing.key" in r.stderr, r
    # A priority string GnuTLS refuses stops the start, not the first
    # migration's object-add.
    r = run("--insecure", "--migrate-tls-priority", "NORMAL:-NO-SUCH-CIPHER")
    assert r.returncode == 2 and "--migrate-tls-priority" in r.stderr and \
        "NO-SUCH-CIPHER" in r.stderr, r
    assert not os.path.exists(os.path.join(d, "s.sock")), "a refused start bound its socket"
    r = subprocess.run([FERRYCTL, "--auth-key", new_key("open2.key", mode=0o640), "-c",
                        "/nonexistent", "list"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "chmod 600" in r.stderr, r


if __name__ == "__main__":
    r = Runner(240)
    r.run(test_unauthenticated_refused)
    r.run(test_agent_must_prove_key)
    r.run(test_startup_checks)
    r.finish()
