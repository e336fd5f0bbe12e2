"""Image generation: a generator trained adversarially, compressed by the registered methods (fine-tuned
by distilling from the original), scored by FID in a named classifier's feature space (↓).

Its recipe is ``config.generate.GenerateRunConfig`` (``task: generate``): the classification recipe's
shape (models x seeds x method chains, the same runner, executors and store) with ``gan:`` and
``generation:`` sections.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

from torchslim.config.generate import GenerateRunConfig
from torchslim.data.base import DataBundle
from torchslim.errors import TorchslimError
from torchslim.executors.choice import ExecutorChoice
from torchslim.export.saving import save_artifact
from torchslim.generation import work as generation
from torchslim.generation.latents import generator_spec
from torchslim.kinds import WorkerFacts
from torchslim.methods import MethodContext, apply_chain
from torchslim.metric import Metric
from torchslim.models import InputSpec, describe, load_model
from torchslim.plan import print_plan
from torchslim.preflight import check_declared_pairings
from torchslim.report.build import write_report
from torchslim.report.generation import generation_document
from torchslim.results import rows_table
from torchslim.runner import run as run_recipe
from torchslim.store import ResultRow
from torchslim.task_execution import measure_task, task_row, wants_onnx
from torchslim.task_kinds.base import TaskKind, register_task_kind
from torchslim.tasks import Task, expand
from torchslim.ui import stdout_console

FID = Metric("fid", "FID (classifier features)", higher_is_better=False)


def run(cfg: GenerateRunConfig, source: str, force: bool, choice: ExecutorChoice) -> list:
    rows = run_recipe(cfg, source=source, force=force, executor=choice, report_builder=generation_document)
    stdout_console().print(rows_table(rows))
    return rows


def check(cfg: GenerateRunConfig) -> str:
    tasks = expand(cfg)
    check_declared_pairings(tasks)
    return f"# valid: {len(tasks)} task(s)"


def report(cfg: GenerateRunConfig, store, source: str, formats, console) -> dict:
    return write_report(cfg, store, source, formats, console, builder=generation_document)


def generation_task(task: Task, data: DataBundle, folder: Path, baseline_file: Path | None, threads: int) -> ResultRow:
    """A generator: trained adversarially (baseline), or compressed by the chain and fine-tuned by
    distilling from the original on the same latents; then scored by FID and measured."""
    gan, gen = task.kind_config["gan"], task.kind_config["generation"]
    spec = generation.spec_for(task.model.kwargs, data)
    if task.chain is None:
        model, metrics = generation.train_baseline(task.model, data, spec, gan, task.seed, folder)
    else:
        base_file = baseline_file or task.baseline().folder / "model.pt"
        if not base_file.exists():
            raise TorchslimError(
                f"the baseline of '{task.describe()}' has no model file at {base_file}; rerun with --force to train it"
            )
        model, _ = load_model(base_file)
        t0 = time.perf_counter()
        mctx = MethodContext(generation.method_data(spec, gen, task.seed), spec, task.finetune, task.seed, task.folder)
        mctx.original = copy.deepcopy(model).eval()
        mctx.default_loss = generation.tuning_loss(mctx.original, base_file.parent, spec, gen, gan.ndf)
        mctx.metric = FID
        # a method's per-step score (IDAP++'s dynamics and drop budget): one sample seed of at most 2,000
        # images, consistent from step to step though biased upward against the final 10,000-image FID
        quick = gen.model_copy(update={"sample_seeds": [0], "samples": min(gen.samples, 2000), "kid": False})
        mctx.score = lambda m: {"fid": generation.score(m, data, quick)["fid"]}
        model = apply_chain(model, task.chain, mctx)
        notes = {k: v for k, v in mctx.notes.items() if k not in ("step", "_t0")}
        metrics = {"epochs": 0, "compress_seconds": time.perf_counter() - t0, "method_notes": notes}
    model.eval()
    artifact, exported = save_artifact(model, folder, describe(task.model, spec), spec.shape, export=wants_onnx(task))
    (folder / "checkpoint.pt").unlink(missing_ok=True)
    generation.save_samples(model, folder / "samples.png")
    metrics |= generation.score(model, data, gen) | {"eval_split": "test", "threads": threads}
    metrics |= measure_task(model, spec, artifact, exported, task, threads)
    return task_row(task, metrics, artifact, data.info.split_note)


def latent_in(task: Task, data: DataBundle) -> InputSpec:
    return generation.spec_for(task.model.kwargs, data)


def latent_declared(task: Task, image_shape: tuple[int, ...], classes: int) -> InputSpec:
    return generator_spec(task.model.kwargs, image_shape[0])


def image_out(task: Task, spec: InputSpec, image_shape: tuple[int, ...], declared: bool) -> tuple[int, ...]:
    return tuple(image_shape)


def gan_section(task: Task) -> tuple[int, int, str]:
    gan = task.kind_config["gan"]
    return gan.epochs, gan.batch_size, "gan"


GENERATE = register_task_kind(
    TaskKind(
        name="generate",
        schema=GenerateRunConfig,
        metric=FID,
        run=run,
        plan=print_plan,
        report=report,
        check=check,
        summary="image generation (DCGAN): generators compressed and distilled, FID in a classifier's feature space",
        worker=WorkerFacts(
            work=generation_task,
            input_spec=latent_in,
            declared_spec=latent_declared,
            output_shape=image_out,
            baseline_training=gan_section,
        ),
    )
)
