"""Importing Ultralytics offline: no downloads, no installs, no telemetry, no surprise threads.

Ultralytics reads its environment at import time, so everything is set *before* the first import:
``YOLO_OFFLINE`` (its online check answers False), ``YOLO_AUTOINSTALL`` (it never pip-installs a
missing requirement), and ``YOLO_CONFIG_DIR`` under the run folder (its settings file and fonts live
there, not in the user's home). The fonts its plots ask for are copied from matplotlib's bundled
DejaVu Sans, so ``check_font`` finds them locally instead of downloading Arial.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import sys
from pathlib import Path
from types import ModuleType

from torchslim.errors import TorchslimError

FONTS = ("Arial.ttf", "Arial.Unicode.ttf")
EXTRA_HINT = (
    "YOLO features need the optional extra: pip install 'torchslim[yolo]' (installs Ultralytics, licensed AGPL-3.0)"
)
_INTEGRATIONS = ("sync", "clearml", "comet", "dvc", "hub", "mlflow", "neptune", "raytune", "tensorboard", "wandb")


def install_fonts(config_dir: Path) -> None:
    """Put local copies of the fonts Ultralytics wants where it looks first."""
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in FONTS:
        target = config_dir / name
        if not target.exists():
            shutil.copyfile(source, target)


def ultralytics(config_dir: Path | str, threads: int | None = None) -> ModuleType:
    """Import Ultralytics with the offline environment set; a clear error when the extra is missing.

    ``threads`` is applied after the import, because importing Ultralytics sets OMP_NUM_THREADS=1
    when it is unset and its device selection later resets torch's thread count; None keeps torch's
    current setting.
    """
    import torch

    config_dir = Path(config_dir).resolve()
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    os.environ.setdefault("YOLO_VERBOSE", "0")
    before = torch.get_num_threads()
    first = "ultralytics" not in sys.modules
    if first:
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    try:
        module = importlib.import_module("ultralytics")
    except ImportError as exc:
        raise TorchslimError(f"{EXTRA_HINT}; the import failed with: {exc}") from None
    from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

    install_fonts(Path(USER_CONFIG_DIR))  # the folder Ultralytics settled on (a subfolder of config_dir)
    if first:
        SETTINGS.update({k: False for k in _INTEGRATIONS if k in SETTINGS})
    count = threads or before
    torch.set_num_threads(count)
    # select_device(), called by every trainer and validator, resets torch to this module-level count
    # (cores - 1, so 1 on a 2-core machine); make it the requested one.
    import ultralytics.utils.torch_utils as torch_utils

    torch_utils.NUM_THREADS = count
    return module


def refuse_network() -> list[str]:
    """Make every DNS lookup and outgoing connection of this process fail; returns the attempts log.

    For proving a run offline (tests, benchmarks): anything that tries to reach the network gets
    an OSError, as on a machine without a network, and the attempt is recorded.
    """
    attempts: list[str] = []

    def refuse(what: str):
        attempts.append(what)
        raise OSError(f"network refused by torchslim.yolo.offline.refuse_network: {what}")

    socket.socket.connect = lambda self, addr, *a: refuse(f"connect {addr}")
    socket.socket.connect_ex = lambda self, addr, *a: refuse(f"connect {addr}")
    socket.getaddrinfo = lambda host, *a, **k: refuse(f"resolve {host}")
    socket.create_connection = lambda addr, *a, **k: refuse(f"connect {addr}")
    return attempts
