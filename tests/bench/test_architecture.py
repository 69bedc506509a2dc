"""docs/ARCHITECTURE.md's picture follows the imports: every product module is in a room, and the committed picture
is the one the import graph draws today."""

from __future__ import annotations

import pytest
from architecture import PAGE, ROOMS, main, mermaid, rendered_page, room_imports, room_of  # bench/ (conftest.py)


def test_every_module_has_a_room_and_entry_points_none() -> None:
    assert room_of("service.http.routes.predict") == "service.http: app, routes, admission, problems"
    assert room_of("service.loading") == "service start-up: loading, process"
    assert room_of("service.settings") == room_of("service")
    assert room_of("training.__main__") is None
    with pytest.raises(ValueError, match="in no room"):
        room_of("research.anything")
    edges = room_imports()  # raises for a product module in no room
    assert set(edges) == set(ROOMS)


def test_the_picture_shows_the_contracts_directions() -> None:
    """What the import contracts forbid is absent from the picture, and a known import is drawn."""
    edges = room_imports()
    dicom, analysis = room_of("service.dicom.report"), room_of("service.analysis.pipeline")
    http, node = room_of("service.http.app"), room_of("service.dimse.node")
    assert dicom in edges[analysis] and analysis not in edges[dicom]
    assert http not in edges[node] and node not in edges[http]
    assert not {room for room in edges if room.startswith("service")} & edges[room_of("training.fit.loop")]


def test_the_committed_picture_is_current() -> None:
    assert main(["--check"]) == 0, "run python bench/architecture.py (make architecture) and commit the page"
    stale = rendered_page(PAGE.read_text(), mermaid({room: set() for room in ROOMS}))
    assert stale != PAGE.read_text()  # a picture without arrows would be found stale
