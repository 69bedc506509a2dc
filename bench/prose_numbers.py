"""Every measured figure typed into the documents' prose, found in a report of the shipped model or labelled as older.

A *figure* is a number with a unit of measurement (``%``, ``ms``, ``s``, ``MiB``, ``MB``, ``GiB``, ``GB``, ``×``,
``req/s``, ``images/s``, ``points``) in README.md, models/MODEL_CARD.notes.md (the card's hand-written part; the rest of
the card is rendered from the artifact and its reports) and docs/*.md, outside what is generated and checked elsewhere:
measured blocks (:mod:`bench.doc_blocks`), included reports (``<!-- begin FILE -->`` … ``<!-- end FILE -->``), code
and HTML comments. docs/BENCHMARKS.md is itself the bench's report and docs/research/ is history: neither is read.

A figure is *accounted for* when

- its value, at the precision it is printed with, is a number of a **current report that the page names** (its path
  or file name; ``BENCHMARKS.md`` names ``BENCHMARKS.json``) — a committed JSON report that names the shipped
  artifact (its sha256, or its name and version) or a dataset report that names no model — or of the shipped
  configuration (the artifact's manifest with its recipe, the service's default settings, the augmentation's
  defaults, the Kubernetes manifests); a percentage may be a share, a time in seconds milliseconds and so on
  (:data:`SCALES`); or
- its section's heading or its sentence labels it as another model's or another day's: it names a version other than
  the shipped one (in the sentence, or in the aside in parentheses that holds the figure), or a date
  (``2026-11-28``).

A bound (``≤ 5 %``: a goal or a rule) and a spread (``±8 %``) are not figures. The check is as strong as a figure's
digits: "84.0 %" matches few numbers by chance, "8 %" many.

``python bench/prose_numbers.py`` lists the figures that are not; the suite fails on any
(tests/bench/test_prose_numbers.py), so a report changed without its prose, a number edited by hand, or a figure of
an older model left unlabelled is caught.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("prose_numbers")

UNIT = r"%|ms\b|s\b|MiB\b|MB\b|GiB\b|GB\b|×|req/s\b|requests/s\b|images/s\b|points\b"
# A number and its unit; not a dimension (224×224, 3 × 3), a spread (±8 %), a bound (≤ 5 %: a goal or a rule), nor
# part of a word or a version.
FIGURE = re.compile(rf"(?<![\w.±×/≤≥<>-])(?<![≤≥<>] )(\d[\d,]*(?:\.\d+)?)\s?({UNIT})(?!\s?\d)")
VERSION = re.compile(r"(?<![\w.])(\d+\.\d+\.\d+)(?![\w.])")
DATE = re.compile(r"\b20\d\d-\d\d-\d\d\b")
PARENTHESIS = re.compile(r"\([^()]*\)")
SKIPPED = [
    re.compile(r"<!-- measured:(\S+) -->.*?<!-- /measured:\1 -->", re.S),
    re.compile(r"<!-- begin (\S+) -->.*?<!-- end \1 -->", re.S),
    re.compile(r"```.*?```", re.S),
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"`[^`\n]*`"),
]
# How a printed figure may be scaled from a report's number, by its unit: a share printed as a percentage, seconds as
# milliseconds and back, bytes or MB as MiB and GiB.
SCALES: dict[str, tuple[float, ...]] = {
    "%": (1.0, 100.0),
    "ms": (1.0, 1000.0),
    "s": (1.0, 0.001),
    "MiB": (1.0, 2.0**-20, 1e6 / 2**20),
    "MB": (1.0, 1e-6, 2**20 / 1e6),
    "GiB": (2.0**-30, 1 / 1024, 1e-3),
    "GB": (1e-9, 1e-3, 2**20 / 1e9),
    "points": (1.0, 100.0),
}


@dataclass(frozen=True)
class Figure:
    """One figure in a document: where it is, as printed, and the sentence around it."""

    file: str
    line: int
    text: str
    value: float
    unit: str
    decimals: int
    sentence: str
    label: str
    heading: str


def documents(repo: Path = REPO) -> list[Path]:
    """The documents whose prose is read."""
    docs = sorted(p for p in (repo / "docs").glob("*.md") if p.name != "BENCHMARKS.md")
    return [repo / "README.md", repo / "models" / "MODEL_CARD.notes.md", *docs]


def _blank(match: re.Match[str]) -> str:
    """The match replaced by as many line breaks as it held, so that line numbers stay right."""
    return "\n" * match.group(0).count("\n")


def figures(path: Path, repo: Path = REPO) -> Iterator[Figure]:
    """The figures of one document's prose, each with the sentence it stands in."""
    text = path.read_text()
    for pattern in SKIPPED:
        text = pattern.sub(_blank, text)
    lines = text.splitlines()
    heading = ""
    for number, line in enumerate(lines, start=1):
        if line.startswith("#"):
            heading = line
        for match in FIGURE.finditer(line):
            printed = match.group(1).replace(",", "")
            decimals = len(printed.split(".")[1]) if "." in printed else 0
            sentence, label = _sentence(lines, number - 1, match.start())
            yield Figure(
                str(path.relative_to(repo)),
                number,
                match.group(0),
                float(printed),
                match.group(2),
                decimals,
                sentence,
                label,
                heading,
            )


