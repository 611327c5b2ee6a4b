"""No server executable links the full Foundation (libFoundation.so pulls in ICU and costs about
5 MB of idle RSS); FoundationEssentials is allowed. Every executable that links the service
runtime counts as a server, plus interop-server. A failure names the modules whose object files
ask the linker for Foundation (their Swift autolink entries), so the import to replace is found
at once."""

import pathlib
import subprocess

import pytest

from conftest import BIN_DIR

# Libraries that only the full Foundation brings (FoundationEssentials is not among them).
FULL_FOUNDATION = ("libFoundation.so", "libFoundationInternationalization.so", "lib_FoundationICU.so")
# What an object file's autolink entries hold when its module imports one of them.
AUTOLINK_FULL_FOUNDATION = (b"-lFoundation\x00", b"-lFoundationInternationalization\x00")
ALWAYS_SERVERS = ("identity", "catalog", "gateway", "interop-server")


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
    executable = BIN_DIR / product
    assert executable.is_file(), f"{executable} is not built"
    libraries = subprocess.run(["ldd", str(executable)], capture_output=True, text=True, check=True).stdout
    linked = [name for name in FULL_FOUNDATION if name in libraries]
    assert not linked, (
        f"{product} links {', '.join(linked)}; modules asking for Foundation (an import, or a public import they see): "
        f"{', '.join(modules_asking_for_foundation(product)) or 'unknown'} "
        "(import FoundationEssentials or the standard library instead; see docs/service-kit.md, Foundation)"
    )


def test_the_link_check_sees_a_tool_that_imports_foundation():
    """suite-db keeps Foundation (a tool, not a server): the check must see it there, or it proves nothing."""
    libraries = subprocess.run(["ldd", str(BIN_DIR / "suite-db")], capture_output=True, text=True, check=True).stdout
    assert "libFoundation.so" in libraries
    assert modules_asking_for_foundation("suite-db"), "no object file of suite-db asks for Foundation"
