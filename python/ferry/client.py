# SPDX-License-Identifier: LGPL-2.1-or-later
"""One connection to a ferryd: frames (docs/protocol.md), HELLO, one method
per control-API call (docs/control-api.md) and events as an iterator.

A connection carries one call at a time: the agent answers the calls of
one connection in order, so a second thread that needs an answer while a
long call (migrate.perform) runs opens its own connection. Events arrive on
the connection that subscribed; the calls made on it meanwhile still work
(EVENT frames are queued while a reply is awaited)."""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import os
import socket
import ssl
import struct
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, Iterator, List, Optional, Tuple

MAGIC = 0x46525259
FRAME_VERSION = 1
HEADER = struct.Struct(">IHHIIII")
HELLO, CALL, REPLY, ERROR, EVENT, DATA = 1, 2, 3, 4, 5, 6
MAX_JSON = 4 << 20  # WIRE_MAX_JSON: the agent refuses bigger payloads
MAX_PAYLOAD = 16 << 20  # WIRE_MAX_PAYLOAD
DEFAULT_URI = "/var/lib/ferry/ferryd.sock"
DEFAULT_TLS_DIR = "/etc/ferry/pki"
DEFAULT_PORT = 7070


class FerryError(Exception):
    """An ERROR frame, or a failure of the connection itself.

    ``code`` is the stable code (``busy``, ``not-found``, ``cancelled``, ...;
    docs/protocol.md); ``message`` is for people."""

    def __init__(self, code: str, message: str, errno_: int = 0, method: str = "") -> None:
        super().__init__("%s%s: %s" % (method + ": " if method else "", code, message))
        self.code = code
        self.message = message
        self.errno = errno_
        self.method = method


@dataclass
class Hello:
    """What the agent said about itself in its HELLO."""
    agent: str = ""
    agent_version: str = ""
    role: str = ""
    host: str = ""
    host_uuid: str = ""
    versions: List[int] = field(default_factory=list)
    features: List[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, o: Dict[str, Any]) -> "Hello":
        return cls(agent=str(o.get("agent", "")), agent_version=str(o.get("agent_version", "")),
                   role=str(o.get("role", "")), host=str(o.get("host", "")),
                   host_uuid=str(o.get("host_uuid", "")),
                   versions=[int(v) for v in o.get("versions", [])],
                   features=[str(f) for f in o.get("features", [])])


@dataclass
class Event:
    """An EVENT frame: ``event`` (``migration-completed``, ...), ``domain``,
    ``timestamp`` (ms since the epoch), ``seq`` and ``data``."""
    event: str
    domain: Optional[str]
    timestamp: int
    seq: int
    data: Dict[str, Any]

    @classmethod
    def from_json(cls, o: Dict[str, Any]) -> "Event":
        return cls(event=str(o.get("event", "")), domain=o.get("domain"),
                   timestamp=int(o.get("timestamp", 0)), seq=int(o.get("seq", 0)),
                   data=o.get("data") or {})


def parse_uri(uri: str) -> Tuple[str, str, int]:
    """("unix", PATH, 0), ("tcp", HOST, PORT) or ("tls", HOST, PORT)."""
    for scheme, kind in (("ferry+tcp://", "tcp"), ("ferry+tls://", "tls")):
        if uri.startswith(scheme):
            rest = uri[len(scheme):].split("/", 1)[0]
            if rest.startswith("["):  # [::1]:7070
                host, _, port = rest[1:].partition("]")
                port = port.lstrip(":")
            else:
                host, _, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
            return kind, host, int(port) if port else DEFAULT_PORT
    if "://" in uri:
        raise FerryError("invalid-argument", "unsupported URI %r (use a socket path, "
                         "ferry+tcp://HOST:PORT or ferry+tls://HOST:PORT)" % uri)
    return "unix", uri, 0


