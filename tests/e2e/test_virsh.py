#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A table of virsh habits (issue 18 point 6), each row checked through
ferryctl against a real ferryd and real QEMU guests, as a virsh user would
type it. One agent serves every row but the migration ones, which need a
second agent to migrate to; the guests are small so the whole table stays
well under a minute."""

import os
import re
import signal
import subprocess
import threading
import time

from ferrytest import (FERRYCTL, GUEST_KERNEL, Agent, Runner, Skip, define, make_disk, need_qemu,
                       storage_roots_default,
                       tmpdir, wait_for)

MIB = 1 << 20
UUID_ON = "6f1c4d2e-0b8a-4c55-9d0e-2a7b3c4d5e61"
UUID_OFF = "6f1c4d2e-0b8a-4c55-9d0e-2a7b3c4d5e62"
# libvirt's reasons for a domain that is off (virsh domstate --reason).
SHUTOFF_REASONS = ("unknown", "shutdown", "destroyed", "crashed", "migrated", "saved", "failed",
                   "from snapshot", "daemon")

agents = {}


def guest_kw(rate=4, size=16, memory=64):
    if not GUEST_KERNEL or not os.path.exists(GUEST_KERNEL):
        raise Skip("test guest kernel not built")
    return dict(kernel=GUEST_KERNEL, cmdline="rate=%d size=%d" % (rate, size), memory_mib=memory)


def src():
    if "src" not in agents:
        need_qemu()
        agents["src"] = Agent("virsh-src").start()
    return agents["src"]


def dst():
    if "dst" not in agents:
        agents["dst"] = Agent("virsh-dst").start()
    return agents["dst"]


def ctl_raw(*args):
    """ferryctl with no agent at all (help must not need one)."""
    return subprocess.run([FERRYCTL, "-c", os.path.join(tmpdir(), "no-agent.sock")] +
                          list(args), capture_output=True, text=True, timeout=10)


def table(text):
    """virsh's table: the header's column names and the rows' words."""
    lines = [l for l in text.splitlines() if l.strip() and not set(l.strip()) <= {"-"}]
    return lines[0].split(), [l.split(None, 2) for l in lines[1:]]


# ---- the rows ----

def test_list():
    """list: an Id column, "shut off", --all, --inactive, --name, --uuid."""
    a = src()
    define(a, "v-on", uuid=UUID_ON, **guest_kw())
    define(a, "v-off", uuid=UUID_OFF, **guest_kw())
    a.ctl("start", "v-on")
    pid = a.qemu_pid("v-on")
    head, rows = table(a.ctl("list").stdout)
    assert head == ["Id", "Name", "State"], head
    assert ["%d" % pid, "v-on", "running"] in rows and not [r for r in rows if r[1] == "v-off"], rows
    head, rows = table(a.ctl("list", "--all").stdout)
    assert ["-", "v-off", "shut off"] in rows and ["%d" % pid, "v-on", "running"] in rows, rows
    head, rows = table(a.ctl("list", "--inactive").stdout)
    assert [r[1] for r in rows] == ["v-off"], rows
    assert a.ctl("list", "--name").stdout.split() == ["v-on"]
    assert set(a.ctl("list", "--all", "--name").stdout.split()) == {"v-on", "v-off"}
    assert a.ctl("list", "--inactive", "--uuid").stdout.split() == [UUID_OFF]
    a.ctl("destroy", "v-on")
    a.ctl("undefine", "v-on")
    a.ctl("undefine", "v-off")


def test_named_tuning_words():
    """migrate-setspeed --bandwidth N, migrate-setmaxdowntime --downtime N,
    --domain NAME; the positional forms still work."""
    a = src()
    define(a, "tune", **guest_kw())
    a.ctl("start", "tune")
    for args, want in ((("--domain", "tune", "--bandwidth", "7"), "7"),
                       (("tune", "--bandwidth=9"), "9"),
                       (("--bandwidth", "10", "tune"), "10"),
                       (("tune", "11"), "11")):
        a.ctl("migrate-setspeed", *args)
        assert a.ctl("migrate-getspeed", "--domain", "tune").stdout == want + "\n", args
    a.ctl("migrate-setmaxdowntime", "tune", "--downtime", "250")
    assert a.ctl("migrate-getmaxdowntime", "tune").stdout == "250\n"
    a.ctl("migrate-setmaxdowntime", "--domain", "tune", "300")
    assert a.ctl("migrate-getmaxdowntime", "tune").stdout == "300\n"
    r = a.ctl("migrate-setspeed", "tune", "--bandwidth", "-1", check=False)
    assert r.returncode == 2 and "not a non-negative integer" in r.stderr, r.stderr
    a.ctl("destroy", "tune")
    a.ctl("undefine", "tune")


