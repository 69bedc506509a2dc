"""Draw docs/ARCHITECTURE.md's picture from the imports: the product's rooms and which imports which.

``python bench/architecture.py`` (``make architecture``) reads the import graph with grimp (import-linter's graph
library, the one the contracts are checked on), groups the modules into the rooms of :data:`ROOMS`, and rewrites the
Mermaid block between the ``<!-- generated:architecture -->`` markers. ``--check`` only says whether the committed
picture is current (the suite runs it). Entry points (``__main__`` modules) are left out: each imports the rooms it
runs, and nothing imports them.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "ARCHITECTURE.md"
PACKAGES = ("mlcore", "training", "service", "brainxai")
MARKER = "<!-- generated:architecture -->"
# Each room of the picture: its label and the modules (or packages) it holds. Every product module is in exactly one.
ROOMS: dict[str, tuple[str, ...]] = {
    "brainxai: the command, Python API, MONAI Bundle": ("brainxai",),
    "service.http: app, routes, admission, problems": ("service.http",),
    "service.dimse: the DICOM node": ("service.dimse",),
    "service start-up: loading, process": ("service.loading", "service.process"),
    "service.analysis: the one pipeline, series, results": ("service.analysis",),
    "service.dicom: reading, mending, SR/PM/SC, DICOMweb": ("service.dicom",),
    "service base: settings, schemas, errors, image, metrics, logs": (
        "service.settings",
        "service.schemas",
        "service.errors",
        "service.image",
        "service.metrics",
        "service.logs",
        "service",
    ),
    "training.input_check: gate, detector, assembled sets": ("training.input_check",),
    "training.artifact: export, operating point, card": ("training.artifact",),
    "training.evaluation: metrics of maps and removals, reports": ("training.evaluation",),
    "training.fit: models, losses, loop, recipes": ("training.fit",),
    "training.data: dataset, boxes, splits, augmentation": ("training.data",),
    "training base: metrics, provenance": ("training.metrics", "training.provenance", "training"),
    "mlcore model: the artifact, its runtimes, ONNX and int8": (
        "mlcore.artifact",
        "mlcore.runtimes",
        "mlcore.onnx_forward",
        "mlcore.quantize",
        "mlcore.cpu",
    ),
    "mlcore.explainers: one file per method": ("mlcore.explainers",),
    "mlcore.input_check: the check, gate, detector": ("mlcore.input_check",),
    "mlcore base: errors, preprocessing, fills, rendering, evidence check": ("mlcore",),
}

log = logging.getLogger(__name__)


def room_of(module: str) -> str | None:
    """The room a module belongs to (its longest matching prefix in :data:`ROOMS`); None for an entry point."""
    if module.split(".")[-1] == "__main__":
        return None
    matches = [
        (len(prefix), room)
        for room, prefixes in ROOMS.items()
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    if not matches:
        raise ValueError(f"{module} is in no room of the picture: add it to bench/architecture.py's ROOMS")
    return max(matches)[1]


def room_imports() -> dict[str, set[str]]:
    """For each room, the other rooms its modules import directly (product packages only)."""
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)  # no cache folder left in the checkout
    edges: dict[str, set[str]] = {room: set() for room in ROOMS}
    for module in sorted(graph.modules):
        source = room_of(module)
        for imported in graph.find_modules_directly_imported_by(module):
            target = room_of(imported)
            if source is not None and target is not None and target != source:
                edges[source].add(target)
    return edges


def mermaid(edges: dict[str, set[str]]) -> str:
    """The picture as a Mermaid flowchart, top (entry) rooms first, in :data:`ROOMS` order."""
    names = {room: f"r{index}" for index, room in enumerate(ROOMS)}
    lines = ["```mermaid", "flowchart TD"]
    lines += [f'  {names[room]}["{room}"]' for room in ROOMS]
    lines += [f"  {names[source]} --> {names[target]}" for source in ROOMS for target in sorted(edges[source])]
    return "\n".join([*lines, "```"])


def rendered_page(page: str, picture: str) -> str:
    """``page`` with the block between the two markers replaced by ``picture``."""
    pattern = re.compile(rf"{re.escape(MARKER)}\n(?:.*?\n)?{re.escape(MARKER)}", re.S)
    if len(pattern.findall(page)) != 1:
        raise ValueError(f"{PAGE.name} must hold exactly one block between two {MARKER} lines")
    return pattern.sub(lambda _: f"{MARKER}\n{picture}\n{MARKER}", page)


def main(argv: list[str] | None = None) -> int:
    """Rewrite the picture, or with ``--check`` return 1 when the committed one is stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the committed picture is current")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    page = PAGE.read_text()
    current = rendered_page(page, mermaid(room_imports()))
    if args.check:
        if current != page:
            log.error("docs/ARCHITECTURE.md's picture is stale: run python bench/architecture.py")
            return 1
        return 0
    PAGE.write_text(current)
    log.info("wrote %s", PAGE.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
