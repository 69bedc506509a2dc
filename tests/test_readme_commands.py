"""Every command the README shows runs as written: each program and sub-command answers ``--help``, each make target
exists. (What the commands then do is tested where they live; this catches a renamed flag-bearing command or a
README that names one that is gone.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

FENCED = re.compile(r"```bash\n(.*?)```", re.S)
INLINE = re.compile(r"`((?:python|brainxai|make) [^`]+)`")


def readme_commands() -> list[str]:
    """The README's shell commands: each line of its bash blocks and each inline `python …`/`brainxai …`/`make …`."""
    text = (REPO_ROOT / "README.md").read_text()
    lines = [line.split("#")[0].strip() for block in FENCED.findall(text) for line in block.splitlines()]
    return [line for line in lines if line] + INLINE.findall(text)


def help_call(command: str) -> tuple[str, list[str]] | None:
    """(what is checked, the --help call) for a command this test knows how to check; None for others (curl, …)."""
    words = command.split()
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):  # leading VAR=value assignments
        words.pop(0)
    if not words:
        return None
    program = Path(words[0]).name
    brainxai = str(Path(sys.executable).parent / "brainxai")
    if program.startswith("python") and words[1:3] == ["-m", "training"] and len(words) > 3:
        return f"python -m training {words[3]}", [sys.executable, "-m", "training", words[3], "--help"]
    if program.startswith("python") and len(words) > 2 and words[1] == "-m":
        return f"python -m {words[2]}", [sys.executable, "-m", words[2], "--help"]
    if program.startswith("python") and len(words) > 1 and words[1].endswith(".py"):
        return f"python {words[1]}", [sys.executable, words[1], "--help"]
    if program == "brainxai" and len(words) > 1:
        sub = words[1:3] if words[1] == "train" else words[1:2]
        return "brainxai " + " ".join(sub), [brainxai, *sub, "--help"]
    return None


CALLS = dict(filter(None, (help_call(command) for command in readme_commands())))
TARGETS = sorted({c.split()[1] for c in readme_commands() if c.startswith("make ") and len(c.split()) > 1})


def test_the_readme_shows_commands_of_every_kind() -> None:
    kinds = {name.split()[0] + (" -m" if " -m " in name else "") for name in CALLS}
    assert {"python -m", "python", "brainxai"} <= kinds, kinds
    assert {"run", "test", "bench"} <= set(TARGETS), TARGETS


@pytest.mark.parametrize("name", sorted(CALLS))
def test_each_readme_command_answers_help(name: str) -> None:
    done = subprocess.run(CALLS[name], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120, check=False)
    assert done.returncode == 0 and "usage:" in done.stdout, (name, done.stdout[-300:], done.stderr[-600:])


@pytest.mark.parametrize("target", TARGETS)
def test_each_make_target_the_readme_names_exists(target: str) -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert re.search(rf"^{re.escape(target)}:", makefile, re.M), target
