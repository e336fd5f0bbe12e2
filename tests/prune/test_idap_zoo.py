"""IDAP++ on issue 7's architecture list: it prunes, the model runs at the same output shape, and exports.

Slow (several models at 64x64, a few minutes): `make test-slow`. Random weights, no fine-tuning:
this checks the mechanics on each architecture, not accuracy.
"""

import pytest
import torch

from torchslim.export.onnx import export_onnx
from torchslim.measurement.complexity import count_flops
from torchslim.methods import Chain, apply_chain
from torchslim.models import InputSpec, build_model
from torchslim.prune.idap import layer_widths

ARCHITECTURES = [
    "torchvision:resnet18",
    "torchvision:vgg11_bn",
    "torchvision:mobilenet_v2",
    "torchvision:mobilenet_v3_large",
    "torchvision:efficientnet_b0",
    "torchvision:densenet121",
    "torchvision:convnext_tiny",
    "torchvision:shufflenet_v2_x1_0",
]


@pytest.mark.slow
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_idap_prunes_each_architecture(name, make_ctx, tmp_path):
    spec = InputSpec(10, 3, 64)
    torch.manual_seed(0)
    model = build_model(name, spec).eval()
    before = count_flops(model, spec.shape)
    widths = layer_widths(model)
    chain = Chain.parse(
        {
            "prune.idap": {
                "macs_target": 0.7,
                "steps": 4,
                "finetune_epochs": 0,
                "max_drop": 100.0,
                "calibration_samples": 16,
            }
        }
    )
    model = apply_chain(model, chain, make_ctx(spec)).eval()
    assert count_flops(model, spec.shape) < before  # random weights: the schedule may spend its steps on cheap layers
    kept = {n: w[0] / widths[n][0] for n, w in layer_widths(model).items() if n in widths and w[0]}
    assert min(kept.values()) >= 0.05  # max_layer_ratio counts from the original widths (a step may overshoot it)
    assert model(torch.randn(2, *spec.shape)).shape == (2, 10)
    assert export_onnx(model, torch.zeros(1, *spec.shape), tmp_path / "m.onnx") in ("torchscript", "dynamo")
