"""The OpenAPI description of the HTTP API, as published in docs/openapi.json.

Regenerate the file with ``uv run python -m streamweaver.monitoring.openapi``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamweaver.monitoring.api import create_app

PUBLISHED = Path("docs/openapi.json")


def openapi_document() -> dict[str, Any]:
    """The description the broker serves at /openapi.json."""
    return create_app(None).openapi()  # type: ignore[arg-type]  # routes only


def main() -> None:
    text = json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"
    PUBLISHED.write_text(text, encoding="utf-8")
    print(f"Wrote {PUBLISHED}.")


if __name__ == "__main__":
    main()
