# SPDX-License-Identifier: LGPL-2.1-or-later
"""The test guest (tests/guest/multiboot) seen from a Python benchmark: QEMU options
that boot it, the accelerator to use, and a parser for its serial log. The
C side of the same is tests/guest/multiboot/guest.{c,h}; keep the two in step.

Extension point for the migration and scaling benchmarks: boot a source
QEMU with guest_args(), migrate it, and read heartbeats and the CORRUPT
count from the destination's serial log with parse_log()."""

import os
import re

HEARTBEAT = re.compile(r"ferry-guest: alive (\d+) dirtied (\d+) MiB errors (\d+)")


def accel():
    """Like guest_accel() in guest.c: $FERRY_TEST_ACCEL, else TCG on hosts
    whose /dev/kvm is PVM (it cannot run this guest), else kvm:tcg."""
    env = os.environ.get("FERRY_TEST_ACCEL")
    if env:
        return env
    if os.path.exists("/sys/module/kvm_pvm") or not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    return "kvm:tcg"


def guest_args(kernel, serial_path, rate_mib=64, size_mib=64, pattern="seq", mem_mib=256,
               touch="word", extra=""):
    """QEMU options (after the binary) that boot the guest with COM1 into
    SERIAL_PATH; EXTRA is appended to the guest's command line. The caller
    adds -qmp, disks and -incoming."""
    append = f"rate={rate_mib} size={size_mib} pattern={pattern} touch={touch} {extra}".strip()
    return ["-nodefaults", "-display", "none", "-machine", "pc", "-accel", accel(),
            "-m", str(mem_mib), "-smp", "1", "-no-reboot",
            "-serial", f"file:{serial_path}", "-kernel", kernel, "-append", append]


def parse_log(text):
    """What the guest said so far: booted, ready, heartbeats, alive (last
    counter), dirtied_mib, errors, corrupt_lines, fatal. A line without its
    newline yet is ignored."""
    st = {"booted": False, "ready": False, "fatal": False, "heartbeats": 0, "alive": 0,
          "dirtied_mib": 0, "errors": 0, "corrupt_lines": 0}
    complete = text[:text.rfind("\n") + 1] if "\n" in text else ""
    for line in complete.splitlines():
        i = line.find("ferry-guest: ")
        if i < 0:
            continue
        msg = line[i + len("ferry-guest: "):].rstrip("\r")
        m = HEARTBEAT.match(line[i:])
        if m:
            st["heartbeats"] += 1
            st["alive"], st["dirtied_mib"], st["errors"] = map(int, m.groups())
        elif msg.startswith("booted "):
            st["booted"] = True
        elif msg.startswith("ready"):
            st["ready"] = True
        elif msg.startswith("CORRUPT"):
            st["corrupt_lines"] += 1
        elif msg.startswith("FATAL"):
            st["fatal"] = True
    return st


def read_log(path):
    try:
        with open(path, "rb") as f:
            return parse_log(f.read().decode(errors="replace"))
    except FileNotFoundError:
        return parse_log("")
