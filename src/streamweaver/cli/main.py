"""``streamweaver``: produce, consume and inspect streams, the archive and replays."""

from __future__ import annotations

import click

from streamweaver.cli.archive import archive
from streamweaver.cli.config_check import config_group
from streamweaver.cli.messages import consume, produce, tail
from streamweaver.cli.replay import replay, replays
from streamweaver.cli.status import status
from streamweaver.cli.streams import streams


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="streamweaver")
def main() -> None:
    """StreamWeaver: Redis Streams with tiered retention to S3, block or local disk."""


main.add_command(config_group)
main.add_command(streams)
main.add_command(archive)
for command in (produce, consume, tail, replay, replays, status):
    main.add_command(command)
