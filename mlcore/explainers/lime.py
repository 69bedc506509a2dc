"""LIME over superpixels, with a segmentation suited to grayscale MRI and batched model calls.

Uses the ``lime`` package's image explainer. Superpixels come from SLIC on the intensity image
(quickshift on a grey image is slow and poor); hidden superpixels take the image's background
value; the classifier function runs the model in large batches. The explainer and the
segmentation are seeded, so identical requests give identical maps.

With ``stability`` > 0, sampling stops early once the superpixel weights are reliable: every ``CHECK_EVERY``
samples (after ``MIN_SAMPLES``; :mod:`mlcore.lime_sampling`) lime's weighted ridge model is fitted on the even and
on the odd samples, and the Spearman–Brown split-half stability of the two weight vectors, 2r / (1 + r), is
compared with ``stability``. ``num_samples`` is then the most that is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from skimage.segmentation import slic

from mlcore.explainers.base import Cost, Explainer, Forward, Parameter, Runtime, check_deadline, softmax


def superpixels(gray: np.ndarray, n_segments: int, compactness: float) -> np.ndarray:
    """SLIC superpixel labels of a grayscale image (scaled to [0, 1] first), numbered 0..K-1."""
    low, high = float(gray.min()), float(gray.max())
    scaled = (gray - low) / (high - low) if high > low else np.zeros_like(gray)
    labels = slic(scaled, n_segments=n_segments, compactness=compactness, channel_axis=None, start_label=0)
    _, sequential = np.unique(labels, return_inverse=True)
    return sequential.reshape(labels.shape)


class Lime(Explainer):
    """Weights of a local linear model over superpixels, painted back onto their pixels."""

    name: ClassVar[str] = "lime"
    title: ClassVar[str] = "LIME"
    summary: ClassVar[str] = "weights of a local linear model of the class score over superpixels shown or hidden"
    runtime: ClassVar[Runtime] = "forward"
    cost: ClassVar[Cost] = "heavy"
    parameters: ClassVar[dict[str, Parameter]] = {
        "num_samples": Parameter(int, 1000, 50, 5000, "perturbed images the local model is fitted on"),
        "seed": Parameter(int, 0, 0, 2**31 - 1, "seed of the perturbations and the segmentation"),
        "n_segments": Parameter(int, 64, 8, 400, "approximate number of SLIC superpixels"),
        "compactness": Parameter(float, 0.1, 0.001, 10.0, "SLIC compactness: higher gives squarer superpixels"),
        "stability": Parameter(
            float, 0.0, 0.0, 0.999, "stop sampling once the weights' split-half stability reaches this (0: never)"
        ),
    }
    # Small batches keep the first layers' activations in the CPU's caches: int8 0.85 ms an image at 8 against 1.1 ms
    # at 32 (AMD EPYC, 2 cores; docs/EXPLANATIONS.md, Speed), and the runtime's activation memory stays small.
    batch_size: ClassVar[int] = 8
    cost_probes: ClassVar[tuple[dict[str, Any], ...]] = ({"num_samples": 50}, {"num_samples": 150})
    samples_used: int = 0  # of the last explanation (with stability > 0, possibly fewer than num_samples)

    @classmethod
    def work(cls, params: Mapping[str, Any], size: int) -> float:
        """One model evaluation per sample."""
        return float(params["num_samples"])

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
        image = x[0, 0].numpy().astype(np.float64)
        segments = superpixels(image, params["n_segments"], params["compactness"])

        def classify(batch: np.ndarray) -> np.ndarray:
            check_deadline(deadline, "LIME")
            inputs = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))[:, None]
            with torch.inference_mode():
                return softmax(model(inputs).numpy())

        from mlcore.lime_sampling import BatchedLimeImageExplainer  # lime and scikit-learn: on first use (~150 MB)

        explainer = BatchedLimeImageExplainer(params["seed"], target, params["stability"])
        explanation = explainer.explain_instance(
            image,
            classify,
            labels=(target,),
            top_labels=None,
            hide_color=float(image.min()),  # the background: hiding a superpixel blacks it out
            num_samples=params["num_samples"],
            batch_size=self.batch_size,
            segmentation_fn=lambda _rgb: segments,
            random_seed=params["seed"],
        )
        self.samples_used = explainer.samples_used
        weights = dict(explanation.local_exp[target])
        lookup = np.array([weights.get(s, 0.0) for s in range(int(segments.max()) + 1)], dtype=np.float32)
        return lookup[segments]
