"""Jobs as Ray tasks on a cluster (``--executor ray``): each declares the CPUs and GPUs it holds.

No shared filesystem is assumed. A job's input files travel with it; it works in a scratch folder
on its node; what it wrote comes back to the driver's run folder with its result. Each epoch
checkpoint is copied at once to a keeper actor on the driver's node, so that when a node is removed
mid-job, Ray's retry (on another node) resumes from that checkpoint. Ray is an optional extra.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
from pathlib import Path
from typing import Any, Hashable

from torchslim.artifacts import artifact_files
from torchslim.errors import ConfigError, TorchslimError
from torchslim.executors.jobs import Job, Order, Outcome, Work, WorkerDied

KEEPER = "torchslim-keeper"


def import_ray():
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'torchslim[ray]'") from None
    return ray


def connect(address: str | None):
    """Join the cluster at ``address`` ('auto': the one started on this machine with ``ray start``;
    None: a private one-machine cluster), or say in one line why not."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    if address not in (None, "auto", "local"):
        reachable(address)
    try:
        ray.init(address=address, log_to_driver=False, include_dashboard=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise TorchslimError(
            f"cannot reach the Ray cluster at '{address}': {str(exc).strip().splitlines()[0][:200]} "
            "(start one with `ray start --head`, or use --address HOST:PORT of its head node)"
        ) from None
    return ray


def reachable(address: str, timeout: float = 5.0) -> None:
    """A head node's HOST:PORT answers a TCP connection, or one line says it does not (``ray.init``
    itself would wait minutes on an address where nothing listens)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--address '{address}' is not HOST:PORT (or auto: the cluster started here)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise TorchslimError(
            f"cannot reach the Ray cluster at '{address}': {exc.strerror or type(exc).__name__} "
            "(start one with `ray start --head`, or use --address HOST:PORT of its head node)"
        ) from None


def _files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _write(files: dict[str, bytes], root: Path) -> None:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)


class Keeper:
    """On the driver's node: keeps each job's checkpoints in the driver's folders and counts attempts."""

    def __init__(self, homes: list[str]):
        self.homes = [Path(h).resolve() for h in homes]
        self.attempts: dict[str, int] = {}
        self.nodes: dict[str, str] = {}
        self.saved: dict[str, set[str]] = {}

    def _inside(self, path: str) -> Path:
        p = Path(path).resolve()
        if not any(p.is_relative_to(h) for h in self.homes):
            raise PermissionError(f"{p} is outside the run folders")
        return p

    def start(self, key: str, node: str) -> int:
        """Attempt number of a job that starts now on ``node`` (0 for the first)."""
        self.attempts[key] = self.attempts.get(key, -1) + 1
        self.nodes[key] = node
        return self.attempts[key]

    def where(self, key: str) -> str | None:
        return self.nodes.get(key)

    def tries(self, key: str) -> int:
        """How many attempts of a job have started."""
        return self.attempts.get(key, -1) + 1

    def save(self, key: str, path: str, data: bytes) -> None:
        target = self._inside(path)
        _write({target.name: data}, target.parent)
        self.saved.setdefault(key, set()).add(str(target))

    def forget(self, key: str) -> list[str]:
        """The checkpoint copies kept for a finished job (the driver removes those its job removed)."""
        return sorted(self.saved.pop(key, set()))

    def load(self, folder: str) -> dict[str, bytes]:
        root = self._inside(folder)
        return _files_under(root) if root.is_dir() else {}


def _entry(work: Work, order: Order, files: dict[str, bytes], keeper) -> tuple[Any, dict[str, bytes]]:
    """The Ray task: place the input files in a scratch folder, run, send back what was written."""
    import ray

    from torchslim.train import trainer

    scratch = Path(tempfile.mkdtemp(prefix="torchslim-"))
    order.scratch = str(scratch)
    try:
        node = ray.get_runtime_context().get_node_id()
        order.attempt = ray.get(keeper.start.remote(str(order.job.key), node))
        order.where = f"node {node[:8]}"
        for path, data in files.items():
            _write({order.local(Path(path)).name: data}, order.local(Path(path)).parent)

        def fetch(folder: Path) -> None:
            _write(ray.get(keeper.load.remote(str(folder))), order.local(folder))

        order.fetch = fetch
        before = {p: p.stat().st_mtime_ns for p in scratch.rglob("*") if p.is_file()}

        def mirror(checkpoint: Path) -> None:
            driver_path = "/" / checkpoint.resolve().relative_to(scratch)
            ray.get(keeper.save.remote(str(order.job.key), str(driver_path), checkpoint.read_bytes()))

        trainer.CHECKPOINT_LISTENERS.append(mirror)
        try:
            value = work(order)
        finally:
            trainer.CHECKPOINT_LISTENERS.remove(mirror)
        written = {
            str("/" / p.relative_to(scratch)): p.read_bytes()
            for p in scratch.rglob("*")
            if p.is_file() and before.get(p) != p.stat().st_mtime_ns
        }
        return value, written
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def whole_node_cpus(ray) -> float:
    """The CPUs of the largest live node: a task asking for them holds that node alone."""
    return max((n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")), default=1.0) or 1.0


def _exclusive_entry(fn, payload, files: dict[str, bytes]):
    """The timing task: the artifacts in a scratch folder, the driver's paths under it."""
    import ray

    scratch = Path(tempfile.mkdtemp(prefix="torchslim-timing-"))
    try:
        _write({str(Path(path).relative_to(Path(path).anchor)): data for path, data in files.items()}, scratch)
        node = ray.get_runtime_context().get_node_id()
        return fn(payload, scratch), node
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def on_a_whole_node(address: str | None):
    """An exclusive runner (``executors.exclusive``) for a cluster: one Ray task holding every CPU of
    a node, retried elsewhere if that node is lost."""

    def run(fn, payload, rows):
        files = artifact_files(rows)
        ray = connect(address)
        cpus = whole_node_cpus(ray)
        task = ray.remote(_exclusive_entry).options(num_cpus=cpus, max_retries=2, retry_exceptions=False)
        value, node = ray.get(task.remote(fn, payload, files))
        return value, f"ray node {node[:8]} ({cpus:g} CPU held)"

    return run


class RayBackend:
    """Submits each ready job as a Ray task; Ray retries a task whose worker or node died."""

    def __init__(self, work: Work, homes: list[Path], address: str | None = None, retries: int = 2):
        self.ray = connect(address)
        self.work, self.retries = work, retries
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = self.ray.get_runtime_context().get_node_id()
        keeper_cls = self.ray.remote(num_cpus=0)(Keeper)
        self.keeper = keeper_cls.options(
            name=KEEPER, scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False), get_if_exists=False
        ).remote([str(h) for h in homes])
        self.refs: dict[Any, Order] = {}

    def can_take(self, job: Job) -> bool:
        return True  # Ray queues a task until a node has the resources it declared

    def check_gpus(self, needed: int) -> None:
        """A task that declares a GPU the cluster does not have would wait for ever: one line instead."""
        have = self.ray.cluster_resources()
        if needed > have.get("GPU", 0):
            raise ConfigError(
                f"a task asks for {needed} GPU (train.device cuda) and the Ray cluster has {have.get('GPU', 0):g} "
                f"(and {have.get('CPU', 0):g} CPU); join a GPU node (`ray start --address HEAD:6379 --num-gpus 1`) "
                "or use train.device cpu or auto"
            )

    def submit(self, order: Order) -> None:
        files = {str(p): Path(p).read_bytes() for p in order.job.inputs}
        task = self.ray.remote(_entry).options(
            num_cpus=order.job.resources.cpus,
            num_gpus=order.job.resources.gpus,
            max_retries=self.retries,
            retry_exceptions=False,
        )
        order.where = "ray"
        self.refs[task.remote(self.work, order, files, self.keeper)] = order

    def in_flight(self) -> dict[Hashable, str]:
        return {o.job.key: o.where for o in self.refs.values()}

    def poll(self, timeout: float) -> list[Outcome]:
        if not self.refs:
            return []
        ready, _ = self.ray.wait(list(self.refs), num_returns=len(self.refs), timeout=timeout)
        return [self._collect(ref) for ref in ready]

    def _collect(self, ref) -> Outcome:
        from ray.exceptions import RayTaskError

        order = self.refs.pop(ref)
        key = order.job.key
        attempts = self.ray.get(self.keeper.tries.remote(str(key))) or 1
        try:
            value, written = self.ray.get(ref)
        except RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, BaseException) else TorchslimError(str(exc).splitlines()[0])
            return Outcome(key, None, cause, "ray", attempts)
        except Exception as exc:  # WorkerCrashedError, NodeDiedError... after Ray's retries
            error = WorkerDied(f"'{order.job.label}' was lost {attempts} times on the cluster: {type(exc).__name__}")
            return Outcome(key, None, error, "ray", attempts)
        home = order.job.home.resolve() if order.job.home else None
        for path, data in written.items():
            if home is not None and Path(path).resolve().is_relative_to(home):
                _write({Path(path).name: data}, Path(path).parent)
        for path in self.ray.get(self.keeper.forget.remote(str(key))):
            if path not in written:  # a checkpoint the finished job deleted on its node
                Path(path).unlink(missing_ok=True)
        return Outcome(key, value, None, "ray", attempts)

    def close(self) -> None:
        for ref in list(self.refs):
            self.ray.cancel(ref, force=True)
        self.refs.clear()
        self.ray.kill(self.keeper)
