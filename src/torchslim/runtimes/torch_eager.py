"""PyTorch eager: the module itself, at a fixed thread count; on the GPU too where one exists."""

from __future__ import annotations

import copy
from typing import Callable

import torch
from torch import nn

from torchslim.runtimes.base import DeviceTime, Runtime, Variant, register_runtime


def torch_runner(model: nn.Module, batch: torch.Tensor, threads: int) -> Callable[[], object]:
    """One eager forward pass at a fixed thread count, without autograd bookkeeping."""
    torch.set_num_threads(threads)
    model.eval()

    @torch.inference_mode()
    def call():
        return model(batch)

    return call


def cuda_torch_runner(model: nn.Module, batch: torch.Tensor, threads: int = 1) -> Callable[[], DeviceTime]:
    """One eager forward pass on the GPU, timed with CUDA events (a copy of the model on the GPU)."""
    gpu_model = copy.deepcopy(model).to("cuda").eval()
    x = batch.to("cuda")
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    @torch.inference_mode()
    def call() -> DeviceTime:
        start.record()
        gpu_model(x)
        end.record()
        end.synchronize()
        return DeviceTime(start.elapsed_time(end) / 1000.0)

    return call


def variants(precisions: tuple[str, ...]) -> list[Variant]:
    out = [Variant("eager-cpu", "fp32", torch_runner)]
    if torch.cuda.is_available():  # where a GPU exists, PyTorch on it too
        out.append(Variant("eager-cuda", "fp32", cuda_torch_runner))
    return out


register_runtime(Runtime("torch", "PyTorch eager", "module", ("fp32",), variants))
