"""What every brainxai process does first (the HTTP service, the DICOM node): its command line (``--help`` alone),
glibc's malloc arenas capped, JSON-line logs, the settings read from the environment with a clear message."""

from __future__ import annotations

import argparse
import ctypes
import logging
import os

from pydantic import ValidationError

from service.logs import configure_logging
from service.settings import Settings

log = logging.getLogger("service")


# glibc gives each thread that allocates its own malloc arena; the worker threads (ONNX Runtime, torch, the
# request threads) then keep growing the resident memory under mixed traffic: a 10-minute soak grew +8.9 %
# after warm-up with the default, +2.5 % with 2 arenas (make soak, 10 min; docs/BENCHMARKS.md, Soak).
MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # glibc's mallopt parameter


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas (what MALLOC_ARENA_MAX does), before any thread starts; False where not glibc."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False  # the operator chose
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


def read_settings() -> Settings | None:
    """The settings from the environment; None after logging what is wrong with them."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"BRAINXAI_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        log.error("invalid settings: %s", problems)
        return None


def start_process() -> Settings | None:
    """What every brainxai process does first (the API and the DICOM node): cap malloc arenas, log JSON lines, read
    the settings (None after logging what is wrong with them), then log at their level."""
    limit_malloc_arenas()
    configure_logging("INFO")
    settings = read_settings()
    if settings is not None:
        configure_logging(settings.log_level)
    return settings


def command_line(prog: str, description: str, argv: list[str] | None) -> None:
    """An entry point's command line: ``--help`` alone, since every setting is a ``BRAINXAI_*`` environment variable
    (a stray argument is refused, not ignored)."""
    argparse.ArgumentParser(
        prog=prog, description=description, epilog="Settings: BRAINXAI_* environment variables (docs/SERVICE.md)."
    ).parse_args(argv)
