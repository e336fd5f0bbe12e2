from pathlib import Path

import pytest

from tests.conftest import tiny_recipe
from torchslim.config import load_config, parse_overrides, validate_config
from torchslim.errors import ConfigError, UnknownNameError


def test_overrides_parse_yaml_values_into_nested_keys():
    assert parse_overrides(["train.epochs=3", "seeds=[0,1]", "name=x"]) == {
        "train": {"epochs": 3},
        "seeds": [0, 1],
        "name": "x",
    }


def test_overrides_apply_on_top_of_the_file(write_config):
    cfg = load_config(write_config(tiny_recipe()), ["train.epochs=7", "train.optimizer=adamw"])
    assert cfg.train.epochs == 7 and cfg.train.optimizer == "adamw" and cfg.train.batch_size == 64


def test_model_may_be_a_single_name():
    cfg = validate_config(tiny_recipe(models="resnet20"))
    assert [m.name for m in cfg.models] == ["resnet20"]


@pytest.mark.parametrize(
    "raw, error, fragment",
    [
        (tiny_recipe(models=["resnet21"]), UnknownNameError, "Did you mean"),
        (tiny_recipe(dataset="cifar11"), UnknownNameError, "'cifar10'"),
        (tiny_recipe(train={"epochs": "ten"}), ConfigError, "train.epochs: Input should be a valid integer"),
        (tiny_recipe(train={"optimizer": "adam"}), ConfigError, "'sgd' or 'adamw'"),
        (
            tiny_recipe(train={"epoch": 3}),
            ConfigError,
            "unknown field 'train.epoch'; valid fields here: abandon_below, batch_size",
        ),
        (tiny_recipe(seeds=[0, 0]), ConfigError, "seeds must be distinct"),
        ({"models": ["resnet20"]}, ConfigError, "missing required field 'name'"),
    ],
)
def test_bad_configs_name_the_field_and_the_choices(raw, error, fragment):
    with pytest.raises(error) as info:
        validate_config(raw, source="x.yaml")
    assert fragment in str(info.value)
    assert str(info.value).startswith("x.yaml: ")
    assert "\n" not in str(info.value)


def test_invalid_yaml_reports_the_line(workspace):
    path = workspace / "bad.yaml"
    path.write_text("name: x\nmodels: [resnet20\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(path)


def test_missing_config_file(workspace):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(workspace / "nope.yaml")


def test_shipped_configs_validate():
    from pathlib import Path

    from torchslim.task_kinds import load_recipe

    root = Path(__file__).resolve().parents[1] / "configs"
    paths = sorted(root.rglob("*.yaml"))
    assert len(paths) >= 2
    for path in paths:
        command = "# torchslim search " if path.parent.name == "search" else "# torchslim run "
        assert path.read_text().startswith(command), f"{path} must begin with the command that runs it"
        assert load_recipe(path).name  # through its kind: classification, detection, ...


def test_resolved_config_loads_back_as_the_same_tasks(tmp_path):
    from torchslim.config import to_yaml
    from torchslim.tasks import expand

    cfg = load_config(Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml")
    (tmp_path / "resolved.yaml").write_text(to_yaml(cfg))
    again = load_config(tmp_path / "resolved.yaml")
    assert [t.key for t in expand(again)] == [t.key for t in expand(cfg)] and len(expand(cfg)) == 40


def test_a_task_hash_covers_the_method_defaults(write_config):
    """Stated and defaulted settings hash alike; any other value (say, a changed default) does not."""
    from torchslim.quant.qat import QATConfig
    from torchslim.tasks import expand

    default_epochs = QATConfig().epochs
    methods = [
        {"quant.qat": {}},
        {"quant.qat": {"epochs": default_epochs}},
        {"quant.qat": {"epochs": default_epochs + 1}},
    ]
    tasks = [t for t in expand(load_config(write_config(tiny_recipe(methods=methods)))) if t.chain is not None]
    assert tasks[0].config_hash == tasks[1].config_hash != tasks[2].config_hash


@pytest.mark.parametrize(
    "bad, says",
    [
        ({"name": ".."}, "name: a run name is a plain folder name"),
        ({"name": "/tmp/elsewhere"}, "name: a run name is a plain folder name"),
        ({"name": "a/b"}, "name: a run name is a plain folder name"),
        (
            {"measure": {"runtimes": ["torch", "onnxrutime"]}},
            "unknown runtime 'onnxrutime'. Did you mean 'onnxruntime'? "
            "Valid choices: onnxruntime, openvino, torch, torch.compile",
        ),
        ({"measure": {"batch_sizes": [0]}}, "measure.batch_sizes: batch sizes must be positive"),
        ({"methods": [[]]}, "an empty chain"),
        ({"methods": [{"prune.structured": {"ratio": 0.5}}] * 2}, "is listed twice"),
        ({"train": {"epochs": True}}, "train.epochs: Input should be a valid integer (got True)"),
        (
            {"methods": [{"prune.structured": {"ratoi": 0.5}}]},
            "unknown field 'ratoi'; valid fields here: depthwise, finetune",
        ),
    ],
)
def test_settings_that_cannot_run_are_refused_before_any_task(bad, says):
    """Issue 16: these passed `validate` and failed after training, or ran twice, or ran outside runs/."""
    with pytest.raises(ConfigError) as err:
        validate_config(tiny_recipe(**bad))
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_run_name_may_hold_inner_dots():
    assert validate_config(tiny_recipe(name="lenet.v2")).run_dir == Path("runs") / "lenet.v2"


def test_a_broken_yaml_override_is_one_config_error():
    with pytest.raises(ConfigError, match=r"override 'seeds=\[0,': not valid YAML at line 1"):
        parse_overrides(["seeds=[0,"])


def test_a_kd_teacher_path_is_hashed_as_text(tmp_path):
    from torchslim.tasks import expand

    cfg = validate_config(tiny_recipe(methods=[{"distill.kd": {"teacher": str(tmp_path / "teacher.pt")}}]))
    chained = expand(cfg)[1]
    assert chained.payload()["chain"][0]["params"]["teacher"] == str(tmp_path / "teacher.pt")
    assert len(chained.config_hash) == 16


def test_a_checkpoint_and_an_image_folder_are_keyed_by_content_not_path(tmp_path):
    """Issue 16: an overwritten checkpoint or image folder was served the result of the old one."""
    import torch

    from torchslim.tasks import expand

    ckpt = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(3)}, ckpt)
    folder = tmp_path / "images"
    for c in ("a", "b"):
        (folder / c).mkdir(parents=True)
        (folder / c / "0.png").write_bytes(b"png-" + c.encode())
    raw = tiny_recipe(models=[{"name": "simple_cnn_6x2", "checkpoint": str(ckpt)}], dataset=f"imagefolder:{folder}")
    first = expand(validate_config(raw))[0]
    assert expand(validate_config(raw))[0].key == first.key  # stable while nothing changes
    torch.save({"w": torch.ones(3)}, ckpt)
    second = expand(validate_config(raw))[0]
    assert second.key != first.key
    (folder / "a" / "0.png").write_bytes(b"another image")
    assert expand(validate_config(raw))[0].key != second.key
    import os
    import shutil

    fingerprint = expand(validate_config(raw))[0].payload()["inputs"]["data_fingerprint"]
    os.utime(folder / "a" / "0.png", ns=(1, 1))  # touched, or copied afresh: the same bytes keep their key
    shutil.copytree(folder, tmp_path / "copy")
    assert expand(validate_config(raw))[0].payload()["inputs"]["data_fingerprint"] == fingerprint
    copied = expand(validate_config(raw | {"dataset": f"imagefolder:{tmp_path / 'copy'}"}))[0]
    assert copied.payload()["inputs"]["data_fingerprint"] == fingerprint
    plain = expand(validate_config(tiny_recipe()))[0]
    assert "inputs" not in plain.payload()  # embedded data and no checkpoint: keys as before


