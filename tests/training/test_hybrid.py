"""The hybrid: tumour or not from its presence models' mean, the kind from its kind model; refused members; the
artifact it writes is an ordinary one (loader, Grad-CAM, pooled features, the command line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest
import torch

from mlcore import artifact
from mlcore.errors import TrainingError
from mlcore.explainers import REGISTRY
from mlcore.onnx_forward import _to_onnx
from mlcore.quantize import quantize_in_child
from mlcore.reliability import pooled_features
from tests.helpers import CLASSES
from training.__main__ import main
from training.hybrid import HYBRID_ARCHITECTURE, compose
from training.models import build_model

NOTUMOR = CLASSES.index("notumor")
TUMOUR = [index for index, name in enumerate(CLASSES) if name != "notumor"]


def save_member(
    path: Path,
    architecture: str,
    *,
    seed: int,
    split: str = "s1",
    mean: float = 0.2,
    fills: list[str] | None = None,
) -> Path:
    """A randomly initialised 48-px model of ``architecture`` (width 8) as an artifact with a full manifest
    (``fills``: the removal fills it says it was trained with; None: not recorded)."""
    torch.manual_seed(seed)
    absent = NOTUMOR if architecture.startswith("brainxai_presence") else -1
    model = build_model(architecture, len(CLASSES), width=8, dropout=0.0, absent_index=absent).eval()
    manifest: dict[str, Any] = {
        "name": path.stem,
        "version": "0.0.1",
        "classes": CLASSES,
        "input": {"size": 48, "channels": 1},
        "preprocessing": {"mean": mean, "std": 0.25, "equalise": False},
        "architecture": {"name": architecture, "width": 8, "dropout": 0.0},
        "parameters": sum(p.numel() for p in model.parameters()),
        "flops": 0,
        "data": {"dataset": "phantoms", "split": split},
        "training": {} if fills is None else {"counterfactual_fills": fills},
        "metrics": {},
        "provenance": {"fit_command": f"built by the tests ({architecture}, seed {seed})"},
    }
    artifact.save(artifact.script(model.backbone, model.head), manifest, path)
    return path


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("members")
    return {
        "fine_a": save_member(folder / "fine_a.pt", "brainxai_presence_fine", seed=1, fills=["inpaint", "donor"]),
        "fine_b": save_member(folder / "fine_b.pt", "brainxai_presence_fine", seed=2, fills=["biharmonic"]),
        "coarse": save_member(folder / "coarse.pt", "brainxai_presence", seed=3),
        "kinds": save_member(folder / "kinds.pt", "brainxai_cnn", seed=4),
        "kinds_other_split": save_member(folder / "other.pt", "brainxai_cnn", seed=5, split="s2"),
        "kinds_other_mean": save_member(folder / "mean.pt", "brainxai_cnn", seed=6, mean=0.3),
    }


@pytest.fixture(scope="module")
def hybrid_path(members: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hybrid") / "hybrid.pt"
    compose([members["fine_a"], members["fine_b"]], members["kinds"], out, name="hybrid", version="0.1.0")
    return out


def test_no_tumour_is_the_presence_models_mean_and_the_kinds_are_the_kind_models(
    members: dict[str, Path], hybrid_path: Path
) -> None:
    hybrid = artifact.load(hybrid_path)
    images = torch.randn(6, 1, 48, 48, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        probs = torch.softmax(hybrid.module(images), 1)
        presence = [torch.softmax(artifact.load(members[n]).module(images), 1) for n in ("fine_a", "fine_b")]
        kind_logits = artifact.load(members["kinds"]).module(images)
    assert torch.allclose(probs.sum(1), torch.ones(6), atol=1e-5)
    assert torch.allclose(probs[:, NOTUMOR], (presence[0][:, NOTUMOR] + presence[1][:, NOTUMOR]) / 2, atol=1e-5)
    within_kinds = probs[:, TUMOUR] / probs[:, TUMOUR].sum(1, keepdim=True)
    assert torch.allclose(within_kinds, torch.softmax(kind_logits[:, TUMOUR], 1), atol=1e-5)
    # the kind model alone would answer otherwise: its own no-tumour probability plays no part
    assert not torch.allclose(probs[:, NOTUMOR], torch.softmax(kind_logits, 1)[:, NOTUMOR], atol=1e-3)


def test_the_hybrid_is_an_ordinary_artifact(hybrid_path: Path) -> None:
    """Its manifest names the members; features() concatenates 2 × 48 presence channels and the kind model's 48 on
    the 6 × 6 presence grid; Grad-CAM explains it like any model."""
    hybrid = artifact.load(hybrid_path)
    architecture = hybrid.manifest["architecture"]
    assert architecture["name"] == HYBRID_ARCHITECTURE
    assert [member["name"] for member in architecture["presence"]] == ["fine_a", "fine_b"]
    assert architecture["kinds"]["name"] == "kinds"
    # The presence members' fills together; the kind model's (not recorded) do not bear on "notumor".
    assert hybrid.manifest["training"]["counterfactual_fills"] == ["biharmonic", "donor", "inpaint"]
    image = torch.rand(1, 1, 48, 48)
    features = hybrid.module.features(image)
    assert tuple(features.shape) == (1, 3 * 48, 6, 6)
    assert tuple(pooled_features(features).shape) == (1, 144)
    relevance = REGISTRY["gradcam"]().explain(hybrid.module, image, 0)
    assert relevance.shape == (48, 48)
    assert hybrid.manifest["flops"] > 0


@pytest.mark.parametrize(
    ("presence", "kinds", "message"),
    [
        (["kinds"], "kinds", "not a presence model"),
        (["fine_a"], "fine_b", "must be a pooling model"),
        (["fine_a"], "kinds_other_split", "different splits"),
        (["fine_a"], "kinds_other_mean", "preprocess differently"),
        (["fine_a", "coarse"], "kinds", "different grids"),
    ],
)
def test_members_that_cannot_be_combined_are_refused(
    members: dict[str, Path], tmp_path: Path, presence: list[str], kinds: str, message: str
) -> None:
    out = tmp_path / "refused.pt"
    with pytest.raises(TrainingError, match=message):
        compose([members[name] for name in presence], members[kinds], out, name="x", version="0")
    assert not out.exists()


def test_the_command_line_composes_and_reports_bad_members(members: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "cli.pt"
    argv = ["compose", "--presence", str(members["coarse"]), "--kinds", str(members["kinds"])]
    assert main([*argv, "--out", str(out), "--version", "0.2.0"]) == 0
    assert artifact.load(out).manifest["version"] == "0.2.0"
    bad = ["compose", "--presence", str(members["kinds"]), "--kinds", str(members["kinds"])]
    assert main([*bad, "--out", str(tmp_path / "bad.pt"), "--version", "0"]) == 2


def test_the_hybrid_quantizes_to_int8(hybrid_path: Path, tmp_path: Path) -> None:
    """ONNX Runtime's int8 tooling takes it (no tensor sequences, shapes it can infer): LIME and Occlusion keep their
    int8 path; the quantized model runs and its probabilities stay close to float32 on the calibration inputs."""
    hybrid = artifact.load(hybrid_path)
    fp32 = _to_onnx(hybrid.module, 48, tmp_path).read_bytes()
    calibration = torch.rand(16, 1, 48, 48).numpy()
    int8 = quantize_in_child(fp32, calibration)
    session = ort.InferenceSession(int8, providers=["CPUExecutionProvider"])
    (log_probs,) = session.run(None, {"x": calibration})
    with torch.no_grad():
        expected = torch.softmax(hybrid.module(torch.from_numpy(calibration)), 1)
    assert (torch.softmax(torch.from_numpy(log_probs), 1) - expected).abs().mean() < 0.05
