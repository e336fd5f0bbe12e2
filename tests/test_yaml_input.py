"""YAML from users is read within bounds (issue 35, defects 3 and 17)."""

from __future__ import annotations

import time

import pytest

from torchslim.config import load_config, parse_overrides
from torchslim.errors import ConfigError
from torchslim.yaml_input import MAX_VALUES, comment_safe

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)


def test_billion_laughs_under_model_kwargs_is_refused_at_once(tmp_path):
    """Defect 3: 397 bytes of aliases ran past 120 s and 1.6 GB."""
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS + "name: x\nmodels: [{name: resnet20, kwargs: {k: *i}}]\n")
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=f"expands to more than {MAX_VALUES:,} values"):
        load_config(path)
    assert time.perf_counter() - start < 5


def test_deep_nesting_is_one_line(tmp_path):
    """Defect 3: 5,000 levels gave a RecursionError."""
    path = tmp_path / "deep.yaml"
    path.write_text("name: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match="nested"):
        load_config(path)


def test_a_self_referencing_anchor_is_one_line(tmp_path):
    """Defect 17."""
    path = tmp_path / "self.yaml"
    path.write_text("name: x\nmodels: &m [resnet20, *m]\n")
    with pytest.raises(ConfigError, match="an anchor refers to itself"):
        load_config(path)


def test_a_non_utf8_byte_is_one_line(tmp_path):
    """Defect 17: a Latin-1 byte gave a UnicodeDecodeError traceback."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xe9 at offset 9\)"):
        load_config(path)


def test_an_override_is_bounded_too():
    with pytest.raises(ConfigError, match="anchor refers to itself"):
        parse_overrides(["seeds=&s [1, *s]"])


def test_a_comment_line_cannot_hold_a_newline():
    """Defect 5: a config name with a newline injected YAML into recipe.yaml's header."""
    assert comment_safe("a\noutput_dir: X\r") == "a\\noutput_dir: X\\r"
