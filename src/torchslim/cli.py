"""The ``torchslim`` command. Every command is a thin shell over a Python function.

User mistakes raise :class:`TorchslimError`; ``main`` prints them as one line and exits with 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from torchslim.errors import TorchslimError
from torchslim.ui import console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Compress PyTorch models and prove what each compression gained.")
out = __import__("rich.console", fromlist=["Console"]).Console(highlight=False)


@app.command()
def run(
    config: Path = typer.Argument(..., help="YAML recipe"),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides, e.g. train.epochs=3"),
    force: bool = typer.Option(False, "--force", help="rerun tasks already in the store"),
) -> None:
    """Run a whole recipe: train, evaluate, record in the store, write the report."""
    from torchslim.config import load_config
    from torchslim.runner import run as run_recipe

    cfg = load_config(config, overrides)
    rows = run_recipe(cfg, source=str(config), force=force)
    _print_rows(rows)


@app.command()
def train(
    config: Path = typer.Argument(..., help="YAML recipe"),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides"),
    seeds: Optional[list[int]] = typer.Option(None, "--seeds", help="seeds to train (replaces the config's)"),
    force: bool = typer.Option(False, "--force", help="rerun tasks already in the store"),
) -> None:
    """Train (and evaluate) the recipe's models for the given seeds."""
    extra = list(overrides or []) + ([f"seeds=[{','.join(map(str, seeds))}]"] if seeds else [])
    run(config, extra, force)


@app.command()
def validate(
    config: Path = typer.Argument(..., help="YAML recipe"),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides"),
) -> None:
    """Check a config and print it resolved; run nothing, change nothing."""
    from torchslim.config import load_config, to_yaml
    from torchslim.tasks import expand

    cfg = load_config(config, overrides)
    out.print(to_yaml(cfg), end="")
    out.print(f"# valid: {len(expand(cfg))} task(s)")


@app.command()
def models(pattern: str = typer.Argument("*", help="glob filter, e.g. 'resnet*'")) -> None:
    """List the model registry."""
    from torchslim.models import MODELS

    _print_registry(MODELS, pattern, "default dataset", lambda e: e.meta.get("default_dataset", ""))


@app.command()
def datasets(pattern: str = typer.Argument("*", help="glob filter")) -> None:
    """List the dataset registry."""
    from torchslim.data import DATASETS

    _print_registry(DATASETS, pattern, "input", lambda e: "x".join(map(str, e.meta.get("input_shape", ()))))


@app.command()
def results(
    fmt: str = typer.Option("table", "--format", help="table, json or csv"),
    store: Path = typer.Option(Path("runs/torchslim.db"), "--store", help="SQLite results store"),
    model: Optional[str] = typer.Option(None, help="only this model"),
    dataset: Optional[str] = typer.Option(None, help="only this dataset"),
    run_name: Optional[str] = typer.Option(None, "--run", help="only this run name"),
) -> None:
    """Print the results store."""
    from torchslim.results import format_rows
    from torchslim.store import Store

    if not store.exists():
        raise TorchslimError(f"no results store at '{store}'; run `torchslim run CONFIG` first or pass --store")
    rows = Store(store).rows(model=model, dataset=dataset, run_name=run_name)
    if fmt == "table":
        _print_rows(rows)
    else:
        sys.stdout.write(format_rows(rows, fmt))


def _print_registry(registry, pattern: str, extra: str, get_extra) -> None:
    table = Table(title=f"{registry.kind}s")
    for col in ("name", extra, "summary"):
        table.add_column(col)
    for e in registry.entries():
        if e.name in registry.names(pattern) or (":" in e.name and pattern == "*"):
            table.add_row(e.name, get_extra(e), e.summary)
    out.print(table)


def _print_rows(rows) -> None:
    table = Table(title="results")
    for col in ("model", "dataset", "method", "seed", "top-1 %", "top-5 %", "params", "train s"):
        table.add_column(col, justify="right" if col[0] in "tps" and col != "model" else "left")
    for r in rows:
        m = r.metrics
        table.add_row(r.model, r.dataset, r.method_chain, str(r.seed), f"{m['top1']:.2f}", f"{m['top5']:.2f}",
                      f"{m['params']:,}", f"{m['train_seconds']:.1f}")
    out.print(table)


def main() -> None:
    try:
        app(standalone_mode=False)
    except TorchslimError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted: finished tasks are in the store; rerun the same command to resume")
        sys.exit(130)
    except __import__("click").exceptions.ClickException as exc:
        console.print(f"[red]error:[/red] {exc.format_message()}", soft_wrap=True)
        sys.exit(exc.exit_code)
    except __import__("click").exceptions.Abort:
        sys.exit(1)
