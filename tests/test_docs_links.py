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
