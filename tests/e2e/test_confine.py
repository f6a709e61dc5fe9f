#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""QEMU confined (docs/security.md, "QEMU"): every guest's QEMU runs
under seccomp (Seccomp: 2 in /proc/PID/status), and with ferryd
--qemu-user as that user's uid and gid, while migrations still work:
peer-to-peer with storage copy (per-migration key file, engine socket
directory), and tunnelled (the relay's socket). Skips where no
unprivileged user can be used (not root, or no 'nobody')."""

import os
import pwd

from ferrytest import Agent, Runner, Skip, need_qemu, tmpdir
from test_migrate import assert_intact, guest_kw, start_guest, wait_heartbeat

USER = "nobody"


def status(pid):
    out = {}
    for ln in open("/proc/%d/status" % pid):
        k, _, v = ln.partition(":")
        out[k] = v.split()
    return out


def assert_confined(agent, dom, uid, gid):
    pid = agent.qemu_pid(dom)
    assert pid, "no QEMU for %s on %s" % (dom, agent.name)
    st = status(pid)
    assert st["Seccomp"] == ["2"], "QEMU %d: Seccomp %s" % (pid, st["Seccomp"])
    if uid is not None:
        assert st["Uid"] == [str(uid)] * 4, "QEMU %d: Uid %s" % (pid, st["Uid"])
        assert st["Gid"] == [str(gid)] * 4, "QEMU %d: Gid %s" % (pid, st["Gid"])
        assert st["CapEff"] == ["0000000000000000"], st["CapEff"]


def test_sandbox_by_default():
    need_qemu()
    a = Agent("sbx").start()
    start_guest(a, "g", **guest_kw())
    wait_heartbeat(a, "g", after=1)
    assert_confined(a, "g", None, None)
    assert status(a.qemu_pid("g"))["Uid"][0] == str(os.geteuid())
    a.ctl("destroy", "g")
    a.stop()


def test_qemu_user():
    need_qemu()
    if os.geteuid() != 0:
        raise Skip("needs root: QEMU can only drop to another user from root")
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        raise Skip("no '%s' user to run QEMU as" % USER)
    uid, gid = pw.pw_uid, pw.pw_gid
    # QEMU reaches STATE/run/... as USER: every directory above the state
    # dir must let it pass (mkdtemp made ours 0700).
    os.chmod(tmpdir(), 0o711)
    src = Agent("cf-src", "--qemu-user", USER).start()
    dst = Agent("cf-dst", "--qemu-user", USER).start()
    start_guest(src, "g", **guest_kw())
    hb = wait_heartbeat(src, "g", after=1)
    assert_confined(src, "g", uid, gid)
    # Storage copy: the destination's key file and the source engine's
    # NBD socket are reached by QEMUs running as USER.
    src.ctl("migrate", "--live", "--p2p", "--copy-storage-all", "g", dst.uri, timeout=240)
    assert dst.state_of("g") == "running"
    hb = assert_intact(dst, "g", hb)
    assert_confined(dst, "g", uid, gid)
    # Tunnelled back: the source QEMU connects to the relay's socket, the
    # destination QEMU listens for the tunnel.
    r = dst.ctl("migrate", "--live", "--p2p", "--tunnelled", "g", src.uri, check=False, timeout=240)
    if "g" not in src.domains() or src.state_of("g") != "running":
        raise AssertionError("tunnelled migration back failed: %s" % r.stderr)
    assert_intact(src, "g", hb)
    assert_confined(src, "g", uid, gid)
    src.ctl("destroy", "g")
    src.stop()
    dst.stop()


if __name__ == "__main__":
    r = Runner(300)
    r.run(test_sandbox_by_default)
    r.run(test_qemu_user)
    r.finish()
