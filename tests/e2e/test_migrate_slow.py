#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Migration tests kept out of the default suites (suite 'slow'): long runs.
The live tunnelled round trip, repeated: it hung now and then under load
until Perform drained the relay (see test_tunnelled_lagging_relay)."""

import test_migrate as t
from ferrytest import Runner

if __name__ == "__main__":
    r = Runner(900)
    for _ in range(5):
        r.run(t.test_tunnelled_live)
    r.finish()
