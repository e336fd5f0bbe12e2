"""Property tests: any config or override either validates or is one ConfigError line, never a crash."""

import os
import string

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import tiny_recipe
from torchslim.config import load_config, validate_config
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


def _ok_or_one_line(thunk) -> None:
    try:
        thunk()
    except TorchslimError as exc:
        assert str(exc) and "\n" not in str(exc).strip()


@EXAMPLES
@given(changes=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=3), methods=st.lists(METHOD_ENTRY, max_size=3))
def test_any_config_validates_or_is_one_config_error(changes, methods):
    raw = tiny_recipe(methods=methods)
    for key, value in changes.items():
        node = raw
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node[last] = value
    _ok_or_one_line(lambda: validate_config(raw))


OVERRIDE_TEXT = st.text(string.printable.replace("\n", "").replace("\r", ""), max_size=24)


@EXAMPLES
@given(
    overrides=st.lists(
        st.one_of(st.builds(lambda k, v: f"{k}={v}", st.sampled_from(FIELDS), OVERRIDE_TEXT), OVERRIDE_TEXT),
        max_size=4,
    )
)
def test_any_override_validates_or_is_one_config_error(overrides, tmp_path_factory):
    path = tmp_path_factory.getbasetemp() / "property_recipe.yaml"
    if not path.exists():
        path.write_text(yaml.safe_dump(tiny_recipe(methods=[{"prune.structured": {"ratio": 0.5}}])))
    _ok_or_one_line(lambda: load_config(path, overrides))
