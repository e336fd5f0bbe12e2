"""Task kinds: classification, detection (and what plugins add), each one module registered with its facts.

A recipe's ``task:`` names its kind (default ``classify``); the command line loads, plans, runs and
reports a recipe through its kind, never by testing its type.
"""

from torchslim.task_kinds.base import TASK_KINDS, TaskKind, kind_of, load_recipe, load_run, register_task_kind

__all__ = ["TASK_KINDS", "TaskKind", "kind_of", "load_recipe", "load_run", "register_task_kind"]
