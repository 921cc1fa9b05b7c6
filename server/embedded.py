"""The embedded database: a SecantusDB server run as a child process.

SecantusDB (PyPI ``secantusdb``) speaks the MongoDB wire protocol on top of WiredTiger.  It is
GPL-licensed and beta, so leadgraph never imports it: it is an optional extra that we start as a
separate process with its ``secantusd-py`` command, wait for until it answers ``ping``, and stop
when we exit.  Production deployments set ``MONGODB_URI`` instead.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.errors import PyMongoError


class EmbeddedDatabaseError(RuntimeError):
    """The embedded database could not be started."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _command() -> str:
    exe = shutil.which("secantusd-py")
    if exe is None:
        candidate = Path(sys.executable).parent / "secantusd-py"
        if candidate.exists():
            exe = str(candidate)
    if exe is None:
        raise EmbeddedDatabaseError(
            "MONGODB_URI is not set and the embedded database is not installed: "
            "pip install 'leadgraph[embedded]' or point MONGODB_URI at MongoDB."
        )
    return exe


class EmbeddedMongo:
    """A SecantusDB child process; use as a (sync) context manager or call start()/stop()."""

    def __init__(
        self, storage_path: Path | str = ":memory:", host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.storage_path = str(storage_path)
        self.host = host
        self.port = port or _free_port(host)
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"

    def start(self, timeout: float = 60.0) -> EmbeddedMongo:
        if self.storage_path != ":memory:":
            Path(self.storage_path).mkdir(parents=True, exist_ok=True)
            self.log_path = Path(self.storage_path).parent / "secantusd.log"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        args = [
            _command(),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--storage-path",
            self.storage_path,
            "--log-level",
            "WARNING",
        ]
        self.process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        atexit.register(self.stop)  # last resort: never leave the child behind
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise EmbeddedDatabaseError(
                    f"secantusd-py exited with code {self.process.returncode}"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            try:
                client: MongoClient[dict[str, Any]]
                with MongoClient(self.uri, serverSelectionTimeoutMS=500) as client:
                    client.admin.command("ping")
                return
            except PyMongoError as exc:
                last = exc
                time.sleep(0.2)
        self.stop()
        raise EmbeddedDatabaseError(f"embedded database did not answer ping in {timeout}s: {last}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=5)
        self.process = None
        atexit.unregister(self.stop)

    def __enter__(self) -> EmbeddedMongo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
