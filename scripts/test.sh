#!/usr/bin/env bash
# Installs (if needed), lints (ruff; a finding fails the run) and runs the whole test suite: fast
# unit tests, then integration tests that train through BasicSR's and MMagic's real entry points.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
echo "ruff check (rules: pyproject.toml [tool.ruff])"
.venv/bin/ruff check .
.venv/bin/python -m pytest tests/unit tests/integration -q -p no:cacheprovider "$@"
