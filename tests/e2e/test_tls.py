#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""ferry+tls://: real agents on 127.0.0.1 with a TLS listener and x509
mutual authentication. A test CA, server and client certificates are made
with certtool in the test's temporary directory (never committed). ferryctl
works over TLS, a peer-to-peer live migration (plain and tunnelled) runs
agent to agent over TLS, and every refusal names its cause while the agent
keeps serving others."""

import os
import shutil
import socket
import subprocess
import time

from ferrytest import Agent, Runner, Skip, need_qemu, tmpdir
from test_migrate import assert_intact, guest_kw, start_guest, wait_heartbeat

CERTTOOL = shutil.which("certtool")


def certtool(*args):
    r = subprocess.run([CERTTOOL] + list(args), capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("certtool %s failed: %s" % (" ".join(args), r.stderr))


def make_key(path):
    certtool("--generate-privkey", "--key-type=ecdsa", "--outfile", path)
    return path


def make_ca(d, cn):
    os.makedirs(d, exist_ok=True)
    key = make_key(os.path.join(d, "cakey.pem"))
    tmpl = os.path.join(d, "ca.tmpl")
    with open(tmpl, "w") as f:
        f.write('cn = "%s"\nca\ncert_signing_key\nexpiration_days = 2\n' % cn)
    certtool("--generate-self-signed", "--load-privkey", key, "--template", tmpl,
             "--outfile", os.path.join(d, "cacert.pem"))
    return d


def make_cert(ca, out_dir, prefix, template):
    """Writes OUT_DIR/PREFIXcert.pem and PREFIXkey.pem signed by CA's key."""
    os.makedirs(out_dir, exist_ok=True)
    key = make_key(os.path.join(out_dir, prefix + "key.pem"))
    tmpl = os.path.join(out_dir, prefix + ".tmpl")
    with open(tmpl, "w") as f:
        f.write(template + "expiration_days = 2\nsigning_key\nencryption_key\n")
    certtool("--generate-certificate", "--load-privkey", key,
             "--load-ca-certificate", os.path.join(ca, "cacert.pem"),
             "--load-ca-privkey", os.path.join(ca, "cakey.pem"),
             "--template", tmpl, "--outfile", os.path.join(out_dir, prefix + "cert.pem"))


SERVER_127 = 'organization = "Ferry"\ncn = "127.0.0.1"\nip_address = "127.0.0.1"\ntls_www_server\n'


def client_tmpl(cn):
    return 'country = "GB"\norganization = "Ferry"\ncn = "%s"\ntls_www_client\n' % cn


class Pki:
    """Directories in the libvirt layout ferryd --tls-dir and ferryctl
    --tls-dir read, all under the test's temporary directory."""

    def __init__(self):
        base = os.path.join(tmpdir(), "pki")
        self.ca = make_ca(os.path.join(base, "ca"), "Ferry Test CA")
        self.rogue_ca = make_ca(os.path.join(base, "rogue-ca"), "Someone Else's CA")
        # An agent: server certificate for 127.0.0.1, client certificate
        # for its own connections to peers.
        self.agent = self.dir("agent", server=SERVER_127, client=client_tmpl("agent"))
        self.admin = self.dir("admin", client=client_tmpl("admin1"))
        self.nocert = self.dir("nocert")
        self.rogue = self.dir("rogue", client=client_tmpl("admin1"), signer=self.rogue_ca)
        self.wronghost = self.dir("wronghost", server=(
            'organization = "Ferry"\ncn = "elsewhere.example"\ndns_name = "elsewhere.example"\n'
            'ip_address = "192.0.2.7"\ntls_www_server\n'), client=client_tmpl("agent"))

    def dir(self, name, server=None, client=None, signer=None):
        d = os.path.join(os.path.dirname(self.ca), name)
        os.makedirs(d, exist_ok=True)
        shutil.copy(os.path.join(self.ca, "cacert.pem"), os.path.join(d, "cacert.pem"))
        if server:
            make_cert(self.ca, d, "server", server)
        if client:
            make_cert(signer or self.ca, d, "client", client)
        return d


PKI = None