def test_a_chain_runs_on_its_finetune_threads_and_a_baseline_on_its_train_threads():
    from torchslim.tasks import expand

    raw = tiny_recipe(
        train={"epochs": 1, "threads": 2},
        finetune={"threads": 1},
        methods=[{"prune.structured": {"ratio": 0.5}}],
    )
    base, chain = expand(validate_config(raw))
    assert (base.threads, chain.threads) == (2, 1)
    unset = expand(validate_config(tiny_recipe(train={"epochs": 1, "threads": 2}, methods=["quant.static"])))
    assert [t.threads for t in unset] == [2, 2]  # no finetune.threads: the train setting


@pytest.mark.parametrize(
    "raw, says",
    [
        (tiny_recipe(seeds=[99999999999999999999999]), "seed 99999999999999999999999 is outside 0 to 2**32 - 1"),
        (
            tiny_recipe(search={"objective": "latency:torch:b1", "space": {"chains": ["static"]}}),
            "objective latency:torch:b1 judges none of the chains static",
        ),
        (
            tiny_recipe(search={"space": {"chains": ["unstructured"], "sparsity": {"low": 0.5, "high": 0.98}}}),
            "high 0.98 rounds to 100 % on the search's 5 % grid",
        ),
        (tiny_recipe(search={"space": {"structured": {"round_to": [0]}}}), "round_to.0: Input should be greater"),
    ],
    ids=["huge-seed", "no-judged-chain", "sparsity-rounds-to-1", "round-to-0"],
)
def test_values_that_crashed_later_are_refused_when_the_config_is_read(raw, says):
    """Issue 35, defect 18: each passed validation and crashed after minutes (Optuna's ValueError, a
    sparsity of 1.0 nobody wrote, round_to 0 after the baseline trained, an overflowing seed)."""
    with pytest.raises(ConfigError) as info:
        validate_config(raw, source="x.yaml")
    assert says in str(info.value)


def test_an_output_dir_that_cannot_be_written_is_refused_before_any_task(write_config, workspace):
    """Issue 35, defect 18: output_dir=/proc/self passed validation and failed later."""
    from tests.conftest import run_cli

    proc = run_cli("run", str(write_config(tiny_recipe())), "output_dir=/proc/self/torchslim", cwd=workspace)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "output folder '/proc/self/torchslim' cannot be written" in proc.stderr
    assert "run   " not in proc.stderr  # no task started
