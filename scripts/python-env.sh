#!/usr/bin/env bash
# Creates (once) the Python virtual environment used by the wire-compatibility tests and
# generates Python gRPC stubs from proto/. Prints the venv path.
# Usage: scripts/python-env.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-.build}"
venv="$build_dir/venv"
stamp="$venv/.requirements-installed"
requirements="tests/python/requirements.txt"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" >&2
fi
if [ ! -f "$stamp" ] || ! cmp -s "$requirements" "$stamp"; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  cp "$requirements" "$stamp"
fi

out="$build_dir/python-gen"
rm -rf "$out"
mkdir -p "$out"
mapfile -t protos < <(cd proto && find . -name '*.proto' | sed 's|^\./||' | sort)
"$venv/bin/python" -m grpc_tools.protoc -Iproto --python_out="$out" --grpc_python_out="$out" "${protos[@]}" >&2
# Make the generated packages importable. The top-level grpc/ folder gets no __init__.py: the
# tests append it to the path of grpcio's own `grpc` package (see tests/python/conftest.py).
find "$out" -mindepth 2 -type d -exec touch {}/__init__.py \;
find "$out" -mindepth 1 -maxdepth 1 -type d ! -name grpc -exec touch {}/__init__.py \;
echo "$venv"
