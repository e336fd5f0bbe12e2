"""A method's training hooks run in torchslim's trainer and, epoch by epoch, around a caller's own loop."""

from pathlib import Path

import pytest
import torch

from torchslim.data import DatasetConfig, build_dataset
from torchslim.methods import MethodContext
from torchslim.models import InputSpec, build_model
from torchslim.train import TrainConfig, TrainingHooks, fit

SPEC = InputSpec(10, 1, 8)
CFG = TrainConfig(epochs=2, batch_size=128, lr=0.05)


@pytest.fixture(scope="module")
def digits():
    return build_dataset(DatasetConfig(name="digits"))


def model():
    torch.manual_seed(0)
    return build_model("simple_cnn_6x2", SPEC)


def test_epoch_and_step_hooks_run_in_order_with_their_indices(digits):
    events = []
    hooks = TrainingHooks(
        before_epoch=lambda e: events.append(("start", e)),
        after_epoch=lambda e: events.append(("end", e)),
        after_step=lambda s: events.append(("step", s)),
    )
    fit(model(), digits, CFG, 0, hooks=hooks)
    steps = len(digits.train) // CFG.batch_size
    assert events[0] == ("start", 0) and events[-1] == ("end", 1)
    assert [s for kind, s in events if kind == "step"] == list(range(2 * steps))
    assert events.index(("end", 0)) == steps + 1 and events[steps + 2] == ("start", 1)


def test_a_penalty_hook_is_added_to_the_loss(digits):
    plain, shrunk = model(), model()
    fit(plain, digits, CFG, 0)
    weights = [p for n, p in shrunk.named_parameters() if n.endswith("weight")]
    fit(shrunk, digits, CFG, 0, hooks=TrainingHooks(penalty=lambda step: 1.0 * sum(w.pow(2).sum() for w in weights)))
    norm = lambda m: sum(float(p.detach().pow(2).sum()) for n, p in m.named_parameters() if n.endswith("weight"))  # noqa: E731
    assert norm(shrunk) < 0.5 * norm(plain)


def context(digits, tmp_path, finetune_fn):
    return MethodContext(digits, SPEC, CFG, 0, Path(tmp_path), finetune_fn=finetune_fn)


def test_the_callers_loop_runs_one_epoch_at_a_time_between_epoch_hooks(digits, tmp_path):
    events = []
    ctx = context(digits, tmp_path, lambda m, epochs: events.append(("loop", epochs)))
    hooks = TrainingHooks(
        before_epoch=lambda e: events.append(("start", e)), after_epoch=lambda e: events.append(("end", e))
    )
    ctx.tune(model(), 2, "t", hooks=hooks)
    assert events == [("start", 0), ("loop", 1), ("end", 0), ("start", 1), ("loop", 1), ("end", 1)]
    assert ctx.notes["finetune"][-1]["by"] == "the caller's finetune"


def test_a_per_step_penalty_needs_torchslims_trainer_and_the_note_says_so(digits, tmp_path):
    calls = []
    ctx = context(digits, tmp_path, lambda m, epochs: calls.append(epochs))
    ctx.tune(model(), 1, "t", hooks=TrainingHooks(penalty=lambda step: torch.zeros(())))
    assert calls == [] and "torchslim's trainer" in ctx.notes["finetune"][-1]["by"]


def test_qat_trains_in_the_callers_loop_with_its_freeze_schedule(digits, tmp_path):
    from torchslim.quant.fakequant import ActObserverFQ
    from torchslim.quant.qat import QATConfig, quant_qat

    seen = []

    def own_loop(m, epochs):
        seen.append((epochs, [a.observing for a in m.modules() if isinstance(a, ActObserverFQ)][0]))
        fit(m, digits, TrainConfig(epochs=epochs, batch_size=128, lr=0.005), 0)

    ctx = context(digits, tmp_path, own_loop)
    quant_qat(
        model().eval(), QATConfig(epochs=2, freeze_observers_after=1, freeze_bn_after=1, calibration_samples=64), ctx
    )
    assert seen == [(1, True), (1, False)]  # observers run in the first epoch, frozen in the second
    assert "off" in ctx.notes["qat_distillation"]
