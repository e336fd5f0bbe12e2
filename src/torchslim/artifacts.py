"""What a finished task produced: recorded once, by the runner, in its stored row; read through one function.

Three kinds of artifact leave a task:

- ``torchslim``: a torchslim model file (``model.pt``: tensors plus the architecture as plain data),
  with its ONNX export beside it when ONNX Runtime was measured;
- ``onnx``: a deployed ONNX Runtime file (``model.onnx``: static/dynamic/QAT INT8, or a low-bit
  QCDQ graph); it *is* the model, and nothing of it runs in PyTorch;
- ``brevitas``: a Brevitas low-bit model file whose QCDQ ONNX export is what ships;
- ``detector``: an Ultralytics detector saved as tensors, its pruned widths and its yaml.

Everything that needs a task's files (the report, the side-by-side comparison, a chain that starts
from a baseline) asks :func:`stored_artifact`, never the file names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from torchslim.store import ResultRow

ArtifactKind = Literal["torchslim", "onnx", "brevitas", "detector"]


@dataclass(frozen=True)
class StoredArtifact:
    kind: ArtifactKind
    folder: Path
    model: str | None  # the torchslim model file, when there is one
    onnx: str | None  # the ONNX file, when there is one

    @property
    def model_path(self) -> Path | None:
        return self.folder / self.model if self.model else None

    @property
    def onnx_path(self) -> Path | None:
        return self.folder / self.onnx if self.onnx else None

    @property
    def deploys_as_onnx(self) -> bool:
        """Whether the file that ships is the ONNX one (INT8 and low-bit), so its size is the one reported."""
        return self.kind in ("onnx", "brevitas")

    def missing_file(self) -> Path | None:
        """The file of this artifact that is no longer on disk (what would be loaded), if any."""
        wanted = self.onnx_path if self.kind == "onnx" else self.model_path
        return wanted if wanted is None or not wanted.exists() else None

    def record(self, **extra: str) -> dict[str, str | None]:
        """The ``artifacts`` column of a stored row."""
        return {"dir": str(self.folder), "kind": self.kind, "model": self.model, "onnx": self.onnx} | extra


def stored_artifact(row: ResultRow) -> StoredArtifact:
    """The artifact a stored row describes."""
    a = row.artifacts
    folder = Path(a["dir"])
    if "kind" in a:
        return StoredArtifact(a["kind"], folder, a.get("model"), a.get("onnx"))
    # Rows stored before the kind was recorded: the one place that still infers it, from the row alone.
    model = a.get("model")
    if model and model.endswith(".onnx"):
        return StoredArtifact("onnx", folder, None, model)
    onnx = "model.onnx" if row.metrics.get("onnx_bytes") or a.get("onnx") else None
    kind: ArtifactKind = "brevitas" if row.metrics.get("onnx_top1") is not None else "torchslim"
    return StoredArtifact(kind, folder, model, onnx)


def with_absolute_folder(row: ResultRow) -> ResultRow:
    """The row with its artifact folder as an absolute path (rows store it as the run wrote it)."""
    return replace(row, artifacts=row.artifacts | {"dir": str(Path(row.artifacts["dir"]).resolve())})


def relocated(row: ResultRow, root: Path | None) -> ResultRow:
    """The row as seen on another machine that holds the driver's files under ``root`` (an absolute
    driver path ``/a/b`` lies at ``root/a/b``); unchanged without a root. Needs an absolute folder."""
    if root is None:
        return row
    folder = Path(row.artifacts["dir"])
    return replace(row, artifacts=row.artifacts | {"dir": str(root / folder.relative_to(folder.anchor))})


def artifact_files(rows: list[ResultRow]) -> dict[str, bytes]:
    """Every file of the rows' artifact folders, keyed by absolute path: what travels to a machine
    without the driver's filesystem."""
    out: dict[str, bytes] = {}
    for row in rows:
        root = Path(row.artifacts["dir"]).resolve()
        if root.is_dir():
            out |= {str(f): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()}
    return out
