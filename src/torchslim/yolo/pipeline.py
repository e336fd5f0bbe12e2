"""``torchslim run`` for ``task: detect``: train, prune at every level, fine-tune, validate, time, report.

Stages, each a row in the results store (so an interrupted run resumes where it stopped):
1. ``baseline``: the unpruned detector trained for ``train.epochs``;
2. ``finetune``: the baseline fine-tuned ``prune.finetune_epochs`` more, the fair reference for
   every pruned level, which gets the same number of fine-tuning epochs (the "0 %" row);
3. ``prune.yolo(level=p)``: the baseline pruned to level p in ``prune.steps`` steps, each followed
   by its share of the fine-tuning epochs, then validated (mAP50, mAP50-95) and saved.
Then every checkpoint is timed side by side (PyTorch and ONNX Runtime, each image size and batch).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from rich.markup import escape
from torch import nn

from torchslim.artifacts import StoredArtifact, stored_artifact
from torchslim.config import task_hash, to_yaml
from torchslim.config.detect import DetectRunConfig
from torchslim.errors import ConfigError, DataNotFoundError, TorchslimError, failure_note
from torchslim.executors import Job, Order, Outcome, drive
from torchslim.executors.local import InProcessBackend, ProcessPoolBackend
from torchslim.executors.progress import TaskBoard
from torchslim.measurement.complexity import count_flops, count_params, file_size
from torchslim.owned_folders import run_folder
from torchslim.provenance import provenance
from torchslim.store import ResultRow, Store
from torchslim.ui import console
from torchslim.yaml_input import comment_safe, read_yaml_file
from torchslim.yolo.artifact import build_detector, export_detector, load_detector, save_detector
from torchslim.yolo.engine import TrainSettings, finetune, validate
from torchslim.yolo.latency import compare_detectors
from torchslim.yolo.offline import ultralytics
from torchslim.yolo.prune import detector_pruner
from torchslim.yolo.report import write_detect_report
from torchslim.yolo.synthetic import SyntheticDetection, write_dataset


def chain_name(level: float) -> str:
    return f"prune.yolo(level={level:g})"


def resolve_data(cfg: DetectRunConfig) -> Path:
    """The data.yaml to train on: written under the run folder for 'synthetic', else the user's file."""
    if cfg.data == "synthetic":
        return write_dataset(cfg.run_dir / "data", SyntheticDetection(**cfg.synthetic.model_dump()))
    path = Path(cfg.data)
    if not path.is_file():
        raise ConfigError(
            f"data: '{cfg.data}' is not a file; give the path of a YOLO data.yaml (train:, val:, names:) or 'synthetic'"
        )
    check_data_yaml(path)
    return path.resolve()


def check_data_yaml(path: Path) -> None:
    """Fail before any training when the data.yaml's splits or class names are missing."""
    spec = read_yaml_file(path) or {}
    if not isinstance(spec, dict) or not spec.get("names") or not spec.get("train") or not spec.get("val"):
        raise ConfigError(f"{path}: a YOLO data.yaml needs train:, val: and names: (path: optional)")
    root = Path(spec["path"]) if spec.get("path") else path.parent  # as Ultralytics reads it: from the cwd
    for split in ("train", "val"):
        for entry in spec[split] if isinstance(spec[split], list) else [spec[split]]:
            where = Path(entry) if Path(entry).is_absolute() else root / entry
            if not where.exists():
                raise DataNotFoundError(
                    f"{path}: the {split} split '{entry}' is not at {where} (expected a folder "
                    "of images with labels/ beside images/, or a .txt list of image paths; a "
                    "relative path: is read from the current folder)"
                )


@dataclass
class Stage:
    """One stored step of the run: its chain name, the config that determines it, and how to make it."""

    chain: str
    payload: dict
    make: Callable[[], tuple[nn.Module, dict]]


