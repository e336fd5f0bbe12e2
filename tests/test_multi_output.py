"""Models whose output is not one tensor (issue 37): a dict, a tuple, a named tuple or a dataclass of
tensors through ``compress`` (structured pruning with example_input alone), ``measure`` in every
runtime, ``save``/``load`` and ONNX export with parity on every output; and two torchvision
models of that kind, a segmentation model and a detector's raw heads (e2e tier)."""

from __future__ import annotations

import collections
import dataclasses

import pytest
import torch
from torch import nn

import torchslim
from torchslim.errors import ConfigError
from torchslim.export.outputs import flatten_output
from torchslim.measurement.bench import BenchConfig
from torchslim.runtimes import runtime_facts

Pair = collections.namedtuple("Pair", "seg cls")


@dataclasses.dataclass
class Heads:
    cls: torch.Tensor
    seg: torch.Tensor


class TwoHeads(nn.Module):
    """A shared body, a segmentation map and class scores, returned in one of four structures."""

    def __init__(self, kind: str = "dict"):
        super().__init__()
        torch.manual_seed(0)
        self.kind = kind
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        )  # fmt: skip
        self.seg = nn.Conv2d(64, 5, 1)
        self.cls = nn.Linear(64, 7)

    def forward(self, x):
        f = self.body(x)
        seg, cls = self.seg(f), self.cls(f.mean((2, 3)))
        return {
            "dict": lambda: {"seg": seg, "cls": cls},
            "tuple": lambda: (seg, cls),
            "named": lambda: Pair(seg, cls),
            "dataclass": lambda: Heads(cls, seg),
        }[self.kind]()


def max_difference(a, b) -> float:
    return max(float((x - y).abs().max()) for (_, x), (_, y) in zip(flatten_output(a), flatten_output(b)))


