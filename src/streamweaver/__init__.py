"""StreamWeaver: a message broker on Redis Streams with tiered retention."""

# Set before the imports below: modules they load read it while this one loads.
__version__ = "0.1.0"

from streamweaver.client import AsyncClient, AsyncMessage, Client, Message
from streamweaver.errors import (
    ConnectionFailedError,
    DecodingError,
    EncodingError,
    GroupExistsError,
    GroupNotFoundError,
    InvalidIdError,
    InvalidStreamNameError,
    MessageError,
    MessageTooLargeError,
    OperationTimeoutError,
    StreamError,
    StreamNotFoundError,
    StreamWeaverError,
)

__all__ = [
    "AsyncClient",
    "AsyncMessage",
    "Client",
    "ConnectionFailedError",
    "DecodingError",
    "EncodingError",
    "GroupExistsError",
    "GroupNotFoundError",
    "InvalidIdError",
    "InvalidStreamNameError",
    "Message",
    "MessageError",
    "MessageTooLargeError",
    "OperationTimeoutError",
    "StreamError",
    "StreamNotFoundError",
    "StreamWeaverError",
    "__version__",
]
