"""Which CPUs get 7-bit INT8 weights: x86 without an INT8 dot-product instruction."""

import pytest

from torchslim.measurement import hardware


@pytest.mark.parametrize(
    "machine, flags, saturates",
    [
        ("x86_64", "fma avx2", True),  # AMD EPYC (Zen 2/3), older Xeons: AVX2's vpmaddubsw sums in 16 bits
        ("x86_64", "avx2 avx512f avx512_vnni", False),
        ("x86_64", "avx2 avx_vnni", False),
        ("x86_64", "avx2 avx512f amx_tile amx_int8", False),
        ("aarch64", "", False),
    ],
)
def test_int8_saturates_on_x86_without_vnni_or_amx(monkeypatch, machine, flags, saturates):
    monkeypatch.setattr(hardware.platform, "machine", lambda: machine)
    monkeypatch.setattr(hardware, "_cpuinfo", lambda: {"flags": flags})
    assert hardware.int8_saturates() is saturates
