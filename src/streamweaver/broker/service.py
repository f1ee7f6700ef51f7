"""The broker service: opens its dependencies, runs its components, stops cleanly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from streamweaver.broker.components import Installer, default_installers
from streamweaver.broker.context import BrokerContext, default_instance_id
from streamweaver.broker.discovery import StreamCatalog
from streamweaver.broker.supervisor import Supervisor
from streamweaver.config.model import Config
from streamweaver.connection import address_of, connect_async
from streamweaver.coordination.leases import Leases
from streamweaver.coordination.ownership import Ownership
from streamweaver.storage.base import Store

log = logging.getLogger(__name__)


class Broker:
    """One broker process: archival, retention, replay and monitoring for Redis."""

    def __init__(
        self,
        config: Config,
        *,
        store: Store | None = None,
        installers: Sequence[Installer] | None = None,
        instance_id: str | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.installers = list(installers or default_installers())
        self.instance_id = (
            instance_id or config.broker.instance_id or default_instance_id()
        )
        self.context: BrokerContext | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then stop every component and return."""
        client = connect_async(self.config.redis)
        supervisor = Supervisor()
        self.context = ctx = BrokerContext(
            config=self.config,
            redis=client,
            store=self.store,
            catalog=StreamCatalog(client, self.config.streams),
            supervisor=supervisor,
            ownership=Ownership(
                Leases(client, self.instance_id, self.config.broker.lease_ttl_s),
                lease_ttl_s=self.config.broker.lease_ttl_s,
            ),
            instance_id=self.instance_id,
        )
        for install in self.installers:
            install(ctx)
        log.info(
            "Broker %s started: Redis at %s, archive %s.",
            self.instance_id,
            address_of(self.config.redis),
            self.store.location if self.store else "disabled",
        )

        running = asyncio.create_task(supervisor.run(), name="supervisor")
        stopping = asyncio.create_task(stop.wait(), name="stop-signal")
        try:
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await self._shutdown(running, stopping)
            await client.aclose()
        log.info("Broker %s stopped.", self.instance_id)

    async def _shutdown(self, running: asyncio.Task, stopping: asyncio.Task) -> None:
        stopping.cancel()
        if running.done():
            running.result()  # re-raise what stopped the supervisor
            return
        log.info("Stopping: finishing the current step of each component.")
        running.cancel()
        timeout_s = self.config.broker.shutdown_timeout_s
        try:
            await asyncio.wait_for(asyncio.shield(running), timeout_s)
        except asyncio.CancelledError:
            pass
        except TimeoutError:
            log.warning(
                "Components did not stop within %.0fs; abandoning them.", timeout_s
            )