def _sentence(lines: list[str], index: int, column: int) -> tuple[str, str]:
    """The sentence (or table row, with its table's header row) around a position, and what in it may label the
    figure there with a version: the innermost parenthesis around the figure with the sentence outside its
    parentheses, or, outside any parenthesis, the sentence without them — a version named in an aside labels the
    aside, not the sentence (``77.3 % (2.1.0: 27 %)``)."""
    line = lines[index]
    if line.lstrip().startswith("|"):
        top = index
        while top > 0 and lines[top - 1].lstrip().startswith("|"):
            top -= 1
        row = lines[top] + "\n" + line
        return row, row
    head = "\n".join([*lines[max(0, index - 4) : index], line[:column]])
    tail = "\n".join([line[column:], *lines[index + 1 : index + 5]])
    head = re.split(r"(?:\.\s|\n\s*\n|\n#|\n- )", head)[-1]
    tail = re.split(r"(?:\.\s|\n\s*\n|\n- )", tail)[0]
    sentence = head + tail
    outside = sentence
    while PARENTHESIS.search(outside):
        outside = PARENTHESIS.sub("", outside)
    opened = _unclosed(head)
    closed = _unclosed(tail[::-1].translate(str.maketrans("()", ")(")))
    if opened is not None and closed is not None:
        return sentence, head[opened:] + tail[: len(tail) - closed] + "\n" + outside
    return sentence, outside


def _unclosed(text: str) -> int | None:
    """The index of the last "(" in ``text`` that no later ")" closes; None when every one is closed."""
    depth = 0
    for position in range(len(text) - 1, -1, -1):
        if text[position] == ")":
            depth += 1
        elif text[position] == "(":
            if depth == 0:
                return position
            depth -= 1
    return None


