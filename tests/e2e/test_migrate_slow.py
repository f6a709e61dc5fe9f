#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Migration tests kept out of the default suites (suite 'slow'): long runs,
and known bugs under investigation (see each test's docstring)."""

import test_migrate as t
from ferrytest import Runner

if __name__ == "__main__":
    r = Runner(900)
    for _ in range(3):
        r.run(t.test_tunnelled_live)
    r.finish()
