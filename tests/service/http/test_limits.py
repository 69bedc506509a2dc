"""Admission by waiting time: requests wait in line for a worker in arrival order; a full line or a long expected
wait is refused at once with Retry-After; a request that waited too long is not started; a worker is held until
the thread really ends, even after the caller was answered past its deadline."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from mlcore.errors import DeadlineExceeded
from service.errors import Busy
from service.http.limits import WorkQueue, run_admitted
from service.metrics import QueueObserver


def _queue(workers: int = 1, *, max_queue: int = 8, max_wait_s: float = 5.0) -> tuple[WorkQueue, list[str]]:
    rejected: list[str] = []
    depths: list[int] = []
    observer = QueueObserver(on_reject=rejected.append, on_depth=lambda name, depth: depths.append(depth))
    return WorkQueue("work", workers, max_queue=max_queue, max_wait_s=max_wait_s, observer=observer), rejected


def test_requests_wait_in_line_and_are_served_in_arrival_order() -> None:
    queue, rejected = _queue(workers=1)
    order: list[int] = []

    async def one(index: int) -> None:
        await queue.acquire()
        order.append(index)
        await asyncio.sleep(0.01)
        queue.release(0.01)

    async def scenario() -> None:
        await asyncio.gather(*(one(index) for index in range(6)))

    asyncio.run(scenario())
    assert order == list(range(6)) and not rejected and queue.in_use == 0 and queue.depth == 0


def test_a_full_line_is_refused_at_once_with_retry_after() -> None:
    queue, rejected = _queue(workers=1, max_queue=2)

    async def scenario() -> None:
        await queue.acquire()  # the worker
        waiters = [asyncio.ensure_future(queue.acquire()) for _ in range(2)]  # the line
        await asyncio.sleep(0)
        begun = time.monotonic()
        with pytest.raises(Busy, match="full") as caught:
            await queue.acquire()
        assert time.monotonic() - begun < 0.5 and caught.value.retry_after_s >= 1  # not the 5 s it could wait
        for _ in range(3):
            queue.release(0.01)
            await asyncio.sleep(0)
        await asyncio.gather(*waiters)

    asyncio.run(scenario())
    assert rejected == ["busy_work"] and queue.in_use == 0


def test_a_long_expected_wait_is_refused_and_retry_after_says_how_long() -> None:
    queue, _ = _queue(workers=2, max_wait_s=1.0)
    queue.service_s = 0.8  # measured: each piece of work takes 0.8 s

    async def scenario() -> None:
        await queue.acquire()
        await queue.acquire()  # both workers busy
        # The first two in line each expect one piece of work (0.8 s): accepted.
        waiters = [asyncio.ensure_future(queue.acquire()) for _ in range(2)]
        await asyncio.sleep(0)
        assert queue.depth == 2 and queue.expected_wait_s() == pytest.approx(1.6)  # the third would wait two
        with pytest.raises(Busy, match=r"expected wait 1\.6 s") as caught:
            await queue.acquire()
        assert caught.value.retry_after_s == 2
        for _ in range(4):
            queue.release(0.8)
        await asyncio.gather(*waiters)
        assert queue.in_use == 0

    asyncio.run(scenario())


def test_a_request_that_waited_past_the_budget_is_not_started() -> None:
    queue, rejected = _queue(workers=1, max_wait_s=0.05)

    async def scenario() -> None:
        await queue.acquire()
        with pytest.raises(Busy, match="not started"):
            await queue.acquire()
        assert queue.depth == 0 and queue.in_use == 1
        queue.release()
        assert queue.in_use == 0

    asyncio.run(scenario())
    assert rejected == ["busy_work"]


def test_the_service_time_is_a_running_mean_of_the_work() -> None:
    queue, _ = _queue()
    for duration in (1.0, 1.0, 2.0):
        queue.in_use += 1
        queue.release(duration)
    assert queue.service_s == pytest.approx(0.8 * 1.0 + 0.2 * 2.0)


def test_the_worker_is_held_until_abandoned_work_ends() -> None:
    queue, _ = _queue(workers=1, max_queue=0)
    release, running = threading.Event(), threading.Event()

    def slow() -> str:
        running.set()
        release.wait(10)
        return "done"

    async def scenario() -> None:
        timeouts: list[int] = []
        with pytest.raises(DeadlineExceeded, match=r"0\.05 s deadline"):
            await run_admitted(queue, slow, timeout_s=0.05, what="slow work", on_timeout=lambda: timeouts.append(1))
        assert timeouts == [1] and running.is_set()
        assert queue.in_use == 1  # answered, but the thread still computes: its worker stays taken
        with pytest.raises(Busy):
            await run_admitted(queue, lambda: "x", timeout_s=1, what="next", on_timeout=lambda: None)
        release.set()
        deadline = time.monotonic() + 5
        while queue.in_use and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert queue.in_use == 0
        assert await run_admitted(queue, lambda: "ok", timeout_s=1, what="next", on_timeout=lambda: None) == "ok"

    asyncio.run(scenario())


def test_in_flight_work_never_exceeds_the_workers() -> None:
    queue, _ = _queue(workers=2, max_queue=4, max_wait_s=0.05)
    lock = threading.Lock()
    active, peak = [0], [0]

    def work() -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.1)
        with lock:
            active[0] -= 1

    async def one() -> str:
        try:
            await run_admitted(queue, work, timeout_s=0.02, what="w", on_timeout=lambda: None)
        except (Busy, DeadlineExceeded) as exc:
            return type(exc).__name__
        return "ok"

    async def burst() -> list[str]:
        outcomes = []
        for _ in range(8):  # each times out at once, and the next arrive while threads still run
            outcomes += await asyncio.gather(*(one() for _ in range(4)))
            await asyncio.sleep(0.03)
        return outcomes

    outcomes = asyncio.run(burst())
    assert peak[0] <= 2 and "Busy" in outcomes and "DeadlineExceeded" in outcomes


def test_errors_of_the_work_reach_the_caller_and_free_the_worker() -> None:
    queue, _ = _queue()

    def broken() -> None:
        raise ValueError("boom")

    async def scenario() -> None:
        with pytest.raises(ValueError, match="boom"):
            await run_admitted(queue, broken, timeout_s=1, what="w", on_timeout=lambda: None)
        await asyncio.sleep(0)
        assert queue.in_use == 0 and queue.service_s == 0.0  # a failure is not a service time

    asyncio.run(scenario())


def test_a_primed_queue_estimates_waits_before_any_work_finished() -> None:
    """The warm-up's measurement is the service time until the first request finishes, which then replaces it."""
    from service.http.limits import WorkQueue
    from service.metrics import QueueObserver

    queue = WorkQueue("heavy", 1, max_queue=8, max_wait_s=1.0, observer=QueueObserver(on_reject=lambda reason: None))
    queue.prime(0.4)
    assert queue.service_s == 0.4
    queue.in_use = 1
    queue.release(1.5)
    assert queue.service_s == 1.5
    queue.prime(9.0)  # a measured service time is not overwritten by a later prime
    assert queue.service_s == 1.5
