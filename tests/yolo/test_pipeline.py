"""`torchslim run` on a detect recipe, end to end and offline: every checkpoint gets its mAP.

The tiny run (about a minute of Ultralytics training) and its smaller sibling with one level are in the
e2e tier (the sibling took 45-51 s of the default suite, which sat at its 12-minute line); the default suite
keeps the data check and the detector's pruning, artifact and report tests.
"""

import re
import subprocess
import sys

import pytest
import yaml

from tests.yolo.conftest import GUARD_SOURCE
from torchslim.artifacts import stored_artifact

TINY = {
    "task": "detect",
    "name": "tiny_det",
    "model": "yolo11n.yaml",
    "data": "synthetic",
    "synthetic": {"train": 16, "val": 8, "imgsz": 64},
    "train": {"epochs": 1, "imgsz": 64, "batch": 8},
    "prune": {"levels": [0.3, 0.5], "steps": 2, "finetune_epochs": 2},
    "measure": {"imgsz": [64], "batch_sizes": [2], "min_seconds": 0.05, "rounds": 1},
    "output_dir": "out",
    "store": "out/store.db",
}


def guarded_run(root, recipe: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    """`torchslim run` in a fresh process under the socket guard (Ultralytics state stays out of this one)."""
    (root / "det.yaml").write_text(yaml.safe_dump(recipe))
    code = GUARD_SOURCE + (
        "import sys\nsys.argv = ['torchslim', 'run', 'det.yaml']\nfrom torchslim.cli import main\n"
        "try:\n    main()\nfinally:\n    print('ATTEMPTS', ATTEMPTS)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, ultralytics_home):
    root = tmp_path_factory.mktemp("detect")
    return root, guarded_run(root, TINY)


@pytest.mark.e2e
def test_one_level_runs_offline_into_a_complete_table(tmp_path, ultralytics_home):
    """The fast sibling of the e2e tests below: train, prune one level in one step, validate, export, time."""
    smallest = TINY | {
        "synthetic": {"train": 8, "val": 4, "imgsz": 32},
        "train": {"epochs": 1, "imgsz": 32, "batch": 4},
        "prune": {"levels": [0.5], "steps": 1, "finetune_epochs": 0},
        "measure": {"imgsz": [32], "batch_sizes": [2], "min_seconds": 0.02, "rounds": 1},
    }
    proc = guarded_run(tmp_path, smallest, timeout=300)
    assert "ATTEMPTS []" in proc.stdout
    report = (tmp_path / "out" / "report.md").read_text()
    rows = [line for line in report.splitlines() if re.match(r"\| 2 \| (0 \(baseline\)|50) \|", line)]
    assert len(rows) == 2 and "xx" not in report and "not measured" not in report
    assert (tmp_path / stored_artifact(level_row(tmp_path, 0.5)).onnx_path).stat().st_size > 0


def level_row(root, level: float):
    """The stored row of one pruning level (a ``prune.structured`` chain at that ratio)."""
    from torchslim.store import Store

    rows = Store(root / "out" / "store.db").rows()
    return next(r for r in rows if r.config.get("chain", [{}])[0].get("params", {}).get("ratio") == level)


@pytest.mark.e2e
def test_run_is_offline(tiny_run):
    _, proc = tiny_run
    assert "ATTEMPTS []" in proc.stdout


@pytest.mark.e2e
def test_seed003_table_is_complete(tiny_run):
    root, _ = tiny_run
    report = (root / "out" / "report.md").read_text()
    rows = [line for line in report.splitlines() if re.match(r"\| 2 \| (0 \(baseline\)|30|50) \|", line)]
    assert len(rows) == 3
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == 8
        assert all(re.fullmatch(r"\d+\.\d{3}", c) for c in cells[6:]), line  # mAP50, mAP50-95: measured values
        assert re.fullmatch(r"\d+\.\d\dx( SLOWER| \(within noise\))?", cells[5]), line  # ONNX speedup measured
    assert "xx" not in report and "not measured" not in report


@pytest.mark.e2e
def test_checkpoints_and_onnx_exist(tiny_run):
    root, _ = tiny_run
    import onnx

    for level in (0.3, 0.5):
        artifact = stored_artifact(level_row(root, level))
        assert (root / artifact.model_path).stat().st_size > 0
        graph = onnx.load(str(root / artifact.onnx_path)).graph
        assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # dynamic batch axis


@pytest.mark.e2e
def test_reload_gives_the_same_map_in_a_fresh_process(tiny_run):
    root, _ = tiny_run
    row = level_row(root, 0.3)
    code = GUARD_SOURCE + (
        "from pathlib import Path\nfrom torchslim.yolo.offline import ultralytics\nultralytics('out/ultralytics')\n"
        "from torchslim.yolo.artifact import load_detector\nfrom torchslim.yolo.engine import TrainSettings, validate\n"
        f"m, _ = load_detector(Path({str(stored_artifact(row).model_path)!r}))\n"
        "s = TrainSettings(data=str(Path('out/data/data.yaml').resolve()), imgsz=64, batch=8)\n"
        "print('MAP', validate(m, s, Path('out/reval')))\nprint('ATTEMPTS', ATTEMPTS)\n"
        "import torch\ntorch.save(m(torch.full((1, 3, 64, 64), 0.5))[0], 'out/pred.pt')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ATTEMPTS []" in proc.stdout
    got = eval(proc.stdout.split("MAP ", 1)[1].splitlines()[0])  # a dict literal printed by the script
    assert got["map50_95"] == pytest.approx(row.metrics["map50_95"], abs=1e-9)
    assert got["map50"] == pytest.approx(row.metrics["map50"], abs=1e-9)
    # the tiny run's mAP may be 0, so the reloaded predictions are compared as well
    import torch

    from torchslim.yolo.artifact import load_detector

    model, _ = load_detector(root / stored_artifact(row).model_path)  # stored relative to the run folder
    expected = model(torch.full((1, 3, 64, 64), 0.5))[0]
    assert torch.allclose(torch.load(root / "out" / "pred.pt"), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.e2e
def test_rerun_skips_finished_stages(tiny_run):
    root, _ = tiny_run
    proc = subprocess.run(
        [sys.executable, "-m", "torchslim", "run", "det.yaml"], cwd=root, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("skip") + proc.stderr.count("skip") == 4


def test_missing_data_split_is_one_line_before_training(tmp_path):
    (tmp_path / "data.yaml").write_text("path: nowhere\ntrain: images/train\nval: images/val\nnames: [a, b]\n")
    (tmp_path / "det.yaml").write_text(yaml.safe_dump(TINY | {"data": "data.yaml"}))
    proc = subprocess.run(
        [sys.executable, "-m", "torchslim", "run", "det.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "the train split 'images/train' is not at nowhere/images/train" in proc.stderr
    assert not (tmp_path / "out" / "store.db").exists() or "baseline" not in proc.stdout


@pytest.mark.e2e
def test_report_rebuilds_in_the_formats_asked(tiny_run):
    root, _ = tiny_run
    (root / "out" / "report.html").unlink()
    proc = subprocess.run(
        [sys.executable, "-m", "torchslim", "report", "out", "--format", "terminal", "--store", "out/store.db"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"│\s+2 │\s+50 │", proc.stdout) and "mAP50-95" in proc.stdout
    assert not (root / "out" / "report.html").exists()  # terminal only: no file rewritten
