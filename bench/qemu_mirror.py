# SPDX-License-Identifier: LGPL-2.1-or-later
"""QEMU's own storage mirror, driven the way libvirt drives it for
--copy-storage-all: the baseline ferry's engine is measured against.

Destination: a QEMU started with -incoming defer and the target image as
-blockdev (file node p-vda under raw node f-vda, discard=unmap so zero
writes keep holes), an NBD server and a writable NBD export of f-vda. The
server listens (LISTEN) either as libvirt starts it, nbd-server-start on
127.0.0.1 ("tcp"), or as ferryd does, on a socket made with TCP_NODELAY and
passed to QEMU with getfd ("tcp-nodelay"; QEMU 7.2 sets no TCP_NODELAY on
the connections it accepts, and its replies then wait for delayed ACKs),
or on a unix socket ("unix"). Source: a QEMU with the source image as -blockdev; blockdev-add of
an NBD client node, blockdev-mirror sync=full into it, wait for
BLOCK_JOB_READY, then block-job-cancel (a ready mirror completes without
pivot, as libvirt does once RAM has moved) and blockdev-del.

Also runnable alone:  python3 bench/qemu_mirror.py SOURCE.raw TARGET.raw"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import QMP, BenchError, free_tcp_port, proc_cpu_seconds, stop_pid  # noqa: E402

DEFAULT_QEMU = "qemu-system-x86_64"
# What ferryd puts in the environment of the QEMUs it starts (qemu/qemu.c,
# QEMU_MALLOC_TUNABLES): NBD request buffers stay in a heap that is not
# trimmed after every request.
FERRYD_MALLOC = "glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=33554432"


def blockdev_args(path, disk="vda", discard=False, read_only=False):
    """-blockdev options for a raw image: protocol node p-DISK under format
    node f-DISK, the node names libvirt-style tools use."""
    proto = {"driver": "file", "filename": path, "node-name": f"p-{disk}",
             "read-only": read_only}
    fmt = {"driver": "raw", "file": f"p-{disk}", "node-name": f"f-{disk}",
           "read-only": read_only}
    if discard:
        proto["discard"] = "unmap"
        fmt["discard"] = "unmap"
    return ["-blockdev", json.dumps(proto), "-blockdev", json.dumps(fmt)]


class QemuProcess:
    """One QEMU with a QMP socket in WORKDIR; its log is WORKDIR/NAME.log."""

    def __init__(self, workdir, name, extra_args, qemu=DEFAULT_QEMU, timeout=30.0, env=None):
        self.qmp_path = os.path.join(workdir, f"{name}.qmp")
        self.log_path = os.path.join(workdir, f"{name}.log")
        argv = [qemu, "-nodefaults", "-display", "none", "-machine", "none",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off"] + extra_args
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT,
                                         env=dict(os.environ, **env) if env else None)
        self.pid = self.proc.pid
        try:
            self.qmp = QMP(self.qmp_path, timeout=timeout)
        except BenchError as e:
            self.stop()
            raise BenchError(f"{name}: {e}; log: {self.log_tail()}") from e

    def cpu(self):
        return proc_cpu_seconds(self.pid)

    def log_tail(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-600:].decode(errors="replace").strip()
        except OSError:
            return ""

    def stop(self, timeout=10.0):
        """quit over QMP, then SIGTERM/SIGKILL by PID if it lingers."""
        if getattr(self, "qmp", None):
            try:
                self.qmp.execute("quit", timeout=5)
            except BenchError:
                pass
            self.qmp.close()
            self.qmp = None
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stop_pid(self.pid)
        try:
            os.unlink(self.qmp_path)
        except OSError:
            pass


class Destination:
    """The destination side of a storage migration: QEMU -incoming defer
    serving TARGET (a fresh image of the source's size) as a writable NBD
    export named DISK on 127.0.0.1:PORT."""

    LISTEN = ("tcp", "tcp-nodelay", "unix")

    MALLOC = ("ferryd", "default")

    def __init__(self, workdir, target, disk="vda", qemu=DEFAULT_QEMU, listen="tcp-nodelay",
                 malloc="ferryd"):
        self.disk = disk
        self.listen = listen
        self.port = free_tcp_port()
        self.socket_path = os.path.join(workdir, f"dst-{disk}.nbd")
        self.qemu = QemuProcess(workdir, f"dst-{disk}",
                                ["-incoming", "defer"] + blockdev_args(target, disk, True),
                                qemu=qemu,
                                env={"GLIBC_TUNABLES": FERRYD_MALLOC} if malloc == "ferryd"
                                else None)
        try:
            self.qemu.qmp.execute("nbd-server-start", {"addr": self._listen_addr()})
            self.qemu.qmp.execute("block-export-add", {
                "type": "nbd", "id": f"export-{disk}", "node-name": f"f-{disk}",
                "name": disk, "writable": True})
        except BenchError:
            self.qemu.stop()
            raise

    def _listen_addr(self):
        if self.listen == "unix":
            return {"type": "unix", "data": {"path": self.socket_path}}
        if self.listen == "tcp":
            return {"type": "inet", "data": {"host": "127.0.0.1", "port": str(self.port)}}
        with socket.socket() as lsock:
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lsock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            lsock.bind(("127.0.0.1", self.port))
            lsock.listen(16)
            self.qemu.qmp.execute("getfd", {"fdname": "nbd-listen"}, pass_fd=lsock.fileno())
        return {"type": "fd", "data": {"str": "nbd-listen"}}

    @property
    def uri(self):
        if self.listen == "unix":
            return f"nbd+unix:///{self.disk}?socket={self.socket_path}"
        return f"nbd://127.0.0.1:{self.port}/{self.disk}"

    @property
    def server(self):
        """The export's address as QEMU's blockdev-add nbd wants it."""
        if self.listen == "unix":
            return {"type": "unix", "path": self.socket_path}
        return {"type": "inet", "host": "127.0.0.1", "port": str(self.port)}

    def cpu(self):
        return self.qemu.cpu()

    def stop(self):
        """Ends the export and QEMU; the target file is complete after."""
        try:
            self.qemu.qmp.execute("block-export-del", {"id": f"export-{self.disk}"})
            self.qemu.qmp.execute("nbd-server-stop")
        except BenchError:
            pass
        self.qemu.stop()


class Source:
    """A source QEMU with SOURCE as disk DISK (no guest: the mirror needs
    only the block layer)."""

    def __init__(self, workdir, source, disk="vda", qemu=DEFAULT_QEMU):
        self.disk = disk
        self.qemu = QemuProcess(workdir, f"src-{disk}", blockdev_args(source, disk), qemu=qemu)

    def cpu(self):
        return self.qemu.cpu()

    def mirror(self, dest, timeout=1800.0):
        """Mirrors the disk into DEST's export. Returns seconds to READY and
        to COMPLETED after the cancel, measured from blockdev-mirror."""
        qmp = self.qemu.qmp
        node = f"mirror-target-{self.disk}"
        job = f"mirror-{self.disk}"
        qmp.execute("blockdev-add", {
            "driver": "nbd", "node-name": node, "export": dest.disk, "server": dest.server})
        try:
            start = time.monotonic()
            qmp.execute("blockdev-mirror", {"job-id": job, "device": f"f-{self.disk}",
                                            "target": node, "sync": "full"})
            ev = qmp.wait_event(("BLOCK_JOB_READY", "BLOCK_JOB_COMPLETED"), timeout,
                                lambda e: e["data"].get("device") == job)
            if ev["event"] != "BLOCK_JOB_READY":
                raise BenchError(f"mirror: job ended before READY: {ev['data']}")
            ready = time.monotonic() - start
            qmp.execute("block-job-cancel", {"device": job})
            ev = qmp.wait_event(("BLOCK_JOB_COMPLETED", "BLOCK_JOB_CANCELLED"), 120,
                                lambda e: e["data"].get("device") == job)
            if ev["data"].get("error"):
                raise BenchError(f"mirror: {ev['data']['error']}")
            done = time.monotonic() - start
        finally:
            try:
                qmp.execute("blockdev-del", {"node-name": node})
            except BenchError:
                pass
        return {"ready_s": ready, "done_s": done,
                "bytes": ev["data"].get("len", 0)}

    def stop(self):
        self.qemu.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source")
    ap.add_argument("target", help="created (sparse, same size) if missing")
    ap.add_argument("--qemu", default=DEFAULT_QEMU)
    ap.add_argument("--malloc", choices=Destination.MALLOC, default="ferryd",
                    help="the destination QEMU's glibc malloc settings: ferryd's (default) "
                         "or glibc's defaults")
    ap.add_argument("--listen", choices=Destination.LISTEN, default="tcp-nodelay",
                    help="how the destination's NBD server listens (default: tcp-nodelay, "
                         "as ferryd; tcp is libvirt's way)")
    args = ap.parse_args()
    if not os.path.exists(args.target):
        with open(args.target, "wb") as f:
            f.truncate(os.path.getsize(args.source))
    with tempfile.TemporaryDirectory(prefix="ferry-qmirror-") as wd:
        dest = Destination(wd, args.target, qemu=args.qemu, listen=args.listen,
                           malloc=args.malloc)
        src = None
        try:
            src = Source(wd, args.source, qemu=args.qemu)
            cpu0 = src.cpu() + dest.cpu()
            r = src.mirror(dest)
            r["cpu_s"] = src.cpu() + dest.cpu() - cpu0
        finally:
            if src:
                src.stop()
            dest.stop()
    size = os.path.getsize(args.source)
    print(f"mirrored {size / 1e6:.0f} MB: ready {r['ready_s']:.2f} s "
          f"({size / 1e6 / r['ready_s']:.0f} MB/s), completed {r['done_s']:.2f} s, "
          f"CPU {r['cpu_s']:.2f} s")


if __name__ == "__main__":
    main()
