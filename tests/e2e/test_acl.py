#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Roles (docs/security.md, "Roles"): ferryd --acl grants read-only,
migrate or admin per certificate DN pattern and per key. A read-only
certificate lists but cannot destroy or undefine; a peer agent's key can
migrate a guest into the agent but not reach QEMU's monitor nor define;
refusals name the method and both roles and change nothing; every
state-changing call leaves an audit line (who, what, result)."""

import os
import subprocess

from ferrytest import FERRYD, Agent, Runner, define, tmpdir
from test_auth import new_key
from test_migrate import assert_intact, guest_kw, start_guest, wait_heartbeat
from test_tls import TlsAgent, client_tmpl, pki


def write_acl(name, text):
    path = os.path.join(tmpdir(), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def ctl_key(agent, key, *args):
    env = dict(os.environ, FERRY_AUTH_KEY=key)
    return subprocess.run([os.environ.get("FERRYCTL", "ferryctl"), "-c", agent.uri] + list(args),
                          capture_output=True, text=True, timeout=120, env=env)


def refused(r, method, need, have):
    assert r.returncode == 1, r
    for words in ("permission denied", "'%s' needs role %s" % (method, need), "role %s" % have):
        assert words in r.stderr, (words, r.stderr)


def test_roles():
    p = pki()
    monitor = p.dir("monitor", client=client_tmpl("monitor"))
    peer_key = new_key("peer.key")
    acl = write_acl("roles.acl", "# who may do what\n"
                    "admin      dn   C=GB,O=Ferry,CN=admin*\n"
                    "read-only  dn   C=GB,O=Ferry,CN=monitor\n"
                    "\n"
                    "migrate    key  %s\n" % peer_key)
    a = TlsAgent("acl", p.agent, "--acl", acl).start()
    define(a, "g", disks=[])
    # Read-only certificate: reads, and is refused anything else.
    assert "g" in a.tls_ctl(monitor, "list", "--all").stdout
    r = a.tls_ctl(monitor, "destroy", "g", check=False)
    refused(r, "domain.destroy", "admin", "read-only")
    assert "CN=monitor" in r.stderr
    refused(a.tls_ctl(monitor, "undefine", "g", check=False), "domain.undefine", "admin",
            "read-only")
    assert "g" in a.domains()
    # The admin certificate may.
    a.tls_ctl(p.admin, "undefine", "g")
    assert "g" not in a.domains()
    define(a, "g", disks=[])
    # The peer key: reads and migration steps, not the monitor nor define.
    r = ctl_key(a, peer_key, "list", "--all")
    assert r.returncode == 0 and "g" in r.stdout, r
    refused(ctl_key(a, peer_key, "qemu-monitor-command", "g", "--hmp", "info status"),
            "domain.monitor", "admin", "migrate")
    xml = os.path.join(a.dir, "g.xml")
    refused(ctl_key(a, peer_key, "define", xml), "domain.define", "admin", "migrate")
    # The agent's own --auth-key stays admin when the file does not name it.
    assert ctl_key(a, a.key, "undefine", "g").returncode == 0
    # Audit: who, what, result, for calls that change something.
    log = open(a.log).read()
    audit = [ln for ln in log.splitlines() if "audit:" in ln]
    assert any("CN=monitor" in ln and "domain.destroy 'g': permission-denied" in ln
               for ln in audit), audit
    assert any("CN=admin1" in ln and "domain.undefine 'g': ok" in ln for ln in audit), audit
    assert any("peer.key" in ln and "domain.define" in ln and "permission-denied" in ln
               for ln in audit), audit
    assert any("control socket (uid" in ln and "domain.define 'g': ok" in ln for ln in audit), audit
    assert not any("domain.list" in ln for ln in audit), "reads are not audited"
    a.stop()


def test_peer_key_migrates():
    """The source agent proves its key (role migrate at the destination):
    a peer-to-peer live migration goes through."""
    peer_key = new_key("peer2.key")
    acl = write_acl("dst.acl", "migrate key %s\n" % peer_key)
    src = Agent("acl-src", auth=peer_key).start()
    dst = Agent("acl-dst", "--acl", acl).start()
    start_guest(src, "g", **guest_kw())
    hb = wait_heartbeat(src, "g", after=1)
    src.ctl("migrate", "--live", "--p2p", "g", dst.uri)
    assert dst.state_of("g") == "running"
    assert_intact(dst, "g", hb)
    log = open(dst.log).read()
    assert any("peer2.key" in ln and "migrate.prepare 'g'" in ln and ": ok" in ln
               for ln in log.splitlines() if "audit:" in ln), log[-3000:]
    # The same key may not reach the migrated guest's monitor.
    refused(ctl_key(dst, peer_key, "qemu-monitor-command", "g", "--hmp", "info status"),
            "domain.monitor", "admin", "migrate")
    dst.ctl("destroy", "g")
    src.stop()
    dst.stop()


def test_bad_acl_refused():
    d = os.path.join(tmpdir(), "acl-bad")
    for text, words in (("owner dn *\n", "unknown role 'owner'"),
                        ("admin cert *\n", "unknown kind 'cert'"),
                        ("admin dn\n", "expected 'ROLE dn PATTERN'"),
                        ("admin key /nonexistent.key\n", "/nonexistent.key"),
                        ("admin dn " + "x" * 2000 + "\n", "longer than")):
        acl = write_acl("bad.acl", "# ok\nread-only dn *\n" + text)
        r = subprocess.run([FERRYD, "--state-dir", d, "--control", os.path.join(d, "s.sock"),
                            "--acl", acl], capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and words in r.stderr and "bad.acl:3" in r.stderr, (text, r)


if __name__ == "__main__":
    r = Runner(400)
    r.run(test_roles)
    r.run(test_peer_key_migrates)
    r.run(test_bad_acl_refused)
    r.finish()
