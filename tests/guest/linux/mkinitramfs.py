#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Assembles the initramfs of ferry's Linux test guest from installed Debian
packages, with no network: busybox (busybox-static), the virtio modules of the
newest installed cloud kernel (linux-image-cloud-amd64) in modules.dep load
order, our /init and our statically linked workload, packed with cpio (newc).

Writes OUTPUT (the cpio archive) and MANIFEST, a KEY=VALUE file the tests
read: KERNEL (the vmlinuz the modules belong to), INITRD, VERSION, MODULES; or
SKIP=<reason> (and an empty archive) when no usable kernel is installed, so
that the build still succeeds and the tests skip with that reason.

usage: mkinitramfs.py --workload BIN --init FILE --output CPIO --manifest FILE
                      [--kernel-version V] [--busybox PATH]"""

import argparse
import gzip
import lzma
import os
import re
import shutil
import subprocess
import sys
import tempfile

# The drivers the guest needs; their dependencies come from modules.dep.
WANTED = ["virtio_pci", "virtio_blk", "virtio_net", "virtio_console"]
# busybox applets /init and a debugging shell use (linked, not --install'ed at
# boot: the guest boots faster and the list says what we rely on).
APPLETS = ["sh", "mount", "insmod", "ip", "cat", "sleep", "setsid", "cttyhack", "poweroff",
           "ls", "dmesg", "echo", "hexdump", "dd", "ps", "kill", "udhcpc"]
BUSYBOX_CANDIDATES = ["/bin/busybox", "/usr/bin/busybox"]


class Unusable(Exception):
    """No usable kernel/busybox here: the tests skip with this reason."""


def version_key(v):
    return [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", v)]


def pick_kernel(want):
    """(version, vmlinuz path) of the kernel to use: WANT, or the newest
    *-cloud-amd64 with both /boot/vmlinuz-V and /lib/modules/V."""
    if want:
        cands = [want]
    else:
        try:
            cands = [v for v in os.listdir("/lib/modules") if v.endswith("-cloud-amd64")]
        except FileNotFoundError:
            cands = []
    ok = [v for v in cands
          if os.path.exists("/boot/vmlinuz-" + v)
          and os.path.exists(os.path.join("/lib/modules", v, "modules.dep"))]
    if not ok:
        raise Unusable("no cloud kernel installed (apt-get install linux-image-cloud-amd64)"
                       if not want else "kernel %s: no /boot/vmlinuz or modules.dep" % want)
    v = max(ok, key=version_key)
    vmlinuz = "/boot/vmlinuz-" + v
    if not os.access(vmlinuz, os.R_OK):
        raise Unusable("%s is not readable by this user" % vmlinuz)
    return v, vmlinuz


def has_interp(path):
    """Whether ELF64 file PATH asks for a dynamic loader (a PT_INTERP header):
    the initramfs has no libc, so every program in it must be static."""
    import struct
    with open(path, "rb") as f:
        hdr = f.read(64)
        if hdr[:4] != b"\x7fELF" or hdr[4] != 2:
            return True
        phoff, = struct.unpack_from("<Q", hdr, 32)
        phentsize, phnum = struct.unpack_from("<HH", hdr, 54)
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            if struct.unpack("<I", f.read(4))[0] == 3:  # PT_INTERP
                return True
    return False


def module_name(path):
    base = os.path.basename(path)
    return base[:base.index(".ko")].replace("-", "_")


def load_order(moddir, wanted):
    """Module files (relative to MODDIR) in an order where every module
    follows its dependencies; modules built into the kernel are left out."""
    deps, paths = {}, {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            if ":" not in line:
                continue
            mod, rest = line.split(":", 1)
            name = module_name(mod)
            paths[name] = mod
            deps[name] = [module_name(d) for d in rest.split()]
    builtin = set()
    try:
        with open(os.path.join(moddir, "modules.builtin")) as f:
            builtin = {module_name(line.strip()) for line in f if ".ko" in line}
    except FileNotFoundError:
        pass

    order, seen = [], set()

    def visit(name, chain):
        if name in seen or name in builtin:
            return
        if name not in paths:
            raise Unusable("module %s (needed by %s) not in %s/modules.dep" % (
                name, " <- ".join(chain) or "the guest", moddir))
        # modules.dep lists a module's dependencies so that the last one
        # loads first (modprobe's order).
        for d in reversed(deps[name]):
            visit(d, chain + [name])
        seen.add(name)
        order.append(paths[name])

    for w in wanted:
        visit(w, [])
    return order


def copy_module(src, dst_dir):
    """Copies a .ko, decompressing .ko.xz/.ko.gz/.ko.zst (busybox insmod and a
    kernel without in-kernel decompression both want plain ELF). Returns the
    file name written."""
    base = os.path.basename(src)
    name = base[:base.index(".ko")] + ".ko"
    dst = os.path.join(dst_dir, name)
    if base.endswith(".ko"):
        shutil.copyfile(src, dst)
    elif base.endswith(".ko.xz"):
        with lzma.open(src) as i, open(dst, "wb") as o:
            shutil.copyfileobj(i, o)
    elif base.endswith(".ko.gz"):
        with gzip.open(src) as i, open(dst, "wb") as o:
            shutil.copyfileobj(i, o)
    elif base.endswith(".ko.zst"):
        if not shutil.which("zstd"):
            raise Unusable("%s is zstd-compressed and zstd is not installed" % src)
        with open(dst, "wb") as o:
            subprocess.run(["zstd", "-dc", src], stdout=o, check=True)
    else:
        raise Unusable("unknown module file type: %s" % src)
    return name


def write_if_changed(path, data):
    """Replaces PATH with DATA (bytes) atomically, unless it holds them already."""
    try:
        with open(path, "rb") as f:
            if f.read() == data:
                return
    except FileNotFoundError:
        pass
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)


def build(args, stage):
    version, vmlinuz = pick_kernel(args.kernel_version)
    moddir = os.path.join("/lib/modules", version)
    busybox = args.busybox or next((b for b in BUSYBOX_CANDIDATES if os.path.exists(b)), None)
    if not busybox:
        raise Unusable("busybox not installed (apt-get install busybox-static)")
    if has_interp(busybox):
        raise Unusable("%s is not statically linked (install busybox-static)" % busybox)
    if not shutil.which("cpio"):
        raise Unusable("cpio not installed (apt-get install cpio)")

    for d in ("bin", "dev", "proc", "sys", "tmp", "lib/modules"):
        os.makedirs(os.path.join(stage, d), exist_ok=True)
    shutil.copyfile(busybox, os.path.join(stage, "bin/busybox"))
    os.chmod(os.path.join(stage, "bin/busybox"), 0o755)
    for a in APPLETS:
        os.symlink("busybox", os.path.join(stage, "bin", a))
    shutil.copyfile(args.workload, os.path.join(stage, "bin/ferry-workload"))
    os.chmod(os.path.join(stage, "bin/ferry-workload"), 0o755)
    shutil.copyfile(args.init, os.path.join(stage, "init"))
    os.chmod(os.path.join(stage, "init"), 0o755)

    names = []
    for rel in load_order(moddir, WANTED):
        names.append(copy_module(os.path.join(moddir, rel), os.path.join(stage, "lib/modules")))
    with open(os.path.join(stage, "lib/modules/load-order"), "w") as f:
        f.write("".join(n + "\n" for n in names))

    # A deterministic archive (sorted names, owner root, one fixed time;
    # cpio --reproducible drops inode numbers): the same inputs give the same
    # bytes, so an unchanged archive is not rewritten and nothing reruns.
    files = []
    for root, dirs, fs in os.walk(stage):
        for n in dirs + fs:
            path = os.path.join(root, n)
            os.utime(path, (0, 0), follow_symlinks=False)
            files.append(os.path.relpath(path, stage))
    files.sort()
    archive = subprocess.run(
        ["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0", "--reproducible"],
        input="".join(p + "\n" for p in files).encode(), stdout=subprocess.PIPE, cwd=stage,
        check=True).stdout
    write_if_changed(args.output, archive)
    return {"VERSION": version, "KERNEL": vmlinuz, "INITRD": os.path.abspath(args.output),
            "MODULES": ",".join(n[:-3] for n in names)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", required=True)
    ap.add_argument("--init", required=True)
    ap.add_argument("--output", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--kernel-version", default=os.environ.get("FERRY_LINUX_KERNEL_VERSION"))
    ap.add_argument("--busybox")
    args = ap.parse_args()

    stage = tempfile.mkdtemp(prefix="ferry-initramfs-")
    try:
        try:
            info = build(args, stage)
        except Unusable as e:
            write_if_changed(args.output, b"")
            info = {"SKIP": str(e)}
            print("mkinitramfs: no Linux guest: %s" % e, file=sys.stderr)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    write_if_changed(args.manifest, "".join("%s=%s\n" % kv for kv in info.items()).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