class TlsAgent(Agent):
    """An Agent with a TLS listener too; tls_uri is ferry+tls://."""

    def __init__(self, name, tls_dir, *extra):
        self.tls_port_file = os.path.join(tmpdir(), name + ".tls-port")
        super().__init__(name, "--tls-listen", "127.0.0.1:0", "--tls-dir", tls_dir,
                         "--tls-port-file", self.tls_port_file, *extra)
        self.tls_port = None

    def start(self):
        super().start()
        self.tls_port = int(open(self.tls_port_file).read().strip())
        return self

    @property
    def tls_uri(self):
        return "ferry+tls://127.0.0.1:%d" % self.tls_port

    def tls_ctl(self, tls_dir, *args, check=True, uri=None, timeout=120):
        """ferryctl --tls-dir TLS_DIR -c URI (default: our TLS URI)."""
        return self.ctl(*args, check=check, timeout=timeout,
                        uri=["--tls-dir", tls_dir, "-c", uri or self.tls_uri])

    def ctl(self, *args, check=True, timeout=120, uri=None):
        if isinstance(uri, list):  # options before the verb
            cmd = [os.environ.get("FERRYCTL", "ferryctl")] + uri + [str(a) for a in args]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
            if check and r.returncode != 0:
                raise AssertionError("%s failed (%d):\nstdout: %s\nstderr: %s\nagent log: %s" % (
                    " ".join(cmd), r.returncode, r.stdout, r.stderr, self.log_tail()))
            return r
        return super().ctl(*args, check=check, timeout=timeout, uri=uri)


def pki():
    global PKI
    if not CERTTOOL:
        raise Skip("certtool (gnutls-bin) not installed")
    if PKI is None:
        PKI = Pki()
    return PKI


def refused(agent, tls_dir, expect, uri=None):
    """ferryctl list fails, saying EXPECT; the agent still serves a good
    client over TLS afterwards."""
    t0 = time.time()
    r = agent.tls_ctl(tls_dir, "list", "--all", check=False, uri=uri, timeout=60)
    assert r.returncode != 0, "expected a refusal, got success: %s" % r.stdout
    assert expect in r.stderr, "expected %r in: %s" % (expect, r.stderr)
    assert time.time() - t0 < 15, "refusal took %.1fs" % (time.time() - t0)
    agent.tls_ctl(PKI.admin, "list", "--all")
    assert agent.proc.poll() is None, agent.log_tail()
    return r.stderr


def test_ctl_over_tls():
    """list, define/start, domstate, destroy over ferry+tls://."""
    need_qemu()
    p = pki()
    a = TlsAgent("ctl", p.agent).start()
    assert a.tls_ctl(p.admin, "list", "--all").stdout.count("\n") >= 2
    disk = os.path.join(a.dir, "vda.raw")
    with open(disk, "wb") as f:
        f.truncate(16 << 20)
    from ferrytest import domain_xml
    xml = os.path.join(a.dir, "t.xml")
    with open(xml, "w") as f:
        f.write(domain_xml("t", disks=[("vda", disk, "raw")]))
    a.tls_ctl(p.admin, "define", xml)
    a.tls_ctl(p.admin, "start", "t")
    assert a.tls_ctl(p.admin, "domstate", "t").stdout.strip() == "running"
    assert "t" in a.tls_ctl(p.admin, "list").stdout
    a.tls_ctl(p.admin, "destroy", "t")
    assert a.tls_ctl(p.admin, "domstate", "t").stdout.strip() == "shut off"
    # The plain TCP listener next to it works exactly as before.
    assert "t" in a.ctl("list", "--all", uri=a.uri).stdout
    a.stop()


