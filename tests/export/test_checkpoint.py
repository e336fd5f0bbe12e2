import pytest
import torch

from torchslim.errors import CheckpointError
from torchslim.export.checkpoint import read_checkpoint, save_atomic, state_dict_from


def test_round_trip_with_weights_only(tmp_path):
    blob = {"model": {"w": torch.ones(2)}, "epochs_done": 3, "history": [{"a": 1.0}]}
    save_atomic(blob, tmp_path / "c.pt")
    back = read_checkpoint(tmp_path / "c.pt")
    assert back["epochs_done"] == 3 and torch.equal(state_dict_from(back)["w"], torch.ones(2))
    assert not (tmp_path / "c.pt.tmp").exists()


def test_corrupt_file_is_one_clear_error(tmp_path):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*weights_only=True"):
        read_checkpoint(tmp_path / "bad.pt")


class Evil:
    pass


def test_pickled_code_is_refused(tmp_path):
    torch.save({"model": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        read_checkpoint(tmp_path / "evil.pt")


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint(tmp_path / "none.pt")


def test_non_tensor_state_dict_is_refused():
    with pytest.raises(CheckpointError, match="no state dict"):
        state_dict_from({"model": {"w": 1}})
