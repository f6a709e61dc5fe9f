#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs clang-tidy (checks in .clang-tidy) over ferry's tracked C sources
# that the build compiles, using BUILD_DIR's compile_commands.json, two files
# at a time. Exits non-zero if clang-tidy reports any warning or error.
# Usage: scripts/tidy.sh [BUILD_DIR] [FILE...]   (default: build, every file)
# Tests (tests/) are left out: their fixtures leak and abort on purpose.
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
[ $# -gt 0 ] && shift
TIDY=$(command -v clang-tidy-14 || command -v clang-tidy || true)
if [ -z "$TIDY" ]; then
    echo "tidy: clang-tidy not found (scripts/deps.sh installs it)" >&2
    exit 1
fi
if [ ! -f "$BUILD_DIR/compile_commands.json" ]; then
    echo "tidy: $BUILD_DIR/compile_commands.json missing (run scripts/build.sh first)" >&2
    exit 1
fi

if [ $# -gt 0 ]; then
    files="$*"
else
    # Tracked sources that have a compile command (tests/guest/multiboot/main.c is
    # built for the guest by its own script and has none).
    files=$(git ls-files '*.c' | grep -v '^tests/' | while read -r f; do
        grep -q "\"\\.\\./$f\"" "$BUILD_DIR/compile_commands.json" && echo "$f"
    done)
fi

log=$(mktemp /tmp/ferry-tidy.XXXXXX)
trap 'rm -f "$log"' EXIT
# The build passes GCC-only warning options that clang does not know.
# shellcheck disable=SC2086
printf '%s\n' $files | xargs -P 2 -n 1 "$TIDY" -p "$BUILD_DIR" --quiet \
    --extra-arg=-Wno-unknown-warning-option >"$log" 2>&1 || true
# Count diagnostics, not clang-tidy's exit code (it is 0 for warnings).
n=$(grep -c -E '(warning|error): ' "$log" || true)
if [ "$n" -ne 0 ]; then
    grep -v -E '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$' "$log" |
        sed "s|$(pwd)/$BUILD_DIR/\.\./||; s|$(pwd)/||"
    echo "tidy: $n finding(s); fix them or NOLINT(check) them with a reason" >&2
    exit 1
fi
echo "tidy: $(printf '%s\n' $files | wc -l) files, no findings"
