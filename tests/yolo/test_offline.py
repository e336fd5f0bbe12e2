"""Ultralytics is optional, imported only for YOLO work, and then strictly offline."""

import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.conftest import run_cli


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TORCHSLIM_NO_PROGRESS="1"),
    )


def test_classification_work_never_imports_ultralytics(tmp_path):
    proc = _python(
        "import sys, torchslim.cli, torchslim.runner, torchslim.config, torchslim.report.build, "
        "torchslim.config.detect; print('ultralytics' in sys.modules)",
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_missing_extra_is_one_clear_line(tmp_path):
    cfg = Path(__file__).resolve().parents[2] / "configs" / "yolo" / "yolo11n_prune.yaml"
    code = (
        "import sys; sys.modules['ultralytics'] = None; sys.argv = ['torchslim', 'run', %r, 'output_dir=out', "
        "'store=out/s.db', 'synthetic.train=2', 'synthetic.val=2']\nfrom torchslim.cli import main; main()" % str(cfg)
    )
    proc = _python(code, tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "pip install 'torchslim[yolo]'" in lines[0] and "AGPL-3.0" in lines[0]


def test_offline_environment(ultralytics_home):
    from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

    assert os.environ["YOLO_OFFLINE"] == "1" and os.environ["YOLO_AUTOINSTALL"] == "0"
    assert Path(USER_CONFIG_DIR).resolve().is_relative_to(Path(ultralytics_home).resolve())
    assert (Path(USER_CONFIG_DIR) / "Arial.ttf").stat().st_size > 100_000
    assert SETTINGS["sync"] is False


def test_thread_count_is_set_after_the_import(tmp_path):
    """Ultralytics sets OMP_NUM_THREADS=1 at import when unset: the requested count must win."""
    env_code = "import os; os.environ.pop('OMP_NUM_THREADS', None)\nimport torch; torch.set_num_threads(1)\n"
    proc = _python(
        env_code + "from torchslim.yolo.offline import ultralytics\nultralytics('cfg', threads=2)\n"
        "print(torch.get_num_threads())",
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "2"


def test_bad_detect_config_is_one_line(tmp_path):
    (tmp_path / "d.yaml").write_text("task: detect\nname: d\nprune: {levels: [0.3, 1.5]}\n")
    proc = run_cli("validate", "d.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "prune.levels" in proc.stderr and "fractions in (0, 1)" in proc.stderr
    (tmp_path / "e.yaml").write_text("task: detect\nname: e\nprune: {levls: [0.3]}\n")
    proc = run_cli("validate", "e.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "unknown field 'prune.levls'" in proc.stderr and "levels" in proc.stderr


def test_trainer_device_selection_keeps_the_thread_count(ultralytics_home):
    from ultralytics.utils.torch_utils import select_device

    torch.set_num_threads(2)
    from torchslim.yolo.offline import ultralytics

    ultralytics(ultralytics_home, threads=2)
    select_device("cpu", verbose=False)
    assert torch.get_num_threads() == 2


def test_refuse_network_blocks_and_records(tmp_path):
    proc = _python(
        "from torchslim.yolo.offline import refuse_network\nattempts = refuse_network()\nimport socket\n"
        "for f in (lambda: socket.create_connection(('192.0.2.1', 80), timeout=1),\n"
        "          lambda: socket.getaddrinfo('example.com', 443)):\n"
        "    try:\n        f()\n    except OSError:\n        pass\nprint(len(attempts))",
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "2"
