"""The benchmark scripts import each other by file name (``python bench/<script>.py``): so do their tests."""

from __future__ import annotations

import sys

from tests.helpers import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))