def _numbers(value: Any) -> Iterator[float]:
    """Every number in a parsed JSON, YAML or TOML document, including numbers written inside its strings."""
    if isinstance(value, bool):
        return
    if isinstance(value, int | float):
        if math.isfinite(value):
            yield float(value)
    elif isinstance(value, str):
        for match in re.finditer(r"(?<![\w.])\d+(?:\.\d+)?", value.replace(",", "")):
            yield float(match.group(0))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(key)
            yield from _numbers(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _numbers(item)


@functools.cache
def _shipped(repo: Path) -> Any:
    """The shipped artifact of ``repo``, loaded once per process (every page's check reads it)."""
    from mlcore import artifact

    return artifact.load(repo / "models" / "brainxai-cnn.pt")


def shipped_identity(repo: Path = REPO) -> dict[str, str]:
    """The shipped artifact's name, version and sha256 (read from it)."""
    return dict(_shipped(repo).identity)


def _names_model(report: Any) -> str | None:
    """What model a report says it measured: a sha256, a "name version" or a version; None when it names none."""
    if not isinstance(report, dict):
        return None
    text = json.dumps(report)
    sha = re.search(r'"sha256": "([0-9a-f]{12,64})"', text)
    if sha:
        return sha.group(1)
    for key in ("model", "version"):
        named = report.get(key) or (report.get("machine") or {}).get(key)
        if isinstance(named, str):
            return named
        if isinstance(named, dict):
            return str(named.get("sha256") or named.get("version"))
    return None


def current_reports(repo: Path, identity: dict[str, str]) -> tuple[list[Path], list[Path]]:
    """The committed JSON reports under docs/ (not docs/research/): those of the shipped model or of the dataset
    alone, and those of another model (which no figure may be read from)."""
    current, other = [], []
    for path in sorted((repo / "docs").rglob("*.json")):
        if "research" in path.relative_to(repo / "docs").parts:
            continue
        named = _names_model(json.loads(path.read_text()))
        same_bytes = named is not None and len(named) >= 12 and identity["sha256"].startswith(named)
        same_version = named in (identity["version"], f"{identity['name']} {identity['version']}")
        shipped = named is None or same_bytes or same_version
        (current if shipped else other).append(path)
    return current, other


def configuration(repo: Path) -> list[Any]:
    """The shipped configuration, parsed: the manifest (with the recipe it was fitted with), the service's default
    settings, the augmentation's defaults, and the Kubernetes manifests (their quantities as numbers: ``1536Mi`` is
    1536)."""
    from service.settings import Settings
    from training.data.augment import AugmentConfig

    model = _shipped(repo)
    parsed: list[Any] = [model.manifest, Settings().model_dump(mode="json"), dataclasses.asdict(AugmentConfig())]
    for manifest in sorted((repo / "deploy" / "kubernetes").glob("*.yaml")):
        text = re.sub(r"(\d+)(Mi|Gi|m)\b", r"\1", manifest.read_text())
        parsed.extend(document for document in yaml.safe_load_all(text) if document)
    return parsed


@dataclass(frozen=True)
class Known:
    """The numbers a page's figures may quote: of the current reports it names, and of the shipped configuration."""

    reports: list[float]
    configuration: list[float]


def known_numbers(repo: Path = REPO, page: Path | None = None) -> Known:
    """The numbers a page's figures may quote, each list sorted: those of the current reports the page names (by path
    or file name; naming ``X.md`` names the report ``X.json`` beside it), or of every current report when ``page`` is
    None; and those of the shipped configuration."""
    current, _ = current_reports(repo, shipped_identity(repo))
    if page is not None:
        text = page.read_text()
        named = {path.name for path in current} | {path.with_suffix(".md").name for path in current}
        cited = {name for name in named if name in text}
        current = [path for path in current if path.name in cited or path.with_suffix(".md").name in cited]
    reports = {n for path in current for n in _numbers(json.loads(path.read_text()))}
    return Known(sorted(reports), _configuration_numbers(repo))


@functools.cache
def _configuration_numbers(repo: Path) -> list[float]:
    """The shipped configuration's numbers, sorted, read once per process (every page's check reads them)."""
    return sorted({n for document in configuration(repo) for n in _numbers(document)})


def found(figure: Figure, known: Known) -> bool:
    """The figure is one of ``known``, at its printed precision, under one of its unit's :data:`SCALES`. A report's
    number printed as a percentage is a share (in [0, 1], times 100) or has a fractional part: a whole number of a
    report (a count, a size) is not read as a percentage; the configuration's may be (70 % CPU)."""
    half = 0.5 * 10.0**-figure.decimals + 1e-9
    scales = SCALES.get(figure.unit, (1.0,))
    for values, strict in ((known.reports, True), (known.configuration, False)):
        for value in values:
            for scale in scales:
                if strict and figure.unit == "%" and not _percentage(value, scale):
                    continue
                if abs(value * scale - figure.value) <= half:
                    return True
    return False


def _percentage(value: float, scale: float) -> bool:
    """A report's ``value`` can be printed as a percentage at ``scale``: a share times 100, or a fractional number."""
    return 0 <= value <= 1 if scale == 100.0 else not value.is_integer()


def labelled(figure: Figure, shipped_version: str) -> bool:
    """The figure is not claimed as the shipped model's: its section's heading, or what may label it in its sentence
    (:func:`_sentence`), names another model version, or its sentence names a date."""
    for text in (figure.label, figure.heading):
        if set(VERSION.findall(text)) - {shipped_version}:
            return True
    return bool(DATE.search(figure.sentence) or DATE.search(figure.heading))


def unaccounted(repo: Path = REPO) -> list[Figure]:
    """The figures of the documents' prose that no current report the page names (nor the shipped configuration)
    holds, and no label excuses."""
    version = shipped_identity(repo)["version"]
    missing = []
    for path in documents(repo):
        known = known_numbers(repo, path)
        missing += [f for f in figures(path, repo) if not found(f, known) and not labelled(f, version)]
    return missing


def main() -> int:
    """List the unaccounted figures; exit 1 when there are any."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    missing = unaccounted()
    for figure in missing:
        log.info("%s:%d: %s  (in: %s)", figure.file, figure.line, figure.text, " ".join(figure.sentence.split())[:160])
    log.info("%d figures in no report of the shipped model and not labelled as older", len(missing))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
