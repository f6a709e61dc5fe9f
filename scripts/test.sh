#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's second command: installs dependencies, builds, and runs every
# test (unit, then end to end with real QEMU, NBD servers and agents).
# Benchmarks are not tests: run them with scripts/bench.sh.
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh "$@"
BUILD_DIR=${BUILD_DIR:-build}
# Tests bound their own time; meson's multiplier covers slow CI machines.
meson test -C "$BUILD_DIR" --print-errorlogs --num-processes 2 --timeout-multiplier 2 \
    --no-suite slow
