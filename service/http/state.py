"""What the app holds while it runs, and the ``Annotated`` dependencies that hand it to routes."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, TypeVar
from urllib.parse import parse_qs

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from mlcore.explainers import DEFAULT_METHOD, REGISTRY, explainer_class
from service.analysis.pipeline import Analyser, Plan
from service.errors import NotReady, Unauthorized
from service.http.limits import WorkQueue, run_admitted
from service.metrics import Metrics
from service.settings import Settings

T = TypeVar("T")


@dataclass
class AppState:
    """Settings, metrics and work queues from start-up; the analyser once the model is loaded.

    ``queues``: one per kind of work — ``predict`` (no explanation), ``light`` and ``heavy`` (the
    explanation methods' declared cost; a request with any heavy method is heavy).
    """

    settings: Settings
    metrics: Metrics
    queues: dict[str, WorkQueue]
    analyser: Analyser | None = None
    ready: bool = False

    def queue_of(self, methods: Iterable[str]) -> WorkQueue:
        """The queue of work with these explanation methods: predict (none), heavy (any heavy one), else light."""
        costs = {explainer_class(method).cost for method in methods}
        return self.queues["heavy" if "heavy" in costs else "light" if costs else "predict"]

    def queue_for(self, plan: Plan) -> WorkQueue:
        """The queue of the kind of work ``plan`` is."""
        return self.queue_of(plan.parameters)

    def queue_for_request(self, path: str, query: str) -> WorkQueue | None:
        """The queue a request will wait in, told from its path and query alone (None when that is not enough)."""
        if path == "/predict":
            return self.queue_of(())
        if path == "/explain":
            method = parse_qs(query).get("method", [DEFAULT_METHOD])[0]
            if method in REGISTRY:
                return self.queue_of((method,))
        return None

    async def run(self, plan: Plan, work: Callable[[float], T], *, what: str) -> T:
        """Run ``work(deadline)`` (an analysis of ``plan`` and its rendering) on a worker thread, admitted by its
        queue; ``deadline`` is the :func:`time.monotonic` instant the answer is due, ``explain_timeout_s`` after
        the work starts."""
        timeout_s = self.settings.explain_timeout_s
        return await run_admitted(
            self.queue_for(plan),
            lambda: work(time.monotonic() + timeout_s),
            timeout_s=timeout_s,
            what=what,
            on_timeout=lambda: self.metrics.reject("timeout"),
        )


def get_state(request: Request) -> AppState:
    """The app's state object."""
    state: AppState = request.app.state.brainxai
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_analyser(state: StateDep) -> Analyser:
    """The analyser of the loaded model; :class:`NotReady` while the model is still loading."""
    if state.analyser is None or not state.ready:
        raise NotReady("the model is still loading; retry shortly", retry_after_s=2)
    return state.analyser


AnalyserDep = Annotated[Analyser, Depends(get_analyser)]

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="one of BRAINXAI_API_KEYS")
_bearer = HTTPBearer(auto_error=False, description="one of BRAINXAI_API_KEYS as a Bearer token")


def require_api_key(
    state: StateDep,
    api_key: Annotated[str | None, Security(_api_key_header)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> None:
    """When keys are configured, the request must present one (compared in constant time)."""
    keys = state.settings.api_keys
    if not keys:
        return
    presented = (api_key or (bearer.credentials if bearer else "")).encode()
    matched = False
    for key in keys:  # no early exit: the time taken does not tell which key came close
        matched |= hmac.compare_digest(presented, key.encode())
    if not presented or not matched:
        state.metrics.reject("unauthorized")
        raise Unauthorized("a valid API key is required: send it as X-API-Key or Authorization: Bearer")


def require_api_key_for_health(
    state: StateDep,
    api_key: Annotated[str | None, Security(_api_key_header)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> None:
    """Health, readiness and metrics stay open unless BRAINXAI_PROTECT_HEALTH is set."""
    if state.settings.protect_health:
        require_api_key(state, api_key, bearer)
