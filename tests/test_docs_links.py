"""Every relative link in the README, docs/ and the model card points at a file that exists (a moved or renamed
document breaks no page)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.helpers import REPO_ROOT

LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _pages() -> list[Path]:
    return [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md")), *(REPO_ROOT / "models").glob("*.md")]


def test_every_relative_link_resolves() -> None:
    broken = [
        f"{page.relative_to(REPO_ROOT)}: {target}"
        for page in _pages()
        for target in LINK.findall(page.read_text())
        if not target.startswith(("http://", "https://", "mailto:")) and not (page.parent / target).exists()
    ]
    assert len(_pages()) > 10 and not broken, broken


CODE = re.compile(r"`([^`\n]+)`")
REPO_PATH = re.compile(
    r"(?<![\w/.-])((?:mlcore|service|training|bench|tests|research|brainxai|docs|models|recipes|deploy|docker|openapi)"
    r"/[\w./-]*\w)"
)
# Names that look like paths but are not this repository's: the MONAI Bundle's own README (inside an exported bundle),
# kubectl's name of the API Deployment.
NOT_OURS = {"docs/README.md", "deploy/brainxai-api"}


def test_every_repository_path_a_page_names_exists() -> None:
    """A module, script or report named in code style (``training/fit/loop.py``) exists, from the repository root or
    from the page's folder: a moved module leaves no page naming its old place."""
    missing = [
        f"{page.relative_to(REPO_ROOT)}: {path}"
        for page in _pages()
        if "research" not in page.relative_to(REPO_ROOT).parts  # the research record keeps history's names
        for code in CODE.findall(page.read_text())
        for path in REPO_PATH.findall(code)
        if not any(c in path for c in "<>*{}")
        and path not in NOT_OURS
        and not (REPO_ROOT / path).exists()
        and not (page.parent / path).exists()
        and not path.endswith("/test_")  # a pattern: tests/<package>/test_<name>.py
    ]
    assert not missing, missing
