#!/usr/bin/env bash
# Creates (or updates) the project's virtual environment in .venv with every dependency
# (degplug's extras "all,dev"; DEGPLUG_EXTRAS=basicsr installs the core and BasicSR only, with no
# mmcv build; DEGPLUG_EXTRAS=mmagic the core and MMagic; an empty value the core alone).
# Idempotent: when .venv already matches pyproject.toml, the constraints, this script and the
# extras, it returns in about a second. The first run with MMagic builds mmcv 2.1.0 from source
# (about 12 minutes on 2 cores); pip keeps the built wheel in its cache, so later fresh installs reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${DEGPLUG_VENV:-.venv}"
PY="${PYTHON:-python3.11}"
EXTRAS="${DEGPLUG_EXTRAS-all,dev}"
stamp="$VENV/.degplug-install-stamp"
want="$( (cat pyproject.toml requirements/constraints.txt scripts/install.sh; echo "extras=$EXTRAS") | sha256sum | cut -d' ' -f1)"
has_extra() { [[ ",$EXTRAS," == *",$1,"* || ",$EXTRAS," == *",all,"* ]]; }
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
if has_extra mmagic; then
  echo "[2/4] mmcv 2.1.0 with compiled ops (first time: ~12 min; cached afterwards)"
  MAX_JOBS="${MAX_JOBS:-2}" MMCV_WITH_OPS=1 "${pip[@]}" --no-build-isolation mmcv
else
  echo "[2/4] mmcv: skipped (extras '$EXTRAS' do not include mmagic)"
fi
if has_extra basicsr; then
  echo "[3/4] basicsr 1.4.2 (needs torch at build time)"
  "${pip[@]}" --no-build-isolation basicsr
else
  echo "[3/4] basicsr: skipped (extras '$EXTRAS' do not include basicsr)"
fi
echo "[4/4] degplug${EXTRAS:+[$EXTRAS]} and the rest"
"${pip[@]}" --no-build-isolation -e ".${EXTRAS:+[$EXTRAS]}"
check="import degplug, torch"
if has_extra mmagic; then check="$check, mmcv.ops, mmagic"; fi
if has_extra basicsr; then check="$check, basicsr_ext.compat, basicsr"; fi
"$VENV/bin/python" -c "$check; print('degplug', degplug.__version__, 'torch', torch.__version__)"
echo "$want" > "$stamp"
echo "installed in $(( $(date +%s) - start )) s"
