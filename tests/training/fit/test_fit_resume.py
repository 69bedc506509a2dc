"""A killed run resumes to the same result as an uninterrupted one; torchrun with 2 processes works."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.helpers import REPO_ROOT, SMALL_RECIPE

pytestmark = pytest.mark.slow

TINY_FLAGS = [
    "--recipe",
    str(SMALL_RECIPE),
    "--batch-size",
    "8",
    "--lr",
    "0.003",
    *("--set", "image_size=48", "--set", "width=8", "--set", "warmup_epochs=0.5"),
    *("--set", "val_fraction=0.25", "--set", "ema_decay=0.99", "--set", "patience=50"),
]


def _fit_command(data: Path, out: Path, epochs: int, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "training",
        "fit",
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        str(epochs),
        *TINY_FLAGS,
        *extra,
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}


def _fit(data: Path, out: Path, epochs: int, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the fit command to its end and return it (stderr holds the log)."""
    return subprocess.run(
        _fit_command(data, out, epochs, *extra),
        env=_env(),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _final_weights(out: Path) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(out / "last.pt", weights_only=False)
    return {**checkpoint["model"], **{f"ema.{k}": v for k, v in checkpoint["ema"].items()}}


def test_resume_after_a_kill_continues_exactly(synth_root: Path, tmp_path: Path) -> None:
    epochs = 8
    straight = tmp_path / "straight"
    subprocess.run(
        _fit_command(synth_root, straight, epochs),
        check=True,
        env=_env(),
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=300,
    )

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        _fit_command(synth_root, killed, epochs),
        env=_env(),
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while not (killed / "history.json").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before_kill = len(json.loads((killed / "history.json").read_text()))
    assert 1 <= done_before_kill < epochs, "the run finished before it could be killed"

    resumed = _fit(synth_root, killed, epochs, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from {killed / 'last.pt'} after epoch {done_before_kill}" in resumed.stderr
    history = json.loads((killed / "history.json").read_text())
    assert [row["epoch"] for row in history] == list(range(1, epochs + 1))
    expected, got = _final_weights(straight), _final_weights(killed)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.allclose(expected[name].float(), got[name].float(), atol=1e-6), name
    straight_history = json.loads((straight / "history.json").read_text())
    assert [r["val_nll"] for r in history] == [r["val_nll"] for r in straight_history]


def test_resume_refuses_another_configuration(synth_root: Path, tmp_path: Path) -> None:
    subprocess.run(
        _fit_command(synth_root, tmp_path, 1), check=True, env=_env(), cwd=REPO_ROOT, capture_output=True, timeout=300
    )
    other = _fit(synth_root, tmp_path, 1, "--seed", "5", "--resume")
    assert other.returncode != 0 and "another configuration" in other.stderr


def test_resume_takes_a_checkpoint_written_before_a_field_existed(synth_root: Path, tmp_path: Path) -> None:
    subprocess.run(
        _fit_command(synth_root, tmp_path, 1), check=True, env=_env(), cwd=REPO_ROOT, capture_output=True, timeout=300
    )
    last = tmp_path / "last.pt"
    checkpoint = torch.load(last, weights_only=False)
    del checkpoint["config"]["unknown_kind_repeat"]  # as a run of an earlier version wrote it
    torch.save(checkpoint, last)
    resumed = _fit(synth_root, tmp_path, 1, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "after epoch 1" in resumed.stderr


def test_two_process_ddp_on_cpu(synth_root: Path, tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "training",
        "fit",
        "--data",
        str(synth_root),
        "--out",
        str(tmp_path),
        "--epochs",
        "2",
        *TINY_FLAGS,
    ]
    result = subprocess.run(command, env=_env(), cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads((tmp_path / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    checkpoint = torch.load(tmp_path / "last.pt", weights_only=False)
    assert not any(key.startswith("module.") for key in checkpoint["model"])  # saved unwrapped
    # Each process trained on half the images: half the steps of a single-process epoch.
    steps = checkpoint["scheduler"]["last_epoch"]
    n_train = len(json.loads((tmp_path / "split.json").read_text())["train"])
    assert steps == 2 * (n_train // 2 // 8)
