#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# End-to-end test of ferry's copy engine (nbd/) with real NBD servers:
# raw file -> qemu-nbd (sparse, dirty target, O_DIRECT, multi-conn),
# raw file -> nbdkit memory, qcow2 via qemu-nbd -r -> qemu-nbd, and a
# target that fails writes (nbdkit error filter): first error reported, no
# hang. Usage: test-mir-copy.sh PATH/TO/ferry-mir-copy
set -u
COPY=${1:?usage: test-mir-copy.sh FERRY-MIR-COPY}

for p in qemu-nbd qemu-img nbdkit nbdcopy cmp du timeout; do
    command -v "$p" >/dev/null || { echo "SKIP: $p not installed"; exit 77; }
done

T=$(mktemp -d /tmp/ferry-mir-copy.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT

passed=0
failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
bad() { echo "not ok - $1"; failed=$((failed + 1)); }

# Waits up to 10 s for a unix socket.
wait_sock() {
    for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.1; done
    echo "socket $1 did not appear"; return 1
}

# start_qemu_nbd SOCKET IMAGE [ARGS...]: a writable raw export, PID pushed.
start_qemu_nbd() {
    local sock=$1 img=$2; shift 2
    qemu-nbd -t -k "$sock" --discard=unmap "$@" "$img" &
    PIDS+=($!)
    wait_sock "$sock"
}
stop_last() { local p=${PIDS[-1]}; kill "$p"; wait "$p" 2>/dev/null; unset 'PIDS[-1]'; }

alloc_kib() { du -k "$1" | cut -f1; }

# Source: 64 MiB + 1536 bytes (an O_DIRECT tail that is not 4 KiB-aligned),
# random data, holes, explicit zero blocks (allocated in the source).
SIZE=$((64 * 1024 * 1024 + 1536))
SRC=$T/src.img
truncate -s $SIZE "$SRC"
dd if=/dev/urandom of="$SRC" bs=1M count=3 seek=1 conv=notrunc status=none
dd if=/dev/zero of="$SRC" bs=1M count=4 seek=10 conv=notrunc status=none
dd if=/dev/urandom of="$SRC" bs=4k count=5 seek=5000 conv=notrunc status=none
dd if=/dev/urandom of="$SRC" bs=64k count=1 seek=300 conv=notrunc status=none
dd if=/dev/urandom of="$SRC" bs=1 count=1000 seek=$((SIZE - 1000)) conv=notrunc status=none
dd if=/dev/urandom of="$SRC" bs=1 count=7 seek=$((40 * 1024 * 1024 + 4095)) conv=notrunc status=none
SRC_KIB=$(alloc_kib "$SRC")

same() { cmp -n $SIZE "$1" "$2" >/dev/null; }

# 1. Fresh sparse target: holes and zero blocks skipped, data identical.
DST=$T/dst.img
truncate -s $SIZE "$DST"
start_qemu_nbd $T/t1.sock "$DST" -f raw
U="nbd+unix:///?socket=$T/t1.sock"
out=$(timeout 60 "$COPY" -z -f "$SRC" "$U")
rc=$?
stop_last
DST_KIB=$(alloc_kib "$DST")
if [ $rc = 0 ] && same "$SRC" "$DST"; then ok "raw -> qemu-nbd, zero target: identical"
else bad "raw -> qemu-nbd, zero target (rc=$rc $out)"; fi
# Data is about 3.4 MiB; the source has 4 MiB more of explicit zeros.
if [ "$DST_KIB" -lt $((SRC_KIB - 3000)) ] && [ "$DST_KIB" -lt 5000 ]; then
    ok "target stays sparse ($DST_KIB KiB allocated, source $SRC_KIB KiB)"
else bad "target not sparse ($DST_KIB KiB allocated, source $SRC_KIB KiB)"; fi
case $out in *skipped=0* | "") bad "nothing skipped: $out";; *) ok "holes skipped";; esac

# 2. Dirty target (random garbage everywhere): zeros must be written.
dd if=/dev/urandom of="$DST" bs=1M count=65 status=none
truncate -s $SIZE "$DST"
start_qemu_nbd $T/t2.sock "$DST" -f raw
out=$(timeout 60 "$COPY" -f "$SRC" "nbd+unix:///?socket=$T/t2.sock")
rc=$?
stop_last
if [ $rc = 0 ] && same "$SRC" "$DST"; then ok "raw -> dirty target: identical"
else bad "raw -> dirty target (rc=$rc $out)"; fi
DST_KIB=$(alloc_kib "$DST")
if [ "$DST_KIB" -lt 8000 ]; then ok "zero runs punched holes ($DST_KIB KiB)"
else bad "zero runs allocated the target ($DST_KIB KiB)"; fi

