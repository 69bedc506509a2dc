"""LIME over superpixels, with a segmentation suited to grayscale MRI and batched model calls.

Uses the ``lime`` package's image explainer. Superpixels come from SLIC on the intensity image
(quickshift on a grey image is slow and poor); hidden superpixels take the image's background
value; the classifier function runs the model in large batches. The explainer and the
segmentation are seeded, so identical requests give identical maps.

With ``stability`` > 0, sampling stops early once the superpixel weights are reliable: every
:data:`CHECK_EVERY` samples (after :data:`MIN_SAMPLES`) lime's weighted ridge model is fitted on the
even and on the odd samples, and the Spearman–Brown split-half reliability of the two weight vectors,
2r / (1 + r), is compared with ``stability``. ``num_samples`` is then the most that is drawn.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from lime.lime_image import LimeImageExplainer
from skimage.segmentation import slic
from sklearn.linear_model import Ridge
from sklearn.metrics import pairwise_distances

from mlcore.explainers.base import Cost, Explainer, Forward, Parameter, Runtime, check_deadline


def superpixels(gray: np.ndarray, n_segments: int, compactness: float) -> np.ndarray:
    """SLIC superpixel labels of a grayscale image (scaled to [0, 1] first), numbered 0..K-1."""
    low, high = float(gray.min()), float(gray.max())
    scaled = (gray - low) / (high - low) if high > low else np.zeros_like(gray)
    labels = slic(scaled, n_segments=n_segments, compactness=compactness, channel_axis=None, start_label=0)
    _, sequential = np.unique(labels, return_inverse=True)
    return sequential.reshape(labels.shape)


MIN_SAMPLES = 256
CHECK_EVERY = 128


def split_half_reliability(data: np.ndarray, target_scores: np.ndarray, kernel_fn: Any) -> float:
    """How reproducible lime's superpixel weights are on these samples: Spearman–Brown over even/odd halves.

    Each half gets lime's own local model (ridge, alpha 1, weighted by the kernel of the cosine
    distance to the unperturbed sample, which is row 0); r is the Pearson correlation of the two
    weight vectors. Returns 2r / (1 + r), or 0 when r is not positive.
    """
    weights = kernel_fn(pairwise_distances(data, data[:1], metric="cosine").ravel())
    halves = []
    for rows in (slice(0, None, 2), slice(1, None, 2)):
        model = Ridge(alpha=1.0, fit_intercept=True).fit(data[rows], target_scores[rows], sample_weight=weights[rows])
        halves.append(model.coef_)
    if np.std(halves[0]) == 0 or np.std(halves[1]) == 0:
        return 0.0
    r = float(np.corrcoef(halves[0], halves[1])[0, 1])
    return 2 * r / (1 + r) if r > 0 else 0.0


class _BatchedLimeImageExplainer(LimeImageExplainer):
    """lime's image explainer with its perturbation step vectorised, grayscale and silent.

    Draws the same on/off superpixel samples as lime (same random state, same order), but builds
    each batch of perturbed images with one ``np.where`` instead of a Python loop per image, and
    hands the classifier (B, H, W) grayscale arrays. lime's weighting and regression are untouched.
    With ``stability`` > 0 it stops drawing once :func:`split_half_reliability` of ``target``'s
    weights reaches it; ``samples_used`` says how many were drawn.
    """

    def __init__(self, random_state: int, target: int, stability: float) -> None:
        super().__init__(random_state=random_state)
        self.target = target
        self.stability = stability
        self.samples_used = 0

    def data_labels(
        self,
        image: np.ndarray,
        fudged_image: np.ndarray,
        segments: np.ndarray,
        classifier_fn: Any,
        num_samples: int,
        batch_size: int = 10,
        progress_bar: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        n_features = np.unique(segments).shape[0]
        data = self.random_state.randint(0, 2, num_samples * n_features).reshape((num_samples, n_features))
        data[0, :] = 1
        gray, hidden = image[..., 0].astype(np.float32), fudged_image[..., 0].astype(np.float32)
        labels: list[np.ndarray] = []
        drawn, next_check = 0, MIN_SAMPLES
        while drawn < num_samples:
            batch = data[drawn : drawn + batch_size]
            labels.append(classifier_fn(np.where(batch[:, segments] == 1, gray, hidden)))
            drawn += len(batch)
            if self.stability > 0 and next_check <= drawn < num_samples:
                next_check = drawn + CHECK_EVERY
                scores = np.concatenate(labels)[:, self.target]
                if split_half_reliability(data[:drawn], scores, self.base.kernel_fn) >= self.stability:
                    break
        self.samples_used = drawn
        return data[:drawn], np.concatenate(labels)


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
            float, 0.0, 0.0, 0.999, "stop sampling once the weights' split-half reliability reaches this (0: never)"
        ),
    }
    # 32 is as fast per image as 128 on a CPU, and the runtime's activation memory stays ~400 MB smaller.
    batch_size: ClassVar[int] = 32
    samples_used: int = 0  # of the last explanation (with stability > 0, possibly fewer than num_samples)

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
                return torch.softmax(model(inputs), dim=1).numpy()

        explainer = _BatchedLimeImageExplainer(params["seed"], target, params["stability"])
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
