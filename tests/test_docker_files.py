"""The image's requirements come from pyproject.toml; the Dockerfile keeps its promises (checked statically).

`make docker-test` builds and runs the image for real (it needs root and minutes, so it is not in `make test`).
"""

from __future__ import annotations

import importlib.util
import tomllib
from types import ModuleType

from tests.helpers import REPO_ROOT


def _requirements_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docker_requirements", REPO_ROOT / "docker" / "requirements.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_image_requirements_are_pyprojects_with_the_torch_line_swapped() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    lines = _requirements_module().requirements(REPO_ROOT / "pyproject.toml", "torch==2.13.0+cpu")
    assert len(lines) == len(pyproject)
    assert "torch==2.13.0+cpu" in lines and not any(line.startswith("torch==2.14") for line in lines)
    assert [line for line in lines if not line.startswith("torch")] == [
        dep for dep in pyproject if not dep.startswith("torch")
    ]
    assert not any(line.startswith(("torchvision", "imagehash")) for line in lines)


def test_dockerfile_runs_as_non_root_with_a_health_check_and_only_the_service() -> None:
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim" in dockerfile
    assert "USER 10001:10001" in dockerfile and "HEALTHCHECK" in dockerfile and "/readyz" in dockerfile
    assert "COPY training" not in dockerfile and "models/brainxai-cnn.pt" in dockerfile
    ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert ignored[ignored.index("*") + 1 :] and "!training/" not in ignored
