"""Exact and near-duplicate detection, so that a duplicate group never straddles the split.

Exact duplicates share their decoded pixels; near duplicates (re-encodings, small shifts,
brightness changes, slices of one volume that look alike) are found with a 64-bit perceptual
hash (DCT pHash, from ``imagehash``) within a Hamming distance. Groups are the connected
components of "is a duplicate of".
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image


def exact_key(gray: np.ndarray) -> str:
    """A digest of the image's 8-bit pixels and shape: equal keys mean identical images."""
    pixels = np.round(np.clip(gray, 0.0, 1.0) * 255).astype(np.uint8)
    return hashlib.sha1(pixels.tobytes() + str(pixels.shape).encode()).hexdigest()


def perceptual_hash(gray: np.ndarray) -> int:
    """The 64-bit DCT perceptual hash of a float image in [0, 1]."""
    pixels = np.round(np.clip(gray, 0.0, 1.0) * 255).astype(np.uint8)
    bits = imagehash.phash(Image.fromarray(pixels), hash_size=8).hash.flatten()
    return int("".join("1" if b else "0" for b in bits), 2)


@dataclass(frozen=True)
class DuplicateReport:
    """What de-duplication found: group ids per image and counts for the log and model card."""

    groups: np.ndarray
    exact_duplicates: int
    near_duplicates: int
    n_groups: int
    largest_group: int
    max_distance: int

    def summary(self) -> dict[str, int]:
        """The counts, for logs and manifests."""
        return {
            "images": len(self.groups),
            "exact_duplicates": self.exact_duplicates,
            "near_duplicates": self.near_duplicates,
            "groups": self.n_groups,
            "largest_group": self.largest_group,
            "phash_max_distance": self.max_distance,
        }


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return int(root)

    def union(self, a: int, b: int) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return False
        self.parent[max(ra, rb)] = min(ra, rb)
        return True


def find_duplicate_groups(exact_keys: list[str], phashes: list[int], max_distance: int) -> DuplicateReport:
    """Group images whose pixels are identical or whose pHashes differ in at most ``max_distance`` bits.

    ``exact_duplicates`` counts images that repeat an earlier identical image; ``near_duplicates``
    counts further images joined to a group by pHash alone.
    """
    n = len(exact_keys)
    union = _UnionFind(n)
    first_seen: dict[str, int] = {}
    exact = 0
    for index, key in enumerate(exact_keys):
        if key in first_seen:
            exact += union.union(first_seen[key], index)
        else:
            first_seen[key] = index
    hashes = np.array(phashes, dtype=np.uint64)
    near = 0
    chunk = 256
    for start in range(0, n, chunk):
        block = hashes[start : start + chunk, None] ^ hashes[None, :]
        distance = np.bitwise_count(block)
        rows, cols = np.nonzero(distance <= max_distance)
        for row, col in zip(rows + start, cols, strict=True):
            if col > row:
                near += union.union(int(row), int(col))
    roots = np.array([union.find(i) for i in range(n)])
    _, groups, sizes = np.unique(roots, return_inverse=True, return_counts=True)
    return DuplicateReport(
        groups=groups,
        exact_duplicates=exact,
        near_duplicates=near,
        n_groups=len(sizes),
        largest_group=int(sizes.max(initial=0)),
        max_distance=max_distance,
    )
