"""The all-in-one restoration table for NDR-Restore (SPEC §2), from a checkpoint and a test folder.

Test folder layout (each part optional, at least one needed)::

    DIR/denoise/            clean images (e.g. CBSD68): rows "denoise σ15/σ25/σ50", noise added
                            with a fixed seed (preset allinone_noise<σ>)
    DIR/<task>/lq, /gt      real pairs (e.g. derain = Rain100L, dehaze = SOTS outdoor); one row
                            per such folder, named after it

Pairs are matched by name, then by a trailing number (Rain100L ``rain-12``/``norain-12``), then by
the part before the first underscore (SOTS ``0001_0.8_0.2``/``0001``); larger clean images are
centre-cropped to the degraded size (SOTS indoor). The protocol (reflect-pad to 8, PSNR/SSIM on
RGB in [0, 1]) is :mod:`degplug.ndr.evaluation`'s.

Checkpoint format (the NDR training adapters did not fix one when this was written, so this is
the proposal, mirroring UDM's): ``{"kind": "degplug.NDRRestoreNet", "version": 1, "config":
{NDRRestoreNet keyword arguments}, "state_dict": ...}``. A plain state dict (or BasicSR's
``{"params": ...}`` / ``{"params_ema": ...}``) also loads when the config is given separately.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch

from degplug.data.paired_folders import match_pairs
from degplug.ndr.evaluation import TaskMetrics, evaluate_task
from degplug.ndr.restore_net import NDRRestoreNet

NDR_CHECKPOINT_KIND = "degplug.NDRRestoreNet"
NDR_CHECKPOINT_VERSION = 1
NOISE_SIGMAS = (15, 25, 50)
_KEY_PATTERNS = (None, r"(\d+)$", r"^([^_]+)")


def ndr_checkpoint_state(net: NDRRestoreNet, config: dict) -> dict:
    """The checkpoint dict for ``net`` built with keyword arguments ``config``."""
    return {
        "kind": NDR_CHECKPOINT_KIND,
        "version": NDR_CHECKPOINT_VERSION,
        "config": dict(config),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }


def load_ndr_restorer(path: str | Path, config: dict | None = None) -> NDRRestoreNet:
    """Load an NDRRestoreNet from ``path`` (see the module docstring for the accepted formats)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NDR checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{path}: cannot read NDR checkpoint: {error}") from error
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a dict checkpoint, found {type(state).__name__}")  # noqa: TRY004 (a bad file is a ValueError)
    if "kind" in state:
        if state["kind"] != NDR_CHECKPOINT_KIND:
            raise ValueError(f"{path}: not an NDR-Restore checkpoint (kind {state['kind']!r}, expected {NDR_CHECKPOINT_KIND!r})")
        if state.get("version") != NDR_CHECKPOINT_VERSION:
            raise ValueError(f"{path}: NDR checkpoint version {state.get('version')}, this degplug reads {NDR_CHECKPOINT_VERSION}")
        config, weights = {**state.get("config", {}), **(config or {})}, state["state_dict"]
    else:
        weights = state.get("params_ema", state.get("params", state))
        if config is None:
            raise ValueError(
                f"{path}: a bare state dict carries no network sizes; pass the NDRRestoreNet config "
                f"(e.g. --ndr-config '{{\"width\": 48}}') or save {{kind: {NDR_CHECKPOINT_KIND!r}, version, config, state_dict}}"
            )
    net = NDRRestoreNet(**config)
    missing, unexpected = net.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})")
    return net.eval()


def _paired_task(folder: Path) -> list[tuple[Path, Path]]:
    last_error: ValueError | None = None
    for pattern in _KEY_PATTERNS:
        try:
            return match_pairs(folder / "lq", folder / "gt", pattern)
        except ValueError as error:
            last_error = error
    raise ValueError(f"{folder}: cannot match lq/ to gt/ by name, trailing number or prefix: {last_error}")


def _paired_batches(pairs: list[tuple[Path, Path]], limit: int | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    from degplug.data.image_io import read_image

    for lq_path, gt_path in pairs[:limit]:
        lq, gt = read_image(lq_path), read_image(gt_path)
        if gt.shape != lq.shape and gt.shape[-2] >= lq.shape[-2] and gt.shape[-1] >= lq.shape[-1]:
            top, left = (gt.shape[-2] - lq.shape[-2]) // 2, (gt.shape[-1] - lq.shape[-1]) // 2
            gt = gt[:, top : top + lq.shape[-2], left : left + lq.shape[-1]]
        yield lq[None], gt[None]


def _noise_batches(folder: Path, sigma: int, seed: int, limit: int | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    from degplug.data.synthetic_pairs import SyntheticPairDataset

    dataset = SyntheticPairDataset(folder, pipeline=f"allinone_noise{sigma}", crop_size=None, seed=seed, phase="val")
    for index in range(len(dataset) if limit is None else min(limit, len(dataset))):
        item = dataset[index]
        yield item["lq"][None], item["gt"][None]


def evaluate_ndr_folder(
    restorer: torch.nn.Module, data: str | Path, seed: int = 0, limit: int | None = None,
    device: torch.device | str = "cpu",
) -> list[TaskMetrics]:
    """One :class:`TaskMetrics` per task found in ``data`` (see the module docstring)."""
    data = Path(data)
    if not data.is_dir():
        raise FileNotFoundError(f"--data {str(data)!r} is not a folder")
    restorer = restorer.to(device)

    def on_device(batches):
        for lq, gt in batches:
            yield lq.to(device), gt.to(device)

    results = []
    if (data / "denoise").is_dir():
        for sigma in NOISE_SIGMAS:
            results.append(evaluate_task(restorer, on_device(_noise_batches(data / "denoise", sigma, seed, limit)),
                                         f"denoise σ{sigma}"))
    for folder in sorted(p for p in data.iterdir() if p.is_dir() and p.name != "denoise"):
        if (folder / "lq").is_dir() and (folder / "gt").is_dir():
            results.append(evaluate_task(restorer, on_device(_paired_batches(_paired_task(folder), limit)), folder.name))
    if not results:
        raise ValueError(f"--data {str(data)!r}: found no 'denoise/' folder of clean images and no '<task>/lq' + '<task>/gt' folders")
    return results
