#!/usr/bin/env bash
# The main job on embedded default data: installs (if needed), trains the demo UDM on the
# photographs shipped inside scikit-image/matplotlib through BasicSR's real train pipeline, and
# writes transfer panels (clean | reference degraded | synthesized | true target) to open.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
root="$(pwd)"
mkdir -p outputs/demo
cd outputs/demo
# An earlier demo run is archived by BasicSR (experiments/udm_demo_archived_<time>).
"$root/.venv/bin/basicsr" train -opt "$root/options/udm_demo.yml" "$@"
echo
echo "UDM checkpoint:  outputs/demo/experiments/udm_demo/models/udm_latest.pth"
echo "transfer panels: outputs/demo/experiments/udm_demo/visualization/ (clean | reference degraded | synthesized | target)"
