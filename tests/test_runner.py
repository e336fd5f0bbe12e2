"""The runner on a model the user brings: a fine-tuned checkpoint used as given (``train.epochs: 0``)."""

import torch
import torchvision.models as tvm

from torchslim.config import RunConfig
from torchslim.runner import run


def test_a_1000_class_resnet18_checkpoint_runs_on_mnist5k_untrained_with_its_head_replaced(workspace):
    torch.manual_seed(0)
    torch.save(tvm.resnet18().state_dict(), workspace / "resnet18_imagenet.pt")
    cfg = RunConfig.model_validate(
        {
            "name": "ckpt",
            "models": [{"name": "torchvision:resnet18", "checkpoint": str(workspace / "resnet18_imagenet.pt")}],
            "dataset": {"name": "mnist5k"},
            "train": {"epochs": 0},
            "finetune": {"epochs": 1, "batch_size": 64, "lr": 0.01},
            "methods": [{"prune.structured": {"ratio": 0.5, "finetune_epochs": 1}}],
            "seeds": [0],
            "measure": {"latency": False},
        }
    )
    base, chain = run(cfg, formats=("md",))
    assert base.method_chain == "baseline" and base.metrics["epochs"] == 0
    assert base.metrics["weights"] == {
        "source": "checkpoint",
        "adapted": [
            "stem adapted: conv1.weight (3 -> 1 input channels)",
            "head replaced: fc (1000 -> 10 classes, newly initialised)",
        ],
        "used_as_given": True,
    }
    assert base.metrics["eval_images"] == 1000 and base.metrics["top1"] < 30  # a random head: chance level
    # the chain starts from the checkpoint's weights and its fine-tuning trains the new head
    assert chain.method_chain.startswith("prune.structured") and chain.metrics["macs"] < base.metrics["macs"] / 2
    assert chain.metrics["top1"] > 80
    # keyed by the checkpoint's content, not its path
    assert "checkpoint_sha256" in base.config["inputs"] and base.config["model"]["checkpoint"] == "see inputs"
