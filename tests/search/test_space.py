"""The search space: every chain family draws a chain the method registry accepts."""

import pytest

from torchslim.config.search import FAMILIES, SearchConfig
from torchslim.errors import ConfigError
from torchslim.methods.chain import Chain
from torchslim.search.space import SEARCHED_METHODS, suggest_chain

optuna = pytest.importorskip("optuna")


def fixed(**params):
    return optuna.trial.FixedTrial(params)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_draws_a_valid_chain(family):
    search = SearchConfig(space={"chains": [family]})
    params = {"chain": family, "importance": "l1", "macs_target_pct": 40, "round_to": 8, "finetune": "plain"}
    params["sparsity_pct"] = 60
    params["blocks"] = 2
    chain = suggest_chain(fixed(**params), search)
    parsed = Chain.parse(chain)
    names = [s.name for s in parsed.steps]
    assert names[0].startswith("prune.") or names[0].startswith("quant.")
    assert ("quant.static" in names) == ("static" in family)
    assert ("quant.qat" in names) == ("qat" in family)
    assert ("prune.structured" in names) == ("structured" in family.split("+"))
    assert ("prune.unstructured" in names) == ("unstructured" in family)
    assert ("prune.depth" in names) == ("depth" in family)
    assert set(names) <= set(SEARCHED_METHODS)  # their versions name the study
    if "prune.structured" in names:
        step = parsed.steps[names.index("prune.structured")]
        assert step.params == {"macs_target": 0.4, "importance": "l1", "round_to": 8, "finetune_epochs": 2}
    if "prune.depth" in names:  # first; fine-tuned by the pruning step after it, if there is one
        assert names[0] == "prune.depth"
        tuned_later = "structured" in family or "unstructured" in family
        assert parsed.steps[0].params == {"blocks": 2, "finetune_epochs": 0 if tuned_later else 2}


def test_kd_fine_tunes_structured_pruning_by_distillation():
    chain = suggest_chain(
        fixed(chain="structured", importance="taylor", macs_target_pct=50, round_to=1, finetune="kd"), SearchConfig()
    )
    assert chain == [
        {"prune.structured": {"macs_target": 0.5, "importance": "taylor", "round_to": None, "finetune_epochs": 0}},
        {"distill.kd": {"epochs": 2}},
    ]


def test_depth_alone_fine_tunes_by_distillation_when_drawn():
    chain = suggest_chain(fixed(chain="depth+static", blocks=3, finetune="kd"), SearchConfig())
    assert chain == [
        {"prune.depth": {"blocks": 3, "finetune_epochs": 0}},
        {"distill.kd": {"epochs": 2}},
        {"quant.static": {}},
    ]


def test_idap_is_its_own_method_with_a_macs_target():
    chain = suggest_chain(
        fixed(chain="structured+static", importance="idap", macs_target_pct=30, round_to=8), SearchConfig()
    )
    assert chain[0] == {"prune.idap": {"macs_target": 0.3, "steps": 3, "finetune_epochs": 1, "round_to": 8}}
    assert chain[1] == {"quant.static": {}}


def test_amounts_stay_on_the_grid_and_in_the_range():
    search = SearchConfig(space={"chains": ["unstructured"], "sparsity": {"low": 0.33, "high": 0.71}})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(30):
        trial = study.ask()
        sparsity = suggest_chain(trial, search)[0]["prune.unstructured"]["sparsity"]
        seen.add(sparsity)
        study.tell(trial, 0.0)
    assert seen <= {0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7}
    assert len(seen) > 3


def test_torch_latency_leaves_out_chains_that_ship_onnx_only():
    search = SearchConfig(objective="latency:torch:b1")
    assert search.families() == ["structured", "unstructured", "depth", "depth+structured", "depth+unstructured"]
    assert SearchConfig().families() == list(FAMILIES)


