"""suite-db bootstrap against a real throwaway PostgreSQL cluster: idempotent, one
least-privilege role per service schema; suite-db migrate applies, reports and rolls back."""

import os
import pathlib
import shutil
import subprocess

import pytest
from conftest import BIN_DIR, ROOT
from identity_fixtures import free_port, read_secrets

SCRIPT = ROOT / "scripts" / "pg-cluster.sh"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    directory = pathlib.Path(f"/tmp/pg-bootstrap-test-{os.getpid()}")
    shutil.rmtree(directory, ignore_errors=True)
    env = {**os.environ, "PG_FAST": "1"}
    url = subprocess.run(
        ["bash", str(SCRIPT), "start", str(directory), str(free_port())],
        check=True, capture_output=True, text=True, env=env,
    ).stdout.strip().splitlines()[-1]
    yield url, tmp_path_factory.mktemp("secrets") / "db-secrets.env"
    subprocess.run(["bash", str(SCRIPT), "stop", str(directory)], capture_output=True)
    shutil.rmtree(directory, ignore_errors=True)


def suite_db(*args):
    return subprocess.run([str(BIN_DIR / "suite-db"), *args], capture_output=True, text=True, timeout=60)


def psql(url, sql):
    return subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-Atc", sql], capture_output=True, text=True)


secrets = read_secrets


@pytest.fixture(scope="module")
def bootstrapped(cluster):
    url, secrets_file = cluster
    first = suite_db("bootstrap", "--database-url", url, "--secrets-file", str(secrets_file))
    assert first.returncode == 0, first.stderr
    return url, secrets(secrets_file), secrets_file


def test_bootstrap_is_idempotent_and_keeps_passwords(bootstrapped, cluster):
    url, values, secrets_file = bootstrapped
    second = suite_db("bootstrap", "--database-url", url, "--secrets-file", str(secrets_file))
    assert second.returncode == 0, second.stderr
    assert secrets(secrets_file) == values
    assert oct(secrets_file.stat().st_mode & 0o777) == "0o600"
    for password_key in [k for k in values if k.endswith("_DB_PASSWORD")]:
        assert values[password_key] not in second.stderr + second.stdout


def test_each_role_works_only_in_its_own_schema(bootstrapped):
    _, values, _ = bootstrapped
    identity = values["IDENTITY_DATABASE_URL"]
    catalog = values["CATALOG_DATABASE_URL"]
    created = psql(identity, "CREATE TABLE IF NOT EXISTS users (id int); SELECT current_schema();")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip().endswith("identity")
    assert "permission denied" in psql(catalog, "SELECT * FROM identity.users").stderr
    assert "permission denied" in psql(identity, "CREATE TABLE catalog.x (a int)").stderr
    assert "permission denied" in psql(identity, "CREATE SCHEMA evil").stderr
    assert "permission denied" in psql(identity, "CREATE TABLE public.p (a int)").stderr


def test_migrate_applies_reports_and_rolls_back(bootstrapped, tmp_path):
    _, values, _ = bootstrapped
    url = values["ORDERS_DATABASE_URL"]
    (tmp_path / "0001_create_orders.up.sql").write_text("CREATE TABLE orders.orders (id bigint PRIMARY KEY);")
    (tmp_path / "0001_create_orders.down.sql").write_text("DROP TABLE orders.orders;")
    (tmp_path / "0002_add_total.up.sql").write_text("ALTER TABLE orders.orders ADD COLUMN total numeric NOT NULL DEFAULT 0;")
    (tmp_path / "0002_add_total.down.sql").write_text("ALTER TABLE orders.orders DROP COLUMN total;")
    common = ["--database-url", url, "--service", "orders", "--dir", str(tmp_path)]
    applied = suite_db("migrate", "up", *common)
    assert "Applied 1, 2 to schema orders" in applied.stdout, applied.stderr
    assert "up to date at version 2" in suite_db("migrate", "up", *common).stdout
    status = suite_db("migrate", "status", *common).stdout
    assert "current version 2" in status
    assert "Rolled back 2 (add_total)" in suite_db("migrate", "down", *common).stdout
    assert "current version 1" in suite_db("migrate", "status", *common).stdout


def test_migrate_without_dir_says_what_exists(bootstrapped):
    _, values, _ = bootstrapped
    result = suite_db("migrate", "status", "--service", "monitoring", "--database-url", values["MONITORING_DATABASE_URL"])
    assert result.returncode != 0
    assert "No migrations are compiled in for service 'monitoring'" in result.stderr
    assert "--dir" in result.stderr


def test_compiled_in_service_migrations_apply_and_report(bootstrapped):
    _, values, _ = bootstrapped
    common = ["--service", "catalog", "--database-url", values["CATALOG_DATABASE_URL"]]
    applied = suite_db("migrate", "up", *common)
    assert applied.returncode == 0, applied.stderr
    status = suite_db("migrate", "status", *common)
    assert status.returncode == 0, status.stderr
    rows = [line.split() for line in status.stdout.splitlines()[2:] if line.strip()]
    versions = [int(row[0]) for row in rows]
    # Every compiled-in migration is listed, in order, and applied; the current
    # version is the newest of them (not a number this test would have to track).
    assert versions == list(range(1, len(versions) + 1)), status.stdout
    assert len(versions) >= 5, status.stdout
    assert all(row[1] == "applied" for row in rows), status.stdout
    assert f"current version {versions[-1]}" in status.stdout
    again = suite_db("migrate", "up", *common)
    assert again.returncode == 0, again.stderr
    assert suite_db("migrate", "status", *common).stdout.splitlines()[0] == status.stdout.splitlines()[0]


def test_the_service_folder_and_the_compiled_in_set_are_the_same_migrations(bootstrapped):
    _, values, _ = bootstrapped
    common = ["--service", "catalog", "--database-url", values["CATALOG_DATABASE_URL"]]
    applied = suite_db("migrate", "up", *common)
    assert applied.returncode == 0, applied.stderr
    # Read from the SQL files instead, every migration the binary applied is "applied" (same
    # checksum), none "modified" or "pending".
    folder = ROOT / "Sources" / "CatalogSchema" / "migrations"
    status = suite_db("migrate", "status", *common, "--dir", str(folder))
    assert status.returncode == 0, status.stderr
    rows = [line.split() for line in status.stdout.splitlines()[2:] if line.strip()]
    assert len(rows) == len(list(folder.glob("*.up.sql"))) >= 5, status.stdout
    assert all(row[1] == "applied" for row in rows), status.stdout
