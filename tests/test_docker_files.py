"""The image's requirements come from pyproject.toml; the Dockerfile keeps its promises (checked statically).

`make docker-test` builds and runs the image for real (it needs root and minutes, so it is not in `make test`).
"""

from __future__ import annotations

import importlib.util
import tomllib
from types import ModuleType

import yaml

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


def _instructions(text: str) -> list[list[tuple[str, str]]]:
    """The Dockerfile's build stages, each a list of (INSTRUCTION, arguments): comments dropped, continuation
    lines joined — so that a commented-out line never counts."""
    logical, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[list[tuple[str, str]]] = [[]]
    for line in logical:
        instruction, _, arguments = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        stages[-1].append((instruction.upper(), arguments.strip()))
    return stages


def test_dockerfile_runs_as_non_root_with_a_health_check_and_only_the_service() -> None:
    preamble, *build_stages = _instructions((REPO_ROOT / "Dockerfile").read_text())
    assert ("ARG", "BASE_IMAGE=python:3.11-slim") in preamble
    final = build_stages[-1]
    assert ("USER", "10001:10001") in final
    assert [args for name, args in final if name == "CMD"] == ['["python", "-m", "service"]']
    health = [args for name, args in final if name == "HEALTHCHECK"]
    assert len(health) == 1 and "CMD" in health[0] and "/readyz" in health[0]
    copied = [args.split()[-2] for stage in build_stages for name, args in stage if name == "COPY"]
    assert not any(source.startswith(("training", "tests", "bench")) for source in copied), copied
    assert "models/brainxai-cnn.pt" in copied
    ignored = [line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if not line.startswith("#")]
    assert ignored[0] == "*" and "!training/" not in ignored and "!tests/" not in ignored


def test_the_parser_ignores_comments_and_joins_continuations() -> None:
    stages = _instructions("ARG A=1\n# USER root\nFROM x\nRUN a \\\n && b\n  # CMD no\nUSER 1\n")
    assert stages == [[("ARG", "A=1")], [("FROM", "x"), ("RUN", "a  && b"), ("USER", "1")]]


def test_compose_serves_every_replica_behind_one_port() -> None:
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())["services"]
    assert "ports" not in compose["api"] and compose["api"]["expose"] == ["8000"]  # replicas are not published
    balancer = compose["balancer"]
    assert balancer["ports"] == ["${BRAINXAI_PUBLISHED_PORT:-8000}:8080"] and balancer["depends_on"] == ["api"]
    assert balancer["build"]["dockerfile"] == "docker/balancer/Dockerfile" and balancer["read_only"] is True
    conf = (REPO_ROOT / "docker" / "balancer" / "nginx.conf").read_text()
    directives = [line.split("#")[0].strip() for line in conf.splitlines() if line.split("#")[0].strip()]
    assert "resolver 127.0.0.11 valid=5s ipv6=off;" in directives  # re-resolves "api": every replica, also scaled
    assert "set $api http://api:8000;" in directives and "proxy_pass $api;" in directives
    assert "listen 8080;" in directives and "add_header X-Served-By $upstream_addr always;" in directives
    (stage,) = _instructions((REPO_ROOT / "docker" / "balancer" / "Dockerfile").read_text())[1:]
    assert ("USER", "10002:10002") in stage and ("COPY", "docker/balancer/nginx.conf /etc/nginx/nginx.conf") in stage
    ignored = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert "!docker/balancer/nginx.conf" in ignored
