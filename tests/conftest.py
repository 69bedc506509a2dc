"""Shared fixtures: synthetic phantoms and one tiny trained run, made once per test session."""

from __future__ import annotations

import csv
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from mlcore import artifact
from mlcore.explainers import REGISTRY
from mlcore.explainers.base import Cost, Explainer, Forward, Parameter, Runtime
from tests.helpers import CLASSES, tiny_config
from training.artifact.export import export
from training.data.synth import write_phantoms
from training.fit.loop import fit
from training.fit.models import build_model
from training.input_check.detector import fit_detector
from training.input_check.gate import fit_gate
from training.input_check.ood_set import write_ood_set

logging.getLogger("matplotlib").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A phantom dataset of 16 images per class at 64 px; returns its ``Training`` folder."""
    return write_phantoms(tmp_path_factory.mktemp("synth"), n_per_class=16, seed=3, size=64, show_progress=False)


@pytest.fixture(scope="session")
def tiny_run(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished tiny training run on the phantoms; returns its run folder (best.pt, split.json)."""
    out = tmp_path_factory.mktemp("run")
    fit(tiny_config(synth_root, out, epochs=4))
    return out


@pytest.fixture(scope="session")
def ood_model_path(tiny_run: Path, synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny phantom-trained run exported with its input check and temperature (``fit-detector``; a false-refusal
    target of 10 %, since its validation side has 16 images)."""
    path = tmp_path_factory.mktemp("ood-model") / "tiny-ood.pt"
    export(tiny_run / "best.pt", path, name="tiny-ood", version="0.0.1")
    fit_detector(path, synth_root, tiny_run / "split.json", false_refusal=0.1, show_progress=False)
    return path


@pytest.fixture(scope="session")
def ood_set_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The assembled set of images that are not brain MRI slices (``python -m training ood-set``, no dataset)."""
    folder = tmp_path_factory.mktemp("ood-set")
    write_ood_set(folder)
    return folder


@pytest.fixture(scope="session")
def gated_model_path(
    ood_model_path: Path, tiny_run: Path, synth_root: Path, ood_set_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The tiny model with its input check, temperature and an input gate (``fit-gate``; a false-refusal target of
    10 %: its train side has about 50 brains)."""
    path = tmp_path_factory.mktemp("gated-model") / "tiny-gated.pt"
    fit_gate(ood_model_path, synth_root, tiny_run / "split.json", ood_set_root, out_path=path, false_refusal=0.1)
    return path


@pytest.fixture(scope="session")
def dicom_variants() -> list[tuple[str, bytes]]:
    """The DICOM fuzz corpus (tests/dicom_fuzz.py) as the files a sender would send: about 1,700 variants here
    (``BRAINXAI_FUZZ_COMBINATIONS`` sets the seeded combinations; ``make fuzz-dicom`` runs 2,000)."""
    import os
    import warnings

    from tests.dicom_fuzz import corpus, to_bytes

    combinations = int(os.environ.get("BRAINXAI_FUZZ_COMBINATIONS", "1000"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns of every invalid value it writes: that is the point here
        return [(name, to_bytes(dataset)) for name, dataset in corpus(combinations=combinations)]


@pytest.fixture(scope="session")
def held_aside_phantoms(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Phantoms of another seed than the tiny run's: brain-like images no model of the tests has seen."""
    root = write_phantoms(tmp_path_factory.mktemp("held"), n_per_class=6, seed=99, size=64, show_progress=False)
    return sorted(root.glob("*/*.png"))


@pytest.fixture(scope="session")
def unknown_kind_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tumour phantoms of another seed laid out like ``br35h-tumours``: ``images/`` and ``boxes.csv`` with a group
    of three copies per slice (the kind is not given)."""
    root = tmp_path_factory.mktemp("unknown-kind")
    phantoms = write_phantoms(root / "source", n_per_class=4, seed=7, size=64, show_progress=False)
    (root / "images").mkdir()
    rows = ["path,group,x_center,y_center,width,height"]
    with open(phantoms.parent / "tumor-boxes.csv", newline="") as handle:
        for index, box in enumerate(csv.DictReader(handle)):
            name = f"g{index // 3:02d}-{Path(box['path']).name}"
            shutil.copy(phantoms.parent / box["path"], root / "images" / name)
            fractions = ",".join(box[key] for key in ("x_center", "y_center", "width", "height"))
            rows.append(f"images/{name},g{index // 3:02d},{fractions}")
    (root / "boxes.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 48-px CNN saved as a real artifact with a full manifest."""
    torch.manual_seed(0)
    model = build_model("brainxai_cnn", len(CLASSES), width=8, dropout=0.0).eval()
    manifest: dict[str, Any] = {
        "name": "tiny-test-model",
        "version": "0.0.0",
        "classes": CLASSES,
        "input": {"size": 48, "channels": 1},
        "preprocessing": {"mean": 0.2, "std": 0.25},
        "architecture": {"name": "brainxai_cnn", "width": 8},
        "parameters": sum(p.numel() for p in model.parameters()),
        "flops": 0,
        "data": {"dataset": "none"},
        "metrics": {},
        "provenance": {"note": "built by the tests"},
    }
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    artifact.save(artifact.script(model.backbone, model.head), manifest, path)
    return path


@pytest.fixture()
def toy_registered() -> Iterator[type[Explainer]]:
    """A method made up by the test, in the registry for one test only (defining the class registers it)."""

    class Toy(Explainer):
        """A method made up by the tests: relevance = the input's intensity, raised to ``strength``."""

        name: ClassVar[str] = "toy"
        title: ClassVar[str] = "Toy"
        summary: ClassVar[str] = "the intensity itself (a test method)"
        parameters: ClassVar[dict[str, Parameter]] = {"strength": Parameter(float, 1.0, 0.5, 4.0, "exponent")}
        runtime: ClassVar[Runtime] = "forward"
        cost: ClassVar[Cost] = "heavy"

        def attribute(
            self,
            model: Forward,
            x: torch.Tensor,
            target: int,
            params: dict[str, Any],
            *,
            deadline: float | None,
            features: torch.Tensor | None,
        ) -> np.ndarray:
            return np.abs(x[0, 0].numpy()) ** params["strength"]

    assert REGISTRY["toy"] is Toy
    yield Toy
    REGISTRY.pop("toy", None)


@pytest.fixture(scope="session")
def shipped_analyser() -> Any:
    """The service's analyser of the shipped model (float32 perturbations: no quantization at start), made once."""
    from service.loading import load_analyser
    from service.settings import Settings

    return load_analyser(Settings(explain_precision="fp32"))
