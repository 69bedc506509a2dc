"""LIME's batched sampling: split-half stability separates signal from noise; lime and scikit-learn load only on
the first LIME request."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from mlcore.lime_sampling import split_half_stability


def test_split_half_stability_separates_signal_from_noise() -> None:
    rng = np.random.default_rng(0)
    data = rng.integers(0, 2, (400, 20))
    data[0] = 1
    signal = data @ rng.normal(size=20) + 0.05 * rng.normal(size=400)
    kernel = lambda d: np.sqrt(np.exp(-(d**2) / 0.25**2))  # noqa: E731 (lime's default kernel)
    assert split_half_stability(data, signal, kernel) > 0.95
    assert split_half_stability(data, rng.normal(size=400), kernel) < 0.6
    assert split_half_stability(data, np.ones(400), kernel) == 0.0


def test_the_explainers_load_without_lime_and_scikit_learn() -> None:
    code = "import sys, mlcore.explainers; print(sorted({'lime', 'sklearn'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
