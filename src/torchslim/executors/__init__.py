"""Where tasks run: in this process, in a pool of pinned worker processes, or on a Ray cluster.

Every executor runs the same task graph through :func:`schedule.drive`: a job starts when the jobs
it needs have finished, the driver alone writes results, and a job whose worker dies is retried.
"""

from torchslim.executors.jobs import Job, Order, Outcome, Resources, WorkerDied
from torchslim.executors.schedule import drive

__all__ = ["Job", "Order", "Outcome", "Resources", "WorkerDied", "drive"]
