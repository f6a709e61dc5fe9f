# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared pieces of ferry's benchmarks: a small QMP client, processes with
their CPU time, machine facts, statistics, JSON results and gnuplot charts.

Plain Python 3 standard library only. Every wait has a deadline, and every
process started here is stopped by its PID (never by name)."""

import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
GIB = 1024 ** 3
MIB = 1024 ** 2


class BenchError(Exception):
    """A benchmark step failed; the message says which and why."""


# ---------------------------------------------------------------- QMP

class QMP:
    """A synchronous QMP client over a unix socket. Events that arrive
    while waiting for a reply are kept for wait_event()."""

    def __init__(self, path, timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError as e:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise BenchError(f"qmp: cannot connect to {path}: {e}") from e
                time.sleep(0.05)
        self.file = self.sock.makefile("rb")
        self.events = []
        self.next_id = 1
        greeting = self._read(deadline)
        if "QMP" not in greeting:
            raise BenchError(f"qmp: unexpected greeting {greeting}")
        self.execute("qmp_capabilities")

    def _read(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise BenchError("qmp: timed out")
        self.sock.settimeout(left)
        try:
            line = self.file.readline()
        except socket.timeout as e:
            raise BenchError("qmp: timed out") from e
        if not line:
            raise BenchError("qmp: connection closed by QEMU")
        return json.loads(line)

    def execute(self, command, arguments=None, timeout=30.0, pass_fd=None):
        """Runs COMMAND and returns its "return" value; raises BenchError
        with QEMU's message on an error reply. PASS_FD travels with the
        command as SCM_RIGHTS (for getfd)."""
        cid = self.next_id
        self.next_id += 1
        msg = {"execute": command, "id": cid}
        if arguments is not None:
            msg["arguments"] = arguments
        data = json.dumps(msg).encode() + b"\n"
        if pass_fd is None:
            self.sock.sendall(data)
        else:
            sent = socket.send_fds(self.sock, [data], [pass_fd])
            self.sock.sendall(data[sent:])
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if "event" in reply:
                self.events.append(reply)
                continue
            if reply.get("id") != cid:
                continue
            if "error" in reply:
                raise BenchError(f"qmp: {command}: {reply['error'].get('desc')}")
            return reply.get("return")

    def wait_event(self, names, timeout=600.0, match=None):
        """Returns the first event whose name is in NAMES (and for which
        MATCH(event) is true), consuming it."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev["event"] in names and (match is None or match(ev)):
                    return self.events.pop(i)
            reply = self._read(deadline)
            if "event" in reply:
                self.events.append(reply)

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------- processes

