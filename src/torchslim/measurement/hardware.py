"""A fingerprint of the machine a number was measured on."""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")


def _cpuinfo() -> dict[str, str]:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    info: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line:
            k, v = (s.strip() for s in line.split(":", 1))
            info.setdefault(k, v)
    return info


def int8_saturates() -> bool:
    """An x86 CPU without an INT8 dot-product instruction (VNNI, AMX): ONNX Runtime's u8s8 kernels
    add pairs of products in 16 bits there (AVX2's vpmaddubsw) and saturate with 8-bit weights."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    flags = set(_cpuinfo().get("flags", "").split())
    return not flags & {"avx512_vnni", "avx_vnni", "amx_int8"}


def _physical_cores() -> int | None:
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    pairs = set()
    phys = core = None
    for line in text.splitlines():
        if line.startswith("physical id"):
            phys = line.split(":")[1].strip()
        elif line.startswith("core id"):
            core = line.split(":")[1].strip()
            pairs.add((phys, core))
    return len(pairs) or None


def _gpu() -> dict[str, Any] | None:
    import torch

    if not torch.cuda.is_available():
        return None
    gpu: dict[str, Any] = {
        "name": torch.cuda.get_device_name(0),
        "count": torch.cuda.device_count(),
        "cuda": torch.version.cuda,
    }
    if shutil.which("nvidia-smi"):
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True
        )
        gpu["driver"] = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    return gpu


@functools.lru_cache(maxsize=1)
def fingerprint() -> dict[str, Any]:
    """CPU model, cores, ISA flags, memory; GPU, driver and CUDA when present."""
    import torch

    cpu = _cpuinfo()
    flags = set(cpu.get("flags", "").split())
    mem = None
    if Path("/proc/meminfo").exists():
        first = Path("/proc/meminfo").read_text().splitlines()[0].split()
        mem = round(int(first[1]) / 2**20, 1)
    return {
        "cpu_model": cpu.get("model name") or platform.processor() or platform.machine(),
        "logical_cores": os.cpu_count(),
        "physical_cores": _physical_cores(),
        "isa": [f for f in ISA_FLAGS if f in flags],
        "memory_gib": mem,
        "machine": platform.machine(),
        "os": platform.platform(),
        "torch_threads": torch.get_num_threads(),
        "gpu": _gpu(),
    }
