"""The StreamWeaver client: produce, consume and read Redis streams.

The sync :class:`Client` and the asyncio :class:`AsyncClient` share one
implementation of every operation (see ``_protocol``); the wire conventions
other languages follow are in ``docs/protocol.md``.
"""

from streamweaver.client._partitioned_membership import MembershipOptions
from streamweaver.client._protocol import PendingEntry
from streamweaver.client.async_client import AsyncClient
from streamweaver.client.async_consumer import AsyncConsumer
from streamweaver.client.codec import EncodedMessage, decode_message, encode_message
from streamweaver.client.ids import StreamId
from streamweaver.client.message import AsyncMessage, BaseMessage, Message
from streamweaver.client.options import ConsumerOptions
from streamweaver.client.partitioned_consumer import (
    AsyncPartitionedConsumer,
    PartitionedConsumer,
)
from streamweaver.client.sync_client import Client
from streamweaver.client.sync_consumer import Consumer

__all__ = [
    "AsyncClient",
    "AsyncConsumer",
    "AsyncMessage",
    "AsyncPartitionedConsumer",
    "BaseMessage",
    "Client",
    "Consumer",
    "ConsumerOptions",
    "EncodedMessage",
    "MembershipOptions",
    "Message",
    "PartitionedConsumer",
    "PendingEntry",
    "StreamId",
    "decode_message",
    "encode_message",
]