def help_verbs():
    words = []
    for line in ctl_raw("--help").stdout.splitlines():
        m = re.match(r"^  ([a-z][a-z-]+)( |$)", line)
        if m:
            words.append(m.group(1))
    return words


def test_help_every_verb():
    """ferryctl help VERB and VERB --help, for every verb, without an agent."""
    verbs = help_verbs()
    assert len(verbs) >= 35 and "migrate" in verbs and "list" in verbs, verbs
    for v in verbs:
        h = ctl_raw("help", v)
        assert h.returncode == 0 and h.stdout.startswith("Usage: ferryctl"), (v, h.stdout, h.stderr)
        assert re.search(r"\b%s\b" % re.escape(v), h.stdout.splitlines()[0]), (v, h.stdout)
        for args in ((v, "--help"), (v, "x", "--help")):
            o = ctl_raw(*args)
            assert o.returncode == 0 and o.stdout == h.stdout, (args, o.stdout, o.stderr)
    assert "--bandwidth" in ctl_raw("help", "migrate-setspeed").stdout
    assert "--desturi" in ctl_raw("migrate", "--help").stdout
    r = ctl_raw("help", "no-such-verb")
    assert r.returncode == 2 and "unknown verb" in r.stderr, r.stderr


def test_domstate_reason():
    """domstate --reason: libvirt's reasons (booted, user, unpaused,
    destroyed, crashed; migrated in the migration row)."""
    a = src()
    define(a, "st", **guest_kw())
    off = a.ctl("domstate", "st", "--reason").stdout
    assert off.startswith("shut off (") and off[10:-2] in SHUTOFF_REASONS, off
    a.ctl("start", "st")
    assert a.ctl("domstate", "st", "--reason").stdout == "running (booted)\n"
    assert a.ctl("domstate", "--domain", "st").stdout == "running\n"
    a.ctl("suspend", "st")
    assert a.ctl("domstate", "st", "--reason").stdout == "paused (user)\n"
    a.ctl("resume", "st")
    assert a.ctl("domstate", "st", "--reason").stdout == "running (unpaused)\n"
    a.ctl("destroy", "st")
    assert a.ctl("domstate", "st", "--reason").stdout == "shut off (destroyed)\n"
    # QEMU killed behind ferryd's back: crashed, as libvirt says.
    a.ctl("start", "st")
    os.kill(a.qemu_pid("st"), signal.SIGKILL)
    wait_for(lambda: a.ctl("domstate", "st", "--reason").stdout == "shut off (crashed)\n", 10,
             "the killed guest to be shut off (crashed)")
    a.ctl("undefine", "st")


def test_dev_file_and_blklist_columns():
    """dumpxml keeps type='file' for an image under /dev; domblklist
    --details has virsh's Type Device Target Source, ferry's extras after."""
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        raise Skip("no writable /dev/shm")
    # /dev/shm is no storage root of the shared agents: an agent of its own.
    a = Agent("virsh-dev", storage_roots=storage_roots_default() + ["/dev/shm"]).start()
    img = make_disk("/dev/shm/ferry-virsh-%d.raw" % os.getpid(), 4 * MIB)
    try:
        define(a, "devfile", disks=[("vda", img, "raw")], **guest_kw())
        xml = a.ctl("dumpxml", "devfile").stdout
        assert re.search(r"<disk type=[\"']file[\"'] device=[\"']disk[\"']>", xml), xml
        assert re.search(r"<source file=[\"']%s[\"']/>" % re.escape(img), xml), xml
        assert "<source dev=" not in xml, xml
        head, rows = table(a.ctl("domblklist", "devfile", "--details").stdout)
        assert head[:4] == ["Type", "Device", "Target", "Source"], head
        assert head[4:] == ["Format", "Copy"], head
        words = rows[0][0:2] + rows[0][2].split()
        assert words[:4] == ["file", "disk", "vda", img] and words[4] == "raw", words
        a.ctl("undefine", "devfile")
    finally:
        os.unlink(img)
        a.stop()


def jobinfo_text(agent, dom):
    return agent.ctl("domjobinfo", dom, "--completed").stdout