KINDS = ["dict", "tuple", "named", "dataclass"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_model_with_several_outputs_is_pruned_exported_reloaded_and_timed(kind, tmp_path):
    runtimes = ["torch", "onnxruntime"] + (["openvino"] if runtime_facts("openvino").missing() is None else [])
    result = torchslim.compress(
        TwoHeads(kind).eval(),
        [{"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}],
        example_input=torch.randn(1, 3, 16, 16),
        out_dir=tmp_path / "out",
        latency=BenchConfig(batch_sizes=[2], runtimes=runtimes, min_seconds=0.05, min_runs=3, rounds=1),
    )
    assert result.measurement.complexity.macs <= 0.6 * result.original.macs
    heads = result.model
    assert (heads.seg.out_channels, heads.cls.out_features) == (5, 7)  # every output keeps its width
    names = {"dict": ["seg", "cls"], "tuple": ["output0", "output1"], "named": ["seg", "cls"]}
    assert list(result.parity.outputs) == names.get(kind, ["cls", "seg"])  # parity on every output, by name
    assert result.parity.ok and max(result.parity.outputs.values()) < 1e-4
    reloaded = torchslim.load(result.pt_path, builder=lambda: TwoHeads(kind))
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        assert max_difference(result.model(x), reloaded(x)) == 0.0
    import onnx

    assert [o.name for o in onnx.load(str(result.onnx_path)).graph.output] == list(result.parity.outputs)
    timed = {(r.runtime, r.batch_size) for r in result.measurement.latency}
    assert timed == {(r, 2) for r in runtimes}
    checks = result.measurement.checks  # each ONNX runtime checked by parity on every output
    assert checks and all(c["check"] == "parity" and c["ok"] for c in checks)


def test_a_model_with_several_outputs_and_data_is_one_line_naming_what_is_missing(tmp_path):
    data = torch.utils.data.TensorDataset(torch.randn(8, 3, 16, 16), torch.zeros(8, dtype=torch.long))
    with pytest.raises(ConfigError, match=r"returns a dict of 2 tensor\(s\) \(seg, cls\).*pass evaluate="):
        torchslim.compress(
            TwoHeads("dict"),
            [{"prune.structured": {"ratio": 0.5}}],
            example_input=torch.randn(1, 3, 16, 16),
            eval_data=data,
        )
    with pytest.raises(ConfigError, match=r"pass loss= and evaluate="):
        torchslim.compress(
            TwoHeads("dict"),
            [{"prune.structured": {"ratio": 0.5}}],
            example_input=torch.randn(1, 3, 16, 16),
            train_data=data,
            eval_data=data,
        )


def segmentation_data(n: int, seed: int):
    """Images whose bright half is class 1 of the 5-class map (the rest class 0), and a class label."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, 16, 16, generator=g) * 0.1
    masks = torch.zeros(n, 16, 16, dtype=torch.long)
    masks[:, :, 8:] = 1
    x[:, :, :, 8:] += 1.0
    return x, masks


def test_a_model_with_several_outputs_fine_tunes_on_the_callers_loss_and_is_scored_by_their_evaluate(tmp_path):
    x, masks = segmentation_data(64, 0)
    vx, vmasks = segmentation_data(32, 1)
    seen = []

    def loss(outputs, targets):
        seen.append(sorted(outputs))  # the model's own structure reaches the loss
        return nn.functional.cross_entropy(outputs["seg"], targets)

    def pixel_accuracy(model):
        return {"pixel_acc": float((model(vx)["seg"].argmax(1) == vmasks).float().mean()), "n": len(vx)}

    result = torchslim.compress(
        TwoHeads("dict"),
        [{"prune.structured": {"ratio": 0.5, "finetune_epochs": 2}}],
        example_input=torch.randn(1, 3, 16, 16),
        train_data=torch.utils.data.TensorDataset(x, masks),
        loss=loss,
        evaluate=pixel_accuracy,
        train={"epochs": 1, "batch_size": 16, "lr": 0.05},
        out_dir=tmp_path / "out",
        latency=BenchConfig(runtimes=[]),
    )
    assert seen and seen[0] == ["cls", "seg"]
    assert result.original_score["n"] == 32 and set(result.score) == {"pixel_acc", "n"}
    assert result.score["pixel_acc"] > 0.9  # two epochs on the caller's loss learned the map
    assert result.notes["finetune"][0]["epochs"] == 2 and "top1" not in result.notes["finetune"][0]
    assert "pixel_acc" in result.summary() and result.accuracy is None


def test_evaluate_must_return_a_number_or_a_mapping_of_numbers(tmp_path):
    with pytest.raises(ConfigError, match="evaluate\\(model\\) returned str"):
        torchslim.compress(
            TwoHeads("dict"),
            [{"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}],
            example_input=torch.randn(1, 3, 16, 16),
            evaluate=lambda model: "good",
            out_dir=tmp_path / "out",
            latency=BenchConfig(runtimes=[]),
        )


def test_an_output_that_holds_no_tensor_is_one_line(tmp_path):
    class Words(nn.Module):
        def forward(self, x):
            return "cat"

    with pytest.raises(ConfigError, match="the model returns a str; torchslim takes a tensor, or a dict"):
        torchslim.compress(Words(), [{"prune.structured": {"ratio": 0.5}}], example_input=torch.randn(1, 3, 16, 16))


def trained_statistics(model: nn.Module, size: int) -> nn.Module:
    """Batch-norm statistics from a few random batches: with the initial ones a deep random network's
    outputs vanish (SSDlite's to 1e-21), and a parity check on zeros would prove nothing."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(4, 3, size, size))
    return model.eval()


def segmentation():
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None)


class RawSSDlite(nn.Module):
    """SSDlite's backbone and head: box regressions and class logits per anchor (decoding and NMS
    stay outside, as a deployment exports them)."""

    def __init__(self):
        super().__init__()
        import torchvision

        torch.manual_seed(0)
        self.det = torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)

    def forward(self, x):
        return self.det.head(list(self.det.backbone(x).values()))


@pytest.mark.e2e
@pytest.mark.parametrize(
    "builder, size, outputs",
    [(segmentation, 128, ["out"]), (RawSSDlite, 320, ["bbox_regression", "cls_logits"])],
    ids=["lraspp_mobilenet_v3_large", "ssdlite320_mobilenet_v3_large"],
)
def test_torchvision_segmentation_and_detection_prune_to_half_with_parity_per_output(builder, size, outputs, tmp_path):
    """Issue 37, point 4: MACs kept, parity on every output, exact reload."""
    model = trained_statistics(builder(), size)
    result = torchslim.compress(
        model,
        [{"prune.structured": {"ratio": 0.5, "finetune_epochs": 0}}],
        example_input=torch.randn(1, 3, size, size),
        out_dir=tmp_path / "out",
        latency=BenchConfig(runtimes=[]),
    )
    kept = result.measurement.complexity.macs / result.original.macs
    assert kept <= 0.6, kept
    x = torch.randn(2, 3, size, size)
    with torch.no_grad():
        out = result.model(x)
        scale = max(float(t.abs().max()) for _, t in flatten_output(out))
        assert scale > 1e-3  # outputs that a parity check can tell apart
        assert max_difference(out, torchslim.load(result.pt_path, builder=builder)(x)) == 0.0
    assert result.parity.ok
    per_output = result.parity.outputs or {outputs[0]: result.parity.max_abs_diff}
    assert list(per_output) == outputs and max(per_output.values()) <= 1e-3 * max(1.0, scale)
    print(f"{builder.__name__}: MACs kept {kept:.3f}, parity per output {per_output}")
