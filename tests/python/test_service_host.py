"""The service host as a process supervisor sees it: start-up errors are one line printed before
any port opens, and SIGINT drains and exits 0 like SIGTERM."""

import os
import signal
import subprocess
import time

from catalog_tokens import TokenMinter
from conftest import BIN_DIR, ServerProcess
from identity_fixtures import free_port

MINTER = TokenMinter()


def run_catalog(env, timeout=30):
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "IDENTITY_ADDRESS", "AUTH_PUBLIC_KEYS")}
    return subprocess.run([str(BIN_DIR / "catalog"), "--port", "0"], capture_output=True, text=True, timeout=timeout,
                          env={**clean, **env})


def test_a_missing_database_url_is_one_line_and_no_server_starts():
    result = run_catalog({"AUTH_PUBLIC_KEYS": MINTER.public_keys})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0] and "catalog role" in lines[0]
    assert "server.address" not in result.stderr


def test_an_unreachable_database_fails_start_up_before_the_port_opens():
    url = f"postgresql://catalog@127.0.0.1:{free_port()}/suite"
    result = run_catalog({"AUTH_PUBLIC_KEYS": MINTER.public_keys, "DATABASE_URL": url})
    assert result.returncode != 0
    assert "Cannot prepare the catalog schema" in result.stderr
    assert "server.address" not in result.stderr


def test_an_address_in_use_is_one_line_naming_it():
    first = ServerProcess("interop-server")
    try:
        result = subprocess.run([str(BIN_DIR / "interop-server"), "--listen", f"127.0.0.1:{first.port}"],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode != 0
        assert f"Cannot listen on 127.0.0.1:{first.port}: address already in use" in result.stderr
    finally:
        assert first.stop() == 0


def test_sigint_drains_and_exits_zero_naming_the_signal():
    server = ServerProcess("interop-server")
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(timeout=10) == 0
    deadline = time.monotonic() + 5  # the fixture's reader thread may still be taking the last lines
    while not any("interop-server stopped" in line for line in server.log_lines) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert any('"signal":"SIGINT"' in line and "stopping" in line for line in server.log_lines)
    assert any("interop-server stopped" in line for line in server.log_lines)
