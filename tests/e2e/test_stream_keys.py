#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Per-migration stream keys (docs/security.md, "Migration streams"):
without --tls, the destination's NBD server and RAM port require TLS with
a pre-shared key the two agents agreed for this migration alone. A
stranger who connects while the disks are being copied is refused
(nbdinfo on the NBD port, a migration stream header on the RAM port), the
key itself opens the export, and the migration still completes with the
disks identical and the guest's memory intact. Both storage engines."""

import json
import os
import random
import socket
import subprocess
import zlib

from ferrytest import Runner, Skip, need_qemu, pid_alive, wait_for
from test_storage import (SEED, Pair, assert_identical, image_for, migrate_bg, start_big,
                          wait_bulk)

NBDINFO = "nbdinfo"


def listening_ports(pid):
    out = subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True, timeout=10).stdout
    ports = []
    for ln in out.splitlines():
        if "pid=%d," % pid in ln:
            ports.append(int(ln.split()[3].rsplit(":", 1)[1]))
    return sorted(set(ports))


def speaks_first(port):
    """The first bytes the server at PORT sends unasked (NBD's greeting),
    b"" when it waits for us (QEMU's incoming migration)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.settimeout(2)
    try:
        return s.recv(8)
    except socket.timeout:
        return b""
    finally:
        s.close()


def closed_by_peer(s, timeout=10):
    s.settimeout(timeout)
    try:
        while True:
            b = s.recv(4096)
            if not b:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def stream_keys(tag, *engine):
    need_qemu()
    if not subprocess.run(["which", NBDINFO], capture_output=True).returncode == 0:
        raise Skip("nbdinfo (libnbd-bin) not installed")
    p = Pair(tag)
    sums = start_big(p, random.Random(SEED ^ zlib.crc32(tag.encode())), data_mib=48)
    t, out = migrate_bg(p, "--copy-storage-all", "--bandwidth", "6", *engine)
    wait_bulk(p)
    dst_pid = p.dst.qemu_pid("g")
    ports = wait_for(lambda: len(listening_ports(dst_pid)) >= 2 and listening_ports(dst_pid), 20,
                     "the destination QEMU's NBD and RAM listeners")
    greet = {port: speaks_first(port) for port in ports}
    nbd = [port for port, g in greet.items() if g.startswith(b"NBDMAGIC")]
    ram = [port for port, g in greet.items() if g == b""]
    assert len(nbd) == 1 and ram, "cannot tell the listeners apart: %r" % greet
    nbd = nbd[0]
    # The key of this migration opens the NBD server and lists its exports.
    psk = os.path.join(p.dst.state, "run", "g.psk", "keys.psk")
    assert os.stat(psk).st_mode & 0o077 == 0, oct(os.stat(psk).st_mode)
    # The destination's QEMU is given fixed DH parameters beside the key,
    # so that it does not search for a prime in every Prepare.
    with open(os.path.join(os.path.dirname(psk), "dh-params.pem")) as f:
        assert "BEGIN DH PARAMETERS" in f.read()
    r = subprocess.run([NBDINFO, "--list", "--json",
                        "nbds://ferry@127.0.0.1:%d/?tls-psk-file=%s" % (nbd, psk)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    exports = [e["export-name"] for e in json.loads(r.stdout)["exports"]]
    assert len(exports) == 2, exports
    # A stranger without it gets neither the list nor any export.
    r = subprocess.run([NBDINFO, "--list", "nbd://127.0.0.1:%d" % nbd], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode != 0 and not r.stdout, (r.returncode, r.stdout, r.stderr)
    for name in exports:
        r = subprocess.run([NBDINFO, "nbd://127.0.0.1:%d/%s" % (nbd, name)], capture_output=True,
                           text=True, timeout=30)
        # QEMU answers NBD_REP_ERR_TLS_REQD; libnbd 1.14 words that as
        # "Operation not supported". Without the key requirement the same
        # request would open the export.
        assert r.returncode != 0 and "server replied with error" in r.stderr, (
            name, r.returncode, r.stderr)
        # Nor does someone who guesses at a key.
        wrong = os.path.join(p.dst.dir, "wrong.psk")
        with open(wrong, "w") as f:
            f.write("ferry:" + "00" * 32 + "\n")
        r = subprocess.run([NBDINFO, "nbds://ferry@127.0.0.1:%d/%s?tls-psk-file=%s"
                            % (nbd, name, wrong)], capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, (name, r.stdout)
    # A stranger on the RAM port sends a migration stream header: QEMU
    # expects a TLS handshake and drops the connection.
    for port in ram:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"QEVM\x00\x00\x00\x03" + b"\x00" * 64)
        assert closed_by_peer(s), "RAM port %d kept a stranger's migration stream" % port
        s.close()
    # The migration itself goes on and completes.
    t.join(240)
    r = out.get("r")
    assert r is not None and r.returncode == 0, r and (r.stderr, p.src.log_tail(), p.dst.log_tail())
    assert p.dst.state_of("g") == "running"
    for tgt, path in zip(("vda", "vdb"), sorted(sums)):
        assert_identical(path, image_for(p.dst, tgt))
    for a in (p.src, p.dst):
        run = os.path.join(a.state, "run")
        assert not [f for f in os.listdir(run) if f.endswith(".psk")], os.listdir(run)
    p.stop()


def test_stream_keys_ferry_engine():
    stream_keys("sk-f")


def test_stream_keys_qemu_engine():
    stream_keys("sk-q", "--storage-engine", "qemu")


if __name__ == "__main__":
    r = Runner(600)
    r.run(test_stream_keys_ferry_engine)
    r.run(test_stream_keys_qemu_engine)
    r.finish()
