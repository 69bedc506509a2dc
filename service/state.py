"""What the app holds while it runs, and the ``Annotated`` dependencies that hand it to routes."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from service.errors import NotReady, Unauthorized
from service.inference import Predictor
from service.limits import Limiter
from service.metrics import Metrics
from service.settings import Settings


@dataclass
class AppState:
    """Settings, metrics and limiters from start-up; the predictor once the model is loaded."""

    settings: Settings
    metrics: Metrics
    limiters: dict[str, Limiter]
    predictor: Predictor | None = None
    ready: bool = False


def get_state(request: Request) -> AppState:
    """The app's state object."""
    state: AppState = request.app.state.brainxai
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_predictor(state: StateDep) -> Predictor:
    """The loaded model, or 503 while it is still loading."""
    if state.predictor is None or not state.ready:
        raise NotReady("the model is still loading; retry shortly", {"Retry-After": "2"})
    return state.predictor


PredictorDep = Annotated[Predictor, Depends(get_predictor)]

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
        raise Unauthorized(
            "a valid API key is required: send it as X-API-Key or Authorization: Bearer",
            {"WWW-Authenticate": 'Bearer realm="brainxai"'},
        )


def require_api_key_for_health(
    state: StateDep,
    api_key: Annotated[str | None, Security(_api_key_header)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> None:
    """Health, readiness and metrics stay open unless BRAINXAI_PROTECT_HEALTH is set."""
    if state.settings.protect_health:
        require_api_key(state, api_key, bearer)
