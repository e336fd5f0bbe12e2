"""A synthetic YOLO-format detection dataset: coloured shapes on noise.

Three classes (rectangle, ellipse, triangle), one to four objects per image, drawn with Pillow from
a seeded generator, so the same arguments always give the same files. It exists so that tests and
the demo can train and validate a detector offline; real work passes its own ``data.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

CLASSES = ("rectangle", "ellipse", "triangle")


@dataclass(frozen=True)
class SyntheticDetection:
    """How many images of which size; the seed fixes every pixel and box."""

    train: int = 256
    val: int = 64
    imgsz: int = 160
    max_objects: int = 4
    seed: int = 0


def _draw_image(rng: np.random.Generator, size: int, max_objects: int):
    from PIL import Image, ImageDraw

    noise = rng.integers(0, 256, (size // 4, size // 4, 3), dtype=np.uint8)
    img = Image.fromarray(noise).resize((size, size), Image.BILINEAR)
    draw = ImageDraw.Draw(img)
    labels = []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        cls = int(rng.integers(len(CLASSES)))
        w, h = (rng.uniform(0.12, 0.4, 2) * size).astype(int)
        x0, y0 = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
        box = (x0, y0, x0 + w, y0 + h)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if cls == 0:
            draw.rectangle(box, fill=colour, outline=(0, 0, 0))
        elif cls == 1:
            draw.ellipse(box, fill=colour, outline=(0, 0, 0))
        else:
            draw.polygon([(x0, y0 + h), (x0 + w // 2, y0), (x0 + w, y0 + h)], fill=colour, outline=(0, 0, 0))
        labels.append(f"{cls} {(x0 + w / 2) / size:.6f} {(y0 + h / 2) / size:.6f} {w / size:.6f} {h / size:.6f}")
    return img, labels


def write_dataset(root: Path | str, spec: SyntheticDetection = SyntheticDetection()) -> Path:
    """Write images/, labels/ and data.yaml under ``root``; returns the data.yaml path.

    An existing dataset written with the same spec is reused as is.
    """
    root = Path(root).resolve()
    data_yaml = root / "data.yaml"
    stamp = root / "spec.yaml"
    wanted = yaml.safe_dump(spec.__dict__)
    if data_yaml.exists() and stamp.exists() and stamp.read_text() == wanted:
        return data_yaml
    rng = np.random.default_rng(spec.seed)
    for split, n in (("train", spec.train), ("val", spec.val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img, labels = _draw_image(rng, spec.imgsz, spec.max_objects)
            img.save(root / "images" / split / f"{i:05d}.png")
            (root / "labels" / split / f"{i:05d}.txt").write_text("\n".join(labels) + "\n")
    data_yaml.write_text(
        yaml.safe_dump(
            {"path": str(root), "train": "images/train", "val": "images/val", "names": dict(enumerate(CLASSES))},
            sort_keys=False,
        )
    )
    stamp.write_text(wanted)
    return data_yaml
