"""The artifact kind is read from the stored row through one function, also for rows stored before it was."""

from pathlib import Path

import pytest

from torchslim.artifacts import StoredArtifact, stored_artifact
from torchslim.store import ResultRow


def row(artifacts: dict, **metrics) -> ResultRow:
    return ResultRow("h", "run", "m", "d", "chain", 0, metrics, artifacts, {}, "commit", {}, {})


@pytest.mark.parametrize(
    "artifact",
    [
        StoredArtifact("torchslim", Path("/r/t"), "model.pt", "model.onnx"),
        StoredArtifact("torchslim", Path("/r/t"), "model.pt", None),
        StoredArtifact("onnx", Path("/r/t"), None, "model.onnx"),
        StoredArtifact("brevitas", Path("/r/t"), "model.pt", "model.onnx"),
    ],
)
def test_a_recorded_artifact_reads_back_as_itself(artifact):
    back = stored_artifact(row(artifact.record(task="task.yaml")))
    assert back == artifact
    assert back.deploys_as_onnx == (artifact.kind in ("onnx", "brevitas"))
    assert back.model_path == (Path("/r/t/model.pt") if artifact.model else None)


@pytest.mark.parametrize(
    "artifacts, metrics, kind, model, onnx",
    [
        ({"dir": "/r/t", "model": "model.onnx"}, {}, "onnx", None, "model.onnx"),
        (
            {"dir": "/r/t", "model": "model.pt"},
            {"onnx_bytes": 10, "onnx_top1": 90.0},
            "brevitas",
            "model.pt",
            "model.onnx",
        ),
        ({"dir": "/r/t", "model": "model.pt"}, {"onnx_bytes": 10}, "torchslim", "model.pt", "model.onnx"),
        ({"dir": "/r/t", "model": "model.pt"}, {"onnx_bytes": None}, "torchslim", "model.pt", None),
    ],
)
def test_rows_stored_before_the_kind_was_recorded_are_inferred_from_the_row(artifacts, metrics, kind, model, onnx):
    got = stored_artifact(row(artifacts, **metrics))
    assert (got.kind, got.model, got.onnx) == (kind, model, onnx)


def test_a_row_relocated_under_a_root_reads_the_files_shipped_there(tmp_path):
    """What the timing task on a cluster node sees: the driver's files under its scratch folder."""
    from torchslim.artifacts import artifact_files, relocated, with_absolute_folder

    folder = tmp_path / "run" / "tasks" / "t1"
    folder.mkdir(parents=True)
    (folder / "model.pt").write_bytes(b"weights")
    artifacts = {"dir": str(folder), "kind": "torchslim", "model": "model.pt", "onnx": None}
    row = with_absolute_folder(ResultRow("h", "r", "m", "d", "baseline", 0, {}, artifacts, {}, "", {}, {}))
    files = artifact_files([row])
    assert files == {str(folder / "model.pt"): b"weights"}
    scratch = tmp_path / "scratch"
    for path, data in files.items():
        target = scratch / Path(path).relative_to("/")
        target.parent.mkdir(parents=True)
        target.write_bytes(data)
    moved = stored_artifact(relocated(row, scratch))
    assert moved.model_path == scratch / folder.relative_to("/") / "model.pt" and moved.missing_file() is None
    assert relocated(row, None) is row
