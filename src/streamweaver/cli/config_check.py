"""``streamweaver config check FILE``: validate a broker config before deploying it."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from streamweaver.cli.common import reported_errors
from streamweaver.config import load_config
from streamweaver.config.load import redacted


@click.group("config")
def config_group() -> None:
    """Check broker configuration files."""


@config_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--quiet", "-q", is_flag=True, help="Print nothing when the file is valid."
)
def check(file: Path, quiet: bool) -> None:
    """Validate FILE and print the effective configuration, secrets redacted."""
    with reported_errors():
        config = load_config(file)
    if quiet:
        return
    click.echo(f"# {file}: valid. Effective configuration (secrets redacted):")
    click.echo(yaml.safe_dump(redacted(config), sort_keys=False).rstrip())
