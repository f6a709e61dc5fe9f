#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Formats ferry's C sources with the repository's .clang-format;
# --check only reports files that differ (CI).
set -eu
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' | grep -v '^tests/guest/multiboot/')
if [ "${1:-}" = "--check" ]; then
    bad=0
    for f in $files; do
        if ! clang-format --style=file "$f" | cmp -s - "$f"; then
            echo "not formatted: $f (run scripts/format.sh)"
            bad=1
        fi
    done
    exit $bad
fi
clang-format --style=file -i $files
