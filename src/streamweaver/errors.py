"""The exceptions StreamWeaver raises.

Every error derives from :class:`StreamWeaverError`; errors from redis-py and
the object store are translated at the boundary and chained with ``from``::

    StreamWeaverError
    ├── ConfigError                 bad or missing configuration
    ├── ConnectionFailedError       Redis cannot be reached (also ConnectionError)
    ├── OperationTimeoutError       an operation ran out of time (also TimeoutError)
    ├── StreamError                 something about one stream
    │   ├── InvalidStreamNameError
    │   ├── StreamNotFoundError
    │   └── GroupError
    │       ├── GroupNotFoundError
    │       └── GroupExistsError
    ├── MessageError                something about one message
    │   ├── EncodingError           a value cannot be encoded (also TypeError)
    │   ├── DecodingError
    │   ├── MessageTooLargeError
    │   └── InvalidIdError          a malformed stream ID or time (also ValueError)
    ├── StorageError                the archive store failed
    │   ├── StorageUnavailableError
    │   └── StorageFullError
    ├── ArchiveError                the archive's content is not as it should be
    ├── ReplayError                 a replay request cannot be carried out
    └── LeaseLostError              another instance now owns the stream (fencing)
"""

from __future__ import annotations


class StreamWeaverError(Exception):
    """Raised for every error StreamWeaver reports; the root of the tree."""


class ConfigError(StreamWeaverError):
    """Raised when the configuration is invalid; the message names the key path."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class ConnectionFailedError(StreamWeaverError, ConnectionError):
    """Raised when Redis cannot be reached."""

    def __init__(self, message: str, *, address: str | None = None) -> None:
        super().__init__(message)
        self.address = address


class OperationTimeoutError(StreamWeaverError, TimeoutError):
    """Raised when an operation does not finish in time."""


class StreamError(StreamWeaverError):
    """Raised for a problem with one stream; ``stream`` names it."""

    def __init__(self, message: str, *, stream: str | None = None) -> None:
        super().__init__(message)
        self.stream = stream


class InvalidStreamNameError(StreamError, ValueError):
    """Raised when a stream name is empty or otherwise unusable."""


class StreamNotFoundError(StreamError):
    """Raised when a stream does not exist."""


class GroupError(StreamError):
    """Raised for a problem with a consumer group; ``group`` names it."""

    def __init__(
        self, message: str, *, stream: str | None = None, group: str | None = None
    ) -> None:
        super().__init__(message, stream=stream)
        self.group = group


class GroupNotFoundError(GroupError):
    """Raised when a consumer group does not exist."""


class GroupExistsError(GroupError):
    """Raised when creating a consumer group that already exists."""


class MessageError(StreamWeaverError):
    """Raised for a problem with one message; carries stream and message ID."""

    def __init__(
        self,
        message: str,
        *,
        stream: str | None = None,
        message_id: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.stream = stream
        self.message_id = message_id
        self.field = field


class EncodingError(MessageError, TypeError):
    """Raised when a field value has a type that cannot be encoded."""


class DecodingError(MessageError, ValueError):
    """Raised when a stored value does not follow the value encoding."""


class MessageTooLargeError(MessageError, ValueError):
    """Raised when an encoded message exceeds the configured size limit."""


class InvalidIdError(MessageError, ValueError):
    """Raised when a stream ID or time is malformed."""


class StorageError(StreamWeaverError):
    """Raised when the archive store fails; ``location`` names backend and place."""

    def __init__(self, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.location = location


class StorageUnavailableError(StorageError):
    """Raised when the archive store cannot be reached or refuses access."""


class StorageFullError(StorageError):
    """Raised when a volume has less free space than the configured reserve."""


class ArchiveError(StreamWeaverError):
    """Raised when archived data is missing, damaged or inconsistent."""

    def __init__(self, message: str, *, stream: str | None = None) -> None:
        super().__init__(message)
        self.stream = stream


class ReplayError(StreamWeaverError):
    """Raised when a replay request is invalid or cannot be carried out."""

    def __init__(
        self, message: str, *, stream: str | None = None, job_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.stream = stream
        self.job_id = job_id


class LeaseLostError(StreamWeaverError):
    """Raised when a broker instance acts on a stream whose lease it no longer holds."""

    def __init__(self, message: str, *, stream: str | None = None) -> None:
        super().__init__(message)
        self.stream = stream
