"""SFP and SWD: the filters they choose, zero and penalise, and the cut that removes exactly those."""

import pytest
import torch
from torch import nn

from torchslim.models import InputSpec, build_model
from torchslim.prune.sfp import SFPConfig, prune_sfp
from torchslim.prune.soft_filters import FilterGroups
from torchslim.prune.swd import SWDConfig, penalty_coefficient, prune_swd

SPEC = InputSpec(10, 3, 32)


def resnet(shortcut: str = "B") -> nn.Module:
    torch.manual_seed(0)
    model = build_model({"name": "resnet20", "kwargs": {"shortcut": shortcut, "zero_init_residual": False}}, SPEC)
    with torch.no_grad():  # BN shifts as a trained network has them: a zeroed filter's channel outputs its shift,
        for m in model.modules():  # and a shift of exactly 0 sits on ReLU's kink, where no gradient passes
            if isinstance(m, nn.BatchNorm2d):
                m.bias.uniform_(0.05, 0.2)
    return model.eval()


def groups_of(model: nn.Module) -> FilterGroups:
    return FilterGroups.of(model, torch.zeros(1, *SPEC.shape), [model.fc])


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_sfp_zeroes_the_lowest_norm_filters_and_they_regrow_after_an_update(shortcut):
    model = resnet(shortcut)
    groups = groups_of(model)
    before = [g.norms() for g in groups.groups]
    chosen = groups.choose(0.5)
    for norms, c in zip(before, chosen):  # the chosen channels are the lowest-norm half of their group
        assert len(c) == len(norms) // 2
        kept = torch.tensor([i for i in range(len(norms)) if i not in set(c.tolist())])
        assert norms[c].max() <= norms[kept].min()
    groups.zero(chosen)
    assert all(float(g.norms()[c].max()) == 0.0 for g, c in zip(groups.groups, chosen))
    frozen = [m for m in model.modules() if type(m).__name__ == "ZeroPadShortcut"]
    assert all(float(m.weight.sum()) == m.in_channels for m in frozen)  # option A's copies are never zeroed
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = nn.functional.cross_entropy(model(torch.randn(8, *SPEC.shape)), torch.arange(8))
    loss.backward()
    opt.step()
    regrown = [float(g.norms()[c].min()) for g, c in zip(groups.groups, chosen)]
    assert min(regrown) > 0  # every zeroed filter received gradient and is nonzero again


def test_the_final_cut_removes_exactly_the_chosen_channels():
    model = resnet()
    groups = groups_of(model)
    chosen = groups.choose(0.25)
    widths = {g.name: g.width for g in groups.groups}
    groups.cut(chosen)
    named = dict(model.named_modules())
    for g, c in zip(groups.groups, chosen):
        if isinstance(named[g.name], nn.Conv2d) and named[g.name].weight.requires_grad:
            assert named[g.name].out_channels == widths[g.name] - len(c)
    assert model(torch.zeros(2, *SPEC.shape)).shape == (2, 10)


def test_swd_penalty_grows_geometrically_from_start_to_end():
    cfg = SWDConfig(ratio=0.5, penalty_start=1e-4, penalty_end=1.0)
    coef = [penalty_coefficient(cfg, t, 101) for t in range(101)]
    assert coef[0] == pytest.approx(1e-4) and coef[-1] == pytest.approx(1.0)
    assert coef[50] == pytest.approx(1e-2)  # halfway in steps is halfway in log scale
    assert all(b > a for a, b in zip(coef, coef[1:]))


def test_swd_penalty_is_the_coefficient_times_the_chosen_filters_squared_norm():
    model = resnet()
    groups = groups_of(model)
    chosen = groups.choose(0.5)
    expected = sum(float(g.norms()[c].pow(2).sum()) for g, c in zip(groups.groups, chosen))
    assert float(groups.penalty(chosen).detach()) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "method,cfg", [(prune_sfp, SFPConfig(ratio=0.5, epochs=1)), (prune_swd, SWDConfig(ratio=0.5, epochs=1))]
)
def test_sfp_and_swd_end_with_a_smaller_dense_network(method, cfg, make_ctx):
    from torchslim.measurement.complexity import count_flops

    spec = InputSpec(10, 3, 32)
    model = resnet()
    base = count_flops(model, spec.shape)
    ctx = make_ctx(spec)
    out = method(model, cfg, ctx)
    assert (
        count_flops(out, spec.shape) / base == pytest.approx(ctx.notes["macs_kept"]) and ctx.notes["macs_kept"] < 0.45
    )
    assert out(torch.zeros(2, *spec.shape)).shape == (2, 10)
