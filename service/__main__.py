"""``python -m service``: start the API with uvicorn; bad settings stop the start with a clear message."""

from __future__ import annotations

import logging
import signal
import sys

import uvicorn

from mlcore.errors import BrainxaiError
from service.http.app import create_app
from service.process import command_line, start_process

log = logging.getLogger("service")


def main(argv: list[str] | None = None) -> int:
    """Read the settings, build the app and serve it until stopped."""
    command_line("python -m service", "The brainxai HTTP service (uvicorn).", argv)
    settings = start_process()
    if settings is None:
        return 2
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal to the handler it found: with
    # Python's defaults the process would end "killed by SIGTERM" (143) after a clean shutdown. A stop asked for is
    # a clean exit: 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    try:
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=settings.shutdown_timeout_s,
        )
    except BrainxaiError as exc:
        log.error("cannot start: %s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
