#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs every benchmark (mirror, migration, scaling) against one build and
# collects their JSON, PNGs and tables in one results directory.
#
#   bench/run-all.sh [--quick] [BUILD_DIR [RESULTS_DIR]]
#
# BUILD_DIR defaults to build, RESULTS_DIR to BUILD_DIR/bench-results/all-STAMP.
# --quick runs each benchmark's smoke grid (a few minutes each on 2 cores);
# without it, the full defaults (about 45 minutes on 2 cores; see bench/README.md).
# Exit status: 0 when every benchmark succeeded, else the first failure's.
set -uo pipefail
cd "$(dirname "$0")/.."
quick=()
if [ "${1:-}" = "--quick" ]; then
    quick=(--quick)
    shift
fi
B=${1:-build}
OUT=${2:-$B/bench-results/all-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"
for f in ferryd/ferryd ctl/ferryctl tests/guest/multiboot/ferry-guest.elf bench/ferry-bench-mirror; do
    if [ ! -e "$B/$f" ]; then
        echo "run-all: $B/$f is not built (ninja -C $B)" >&2
        exit 1
    fi
done
QEMU=$(command -v qemu-system-x86_64 || echo qemu-system-x86_64)
status=0
run() {
    local name=$1
    shift
    echo "== $name: $*" | tee -a "$OUT/summary.txt"
    python3 "$@" --out "$OUT" "${quick[@]}" 2>&1 | tee "$OUT/$name.txt"
    local rc=${PIPESTATUS[0]}
    echo "== $name: exit $rc" | tee -a "$OUT/summary.txt"
    if [ "$rc" -ne 0 ] && [ "$status" -eq 0 ]; then
        status=$rc
    fi
}
run mirror bench/mirror.py --qemu "$QEMU" --ferry-copy "$B/bench/ferry-bench-mirror"
run migration bench/migration.py --build "$B"
run scaling bench/scaling.py --build "$B" --qemu "$QEMU"
echo "results in $OUT:"
ls "$OUT"/*.json "$OUT"/*.png 2>/dev/null
exit "$status"
