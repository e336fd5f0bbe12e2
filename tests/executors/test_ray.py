"""A two-node local Ray cluster runs the same task graph: the same rows as a serial run, artifacts in
the driver's run folder, and a task whose node is removed mid-task resumes from its checkpoint."""

import threading
import time
from pathlib import Path

import pytest

from tests.executors.test_local import recipe, trained
from torchslim.executors.choice import ExecutorChoice
from torchslim.runner import run
from torchslim.store import Store

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from torchslim.executors.ray_cluster import KEEPER, Keeper, _files_under, _write  # noqa: E402


@pytest.fixture
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    c.add_node(num_cpus=1)
    yield c
    ray.shutdown()
    c.shutdown()


def test_the_keeper_ships_checkpoints_within_the_run_folders_and_counts_attempts(tmp_path):
    """The fast sibling of the two-node test below, without a cluster: the keeper's bookkeeping and the
    file shipping a Ray task does between the driver's run folder and a node's scratch folder."""
    home, scratch = tmp_path / "run", tmp_path / "scratch"
    keeper = Keeper([str(home)])
    assert [keeper.start("job", "node-a"), keeper.start("job", "node-b")] == [0, 1]
    assert (keeper.tries("job"), keeper.where("job"), keeper.tries("other")) == (2, "node-b", 0)
    checkpoint = home / "tasks" / "t1" / "checkpoint.pt"
    keeper.save("job", str(checkpoint), b"epoch 1")
    assert checkpoint.read_bytes() == b"epoch 1" and not list(home.rglob("*.part"))
    with pytest.raises(PermissionError, match="outside the run folders"):
        keeper.save("job", str(tmp_path / "elsewhere.pt"), b"x")
    shipped = keeper.load(str(home / "tasks"))
    assert shipped == {"t1/checkpoint.pt": b"epoch 1"}
    _write(shipped, scratch)  # what a node receives, then sends back
    assert _files_under(scratch) == shipped
    assert keeper.forget("job") == [str(checkpoint.resolve())] and keeper.forget("job") == []


@pytest.mark.e2e  # a two-node cluster, about a minute: `make test-e2e`
def test_a_two_node_cluster_stores_what_a_serial_run_stores(tmp_path, cluster):
    serial = run(recipe(tmp_path, "serial"), formats=(), executor=ExecutorChoice("local", 1))
    cfg = recipe(tmp_path, "ray")
    cfg.measure.compare = True
    on_ray = run(cfg, formats=(), executor=ExecutorChoice("ray", 1, cluster.address))
    assert trained(on_ray) == trained(serial)
    assert len({r.metrics["worker"] for r in on_ray}) == 2  # both nodes ran tasks
    # timing ran after the tasks, as one Ray task holding a whole node, from artifacts shipped to it
    assert {r.metrics["latency_where"] for r in serial} == {"driver"}
    (where,) = {r.metrics["latency_where"] for r in on_ray}
    assert where.startswith("ray node ") and where.endswith("(1 CPU held)")
    assert all(r.metrics["latency"] for r in on_ray)
    (comparison,) = [b for b in Store(cfg.store).benchmarks() if b["target"].startswith("compare:")]
    assert comparison["result"]["where"].startswith("ray node ") and comparison["result"]["latency"]
    for row in on_ray:
        folder = Path(row.artifacts["dir"])
        assert folder.is_relative_to(tmp_path / "ray") and (folder / "model.pt").exists()
        assert not list(folder.glob("*checkpoint*.pt"))  # the copies kept for retries are gone once it finished


@pytest.mark.slow  # fault injection, over a minute: `make test-slow`
def test_a_task_whose_node_is_removed_resumes_on_another(tmp_path):
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # the driver's node runs no task
    nodes = [c.add_node(num_cpus=1), c.add_node(num_cpus=1)]
    slow = {"epochs": 3, "batch_size": 64, "lr": 0.05}  # mnist5k: seconds per epoch, so the removal lands mid-task
    cfg = recipe(tmp_path, "lost", seeds=[0], methods=[], train=slow, dataset={"name": "mnist5k"})
    removed = []

    def remove_node_after_first_epoch():
        deadline = time.time() + 240
        while time.time() < deadline and not removed:
            if list((tmp_path / "lost").glob("tasks/*/checkpoint.pt")):
                where = ray.get(ray.get_actor(KEEPER).where.remote(str(next(iter(jobs_keys(cfg))))))
                node = next(n for n in nodes if n.node_id == where)
                c.remove_node(node)
                removed.append(where)
            time.sleep(0.05)

    killer = threading.Thread(target=remove_node_after_first_epoch)
    try:
        killer.start()
        rows = run(cfg, formats=(), executor=ExecutorChoice("ray", 1, c.address))
        killer.join()
    finally:
        ray.shutdown()
        c.shutdown()
    assert removed, "the node must be removed mid-task"
    assert len(Store(cfg.store).rows()) == len(rows) == 1
    row = rows[0]
    assert row.metrics["retries"] == 1 and row.metrics["resumed_from_epoch"] >= 1
    assert row.metrics["worker"] != f"node {removed[0][:8]}"


def jobs_keys(cfg):
    from torchslim.tasks import expand

    return [t.key for t in expand(cfg)]