def check_units(text):
    """virsh's rows: sizes as N.NNN UNIT, rates in UNIT/s, times in ms."""
    unit = r"\d+\.\d{3} (B|KiB|MiB|GiB|TiB)"
    assert re.search(r"^Memory bandwidth: +%s/s$" % unit, text, re.M), text
    assert re.search(r"^Data total: +%s$" % unit, text, re.M), text
    assert re.search(r"^Time elapsed: +\d+ +ms$", text, re.M), text
    assert re.search(r"^Total downtime: +\d+ +ms$", text, re.M), text


def stats_labels(text):
    return [l.split(":")[0] for l in text.splitlines() if ":" in l and not l.startswith("Migr")]


def test_migrate_named_uris_and_verbose():
    """migrate --domain X --desturi U with a host:port and a ferry://host:port
    destination; --verbose prints the same final statistics from a
    persistent and from a transient source, and no step lines without
    --debug; domjobinfo carries virsh's units."""
    a, b = src(), dst()
    define(a, "mv", **guest_kw())
    a.ctl("start", "mv")
    # A persistent source, the destination as host:port.
    r = a.ctl("migrate", "--live", "--verbose", "--domain", "mv", "--desturi",
              "127.0.0.1:%d" % b.port, timeout=60)
    assert re.search(r"^Job type: +Completed$", r.stdout, re.M), (r.stdout, r.stderr)
    assert "[v3]" not in r.stderr, r.stderr
    check_units(r.stdout)
    assert b.ctl("domstate", "mv", "--reason").stdout == "running (migrated)\n"
    assert a.ctl("domstate", "mv", "--reason").stdout == "shut off (migrated)\n"
    assert b.ctl_json("dominfo", "mv")["persistent"] is False
    # Back from the transient copy (forgotten there once it left), the
    # destination as ferry://host:port, positional words.
    back = b.ctl("migrate", "--live", "--verbose", "mv", "ferry://127.0.0.1:%d" % a.port,
                 timeout=60)
    assert re.search(r"^Job type: +Completed$", back.stdout, re.M), (back.stdout, back.stderr)
    assert "mv" not in b.domains()
    # The transient copy left nothing behind there.
    assert b.ctl("domstate", "mv", "--reason", check=False).returncode == 1
    assert stats_labels(back.stdout) == stats_labels(r.stdout), (r.stdout, back.stdout)
    check_units(back.stdout)
    # --debug keeps the step lines.
    dbg = a.ctl("--debug", "migrate", "--live", "mv", "127.0.0.1:%d" % b.port, timeout=60)
    assert "[v3] confirm" in dbg.stderr, dbg.stderr
    b.ctl("destroy", "mv")
    a.ctl("undefine", "mv")


def test_cancelled_job():
    """domjobinfo --completed says Job type: Cancelled after domjobabort."""
    a, b = src(), dst()
    define(a, "cx", **guest_kw(rate=64, size=24))
    a.ctl("start", "cx")
    out = {}

    def run():
        out["r"] = a.ctl("migrate", "--live", "--bandwidth", "1", "cx", b.uri, check=False,
                         timeout=60)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    wait_for(lambda: a.ctl_json("domjobinfo", "cx").get("type") == "unbounded", 20,
             "the migration to start")
    a.ctl("domjobabort", "--domain", "cx")
    t.join(30)
    assert not t.is_alive() and out["r"].returncode != 0, out
    text = a.ctl("domjobinfo", "--domain", "cx", "--completed").stdout
    assert re.search(r"^Job type: +Cancelled$", text, re.M), text
    assert a.ctl_json("domjobinfo", "cx", "--completed")["status"] == "cancelled"
    assert a.ctl("domstate", "cx").stdout == "running\n"
    a.ctl("destroy", "cx")
    a.ctl("undefine", "cx")


ALL = [test_help_every_verb, test_list, test_named_tuning_words, test_domstate_reason,
       test_dev_file_and_blklist_columns, test_migrate_named_uris_and_verbose, test_cancelled_job]


def main():
    import sys
    print("files in %s" % tmpdir(), flush=True)
    named = [t for t in ALL if t.__name__ in sys.argv[1:]] or ALL
    r = Runner(90)
    try:
        for t in named:
            r.run(t)
    finally:
        for ag in agents.values():
            for name in list(ag.domains()):
                if ag.state_of(name) != "shutoff":
                    ag.ctl("destroy", name, check=False)
            ag.stop()
    r.finish()


if __name__ == "__main__":
    main()
