"""`flask serve` stays reachable while many phones hold idle connections (issue 13, item 21)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from library_app.db import upgrade


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str, timeout: float) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture
def served(tmp_path: Path):
    """The README's server (waitress through `flask serve`) on a free port, SQLite."""
    database = tmp_path / "library.sqlite3"
    upgrade("sqlite:///" + str(database))
    port = free_port()
    env = {**os.environ, "LIBRARY_DATABASE_URL": "sqlite:///" + str(database),
           "LIBRARY_INSTANCE_PATH": str(tmp_path), "LIBRARY_SECRET_KEY": "x" * 32}

    def start(*extra: str) -> int:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "library_app", "serve", "--port", str(port),
             *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return port
            except OSError:
                time.sleep(0.05)
        raise AssertionError("serve did not start")

    procs: list[subprocess.Popen[bytes]] = []
    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)


def test_idle_connections_do_not_shut_phones_out(served):
    port = served()
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(150)]
    try:
        time.sleep(0.5)  # waitress has accepted what it will accept
        started = time.monotonic()
        answer = get(port, "/healthz", timeout=10)  # waitress's default limit of 100: no answer
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert time.monotonic() - started < 10
    finally:
        for s in idle:
            s.close()


def test_a_silent_connection_is_closed_after_the_channel_timeout(served):
    port = served("--channel-timeout", "2")
    silent = socket.create_connection(("127.0.0.1", port), timeout=15)
    started = time.monotonic()
    assert silent.recv(1) == b""  # the server closed it
    assert time.monotonic() - started < 10
    silent.close()
