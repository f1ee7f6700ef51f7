"""``streamweaver-broker``: the broker process, as the original broker was started.

streamweaver-broker --config=config.yml
streamweaver-broker --dev        # private Valkey and local storage under ./data
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

import click

from streamweaver.broker.logs import setup_logging
from streamweaver.broker.service import Broker
from streamweaver.config import Config, load_config
from streamweaver.embedded import EmbeddedServer
from streamweaver.errors import StreamWeaverError
from streamweaver.storage import open_store

log = logging.getLogger("streamweaver.broker")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The broker's YAML configuration file.",
)
@click.option(
    "--dev",
    is_flag=True,
    help="Run a private Valkey (AOF in redis.data_dir) and archive to local disk.",
)
@click.option("--log-format", type=click.Choice(["text", "json"]), default=None)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
)
@click.version_option(package_name="streamweaver")
def main(
    config_path: Path | None, dev: bool, log_format: str | None, log_level: str | None
) -> None:
    """Run the StreamWeaver broker."""
    try:
        config = load_config(config_path)
        if dev:
            config = _dev_config(config)
    except StreamWeaverError as exc:
        _fail(exc)
    setup_logging(
        log_level or config.broker.log_level, log_format or config.broker.log_format
    )
    try:
        exit_code = _serve(config)
    except StreamWeaverError as exc:
        _fail(exc)
    sys.exit(exit_code)


def _dev_config(config: Config) -> Config:
    redis = config.redis.model_copy(update={"embedded": True, "host": "127.0.0.1"})
    storage = config.storage.model_copy(update={"type": "local"})
    return config.model_copy(update={"redis": redis, "storage": storage})


def _serve(config: Config) -> int:
    server = None
    if config.redis.embedded:
        server = EmbeddedServer(
            config.redis.data_dir, host=config.redis.host, port=config.redis.port
        ).start()
        log.info("Embedded Valkey keeps its data (AOF) in %s.", config.redis.data_dir)
    try:
        store = open_store(config.storage)
        asyncio.run(_run(config, store))
    finally:
        if server is not None:
            server.stop()
    return 0


async def _run(config: Config, store) -> None:
    await store.check()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_signal, stop, signum)
    await Broker(config, store=store).run(stop)


def _on_signal(stop: asyncio.Event, signum: int) -> None:
    if stop.is_set():
        return
    log.info("Received %s; shutting down.", signal.Signals(signum).name)
    stop.set()


def _fail(exc: BaseException) -> None:
    click.echo(f"streamweaver-broker: {exc}", err=True)
    sys.exit(2)


if __name__ == "__main__":
    main()
