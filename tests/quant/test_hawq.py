"""HAWQ-V3: Hutchinson traces, the integer program over bit widths, and the two ways it deploys."""

import itertools
from pathlib import Path

import pytest
import torch

from torchslim.errors import ConfigError
from torchslim.quant.bit_allocation import LayerChoice, allocate_bits
from torchslim.quant.hessian import hessian_traces, quantization_error


def test_hutchinson_estimates_each_blocks_trace_of_a_known_hessian():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(6, 40, generator=g)
    W = torch.nn.Parameter(torch.randn(3, 6, generator=g))
    b = torch.nn.Parameter(torch.randn(5, generator=g))
    # loss = ||W X||² + 7 ||b||²: the Hessian of W is 2 X Xᵀ on each of its 3 rows, that of b is 14 I
    traces = hessian_traces(lambda: (W @ X).pow(2).sum() + 7 * b.pow(2).sum(), {"W": W, "b": b}, samples=400)
    assert traces["W"] == pytest.approx(3 * 2 * float((X @ X.T).trace()), rel=0.05)
    assert traces["b"] == pytest.approx(14 * 5, rel=1e-6)  # a diagonal Hessian: exact for every v


def test_fewer_bits_perturb_the_weights_more():
    w = torch.randn(8, 4, 3, 3)
    assert quantization_error(w, 8) < quantization_error(w, 4) < quantization_error(w, 2)


def layers(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        size = float(torch.randint(10, 100, (1,), generator=g))
        s = float(torch.rand(1, generator=g))
        out.append(LayerChoice(f"l{i}", {4: s * 16, 8: s}, {4: 4 * size, 8: 8 * size}))
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_integer_program_respects_the_budget_and_is_optimal(seed):
    choices = layers(seed=seed)
    full = sum(c.cost[8] for c in choices)
    budget = 0.7 * full
    bits = allocate_bits(choices, budget)
    cost = sum(c.cost[bits[c.name]] for c in choices)
    omega = sum(c.omega[bits[c.name]] for c in choices)
    assert cost <= budget
    best = min(
        sum(c.omega[b] for c, b in zip(choices, combo))
        for combo in itertools.product((4, 8), repeat=len(choices))
        if sum(c.cost[b] for c, b in zip(choices, combo)) <= budget
    )
    assert omega == pytest.approx(best)


def test_a_budget_that_allows_it_gives_8_bits_everywhere_and_too_small_a_budget_is_refused():
    choices = layers()
    full = sum(c.cost[8] for c in choices)
    assert set(allocate_bits(choices, full).values()) == {8}
    with pytest.raises(ConfigError, match="below the cheapest bit map"):
        allocate_bits(choices, 0.4 * full)


@pytest.mark.parametrize("budget,kind", [(1.0, "INT8"), (0.6, "QCDQ")])
def test_hawq_deploys_all_8_bits_as_int8_and_a_mixed_map_as_qcdq(budget, kind, tmp_path):
    from torchslim.data import DatasetConfig, build_dataset
    from torchslim.methods import MethodContext
    from torchslim.models import InputSpec, build_model
    from torchslim.quant.hawq import HAWQConfig, quant_hawq
    from torchslim.train import TrainConfig

    data = build_dataset(DatasetConfig(name="digits"))
    spec = InputSpec(10, 1, 8)
    torch.manual_seed(0)
    model = build_model("simple_cnn_6x2", spec).eval()
    ctx = MethodContext(data, spec, TrainConfig(epochs=1, batch_size=128, lr=0.05), 0, Path(tmp_path))
    cfg = HAWQConfig(size_budget=budget, epochs=1, hutchinson_samples=2, hessian_images=64)
    out = quant_hawq(model, cfg, ctx)
    assert kind in ctx.notes["deployed_as"] and out(torch.zeros(2, *spec.shape)).shape == (2, 10)
    packed, int8 = ctx.notes["packed_weight_bytes"], ctx.notes["packed_weight_bytes_int8"]
    assert packed <= budget * int8 + 1e-6 * int8 or budget == 1.0
    assert (set(ctx.notes["bits"].values()) == {8}) == (budget == 1.0)
