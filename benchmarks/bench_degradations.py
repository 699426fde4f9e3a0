"""Degradation throughput on the CPU: degplug's pipeline vs the same chain from basicsr.data.degradations.

The chain (Real-ESRGAN style first order, what both libraries implement):
  Gaussian blur (iso/aniso 50/50, kernel 7–21, σ 0.2–3, any rotation) → resize ×[0.3, 1]
  (area/bilinear/bicubic) → noise (Gaussian σ 1–30 or Poisson, 50/50, 40% gray) → JPEG q 30–95
  → resize back to the crop size.
Each side turns 256×256 RGB float crops (already in memory) into degraded crops, one thread
(torch and OpenCV limited to one), so the figure is pairs per second per core. Run:

    .venv/bin/python benchmarks/bench_degradations.py [--pairs 300] [--crop 256]
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from degplug.data.embedded import embedded_photo_paths  # noqa: E402
from degplug.data.image_io import read_image  # noqa: E402
from degplug.degradations import DegradationPipeline  # noqa: E402

CHAIN = {
    "name": "bench_first_order",
    "ops": [
        {"type": "gaussian_blur", "kernel_size": [7, 21], "sigma_x": [0.2, 3.0], "sigma_y": [0.2, 3.0], "isotropic_prob": 0.5},
        {"type": "resize", "scale": [0.3, 1.0], "interpolation": ["area", "bilinear", "bicubic"]},
        {
            "one_of": [
                {"type": "gaussian_noise", "sigma": [1.0, 30.0], "gray_prob": 0.4},
                # BasicSR's Poisson scale s in [0.05, 3] on 8-bit images is peak = 256 / s² in [28, 102400]
                {"type": "poisson_noise", "peak": {"log_uniform": [28.0, 102400.0]}, "gray_prob": 0.4},
            ]
        },
        {"type": "jpeg", "quality": [30, 95]},
        {"type": "resize_back", "interpolation": ["area", "bilinear", "bicubic"]},
    ],
}


def load_crops(count: int, crop: int, seed: int) -> list[torch.Tensor]:
    images = [read_image(path) for path in embedded_photo_paths("all")]
    images = [image for image in images if min(image.shape[-2:]) >= crop]
    generator = torch.Generator().manual_seed(seed)
    crops = []
    for index in range(count):
        image = images[index % len(images)]
        top = int(torch.randint(image.shape[-2] - crop + 1, (), generator=generator))
        left = int(torch.randint(image.shape[-1] - crop + 1, (), generator=generator))
        crops.append(image[:, top : top + crop, left : left + crop].contiguous())
    return crops


def run_degplug(crops: list[torch.Tensor], seed: int) -> float:
    pipeline = DegradationPipeline.from_config(CHAIN)
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for crop in crops:
        degraded, _ = pipeline(crop, generator=generator)
    elapsed = time.perf_counter() - start
    assert degraded.shape == crops[-1].shape
    return len(crops) / elapsed


def basicsr_chain():
    try:
        import basicsr_ext.compat  # noqa: F401  (aliases torchvision.transforms.functional_tensor)
    except ImportError:
        # basicsr 1.4.2 imports a module torchvision removed in 0.17: alias it to its successor
        import torchvision.transforms.functional as functional

        sys.modules.setdefault("torchvision.transforms.functional_tensor", functional)
    from basicsr.data import degradations

    interpolations = [cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC]

    def degrade(image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        kernel_size = random.choice(range(7, 22, 2))
        kernel = degradations.random_mixed_kernels(
            ["iso", "aniso"], [0.5, 0.5], kernel_size, (0.2, 3.0), (0.2, 3.0), (-math.pi, math.pi), noise_range=None
        )
        out = cv2.filter2D(image, -1, kernel)
        scale = np.random.uniform(0.3, 1.0)
        out = cv2.resize(out, (max(1, int(width * scale)), max(1, int(height * scale))), interpolation=random.choice(interpolations))
        if np.random.uniform() < 0.5:
            out = degradations.random_add_gaussian_noise(out, sigma_range=(1, 30), gray_prob=0.4)
        else:
            out = degradations.random_add_poisson_noise(out, scale_range=(0.05, 3), gray_prob=0.4)
        # basicsr's random_add_jpg_compression passes a float quality, which OpenCV >= 4.x rejects.
        out = degradations.add_jpg_compression(out, quality=int(np.random.uniform(30, 95)))
        return cv2.resize(out, (width, height), interpolation=random.choice(interpolations))

    return degrade


def run_basicsr(crops: list[torch.Tensor], seed: int) -> float:
    degrade = basicsr_chain()
    random.seed(seed)
    np.random.seed(seed)
    arrays = [np.ascontiguousarray(crop.numpy().transpose(1, 2, 0)[:, :, ::-1]) for crop in crops]  # BGR HWC
    start = time.perf_counter()
    for array in arrays:
        degraded = degrade(array)
    elapsed = time.perf_counter() - start
    assert degraded.shape == arrays[-1].shape
    return len(arrays) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--crop", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="alternating timed rounds; the best of each side is reported")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    crops = load_crops(args.pairs, args.crop, args.seed)
    run_degplug(crops[:10], args.seed)  # warm-up
    try:
        run_basicsr(crops[:10], args.seed)
        have_basicsr = True
    except ImportError as error:
        print(f"basicsr not importable ({error}); only degplug is measured")
        have_basicsr = False
    ours, theirs = [], []
    for round_index in range(args.repeats):
        ours.append(run_degplug(crops, args.seed + round_index))
        if have_basicsr:
            theirs.append(run_basicsr(crops, args.seed + round_index))
    print(f"chain: blur → resize → Gaussian/Poisson noise → JPEG → resize back, {args.crop}×{args.crop} RGB, 1 thread")
    print(f"degplug pipeline : {max(ours):7.1f} pairs/s/core   (rounds: {', '.join(f'{v:.1f}' for v in ours)})")
    if have_basicsr:
        print(f"basicsr functions: {max(theirs):7.1f} pairs/s/core   (rounds: {', '.join(f'{v:.1f}' for v in theirs)})")
        print(f"speed-up         : {max(ours) / max(theirs):7.2f}×  (target ≥ 1.5×)")
    realistic = DegradationPipeline.from_config("realistic")
    generator = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    for crop in crops:
        realistic(crop, generator=generator)
    print(f"degplug 'realistic' preset (full chain incl. inhomogeneous ops): {len(crops) / (time.perf_counter() - start):.1f} pairs/s/core")
    return 0


if __name__ == "__main__":
    sys.exit(main())
