"""The CPU's features as the runtimes see them, and the int8 scheme chosen from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlcore import cpu


def test_the_features_are_read_from_proc_cpuinfo() -> None:
    info = cpu.cpu_info()
    assert isinstance(info["model"], str) and set(info["flags"]) <= set(cpu.FLAGS)  # type: ignore[arg-type]
    flags = Path("/proc/cpuinfo").read_text().split("flags", 1)[1].splitlines()[0].split()
    assert ("avx512_vnni" in flags or "avx_vnni" in flags) == cpu.has_vnni()


@pytest.mark.parametrize(
    ("flags", "scheme"),
    [
        (["avx2"], "u8s8-reduce-range"),
        (["avx2", "avx512_vnni"], "u8s8"),
        (["avx2", "avx_vnni"], "u8s8"),
        ([], "u8s8-reduce-range"),
    ],
)
def test_full_range_weights_only_with_vnni(monkeypatch: pytest.MonkeyPatch, flags: list[str], scheme: str) -> None:
    monkeypatch.setattr(cpu, "cpu_info", lambda: {"model": "test", "flags": flags})
    assert cpu.int8_scheme() == scheme