class DetectRun:
    """Holds the run's settings and store; each stage is computed once, then read back."""

    def __init__(self, cfg: DetectRunConfig, source: str, force: bool, store: Store | None = None):
        self.cfg, self.source, self.force = cfg, source, force
        self.dir = cfg.run_dir
        self.store = store or Store(cfg.store)
        self.data_yaml = resolve_data(cfg)
        t = cfg.train
        self.settings = TrainSettings(
            data=str(self.data_yaml),
            imgsz=t.imgsz,
            batch=t.batch,
            seed=cfg.seed,
            optimizer=t.optimizer,
            lr0=t.lr0,
            warmup_epochs=t.warmup_epochs,
            mosaic=t.mosaic,
            close_mosaic=t.close_mosaic,
        )
        self.dataset = "synthetic" if cfg.data == "synthetic" else str(self.data_yaml)
        self.model_label = Path(cfg.model).stem

    # -- payloads: what each stage's result depends on --------------------------------------------
    def base_payload(self) -> dict:
        c = self.cfg
        return {
            "task": "detect",
            "model": c.model,
            "checkpoint": str(c.checkpoint) if c.checkpoint else None,
            "data": self.dataset,
            "synthetic": c.synthetic.model_dump() if c.data == "synthetic" else None,
            "train": c.train.model_dump(),
            "seed": c.seed,
        }

    def tune_payload(self, level: float | None) -> dict:
        p = self.cfg.prune
        extra = {"finetune_epochs": p.finetune_epochs}
        if level is not None:
            extra |= {"level": level, "steps": p.steps, "round_to": p.round_to}
        return self.base_payload() | {"prune": extra}

    def key(self, stage: Stage) -> tuple:
        return (task_hash(stage.payload), self.model_label, self.dataset, stage.chain, self.cfg.seed)

    # -- stages ------------------------------------------------------------------------------------
    def stages(self) -> list[Stage]:
        out = [
            Stage("baseline", self.base_payload(), self.train_baseline),
            Stage("finetune", self.tune_payload(None), self.finetune_reference),
        ]
        out += [
            Stage(chain_name(lv), self.tune_payload(lv), lambda lv=lv: self.prune_level(lv))
            for lv in self.cfg.prune.levels
        ]
        return out

    def loaded(self, chain: str) -> nn.Module:
        stage = next(s for s in self.stages() if s.chain == chain)
        row = self.store.get(self.key(stage))
        return load_detector(stored_artifact(row).model_path)[0]

    def train_baseline(self) -> tuple[nn.Module, dict]:
        nc = len(self.names())
        if self.cfg.checkpoint is not None:
            model, desc = load_detector(self.cfg.checkpoint)
            if desc["nc"] != nc:
                raise ConfigError(f"checkpoint {self.cfg.checkpoint} detects {desc['nc']} classes, the data {nc}")
        else:
            model = build_detector(self.cfg.model, nc)
        t0 = time.perf_counter()
        model = finetune(model, self.settings, self.cfg.train.epochs, self.dir / "ultralytics-runs", "baseline")
        return model, {"train_seconds": time.perf_counter() - t0, "epochs": self.cfg.train.epochs}

    def finetune_reference(self) -> tuple[nn.Module, dict]:
        epochs = self.cfg.prune.finetune_epochs
        model = self.loaded("baseline")
        t0 = time.perf_counter()
        if epochs:
            model = finetune(model, self.settings, epochs, self.dir / "ultralytics-runs", "finetune")
        return model, {"train_seconds": time.perf_counter() - t0, "epochs": epochs}

    def prune_level(self, level: float) -> tuple[nn.Module, dict]:
        p, imgsz = self.cfg.prune, self.settings.imgsz
        model = self.loaded("baseline")
        pruner = detector_pruner(model, level, p.steps, imgsz, p.round_to)
        per_step = split_epochs(p.finetune_epochs, p.steps)
        steps, t0 = [], time.perf_counter()
        for i, epochs in enumerate(per_step):
            pruner.step()
            if epochs:
                finetune(model, self.settings, epochs, self.dir / "ultralytics-runs", f"{level:g}-step{i + 1}")
            model.eval()
            steps.append(
                {
                    "step": i + 1,
                    "epochs": epochs,
                    "params": count_params(model)[0],
                    "flops": count_flops(model, (3, imgsz, imgsz)),
                    **validate(model, self.settings, self.dir),
                    "seconds": time.perf_counter() - t0,
                }
            )
        last = {k: steps[-1][k] for k in ("map50", "map50_95")}  # the final model, already validated
        return model, {"train_seconds": time.perf_counter() - t0, "epochs": p.finetune_epochs, "steps": steps} | last

    def names(self) -> dict:

        names = read_yaml_file(self.data_yaml).get("names")
        if not names:
            raise ConfigError(f"{self.data_yaml}: no 'names:' (the class names) in the data.yaml")
        return dict(enumerate(names)) if isinstance(names, list) else names

    # -- running -----------------------------------------------------------------------------------
    def label(self, stage: Stage) -> str:
        return f"{self.model_label} | {self.dataset} | {stage.chain} | seed {self.cfg.seed}"

    def execute(self, stage: Stage) -> ResultRow:
        """Compute one stage and describe it as a row (the driver stores it)."""
        folder = self.dir / stage.chain.replace("(", "_").replace(")", "").replace("=", "")
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        model, metrics = stage.make()
        model.eval()
        model.names = self.names()
        save_detector(model, folder / "model.pt", {"imgsz": self.settings.imgsz})
        onnx = export_detector(model, folder / "model.onnx", max(self.cfg.measure.imgsz))
        params, nonzero = count_params(model)
        big = max(self.cfg.measure.imgsz)
        if "map50_95" not in metrics:
            metrics |= validate(model, self.settings, self.dir)
        metrics |= {
            "params": params,
            "nonzero_params": nonzero,
            "flops": count_flops(model, (3, big, big)),
            "flops_imgsz": big,
            "flops_train_imgsz": count_flops(model, (3, self.settings.imgsz, self.settings.imgsz)),
            "file_bytes": file_size(folder / "model.pt").bytes,
            "onnx_bytes": file_size(onnx).bytes,
            "val_imgsz": self.settings.imgsz,
            "wall_seconds": time.perf_counter() - t0,
        }
        row = ResultRow(
            config_hash=task_hash(stage.payload),
            run_name=self.cfg.name,
            model=self.model_label,
            dataset=self.dataset,
            method_chain=stage.chain,
            seed=self.cfg.seed,
            metrics=metrics,
            artifacts=StoredArtifact("detector", folder, "model.pt", "model.onnx").record(),
            config=stage.payload | {"source": self.source},
            **provenance(),
        )
        return row

    def run(self, workers: int = 1) -> list[ResultRow]:
        """The stages not yet stored, as one task graph through the executors (the fine-tuned reference
        and each prune level need the baseline); the driver stores each row as it comes back."""
        stages = self.stages()
        todo = []
        for stage in stages:
            key = self.key(stage)
            if self.store.has(key) and not self.force and stored_artifact(self.store.get(key)).folder.exists():
                console.print(f"[dim]skip[/dim]  {escape(stage.chain)}  (already in {self.cfg.store}; --force reruns)")
            else:
                todo.append(stage)
        base = self.key(stages[0])
        jobs = [
            Job(self.key(s), (self.cfg, self.source, s.chain), self.label(s), () if s.chain == "baseline" else (base,))
            for s in todo
        ]
        if jobs:
            self._drive(jobs, workers)
        return [self.store.get(self.key(s)) for s in stages]

    def _drive(self, jobs: list[Job], workers: int) -> None:
        backend = InProcessBackend(detect_work) if workers == 1 else ProcessPoolBackend(detect_work, workers, 1)
        board = TaskBoard({j.key: j.label for j in jobs}, parallel=workers)

        def finish(outcome: Outcome) -> None:
            if outcome.error is None:
                self.store.put(outcome.value)
                m = outcome.value.metrics
                note = f"mAP50 {m['map50']:.3f}  mAP50-95 {m['map50_95']:.3f}  params {m['params'] / 1e6:.2f}M"
                board.finish(outcome.key, True, note)
            else:
                err = outcome.error
                self.store.put_failure(outcome.key, failure_note(err))
                board.finish(outcome.key, False, f"failed: {type(err).__name__}")

        try:
            with board:
                drive(
                    jobs, backend, on_start=lambda o: board.start(o.job.key, ""), on_finish=finish, idle=board.refresh
                )
        finally:
            backend.close()


