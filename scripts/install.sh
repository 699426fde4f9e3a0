#!/usr/bin/env bash
# Creates (or updates) the project's virtual environment in .venv with every dependency.
# Idempotent: when .venv already matches pyproject.toml, the constraints and this script, it
# returns in about a second. The first run builds mmcv 2.1.0 from source (about 12 minutes on
# 2 cores); pip keeps the built wheel in its cache, so later fresh installs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${DEGPLUG_VENV:-.venv}"
PY="${PYTHON:-python3.11}"
stamp="$VENV/.degplug-install-stamp"
want="$(cat pyproject.toml requirements/constraints.txt scripts/install.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  echo "degplug environment in $VENV is up to date"
  exit 0
fi
start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip install --disable-pip-version-check -c requirements/constraints.txt)
echo "[1/4] build tools and torch"
"${pip[@]}" "setuptools<81" wheel ninja
"${pip[@]}" torch torchvision "numpy<2"
echo "[2/4] mmcv 2.1.0 with compiled ops (first time: ~12 min; cached afterwards)"
MAX_JOBS="${MAX_JOBS:-2}" MMCV_WITH_OPS=1 "${pip[@]}" --no-build-isolation mmcv
echo "[3/4] basicsr 1.4.2 (needs torch at build time)"
"${pip[@]}" --no-build-isolation basicsr
echo "[4/4] degplug and the rest"
"${pip[@]}" --no-build-isolation -e ".[dev,export]"
"$VENV/bin/python" -c "import degplug, torch, mmcv.ops, mmagic; print('degplug', degplug.__version__, 'torch', torch.__version__)"
echo "$want" > "$stamp"
echo "installed in $(( $(date +%s) - start )) s"
