"""StreamWeaver: a message broker on Redis Streams with tiered retention."""

from streamweaver.errors import StreamWeaverError

__version__ = "0.1.0"

__all__ = ["StreamWeaverError", "__version__"]
