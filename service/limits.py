"""Bounded concurrency: a slot is taken at once or the request is answered 503 with Retry-After.

The service never queues model work without limit: each kind of work (prediction, Grad-CAM,
LIME) has its own small number of slots, and a request that finds them all taken is rejected.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from service.errors import Busy

T = TypeVar("T")


class Limiter:
    """A non-blocking counting semaphore for one kind of work (used from the event loop only)."""

    def __init__(self, name: str, capacity: int, on_reject: Callable[[str], None], retry_after_s: int = 1) -> None:
        self.name = name
        self.capacity = capacity
        self.in_use = 0
        self._on_reject = on_reject
        self._retry_after = str(retry_after_s)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the block; raise :class:`Busy` (503) when none is free."""
        if self.in_use >= self.capacity:
            self._on_reject(f"busy_{self.name}")
            raise Busy(
                f"all {self.capacity} {self.name} slot(s) are in use; retry shortly",
                {"Retry-After": self._retry_after},
            )
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1


async def with_deadline(work: Awaitable[T], seconds: float, what: str, on_timeout: Callable[[], None]) -> T:
    """Await ``work`` for at most ``seconds``; past that answer 503 (the work is told to stop by its deadline)."""
    try:
        return await asyncio.wait_for(work, timeout=seconds)
    except TimeoutError:
        on_timeout()
        raise Busy(f"{what} ran past its {seconds:g} s deadline and was abandoned", {"Retry-After": "5"}) from None
