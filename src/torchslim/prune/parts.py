"""Part-wise pruning: when Torch-Pruning cannot trace a whole model, trace its parts one by one.

Some architectures defeat a whole-model dependency graph: dual-path blocks that pass tuples,
multi-scale splits whose concatenation sizes the graph cannot infer, shuffles. Their blocks, taken
alone, are usually ordinary convolutional stacks. The model is walked from the top: a module whose
graph traces (on the input it receives inside the full model) becomes one part with its own
pruner; one that does not is split into its children. Each part keeps its output layer whole, so
the widths that cross part boundaries stay as they are, and the guard (``prune.guard``) protects any
cut that still breaks the model. The parts' pruners step together, group by group.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch
from torch import nn

from torchslim.backends.torch_pruning import trim_channel_params
from torchslim.prune.probing import captured_inputs

WEIGHTED = (nn.Conv2d, nn.Linear)


class PartsPruner:
    """Several Torch-Pruning pruners, one per part, stepped as one (interactively too).

    Each part's pruner is built when first needed: the walk that finds the parts already knows which
    blocks fail alone (``failed``), and when those become opaque units of a whole-graph pruner
    (``prune.opaque``) the parts are never stepped; building them all first took half of FocalNet's
    fallback."""

    def __init__(self, makers: list[Callable[[], object]], parts: list[str], failed: list[nn.Module] = ()):
        self.makers, self.parts = makers, parts
        self.failed = list(failed)  # the blocks that did not trace alone (``prune.opaque`` reads them)
        self.built: list | None = None
        self.heads: dict = {}

    @property
    def pruners(self) -> list:
        if self.built is None:
            self.built = []
            for make in self.makers:
                try:
                    self.built.append(make())
                except Exception:  # noqa: BLE001  (traced in its rehearsal, past its time bound now: kept whole)
                    continue
            self.heads = {k: v for p in self.built for k, v in getattr(p, "num_heads", {}).items()}
        return self.built

    @property
    def num_heads(self) -> dict:
        self.pruners  # noqa: B018  (built first: their head counts)
        return self.heads

    @property
    def current_step(self) -> int:
        return self.pruners[0].current_step if self.pruners else 0

    @current_step.setter
    def current_step(self, value: int) -> None:
        for p in self.pruners:
            p.current_step = value

    def step(self, interactive: bool = False):
        if interactive:
            return self._groups()
        for group in self._groups():
            group.prune()
            trim_channel_params(group)
        return None

    def _groups(self) -> Iterator:
        for p in self.pruners:
            yield from p.step(interactive=True)
            self.heads.update(getattr(p, "num_heads", {}))

    @property
    def unscored(self) -> list:
        return [u for p in self.pruners for u in getattr(p, "unscored", [])]

    @property
    def layer_init_out_ch(self) -> dict:
        return {k: v for p in self.pruners for k, v in p.layer_init_out_ch.items()}

    @property
    def layer_init_in_ch(self) -> dict:
        return {k: v for p in self.pruners for k, v in p.layer_init_in_ch.items()}


def parts_pruner(
    model: nn.Module,
    example: torch.Tensor,
    make: Callable[[nn.Module, torch.Tensor, list[nn.Module]], object],
    ignored: list[nn.Module],
) -> PartsPruner:
    """``make(part, part_input, ignored_layers)`` builds one part's pruner; ``ignored`` are layers of
    the full model kept whole (the output layer, the user's and the guard's protections)."""
    seen = captured_inputs(model, example)
    names = {id(m): n for n, m in model.named_modules()}
    keep = {id(m) for layer in ignored for m in layer.modules()}
    makers, parts, failed = [], [], []
    failing: set[tuple] = set()  # the likeness of every module that failed

    def visit(module: nn.Module) -> None:
        layers = [m for m in module.modules() if isinstance(m, WEIGHTED)]
        if len(layers) < 2:  # one layer alone cannot change its width without crossing the boundary
            return
        x = seen.get(id(module))
        if torch.is_tensor(x):
            inside = [m for m in layers if id(m) in keep] + [layers[-1]]  # the output layer keeps its width
            twin = likeness(module, x)
            try:
                if twin in failing:  # a twin of a block that failed: it fails the same way, mostly by time
                    raise ValueError("a twin failed")
                rehearse(module, x[:1], inside, make)
                makers.append(lambda module=module, x=x[:1], inside=inside: make(module, x, inside))
                parts.append(names.get(id(module), type(module).__name__))
                return
            except Exception:  # noqa: BLE001  (this part does not trace either: try its children)
                failed.append(module)
                failing.add(twin)
        for child in module.children():
            visit(child)

    for child in model.children():
        visit(child)
    return PartsPruner(makers, parts, failed)


def likeness(module: nn.Module, x: torch.Tensor) -> tuple:
    """What decides whether a module traces: its class, its input's shape and its parameters' names and
    shapes. FocalNet's twelve focal modulations each took the 10 s bound to fail (and so did every block
    and stage above them), 330 s of focalnet_tiny_srf's fallback; a twin of one that failed is not traced."""
    return (type(module), tuple(x.shape), tuple((n, tuple(p.shape)) for n, p in module.named_parameters()))


def rehearse(module: nn.Module, x: torch.Tensor, inside: list[nn.Module], make) -> None:
    """Prune a copy of ``module`` once, every group; raise unless it still maps ``x`` to the same shape.

    A part's graph may trace and still fail when stepped (an importance index out of range, a split
    of hard-coded widths); rehearsing on a copy finds that before the real model is touched."""
    import copy

    names = {id(m): n for n, m in module.named_modules()}
    probe = copy.deepcopy(module).eval()
    by_name = dict(probe.named_modules())
    with torch.no_grad():
        shape = probe(x).shape
    pruner = make(probe, x, [by_name[names[id(m)]] for m in inside])
    for group in pruner.step(interactive=True):
        group.prune()
        trim_channel_params(group, probe)  # as the guard does after every real cut
    with torch.no_grad():
        if probe(x).shape != shape:
            raise ValueError("the part's output shape changed")
