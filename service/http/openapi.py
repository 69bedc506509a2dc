"""``python -m service.http.openapi``: write the app's OpenAPI spec to ``openapi/openapi.json``."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from service.http.app import create_app
from service.settings import Settings

log = logging.getLogger("service.http.openapi")

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def build_spec() -> dict[str, Any]:
    """The app's OpenAPI document; settings are not validated, so no model file is needed."""
    spec: dict[str, Any] = create_app(Settings.model_construct()).openapi()
    return spec


def render_spec() -> str:
    """The spec as committed: sorted-key, indented JSON with a final newline."""
    return json.dumps(build_spec(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    """Write the spec file and say where."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    SPEC_PATH.parent.mkdir(parents=True, exist_ok=True)
    SPEC_PATH.write_text(render_spec())
    log.info("wrote %s", SPEC_PATH)
    return 0


if __name__ == "__main__":
    sys.exit(main())
