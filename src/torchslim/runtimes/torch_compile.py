"""PyTorch's own compiled path: ``torch.compile`` with the inductor backend, in FP32 and in BF16.

What a user who stays in PyTorch would deploy. Inductor generates C++ kernels for the CPU, so it
needs a C++ compiler; each model is compiled once per (module, batch), before timing, and the
compile's seconds are printed. BF16 runs under autocast and is refused on a CPU without BF16
kernels (AVX512-BF16 or AMX), where it would be emulated and slower than FP32. Inductor's cache is
a temporary folder of this process, removed at exit: nothing is written outside the run.
"""

from __future__ import annotations

import atexit
import contextlib
import copy
import functools
import os
import shutil
import tempfile
import time
from typing import Callable

import torch
from torch import nn

from torchslim.device import cpu_has_bf16
from torchslim.errors import ConfigError
from torchslim.runtimes.base import Runtime, Variant, register_runtime
from torchslim.ui import console

#: a compile that takes longer than this is reported as too slow to be a deployment here
COMPILE_LIMIT_S = 300.0


def refuses(precision: str) -> str | None:
    if shutil.which("c++") is None and shutil.which("g++") is None:
        return "runtime 'torch.compile' needs a C++ compiler for inductor's CPU kernels (apt install g++)"
    if precision == "bf16" and not cpu_has_bf16():
        return (
            "torch.compile bf16: this CPU has no BF16 kernels (no avx512_bf16 or amx_bf16 flag); autocast would "
            "emulate BF16 and time something slower than FP32 under a BF16 label: leave bf16 out here"
        )
    return None


@functools.lru_cache(maxsize=1)
def private_cache() -> str:
    """Inductor's cache in a folder of this process's own, removed at exit."""
    folder = tempfile.mkdtemp(prefix="torchslim-inductor-")
    atexit.register(shutil.rmtree, folder, True)
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = folder
    return folder


def compiled_runner(model: nn.Module, batch: torch.Tensor, threads: int, precision: str) -> Callable[[], object]:
    """The module compiled for this batch shape, run once to compile, then one call per timing."""
    why = refuses(precision)
    if why:
        raise ConfigError(why)
    private_cache()
    torch.set_num_threads(threads)
    fn = torch.compile(copy.deepcopy(model).eval(), backend="inductor", dynamic=False)
    autocast = (
        functools.partial(torch.autocast, "cpu", dtype=torch.bfloat16)
        if precision == "bf16"
        else contextlib.nullcontext
    )

    @torch.inference_mode()
    def call():
        with autocast():
            return fn(batch)

    start = time.perf_counter()
    try:
        call()
    except Exception as exc:  # inductor's failures are long compiler logs: one line, the cause named
        raise ConfigError(
            f"torch.compile could not compile {type(model).__name__}: {str(exc).splitlines()[0]}"
        ) from None
    seconds = time.perf_counter() - start
    console.print(
        f"[dim]torch.compile[/dim] {type(model).__name__} {precision} b{len(batch)} compiled in {seconds:.0f} s"
    )
    if seconds > COMPILE_LIMIT_S:
        raise ConfigError(
            f"torch.compile took {seconds:.0f} s to compile {type(model).__name__}, over the {COMPILE_LIMIT_S:.0f} s "
            "limit for a deployment here: leave torch.compile out for this model"
        )
    return call


def variants(precisions: tuple[str, ...]) -> list[Variant]:
    asked = [p for p in precisions if p in ("fp32", "bf16")] or ["fp32"]
    return [
        Variant(f"inductor-{p}", p, lambda model, batch, threads, p=p: compiled_runner(model, batch, threads, p))
        for p in asked
    ]


register_runtime(
    Runtime(
        "torch.compile",
        "PyTorch compiled (inductor)",
        "module",
        ("fp32", "bf16"),
        variants,
        refuses=refuses,
    )
)
