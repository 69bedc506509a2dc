"""Admission by waiting time: a bounded FIFO queue in front of each kind of work.

Each kind of work (predictions, light and heavy explanation methods — the methods' declared ``cost``)
has a few workers and a queue in front of them. A request waits for a worker in arrival order; it is
refused with :class:`~service.errors.Busy` (503, ``Retry-After`` from the queue's measured service time)
when the queue is full or the wait it can expect exceeds the budget, and a request that has waited
past the budget is not started. Cheap routes (health, metrics, the model card) never enter a queue.

:func:`run_admitted` runs the admitted work on a worker thread; past its deadline the request is
answered with :class:`~mlcore.errors.DeadlineExceeded` (503 ``timeout``) at once, but the worker stays
taken until the thread returns — the work itself stops at its next deadline check — so the work in
flight never exceeds the number of workers.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from mlcore.errors import DeadlineExceeded
from service.errors import Busy
from service.metrics import QueueObserver

T = TypeVar("T")

# Weight of the newest measurement in the running mean of the service time.
SMOOTHING = 0.2


class WorkQueue:
    """``workers`` slots and a FIFO queue of at most ``max_queue`` waiting requests (event loop only).

    ``max_wait_s``: the longest a request may expect to wait (refused at once beyond it) or wait
    (refused, not started, once it has). The service time is the running mean of the work's durations.
    """

    def __init__(self, name: str, workers: int, *, max_queue: int, max_wait_s: float, observer: QueueObserver) -> None:
        self.name = name
        self.workers = workers
        self.max_queue = max_queue
        self.max_wait_s = max_wait_s
        self.in_use = 0
        self.service_s = 0.0
        self._measured = False  # whether service_s comes from finished requests (else from the warm-up, or none)
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._observer = observer

    @property
    def depth(self) -> int:
        """Requests waiting for a worker."""
        return len(self._waiting)

    def expected_wait_s(self) -> float:
        """How long a request arriving now can expect to wait: the queue ahead of it, served by every worker."""
        if self.in_use < self.workers and not self._waiting:
            return 0.0
        return math.ceil((len(self._waiting) + 1) / self.workers) * self.service_s

    def refusal(self) -> str | None:
        """Why a request arriving now would be refused at once (line full, or too long a wait), or None."""
        if self.in_use < self.workers and not self._waiting:
            return None
        if len(self._waiting) >= self.max_queue:
            return "full"
        expected = self.expected_wait_s()
        return f"expected wait {expected:.1f} s" if expected > self.max_wait_s else None

    def shed(self, reason: str) -> Busy:
        """Count a refusal for ``reason`` (from :meth:`refusal`), and the error that answers it."""
        return self._refusal_error(f"the {self.name} queue is busy ({reason}); retry shortly", self.expected_wait_s())

    async def acquire(self) -> None:
        """Wait in line for a worker; :class:`Busy` when the line is full, too long, or was waited in too long."""
        if self.in_use < self.workers and not self._waiting:
            self.in_use += 1
            self._observer.on_wait(self.name, 0.0)
            return
        reason = self.refusal()
        if reason is not None:
            raise self.shed(reason)
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(ticket)
        self._observer.on_depth(self.name, len(self._waiting))
        started = time.monotonic()
        try:
            await asyncio.wait_for(asyncio.shield(ticket), timeout=self.max_wait_s)
        except TimeoutError:
            if self._leave(ticket):
                message = f"waited {self.max_wait_s:g} s for a {self.name} worker; not started"
                raise self._refusal_error(message, self.max_wait_s) from None
            # else a worker was handed to it just as it gave up: it takes it (refusing would lose the worker)
        except BaseException:  # the client went away: give the worker on to the next if it was handed over
            if not self._leave(ticket):
                self.release()
            raise
        self._observer.on_wait(self.name, time.monotonic() - started)

    def prime(self, duration_s: float) -> None:
        """Start the service time from the warm-up's measured duration, before any request has finished; the first
        finished request replaces it."""
        if not self._measured:
            self.service_s = duration_s

    def release(self, duration_s: float | None = None) -> None:
        """Give a worker back (to the first in line, if any); ``duration_s`` updates the service time."""
        if duration_s is not None:
            first, self._measured = not self._measured, True
            self.service_s = duration_s if first else (1 - SMOOTHING) * self.service_s + SMOOTHING * duration_s
        while self._waiting:
            ticket = self._waiting.popleft()
            self._observer.on_depth(self.name, len(self._waiting))
            if not ticket.done():
                ticket.set_result(None)  # the worker passes straight to it: in_use stays the same
                return
        self.in_use -= 1

    def _leave(self, ticket: asyncio.Future[None]) -> bool:
        """Take a ticket out of the line; False when a worker had already been handed to it."""
        if ticket.done():
            return False
        ticket.cancel()
        self._waiting.remove(ticket)
        self._observer.on_depth(self.name, len(self._waiting))
        return True

    def _refusal_error(self, message: str, wait_s: float) -> Busy:
        """Count one refusal; the error, with a Retry-After of the wait it would have had (at least 1 s)."""
        self._observer.on_reject(f"busy_{self.name}")
        return Busy(message, retry_after_s=max(1.0, math.ceil(wait_s)))


async def run_admitted(
    queue: WorkQueue, work: Callable[[], T], *, timeout_s: float, what: str, on_timeout: Callable[[], None]
) -> T:
    """Wait for a worker of ``queue``, then run ``work`` on a thread, answering within ``timeout_s`` of the start.

    The worker is released when the thread finishes, not when the caller stops waiting: ``work`` must
    itself stop soon after its deadline (the explainers check it between batches).
    """
    await queue.acquire()
    started = time.monotonic()
    try:
        future = asyncio.ensure_future(run_in_threadpool(work))
    except BaseException:
        queue.release()
        raise
    future.add_done_callback(lambda done: _finish(queue, done, time.monotonic() - started))
    try:
        return await asyncio.wait_for(asyncio.shield(future), timeout=timeout_s)
    except TimeoutError:
        on_timeout()
        raise DeadlineExceeded(
            f"{what} ran past its {timeout_s:g} s deadline and was stopped; retry later or ask for less work",
            retry_after_s=5,
        ) from None


def _finish(queue: WorkQueue, future: asyncio.Future[T], duration_s: float) -> None:
    """Free the worker and measure it; read the outcome so that abandoned work's error is not logged as lost."""
    failed = future.cancelled() or future.exception() is not None
    queue.release(None if failed else duration_s)
