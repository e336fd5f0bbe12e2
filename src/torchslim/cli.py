"""The ``torchslim`` command. Every command is a thin shell over a Python function.

User mistakes raise :class:`TorchslimError`; ``main`` prints them as one line and exits with 2.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from torchslim.errors import Terminated, TorchslimError, stop_word
from torchslim.ui import console, stdout_console

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Compress PyTorch models and prove what each compression gained.",
)
out = stdout_console()


@app.command()
def run(
    config: Path = typer.Argument(..., help="YAML recipe"),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides, e.g. train.epochs=3"),
    force: bool = typer.Option(False, "--force", help="rerun tasks already in the store"),
    workers: str = typer.Option(
        "auto", "--workers", help="worker processes on this machine: a number, or auto (from the cores and task sizes)"
    ),
    executor: str = typer.Option("local", "--executor", help="where tasks run: local (this machine) or ray"),
    address: Optional[str] = typer.Option(
        None, "--address", help="Ray cluster: auto (started here with `ray start`) or HOST:PORT; default a private one"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the task graph and its resources; run nothing"),
    mlflow: bool = typer.Option(False, "--mlflow", help="also log each task as an MLflow run (tracking.mlflow=true)"),
) -> None:
    """Run a whole recipe: train, evaluate, record in the store, write the report."""
    from torchslim.executors.choice import ExecutorChoice
    from torchslim.task_kinds import kind_of, load_recipe

    choice = ExecutorChoice(executor, _workers(workers), address)
    cfg = load_recipe(config, list(overrides or []) + (["tracking.mlflow=true"] if mlflow else []))
    kind = kind_of(cfg)
    for precision, why in getattr(getattr(cfg, "measure", None), "left_out", {}).items():
        console.print(f"note: measure.precisions: {precision} left out ({escape(why)})")
    if dry_run:
        kind.plan(cfg, str(config), choice)
        return
    kind.run(cfg, str(config), force, choice)


@app.command()
def search(
    config: Path = typer.Argument(..., help="YAML recipe with one model (and a search: section, or the flags)"),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides, e.g. search.trials=10"),
    max_drop: Optional[float] = typer.Option(None, "--max-drop", help="top-1 points the pick may lose (default 1.0)"),
    objective: Optional[str] = typer.Option(
        None,
        "--objective",
        help="latency:RUNTIME:bN for any registered runtime (latency:openvino:b8), size, or macs",
    ),
    trials: Optional[int] = typer.Option(None, "--trials", help="trials to finish (default 20)"),
    workers: str = typer.Option("1", "--workers", help="trials trained side by side: a number, or auto"),
    executor: str = typer.Option("local", "--executor", help="where trials run: local (this machine) or ray"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster: auto or HOST:PORT"),
) -> None:
    """Find the fastest (or smallest) model within an accuracy budget, across method chains, with Optuna."""
    from torchslim.config import Sweep
    from torchslim.errors import ConfigError
    from torchslim.executors.choice import ExecutorChoice
    from torchslim.search.command import search as run_search
    from torchslim.task_kinds import kind_of, load_recipe

    flags = {"max_drop": max_drop, "objective": objective, "trials": trials}
    extra = [f"search.{k}={v}" for k, v in flags.items() if v is not None]
    cfg = load_recipe(config, list(overrides or []) + extra)
    kind = kind_of(cfg)
    if isinstance(cfg, Sweep) or not kind.searchable:
        what = "a sweep" if isinstance(cfg, Sweep) else f"a task: {kind.name} recipe"
        raise ConfigError(f"{config}: a search runs on a classification recipe (one model), not {what}")
    result = run_search(cfg, source=str(config), executor=ExecutorChoice(executor, _workers(workers), address))
    if result.pick is None:
        raise typer.Exit(1)


def _workers(text: str) -> int | str:
    """``--workers`` as given: a number where it is one (``ExecutorChoice`` checks it)."""
    return int(text) if text.strip().lstrip("-").isdigit() else text


@app.command()
def train(
    config: Path = typer.Argument(..., help="YAML recipe"),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides"),
    seeds: Optional[list[int]] = typer.Option(None, "--seeds", help="seeds to train (replaces the config's)"),
    force: bool = typer.Option(False, "--force", help="rerun tasks already in the store"),
) -> None:
    """Train (and evaluate) the recipe's models for the given seeds."""
    extra = list(overrides or []) + ([f"seeds=[{','.join(map(str, seeds))}]"] if seeds else [])
    run(config, extra, force, workers="auto", executor="local", address=None, dry_run=False)


