import pytest

from torchslim.errors import UnknownNameError
from torchslim.registry import Registry


def make() -> Registry:
    reg = Registry("widget")
    reg.register("alpha")(lambda: 1)
    reg.register("alphabet")(lambda: 2)
    reg.register_prefix("ext")(lambda name: name)
    return reg


def test_duplicate_name_is_an_error():
    reg = make()
    with pytest.raises(ValueError, match="already registered"):
        reg.register("alpha")(lambda: 3)


def test_unknown_name_suggests_closest_and_lists_choices():
    with pytest.raises(UnknownNameError) as info:
        make().get("alpah")
    msg = str(info.value)
    assert "'alpha'" in msg.split("Valid")[0]
    assert "Valid choices: alpha, alphabet, ext:NAME" in msg


def test_prefix_entries_claim_their_family():
    reg = make()
    assert reg.split("ext:thing") == ("ext", "thing")
    assert reg.get("ext:thing").name == "ext:NAME"
    assert "ext:anything" in reg and "nope:x" not in reg
    with pytest.raises(UnknownNameError, match="missing the part after"):
        reg.get("ext:")


def test_names_filter():
    assert make().names("alpha*") == ["alpha", "alphabet"]
