"""BlindWrapper report (docs/specification.md §4): operator mode and data mode on held-out embedded photographs.

    python benchmarks/report_blind.py [--udm CKPT] [--udm-iterations 200] [--restorer-iterations 150]

1. A demo UDM: loaded from ``--udm`` (e.g. the demo run of options/train/UDM/train_UDM_demo_embedded.yml, trained on the
   ``homogeneous`` preset, which contains this composition) or trained here through
   ``UDMTrainingStep`` (small config, the demo recipe: L1 + rate + contrastive) on the embedded training
   photographs degraded by the composition ``gaussian_blur (σ 0.8–2.5) → gaussian_noise (σ 2–10)``
   (a sub-family of the ``homogeneous`` preset).
2. Operator mode: held-out crops (embedded ``val`` photographs) degraded by that composition;
   PlugAndPlayHQS (Gaussian-denoiser prior, non-learned) with (a) the true blur operator
   (oracle), (b) the identity (naive) and (c) the UDM-estimated operator ``f(x, E(y), n)``.
3. Data mode: a small residual CNN trained for ``--restorer-iterations`` steps on pairs synthesized
   from a latent pool of "real" degraded images (training photographs under one fixed, unknown
   degradation: blur σ 2.0 + noise σ 8) vs the same CNN trained on randomly parameterized
   ``homogeneous``-preset pairs; both evaluated on held-out crops under the pool's degradation.

Prints PSNR/SSIM tables (mean over the held-out crops).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from degplug.blind import BlindWrapper, LatentPoolPairSynthesizer, PlugAndPlayHQS, identity_operator
from degplug.data.embedded import embedded_photo_paths
from degplug.data.image_io import read_image
from degplug.data.transfer_tuples import TransferTupleDataset
from degplug.degradations.blur import GaussianBlur
from degplug.degradations.filtering import filter2d
from degplug.degradations.pipeline import DegradationPipeline
from degplug.eval.metrics import psnr
from degplug.losses.ssim import ssim
from degplug.udm.config import UDMConfig
from degplug.udm.latent_pool import LatentPool
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.training import UDMOptimizers, UDMTrainingOptions, UDMTrainingStep

COMPOSITION = {"ops": [
    {"type": "gaussian_blur", "kernel_size": 13, "sigma_x": [0.8, 2.5], "isotropic_prob": 1.0},
    {"type": "gaussian_noise", "sigma": [2.0, 10.0], "gray_prob": 0.0},
]}
REAL = {"ops": [
    {"type": "gaussian_blur", "kernel_size": 13, "sigma_x": 2.0, "isotropic_prob": 1.0},
    {"type": "gaussian_noise", "sigma": 8.0, "gray_prob": 0.0},
]}


def train_udm(iterations: int, crop: int, batch: int) -> UniversalDegradationModel:
    torch.manual_seed(0)
    model = UniversalDegradationModel(**UDMConfig.small().to_dict())
    options = UDMTrainingOptions.from_dict({
        "dists_pretrained": False, "queue_size": 32,
        "weights": {"similarity": 0.0, "l1": 1.0, "rate_g": 1e-4, "rate_l": 1.0, "contrastive": 1e-4,
                    "color": 0.0, "diversity": 0.0, "gan": 0.0},  # the demo recipe (options/train/UDM/train_UDM_demo_embedded.yml)
    })
    step = UDMTrainingStep(model, options)
    groups = step.parameter_groups()
    main = torch.optim.Adam(groups["main"], lr=2e-3, eps=1e-3)
    aux = torch.optim.Adam(groups["aux"], lr=1e-3)
    data = TransferTupleDataset("embedded:train", COMPOSITION, crop_size=crop, seed=0, repeat=10**6)
    loader = iter(torch.utils.data.DataLoader(data, batch_size=batch, num_workers=0))
    start = time.time()
    step.train()
    for iteration in range(1, iterations + 1):
        items = next(loader)
        log = step.step({k: items[k] for k in ("gt", "lq", "gt_b", "lq_b")}, iteration, UDMOptimizers(main, aux), seed=0, rank=0)
        if iteration % 50 == 0 or iteration == 1:
            print(f"  udm iter {iteration}: loss {log['l_total'].item():.4f} ({time.time() - start:.0f} s)", flush=True)
    return model.eval()


def held_out_crops(size: int, per_image: int) -> torch.Tensor:
    crops = []
    for path in embedded_photo_paths("val"):
        image = read_image(path)
        height, width = image.shape[-2:]
        for k in range(per_image):
            top = (height - size) * (k + 1) // (per_image + 1)
            left = (width - size) * (per_image - k) // (per_image + 1)
            crops.append(image[:, top : top + size, left : left + size])
    return torch.stack(crops)


def scores(restored: torch.Tensor, clean: torch.Tensor) -> tuple[float, float]:
    restored = restored.clamp(0, 1)
    return float(psnr(restored, clean).mean()), float(ssim(restored, clean).mean())


def operator_mode(udm: UniversalDegradationModel, clean: torch.Tensor) -> dict[str, tuple[float, float]]:
    pipeline = DegradationPipeline.from_config(COMPOSITION)
    restorer = PlugAndPlayHQS(iterations=8, data_steps=8, sigma_start=0.08, sigma_end=0.02, noise_level=0.03)
    blind = BlindWrapper(restorer, udm=udm, operator_seeds=(0, 1, 2, 3))
    rows: dict[str, list[tuple[float, float]]] = {"degraded input": [], "naive (identity A)": [], "UDM-estimated A": [], "oracle (true A)": []}
    for index in range(clean.shape[0]):
        x = clean[index : index + 1]
        params = pipeline.sample(seed=1000 + index)
        y = pipeline.apply(x, params)
        blur_params = params.steps[0].params
        true_blur = lambda image, p=blur_params: filter2d(image, GaussianBlur.kernel(p))  # noqa: E731
        rows["degraded input"].append(scores(y, x))
        rows["naive (identity A)"].append(scores(restorer.restore(y, identity_operator), x))
        rows["UDM-estimated A"].append(scores(blind(y), x))
        rows["oracle (true A)"].append(scores(restorer.restore(y, true_blur), x))
    return {name: tuple(sum(v[i] for v in values) / len(values) for i in range(2)) for name, values in rows.items()}


def small_cnn() -> nn.Module:
    torch.manual_seed(0)

    class ResidualCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 3, 3, padding=1))

        def forward(self, x):
            return x + self.body(x)

    return ResidualCNN()


def train_restorer(make_lq, iterations: int, crop: int, batch: int) -> nn.Module:
    net = small_cnn()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    data = TransferTupleDataset("embedded:train", {"ops": []}, crop_size=crop, seed=1, repeat=10**6)
    loader = iter(torch.utils.data.DataLoader(data, batch_size=batch, num_workers=0))
    generator = torch.Generator().manual_seed(7)
    for _ in range(iterations):
        gt = next(loader)["gt"]
        lq = make_lq(gt, generator)
        loss = (net(lq) - gt).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net.eval()


def data_mode(udm: UniversalDegradationModel, clean: torch.Tensor, iterations: int, crop: int, batch: int) -> dict:
    real = DegradationPipeline.from_config(REAL)
    # The user's "real" degraded photographs (training split, so disjoint from the evaluation crops).
    real_images = [real.apply(read_image(p)[None], real.sample(seed=50 + i)) for i, p in enumerate(embedded_photo_paths("train"))]
    pool = LatentPool(
        torch.cat([udm.encode(image).global_vector for image in real_images]),
        [udm.encode(image).local_map[0] for image in real_images],
        [f"real_{i}" for i in range(len(real_images))], udm.config.to_dict(),
    )
    synthesizer = LatentPoolPairSynthesizer(udm, pool=pool)
    random_pipeline = DegradationPipeline.from_config("homogeneous")

    def random_pairs(gt: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return torch.cat([random_pipeline.apply(g[None], random_pipeline.sample(generator)) for g in gt])

    results = {}
    lq = torch.cat([real.apply(clean[i : i + 1], real.sample(seed=2000 + i)) for i in range(clean.shape[0])])
    results["degraded input"] = scores(lq, clean)
    for name, make_lq in (("random synthetic pairs", random_pairs), ("latent-pool pairs (UDM)", synthesizer)):
        net = train_restorer(make_lq, iterations, crop, batch)
        with torch.no_grad():
            results[name] = scores(BlindWrapper(net)(lq), clean)
    return results


def print_table(title: str, rows: dict) -> None:
    print(f"\n{title}\n| method | PSNR (dB) | SSIM |\n|---|---|---|")
    for name, (p, s) in rows.items():
        print(f"| {name} | {p:.2f} | {s:.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--udm", help="UDM checkpoint (default: train a demo UDM here)")
    parser.add_argument("--udm-iterations", type=int, default=200)
    parser.add_argument("--restorer-iterations", type=int, default=150)
    parser.add_argument("--crop", type=int, default=48)
    parser.add_argument("--eval-size", type=int, default=64)
    parser.add_argument("--eval-per-image", type=int, default=4)
    parser.add_argument("--save-udm", help="write the trained UDM checkpoint here")
    parser.add_argument("--modes", nargs="+", choices=("operator", "data"), default=["operator", "data"])
    args = parser.parse_args()
    torch.set_grad_enabled(True)
    if args.udm:
        udm = UniversalDegradationModel.from_checkpoint(args.udm).eval()
        print(f"UDM: {args.udm}")
    else:
        print(f"UDM: small config trained here for {args.udm_iterations} iterations (batch 4, crop {args.crop})")
        udm = train_udm(args.udm_iterations, args.crop, 4)
        if args.save_udm:
            udm.save_checkpoint(args.save_udm)
    udm.requires_grad_(False)
    clean = held_out_crops(args.eval_size, args.eval_per_image)
    print(f"held-out crops: {clean.shape[0]} of {args.eval_size}×{args.eval_size} px from the embedded val photographs")
    start = time.time()
    if "operator" in args.modes:
        print_table("Operator mode: PlugAndPlayHQS (8 HQS iterations × 8 gradient steps, Gaussian-denoiser prior), "
                    "blur σ∈[0.8,2.5] + noise σ∈[2,10]", operator_mode(udm, clean))
        print(f"({time.time() - start:.0f} s)")
    start = time.time()
    if "data" in args.modes:
        print_table(f"Data mode: residual CNN trained {args.restorer_iterations} iterations (batch 4, crop {args.crop}), "
                    "evaluated on the pool's real degradation (blur σ 2 + noise σ 8)",
                    data_mode(udm, clean, args.restorer_iterations, args.crop, 4))
        print(f"({time.time() - start:.0f} s)")


if __name__ == "__main__":
    main()
