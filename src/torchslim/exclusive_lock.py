"""One process at a time on a shared file: an advisory ``flock`` the kernel drops when its holder
dies, even by SIGKILL, so a crash never leaves a stale lock behind."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from torchslim.errors import TorchslimError


class Busy(TorchslimError):
    """Another process holds the lock."""


@contextmanager
def held(lock: Path, busy: str) -> Iterator[None]:
    """Hold ``lock`` for the block; when another process holds it, raise :class:`Busy` with
    ``busy`` and its PID, at once (waiting would hide that two were started)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise Busy(f"{busy} (pid {holder}); wait for it to finish, or stop it first") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
