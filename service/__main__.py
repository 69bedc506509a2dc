"""``python -m service``: start the API with uvicorn; bad settings stop the start with a clear message."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from mlcore.errors import BrainxaiError
from service.app import create_app
from service.logs import configure_logging
from service.settings import Settings

log = logging.getLogger("service")


def main() -> int:
    """Read the settings, build the app and serve it until stopped."""
    configure_logging("INFO")
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"BRAINXAI_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        log.error("invalid settings: %s", problems)
        return 2
    configure_logging(settings.log_level)
    try:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, access_log=False, log_config=None)
    except BrainxaiError as exc:
        log.error("cannot start: %s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
