#!/usr/bin/env bash
# Benchmarks/plots.py with matplotlib from a virtual environment under .cache (installed once); arguments go to it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${CEPD_CACHE:-$root/.cache}/plots-venv"
if ! "$venv/bin/python" -c 'import matplotlib' >/dev/null 2>&1; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check matplotlib==3.10.9
fi
cd "$root"
exec "$venv/bin/python" Benchmarks/plots.py "$@"