# 3. O_DIRECT source, multi-conn target, small requests, odd granularity.
dd if=/dev/urandom of="$DST" bs=1M count=65 status=none
truncate -s $SIZE "$DST"
start_qemu_nbd $T/t3.sock "$DST" -f raw -e 4
out=$(timeout 60 "$COPY" -D -c 4 -r 65536 -q 64 -g 4096 -f "$SRC" "nbd+unix:///?socket=$T/t3.sock")
rc=$?
stop_last
if [ $rc = 0 ] && same "$SRC" "$DST"; then ok "O_DIRECT, 4 connections: identical"
else bad "O_DIRECT, 4 connections (rc=$rc $out)"; fi
case $out in *connections=4*) ok "multi-conn used";; *) bad "multi-conn not used: $out";; esac

# 3b. Three lanes (threads), each with its own connection, dirty target.
dd if=/dev/urandom of="$DST" bs=1M count=65 status=none
truncate -s $SIZE "$DST"
start_qemu_nbd $T/t3b.sock "$DST" -f raw -e 4
out=$(timeout 60 "$COPY" -T 3 -r 65536 -f "$SRC" "nbd+unix:///?socket=$T/t3b.sock")
rc=$?
stop_last
if [ $rc = 0 ] && same "$SRC" "$DST"; then ok "3 lanes: identical"
else bad "3 lanes (rc=$rc $out)"; fi
case $out in *connections=3*) ok "3 lanes connected";; *) bad "lanes not used: $out";; esac

# 4. nbdkit memory plugin target; read back with nbdcopy.
nbdkit -f -U $T/m.sock memory size=$SIZE &
PIDS+=($!)
wait_sock $T/m.sock
MU="nbd+unix:///?socket=$T/m.sock"
out=$(timeout 60 "$COPY" -z "$SRC" "$MU")
rc=$?
rm -f $T/back.img
timeout 60 nbdcopy "$MU" $T/back.img
stop_last
if [ $rc = 0 ] && same "$SRC" $T/back.img; then ok "raw -> nbdkit memory: identical"
else bad "raw -> nbdkit memory (rc=$rc $out)"; fi

# 5. NBD source: qcow2 exported read-only by qemu-nbd.
qemu-img convert -q -f raw -O qcow2 "$SRC" $T/src.qcow2
qemu-nbd -t -r -f qcow2 -k $T/s.sock $T/src.qcow2 &
PIDS+=($!)
wait_sock $T/s.sock
rm -f "$DST"; truncate -s $SIZE "$DST"
start_qemu_nbd $T/t5.sock "$DST" -f raw
out=$(timeout 60 "$COPY" -z -f "nbd+unix:///?socket=$T/s.sock" "nbd+unix:///?socket=$T/t5.sock")
rc=$?
stop_last
stop_last
if [ $rc = 0 ] && same "$SRC" "$DST"; then ok "qcow2 over NBD -> qemu-nbd: identical"
else bad "qcow2 over NBD -> qemu-nbd (rc=$rc $out)"; fi
case $out in *skipped=0* | "") bad "NBD source holes not skipped: $out";; *) ok "NBD source holes skipped";; esac

# 6. Failing target: every tenth write fails with EIO. The copy must stop
# with the first error, with context, well within the timeout.
nbdkit -f -U $T/e.sock --filter=error memory size=$SIZE error-pwrite=EIO error-pwrite-rate=10% &
PIDS+=($!)
wait_sock $T/e.sock
start=$(date +%s)
err=$(timeout 30 "$COPY" -r 65536 "$SRC" "nbd+unix:///?socket=$T/e.sock" 2>&1 >/dev/null)
rc=$?
took=$(($(date +%s) - start))
stop_last
if [ $rc = 1 ]; then ok "write errors fail the copy (exit 1 in ${took}s)"
else bad "write errors: exit $rc after ${took}s (124 = hang)"; fi
case $err in
*"disk 'copy': nbd_aio_pwrite at offset "*"Input/output error"*) ok "first error reported: $err";;
*) bad "error message: $err";;
esac

