"""Admission: a full limiter refuses at once; a slot is held until the worker thread really ends, even after the
caller was answered past its deadline, so the work in flight never exceeds the limit."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from mlcore.errors import Busy, DeadlineExceeded
from service.limits import Limiter, run_admitted


def _limiter(capacity: int, rejected: list[str]) -> Limiter:
    return Limiter("work", capacity, rejected.append, retry_after_s=3)


def test_a_full_limiter_refuses_with_retry_after_and_counts_it() -> None:
    rejected: list[str] = []
    limiter = _limiter(1, rejected)
    limiter.acquire()
    with pytest.raises(Busy, match="all 1 work slot") as caught:
        limiter.acquire()
    assert caught.value.retry_after_s == 3 and rejected == ["busy_work"]
    limiter.release()
    limiter.acquire()  # free again


def test_the_slot_is_held_until_abandoned_work_ends() -> None:
    rejected: list[str] = []
    limiter = _limiter(1, rejected)
    release = threading.Event()
    running = threading.Event()

    def slow() -> str:
        running.set()
        release.wait(10)
        return "done"

    async def scenario() -> None:
        timeouts: list[int] = []
        with pytest.raises(DeadlineExceeded, match=r"0\.05 s deadline"):
            await run_admitted(limiter, slow, timeout_s=0.05, what="slow work", on_timeout=lambda: timeouts.append(1))
        assert timeouts == [1] and running.is_set()
        assert limiter.in_use == 1  # answered, but the thread still computes: its slot stays taken
        with pytest.raises(Busy):
            await run_admitted(limiter, lambda: "x", timeout_s=1, what="next", on_timeout=lambda: None)
        release.set()
        deadline = time.monotonic() + 5
        while limiter.in_use and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert limiter.in_use == 0
        assert await run_admitted(limiter, lambda: "ok", timeout_s=1, what="next", on_timeout=lambda: None) == "ok"

    asyncio.run(scenario())


def test_in_flight_work_never_exceeds_the_capacity() -> None:
    limiter = _limiter(2, [])
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
            await run_admitted(limiter, work, timeout_s=0.02, what="w", on_timeout=lambda: None)
        except (Busy, DeadlineExceeded) as exc:
            return type(exc).__name__
        return "ok"

    async def burst() -> list[str]:
        outcomes = []
        for _ in range(10):  # each times out at once, and the next arrives while threads still run
            outcomes += await asyncio.gather(one(), one(), one())
            await asyncio.sleep(0.03)
        return outcomes

    outcomes = asyncio.run(burst())
    assert peak[0] <= 2 and "Busy" in outcomes and "DeadlineExceeded" in outcomes


def test_errors_of_the_work_reach_the_caller_and_free_the_slot() -> None:
    limiter = _limiter(1, [])

    def broken() -> None:
        raise ValueError("boom")

    async def scenario() -> None:
        with pytest.raises(ValueError, match="boom"):
            await run_admitted(limiter, broken, timeout_s=1, what="w", on_timeout=lambda: None)
        await asyncio.sleep(0)
        assert limiter.in_use == 0

    asyncio.run(scenario())