@pytest.mark.parametrize(
    "raw, words",
    [
        ({"space": {"chains": ["structured+kd"]}}, "unknown chain family 'structured+kd'"),
        ({"space": {"structured": {"amount": "ratio"}}}, "idap"),
        ({"objective": "latency:tensorrt:b1"}, "objective"),
        ({"space": {"sparsity": {"low": 0.8, "high": 0.2}}}, "above high"),
        ({"space": {"depth": {"low": 4, "high": 2}}}, "above high"),
        ({"space": {"chains": []}}, "search.space.chains"),  # an empty space
        ({"space": {"structured": {"importance": []}}}, "search.space.structured.importance"),
    ],
)
def test_bad_search_settings_are_one_line(raw, words, tmp_path):
    from torchslim.config import load_config

    path = tmp_path / "cfg.yaml"
    import yaml

    path.write_text(yaml.safe_dump({"name": "s", "models": ["simple_cnn_6x2"], "dataset": "digits", "search": raw}))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_the_study_starts_from_the_usual_first_guesses():
    from torchslim.search.study import first_guesses

    guesses = first_guesses(SearchConfig())
    assert [g["chain"] for g in guesses] == [
        "static",
        "structured",
        "structured+static",
        "structured+static",
        "structured",
    ]
    assert guesses[1] == {
        "chain": "structured",
        "macs_target_pct": 50,
        "importance": "l1",
        "round_to": 8,
        "finetune": "plain",
    }
    assert guesses[3]["macs_target_pct"] == guesses[4]["macs_target_pct"] == 20  # the deepest the range allows
    chains = [Chain.parse(suggest_chain(fixed(**g), SearchConfig())) for g in guesses]
    assert [c.label.split("(")[0] for c in chains] == ["quant.static"] + ["prune.structured"] * 4
    # only what the space and the objective allow
    torch_only = first_guesses(SearchConfig(objective="latency:torch:b1"))
    assert [(g["chain"], g["macs_target_pct"]) for g in torch_only] == [("structured", 50), ("structured", 20)]
    by_ratio = SearchConfig(
        space={"structured": {"amount": "ratio", "importance": ["l1"], "range": {"low": 0.3, "high": 0.72}}}
    )
    assert [g.get("ratio_pct") for g in first_guesses(by_ratio)] == [None, 50, 50, 70, 70]  # a ratio removes
    assert len(first_guesses(SearchConfig(trials=4))) == 1
    # the most blocks the space removes, with INT8, alone and with the half cut: after the five above
    deeper = SearchConfig(trials=40, space={"depth": {"low": 2, "high": 4}})
    deep = first_guesses(deeper)
    assert [(g["chain"], g.get("blocks"), g.get("macs_target_pct")) for g in deep[5:]] == [
        ("depth+static", 4, None),
        ("depth+structured+static", 4, 50),
    ]
    labels = [Chain.parse(suggest_chain(fixed(**g), deeper)).label for g in deep[5:]]
    assert labels[0].startswith("prune.depth(blocks=4") and labels[1].startswith("prune.depth(blocks=4")


def test_the_space_fits_the_model_depth_chains_only_where_blocks_can_go():
    from torchslim.config.search import FAMILIES
    from torchslim.models import InputSpec, build_model
    from torchslim.search.space import fit_to_model

    mnist = InputSpec(10, 1, 28)
    plain = build_model("enhanced_lenet5", mnist)  # every conv stage changes its shape
    fitted, line = fit_to_model(SearchConfig(), plain, mnist.shape)
    assert fitted.space.chains == [f for f in FAMILIES if "depth" not in f] and "no block to remove" in line
    spec = InputSpec(10, 1, 8)
    resnet = build_model("resnet20", spec)  # 7 blocks keep their shape (the two stride-2 ones do not)
    fitted, line = fit_to_model(SearchConfig(space={"depth": {"low": 2, "high": 10}}), resnet, spec.shape)
    assert (fitted.space.depth.low, fitted.space.depth.high) == (2, 7) and line.endswith("remove 2-7")
    same, line = fit_to_model(SearchConfig(), resnet, spec.shape)
    assert same == SearchConfig() and line is None
    with pytest.raises(ConfigError, match="has no block prune.depth can remove"):
        fit_to_model(SearchConfig(space={"chains": ["depth+static"]}), plain, mnist.shape)


def test_the_depth_range_names_the_study_only_when_the_space_holds_depth_chains(tmp_path):
    import yaml

    from tests.conftest import tiny_recipe
    from torchslim.config import load_config
    from torchslim.search.study import baseline_of, study_name

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(tiny_recipe()))
    cfg = load_config(path)
    _, base = baseline_of(cfg, str(path))

    def name(chains, high):
        return study_name(cfg, base, SearchConfig(space={"chains": chains, "depth": {"low": 1, "high": high}}))

    assert name(["static", "structured"], 3) == name(["static", "structured"], 5)
    assert name(["static", "depth+static"], 3) != name(["static", "depth+static"], 5)


def test_a_new_method_version_starts_a_new_study(tmp_path, monkeypatch):
    import yaml

    from tests.conftest import tiny_recipe
    from torchslim.config import load_config
    from torchslim.prune.structured import StructuredConfig
    from torchslim.search.study import baseline_of, study_name

    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(tiny_recipe()))
    cfg = load_config(path)
    _, base = baseline_of(cfg, str(path))
    before = study_name(cfg, base, SearchConfig())
    monkeypatch.setattr(StructuredConfig, "version", StructuredConfig.version + 1)
    assert study_name(cfg, base, SearchConfig()) != before  # its trials' tasks are recomputed, so are its trials
