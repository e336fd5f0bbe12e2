"""Property tests: any config or override either validates or is one ConfigError line, never a crash."""

import os
import string

import pytest
import yaml
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from tests.conftest import tiny_recipe
from torchslim.config import load_config, to_yaml, validate_config
from torchslim.errors import TorchslimError
from torchslim.methods import METHODS

EXAMPLES = settings(
    max_examples=int(os.environ.get("TORCHSLIM_PROPERTY_EXAMPLES", 500)),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

FIELDS = [
    "name", "models", "dataset", "train", "methods", "finetune", "measure", "seeds", "output_dir", "store", "task",
    "dataset.name", "dataset.val_fraction", "dataset.root", "train.epochs", "train.lr", "train.schedule",
    "train.batch_size", "measure.runtimes", "measure.batch_sizes", "measure.latency", "finetune.epochs", "nope",
    "train.nope", "models.0", "seeds.0",
]  # fmt: skip
SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(string.printable, max_size=12)
)
KEYS = st.text(string.ascii_letters + "._", max_size=12)
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3), max_leaves=8
)
METHOD_ENTRY = st.one_of(
    st.dictionaries(st.sampled_from(METHODS.names() + ["prune.nope"]), JSON, min_size=1, max_size=2),
    st.sampled_from(METHODS.names()),
    JSON,
)


def outcome(thunk) -> str:
    """Run a parse: a valid config must load back from the YAML it resolves to (what
    config.resolved.yaml holds) as the same config; a refusal must be one non-empty line."""
    try:
        cfg = thunk()
    except TorchslimError as exc:
        assert str(exc) and "\n" not in str(exc)
        return "refused"
    assert validate_config(yaml.safe_load(to_yaml(cfg))) == cfg
    return "valid"


def edited_recipe(changes: dict, methods: list) -> dict:
    raw = tiny_recipe(methods=methods)
    for key, value in changes.items():
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node[last] = value
    return raw


CHANGES = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=3)
METHOD_LISTS = st.lists(METHOD_ENTRY, max_size=3)


@EXAMPLES
@given(changes=CHANGES, methods=METHOD_LISTS)
def test_any_config_validates_or_is_one_config_error(changes, methods):
    assert outcome(lambda: validate_config(edited_recipe(changes, methods))) in ("valid", "refused")


OVERRIDE_TEXT = st.text(string.printable.replace("\n", "").replace("\r", ""), max_size=24)
OVERRIDES = st.lists(
    st.one_of(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(FIELDS), OVERRIDE_TEXT), OVERRIDE_TEXT), max_size=4
)


@pytest.fixture(scope="module")
def recipe_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("property") / "recipe.yaml"
    path.write_text(yaml.safe_dump(tiny_recipe(methods=[{"prune.structured": {"ratio": 0.5}}])))
    return path


@EXAMPLES
@given(overrides=OVERRIDES)
def test_any_override_validates_or_is_one_config_error(overrides, recipe_file):
    assert outcome(lambda: load_config(recipe_file, overrides)) in ("valid", "refused")


@pytest.mark.parametrize("wanted", ["valid", "refused"])
def test_the_generators_reach_both_outcomes(wanted, recipe_file):
    """Otherwise the properties above could hold by never reaching one of their branches."""
    quick = settings(max_examples=2000, deadline=None, database=None)
    edited = lambda x: outcome(lambda: validate_config(edited_recipe(*x)))  # noqa: E731
    edit = find(st.tuples(CHANGES, METHOD_LISTS), lambda x: edited(x) == wanted, settings=quick)
    assert edited(edit) == wanted
    over = find(OVERRIDES, lambda o: outcome(lambda: load_config(recipe_file, o)) == wanted, settings=quick)
    assert outcome(lambda: load_config(recipe_file, over)) == wanted
