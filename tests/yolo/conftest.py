"""Detector fixtures: Ultralytics imported offline once per session, a socket guard, a tiny run."""

from __future__ import annotations

import socket

import pytest
import torch


class SocketGuard:
    """Refuses (and records) every DNS lookup and outgoing connection while installed."""

    def __init__(self):
        self.attempts: list[str] = []

    def _refuse(self, what: str):
        self.attempts.append(what)
        raise OSError(f"network blocked by the test socket guard: {what}")

    def install(self, monkeypatch):
        monkeypatch.setattr(socket.socket, "connect", lambda s, addr, *a: self._refuse(f"connect {addr}"))
        monkeypatch.setattr(socket.socket, "connect_ex", lambda s, addr, *a: self._refuse(f"connect {addr}"))
        monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: self._refuse(f"resolve {host}"))
        monkeypatch.setattr(socket, "create_connection", lambda addr, *a, **k: self._refuse(f"connect {addr}"))
        return self


# The same guard as source, for scripts run in a fresh process.
GUARD_SOURCE = """
import socket
ATTEMPTS = []
def _refuse(what):
    ATTEMPTS.append(what)
    raise OSError("network blocked by the test socket guard: " + what)
socket.socket.connect = lambda s, addr, *a: _refuse(f"connect {addr}")
socket.socket.connect_ex = lambda s, addr, *a: _refuse(f"connect {addr}")
socket.getaddrinfo = lambda host, *a, **k: _refuse(f"resolve {host}")
socket.create_connection = lambda addr, *a, **k: _refuse(f"connect {addr}")
"""


@pytest.fixture
def guard(monkeypatch):
    return SocketGuard().install(monkeypatch)


@pytest.fixture(scope="session")
def ultralytics_home(tmp_path_factory):
    from torchslim.yolo.offline import ultralytics

    home = tmp_path_factory.mktemp("ultralytics")
    ultralytics(home, threads=torch.get_num_threads())
    return home


@pytest.fixture
def yolo11n(ultralytics_home):
    from torchslim.yolo.artifact import build_detector

    torch.manual_seed(0)
    model = build_detector("yolo11n.yaml", nc=3).eval()
    for m in model.modules():  # non-trivial BN statistics, so a wrong channel shows in the outputs
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    return model
