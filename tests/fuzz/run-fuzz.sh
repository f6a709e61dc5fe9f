#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Runs one libFuzzer harness for a bounded time: run-fuzz.sh FUZZER
# ARTIFACT_DIR DICT|'' SEED_DIR... New inputs go to a temporary corpus
# (the seed directories in the source tree are only read); a crash is
# kept in ARTIFACT_DIR for reproduction (FUZZER ARTIFACT_DIR/crash-...).
# FERRY_FUZZ_SECONDS (default 30) bounds the run; it runs at nice 19
# because the machines it runs on are shared.
set -eu
fuzzer=$1 artifacts=$2 dict=$3
shift 3
seconds=${FERRY_FUZZ_SECONDS:-30}
corpus=$(mktemp -d "${TMPDIR:-/tmp}/ferry-fuzz-corpus-XXXXXX")
trap 'rm -rf "$corpus"' EXIT
mkdir -p "$artifacts"
name=$(basename "$fuzzer")
set -- "$corpus" "$@"
[ -n "$dict" ] && set -- "-dict=$dict" "$@"
# -timeout: one input over 10 s is a hang; -rss_limit_mb: one over 2 GiB
# a leak or a limit missing. Leak checks stay on (ASan builds).
# -error_exitcode/-timeout_exitcode: libFuzzer's defaults (77, 70) would
# read as "skipped" to meson (77), so a crash would pass unnoticed.
nice -n 19 "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -error_exitcode=1 -timeout_exitcode=1 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$@"
