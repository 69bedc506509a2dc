"""What the CPU this process runs on can do, as far as the model's runtimes care.

int8 matrix products differ by CPU: with VNNI (AVX-512 VNNI or AVX-VNNI) u8×s8 products accumulate in
32 bits; on AVX2 alone ONNX Runtime's kernels add pairs of them in 16 bits, which saturates for 8-bit
weights — so the int8 scheme is chosen per CPU (:func:`int8_scheme`).
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path
from typing import Literal

Int8Scheme = Literal["u8s8", "u8s8-reduce-range"]
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


@functools.cache
def cpu_info() -> dict[str, object]:
    """The CPU's model name and which of :data:`FLAGS` it has (from /proc/cpuinfo; empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"model": platform.processor() or "unknown", "flags": []}
    model, flags = "unknown", set[str]()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown":
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return {"model": model, "flags": [flag for flag in FLAGS if flag in flags]}


def has_vnni() -> bool:
    """Whether int8 products accumulate without saturation here (AVX-512 VNNI or AVX-VNNI)."""
    flags = cpu_info()["flags"]
    return isinstance(flags, list) and ("avx512_vnni" in flags or "avx_vnni" in flags)


def int8_scheme() -> Int8Scheme:
    """The int8 quantization for this CPU: full-range s8 weights with VNNI; 7-bit weights (``reduce_range``)
    without, so that a pair of u8×s8 products fits in 16 bits (255 × 64 × 2 < 32,767) and cannot saturate (the
    depthwise convolutions keep 8 bits: :func:`mlcore.quantize.quantize`)."""
    return "u8s8" if has_vnni() else "u8s8-reduce-range"