@app.command()
def validate(
    config: Path = typer.Argument(..., help="YAML recipe"),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides"),
) -> None:
    """Check a config and print it resolved; run nothing, change nothing."""
    from torchslim.config import Sweep, to_yaml
    from torchslim.task_kinds import kind_of, load_recipe

    cfg = load_recipe(config, overrides)
    for run_cfg in cfg.runs if isinstance(cfg, Sweep) else [cfg]:
        out.print(
            to_yaml(run_cfg) + ("---" if isinstance(cfg, Sweep) else ""), end="\n" if isinstance(cfg, Sweep) else ""
        )
    out.print(kind_of(cfg).check(cfg))


@app.command()
def sensitivity(
    config: Path = typer.Argument(..., help="YAML recipe whose baselines are analysed"),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides"),
    ratios: Optional[list[float]] = typer.Option(None, "--ratios", help="channel ratios, e.g. --ratios 0.1 0.3 0.5"),
    eval_images: int = typer.Option(
        2000, "--eval-images", help="evaluate on a fixed random subset of N eval images (0 = all)"
    ),
    max_drop: float = typer.Option(1.0, "--max-drop", help="suggested ratio: largest within this top-1 drop"),
    importance: str = typer.Option(
        "l1",
        "--importance",
        help="channel importance (no data needed); an unknown one is refused with the valid choices",
    ),
    seeds: Optional[list[int]] = typer.Option(None, "--seeds", help="baseline seeds to analyse (default: first)"),
) -> None:
    """Prune each coupled layer group alone at several ratios; write a table, a plot and JSON."""
    from pydantic import ValidationError

    from torchslim.config import load_config
    from torchslim.errors import ConfigError, describe_error
    from torchslim.prune.sensitivity import SensitivityConfig
    from torchslim.recipe_sensitivity import run_sensitivity
    from torchslim.report.sensitivity import sensitivity_markdown

    cfg = load_config(config, overrides)
    raw = {"eval_images": eval_images or None, "max_drop": max_drop, "importance": importance}
    raw |= {"ratios": ratios} if ratios else {}
    try:
        scfg = SensitivityConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"sensitivity: {describe_error(exc, SensitivityConfig)}") from None
    for rep, files in run_sensitivity(cfg, scfg, str(config), seeds):
        out.print(sensitivity_markdown(rep, rep.model), markup=False)


@app.command()
def report(
    run_dir: Path = typer.Argument(Path("runs/quickstart"), help="a run folder written by `torchslim run`"),
    fmt: str = typer.Option("md,html,terminal", "--format", help="any of md, html, terminal, comma-separated"),
    store: Path = typer.Option(Path("runs/torchslim.db"), "--store", help="SQLite results store (read only)"),
) -> None:
    """Rebuild a run's report from the results store alone: nothing is recomputed, no artifact is read.

    The report is written into RUN_DIR, and the store is the one named here (default
    runs/torchslim.db), opened read-only: never the folder or store named inside the run folder's
    config.resolved.yaml, a file anyone can edit."""
    from torchslim.report.build import parse_formats
    from torchslim.store import Store
    from torchslim.task_kinds import kind_of, load_run

    formats = parse_formats(fmt)
    cfg, source = load_run(run_dir)
    cfg = cfg.model_copy(update={"output_dir": run_dir, "store": store})
    written = kind_of(cfg).report(cfg, Store(store, readonly=True), source, formats, out)
    for path in written.values():
        console.print(f"report: {escape(str(path))}")


@app.command()
def models(pattern: str = typer.Argument("*", help="glob filter, e.g. 'resnet*'")) -> None:
    """List the model registry."""
    from torchslim.models import MODELS

    _print_registry(MODELS, pattern, "default dataset", lambda e: e.meta.get("default_dataset", ""))


@app.command()
def methods(pattern: str = typer.Argument("*", help="glob filter, e.g. 'prune.*'")) -> None:
    """List the compression methods with their settings, defaults and descriptions."""
    from torchslim.methods import METHODS, method_facts

    names = METHODS.names(pattern)
    if not names:
        raise TorchslimError(f"no method matches '{pattern}'; methods: {', '.join(METHODS.names())}")
    for name in names:
        facts = method_facts(name)
        ends = "; ends its chain (deployed ONNX file)" if facts.produces == "onnx" else ""
        table = Table(
            title=f"{name} — {facts.label} ({facts.kind}, version {facts.version}{ends})",
            caption=escape(facts.summary),
            title_justify="left",
        )
        for col in ("setting", "type", "default", "description"):
            table.add_column(col)
        for row in facts.settings():
            table.add_row(*map(escape, row))
        out.print(table)


