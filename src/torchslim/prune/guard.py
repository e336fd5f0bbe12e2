"""Pruning that never breaks a model: each dependency group is checked as it is cut, and a group
whose cut fails (Torch-Pruning raising, or the pruned model no longer running) is protected.

Torch-Pruning's dependency graph covers most of a zoo, but a few architectures couple channels in
ways its index mapping gets wrong: cross-stage-partial splits and concatenations, attention that
reshapes channels into heads, per-channel scales applied by broadcasting. Rather than refusing the
whole model, the pruner yields its groups one at a time (``step(interactive=True)``); after each
cut the model runs one example. When a cut fails, the model is restored from a snapshot taken
before the step, the group's root layer joins the protected layers, and the step is redone. The
record names every layer kept whole this way (``protected``).

The example is the smallest square input the model accepts (from 32 pixels up to its native size):
channel dependencies do not depend on the image size, and a 224-pixel trace of a large model costs
gigabytes; models with fixed-size position embeddings are traced at their native size.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from torchslim.backends.torch_pruning import trim_channel_params
from torchslim.export.outputs import output_signature

GRAPH = "(the dependency graph)"  # what failed when no group had been cut yet
BROKEN = "(a cut of this step)"  # the model fails after a step whose cuts all went through


class UntraceableGraph(Exception):
    """Torch-Pruning could not build (or step) the dependency graph of a whole model."""


TRACE_SIDES = (32, 64, 96, 128, 160, 192, 224)
MAX_PROTECTED = 64  # after this many failing groups, the model is refused with their names


class TraceTimeout(Exception):
    """Torch-Pruning's dependency search did not finish in its time (its group search can cycle)."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`TraceTimeout` inside the block after ``seconds`` (main thread only, via SIGALRM;
    elsewhere the block runs unbounded). ReXNet's partial-channel residuals made Torch-Pruning's
    group search grow without end: a bounded trace falls back to part-wise pruning instead."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(_signum, _frame):
        raise TraceTimeout(f"dependency tracing took more than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def available_gib() -> float | None:
    """Memory the kernel says is available now (Linux ``MemAvailable``); None where unknown."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        return None
    return None


def check_memory(model: nn.Module) -> None:
    """Refuse up front, in one line, a model whose pruning would not fit in memory: the model, the
    guard's snapshot and Torch-Pruning's traced graph each hold about one copy of the weights."""
    params = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**30
    need = 3 * params + 1.0
    have = available_gib()
    if have is not None and need > have:
        from torchslim.errors import TorchslimError

        raise TorchslimError(
            f"prune.structured: {type(model).__name__} ({params:.1f} GiB of weights) needs about {need:.0f} GiB "
            f"to prune and {have:.0f} GiB is available; free memory or use a machine with more"
        )


def trace_side(model: nn.Module, shape: tuple[int, int, int], num_classes: int) -> int:
    """The smallest side at which ``model`` runs and still gives one score per class (a model with
    several outputs, or one whose output is not class scores, is traced at its native side)."""
    c, native = shape[0], shape[-1]
    was_training = model.training
    model.eval()
    try:
        for side in [s for s in TRACE_SIDES if s < native] + [native]:
            try:
                with torch.no_grad():
                    out = model(torch.zeros(1, c, side, side))
            except Exception:  # noqa: BLE001  (any failure: this size is not accepted)
                continue
            if not torch.is_tensor(out):
                return native
            if tuple(out.shape) == (1, num_classes):
                return side
        return native
    finally:
        model.train(was_training)


def signature(model: nn.Module, example: torch.Tensor) -> tuple[tuple[int, ...], ...] | None:
    """The shapes of every output ``model`` returns for ``example``; None when it fails."""
    try:
        with torch.no_grad():
            return output_signature(model(example))
    except Exception:  # noqa: BLE001
        return None


def runs(model: nn.Module, example: torch.Tensor, expected: tuple[tuple[int, ...], ...]) -> bool:
    """The model still runs and returns outputs of the shapes it returned before any cut: one score
    per class for a classifier, every map and head of a segmentation or detection model."""
    return signature(model, example) == expected


def module_names(model: nn.Module) -> dict[int, str]:
    return {id(m): n for n, m in model.named_modules()}


def group_root(group, names: dict[int, str]) -> str:
    return names.get(id(group[0].dep.target.module), str(group[0].dep.target.name))


def guarded_step(
    model: nn.Module,
    pruner,
    build: Callable[[nn.Module, list[str]], object],
    protected: list[str],
    example: torch.Tensor,
    before_step: Callable[[nn.Module], None] | None = None,
    after_cut: Callable[[nn.Module, object], None] | None = None,
    on_graph_failure: Callable[[nn.Module], object] | None = None,
    skip: Callable[[object], bool] | None = None,
) -> tuple[nn.Module, object]:
    """One step of ``pruner`` (``build(model, protected)`` makes another), cut group by group and checked.

    Returns the pruned model (a restored copy when a group had to be protected) and the pruner that
    cut it; ``protected`` gains the root layer of every group whose cut failed. ``before_step(model)``
    prepares a step (e.g. Taylor gradients); ``after_cut(model, pruner)`` resyncs attributes (head
    counts) after each group, before the model is run; ``on_graph_failure(model)`` returns another
    pruner when the graph itself fails before any group is cut (opaque units, then part-wise), and
    raises when it has none left; ``skip(group)``
    leaves a group uncut (a width rule)."""
    snapshot = copy_model(model)
    expected = signature(model, example)  # what every cut must leave the outputs as
    each = False  # run the model once per step; only a step that breaks it is redone group by group
    avoided: set[str] = set()  # protected roots whose groups Torch-Pruning still forms: left uncut here
    while True:
        if before_step is not None:
            before_step(model)
        bad = cut_groups(model, pruner, example, expected, after_cut, each, skip, avoided)
        if bad is None:
            return model, pruner
        if bad == BROKEN:  # some cut broke the model, none raised: redo the step checking each cut
            each = True
            step = getattr(pruner, "current_step", 1) - 1
            model = copy_model(snapshot)
            pruner = build(model, protected)
            if hasattr(pruner, "current_step"):
                pruner.current_step = step
            continue
        if bad == GRAPH:
            if on_graph_failure is None:
                from torchslim.errors import TorchslimError

                raise TorchslimError(
                    f"prune.structured: Torch-Pruning fails on {type(model).__name__} before cutting any group, "
                    "whole and part by part; use prune.unstructured, or protect the affected layers"
                )
            model = copy_model(snapshot)
            pruner = on_graph_failure(model)  # raises when it has nothing left to try
            continue
        if bad in avoided or len(protected) + len(avoided) >= MAX_PROTECTED:
            from torchslim.errors import TorchslimError

            raise TorchslimError(
                f"prune.structured: {type(model).__name__} could not be pruned: cutting group '{bad}' breaks it "
                f"even with {len(protected)} layer(s) protected ({', '.join(protected[:5])}...)"
            )
        if bad in protected:  # protecting its root did not keep the group from forming: skip the group itself
            avoided.add(bad)
        else:
            protected.append(bad)
        step = getattr(pruner, "current_step", 1) - 1
        model = copy_model(snapshot)
        pruner = build(model, protected)
        if hasattr(pruner, "current_step"):
            pruner.current_step = step


def copy_model(model: nn.Module) -> nn.Module:
    """A deep copy; caches holding tensors with autograd history (LeViT's attention-bias cache, filled
    while Torch-Pruning traced the model) cannot be deep-copied, so they are emptied first."""
    try:
        return copy.deepcopy(model)
    except RuntimeError:
        for m in model.modules():
            for name, value in vars(m).items():
                if isinstance(value, dict) and "cache" in name and any(torch.is_tensor(v) for v in value.values()):
                    value.clear()
        return copy.deepcopy(model)


def cut_groups(
    model: nn.Module,
    pruner,
    example: torch.Tensor,
    expected: tuple[tuple[int, ...], ...] | None,
    after_cut=None,
    each: bool = True,
    skip=None,
    avoided: set[str] = frozenset(),
) -> str | None:
    """Step ``pruner`` interactively; the root layer of the first group whose cut fails, ``BROKEN``
    when the model fails only in the check after the last cut (``each=False``), else None. Groups
    rooted at an ``avoided`` layer are left whole."""
    names = module_names(model)
    root = GRAPH
    try:
        for group in pruner.step(interactive=True):
            here = group_root(group, names)
            if (skip is not None and skip(group)) or here in avoided:
                continue
            root = here
            group.prune()
            trim_channel_params(group, model)
            if after_cut is not None:
                after_cut(model, pruner)
            if each and not runs(model, example, expected):
                return root
    except (IndexError, RuntimeError, ValueError, KeyError, AssertionError, TypeError, AttributeError):
        return root
    if not each and not runs(model, example, expected):
        return BROKEN
    return None
