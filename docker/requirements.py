"""Print the service's run-time requirements, read from pyproject.toml, with the torch line replaceable.

One list of pins (``[project].dependencies``) serves the venv and the image; the image swaps the
torch requirement for a CPU build (``--torch 'torch==2.14.1+cpu'``, or a local wheel's version).
Standard library only: it runs in the image's build stage before anything is installed.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path


def requirements(pyproject: Path, torch_requirement: str) -> list[str]:
    """The ``[project].dependencies`` of ``pyproject`` with the torch entry replaced by ``torch_requirement``."""
    dependencies: list[str] = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [torch_requirement if dep.split("=")[0].strip() == "torch" else dep for dep in dependencies]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pyproject", type=Path, default=Path(__file__).resolve().parents[1] / "pyproject.toml")
    parser.add_argument("--torch", default="torch==2.14.1", help="the torch requirement (default: %(default)s)")
    args = parser.parse_args()
    sys.stdout.write("\n".join(requirements(args.pyproject, args.torch)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
