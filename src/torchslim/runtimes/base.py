"""What a runtime is: its facts, and the timed calls it makes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

import numpy as np
import torch

from torchslim.errors import ConfigError
from torchslim.registry import Registry

#: (what is deployed: the module or the ONNX file's path, a fixed input batch, threads) -> timed call
Maker = Callable[[Any, torch.Tensor, int], Callable[[], object]]
#: (the ONNX file's path, threads) -> a function from an input array to every output (in the file's
#: order), the session built once: the deployment checks and the per-runtime accuracy run many batches
Predictor = Callable[[Any, int], Callable[["np.ndarray"], list["np.ndarray"]]]


@dataclass(frozen=True)
class DeviceTime:
    """Returned by a timed callable that measured itself on its device (CUDA events): used instead of
    the host's clock, which would count the launch and not the kernels."""

    seconds: float


@dataclass(frozen=True)
class Variant:
    """One row a runtime times: ``provider`` names it in the row (``eager-cpu``,
    ``CPUExecutionProvider``, ``CPU-bf16``), ``precision`` says what it computes in."""

    provider: str
    precision: str
    make: Maker
    predictor: Predictor | None = None  # outputs, for the deployment checks and the accuracy in this runtime


@dataclass(frozen=True)
class Runtime:
    name: str
    label: str
    loads: Literal["module", "onnx"]  # the PyTorch module, or its ONNX file (an INT8 file included)
    precisions: tuple[str, ...]
    variants: Callable[[tuple[str, ...]], list[Variant]]  # the rows for the precisions asked
    package: str | None = None  # the import it needs, checked before anything is timed
    install: str = ""  # how to get that package
    refuses: Callable[[str], str | None] | None = None  # why a precision cannot run on this machine

    def missing(self) -> str | None:
        """Why this runtime cannot run here, or None."""
        if self.package is None:
            return None
        import importlib.util

        if importlib.util.find_spec(self.package) is None:
            return f"runtime '{self.name}' needs the {self.package} package: {self.install}"
        return None


RUNTIMES: Registry[Runtime] = Registry("runtime", loader="torchslim.runtimes.catalog:load")


def runtime_facts(name: str) -> Runtime:
    return RUNTIMES.get(name).builder


def register_runtime(runtime: Runtime, summary: str = "") -> Runtime:
    """The one line a runtime module ends with."""
    RUNTIMES.register(runtime.name, summary or runtime.label, loads=runtime.loads)(runtime)
    return runtime


def needs_onnx(runtimes: list[str] | tuple[str, ...]) -> bool:
    """Whether any of ``runtimes`` runs the ONNX file (so the model must be exported)."""
    return any(runtime_facts(r).loads == "onnx" for r in runtimes)


def refused_precisions(runtimes: list[str], precisions: list[str]) -> dict[str, str]:
    """precision -> why, for each precision one of ``runtimes`` offers but cannot run on this machine
    (OpenVINO's bf16 on a CPU without BF16 kernels)."""
    out: dict[str, str] = {}
    for precision in precisions:
        for name in runtimes:
            runtime = runtime_facts(name)
            why = runtime.refuses(precision) if runtime.refuses and precision in runtime.precisions else None
            if why:
                out.setdefault(precision, why)
    return out


def check_runtimes(runtimes: list[str], precisions: list[str]) -> None:
    """Every runtime registered and installed, every precision offered by one of them; one line if not."""
    for name in runtimes:
        why = runtime_facts(name).missing()  # an unknown name raises the registry's one line
        if why:
            raise ConfigError(why)
    for precision in precisions:
        why = refused_precisions(runtimes, [precision]).get(precision)
        if why:
            raise ConfigError(why)
        if runtimes and not any(precision in runtime_facts(r).precisions for r in runtimes):
            offered = {r: "/".join(runtime_facts(r).precisions) for r in runtimes}
            raise ConfigError(
                f"precision '{precision}' is offered by none of the runtimes "
                f"{', '.join(f'{r} ({p})' for r, p in offered.items())}"
            )