@app.command()
def runtimes(pattern: str = typer.Argument("*", help="glob filter")) -> None:
    """List the runtimes latency can be measured in, what each runs, its precisions, and whether it is here."""
    from torchslim.runtimes import RUNTIMES, runtime_facts

    table = Table(title="runtimes")
    for col in ("name", "label", "runs", "precisions", "here"):
        table.add_column(col)
    for name in RUNTIMES.names(pattern):
        rt = runtime_facts(name)
        runs = "the PyTorch module" if rt.loads == "module" else "the ONNX file"
        table.add_row(name, rt.label, runs, ", ".join(rt.precisions), escape(rt.missing() or "yes"))
    out.print(table)


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
    from torchslim.results import format_rows, rows_table
    from torchslim.store import Store

    if not store.exists():
        raise TorchslimError(f"no results store at '{store}'; run `torchslim run CONFIG` first or pass --store")
    rows = Store(store, readonly=True).rows(model=model, dataset=dataset, run_name=run_name)
    if fmt == "table":
        out.print(rows_table(rows))
    else:
        sys.stdout.write(format_rows(rows, fmt))


@app.command()
def bench(
    target: str = typer.Argument(..., help="registry model name (e.g. torchvision:resnet50) or a saved model.pt"),
    batch_sizes: Optional[list[int]] = typer.Option(None, "--batch-sizes", help="e.g. --batch-sizes 1 2 4 8 16"),
    runtimes: Optional[list[str]] = typer.Option(
        None, "--runtimes", help="registered runtimes: torch, onnxruntime, openvino (torchslim runtimes lists them)"
    ),
    precisions: Optional[list[str]] = typer.Option(
        None, "--precisions", help="fp32 (default) and/or bf16 where a runtime offers it (OpenVINO's hint)"
    ),
    input_size: Optional[int] = typer.Option(None, "--input-size", help="image side (default: the model's dataset)"),
    threads: Optional[int] = typer.Option(None, "--threads", help="fixed thread count (default: all cores)"),
    min_seconds: float = typer.Option(2.0, "--min-seconds", help="timed seconds per runtime and batch"),
    baseline: Optional[str] = typer.Option(None, "--baseline", help="measure this too and show speedups against it"),
    as_json: bool = typer.Option(False, "--json", help="print the measurement as JSON"),
    store: Path = typer.Option(Path("runs/torchslim.db"), "--store", help="SQLite results store"),
) -> None:
    """Measure params, MACs, size, ONNX parity and latency of a model in PyTorch and ONNX Runtime."""
    import json

    from pydantic import ValidationError

    from torchslim.errors import ConfigError, describe_error
    from torchslim.measurement.bench import BenchConfig, fastest_rows, measure, speedup_intervals
    from torchslim.provenance import provenance
    from torchslim.report.bench_table import rich_table, summary_line
    from torchslim.store import Store

    raw = {"input_size": input_size, "threads": threads, "min_seconds": min_seconds}
    raw |= {"batch_sizes": batch_sizes} if batch_sizes else {}
    raw |= {"runtimes": runtimes} if runtimes else {}
    raw |= {"precisions": precisions} if precisions else {}
    try:
        cfg = BenchConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"bench: {describe_error(exc, BenchConfig)}") from None
    results = Store(store)  # before measuring: a bad --store fails now, not after minutes of timing
    base = None
    with out_of_memory_is_one_line(cfg):
        if baseline:
            with console.status(f"measuring baseline {baseline} ..."):
                base = measure(baseline, cfg)
        with console.status(f"measuring {target} ..."):
            result = measure(target, cfg)
    record = result.as_dict()
    intervals, vs_fastest, reference = {}, {}, {}
    if base is not None:
        reference = fastest_rows(base)  # the baseline's fastest deployment per batch: the honest reference
        with console.status(f"timing {target} against {baseline} side by side ..."):
            intervals, vs_fastest = speedup_intervals(target, baseline, cfg, reference=reference)
        record["baseline"] = base.as_dict()
        record["speedups"] = [
            {"runtime": k[0], "provider": k[1], "batch_size": k[2], "speedup": v.ratio} | v.as_dict()
            for k, v in intervals.items()
        ]
        record["speedups_vs_baseline_fastest"] = [
            {"runtime": k[0], "provider": k[1], "batch_size": k[2], "speedup": v.ratio}
            | v.as_dict()
            | {"reference": {"runtime": reference[k[2]][0], "provider": reference[k[2]][1]}}
            for k, v in vs_fastest.items()
        ]
    results.put_benchmark(result.target, cfg.model_dump(), record, provenance())
    if as_json:
        sys.stdout.write(json.dumps(record, indent=2) + "\n")
        return
    for m, b in ([(base, None)] if base else []) + [(result, base)]:
        out.print(summary_line(m))
        out.print(rich_table(m, b, intervals if b is not None else None, vs_fastest if b is not None else None))
    for batch, (runtime, provider) in sorted(reference.items()):
        out.print(f"reference at batch {batch}: {baseline} in {runtime} {provider}, its fastest deployment")


