#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Operating ferry in a fleet (issue 18): the Prometheus endpoint during
and after real migrations, --max-outgoing, the maintenance mode, and
`ferryctl drain`. Agents on 127.0.0.1, guests running ferry's RAM-dirtying
test kernel, small disks holding data."""

import os
import re
import shutil
import subprocess
import threading
import time
import urllib.request

from ferrytest import (Agent, Runner, Skip, define, first_difference, make_disk, need_qemu,
                       wait_for)
from test_migrate import guest_kw, heartbeats, wait_heartbeat

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def metrics_agent(name, *extra):
    a = Agent(name, "--metrics-listen", "127.0.0.1:0", "--metrics-port-file",
              os.path.join(tmpdir_of(name), "metrics-port"), *extra)
    a.start()
    a.metrics_port = int(open(os.path.join(a.dir, "metrics-port")).read())
    return a


def tmpdir_of(name):
    from ferrytest import tmpdir
    d = os.path.join(tmpdir(), name)
    os.makedirs(d, exist_ok=True)
    return d


def scrape(agent):
    """The exposition text and its samples as {'name{labels}': value}."""
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % agent.metrics_port,
                                timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
        text = r.read().decode()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not an exposition line: %r" % line
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return text, samples


def promtool_check(text):
    """promtool (Debian's prometheus package) must accept the text."""
    tool = shutil.which("promtool")
    if not tool:
        return False
    r = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), (
        "promtool check metrics: %s %s\n%s" % (r.stdout, r.stderr, text))
    return True


def pick(samples, prefix):
    return [v for k, v in samples.items() if k.startswith(prefix)]


