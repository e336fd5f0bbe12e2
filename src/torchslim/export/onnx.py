"""ONNX export with a parity check against PyTorch on a real batch.

The TorchScript-based exporter (``dynamo=False``) is tried first: it is several times faster and
handles every CNN in the registry. The ``torch.export``-based exporter is the fallback. The batch
axis is dynamic, so one file serves every batch size. Parity is the maximum absolute difference of
the outputs; failing parity is flagged in the result, never hidden.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from torchslim.backends.brevitas import export_qcdq, is_brevitas
from torchslim.errors import ExportError
from torchslim.export.attention import attention_in_four_dims
from torchslim.export.outputs import FlatOutputs, flatten_output
from torchslim.ui import quiet_stderr

OPSET = 17


@dataclass(frozen=True)
class ExportedOnnx:
    """An ONNX file and the exporter that wrote it (parity tolerances depend on it)."""

    path: Path
    exporter: str


@dataclass(frozen=True)
class Parity:
    max_abs_diff: float  # the worst output's
    tolerance: float
    exporter: str
    outputs: dict[str, float] | None = None  # max |difference| per output, for a model with several

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.max_abs_diff)) and self.max_abs_diff <= self.tolerance

    def as_dict(self) -> dict:
        return asdict(self) | {"ok": self.ok}


#: past this much weight data an ONNX file keeps its tensors beside it (the external-data format):
#: a protobuf message cannot exceed 2 GB. (The TorchScript exporter switches by itself.)
EXTERNAL_DATA_BYTES = 1_800_000_000


def weight_bytes(model: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> str:
    """Write ``model`` to ``path``; return the name of the exporter that succeeded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    if is_brevitas(model):
        return export_qcdq(model, example, path, OPSET)
    with torch.no_grad():
        names = [name for name, _ in flatten_output(model(example))]
    if len(names) > 1 or names != ["output"]:  # a dict, tuple or dataclass: one ONNX output per tensor
        model = FlatOutputs(model).eval()
    errors = []
    with warnings.catch_warnings(), quiet_stderr():
        warnings.simplefilter("ignore")

        def torchscript(dynamic_axes: dict | None) -> None:
            torch.onnx.export(
                model,
                (example,),
                str(path),
                dynamo=False,
                opset_version=OPSET,
                input_names=["input"],
                output_names=names,
                dynamic_axes=dynamic_axes,
            )

        def dynamo(dynamic_shapes: tuple | None) -> None:
            with attention_in_four_dims():
                torch.onnx.export(
                    model,
                    (example,),
                    str(path),
                    dynamo=True,
                    external_data=weight_bytes(model) > EXTERNAL_DATA_BYTES,  # protobuf's 2 GB limit
                    input_names=["input"],
                    output_names=names,
                    dynamic_shapes=dynamic_shapes,
                )

        attempts = [
            ("torchscript", lambda: torchscript({"input": {0: "batch"}, **{n: {0: "batch"} for n in names}})),
            ("dynamo", lambda: dynamo(({0: torch.export.Dim("batch", min=1, max=4096)},))),
            # a graph whose shapes depend on the batch (CondConv's per-sample kernels): this batch only
            ("torchscript-fixed-batch", lambda: torchscript(None)),
            # TorchScript keeps sizes it reads off the input dynamic even so (a "same" padding computed from
            # them: tf_efficientnet_cc's CondConv kernels had unknown shapes); torch.export specialises them
            ("dynamo-fixed-batch", lambda: dynamo(None)),
        ]
        for name, attempt in attempts:
            try:
                attempt()
                return name
            except Exception as exc:  # noqa: BLE001 - fall back to the next exporter
                errors.append(f"{name}: {str(exc).splitlines()[0][:200]}")
    raise ExportError(f"ONNX export of {type(model).__name__} failed: " + " | ".join(errors))


def checked_session(path: Path, threads: int):
    """An ONNX Runtime session of a file from anywhere, or one line saying why it cannot be one:
    random bytes, a custom-op domain, external data that is missing or outside the file's folder,
    more than one input, or an input that is not a float tensor."""
    from torchslim.errors import CheckpointError, missing_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(missing_file(path, "ONNX file"))
    try:
        session = ort_session(path, threads)
    except Exception as exc:  # onnxruntime raises its own types (InvalidProtobuf, Fail, NoSuchFile, ...)
        reason = " ".join(str(exc).split())[:240] or type(exc).__name__
        raise CheckpointError(f"ONNX Runtime cannot load '{path}': {reason}") from None
    inputs = session.get_inputs()
    if len(inputs) != 1 or inputs[0].type != "tensor(float)":
        given = ", ".join(f"{i.name}: {i.type}" for i in inputs) or "none"
        raise CheckpointError(f"'{path}' takes inputs ({given}); torchslim feeds one float image tensor")
    return session


def ort_session(path: Path, threads: int, provider: str = "CPUExecutionProvider", spinning: bool = True):
    """An ONNX Runtime session with a fixed thread count and full graph optimisation.

    ``spinning=False`` lets its idle pool threads sleep between runs instead of spinning: sessions
    that are timed in turn in one process must not take the cores from the one being timed."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=[provider])


def run_in_its_batches(session, x: np.ndarray) -> list[np.ndarray]:
    """``session`` on ``x``; a file exported at a fixed batch (``torchscript-fixed-batch``,
    ``dynamo-fixed-batch``, or a graph the exporter specialised) runs ``x`` in slices of that batch, the
    outputs joined again."""
    inp = session.get_inputs()[0]
    fixed = inp.shape[0] if inp.shape else None
    if not isinstance(fixed, int) or fixed < 1 or fixed == len(x) or len(x) % fixed:
        return session.run(None, {inp.name: x})
    parts = [session.run(None, {inp.name: x[i : i + fixed]}) for i in range(0, len(x), fixed)]
    return [np.concatenate(outs) for outs in zip(*parts)]


@torch.no_grad()
def check_parity(model: nn.Module, session, batch: torch.Tensor, exporter: str, tolerance: float = 1e-3) -> Parity:
    """Max |PyTorch - ONNX Runtime| over the outputs for ``batch`` (use real images, not zeros).

    Quantized (QCDQ) graphs get a 1e-2 relative tolerance: an activation that lands on a rounding
    edge may round the other way under a different float operation order, one quantization step.
    """
    model.eval()
    if exporter == "brevitas-qcdq":
        tolerance = max(tolerance, 1e-2)
    refs = [(name, t.float().numpy()) for name, t in flatten_output(model(batch))]
    got = run_in_its_batches(session, batch.numpy())
    diffs = {
        name: float(np.max(np.abs(ref - out))) if out is not None and ref.shape == out.shape else float("inf")
        for (name, ref), out in zip(refs, got + [None] * (len(refs) - len(got)))
    }
    scale = max(1.0, max(float(np.max(np.abs(ref))) if ref.size else 0.0 for _, ref in refs))
    return Parity(
        max_abs_diff=max(diffs.values()),
        tolerance=tolerance * scale,
        exporter=exporter,
        outputs=diffs if len(diffs) > 1 else None,
    )