@app.command("eval")
def eval_(
    target: str = typer.Argument(..., help="a saved model.pt, a model.onnx, or a registry name with --checkpoint"),
    data: str = typer.Option(..., "--data", help="dataset name, e.g. mnist5k, cifar10 or imagefolder:PATH"),
    split: Optional[str] = typer.Option(None, "--split", help="val or test (default: the dataset's evaluation split)"),
    root: Optional[Path] = typer.Option(None, "--root", help="local data root (torchvision sets)"),
    test_root: Optional[Path] = typer.Option(
        None, "--test-root", help="an image folder's separate test split (use with --split test)"
    ),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="state dict for a registry model name"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Top-1, top-5, loss and image count of a model on a dataset's evaluation split."""
    import json

    from torchslim.api import evaluate_target
    from torchslim.data import DatasetConfig

    if split not in (None, "val", "test"):
        raise TorchslimError(f"--split {split}: choose val or test")
    with console.status(f"evaluating {target} on {data} ..."):
        acc, info = evaluate_target(target, DatasetConfig(name=data, root=root, test_root=test_root), split, checkpoint)
    record = {"target": target, "dataset": data, "split": info.eval_split} | acc.as_dict()
    record["images"] = record.pop("n")
    if as_json:
        sys.stdout.write(json.dumps(record, indent=2) + "\n")
        return
    out.print(
        f"{escape(target)} on {data} ({info.eval_split}, {acc.n:,} images): top-1 {acc.top1:.2f} %  "
        f"top-5 {acc.top5:.2f} %  loss {acc.loss:.4f}"
    )


@contextlib.contextmanager
def out_of_memory_is_one_line(cfg):
    """An allocation the machine cannot give (a huge --input-size or batch) is one line, not a traceback."""
    from torchslim.errors import ConfigError

    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        if not isinstance(exc, MemoryError) and "allocat" not in str(exc):
            raise
        raise ConfigError(
            f"bench: not enough memory at batch sizes {cfg.batch_sizes} and input size {cfg.input_size or 'default'} "
            f"({' '.join(str(exc).split())[:120]}); try smaller ones"
        ) from None


def _print_registry(registry, pattern: str, extra: str, get_extra) -> None:
    table = Table(title=f"{registry.kind}s")
    for col in ("name", extra, "summary"):
        table.add_column(col)
    for e in registry.entries():
        if e.name in registry.names(pattern) or (":" in e.name and pattern == "*"):
            table.add_row(e.name, get_extra(e), e.summary)
    out.print(table)


MULTI_VALUE_OPTIONS = ("--batch-sizes", "--runtimes", "--precisions", "--seeds", "--ratios")


def expand_multi_value(argv: list[str]) -> list[str]:
    """``--batch-sizes 1 2 4`` -> ``--batch-sizes 1 --batch-sizes 2 --batch-sizes 4`` (click repeats options)."""
    out, current = [], None
    for arg in argv:
        if arg in MULTI_VALUE_OPTIONS:
            current = arg
            continue
        if current and not arg.startswith("-") and "=" not in arg:
            out += [current, arg]
            continue
        current = None
        out.append(arg)
    return out


def _click_exceptions() -> tuple[type, type, type]:
    """The exception classes of the click that typer runs on: recent typer vendors its own copy
    (``typer._click``), so the separate ``click`` package's classes would never match."""
    try:
        from typer._click.exceptions import ClickException
        from typer.exceptions import Abort, Exit
    except ImportError:  # typer before it vendored click
        from click.exceptions import Abort, ClickException, Exit
    return ClickException, Abort, Exit


def invoke(argv: list[str]) -> int:
    """Run the command line ``argv`` and return its exit code: one line and 2 for a user's mistake, the
    usage line and 2 for a usage error, 130 after Ctrl-C; never a traceback for either. The tests call
    it in-process (a fresh interpreter per command cost them a torch import each)."""
    click_error, abort, exit_ = _click_exceptions()
    previous = _on_sigterm_interrupt()
    try:
        code = app(args=expand_multi_value(argv), standalone_mode=False, prog_name="torchslim")
    except TorchslimError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)
        return getattr(exc, "exit_code", 2)
    except (KeyboardInterrupt, abort) as exc:
        word, code = stop_word(exc)
        console.print(f"{word}: finished tasks are in the store; rerun the same command to resume")
        return code
    except click_error as exc:
        exc.show()  # a usage error shows the command's usage line, then "Error: ..."
        return exc.exit_code
    except exit_ as exc:
        return exc.exit_code
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return code if isinstance(code, int) else 0


def _on_sigterm_interrupt():
    """SIGTERM (``kill``, a scheduler's stop) takes Ctrl-C's path; returns the handler it replaced,
    or None where handlers cannot be set (a thread other than the main one)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def terminate(signum, frame):
        raise Terminated()

    return signal.signal(signal.SIGTERM, terminate)


def main() -> None:
    """The console script."""
    sys.exit(invoke(sys.argv[1:]))
