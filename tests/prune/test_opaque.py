"""Opaque units (``prune.opaque``): a block that does not trace is cut where it meets the model."""

import torch
from torch import nn

from torchslim.measurement.complexity import count_flops
from torchslim.methods import Chain, apply_chain
from torchslim.models import InputSpec
from torchslim.prune import structured
from torchslim.prune.opaque import opaque_units, unit_ends

SPEC = InputSpec(10, 3, 16)


class Modulation(nn.Module):
    """FocalNet-like: one 1x1 conv makes a query, a context and a gate; depthwise context; a projection."""

    def __init__(self, c: int):
        super().__init__()
        self.f = nn.Conv2d(c, 2 * c + 1, 1)
        self.ctx = nn.Conv2d(c, c, 3, padding=1, groups=c)
        self.h = nn.Conv2d(c, c, 1)
        self.proj = nn.Conv2d(c, c, 1)
        self.c = c

    def forward(self, x):
        q, ctx, gate = torch.split(self.f(x), (self.c, self.c, 1), 1)
        return self.proj(q * self.h(torch.relu(self.ctx(ctx)) * gate))


class Normed(nn.Module):
    """Its input is read by a norm first: not an opaque unit (the norm would have to be cut too)."""

    def __init__(self, c: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(c)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        return self.proj(self.norm(x))


class ModulationNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, padding=1)
        self.blocks = nn.ModuleList([Modulation(32), Modulation(32)])
        self.mlp = nn.Sequential(nn.Conv2d(32, 64, 1), nn.GELU(), nn.Conv2d(64, 32, 1))
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.stem(x)
        for b in self.blocks:
            x = x + b(x)
        x = x + self.mlp(x)
        return self.fc(x.mean((2, 3)))


def test_a_units_readers_and_writer_are_found_and_a_norm_first_is_refused():
    x = torch.randn(1, 32, 8, 8)
    assert unit_ends(Modulation(32), x) == (["f"], ["proj"])
    assert unit_ends(Normed(32), x) is None
    model = ModulationNet().eval()
    failed = [model.blocks[0], model.blocks[1], model.blocks]  # the list is not residual-shaped: skipped
    found = opaque_units(model, torch.zeros(1, 3, 16, 16), failed)
    assert found == {"blocks.0": (["f"], ["proj"]), "blocks.1": (["f"], ["proj"])}


class RelativePosition(nn.Module):
    """A block called with more than its first tensor (CoaT's ConvRelPosEnc(q, v, size))."""

    def __init__(self, dim: int):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)

    def forward(self, q, v, size):
        return q * self.conv(v.reshape(v.shape[0], -1, *size)).flatten(2).transpose(1, 2)


def test_a_block_that_takes_more_than_one_input_is_not_an_opaque_unit_and_does_not_fail_the_cut():
    """coat_small failed in draw 893619 at this call ("forward() missing 2 required positional arguments")
    instead of being left to the part-by-part fallback."""
    assert unit_ends(RelativePosition(4), torch.randn(1, 16, 4)) is None


def test_a_model_whose_blocks_do_not_trace_has_its_residual_cut_around_them(make_ctx, monkeypatch):
    """The whole graph and each modulation alone fail to trace (as FocalNet's did, past Torch-Pruning's
    time bound): part by part only the MLP was cut and the residual stayed whole; with the blocks as
    opaque units the whole graph traces and the residual width is cut through them."""
    real = structured._meta_pruner

    def untraceable(model, cfg, ratio, example, ignored, ratios=None, opaque=None):
        units = {id(m) for m in structured.resolve_opaque(model, opaque or {})}
        if any(isinstance(m, Modulation) and id(m) not in units for m in model.modules()):
            raise RuntimeError("dependency tracing took more than 30 s")
        return real(model, cfg, ratio, example, ignored, ratios, opaque)

    monkeypatch.setattr(structured, "_meta_pruner", untraceable)
    torch.manual_seed(0)
    model = ModulationNet().eval()
    before = count_flops(model, SPEC.shape)
    ctx = make_ctx(SPEC)
    chain = Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}})
    pruned = apply_chain(model, chain, ctx).eval()
    assert ctx.notes["opaque_units"] == ["blocks.0", "blocks.1"] and "partwise" not in ctx.notes, ctx.notes
    assert pruned.stem.out_channels == 16 and pruned.blocks[0].f.in_channels == 16
    assert pruned.blocks[1].proj.out_channels == 16 and pruned.blocks[0].h.out_channels == 32  # inner width kept
    assert pruned.mlp[0].out_channels == 32
    assert count_flops(pruned, SPEC.shape) <= 0.6 * before
    assert pruned(torch.randn(2, *SPEC.shape)).shape == (2, 10)


def test_when_the_opaque_trace_fails_too_the_model_goes_part_by_part(make_ctx, monkeypatch):
    real = structured._meta_pruner

    def whole_fails(model, cfg, ratio, example, ignored, ratios=None, opaque=None):
        if isinstance(model, (ModulationNet, Modulation, nn.ModuleList)):  # opaque units or not
            raise RuntimeError("untraceable")
        return real(model, cfg, ratio, example, ignored, ratios, opaque)

    monkeypatch.setattr(structured, "_meta_pruner", whole_fails)
    ctx = make_ctx(SPEC)
    chain = Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}})
    pruned = apply_chain(ModulationNet().eval(), chain, ctx).eval()
    assert ctx.notes.get("partwise") and "opaque_units" not in ctx.notes, ctx.notes
    assert pruned.stem.out_channels == 32 and pruned.mlp[0].out_channels == 32  # only the MLP part was cut


def test_a_twin_of_a_block_that_failed_alone_is_not_traced_and_unused_parts_are_never_built(make_ctx, monkeypatch):
    """FocalNet's twelve modulations each spent the 10 s bound failing (and every block and stage above
    them), most of focalnet_tiny_srf's 330 s: a block with the class, input shape and parameter shapes of
    one that failed fails without a trace. The parts found on the way are built only if stepped."""
    real = structured._meta_pruner
    traced: list[str] = []

    def untraceable(model, cfg, ratio, example, ignored, ratios=None, opaque=None):
        traced.append(type(model).__name__)
        units = {id(m) for m in structured.resolve_opaque(model, opaque or {})}
        if any(isinstance(m, Modulation) and id(m) not in units for m in model.modules()):
            raise RuntimeError("dependency tracing took more than 30 s")
        return real(model, cfg, ratio, example, ignored, ratios, opaque)

    monkeypatch.setattr(structured, "_meta_pruner", untraceable)
    ctx = make_ctx(SPEC)
    chain = Chain.parse({"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}})
    apply_chain(ModulationNet().eval(), chain, ctx)
    assert ctx.notes["opaque_units"] == ["blocks.0", "blocks.1"], ctx.notes
    assert traced.count("Modulation") == 1  # blocks.1 is blocks.0's twin
    assert traced.count("Sequential") == 1  # the MLP part: rehearsed once, its pruner never built
