#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""ferryctl migrate --tls (libvirt's VIR_MIGRATE_TLS): QEMU's RAM stream and
the NBD disk streams use x509 TLS with the certificates of each agent's
--migrate-tls-dir. Real agents on 127.0.0.1, real QEMU, certificates made
with certtool under the test's temporary directory (never committed).

Proof that TLS is really in use, not just asked for: while a --tls storage
migration runs, both QEMUs report tls-creds in query-migrate-parameters and
a plain (non-TLS) NBD client is refused by the destination's NBD server;
a destination of another CA makes the migration fail; afterwards no
credentials are left in the QEMU that keeps the guest."""

import json
import os
import shutil
import socket
import subprocess
import threading
import time

from ferrytest import (Agent, Runner, Skip, define, make_disk, need_qemu, pid_alive, sha256_file,
                       tmpdir, wait_for)
from test_storage import images
from test_tls import SERVER_127, client_tmpl, make_ca, make_cert

MIB = 1 << 20
CERTTOOL = shutil.which("certtool")
NBDINFO = shutil.which("nbdinfo")
DNS_ONLY = ('organization = "Ferry"\ncn = "ferry-dst.test"\ndns_name = "ferry-dst.test"\n'
            'tls_www_server\n')


class QemuPki:
    """--migrate-tls-dir directories in QEMU's layout (ca-cert.pem,
    server-cert.pem, server-key.pem, client-cert.pem, client-key.pem)."""

    def __init__(self):
        base = os.path.join(tmpdir(), "qpki")
        self.ca = make_ca(os.path.join(base, "ca"), "Ferry Migration CA")
        self.other_ca = make_ca(os.path.join(base, "other-ca"), "Another Migration CA")
        self.good = self.dir("good", self.ca, SERVER_127)
        self.other = self.dir("other", self.other_ca, SERVER_127)
        # A destination whose certificate names a host name only, not the
        # address the source migrates to: --tls-destination's case.
        self.dns = self.dir("dns", self.ca, DNS_ONLY)
        # Both private keys missing: a source and a destination that lack
        # a file each.
        self.half = self.dir("half", self.ca, SERVER_127)
        os.unlink(os.path.join(self.half, "client-key.pem"))
        os.unlink(os.path.join(self.half, "server-key.pem"))

    def dir(self, name, ca, server):
        d = os.path.join(os.path.dirname(self.ca), name)
        os.makedirs(d, exist_ok=True)
        shutil.copy(os.path.join(ca, "cacert.pem"), os.path.join(d, "ca-cert.pem"))
        make_cert(ca, d, "server-", server)
        make_cert(ca, d, "client-", client_tmpl("ferry-agent"))
        for f in os.listdir(d):
            if f.endswith(".tmpl"):
                os.unlink(os.path.join(d, f))
        return d


PKI = None
AGENTS = {}
# FERRY_AGENT_DEBUG=1: the agents log at debug level (kept with FERRY_KEEP_TMP).
AGENT_ARGS = ("--debug",) if os.environ.get("FERRY_AGENT_DEBUG") else ()


def pki():
    global PKI
    if not CERTTOOL:
        raise Skip("certtool (gnutls-bin) not installed")
    need_qemu()
    if PKI is None:
        PKI = QemuPki()
    return PKI


def agent(name, tls_dir):
    """One ferryd per certificate directory, kept for the whole run."""
    if name not in AGENTS:
        AGENTS[name] = Agent(name, "--migrate-tls-dir", tls_dir, *AGENT_ARGS).start()
    return AGENTS[name]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qmp(a, dom, cmd, **args):
    req = {"execute": cmd}
    if args:
        req["arguments"] = args
    out = a.ctl("qemu-monitor-command", dom, json.dumps(req)).stdout
    return json.loads(out)["return"]


def tls_params(a, dom):
    p = qmp(a, dom, "query-migrate-parameters")
    return p.get("tls-creds"), p.get("tls-hostname")


def tls_objects(a, dom):
    return [o["name"] for o in qmp(a, dom, "qom-list", path="/objects")
            if o["name"].startswith("ferry-tls")]


def assert_no_tls_left(a, dom):
    """The QEMU that keeps the guest holds no credentials of ours and no
    migration parameter that names them (a later plain migration would
    look for them)."""
    assert tls_params(a, dom)[0] == "", tls_params(a, dom)
    assert tls_objects(a, dom) == [], tls_objects(a, dom)


def new_guest(a, name, disk_mib=64, data_mib=0):
    disk = os.path.join(a.dir, name + "-vda.raw")
    chunks = [(i * 4 * MIB, os.urandom(2 * MIB)) for i in range(data_mib // 2)]
    make_disk(disk, disk_mib * MIB, chunks)
    define(a, name, disks=[("vda", disk, "raw")])
    a.ctl("start", name)
    return disk


def migrate(src, dst, dom, *args, check=True, timeout=180):
    pid = src.qemu_pid(dom)
    r = src.ctl("migrate", "--live", "--tls", *args, dom, dst.uri, check=False, timeout=timeout)
    if not check:
        return r
    assert r.returncode == 0, "migrate %s failed: %s\nsource: %s\ndestination: %s" % (
        " ".join(args), r.stderr, src.log_tail(), dst.log_tail())
    wait_for(lambda: not pid_alive(pid), 20, "the source QEMU to exit")
    assert dst.state_of(dom) == "running"
    return r


def assert_refused_untouched(src, dst, dom, disk, before, r, *words):
    """A failed or refused migration: the reason is said, the guest runs
    on the source from its untouched disk, nothing of it on DST."""
    assert r.returncode != 0, r.stdout
    print("  refused: %s" % r.stderr.strip().replace("\n", " / ")[:300])
    for w in words:
        assert w in r.stderr, "expected %r in: %s" % (w, r.stderr)
    assert src.state_of(dom) == "running", src.log_tail()
    assert sha256_file(disk) == before
    assert dom not in dst.domains(), dst.domains()
    assert not [n for n in images(dst) if n.startswith(dom + "-")], images(dst)
    assert_no_tls_left(src, dom)


def test_ram_only():
    """--tls without storage: the RAM stream alone, guest on shared storage;
    managed, with multifd channels, and peer-to-peer."""
    p = pki()
    src, dst = agent("src", p.good), agent("dst", p.good)
    new_guest(src, "ram")
    migrate(src, dst, "ram")
    assert_no_tls_left(dst, "ram")
    # Back with multifd: every channel does its own handshake.
    migrate(dst, src, "ram", "--parallel-connections", "2")
    assert_no_tls_left(src, "ram")
    # Peer-to-peer: the flag reaches the destination's Prepare through the
    # source agent.
    migrate(src, dst, "ram", "--p2p")
    assert_no_tls_left(dst, "ram")
    dst.ctl("destroy", "ram")


def storage_round(tag, engine, slow_mib):
    """A --tls --copy-storage-all migration with ENGINE, slowed to SLOW_MIB
    MiB/s so it can be looked at while it runs."""
    p = pki()
    src, dst = agent("src", p.good), agent("dst", p.good)
    dom = "st-" + tag
    disk = new_guest(src, dom, disk_mib=64, data_mib=24)
    before = sha256_file(disk)
    port = free_port()
    seen = {}

    def look():
        # While the disks copy: the destination's NBD server only speaks
        # TLS, and both QEMUs have tls-creds set.
        try:
            wait_for(lambda: dom in dst.domains(), 30, "the incoming domain")
            wait_for(lambda: tls_params(src, dom)[0], 30, "the source's tls-creds")
            seen["src"] = tls_params(src, dom)
            seen["dst"] = tls_params(dst, dom)
            if NBDINFO:
                r = subprocess.run([NBDINFO, "nbd://127.0.0.1:%d/vda" % port],
                                   capture_output=True, text=True, timeout=30)
                seen["nbdinfo"] = (r.returncode, r.stdout + r.stderr)
            seen["ok"] = True
        except Exception as e:  # reported by the main thread
            seen["error"] = repr(e)

    t = threading.Thread(target=look)
    t.start()
    migrate(src, dst, dom, "--copy-storage-all", "--storage-engine", engine,
            "--disks-port", str(port), "--bandwidth", str(slow_mib))
    t.join(60)
    assert seen.get("ok"), seen
    assert seen["src"] == ("ferry-tls-creds", "127.0.0.1"), seen
    assert seen["dst"][0] == "ferry-tls-creds", seen
    if NBDINFO:
        rc, out = seen["nbdinfo"]
        assert rc != 0 and "TLS" in out, "a plain NBD client was not refused: %s" % out
    else:
        print("  (nbdinfo not installed: the plain-client check was skipped)")
    dst_disk = os.path.join(dst.images, dom + "-vda.raw")
    assert sha256_file(dst_disk) == before, "the destination's disk differs"
    assert_no_tls_left(dst, dom)
    dst.ctl("destroy", dom)


def test_storage_ferry_engine():
    storage_round("ferry", "ferry", 4)


def test_storage_qemu_engine():
    storage_round("qemu", "qemu", 4)


def test_untrusted_destination():
    """A destination whose certificates come from another CA: the source
    does not trust it, it does not trust the source's client certificate.
    The migration fails saying so; the source guest keeps running on its
    untouched disk; no credentials stay behind."""
    p = pki()
    src, other = agent("src", p.good), agent("other", p.other)
    disk = new_guest(src, "untrusted", data_mib=8)
    before = sha256_file(disk)
    for args in (("--copy-storage-all",), ("--copy-storage-all", "--storage-engine", "qemu"), ()):
        t0 = time.time()
        r = migrate(src, other, "untrusted", *args, check=False)
        assert time.time() - t0 < 60, "the failure took %.0f s" % (time.time() - t0)
        assert_refused_untouched(src, other, "untrusted", disk, before, r)
        msg = r.stderr.lower()
        assert "certificate" in msg or "tls" in msg or "handshake" in msg, r.stderr
    src.ctl("destroy", "untrusted")


def test_tls_destination():
    """The destination's certificate names ferry-dst.test, not 127.0.0.1:
    refused without --tls-destination, accepted with it (engine 'qemu'; the
    ferry engine's libnbd 1.14 cannot check another name: refused at Begin,
    naming the way out)."""
    p = pki()
    src, dns = agent("src", p.good), agent("dns", p.dns)
    disk = new_guest(src, "named", data_mib=4)
    before = sha256_file(disk)
    r = migrate(src, dns, "named", check=False)
    assert_refused_untouched(src, dns, "named", disk, before, r)
    r = migrate(src, dns, "named", "--copy-storage-all", "--tls-destination", "ferry-dst.test",
                check=False)
    assert_refused_untouched(src, dns, "named", disk, before, r, "--storage-engine qemu")
    migrate(src, dns, "named", "--copy-storage-all", "--storage-engine", "qemu",
            "--tls-destination", "ferry-dst.test")
    assert sha256_file(os.path.join(dns.images, "named-vda.raw")) == before
    assert_no_tls_left(dns, "named")
    dns.ctl("destroy", "named")


def test_missing_files():
    """A source without client-key.pem, a destination without
    server-key.pem: refused before anything starts, naming the file."""
    p = pki()
    src, half = agent("src", p.good), agent("half", p.half)
    disk = new_guest(src, "nokey", data_mib=2)
    before = sha256_file(disk)
    r = migrate(src, half, "nokey", "--copy-storage-all", check=False)
    assert_refused_untouched(src, half, "nokey", disk, before, r,
                             os.path.join(p.half, "server-key.pem"), "--migrate-tls-dir")
    src.ctl("destroy", "nokey")
    disk = new_guest(half, "nokey2")
    r = migrate(half, src, "nokey2", check=False)
    assert_refused_untouched(half, src, "nokey2", disk, sha256_file(disk), r,
                             os.path.join(p.half, "client-key.pem"))
    half.ctl("destroy", "nokey2")


def test_refused_combinations():
    """--tls with --tunnelled is refused by name (the tunnel is the agents'
    connection: ferry+tls:// encrypts it), by ferryctl and by the agent;
    --tls-destination needs --tls."""
    p = pki()
    src, dst = agent("src", p.good), agent("dst", p.good)
    disk = new_guest(src, "combo")
    before = sha256_file(disk)
    r = migrate(src, dst, "combo", "--p2p", "--tunnelled", check=False)
    assert_refused_untouched(src, dst, "combo", disk, before, r, "--tls", "--tunnelled")
    r = src.ctl("migrate", "--live", "--tls-destination", "x", "combo", dst.uri, check=False)
    assert_refused_untouched(src, dst, "combo", disk, before, r, "--tls-destination requires --tls")
    # The agent itself, asked without ferryctl's check.
    from ferrytest import frame, hello, recv_frame
    with socket.create_connection(("127.0.0.1", src.port), timeout=10) as s:
        assert hello(s)[0] == 1
        req = {"method": "migrate.p2p", "params": {
            "name": "combo", "desturi": dst.uri,
            "params": {"flags": ["live", "peer2peer", "tunnelled", "tls"]}}}
        s.sendall(frame(2, json.dumps(req).encode(), id_=2))
        reply = recv_frame(s, timeout=30)
    assert reply and "--tunnelled" in json.dumps(reply[2]), reply
    assert src.state_of("combo") == "running"
    src.ctl("destroy", "combo")


def recovered_removed(a, dom):
    """What the migration-recovered events of DOM say the sweep removed."""
    out = a.ctl("events", "--domain", dom, "--timeout", "2", "--since", "0", timeout=30).stdout
    evs = [json.loads(line) for line in out.splitlines() if line.strip()]
    return [x for e in evs if e["event"] == "migration-recovered"
            for x in e["data"].get("removed", [])]


def test_source_agent_killed():
    """The source agent is SIGKILLed while a --tls disk copy runs (held by
    --bandwidth 1) and started again: its recovery resumes the guest and
    removes the credentials with the rest; the destination drops the
    incoming guest."""
    p = pki()
    src, dst = agent("src", p.good), agent("dst", p.good)
    disk = new_guest(src, "crash", disk_mib=64, data_mib=24)
    before = sha256_file(disk)
    cmd = [os.environ.get("FERRYCTL", "ferryctl"), "-c", src.control, "migrate", "--live", "--tls",
           "--copy-storage-all", "--bandwidth", "1", "crash", dst.uri]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: tls_objects(src, "crash"), 30, "the source's credentials")
        src.kill()
        src.start()
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, out
    assert src.state_of("crash") == "running", src.log_tail()
    assert "tls-creds:ferry-tls-creds" in recovered_removed(src, "crash"), src.log_tail()
    assert_no_tls_left(src, "crash")
    assert sha256_file(disk) == before
    wait_for(lambda: "crash" not in dst.domains(), 60, "the destination to drop the guest")
    # Left in an idle guest (no job record at all): swept at start-up too.
    qmp(src, "crash", "object-add", **{"qom-type": "tls-creds-x509", "id": "ferry-tls-creds",
                                       "dir": p.good, "endpoint": "client"})
    qmp(src, "crash", "migrate-set-parameters", **{"tls-creds": "ferry-tls-creds"})
    src.kill()
    src.start()
    assert_no_tls_left(src, "crash")
    assert "tls-creds:ferry-tls-creds" in open(src.log).read(), src.log_tail()
    src.ctl("destroy", "crash")


if __name__ == "__main__":
    r = Runner(240)
    try:
        for t in (test_refused_combinations, test_missing_files, test_ram_only,
                  test_storage_ferry_engine, test_storage_qemu_engine, test_untrusted_destination,
                  test_tls_destination, test_source_agent_killed):
            r.run(t)
    finally:
        for a in AGENTS.values():
            a.stop()
    r.finish()
