from pathlib import Path

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


class Versioned(torch.nn.Module):
    """Like torchvision's MNASNet: refuses a state dict that does not say which format version it is."""

    _version = 2

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 2)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args):
        if local_metadata.get("version") not in (1, 2):
            raise ValueError(f"version should be set to 1 or 2 instead of {local_metadata.get('version')}")
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args)


def test_the_artifact_keeps_state_dict_versions_so_a_version_checking_module_reloads(tmp_path):
    from torchslim.export.checkpoint import read_model_file, save_model

    model = torch.nn.Sequential(Versioned())
    save_model(model, tmp_path / "m.pt", {"model": {"name": None}})
    _, _, state = read_model_file(tmp_path / "m.pt")
    assert state._metadata["0"]["version"] == 2
    again = torch.nn.Sequential(Versioned())
    again.load_state_dict(state)
    assert torch.equal(again[0].fc.weight, model[0].fc.weight)


def test_a_checkpoint_on_a_full_disk_is_one_line_and_leaves_no_half_file(tmp_path, monkeypatch):
    """Issue 35, defect 9: torch's writer said "inline_container.cc: unexpected pos" and left checkpoint.pt.tmp."""
    import shutil

    from torchslim.errors import DiskFullError

    def half_written(obj, path):
        Path(path).write_bytes(b"PK\x03\x04 half")
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", half_written)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10 << 30, 10 << 30, 1 << 20))
    with pytest.raises(DiskFullError, match=r"^disk full while writing '.*checkpoint.pt' \(1 MB free\)"):
        save_atomic({"w": torch.ones(2)}, tmp_path / "checkpoint.pt")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10 << 30, 1 << 30, 9 << 30))
    with pytest.raises(RuntimeError, match="unexpected pos"):  # with room to spare it is not called a full disk
        save_atomic({"w": torch.ones(2)}, tmp_path / "checkpoint.pt")
    assert list(tmp_path.iterdir()) == []


class SideBias(torch.nn.Module):
    """Like EVA's attention: a bias kept as a non-persistent buffer beside a layer, concatenated in forward."""

    def __init__(self, width: int = 4):
        super().__init__()
        self.fc = torch.nn.Linear(3, width, bias=False)
        self.register_buffer("k_bias", torch.arange(float(width)), persistent=False)

    def forward(self, x):
        return self.fc(x) + self.k_bias


def test_a_cut_non_persistent_buffer_is_saved_and_reloaded_at_its_cut_size(tmp_path):
    """state_dict leaves such buffers out: a model rebuilt by its builder had them at their old size."""
    import torchslim
    from torchslim.export.checkpoint import save_model

    model = SideBias()
    model.fc.weight = torch.nn.Parameter(model.fc.weight.data[:2])
    model.fc.out_features = 2
    model.k_bias = model.k_bias[2:]  # a cut keeps the last two
    save_model(model, tmp_path / "m.pt", {"model": {"name": None}})
    back = torchslim.load(tmp_path / "m.pt", builder=SideBias)
    x = torch.randn(5, 3)
    assert back.k_bias.tolist() == [2.0, 3.0] and torch.equal(back(x), model(x))
    assert "k_bias" not in back.state_dict()  # still not persistent
