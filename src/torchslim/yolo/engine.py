"""Fine-tuning and validation with Ultralytics' own trainer and validator, on modules we hold.

The trainer normally builds its model from a yaml or unpickles a ``.pt``. The subclass made by
:func:`finetune` hands it the pruned module instead, keeps everything in memory (no pickled
checkpoints written, no final re-load of ``best.pt``) and leaves the EMA weights, as Ultralytics
itself would deploy them, in the module it was given. Validation runs on a deep copy, because the
validator fuses Conv+BN in place.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from torch import nn


@dataclass(frozen=True)
class TrainSettings:
    """What Ultralytics' trainer and validator get; defaults fit a CPU."""

    data: str
    imgsz: int = 160
    batch: int = 16
    seed: int = 0
    workers: int = 0
    optimizer: str = "auto"
    lr0: float = 0.01
    warmup_epochs: float = 1.0
    mosaic: float = 1.0
    close_mosaic: int = 2

    def overrides(self, workdir: Path, name: str) -> dict:
        return dict(
            data=self.data,
            imgsz=self.imgsz,
            batch=self.batch,
            seed=self.seed,
            deterministic=True,
            workers=self.workers,
            device="cpu",
            amp=False,
            plots=False,
            val=False,
            save=False,
            project=str(Path(workdir).resolve()),
            name=name,
            exist_ok=True,
            verbose=False,
            optimizer=self.optimizer,
            lr0=self.lr0,
            warmup_epochs=self.warmup_epochs,
            mosaic=self.mosaic,
            close_mosaic=self.close_mosaic,
            pretrained=False,
        )


def finetune(model: nn.Module, settings: TrainSettings, epochs: int, workdir: Path, name: str) -> nn.Module:
    """Train ``model`` (pruned or not) in place for ``epochs`` with Ultralytics' trainer.

    The trained EMA weights are loaded back into ``model`` itself, which is returned.
    """
    from ultralytics.models.yolo.detect import DetectionTrainer

    class HeldModelTrainer(DetectionTrainer):
        """Returns the module it was given instead of building one from a yaml or a pickle."""

        def get_model(self, cfg=None, weights=None, verbose=True):
            return model

        def save_model(self):  # the caller saves the result as plain tensors
            return True

        def final_eval(self):  # would re-load best.pt (a pickle); the caller validates instead
            return None

    args = settings.overrides(workdir, name) | {"model": "yolo11n.yaml", "epochs": epochs}
    trainer = HeldModelTrainer(overrides=args)
    trainer.train()
    if trainer.ema is not None:  # the same module object stays trained, so a pruner bound to it carries on
        model.load_state_dict(trainer.ema.ema.float().state_dict())
    model.criterion = None
    return model.float().eval()


def validate(model: nn.Module, settings: TrainSettings, workdir: Path) -> dict[str, float]:
    """mAP50 and mAP50-95 of a deep copy of ``model`` on the data's val split."""
    from ultralytics.models.yolo.detect import DetectionValidator

    args = dict(
        data=settings.data,
        imgsz=settings.imgsz,
        batch=settings.batch,
        device="cpu",
        plots=False,
        save_json=False,
        verbose=False,
        project=str(Path(workdir).resolve()),
        name="val",
        exist_ok=True,
        workers=0,
        half=False,
    )
    validator = DetectionValidator(args=args)
    stats = validator(model=copy.deepcopy(model).float().eval())
    return {"map50": float(stats["metrics/mAP50(B)"]), "map50_95": float(stats["metrics/mAP50-95(B)"])}
