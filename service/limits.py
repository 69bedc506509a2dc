"""Bounded model work: a slot per piece of work, held until the worker thread has really finished.

Each kind of work (predictions, light and heavy explanation methods — the methods' declared ``cost``)
has its own small number of slots. A request that finds them all taken is refused with
:class:`~mlcore.errors.Busy` (503, Retry-After). :func:`run_admitted` runs the work on a worker
thread; past its deadline the request is answered with :class:`~mlcore.errors.DeadlineExceeded`
(503 ``timeout``) at once, but the slot stays taken until the thread returns — the work itself stops
at its next deadline check — so the work in flight never exceeds the limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from mlcore.errors import Busy, DeadlineExceeded

T = TypeVar("T")


class Limiter:
    """A non-blocking counting semaphore for one kind of work (used from the event loop only)."""

    def __init__(self, name: str, capacity: int, on_reject: Callable[[str], None], *, retry_after_s: float = 1) -> None:
        self.name = name
        self.capacity = capacity
        self.in_use = 0
        self._on_reject = on_reject
        self._retry_after_s = retry_after_s

    def acquire(self) -> None:
        """Take one slot, or raise :class:`Busy` when none is free."""
        if self.in_use >= self.capacity:
            self._on_reject(f"busy_{self.name}")
            raise Busy(
                f"all {self.capacity} {self.name} slot(s) are in use; retry shortly", retry_after_s=self._retry_after_s
            )
        self.in_use += 1

    def release(self) -> None:
        """Give one slot back."""
        self.in_use -= 1


async def run_admitted(
    limiter: Limiter, work: Callable[[], T], *, timeout_s: float, what: str, on_timeout: Callable[[], None]
) -> T:
    """Run ``work`` on a worker thread in a slot of ``limiter``, answering within ``timeout_s``.

    The slot is released when the thread finishes, not when the caller stops waiting: ``work`` must
    itself stop soon after its deadline (the explainers check it between batches).
    """
    limiter.acquire()
    try:
        future = asyncio.ensure_future(run_in_threadpool(work))
    except BaseException:
        limiter.release()
        raise
    future.add_done_callback(lambda done: _finish(limiter, done))
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout=timeout_s)
    except TimeoutError:
        on_timeout()
        raise DeadlineExceeded(
            f"{what} ran past its {timeout_s:g} s deadline and was stopped; retry later or ask for less work",
            retry_after_s=5,
        ) from None


def _finish(limiter: Limiter, future: asyncio.Future[T]) -> None:
    """Free the slot; read the outcome so that abandoned work's error is not logged as never retrieved."""
    limiter.release()
    if not future.cancelled():
        future.exception()
