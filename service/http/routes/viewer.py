"""``GET /``: a small viewer page (no build step): upload, scores as bars, the methods' heatmaps side by side."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

PAGE = Path(__file__).resolve().parents[1] / "static" / "viewer.html"


@router.get("/", response_class=HTMLResponse)
async def viewer() -> HTMLResponse:
    """The viewer; it calls /v1/model, /predict and /explain from the browser."""
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))
