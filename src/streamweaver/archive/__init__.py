"""The archive: streams as Parquet segments in a store, indexed in Redis.

``layout`` names the objects, ``segment`` encodes and decodes them, ``index``
keeps the per-stream segment index (and rebuilds it from the store), ``reader``
reads entries back in ID order, ``verify`` and ``export`` serve the CLI.
"""

from streamweaver.archive.index import SegmentIndex
from streamweaver.archive.layout import (
    escape_stream,
    parse_segment_name,
    segment_name,
    stream_prefix,
    unescape_stream,
)
from streamweaver.archive.reader import read_archive
from streamweaver.archive.segment import (
    SegmentMeta,
    decode_segment,
    encode_segment,
    iter_entries,
)

__all__ = [
    "SegmentIndex",
    "SegmentMeta",
    "decode_segment",
    "encode_segment",
    "escape_stream",
    "iter_entries",
    "parse_segment_name",
    "read_archive",
    "segment_name",
    "stream_prefix",
    "unescape_stream",
]
