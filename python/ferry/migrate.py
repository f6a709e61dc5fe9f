# SPDX-License-Identifier: LGPL-2.1-or-later
"""The managed v3 migration as one call (docs/control-api.md, "Migration"):
Begin on the source, Prepare on the destination, Perform on the source,
Finish on the destination, Confirm on the source, with the failure rules
that keep the guest:

- Begin fails: nothing started; the error is raised.
- Prepare fails: Confirm(cancelled) on the source, which ends its job.
- Perform fails: Finish(cancelled) on the destination (it kills the
  incoming QEMU and forgets the domain), then Confirm(cancelled) on the
  source (the guest runs on there). The cancelled steps get an empty
  cookie: there is no newer one to pass.
- Finish fails after a good Perform: Confirm(cancelled) on the source,
  which resumes the guest there.
- Confirm fails after a good Finish: the guest runs on the destination and
  the source could not be cleaned up; raised with ``guest_on_destination``.

The same parameters go to every step (the agents check that they agree).
The raised error is the first failure's, never a cleanup's."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

from .client import Client, FerryError, parse_uri


class MigrationError(FerryError):
    """A managed migration that failed. ``step`` names the step that failed
    (begin, prepare, perform, finish, confirm); ``guest_on_destination``
    says where the guest runs now; ``cleanup_errors`` lists the cancelled
    steps that failed in turn (the guest's state may then need a look)."""

    def __init__(self, step: str, cause: FerryError, guest_on_destination: bool,
                 cleanup_errors: List[FerryError]) -> None:
        super().__init__(cause.code, "%s: %s" % (step, cause.message), cause.errno,
                         cause.method)
        self.step = step
        self.cause = cause
        self.guest_on_destination = guest_on_destination
        self.cleanup_errors = cleanup_errors


@dataclass
class MigrationResult:
    name: str  # the domain's name on the destination
    uri: str  # where the RAM went
    cookies: Dict[str, str] = field(default_factory=dict)  # the cookie each step returned
    statistics: Dict[str, Any] = field(default_factory=dict)  # source job.info, completed


def migrate(src: Client, dst: Client, name: str, *, flags: Sequence[str] = ("live",),
            params: Optional[Dict[str, Any]] = None, dest_host: Optional[str] = None,
            on_step: Optional[Callable[[str], None]] = None) -> MigrationResult:
    """Migrates NAME from SRC to DST (both connected) with libvirt's flags
    (``live``, ``non_shared_disk`` for --copy-storage-all, ...) and other
    PARAMS (``bandwidth``, ``migrate_disks``, ...). DEST_HOST, the address
    the source reaches the destination at, defaults to the host of DST's
    URI. ON_STEP is called with each step's name as it starts. Returns on
    success; raises MigrationError otherwise."""
    if 3 not in src.peer.versions or 3 not in dst.peer.versions:
        raise FerryError("unsupported", "both agents must speak migration protocol v3 "
                         "(source %s, destination %s)" % (src.peer.versions, dst.peer.versions))
    if src.peer.host_uuid and src.peer.host_uuid == dst.peer.host_uuid:
        raise FerryError("invalid-argument", "source and destination are the same host (%s)"
                         % src.peer.host_uuid)
    p: Dict[str, Any] = dict(params or {})
    p["flags"] = list(flags)
    if dest_host is None:
        kind, host, _ = parse_uri(dst.uri)
        dest_host = host if kind != "unix" else None
    cleanup: List[FerryError] = []

    def step(s: str) -> None:
        if on_step:
            on_step(s)

    def cancel(client: Client, method: str, **kw: Any) -> None:
        try:
            client.call(method, dict(kw, version=3, params=p, cancelled=True, cookie=""))
        except FerryError as e:
            cleanup.append(e)

    step("begin")
    try:
        begin = src.call("migrate.begin", {"name": name, "version": 3, "params": p})
    except FerryError as e:
        raise MigrationError("begin", e, False, cleanup) from e

    step("prepare")
    prep_args: Dict[str, Any] = {"version": 3, "params": p, "xml": begin.get("xml", ""),
                                 "cookie": begin.get("cookie", "")}
    if dest_host:
        prep_args["dest_host"] = dest_host
    try:
        prep = dst.call("migrate.prepare", prep_args)
    except FerryError as e:
        cancel(src, "migrate.confirm", name=name)
        raise MigrationError("prepare", e, False, cleanup) from e
    dname = str(prep.get("name") or name)
    uri = str(prep.get("uri", ""))

    step("perform")
    try:
        perf = src.call("migrate.perform", {"name": name, "version": 3, "params": p,
                                            "cookie": prep.get("cookie", ""), "uri": uri},
                        timeout=None)
    except FerryError as e:
        step("finish")
        cancel(dst, "migrate.finish", name=dname)
        step("confirm")
        cancel(src, "migrate.confirm", name=name)
        raise MigrationError("perform", e, False, cleanup) from e

    step("finish")
    try:
        fin = dst.call("migrate.finish", {"name": dname, "version": 3, "params": p,
                                          "cookie": perf.get("cookie", ""), "cancelled": False})
    except FerryError as e:
        step("confirm")
        cancel(src, "migrate.confirm", name=name)
        raise MigrationError("finish", e, False, cleanup) from e

    step("confirm")
    try:
        src.call("migrate.confirm", {"name": name, "version": 3, "params": p,
                                     "cookie": fin.get("cookie", ""), "cancelled": False})
    except FerryError as e:
        raise MigrationError("confirm", e, True, cleanup) from e

    result = MigrationResult(name=dname, uri=uri, cookies={
        "begin": str(begin.get("cookie", "")), "prepare": str(prep.get("cookie", "")),
        "perform": str(perf.get("cookie", "")), "finish": str(fin.get("cookie", ""))})
    try:
        result.statistics = src.job_info(name, completed=True)
    except FerryError:
        pass  # the job's statistics are a courtesy; the migration is done
    return result
