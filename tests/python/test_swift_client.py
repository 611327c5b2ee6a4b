"""The Swift client (interop-client) calling a Python grpcio server, and the Swift server."""

import subprocess

import pytest
from conftest import BIN_DIR
from python_test_service import start_server

CASES = [
    "empty_unary",
    "large_unary",
    "client_streaming",
    "server_streaming",
    "ping_pong",
    "empty_stream",
    "status_code_and_message",
    "special_status_message",
    "custom_metadata",
    "unimplemented_method",
    "unimplemented_service",
    "timeout_on_sleeping_server",
    "server_compressed_unary",
    "server_compressed_streaming",
]
# grpcio servers cannot tell a handler whether a request arrived compressed, so the
# compression-probe cases run against the Swift server only.
SWIFT_SERVER_ONLY = ["client_compressed_unary", "client_compressed_streaming"]


@pytest.fixture(scope="module")
def python_server():
    server, port = start_server()
    yield port
    server.stop(grace=None)


def run_client(port, case):
    result = subprocess.run(
        [str(BIN_DIR / "interop-client"), "--server_port", str(port), "--test_case", case],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"PASS {case}" in result.stdout


@pytest.mark.parametrize("case", CASES)
def test_swift_client_against_python_server(python_server, case):
    run_client(python_server, case)


@pytest.mark.parametrize("case", CASES + SWIFT_SERVER_ONLY)
def test_swift_client_against_swift_server(interop_server, case):
    run_client(interop_server.port, case)
