"""A throwaway PostgreSQL cluster, bootstrapped, with the real `identity` executable on it."""

import base64
import os
import pathlib
import random
import shutil
import socket
import subprocess

import grpc
import pytest
from conftest import BIN_DIR, ROOT, ServerProcess

SCRIPT = ROOT / "scripts" / "pg-cluster.sh"


def free_port():
    """A loopback port free now, chosen at random below Linux's ephemeral range (32768-60999):
    no outgoing connection can take it before the server that is handed it binds it."""
    for _ in range(64):
        candidate = random.randrange(20000, 32768)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return candidate
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_secrets(path):
    values = {}
    for line in path.read_text().splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1].replace("'\\''", "'")
        values[key] = value
    return values


class Suite:
    """The cluster's admin URL and the per-service URLs from `suite-db bootstrap`."""

    def __init__(self, directory, admin_url, secrets):
        self.directory = directory
        self.admin_url = admin_url
        self.secrets = secrets

    def psql(self, sql):
        """Runs SQL as the cluster's superuser in the suite database."""
        url = self.admin_url.rsplit("/", 1)[0] + "/suite"
        return subprocess.run(
            ["psql", url, "-v", "ON_ERROR_STOP=1", "-Atc", sql], capture_output=True, text=True, check=True
        ).stdout.strip()


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    directory = pathlib.Path(f"/tmp/pg-suite-test-{os.getpid()}-{free_port()}")
    shutil.rmtree(directory, ignore_errors=True)
    env = {**os.environ, "PG_FAST": "1"}
    url = subprocess.run(
        ["bash", str(SCRIPT), "start", str(directory), str(free_port())],
        check=True, capture_output=True, text=True, env=env,
    ).stdout.strip().splitlines()[-1]
    secrets_file = tmp_path_factory.mktemp("secrets") / "db-secrets.env"
    subprocess.run(
        [str(BIN_DIR / "suite-db"), "bootstrap", "--database-url", url, "--secrets-file", str(secrets_file)],
        check=True, capture_output=True, text=True, timeout=60,
    )
    yield Suite(directory, url, read_secrets(secrets_file))
    subprocess.run(["bash", str(SCRIPT), "stop", str(directory)], capture_output=True)
    shutil.rmtree(directory, ignore_errors=True)


# Seals the signing-key seeds at rest, as `make run` does.
SEED_KEY = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def identity_env(suite):
    return {"DATABASE_URL": suite.secrets["IDENTITY_DATABASE_URL"], "IDENTITY_SEED_KEY": SEED_KEY}


def bootstrap_identity(suite, tenant="Acme", email="ops@acme.test"):
    result = subprocess.run(
        [str(BIN_DIR / "identity"), "bootstrap", "--tenant-name", tenant, "--admin-email", email],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, **identity_env(suite)},
    )
    return result


@pytest.fixture(scope="module")
def identity(suite):
    """The identity server and the first tenant's platform-operator admin credentials."""
    first = bootstrap_identity(suite)
    assert first.returncode == 0, first.stderr
    values = dict(line.split("=", 1) for line in first.stdout.strip().splitlines())
    server = ServerProcess("identity", env=identity_env(suite))
    server.bootstrap = values
    yield server
    assert server.alive(), "identity died during the tests:\n" + "".join(server.log_lines[-50:])
    assert server.stop() == 0


@pytest.fixture(scope="module")
def channel(identity):
    with grpc.insecure_channel(f"127.0.0.1:{identity.port}") as channel:
        yield channel
