#!/usr/bin/env bash
# The main job on embedded default data: installs (if needed), then
# 1. shows what the shipped small UDM (degplug/models/udm_small.pth, `--ckpt small`) does on the
#    held-out photographs: labelled transfer panels (clean | reference | synthesized | target) and
#    its fidelity table (benchmarks/udm_fidelity.py, 8 held-out pairs per degradation);
# 2. trains the demo UDM on the photographs shipped inside scikit-image/matplotlib through
#    BasicSR's real train pipeline, and writes its transfer panels, for a user who wants to watch
#    training (the shipped model's own recipe is options/train/UDM/train_UDM_small_embedded.yml, about 45 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
root="$(pwd)"
mkdir -p outputs/shipped_udm outputs/demo
echo "== 1. the shipped small UDM: transfer panels and fidelity table (held-out photographs)"
"$root/.venv/bin/python" scripts/show_shipped_udm.py --ckpt small --size 192 --out outputs/shipped_udm
"$root/.venv/bin/python" benchmarks/udm_fidelity.py --ckpt small --pairs 8 --metrics psnr ssim ms_ssim \
  --no-sweep --out outputs/shipped_udm
echo
echo "== 2. training the demo UDM (options/train/UDM/train_UDM_demo_embedded.yml)"
cd outputs/demo
# An earlier demo run is archived by BasicSR (experiments/udm_demo_archived_<time>).
"$root/.venv/bin/basicsr" train -opt "$root/options/train/UDM/train_UDM_demo_embedded.yml" "$@"
echo
echo "shipped UDM panels: outputs/shipped_udm/transfer_panels.png; fidelity table: outputs/shipped_udm/fidelity.md"
echo "UDM checkpoint:  outputs/demo/experiments/udm_demo/models/udm_latest.pth"
echo "transfer panels: outputs/demo/experiments/udm_demo/visualization/ (clean | reference degraded | synthesized | target)"
