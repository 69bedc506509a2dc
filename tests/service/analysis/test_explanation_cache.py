"""The explanation cache: keyed by pixels, method, target and parameters; least recently used out first."""

from __future__ import annotations

import numpy as np

from service.analysis.explanation_cache import ExplanationCache, cache_key


def test_keys_name_the_pixels_and_their_shape() -> None:
    pixels = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert cache_key(pixels) == cache_key(pixels.copy())
    assert cache_key(pixels) != cache_key(pixels.reshape(4, 3))
    changed = pixels.copy()
    changed[0, 0] = 0.5
    assert cache_key(pixels) != cache_key(changed)


def test_entries_differ_by_method_target_and_parameters_and_the_oldest_goes() -> None:
    cache: ExplanationCache[str] = ExplanationCache(2)
    cache.put(("img", "lime", "None", {"seed": 1}), "a")
    assert cache.get(("img", "lime", "None", {"seed": 2})) is None
    assert cache.get(("img", "lime", "glioma", {"seed": 1})) is None
    assert cache.get(("img", "occlusion", "None", {"seed": 1})) is None
    cache.put(("img", "lime", "None", {"seed": 2}), "b")
    assert cache.get(("img", "lime", "None", {"seed": 1})) == "a"  # now the most recently used
    cache.put(("img", "lime", "None", {"seed": 3}), "c")
    assert cache.get(("img", "lime", "None", {"seed": 2})) is None  # the least recently used went
    assert cache.get(("img", "lime", "None", {"seed": 1})) == "a" and len(cache) == 2


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    cache: ExplanationCache[str] = ExplanationCache(0)
    cache.put(("img", "lime", "None", {}), "a")
    assert cache.get(("img", "lime", "None", {})) is None and len(cache) == 0
