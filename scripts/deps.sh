#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs what ferry needs to build, test and run, from Debian 12's archive.
# The Linux test guest (tests/guest/linux) needs its kernel and modules,
# busybox and the initramfs packer; the build uses them offline.
# libmicrohttpd-dev: the metrics endpoint; prometheus: promtool, tests only;
# scdoc: the man pages; debhelper: the .deb build (dpkg-buildpackage).
# clang + libclang-rt-14-dev: libFuzzer for tests/fuzz (-Dfuzz=true).
# Skips apt-get entirely when everything is already there.
set -eu

PKGS="build-essential meson ninja-build pkg-config python3
libnbd-dev liburing-dev libjson-c-dev libxml2-dev libcmocka-dev
libgnutls28-dev gnutls-bin
qemu-system-x86 qemu-utils ovmf nbdkit libnbd-bin gnuplot-nox
clang-format cppcheck clang-tidy clang libclang-rt-14-dev
linux-image-cloud-amd64 busybox-static cpio
libmicrohttpd-dev prometheus scdoc debhelper"

missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "ferry: installing:$missing" >&2
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
# --no-install-recommends keeps QEMU from pulling in a desktop's worth.
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
