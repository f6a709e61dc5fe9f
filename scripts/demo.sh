#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's first command: installs dependencies, builds, and shows the
# main job for real: two ferryd agents on 127.0.0.1, a guest running ferry's
# RAM-dirtying test kernel with a 2 GiB disk holding data, a live migration
# that copies the disk (--copy-storage-all --verbose), the job statistics,
# and a byte-for-byte check that the destination disk equals the source.
# Everything it starts is stopped by PID and its files are removed.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh >/dev/null
B=${BUILD_DIR:-build}
FERRYD=$B/ferryd/ferryd
FERRYCTL=$B/ctl/ferryctl
KERNEL=$(realpath "$B/tests/guest/multiboot/ferry-guest.elf")
DISK_MIB=${DEMO_DISK_MIB:-2048}
DATA_MIB=${DEMO_DATA_MIB:-768}

D=$(mktemp -d /tmp/ferry-demo-XXXXXX)
pids=()
cleanup() {
    for a in src dst; do
        [ -S "$D/$a.sock" ] && "$FERRYCTL" -c "$D/$a.sock" destroy demo >/dev/null 2>&1 || true
    done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$D"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "two agents on 127.0.0.1 (state in $D)"
# One shared key for both agents (the source proves it to the
# destination) and for ferryctl (FERRY_AUTH_KEY): docs/security.md.
(umask 077 && head -c 32 /dev/urandom | base64 >"$D/auth.key")
export FERRY_AUTH_KEY=$D/auth.key
for a in src dst; do
    "$FERRYD" --state-dir "$D/$a" --image-dir "$D/$a-images" --control "$D/$a.sock" \
        --listen 127.0.0.1:0 --auth-key "$D/auth.key" --port-file "$D/$a.port" \
        --storage-root "$(dirname "$KERNEL")" \
        >"$D/$a.log" 2>&1 &
    pids+=($!)
done
for a in src dst; do
    for _ in $(seq 100); do [ -s "$D/$a.port" ] && break; sleep 0.1; done
done
DST="ferry+tcp://127.0.0.1:$(cat "$D/dst.port")"
echo "source: $D/src.sock   destination: $DST"

step "a ${DISK_MIB} MiB disk with ${DATA_MIB} MiB of data and holes"
mkdir -p "$D/src-images"
DISK=$D/src-images/demo-vda.raw
truncate -s "${DISK_MIB}M" "$DISK"
# Data in 64 MiB runs with 64 MiB holes between them, half random, half text.
off=0
left=$DATA_MIB
while [ "$left" -gt 0 ]; do
    n=$((left < 64 ? left : 64))
    if [ $((off / 128 % 2)) -eq 0 ]; then
        head -c "${n}M" /dev/urandom | dd of="$DISK" bs=1M seek="$off" conv=notrunc status=none
    else
        { yes "ferry demo block at $off MiB" || true; } | head -c "${n}M" |
            dd of="$DISK" bs=1M seek="$off" conv=notrunc status=none
    fi
    off=$((off + 128))
    left=$((left - n))
done
du -h --apparent-size "$DISK" | sed 's/^/apparent: /'
du -h "$DISK" | sed 's/^/allocated: /'

cat >"$D/demo.xml" <<XML
<domain type='kvm'>
  <name>demo</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64'>hvm</type>
    <kernel>$KERNEL</kernel>
    <cmdline>rate=64 size=128 pattern=hot</cmdline>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$DISK'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
XML

step "define and start the guest (it dirties 64 MiB/s of RAM)"
"$FERRYCTL" -c "$D/src.sock" define "$D/demo.xml"
"$FERRYCTL" -c "$D/src.sock" start demo
sleep 2
tail -n 2 "$D/src/run/demo.serial"
"$FERRYCTL" -c "$D/src.sock" list --all

step "guest writes while it runs (qemu-io through the device)"
for i in 1 2 3; do
    "$FERRYCTL" -c "$D/src.sock" qemu-monitor-command demo --hmp \
        "qemu-io -d /machine/peripheral/vda/virtio-backend \"write -P 0x$((40 + i)) $((i * 300))M 1M\"" \
        >/dev/null
done

step "live migration with storage: ferryctl migrate --live --copy-storage-all --verbose"
time "$FERRYCTL" -c "$D/src.sock" migrate --live --copy-storage-all --verbose demo "$DST"

step "after: the destination runs the guest, the source does not"
"$FERRYCTL" -c "$D/dst.sock" list --all
"$FERRYCTL" -c "$D/src.sock" list --all
sleep 2
tail -n 1 "$D/dst/run/demo.serial"

step "the destination disk equals the source disk, and stays sparse"
DEST_DISK=$(ls "$D"/dst-images/*)
cmp "$DISK" "$DEST_DISK" && echo "identical: $DISK == $DEST_DISK"
du -h "$DISK" | sed 's/^/source allocated:      /'
du -h "$DEST_DISK" | sed 's/^/destination allocated: /'
echo
echo "demo complete"
