"""The task-kind catalog: torchslim's own kinds, then the ``torchslim.task_kinds`` entry points.

A plugin declares ``[project.entry-points."torchslim.task_kinds"] mine = "my_pkg.my_kind"`` and its
module calls ``register_task_kind``.
"""

from __future__ import annotations

from torchslim.registry import load_catalog

BUILTIN_MODULES = (
    "torchslim.task_kinds.classification",
    "torchslim.task_kinds.detection",
    "torchslim.task_kinds.generation",
)
ENTRY_POINT_GROUP = "torchslim.task_kinds"


def load() -> None:
    load_catalog(BUILTIN_MODULES, ENTRY_POINT_GROUP, "task kind")
