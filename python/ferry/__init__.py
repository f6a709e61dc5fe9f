# SPDX-License-Identifier: LGPL-2.1-or-later
"""Client of ferryd's control API (docs/control-api.md, docs/protocol.md).

    from ferry import Client, migrate

    with Client.connect("/var/lib/ferry/ferryd.sock") as src, \\
            Client.connect("ferry+tcp://host2:7070") as dst:
        result = migrate(src, dst, "guest", flags=["live", "non_shared_disk"])
"""

from .client import Client, Event, FerryError, Hello
from .migrate import MigrationError, MigrationResult, migrate

__all__ = ["Client", "Event", "FerryError", "Hello", "MigrationError", "MigrationResult",
           "migrate"]
__version__ = "0.1.0"
