"""How a consumer reads, reclaims and gives up (conventions: docs/protocol.md)."""

from __future__ import annotations

from dataclasses import dataclass

from streamweaver.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ConsumerOptions:
    """How a consumer reads, reclaims and gives up; see ``docs/protocol.md``."""

    count: int = 100
    """Entries per read (XREADGROUP / XAUTOCLAIM COUNT)."""
    block_ms: int = 1000
    """How long one read waits for new entries; also bounds how long stop() takes."""
    claim_idle_ms: int = 30_000
    """Entries pending this long on any consumer are reclaimed; same for the group."""
    claim_interval_ms: int = 1000
    """How often to look for entries to reclaim."""
    max_deliveries: int | None = 5
    """Deliveries before an entry goes to the dead-letter stream; None for never."""
    ack_flush_ms: int = 100
    """Longest time an ack waits to be sent with others."""
    prefetch: bool = True
    """Ask for the next batch as soon as one arrives, so Redis prepares it while
    this one is handled; up to twice ``count`` messages are then held."""

    def __post_init__(self) -> None:
        for name in ("count", "block_ms", "claim_idle_ms", "claim_interval_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.max_deliveries is not None and (
            isinstance(self.max_deliveries, bool)
            or not isinstance(self.max_deliveries, int)
            or self.max_deliveries < 1
        ):
            raise ConfigError(
                f"max_deliveries must be a positive integer or None, "
                f"got {self.max_deliveries!r}"
            )
