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


def groups_of(model: nn.Module, avoid_fixed: bool = False) -> FilterGroups:
    return FilterGroups.of(model, torch.zeros(1, *SPEC.shape), [model.fc], avoid_fixed=avoid_fixed)


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


def trained_statistics(model: nn.Module, images: torch.Tensor) -> nn.Module:
    """Batch-norm running statistics as training leaves them (a random init's are 0 and 1)."""
    from torch.optim.swa_utils import update_bn

    update_bn([images], model)
    return model.eval()


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_folding_what_zeroed_channels_still_feed_keeps_the_cut_network_close(shortcut):
    """The failure it prevents: a ResNet-20 cut after SFP fell from 86.6 % to 8.7 %. A zero filter's batch
    norm still outputs its shift, a constant the next layers rely on, and the cut removed it."""
    images = torch.randn(32, *SPEC.shape)

    def cut_error(fold: bool) -> float:
        model = trained_statistics(resnet(shortcut), images)
        groups = groups_of(model, avoid_fixed=True)
        chosen = groups.choose(0.5)
        groups.zero(chosen)
        with torch.no_grad():
            before = model(images)
        if fold:
            assert groups.fold_means(chosen, [images])["folded"] > 0
        groups.cut(chosen)
        with torch.no_grad():
            return float((model(images) - before).abs().mean() / before.abs().mean())

    folded, plain = cut_error(True), cut_error(False)
    assert folded < 0.75 * plain, (folded, plain)  # the zero-padded borders and option A's frozen copies stay


def test_zeroing_keeps_the_batch_norm_scale_and_shift_so_filters_can_regrow():
    model = trained_statistics(resnet(), torch.randn(32, *SPEC.shape))
    groups = groups_of(model)
    chosen = groups.choose(0.5)
    shift = dict(model.named_modules())["bn1"].bias.detach().clone()
    groups.zero(chosen)
    bn = dict(model.named_modules())["bn1"]
    c = chosen[[g.name for g in groups.groups].index("conv1")]
    assert torch.equal(bn.running_mean[c], torch.zeros(len(c))) and torch.equal(bn.bias.detach(), shift)
    out = bn(torch.zeros(1, bn.num_features, 2, 2))[0, c, 0, 0]  # a zeroed filter's channel, in eval mode
    torch.testing.assert_close(out, bn.bias[c].detach())  # the shift, as in training mode


def test_channels_a_frozen_copy_writes_are_never_chosen():
    model = resnet("A")
    groups = groups_of(model)
    stage = next(g for g in groups.groups if g.name == "layers.1.0.shortcut.0")  # stage 2: 16 of 32 channels copied
    assert int(stage.fixed().sum()) == 16
    chosen = stage.choose(0.9, avoid_fixed=True)
    assert len(chosen) == 16 and not stage.fixed()[chosen].any()
    assert stage.fixed()[stage.choose(0.9)].any()  # other methods (OBC) choose among every channel, as before


def test_swd_penalises_the_chosen_channels_batch_norms_too():
    model = resnet()
    groups = groups_of(model)
    chosen = groups.choose(0.5)
    filters = float(groups.penalty(chosen).detach())
    extra = sum(
        float(p[rows].pow(2).sum())
        for g, c in zip(groups.groups, chosen)
        for m, rows in g.rows(c, norms=True)
        for p in m.tensors()
    )
    assert extra > 0 and float(groups.penalty(chosen, norms=True).detach()) == pytest.approx(filters + extra, rel=1e-5)


def test_recalibration_recomputes_the_statistics_of_the_cut_network(make_ctx):
    from torchslim.prune.soft_filters import recalibrate

    ctx = make_ctx(SPEC)
    model = resnet()
    groups = groups_of(model)
    groups.cut(groups.choose(0.5))
    seen = []
    bn = dict(model.named_modules())["bn1"]
    hook = bn.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0].detach()))
    used = recalibrate(model, ctx)
    hook.remove()
    assert used == len(ctx.data.train) == sum(len(x) for x in seen)  # 64 synthetic images, all of them
    batch_mean = torch.cat(seen).mean(dim=(0, 2, 3))
    torch.testing.assert_close(bn.running_mean, batch_mean, rtol=1e-4, atol=1e-5)
    assert not model.training


def test_sfp_can_zero_every_n_steps_for_short_schedules(make_ctx):
    ctx = make_ctx(SPEC)
    steps = 2 * (len(ctx.data.train) // 16)  # 2 epochs in batches of 16
    out = prune_sfp(resnet(), SFPConfig(ratio=0.5, epochs=2, zero_every_steps=2), ctx)
    assert len(ctx.notes["sfp_swapped_per_zeroing"]) == steps // 2 + 1  # every 2 steps, and once after them
    assert out(torch.zeros(1, *SPEC.shape)).shape == (1, 10)
    assert ctx.notes["bn_recalibrated_on"] == len(ctx.data.train)
