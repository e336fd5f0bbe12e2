import pytest
import torch

import torchslim.train.trainer as trainer
from torchslim.data import DatasetConfig, build_dataset
from torchslim.errors import TrainingDivergedError
from torchslim.models import InputSpec, build_model
from torchslim.train import TrainConfig, fit
from torchslim.train.determinism import configure

CFG = TrainConfig(epochs=3, batch_size=64, lr=0.05)


@pytest.fixture(scope="module")
def digits():
    return build_dataset(DatasetConfig(name="digits"))


def train_once(data, cfg=CFG, seed=0, checkpoint=None):
    configure(seed)
    model = build_model("simple_cnn_6x2", InputSpec(10, 1, 8))
    return model, fit(model, data, cfg, seed, checkpoint=checkpoint)


def test_same_seed_gives_identical_metrics_and_weights(digits):
    m1, r1 = train_once(digits)
    m2, r2 = train_once(digits)
    assert r1.accuracy.top1 == r2.accuracy.top1 and r1.accuracy.loss == r2.accuracy.loss
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    assert r1.accuracy.top1 > 50.0  # it learned something: chance is 10 %


def test_the_last_epochs_evaluation_is_the_result_not_run_twice(digits, monkeypatch):
    calls = []
    real = trainer.evaluate
    monkeypatch.setattr(trainer, "evaluate", lambda *a: calls.append(1) or real(*a))
    model, result = train_once(digits, CFG.model_copy(update={"epochs": 2}))
    assert len(calls) == 2  # one per epoch, none after
    assert result.accuracy.top1 == result.history[-1]["eval_top1"]
    again = real(model, trainer.BatchLoader(digits.eval, digits.info, CFG.eval_batch_size), True)
    assert (again.top1, again.top5, again.n) == (result.accuracy.top1, result.accuracy.top5, result.accuracy.n)
    assert again.loss == pytest.approx(result.accuracy.loss, rel=1e-5)  # the model is back in NCHW: rounding only


@pytest.mark.parametrize(
    "model, expected",
    [
        (lambda: build_model("simple_cnn_6x2", InputSpec(10, 1, 8)), True),  # 8x8 inputs: still NHWC
        (lambda: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)), False),
    ],
)
def test_auto_channels_last_is_on_for_conv_nets_at_any_size(model, expected):
    net = model()
    assert trainer.use_channels_last(net, CFG) is expected
    assert trainer.use_channels_last(net, CFG.model_copy(update={"channels_last": False})) is False


def test_a_trained_model_is_back_in_nchw_like_a_reloaded_one(digits):
    model, _ = train_once(digits, CFG.model_copy(update={"epochs": 1}))
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous() for m in convs)


def test_other_seed_gives_other_weights(digits):
    m1, _ = train_once(digits, seed=0)
    m2, _ = train_once(digits, seed=1)
    assert not torch.equal(m1.classifier[-1].weight, m2.classifier[-1].weight)


def interrupt_after(epochs: int, monkeypatch, run) -> None:
    """Run ``run()`` with the trainer killed right after saving the checkpoint of ``epochs``."""
    real_save = trainer.save_atomic

    def save_then_die(blob, path):
        real_save(blob, path)
        if blob["epochs_done"] == epochs:
            raise KeyboardInterrupt

    monkeypatch.setattr(trainer, "save_atomic", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(trainer, "save_atomic", real_save)


def test_resume_after_interruption_matches_a_straight_run(digits, tmp_path, monkeypatch):
    _, straight = train_once(digits)
    interrupt_after(2, monkeypatch, lambda: train_once(digits, checkpoint=tmp_path / "ck.pt"))
    _, resumed = train_once(digits, checkpoint=tmp_path / "ck.pt")
    assert resumed.resumed_from_epoch == 2
    assert resumed.accuracy.top1 == straight.accuracy.top1 and resumed.accuracy.loss == straight.accuracy.loss
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]


def test_nan_loss_stops_with_a_clear_error(digits):
    with pytest.raises(TrainingDivergedError, match="training diverged: loss is (nan|inf)"):
        train_once(digits, TrainConfig(epochs=2, batch_size=64, lr=1e12, schedule="constant"))


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
@pytest.mark.parametrize("schedule", ["onecycle", "cosine", "constant"])
def test_optimizers_and_schedules_learn(digits, optimizer, schedule):
    lr = 0.05 if optimizer == "sgd" else 3e-3
    _, r = train_once(
        digits, TrainConfig(epochs=2, batch_size=64, lr=lr, optimizer=optimizer, schedule=schedule, label_smoothing=0.1)
    )
    assert r.accuracy.top1 > 30.0
    assert 0 < r.accuracy.top5 <= 100 and r.accuracy.top5 >= r.accuracy.top1


def test_weight_decay_skips_biases_and_norms():
    model = build_model("resnet20", InputSpec())
    opt = trainer.build_optimizer(model, TrainConfig(weight_decay=1e-3))
    decayed = {id(p) for p in opt.param_groups[0]["params"]}
    assert id(model.fc.weight) in decayed and id(model.fc.bias) not in decayed and id(model.bn1.weight) not in decayed


def test_ema_keeps_the_averaged_weights_and_resumes_exactly(digits, tmp_path, monkeypatch):
    ema_cfg = CFG.model_copy(update={"ema_decay": 0.9})
    plain, _ = train_once(digits)
    averaged, straight = train_once(digits, ema_cfg)
    assert not torch.equal(plain.classifier[-1].weight, averaged.classifier[-1].weight)
    assert straight.accuracy.top1 > 50.0
    interrupt_after(1, monkeypatch, lambda: train_once(digits, ema_cfg, checkpoint=tmp_path / "ck.pt"))
    resumed_model, resumed = train_once(digits, ema_cfg, checkpoint=tmp_path / "ck.pt")
    assert resumed.accuracy.top1 == straight.accuracy.top1
    assert torch.equal(resumed_model.classifier[-1].weight, averaged.classifier[-1].weight)


def test_a_training_split_smaller_than_one_batch_is_refused():
    """Issue 16: it trained zero steps and was stored as a trained model."""
    from torchslim.data import DatasetConfig, build_dataset
    from torchslim.errors import ConfigError
    from torchslim.models import InputSpec, build_model
    from torchslim.train import TrainConfig, fit

    data = build_dataset(DatasetConfig(name="digits"))
    model = build_model("simple_cnn_6x2", InputSpec(10, 1, 8))
    with pytest.raises(ConfigError, match=r"batch_size 4096 is larger than the training split \(1437 images\)"):
        fit(model, data, TrainConfig(epochs=1, batch_size=4096), 0)


def test_a_fit_below_its_budget_after_one_epoch_stops_there(digits, tmp_path):
    from torchslim.errors import BelowBudget

    with pytest.raises(BelowBudget, match="after the first fine-tuning epoch is below 99.90%"):
        train_once(digits, CFG.with_abandon_below(99.9), checkpoint=tmp_path / "ck.pt")
    assert torch.load(tmp_path / "ck.pt", weights_only=True)["epochs_done"] == 1  # saved first: a plain rerun resumes


def test_a_fit_within_its_budget_is_the_plain_fit(digits):
    _, plain = train_once(digits)
    _, watched = train_once(digits, CFG.with_abandon_below(10.0))
    assert watched.accuracy.top1 == plain.accuracy.top1 and watched.accuracy.loss == plain.accuracy.loss
    assert CFG.with_abandon_below(10.0).key() == CFG.key()  # not part of a task's key