def proc_cpu_seconds(pid):
    """User + system CPU seconds of a live process (all its threads)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read().decode()
    # The command name (field 2) may hold spaces: split after its ')'.
    fields = data[data.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def run_timed(argv, timeout=3600.0, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL):
    """Runs ARGV to completion. Returns (wall seconds, CPU seconds, output
    text or None). CPU comes from wait4's rusage of the child."""
    capture = stdout == subprocess.PIPE
    start = time.monotonic()
    with tempfile.TemporaryFile() as errf, tempfile.TemporaryFile() as outf:
        p = subprocess.Popen(argv, stdin=stdin, stdout=outf if capture else stdout,
                             stderr=errf)
        deadline = start + timeout
        try:
            while True:
                pid, status, ru = os.wait4(p.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    raise BenchError(f"{argv[0]}: timed out after {timeout:.0f} s")
                time.sleep(0.002)
        except BaseException:
            # Timeout or Ctrl-C: never leave the child behind.
            os.kill(p.pid, signal.SIGKILL)
            os.wait4(p.pid, 0)
            raise
        wall = time.monotonic() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        out = None
        if capture:
            outf.seek(0)
            out = outf.read().decode(errors="replace")
        if p.returncode != 0:
            errf.seek(0)
            msg = errf.read().decode(errors="replace").strip()[-800:]
            raise BenchError(f"{' '.join(argv)}: exit {p.returncode}: {msg}")
    return wall, ru.ru_utime + ru.ru_stime, out


def stop_pid(pid, timeout=10.0):
    """SIGTERM, then SIGKILL after TIMEOUT; reaps. Only for our children."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def stop_foreign_pid(pid, timeout=10.0):
    """SIGTERM, then SIGKILL after TIMEOUT, for a process of ours that is
    not our child (a QEMU an agent of ours started): its end is seen in
    /proc, not by waitpid."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return  # exited; its parent reaps it
        except (OSError, IndexError):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def free_tcp_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tool_version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
        return out.strip().splitlines()[0] if out.strip() else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "not found"


def machine_facts(workdir, qemu="qemu-system-x86_64"):
    """What the figures depend on: CPU, cores, memory, kernel, tools."""
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    fstype = "unknown"
    best = ""
    with open("/proc/mounts") as f:
        for line in f:
            dev, mnt, fs = line.split()[:3]
            if workdir.startswith(mnt) and len(mnt) > len(best):
                best, fstype = mnt, fs
    return {
        "cpu_model": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": platform.platform(),
        "workdir_fs": fstype,
        "qemu": tool_version([qemu, "--version"]),
        "qemu_img": tool_version(["qemu-img", "--version"]),
        "nbdcopy": tool_version(["nbdcopy", "--version"]),
        "python": platform.python_version(),
        "kvm_pvm": os.path.exists("/sys/module/kvm_pvm"),
        "loadavg_start": list(os.getloadavg()),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


# --------------------------------------------------------- statistics

def summarize(values):
    """Median, min, max and relative spread ((max-min)/median)."""
    if not values:
        return None
    med = statistics.median(values)
    return {
        "median": med,
        "min": min(values),
        "max": max(values),
        "spread": (max(values) - min(values)) / med if med else 0.0,
        "n": len(values),
    }


def write_json(path, doc):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


# Distinct bar colours (ten, then they repeat).
PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
           "#ff9da7", "#9c755f", "#bab0ac"]


def gnuplot_bars(png, title, ylabel, groups, series, values, errors=None, log=False,
                 colors=None):
    """Clustered bar chart: one cluster per group (x), one bar per series.
    VALUES[g][s] is a number or None; ERRORS[g][s] is (low, high) or None.
    LOG draws a logarithmic y axis (for bounds far above the engines);
    COLORS maps a series to its colour, so charts of one run agree.
    Returns the PNG path, or None when gnuplot is missing."""
    if tool_version(["gnuplot", "--version"]) == "not found":
        return None
    dat = png[:-4] + ".dat"
    with open(dat, "w") as f:
        f.write("# group " + " ".join(f'"{s}" lo hi' for s in series) + "\n")
        for g in groups:
            cols = [f'"{g}"']
            for s in series:
                v = values[g].get(s)
                lo, hi = (errors[g].get(s) if errors and errors[g].get(s) else (v, v))
                if v is None:
                    cols += ["-", "-", "-"]
                else:
                    cols += [f"{v:.3f}", f"{lo:.3f}", f"{hi:.3f}"]
            f.write(" ".join(cols) + "\n")
    plots = []
    for i, s in enumerate(series):
        col = 2 + 3 * i
        xt = ":xtic(1)" if i == 0 else ""
        color = (colors or {}).get(s, PALETTE[i % len(PALETTE)])
        plots.append(f"'{dat}' using {col}:{col + 1}:{col + 2}{xt} title '{s}' "
                     f"lc rgb '{color}'")
    script = "\n".join([
        "set terminal pngcairo size 1100,560 noenhanced font 'sans,10'",
        f"set output '{png}'",
        f"set title '{title}'",
        f"set ylabel '{ylabel}'",
        "set style data histogram",
        "set style histogram errorbars gap 2 lw 1",
        "set style fill solid 0.8 border -1",
        "set boxwidth 0.9",
        f"set xrange [-0.6:{len(groups) - 0.4}]",
        "set logscale y" if log else "set yrange [0:*]",
        "set grid ytics",
        "set key outside right top vertical",
        "set datafile missing '-'",
        "plot " + ", ".join(plots),
    ])
    gp = png[:-4] + ".gp"
    with open(gp, "w") as f:
        f.write(script + "\n")
    subprocess.run(["gnuplot", gp], check=True, timeout=60)
    return png