# 6b. The same failures with retries: each attempt resumes at the engine's
# resume offset, so the copy completes in a few attempts. From scratch each
# time it would take hundreds: about 50 64-KiB writes must all succeed, with
# probability 0.9^50 = 0.5%.
nbdkit -f -U $T/e2.sock --filter=error memory size=$SIZE error-pwrite=EIO error-pwrite-rate=10% &
PIDS+=($!)
wait_sock $T/e2.sock
out=$(timeout 60 "$COPY" -R 200 -r 65536 -q 4 "$SRC" "nbd+unix:///?socket=$T/e2.sock" 2>$T/e2.err)
rc=$?
rm -f $T/back.img
timeout 60 nbdcopy "nbd+unix:///?socket=$T/e2.sock" $T/back.img
stop_last
attempts=$(grep -o 'attempts=[0-9]*' <<<"$out" | cut -d= -f2)
if [ $rc = 0 ] && same "$SRC" $T/back.img; then ok "failing writes + resume: identical ($attempts attempts)"
else bad "failing writes + resume (rc=$rc $out $(tail -2 $T/e2.err))"; fi
last=$(grep -o "resuming at [0-9]*" $T/e2.err | tail -1 | grep -o "[0-9]*$")
if [ "${attempts:-0}" -ge 2 ] && [ "${attempts:-999}" -le 60 ] && [ "${last:-0}" -gt 0 ]; then
    ok "resume offsets advance ($attempts attempts, last resume at $last)"
else bad "resume: $attempts attempts, last resume at ${last:-none}"; fi

# 6b2. The same with two lanes: the pass's resume offset is the lowest of
# the lanes'.
nbdkit -f -U $T/e3.sock --filter=error memory size=$SIZE error-pwrite=EIO error-pwrite-rate=10% &
PIDS+=($!)
wait_sock $T/e3.sock
out=$(timeout 60 "$COPY" -T 2 -R 200 -r 65536 -q 8 "$SRC" "nbd+unix:///?socket=$T/e3.sock" 2>$T/e3.err)
rc=$?
rm -f $T/back.img
timeout 60 nbdcopy "nbd+unix:///?socket=$T/e3.sock" $T/back.img
stop_last
attempts=$(grep -o 'attempts=[0-9]*' <<<"$out" | cut -d= -f2)
if [ $rc = 0 ] && same "$SRC" $T/back.img; then ok "2 lanes, failing writes + resume: identical ($attempts attempts)"
else bad "2 lanes, failing writes + resume (rc=$rc $out $(tail -2 $T/e3.err))"; fi
last=$(grep -o "resuming at [0-9]*" $T/e3.err | tail -1 | grep -o "[0-9]*$")
if [ "${attempts:-0}" -ge 2 ] && [ "${attempts:-999}" -le 60 ] && [ "${last:-0}" -gt 0 ]; then
    ok "2 lanes: resume offsets advance ($attempts attempts, last resume at $last)"
else bad "2 lanes resume: $attempts attempts, last resume at ${last:-none}"; fi

# 6c. Bandwidth cap: about 3.3 MiB of data at 4 MB/s (1 MiB burst) takes at
# least 0.5 s; without the cap it takes a few milliseconds.
nbdkit -f -U $T/b.sock memory size=$SIZE &
PIDS+=($!)
wait_sock $T/b.sock
out=$(timeout 30 "$COPY" -z -b 4000000 "$SRC" "nbd+unix:///?socket=$T/b.sock")
rc=$?
stop_last
secs=$(grep -o 'seconds=[0-9.]*' <<<"$out" | cut -d= -f2)
if [ $rc = 0 ] && awk "BEGIN { exit !($secs >= 0.5 && $secs < 10) }"; then ok "bandwidth cap holds (${secs}s)"
else bad "bandwidth cap: rc=$rc $out"; fi

# 7. A target that stops answering (every write delayed 30 s): the copy
# fails after the I/O timeout instead of hanging.
nbdkit -f -U $T/d.sock --filter=delay memory size=$SIZE wdelay=30 &
PIDS+=($!)
wait_sock $T/d.sock
start=$(date +%s)
err=$(timeout 20 "$COPY" -t 1500 "$SRC" "nbd+unix:///?socket=$T/d.sock" 2>&1 >/dev/null)
rc=$?
took=$(($(date +%s) - start))
stop_last
if [ $rc = 1 ] && [ $took -le 5 ]; then ok "stuck target times out (${took}s)"
else bad "stuck target: exit $rc after ${took}s"; fi
case $err in *"no request completed for "*) ok "timeout reported: $err";; *) bad "timeout message: $err";; esac

# 8. Bad arguments are clean errors.
err=$(timeout 10 "$COPY" -r 1000 "$SRC" "nbd+unix:///?socket=$T/none.sock" 2>&1)
case $err in *"request size 1000"*) ok "bad request size rejected";; *) bad "bad request size: $err";; esac
err=$(timeout 10 "$COPY" "$SRC" "nbd+unix:///?socket=$T/none.sock" 2>&1)
case $err in *"target nbd+unix"*) ok "unreachable target reported";; *) bad "unreachable: $err";; esac

echo "$passed passed, $failed failed"
[ $failed = 0 ]
