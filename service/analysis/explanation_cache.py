"""Explanations kept for identical requests: keyed by the image's pixels, the method, the target and the
resolved parameters. The methods are deterministic (seeded), so a hit is the same answer."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any, Generic, TypeVar

import numpy as np

V = TypeVar("V")
Key = tuple[str, str, str, dict[str, Any]]


def cache_key(pixels: np.ndarray) -> str:
    """The part of a key that names the image: its pixels' sha256 and shape."""
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest() + str(pixels.shape)


class ExplanationCache(Generic[V]):
    """A thread-safe LRU map of at most ``size`` entries; size 0 keeps nothing."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _flat(key: Key) -> str:
        image, method, target, params = key
        return json.dumps([image, method, target, params], sort_keys=True)

    def get(self, key: Key) -> V | None:
        """The entry of ``key`` (now the most recently used), or None."""
        flat = self._flat(key)
        with self._lock:
            value = self._entries.get(flat)
            if value is not None:
                self._entries.move_to_end(flat)
            return value

    def put(self, key: Key, value: V) -> None:
        """Keep ``value``; the least recently used entry goes when the cache is full."""
        if self.size <= 0:
            return
        with self._lock:
            self._entries[self._flat(key)] = value
            self._entries.move_to_end(self._flat(key))
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
