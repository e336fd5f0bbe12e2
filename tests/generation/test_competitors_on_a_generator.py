"""Seed 004's competitors (SFP, SWD, OBC, HAWQ-V3) on a DCGAN generator, as its generation row has them.

A generator is made of transposed convolutions, which these methods once skipped: each "ran", cut
nothing (MACs kept 1.0) and HAWQ quantized no layer. Each now cuts or quantizes the transposed layers,
and fine-tunes on the task's own loss (distillation from the original on latents), not cross-entropy.
"""

import copy

import pytest
import torch

from torchslim.errors import TorchslimError
from torchslim.generation.distillation import distillation_loss
from torchslim.generation.latents import generator_spec, latent_bundle
from torchslim.measurement.complexity import count_flops
from torchslim.methods import MethodContext, apply_chain
from torchslim.methods.chain import Chain
from torchslim.metric import Metric
from torchslim.models import build_model
from torchslim.models.base import ModelConfig
from torchslim.runtimes.deployed import OnnxModel
from torchslim.train import TrainConfig

SPEC = generator_spec({"ngf": 8, "nz": 16}, 3)
PRUNERS = {
    "prune.sfp": {"macs_target": 0.5, "epochs": 1},
    "prune.swd": {"macs_target": 0.5, "epochs": 1},
    "prune.obc": {"macs_target": 0.5, "calibration_samples": 32, "finetune_epochs": 1},
}


def generator() -> torch.nn.Module:
    torch.manual_seed(0)
    g = build_model(ModelConfig(name="dcgan", kwargs={"ngf": 8, "nz": 16}), SPEC)
    with torch.no_grad():  # batch-norm statistics of its own activations, as a trained generator has
        g.train()
        for _ in range(4):
            g(torch.randn(64, *SPEC.shape))
    return g.eval()


def context(model: torch.nn.Module, tmp_path) -> MethodContext:
    ctx = MethodContext(
        latent_bundle(SPEC, 64, 0, calibration=32),
        SPEC,
        TrainConfig(batch_size=16, optimizer="adamw", lr=1e-3, threads=1),
        0,
        tmp_path,
    )
    ctx.original = copy.deepcopy(model).eval()
    ctx.default_loss = distillation_loss(ctx.original, None, 1.0, 0.0)
    return ctx


@pytest.mark.parametrize("method", sorted(PRUNERS))
def test_each_competitor_halves_a_generators_macs_through_its_transposed_convolutions(method, tmp_path):
    model = generator()
    z = torch.randn(4, *SPEC.shape)
    base = count_flops(model, SPEC.shape)
    ctx = context(model, tmp_path)
    out = apply_chain(model, Chain.parse({method: PRUNERS[method]}), ctx)
    kept = count_flops(out, SPEC.shape) / base
    assert 0.35 < kept <= 0.5, kept
    assert out(z).shape == (4, 3, 32, 32)
    assert out.net[-2].out_channels == 3  # the output layer (the image's channels) is never cut
    assert ctx.notes["finetune"][0]["tag"] in method  # fine-tuned on the task's distillation loss


def test_hawq_quantizes_a_generators_transposed_convolutions_and_trains_on_its_loss(tmp_path):
    model = generator()
    ctx = context(model, tmp_path)
    out = apply_chain(model, Chain.parse({"quant.hawq": {"epochs": 1, "hessian_images": 16}}), ctx)
    assert isinstance(out, OnnxModel)
    assert ctx.notes["bits_histogram"] == {"8": 4}  # the generator's four ConvTranspose2d layers
    assert ctx.notes["qat_ranges"] == "4 activation ranges from QAT"
    assert ctx.notes["quantized_ops"]["dequantize"] >= 8  # weights and inputs of four layers
    assert "task's own" in ctx.notes["qat_distillation"]
    z = torch.randn(4, *SPEC.shape)
    with torch.no_grad():
        assert float((out(z) - ctx.original(z)).abs().max()) < 0.1


@pytest.mark.parametrize(
    "method, params",
    [
        ("prune.idap", {"macs_target": 0.5, "steps": 2, "finetune_epochs": 1, "final_epochs": 1, "max_drop": 100.0}),
        ("distill.kd", {"epochs": 1}),
    ],
)
def test_methods_that_distil_use_the_generators_own_loss_not_softened_logits(method, params, tmp_path):
    """The DCGAN recipe's IDAP++ row failed at its first fine-tune: IDAP++ distils with Hinton's KD, whose
    cross-entropy took the generator's images for logits ("only batches of spatial targets supported")."""
    model = generator()
    ctx = context(model, tmp_path)
    ctx.score = lambda m: {"fid": 1.0}  # the task's per-step score (FID in a real run)
    ctx.metric = Metric("fid", "FID", higher_is_better=False)
    out = apply_chain(model, Chain.parse({method: params}), ctx)
    assert ctx.notes["distillation"] == "the task's own loss, from the original model"
    assert all(f["epochs"] == 1 for f in ctx.notes["finetune"]) and out(torch.randn(2, *SPEC.shape)).shape[1] == 3
    if method == "prune.idap":  # its flow scores the transposed convolutions: the steps cut (they once kept 1.0)
        assert ctx.notes["dynamics"][-1]["macs"] <= 0.55 * ctx.notes["dynamics"][0]["macs"], ctx.notes["dynamics"]


def test_a_chosen_teacher_is_refused_where_the_task_distils_with_its_own_loss(tmp_path):
    from torchslim.export.checkpoint import save_model
    from torchslim.models import describe

    model = generator()
    save_model(model, tmp_path / "t.pt", describe(ModelConfig(name="dcgan", kwargs={"ngf": 8, "nz": 16}), SPEC))
    with pytest.raises(TorchslimError, match="another teacher is not supported"):
        apply_chain(model, Chain.parse({"distill.kd": {"teacher": str(tmp_path / "t.pt")}}), context(model, tmp_path))


def test_a_transposed_conv_and_its_batch_norm_fold_into_one_float_layer_for_int8():
    from torchslim.quant.fakequant import convert_to_float, prepare_qat

    model = generator()
    z = torch.randn(4, *SPEC.shape)
    q = prepare_qat(copy.deepcopy(model))
    for m in q.modules():
        if hasattr(m, "enabled"):
            m.enabled = False  # float: only the fold is checked
    flat = convert_to_float(q).eval()
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in flat.modules())
    with torch.no_grad():
        assert torch.allclose(flat(z), model(z), atol=1e-5)


def test_a_method_with_nothing_it_may_cut_says_so(tmp_path):
    model = generator()
    names = [n for n, m in model.named_modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    ctx = context(model, tmp_path)
    with pytest.raises(TorchslimError, match="prune.sfp: no channel group of this model can be cut"):
        apply_chain(model, Chain.parse({"prune.sfp": {"ratio": 0.5, "protect": names}}), ctx)
