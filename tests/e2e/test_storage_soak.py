#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Soak for storage migration (suite 'slow'): the guest-write ping-pong of
test_storage.py for many more round trips, at two bandwidths, so that the
random writes land in every corner of the bulk pass, the dirty passes and
RAM migration. FERRY_SOAK_ITERATIONS sets the number of migrations per
bandwidth (default 10); FERRY_SEED replays a run."""

import os

import test_storage
from test_storage import main, pingpong

ITERATIONS = int(os.environ.get("FERRY_SOAK_ITERATIONS", "10"))


def test_guest_writes_soak_slow_link():
    pingpong(ITERATIONS, bandwidth=16, data_mib=128, tag="-slow")


def test_guest_writes_soak_fast_link():
    pingpong(ITERATIONS, bandwidth=64, data_mib=320, disk_mib=768, tag="-fast")


if __name__ == "__main__":
    assert test_storage.SEED is not None
    main((test_guest_writes_soak_slow_link, test_guest_writes_soak_fast_link),
         deadline_s=60 + ITERATIONS * 2 * 50)