def start_disk_guest(agent, name, disk_mib=32, **kw):
    """A guest with a vda holding a data pattern in its first half."""
    chunks = [(off, bytes([(off >> 20) & 0xff]) * (1 << 20))
              for off in range(0, (disk_mib // 2) << 20, 1 << 20)]
    disk = make_disk(os.path.join(agent.dir, name + "-vda.raw"), disk_mib << 20, chunks)
    define(agent, name, disks=[("vda", disk, "raw")], **kw)
    agent.ctl("start", name)
    return disk


def migrate_bg(agent, *args):
    out = {}

    def run():
        out["r"] = agent.ctl(*args, check=False, timeout=150)
    t = threading.Thread(target=run)
    t.start()
    return t, out


def stop_all(*agents):
    for a in agents:
        for name in list(a.domains()):
            if a.state_of(name) != "shutoff":
                a.ctl("destroy", name, check=False)
        a.stop()


def test_metrics_during_and_after():
    need_qemu()
    src = metrics_agent("m-src")
    dst = metrics_agent("m-dst")
    text, s = scrape(src)
    promtool_check(text)
    assert s['ferry_migrations_completed_total{direction="outgoing"}'] == 0, s
    assert 'ferry_agent_info{version=' in text and "ferry_agent_uptime_seconds" in s, text
    start_disk_guest(src, "g", **guest_kw(rate=2, size=96, memory=160))
    wait_heartbeat(src, "g", after=1)
    _, s = scrape(src)
    assert s['ferry_domains{state="running"}'] == 1, s
    # 16 MiB/s for 96 MiB of dirtied RAM and 16 MiB of disk data: several
    # seconds (--timeout: converges even on a slow machine).
    t, out = migrate_bg(src, "migrate", "--live", "--copy-storage-all", "--bandwidth", "16",
                        "--timeout", "30", "g", dst.uri)
    key = 'ferry_migration_data_processed_bytes{domain="g",direction="outgoing"}'

    def in_perform():
        _, s = scrape(src)
        if s.get('ferry_migrations_in_flight{direction="outgoing",phase="perform"}') == 1 and \
                s.get(key, 0) > 0:
            return s
        return None
    s1 = wait_for(in_perform, 60, "the migration in flight in the metrics")
    time.sleep(1.5)
    text2, s2 = scrape(src)
    assert s2.get(key, 0) > s1[key], (s1.get(key), s2.get(key))
    assert s2['ferry_migration_max_bandwidth_bytes{domain="g",direction="outgoing"}'] == \
        16 << 20, s2
    assert 'ferry_migration_disk_total_bytes{domain="g",direction="outgoing",disk="vda"}' in s2, \
        text2
    assert s2['ferry_migration_memory_total_bytes{domain="g",direction="outgoing"}'] > 0
    promtool_check(text2)
    _, d = scrape(dst)
    assert d.get('ferry_migrations_in_flight{direction="incoming",phase="prepare"}', 0) + \
        d.get('ferry_migrations_in_flight{direction="incoming",phase="finish"}', 0) >= 1, d
    t.join(160)
    assert out["r"].returncode == 0, out["r"].stderr

    text, s = scrape(src)
    assert s['ferry_migrations_completed_total{direction="outgoing"}'] == 1, text
    assert s["ferry_migration_downtime_seconds_count"] == 1, text
    assert s['ferry_migration_downtime_seconds_bucket{le="+Inf"}'] == 1, text
    assert s['ferry_migration_duration_seconds_count{direction="outgoing"}'] == 1, text
    assert s['ferry_migration_duration_seconds_sum{direction="outgoing"}'] > 1, text
    assert not pick(s, "ferry_migration_data_processed_bytes"), text
    assert sum(pick(s, "ferry_migrations_in_flight")) == 0, text
    assert promtool_check(text) or True
    _, d = scrape(dst)
    assert d['ferry_migrations_completed_total{direction="incoming"}'] == 1, d
    assert d['ferry_domains{state="running"}'] == 1, d

    # An abort is counted as cancelled, with its reason.
    t, out = migrate_bg(dst, "migrate", "--live", "--bandwidth", "1", "g", src.uri)
    wait_for(lambda: scrape(dst)[1].get(
        'ferry_migrations_in_flight{direction="outgoing",phase="perform"}') == 1, 60,
        "the way back in perform")
    dst.ctl("domjobabort", "g")
    t.join(60)
    assert out["r"].returncode == 1, out["r"].stderr
    text, d = scrape(dst)
    assert d['ferry_migrations_cancelled_total{direction="outgoing",reason="aborted"}'] == 1, text
    assert d['ferry_migration_duration_seconds_count{direction="outgoing"}'] == 1, text
    if not promtool_check(text):
        raise Skip("promtool not installed (Debian's prometheus package): the exposition "
                   "format was checked by this test's parser only")
    stop_all(src, dst)


def test_max_outgoing():
    need_qemu()
    src = Agent("lim-src", "--max-outgoing", "1").start()
    dst = Agent("lim-dst").start()
    for name in ("a", "b"):
        start_disk_guest(src, name, **guest_kw(rate=2, size=64, memory=128))
    wait_heartbeat(src, "a", after=1)
    wait_heartbeat(src, "b", after=1)
    # Both at once: the admission check and the job's start are one step in
    # the agent, so exactly one gets the slot whatever the timing.
    ta, oa = migrate_bg(src, "migrate", "--live", "--bandwidth", "16", "--timeout", "30", "a",
                        dst.uri)
    tb, ob = migrate_bg(src, "migrate", "--live", "--bandwidth", "16", "--timeout", "30", "b",
                        dst.uri)
    ta.join(160)
    tb.join(160)
    rs = sorted([oa["r"], ob["r"]], key=lambda r: r.returncode)
    assert rs[0].returncode == 0, rs[0].stderr
    assert rs[1].returncode == 1, rs[1].stderr
    assert "busy" in rs[1].stderr or "already runs 1 outgoing migration" in rs[1].stderr, \
        rs[1].stderr
    assert "--max-outgoing 1" in rs[1].stderr, rs[1].stderr
    refused = "a" if oa["r"].returncode else "b"
    moved = "b" if refused == "a" else "a"
    assert src.state_of(refused) == "running"
    assert dst.state_of(moved) == "running"
    # The slot is free again once the job ended.
    src.ctl("migrate", "--live", refused, dst.uri)
    assert dst.state_of(refused) == "running"
    stop_all(src, dst)


def test_maintenance():
    need_qemu()
    src = Agent("mnt-src").start()
    dst = Agent("mnt-dst").start()
    start_disk_guest(src, "g", **guest_kw(rate=8, size=32, memory=96))
    disk = make_disk(os.path.join(dst.dir, "cold-vda.raw"), 1 << 20)
    define(dst, "cold", disks=[("vda", disk, "raw")], **guest_kw(rate=8, size=32, memory=96))
    out = dst.ctl("maintenance", "on").stdout
    assert "Maintenance:    on" in out, out
    r = src.ctl("migrate", "--live", "g", dst.uri, check=False)
    assert r.returncode == 1 and "maintenance mode" in r.stderr, r.stderr
    assert src.state_of("g") == "running" and "g" not in dst.domains()
    r = dst.ctl("start", "cold", check=False)
    assert r.returncode == 1 and "maintenance mode" in r.stderr, r.stderr
    # Kept across an agent restart: an upgrade does not end maintenance.
    dst.stop()
    dst.start()
    assert dst.ctl_json("maintenance")["maintenance"] is True
    r = src.ctl("migrate", "--live", "g", dst.uri, check=False)
    assert r.returncode == 1 and "maintenance mode" in r.stderr, r.stderr
    dst.ctl("maintenance", "off")
    src.ctl("migrate", "--live", "g", dst.uri)
    assert dst.state_of("g") == "running"
    stop_all(src, dst)


def test_drain():
    need_qemu()
    src = Agent("dr-src").start()
    d1 = Agent("dr-d1").start()
    d2 = Agent("dr-d2").start()
    disks = {}
    for name in ("g1", "g2", "g3"):
        disks[name] = start_disk_guest(src, name, disk_mib=16,
                                       **guest_kw(rate=8, size=32, memory=96))
    for name in disks:
        wait_heartbeat(src, name, after=1)
    r = src.ctl("drain", "--max-parallel", "2", "--copy-storage-all", d1.uri, d2.uri,
                timeout=400)
    print(r.stdout)
    assert "3 migrated, 0 failed, 0 not attempted" in r.stdout, r.stdout
    for name in disks:
        assert re.search(r"%s -> \S+: migrated in" % name, r.stdout), r.stdout
    # Round-robin in name order: g1 and g3 to the first destination.
    where = {"g1": d1, "g2": d2, "g3": d1}
    assert not src.ctl_json("list"), src.ctl("list").stdout
    for name, a in where.items():
        assert a.state_of(name) == "running", (name, a.name)
        hb = heartbeats(a, name)
        after = wait_heartbeat(a, name, after=hb[-1][0] if hb else 0)
        assert after[2] == 0, after
        # Stop the guest, then compare: its disk is the source's, byte for byte.
        path = [d for d in a.ctl_json("domblklist", name) if d["target"] == "vda"][0]["source"]
        a.ctl("destroy", name)
        assert first_difference(disks[name], path) is None, name
    # The source stays in maintenance.
    r = src.ctl("maintenance")
    assert "Maintenance:    on" in r.stdout, r.stdout
    stop_all(src, d1, d2)


if __name__ == "__main__":
    import sys
    r = Runner(840)
    only = sys.argv[1:]
    for t in (test_metrics_during_and_after, test_max_outgoing, test_maintenance, test_drain):
        if not only or t.__name__ in only:
            r.run(t)
    r.finish()