class Client:
    """A connection to one agent. Use :meth:`connect`; close it (or use it
    as a context manager) when done: closing the connection that owns a
    migration cleans the migration up (docs/control-api.md, "A client that
    goes away")."""

    def __init__(self, sock: socket.socket, uri: str, timeout: float) -> None:
        self._sock = sock
        self.uri = uri
        self.timeout = timeout
        self._next_id = 1
        self._lock = threading.Lock()
        self._events: Deque[Event] = collections.deque()
        self.peer = Hello()
        # events.subscribe's answer: epoch, oldest_seq, last_seq
        self.subscription: Dict[str, Any] = {}

    # ---- connection ----

    @classmethod
    def connect(cls, uri: str = DEFAULT_URI, *, timeout: float = 120.0,
                tls_dir: Optional[str] = None, host: Optional[str] = None,
                auth_key: Optional[str] = None) -> "Client":
        """Connects to URI (a unix socket path, ``ferry+tcp://HOST:PORT`` or
        ``ferry+tls://HOST:PORT``) and exchanges HELLOs. TLS uses libvirt's
        file names in TLS_DIR (default ``$FERRY_TLS_DIR`` or /etc/ferry/pki):
        ``cacert.pem``, ``clientcert.pem``, ``clientkey.pem``; the agent's
        certificate must name HOST. TIMEOUT bounds each call (seconds);
        migrate.perform has none. Over ``ferry+tcp://`` the client proves the
        shared key in AUTH_KEY (a file; default ``$FERRY_AUTH_KEY``) and
        requires the agent to prove it back (docs/protocol.md,
        "Authentication")."""
        kind, addr, port = parse_uri(uri)
        key: Optional[bytes] = None
        key_path = auth_key or os.environ.get("FERRY_AUTH_KEY")
        if kind == "tcp" and key_path:
            with open(key_path, "rb") as f:
                key = f.read().rstrip()
            if len(key) < 32:
                raise FerryError("invalid-argument", "%s: a key holds at least 32 bytes" % key_path)
        if kind == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(addr)
        else:
            sock = socket.create_connection((addr, port), timeout=timeout)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if kind == "tls":
                d = tls_dir or os.environ.get("FERRY_TLS_DIR") or DEFAULT_TLS_DIR
                ctx = ssl.create_default_context(cafile=os.path.join(d, "cacert.pem"))
                cert, key = os.path.join(d, "clientcert.pem"), os.path.join(d, "clientkey.pem")
                if os.path.exists(cert) and os.path.exists(key):
                    ctx.load_cert_chain(cert, key)
                sock = ctx.wrap_socket(sock, server_hostname=addr)
        c = cls(sock, uri, timeout)
        try:
            c._hello(host or socket.gethostname(), key)
        except BaseException:
            c.close()
            raise
        return c

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- frames ----

    def _send(self, type_: int, id_: int, obj: Dict[str, Any]) -> None:
        body = json.dumps(obj).encode()
        if len(body) > MAX_JSON:
            raise FerryError("protocol-error", "payload of %d bytes is over the agent's limit "
                             "of %d" % (len(body), MAX_JSON))
        self._sock.sendall(HEADER.pack(MAGIC, FRAME_VERSION, type_, 0, id_, len(body), 0) + body)

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self._sock.recv(n - len(buf))
            if not chunk:
                raise FerryError("io-error", "the agent closed the connection")
            buf += chunk
        return bytes(buf)

    def _recv(self) -> Tuple[int, int, Any]:
        magic, ver, type_, _flags, id_, length, _ = HEADER.unpack(self._recv_exact(HEADER.size))
        if magic != MAGIC or ver != FRAME_VERSION:
            raise FerryError("protocol-error", "not a ferry frame (magic 0x%x)" % magic)
        if length > MAX_PAYLOAD:
            raise FerryError("protocol-error", "frame of %d bytes" % length)
        body = self._recv_exact(length)
        return type_, id_, (json.loads(body) if type_ != DATA else body)

    def _await(self, id_: int, method: str, timeout: Optional[float]) -> Any:
        self._sock.settimeout(timeout)
        try:
            while True:
                type_, rid, obj = self._recv()
                if type_ == EVENT:
                    self._events.append(Event.from_json(obj))
                    continue
                if rid != id_:
                    continue  # a late answer to a call that timed out
                if type_ == ERROR:
                    e = obj.get("error", {})
                    raise FerryError(str(e.get("code", "operation-failed")),
                                     str(e.get("message", "")), int(e.get("errno", 0)), method)
                return obj
        except socket.timeout:
            raise FerryError("timeout", "no answer within %s s" % timeout, method=method) from None

    @staticmethod
    def _proof(key: bytes, side: str, nc: bytes, ns: bytes, host_uuid: str) -> bytes:
        """HMAC-SHA256 of "ferry-auth-v1" 0 SIDE 0 NC NS HOST_UUID 0."""
        msg = b"ferry-auth-v1\0" + side.encode() + b"\0" + nc + ns + host_uuid.encode() + b"\0"
        return hmac.new(key, msg, hashlib.sha256).digest()

    def _hello(self, host: str, key: Optional[bytes] = None) -> None:
        my_uuid = str(uuid.uuid4())
        hello: Dict[str, Any] = {"agent": "ferry-python", "agent_version": "0.1.0",
                                 "role": "client", "host": host[:255] or "client",
                                 "host_uuid": my_uuid, "versions": [1, 2, 3], "features": []}
        with self._lock:
            if not key:
                self._send(HELLO, 0, hello)
                self.peer = Hello.from_json(self._await(0, "hello", self.timeout))
                return
            nc = os.urandom(32)
            hello["auth"] = {"scheme": "hmac-sha256", "nonce": nc.hex()}
            self._send(HELLO, 0, hello)
            challenge = self._await(0, "hello", self.timeout).get("auth") or {}
            if "nonce" not in challenge:
                raise FerryError("permission-denied", "the agent did not authenticate itself "
                                 "(it runs without --auth-key): not trusting it", method="hello")
            ns = bytes.fromhex(str(challenge["nonce"]))
            pc = self._proof(key, "client", nc, ns, my_uuid)
            self._send(HELLO, 0, {"auth": {"scheme": "hmac-sha256", "proof": pc.hex()}})
            full = self._await(0, "hello", self.timeout)
            ps = bytes.fromhex(str((full.get("auth") or {}).get("proof", "")))
            want = self._proof(key, "server", nc, ns, str(full.get("host_uuid", "")))
            if not hmac.compare_digest(ps, want):
                raise FerryError("permission-denied", "the agent's proof of the key is wrong",
                                 method="hello")
            self.peer = Hello.from_json(full)

    # ---- calls ----

    def call(self, method: str, params: Optional[Dict[str, Any]] = None, *,
             timeout: Optional[float] = -1.0) -> Dict[str, Any]:
        """Any method; returns its result (``{}`` when it has none). A
        TIMEOUT of -1 means the connection's; None waits for ever."""
        with self._lock:
            id_ = self._next_id
            self._next_id = (self._next_id % 0xFFFFFFFF) + 1
            self._send(CALL, id_, {"method": method, "params": params or {}})
            reply = self._await(id_, method, self.timeout if timeout == -1.0 else timeout)
        result = reply.get("result")
        return result if isinstance(result, dict) else {}

    # host
    def host_info(self) -> Dict[str, Any]:
        return self.call("host.info")

    def host_capabilities(self) -> str:
        return str(self.call("host.capabilities")["xml"])

    def host_maintenance(self, enable: Optional[bool] = None) -> Dict[str, Any]:
        return self.call("host.maintenance", {} if enable is None else {"enable": enable})

    # domains
    def domain_define(self, xml: str) -> Dict[str, Any]:
        return self.call("domain.define", {"xml": xml})

    def domain_undefine(self, name: str) -> None:
        self.call("domain.undefine", {"name": name})

    def domain_start(self, name: str) -> None:
        self.call("domain.start", {"name": name})

    def domain_destroy(self, name: str) -> None:
        self.call("domain.destroy", {"name": name})

    def domain_suspend(self, name: str) -> bool:
        return bool(self.call("domain.suspend", {"name": name}).get("changed"))

    def domain_resume(self, name: str) -> bool:
        return bool(self.call("domain.resume", {"name": name}).get("changed"))

    def domain_list(self, all: bool = False) -> List[Dict[str, Any]]:
        return list(self.call("domain.list", {"all": all}).get("domains", []))

    def domain_state(self, name: str) -> Tuple[str, str]:
        r = self.call("domain.state", {"name": name})
        return str(r.get("state", "")), str(r.get("reason", ""))

    def domain_xml(self, name: str, inactive: bool = False) -> str:
        return str(self.call("domain.xml", {"name": name, "inactive": inactive})["xml"])

    def domain_info(self, name: str) -> Dict[str, Any]:
        return self.call("domain.info", {"name": name})

    def domain_blklist(self, name: str, inactive: bool = False) -> List[Dict[str, Any]]:
        return list(self.call("domain.blklist", {"name": name, "inactive": inactive})["disks"])

    def domain_monitor(self, name: str, command: str, hmp: bool = False) -> Dict[str, Any]:
        return self.call("domain.monitor", {"name": name, "command": command, "hmp": hmp})

    # images
    def vol_list(self) -> Dict[str, Any]:
        return self.call("vol.list")

    def vol_delete(self, path: str) -> None:
        self.call("vol.delete", {"path": path})

    # migration steps (the managed sequence is ferry.migrate)
    def migrate_begin(self, **params: Any) -> Dict[str, Any]:
        return self.call("migrate.begin", params)

    def migrate_prepare(self, **params: Any) -> Dict[str, Any]:
        return self.call("migrate.prepare", params)

    def migrate_perform(self, **params: Any) -> Dict[str, Any]:
        # No deadline: a capped migration of a large guest may take hours;
        # the agent cancels one that moves nothing for two minutes.
        return self.call("migrate.perform", params, timeout=None)

    def migrate_finish(self, **params: Any) -> Dict[str, Any]:
        return self.call("migrate.finish", params)

    def migrate_confirm(self, **params: Any) -> Dict[str, Any]:
        return self.call("migrate.confirm", params)

    def migrate_p2p(self, name: str, desturi: str, params: Dict[str, Any]) -> Dict[str, Any]:
        """Peer-to-peer: the source agent runs the whole sequence."""
        return self.call("migrate.p2p", {"name": name, "desturi": desturi, "params": params},
                         timeout=None)

    def migrate_start_postcopy(self, name: str) -> None:
        self.call("migrate.start_postcopy", {"name": name})

    def migrate_set_max_speed(self, name: str, bandwidth_mib: int) -> int:
        return int(self.call("migrate.set_max_speed",
                             {"name": name, "bandwidth": bandwidth_mib})["bandwidth"])

    def migrate_get_max_speed(self, name: str) -> int:
        return int(self.call("migrate.get_max_speed", {"name": name})["bandwidth"])

    def migrate_set_disk_speed(self, name: str, bandwidth_mib: int) -> int:
        """The running migration's disk copy cap (MiB/s, 0 = unlimited)."""
        return int(self.call("migrate.set_disk_speed",
                             {"name": name, "bandwidth_disk": bandwidth_mib})["bandwidth_disk"])

    def migrate_get_disk_speed(self, name: str) -> int:
        return int(self.call("migrate.get_disk_speed", {"name": name})["bandwidth_disk"])

    def migrate_set_max_downtime(self, name: str, downtime_ms: int) -> int:
        return int(self.call("migrate.set_max_downtime",
                             {"name": name, "downtime": downtime_ms})["downtime"])

    def migrate_get_max_downtime(self, name: str) -> int:
        return int(self.call("migrate.get_max_downtime", {"name": name})["downtime"])

    def migrate_set_compression_cache(self, name: str, cache_size: int) -> int:
        return int(self.call("migrate.set_compression_cache",
                             {"name": name, "cache_size": cache_size})["cache_size"])

    def migrate_get_compression_cache(self, name: str) -> int:
        return int(self.call("migrate.get_compression_cache", {"name": name})["cache_size"])

    # jobs
    def job_info(self, name: str, completed: bool = False) -> Dict[str, Any]:
        return self.call("job.info", {"name": name, "completed": completed})

    def job_abort(self, name: str) -> None:
        self.call("job.abort", {"name": name})

    # events
    def events(self, since: Optional[int] = None, *,
               timeout: Optional[float] = None) -> Iterator[Event]:
        """Subscribes this connection and yields its events as they come:
        with SINCE, first the kept events after that seq (docs/control-api.md,
        "Jobs and events"). The iterator ends when TIMEOUT seconds pass with
        no event (None: never) or the agent closes the connection. Other
        calls on this connection still work between events."""
        params: Dict[str, Any] = {} if since is None else {"since": since}
        self.subscription = self.call("events.subscribe", params)
        while True:
            while self._events:
                yield self._events.popleft()
            with self._lock:
                if self._events:
                    continue
                self._sock.settimeout(timeout)
                try:
                    type_, _id, obj = self._recv()
                except socket.timeout:
                    return
                except FerryError as e:
                    if e.code == "io-error":
                        return
                    raise
            if type_ == EVENT:
                yield Event.from_json(obj)
