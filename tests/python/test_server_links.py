"""No server executable links the full Foundation (libFoundation.so pulls in ICU and costs about
5 MB of idle RSS); FoundationEssentials is allowed. Every executable that links the service
runtime counts as a server, plus interop-server. A failure names the modules whose object files
ask the linker for Foundation (their Swift autolink entries), so the import to replace is found
at once.

A server that declares no database (interop-server, gateway) does not link libpq either (with
the libraries only it needs, OpenSSL, GnuTLS, Kerberos and LDAP, about 5 MB of idle RSS): the
database part of the host lives in DatabaseRuntime, linked only by servers that have one. A
failure names the modules of the executable that pull Postgres in (their link file list)."""

import pathlib
import subprocess

import pytest

from conftest import BIN_DIR

# Libraries that only the full Foundation brings (FoundationEssentials is not among them).
FULL_FOUNDATION = ("libFoundation.so", "libFoundationInternationalization.so", "lib_FoundationICU.so")
# What an object file's autolink entries hold when its module imports one of them.
AUTOLINK_FULL_FOUNDATION = (b"-lFoundation\x00", b"-lFoundationInternationalization\x00")
ALWAYS_SERVERS = ("identity", "catalog", "gateway", "interop-server")
# Servers that declare no database, and two that do (the check must see libpq there).
SERVERS_WITHOUT_DATABASE = ("gateway", "interop-server")
SERVERS_WITH_DATABASE = ("identity", "catalog")
# The modules that are, or bring in, the PostgreSQL client.
DATABASE_MODULES = ("Postgres", "CLibPQ", "Migrations", "DatabaseRuntime", "PostgresRPC")


def linked_objects(product):
    """The object files SwiftPM linked into `product` (its link file list)."""
    file_list = BIN_DIR / f"{product}.product" / "Objects.LinkFileList"
    return [pathlib.Path(line.strip().strip("'\"")) for line in file_list.read_text().splitlines() if line.strip()]


def module_of(object_file):
    return object_file.parent.name.removesuffix(".build")


def server_products():
    found = set(ALWAYS_SERVERS)
    for file_list in BIN_DIR.glob("*.product/Objects.LinkFileList"):
        product = file_list.parent.name.removesuffix(".product")
        if (BIN_DIR / product).is_file() and any(module_of(o) == "ServiceRuntime" for o in linked_objects(product)):
            found.add(product)
    return sorted(found)


def modules_asking_for_foundation(product):
    modules = set()
    for object_file in linked_objects(product):
        if object_file.suffix == ".o" and object_file.is_file():
            data = object_file.read_bytes()
            if any(entry in data for entry in AUTOLINK_FULL_FOUNDATION):
                modules.add(module_of(object_file))
    return sorted(modules)


@pytest.mark.parametrize("product", server_products())
def test_a_server_executable_does_not_link_the_full_foundation(product):
    libraries = linked_libraries(product)
    linked = [name for name in FULL_FOUNDATION if name in libraries]
    assert not linked, (
        f"{product} links {', '.join(linked)}; modules asking for Foundation (an import, or a public import they see): "
        f"{', '.join(modules_asking_for_foundation(product)) or 'unknown'} "
        "(import FoundationEssentials or the standard library instead; see docs/service-kit.md, Foundation). "
        "If no source imports Foundation any more, the objects are stale: an incremental build keeps a "
        "file's autolink entries until that file recompiles; remove the named modules' .build folders"
    )


def test_the_link_check_sees_a_tool_that_imports_foundation():
    """suite-db keeps Foundation (a tool, not a server): the check must see it there, or it proves nothing."""
    libraries = subprocess.run(["ldd", str(BIN_DIR / "suite-db")], capture_output=True, text=True, check=True).stdout
    assert "libFoundation.so" in libraries
    assert modules_asking_for_foundation("suite-db"), "no object file of suite-db asks for Foundation"


def linked_libraries(product):
    executable = BIN_DIR / product
    assert executable.is_file(), f"{executable} is not built"
    return subprocess.run(["ldd", str(executable)], capture_output=True, text=True, check=True).stdout


def database_modules_linked(product):
    """The modules linked into `product` that are, or pull in, the PostgreSQL client."""
    return sorted({module_of(o) for o in linked_objects(product)} & set(DATABASE_MODULES))


@pytest.mark.parametrize("product", SERVERS_WITHOUT_DATABASE)
def test_a_server_without_a_database_does_not_link_libpq(product):
    libraries = linked_libraries(product)
    assert "libpq.so" not in libraries, (
        f"{product} declares no database but links libpq; modules that pull Postgres in: "
        f"{', '.join(database_modules_linked(product)) or 'unknown'} "
        "(only DatabaseRuntime and what a service with a database links may depend on Postgres; "
        "see docs/service-kit.md, modules)"
    )
    assert not database_modules_linked(product), f"{product} links {', '.join(database_modules_linked(product))}"


@pytest.mark.parametrize("product", SERVERS_WITH_DATABASE)
def test_the_libpq_check_sees_a_server_with_a_database(product):
    """identity and catalog link libpq through DatabaseRuntime: the check must see it there, or it proves nothing."""
    assert "libpq.so" in linked_libraries(product)
    assert "Postgres" in database_modules_linked(product)
