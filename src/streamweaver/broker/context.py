"""What every broker component is given: config, connections and shared state."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

import redis.asyncio

from streamweaver.broker.discovery import StreamCatalog
from streamweaver.broker.supervisor import Outages, Supervisor
from streamweaver.config.model import Config
from streamweaver.coordination.ownership import Ownership
from streamweaver.storage.base import Store


def default_instance_id() -> str:
    """A name for this broker process that is unique on the network."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class BrokerContext:
    """Shared by the components of one broker process."""

    config: Config
    redis: redis.asyncio.Redis
    store: Store | None
    catalog: StreamCatalog
    supervisor: Supervisor
    ownership: Ownership
    outages: Outages = field(default_factory=Outages)
    instance_id: str = field(default_factory=default_instance_id)