def detect_work(order: Order) -> ResultRow:
    """One detector stage, wherever the executor runs it: rebuilt from the config, computed, described."""
    cfg, source, chain = order.job.payload
    if order.where != "driver":  # a pool worker: Ultralytics' offline settings, as the driver made them
        ultralytics(cfg.run_dir / "ultralytics", cfg.threads)
    run = DetectRun(cfg, source, force=False)
    return run.execute(next(s for s in run.stages() if s.chain == chain))


def split_epochs(total: int, steps: int) -> list[int]:
    """Spread ``total`` fine-tuning epochs over ``steps``, the later steps getting the remainder."""
    base, extra = divmod(total, steps)
    return [base + (1 if i >= steps - extra else 0) for i in range(steps)]


def stored_rows(cfg: DetectRunConfig, source: str = "", store: Store | None = None) -> list[ResultRow]:
    """The rows of every finished stage of ``cfg`` (for rebuilding the report without running)."""
    run = DetectRun(cfg, source, force=False, store=store)
    rows = [row for s in run.stages() if (row := run.store.get(run.key(s))) is not None]
    missing = [s.chain for s in run.stages() if run.store.get(run.key(s)) is None]
    if missing:
        raise TorchslimError(
            f"{cfg.run_dir}: stages not in the store yet: {', '.join(missing)}; finish them with torchslim run"
        )
    return rows


def run_detect(cfg: DetectRunConfig, source: str = "", force: bool = False, workers: int = 1) -> list[ResultRow]:
    """Every stage not yet in the store, then the side-by-side latency and the seed-003 report."""
    run_folder(cfg.run_dir)
    (cfg.run_dir / "config.resolved.yaml").write_text(
        f"# torchslim run {comment_safe(source or '<config>')}\n" + to_yaml(cfg)
    )
    ultralytics(cfg.run_dir / "ultralytics", cfg.threads)
    run = DetectRun(cfg, source, force)
    rows = run.run(workers)

    compare_detectors(cfg, rows, run.store)
    for path in write_detect_report(cfg, rows, run.store, source).values():
        console.print(f"report: {escape(str(path))}")
    return rows