def test_p2p_migration_over_tls():
    """Source agent to destination agent over ferry+tls:// with the
    source's client certificate: plain live, then tunnelled back; then a
    managed migration with ferryctl holding TLS connections to both."""
    need_qemu()
    p = pki()
    kw = guest_kw()
    # The destination accepts agents only (and the admin), by DN.
    src = TlsAgent("src", p.agent).start()
    dst = TlsAgent("dst", p.agent, "--tls-allowed-dn", "C=GB,O=Ferry,CN=agent",
                   "--tls-allowed-dn", "C=GB,O=Ferry,CN=admin*").start()
    try:
        start_guest(src, "g", **kw)
        hb = wait_heartbeat(src, "g", after=1)
        src.tls_ctl(p.admin, "migrate", "--live", "--p2p", "g", dst.tls_uri)
        assert dst.tls_ctl(p.admin, "domstate", "g").stdout.strip() == "running"
        assert src.qemu_pid("g") is None
        hb = assert_intact(dst, "g", hb)
        # Back, tunnelled: the migration stream travels inside the TLS
        # connection between the agents.
        dst.tls_ctl(p.admin, "migrate", "--live", "--p2p", "--tunnelled", "g", src.tls_uri,
                    timeout=300)
        assert src.state_of("g") == "running"
        hb = assert_intact(src, "g", hb)
        # Managed (ferryctl drives both agents, both over TLS).
        ferryctl = os.environ.get("FERRYCTL", "ferryctl")
        r = subprocess.run([ferryctl, "--tls-dir", p.admin, "-c", src.tls_uri, "migrate", "--live",
                            "g", dst.tls_uri], capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr + src.log_tail() + dst.log_tail()
        assert dst.state_of("g") == "running" and src.qemu_pid("g") is None
        assert_intact(dst, "g", hb)
        dst.ctl("destroy", "g")
    finally:
        src.stop()
        dst.stop()


def test_p2p_refused_by_destination():
    """A destination whose allow-list leaves out the source's DN refuses the
    peer-to-peer migration with the reason; the guest stays where it was."""
    need_qemu()
    p = pki()
    src = TlsAgent("src-r", p.agent).start()
    dst = TlsAgent("dst-r", p.agent, "--tls-allowed-dn", "*CN=admin*").start()
    try:
        start_guest(src, "g")
        r = src.tls_ctl(p.admin, "migrate", "--live", "--p2p", "g", dst.tls_uri, check=False)
        assert r.returncode != 0 and "not in this agent's allowed list" in r.stderr, r.stderr
        assert src.state_of("g") == "running" and "g" not in dst.domains()
        src.ctl("destroy", "g")
    finally:
        src.stop()
        dst.stop()


def test_refusals():
    p = pki()
    a = TlsAgent("refuse", p.agent, "--tls-allowed-dn", "C=GB,O=Ferry,CN=admin*").start()
    try:
        refused(a, p.nocert, "presented no certificate")
        refused(a, p.rogue, "not accepted: The certificate is NOT trusted")
        # The agent's client certificate is trusted but its DN not allowed here.
        msg = refused(a, p.agent, "not in this agent's allowed list")
        assert "C=GB,O=Ferry,CN=agent" in msg, msg
        # Plain frames on the TLS port, TLS on the plain port.
        refused(a, p.admin, "this port speaks TLS",
                uri="ferry+tcp://127.0.0.1:%d" % a.tls_port)
        refused(a, p.admin, "plain ferry+tcp:// port",
                uri="ferry+tls://127.0.0.1:%d" % a.port)
        # Our CA, but the certificate is for another host.
        w = TlsAgent("wronghost", p.wronghost).start()
        try:
            r = w.tls_ctl(p.admin, "list", check=False)
            assert r.returncode != 0 and "does not match" in r.stderr, r.stderr
            assert "not valid for '127.0.0.1'" in r.stderr, r.stderr
        finally:
            w.stop()
        # A client that does not trust the agent's CA refuses the agent.
        r = a.tls_ctl(p.rogue_ca, "list", check=False)
        assert r.returncode != 0 and "issuer is unknown" in r.stderr, r.stderr
        a.tls_ctl(p.admin, "list", "--all")
        log = open(a.log).read()
        for m in ("presented no certificate", "not in this agent's allowed list",
                  "this port speaks TLS"):
            assert m in log, "agent log lacks %r" % m
    finally:
        a.stop()


def test_handshake_bounded():
    """A client that connects and says nothing, or sends garbage, costs the
    agent one connection thread for at most the handshake timeout; others
    are served meanwhile."""
    p = pki()
    a = TlsAgent("silent", p.agent).start()
    try:
        t_conn = time.time()
        silent = socket.create_connection(("127.0.0.1", a.tls_port), timeout=5)
        junk = socket.create_connection(("127.0.0.1", a.tls_port), timeout=5)
        # Not random: random bytes after the first record can read as the
        # header of a long record that GnuTLS then waits for (the
        # handshake bound, not "at once"). 0xff is no record type.
        junk.sendall(b"\x16\x03\x01\x00\x05hello" + b"\xff" * 64)
        t0 = time.time()
        a.tls_ctl(p.admin, "list", "--all")
        assert time.time() - t0 < 5
        # The garbage ends at once; the silent one within the 10 s bound.
        junk.settimeout(5)
        try:
            assert junk.recv(4096) is not None
        except ConnectionResetError:
            pass
        silent.settimeout(20)
        try:
            data = silent.recv(1)
        except ConnectionResetError:
            data = b""
        assert data == b"", data
        waited = time.time() - t_conn
        assert 8 < waited < 15, "the silent client was closed after %.1fs" % waited
        assert "not finished within" in open(a.log).read() or \
            "sent nothing within" in open(a.log).read(), a.log_tail()
        a.tls_ctl(p.admin, "list", "--all")
        silent.close()
        junk.close()
    finally:
        a.stop()


def test_bad_tls_dir():
    """ferryd refuses to start with a missing certificate, naming the file."""
    p = pki()
    a = TlsAgent("badcfg", p.nocert)
    try:
        a.start()
    except AssertionError as e:
        assert "servercert.pem" in str(e), str(e)
    else:
        a.stop()
        raise AssertionError("ferryd started without a server certificate")


if __name__ == "__main__":
    r = Runner(600)
    for t in (test_refusals, test_handshake_bounded, test_bad_tls_dir, test_ctl_over_tls,
              test_p2p_migration_over_tls, test_p2p_refused_by_destination):
        r.run(t)
    r.finish()
