"""What every ``streamweaver`` subcommand shares: config options and error output."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from streamweaver.config import Config, config_from_mapping, load_config
from streamweaver.errors import StreamWeaverError

F = TypeVar("F", bound=Callable[..., Any])


def config_options(command: F) -> F:
    """Add ``--config`` and ``--redis-url``; the command receives ``config: Config``."""

    @click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="STREAMWEAVER_CONFIG",
        help="Broker configuration file (default: built-in defaults). "
        "Env: STREAMWEAVER_CONFIG.",
    )
    @click.option(
        "--redis-url",
        envvar="STREAMWEAVER_REDIS_URL",
        help="Redis URL, overriding the config (redis://[user:pass@]host:port/db). "
        "Env: STREAMWEAVER_REDIS_URL.",
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any, config_path: Path | None, redis_url: str | None, **kwargs: Any
    ) -> Any:
        with reported_errors():
            config = load_cli_config(config_path, redis_url)
            return command(*args, config=config, **kwargs)

    return wrapper  # type: ignore[return-value]


def load_cli_config(path: Path | None, redis_url: str | None = None) -> Config:
    """The config a CLI command runs with: the file, then ``--redis-url`` on top."""
    config = load_config(path)
    if redis_url:
        # Validate the URL alone, then copy it in: re-validating a dumped section
        # fails on its durations, which dump as bare numbers.
        url = config_from_mapping({"redis": {"url": redis_url}}, source="--redis-url")
        redis = config.redis.model_copy(update={"url": url.redis.url})
        config = config.model_copy(update={"redis": redis})
    return config


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn StreamWeaver errors into one line on stderr and a non-zero exit."""
    try:
        yield
    except StreamWeaverError as exc:
        raise click.ClickException(str(exc)) from exc
