#!/usr/bin/env bash
# Installs (if needed), lints (ruff; a finding fails the run) and runs the whole test suite: fast
# core tests (tests/core, no framework needed) and the adapters' and cross-framework tests that
# train through BasicSR's and MMagic's real entry points (tests/basicsr_ext, tests/mmagic_ext, tests/integration).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
echo "ruff check (rules: pyproject.toml [tool.ruff])"
.venv/bin/ruff check .
.venv/bin/python -m pytest tests -q -p no:cacheprovider "$@"
