"""The ``train:`` section split in three (optimizer settings, placement, search control), written and
stored flat, with the task keys it had before the split."""

from __future__ import annotations

import hashlib
import json

import pytest

from torchslim.config import task_hash
from torchslim.train.config import FLAT_ORDER, OptimizerSettings, Placement, SearchControl, TrainConfig

# task_hash(TrainConfig(**given).key()) computed by the code before the split (feb08e4): stored
# results must keep their keys
BEFORE_THE_SPLIT = [
    ({}, "7fb08b775b3eb032"),
    ({"device": "cpu"}, "3169399d8190a686"),
    ({"precision": "bf16", "threads": 2}, "5b6981e89bab9bae"),
    ({"epochs": 3, "lr": 0.01, "schedule": "cosine", "abandon_below": 50.0}, "a9314526977dd273"),
    ({"channels_last": False, "deterministic": False, "ema_decay": 0.99}, "afc84b8b68f78429"),
]


@pytest.mark.parametrize("given,key", BEFORE_THE_SPLIT)
def test_keys_are_those_stored_before_the_split(given, key):
    assert task_hash(TrainConfig(**given).key()) == key


def test_each_flat_field_lands_in_its_part_and_is_stored_flat():
    cfg = TrainConfig(lr=0.2, device="cpu", precision="bf16", threads=3, abandon_below=40.0)
    assert cfg.placement == Placement(device="cpu", precision="bf16", threads=3)
    assert cfg.control == SearchControl(abandon_below=40.0)
    dumped = cfg.model_dump()
    assert "placement" not in dumped and "control" not in dumped
    assert set(dumped) == set(OptimizerSettings.model_fields) | set(Placement.model_fields) | set(
        SearchControl.model_fields
    )
    assert TrainConfig.model_validate(dumped) == cfg


def test_search_control_never_enters_the_key_and_placement_only_when_stated():
    base = TrainConfig(epochs=2)
    assert base.with_abandon_below(55.0).key() == base.key()
    assert base.with_abandon_below(55.0).control.abandon_below == 55.0
    assert "device" not in base.key() and base.key()["threads"] is None
    assert TrainConfig(epochs=2, device="cuda:1").key()["device"] == "cuda:1"
    assert TrainConfig(epochs=3).key() != base.key()


def test_a_field_given_both_flat_and_nested_takes_the_flat_one():
    cfg = TrainConfig.model_validate({"placement": {"device": "cpu", "threads": 2}, "device": "cuda"})
    assert (cfg.placement.device, cfg.placement.threads) == ("cuda", 2)


@pytest.mark.parametrize(
    "given,digest",
    [
        ({"epochs": 2, "lr": 0.01, "schedule": "cosine"}, "e989c4d8280f4d4d"),
        ({"device": "cuda", "precision": "bf16", "threads": 4, "abandon_below": 3.0}, "23f1e501dc097eac"),
    ],
)
def test_the_key_keeps_its_order_for_hashes_taken_without_sorting(given, digest):
    """A search's study name hashes ``finetune.key()`` as ordered (values from the code before the split):
    a reordered key would start a killed search afresh."""
    assert hashlib.sha1(json.dumps(TrainConfig(**given).key()).encode()).hexdigest()[:16] == digest
    assert list(TrainConfig(**given).model_dump()) == list(FLAT_ORDER)
