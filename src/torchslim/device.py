"""Where a task trains and evaluates: its device, its precision, and the settings that keep CUDA deterministic.

``train.device: auto`` picks CUDA when torch sees a GPU; ``train.precision: auto`` is bf16 autocast
on CUDA and fp32 on the CPU. The runner resolves both once per task and sets them as the current
placement; the trainer and ``evaluate`` read it, so every method that trains or evaluates (pruning
fine-tunes, IDAP++ scoring, sensitivity, KD, QAT, Brevitas) runs there without knowing. Graph
surgery and ONNX export stay on the CPU: the model comes back to the CPU after each fit or evaluation.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass
from typing import Iterator

import torch

from torchslim.errors import ConfigError

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Placement:
    device: str = "cpu"  # "cpu" or "cuda:N"
    precision: str = "fp32"  # fp32 | bf16 | fp16

    @property
    def is_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def autocast(self):
        """Mixed precision for the forward pass and the loss (nothing for fp32)."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda" if self.is_cuda else "cpu", dtype=_DTYPES[self.precision])

    def scaler(self) -> "torch.amp.GradScaler | None":
        """fp16 gradients need loss scaling; bf16 has fp32's range and does not."""
        return torch.amp.GradScaler("cuda") if self.precision == "fp16" else None

    def record(self) -> dict:
        """What the stored row says about where it was trained."""
        name = torch.cuda.get_device_name(torch.device(self.device)) if self.is_cuda else "cpu"
        return {
            "device": self.device,
            "device_name": name,
            "precision": self.precision,
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        }


_current = Placement()


def current() -> Placement:
    return _current


@contextlib.contextmanager
def placed(placement: Placement) -> Iterator[Placement]:
    """Make ``placement`` current for the duration of a task."""
    global _current
    saved, _current = _current, placement
    try:
        yield placement
    finally:
        _current = saved


def resolve(device: str = "auto", precision: str = "auto", elsewhere: bool = False) -> Placement:
    """A task's placement on this machine, or one line saying why it cannot have it. ``elsewhere``:
    the task runs on another machine (a Ray node), so a CUDA device this one lacks is not an error
    here; the cluster is asked for a GPU, and the node resolves the placement again."""
    if not isinstance(device, str) or not re.fullmatch(DEVICE_PATTERN, device):
        raise ConfigError(f"device '{device}' is not one torchslim runs on; choose auto, cpu, cuda or cuda:N")
    cuda = torch.cuda.is_available()
    if device == "auto":
        device = "cuda:0" if cuda else "cpu"
    elif device.startswith("cuda"):
        if not cuda and not elsewhere:
            raise ConfigError(
                f"train.device is '{device}' but torch sees no CUDA device on this machine "
                "(torch.cuda.is_available() is False); use device: cpu or auto"
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        if cuda and index >= torch.cuda.device_count():  # elsewhere without CUDA here: the node checks its count
            raise ConfigError(
                f"train.device is '{device}' but this machine has {torch.cuda.device_count()} CUDA device(s): "
                f"cuda:0 to cuda:{torch.cuda.device_count() - 1}"
            )
        device = f"cuda:{index}"
    if precision == "auto":
        precision = "bf16" if device.startswith("cuda") else "fp32"
    if precision == "fp16" and not device.startswith("cuda"):
        raise ConfigError("train.precision fp16 needs a CUDA device; on the CPU use fp32 or bf16")
    return Placement(device, precision)


def deterministic_cuda(deterministic: bool) -> None:
    """cuBLAS needs a fixed workspace for reproducible GEMMs (set before CUDA starts); cuDNN must not
    pick algorithms by timing them; TF32 would change results with the GPU generation."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cuda.matmul.allow_tf32 = not deterministic
    torch.backends.cudnn.allow_tf32 = not deterministic


def parameterized_on(model: torch.nn.Module, device: str) -> bool:
    """Whether ``model`` is a torch network that can move to ``device`` (an ONNX Runtime wrapper is not)."""
    return not getattr(model, "cpu_only", False) and any(True for _ in model.parameters()) and device != "cpu"


def cpu_flags() -> frozenset[str]:
    """The processor's feature flags (``/proc/cpuinfo``; empty elsewhere): which kernels a runtime has."""
    from pathlib import Path

    info = Path("/proc/cpuinfo")
    text = info.read_text() if info.exists() else ""
    line = next((x for x in text.splitlines() if x.startswith("flags")), "")
    return frozenset(line.split(":", 1)[1].split()) if ":" in line else frozenset()


def cpu_has_bf16() -> bool:
    """AVX512-BF16 or AMX-BF16: without them a BF16 matrix product is emulated, slower than FP32."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})
