import pytest
import torch

from tests.conftest import tiny_recipe
from torchslim.config import validate_config
from torchslim.errors import ConfigError, UnknownNameError
from torchslim.methods import METHODS, Chain, method_facts

CHAIN = [{"prune.unstructured": {"sparsity": 0.5}}, {"prune.structured": {"ratio": 0.5}}]


def example(name: str) -> dict:
    """The quick settings a method registered to show itself (the tests use no list of method names)."""
    return method_facts(name).example


@pytest.mark.parametrize("name", METHODS.names())
def test_every_method_declares_its_facts(name):
    facts = method_facts(name)
    assert facts.kind in ("prune", "quant", "distill", "other") and facts.produces in ("model", "onnx")
    assert facts.label and facts.summary and facts.version >= 1
    params = Chain.parse({name: example(name)}).steps[0].resolved()["params"]
    assert isinstance(facts.amount(params), str) and facts.amount(params)


@pytest.mark.parametrize("name", METHODS.names())
def test_method_config_round_trips_and_labels(name):
    chain = Chain.parse({name: example(name)})
    assert chain.label.startswith(name + "(") and chain.steps[0].config().model_dump()


def test_recipe_chains_expand_after_baselines():
    from torchslim.tasks import expand

    cfg = validate_config(tiny_recipe(seeds=[0, 1], methods=[CHAIN, {"prune.structured": {"ratio": 0.3}}]))
    tasks = expand(cfg)
    assert [[s.name for s in t.chain.steps] if t.chain else "baseline" for t in tasks[:3]] == [
        "baseline",
        ["prune.unstructured", "prune.structured"],
        ["prune.structured"],
    ]
    assert tasks[1].baseline().key == tasks[0].key and len(tasks) == 6


def test_adding_methods_does_not_change_the_baseline_key():
    from torchslim.tasks import expand

    plain = expand(validate_config(tiny_recipe()))[0]
    with_methods = expand(validate_config(tiny_recipe(methods=[CHAIN])))[0]
    assert plain.key == with_methods.key


def test_unknown_method_suggests():
    with pytest.raises(UnknownNameError, match="prune.structured"):
        validate_config(tiny_recipe(methods=[{"prune.structural": {"ratio": 0.5}}]))


def test_bad_method_param_names_the_field():
    with pytest.raises(ConfigError, match="method 'prune.unstructured': sparsity"):
        validate_config(tiny_recipe(methods=[{"prune.unstructured": {"sparsity": 1.5}}]))


def placements(name: str) -> list:
    """bf16 autocast on the CPU finds, without a GPU, what mixed precision breaks on CUDA (a float observer
    fed bf16). Every kind runs it by default but pruning: pruning methods fine-tune through the same
    trainer as quantization and distillation (whose observers and teachers meet half-precision
    activations), so theirs is in the slow tier, with the plain fine-tune's, which is that trainer alone
    (emulated bf16 on CPUs without its instructions takes three times fp32's time)."""
    cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
    bf16 = (pytest.mark.slow,) if method_facts(name).kind == "prune" or name == "finetune" else ()
    return [
        pytest.param(name, "cpu", "fp32", id=f"{name}-cpu-fp32"),
        pytest.param(name, "cpu", "bf16", marks=bf16, id=f"{name}-cpu-bf16"),
        pytest.param(name, "cuda", "auto", marks=cuda, id=f"{name}-cuda-auto"),
    ]


@pytest.mark.parametrize("name,device,precision", [p for n in METHODS.names() for p in placements(n)])
def test_every_method_runs_on_a_tiny_model(name, device, precision, tmp_path):
    """Each registered method, applied to a briefly trained SimpleCNN on digits, returns a working model,
    on the CPU and (where there is one) on the GPU as a task's current placement, as the runner sets it."""
    import copy

    from torchslim.data import DatasetConfig, build_dataset
    from torchslim.device import placed, resolve
    from torchslim.methods import MethodContext, apply_chain
    from torchslim.models import InputSpec, build_model
    from torchslim.train import TrainConfig, fit

    data = build_dataset(DatasetConfig(name="digits"))
    spec = InputSpec(10, 1, 8)
    torch.manual_seed(0)
    with placed(resolve(device, precision)):
        model = build_model("simple_cnn_6x2", spec)
        fit(model, data, TrainConfig(epochs=1, batch_size=64, lr=0.05), 0)
        ctx = MethodContext(data, spec, TrainConfig(epochs=1, batch_size=64, lr=0.01), 0, tmp_path)
        ctx.original = copy.deepcopy(model)
        out = apply_chain(model, Chain.parse({name: example(name)}), ctx)
    logits = out(torch.zeros(2, *spec.shape))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
