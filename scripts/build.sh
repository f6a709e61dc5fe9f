#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Configures (once) and builds ferry in BUILD_DIR (default: build) with
# warnings as errors. Extra arguments go to 'meson setup'.
set -eu
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
    meson setup "$BUILD_DIR" -Dwerror=true "$@"
fi
ninja -C "$BUILD_DIR"
