"""Shared fixtures: the Swift executables, started as real processes on loopback."""

import json
import os
import pathlib
import subprocess
import sys
import threading

import grpc
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
GEN = pathlib.Path(os.environ.get("PYTHON_GEN_DIR", ROOT / ".build" / "python-gen"))
sys.path.insert(0, str(GEN))
# Our generated grpc.testing / grpc.health packages live next to grpcio's own `grpc` package.
grpc.__path__.append(str(GEN / "grpc"))

BIN_DIR = pathlib.Path(os.environ.get("SWIFT_BIN_DIR", ROOT / ".build" / "debug"))


class ServerProcess:
    """A Swift server executable started with --port 0; learns its port from the ready line."""

    def __init__(self, executable, *args, env=None):
        self.log_lines = []
        self.process = subprocess.Popen(
            [str(BIN_DIR / executable), "--port", "0", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.address = None
        for line in self.process.stderr:
            self.log_lines.append(line)
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "server.address" in event:
                self.address = event["server.address"]
                break
        if self.address is None:
            self.process.kill()
            raise RuntimeError("server did not report ready:\n" + "".join(self.log_lines))
        self.port = int(self.address.rsplit(":", 1)[1])
        # Keep draining stderr so the server never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.process.stderr:
            self.log_lines.append(line)

    def alive(self):
        return self.process.poll() is None

    def stop(self, timeout=20):
        """SIGTERM, then the exit status; `timeout` exceeds the servers' default drain (10 s)."""
        if self.alive():
            self.process.terminate()
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                raise
        return self.process.returncode


@pytest.fixture(scope="session")
def interop_server():
    server = ServerProcess("interop-server")
    yield server
    assert server.alive(), "interop-server died during the tests:\n" + "".join(server.log_lines[-50:])
    assert server.stop() == 0


@pytest.fixture()
def channel(interop_server):
    with grpc.insecure_channel(f"127.0.0.1:{interop_server.port}") as channel:
        yield channel


@pytest.fixture()
def stub(channel):
    from grpc.testing import test_pb2_grpc

    return test_pb2_grpc.TestServiceStub(channel)
