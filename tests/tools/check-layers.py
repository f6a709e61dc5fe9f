#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Checks the README's layout rule: a folder includes headers only from the
folders below it. Every quoted #include of a C file under the listed
folders is resolved to the folder that holds the header (by file name:
header names are unique across the tree) and checked against ALLOWED.
Exit 0 when the rule holds; otherwise each offending include is printed."""
import os
import re
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))

# What each folder may include besides itself (README.md, "Layout").
ALLOWED = {
    "common": set(),
    "qmp": {"common"},
    "mirror": {"qmp", "common"},
    "proto": {"common"},
    "agent": {"proto", "common"},
    "qemu": {"agent", "mirror", "qmp", "proto", "common"},
    "xen/xl": {"common"},
    "xen": {"xen/xl", "agent", "proto", "common"},
    "ctl": {"agent", "proto", "xen/xl", "common"},
    "ferryd": {"agent", "qemu", "xen", "xen/xl", "mirror", "qmp", "proto", "common"},
}
# Generated at configure time (the build directory), not a folder of ours.
GENERATED = {"ferry-config.h"}


def folder_of(path):
    rel = os.path.relpath(path, ROOT)
    for f in sorted(ALLOWED, key=len, reverse=True):
        if rel == f or rel.startswith(f + "/"):
            if os.path.dirname(rel) == f:
                return f
    return None


def main():
    headers = {}
    sources = []
    for f in ALLOWED:
        d = os.path.join(ROOT, f)
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            if name.endswith((".h", ".def")):
                if name in headers:
                    print("header name used twice: %s and %s" % (headers[name], f))
                    return 1
                headers[name] = f
            if name.endswith((".c", ".h")):
                sources.append((f, p))
    bad = 0
    inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
    for f, p in sources:
        with open(p, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                m = inc.match(line)
                if not m:
                    continue
                name = os.path.basename(m.group(1))
                if name in GENERATED:
                    continue
                to = headers.get(name)
                if to is None:
                    print("%s:%d: %s: no such header in the listed folders" %
                          (os.path.relpath(p, ROOT), n, name))
                    bad += 1
                elif to != f and to not in ALLOWED[f]:
                    print("%s:%d: %s/ includes %s from %s/: an arrow upward or sideways" %
                          (os.path.relpath(p, ROOT), n, f, name, to))
                    bad += 1
    if bad:
        print("%d include(s) break the layout rule (README.md, Layout)" % bad)
        return 1
    print("layout rule holds: %d files" % len(sources))
    return 0


if __name__ == "__main__":
    sys.exit(main())
