"""Options every UDM verb shares (``--ckpt``, ``--device``, ``--max-pixels``, ``--no-progress``) and model loading."""

from __future__ import annotations

import argparse

import torch

from degplug.udm.model import UniversalDegradationModel

#: The UDM runs on the whole image (no tiling), so memory grows with the pixel count. Measured for a
#: transfer on the CPU (peak resident memory above the loaded process): the paper-size UDM ~3.0 kB
#: per pixel (0.77 GB at 512²), UDMConfig.small() ~0.85 kB per pixel (0.89 GB at 1024²). 2048² is
#: then ~12 GB for the paper-size model, which a 24 GB machine holds; 4096² would need ~50 GB.
DEFAULT_MAX_PIXELS = 2048 * 2048


def add_udm_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ckpt", required=True, help="UDM checkpoint written by UniversalDegradationModel.save_checkpoint or training, or the shipped model's name: small")
    parser.add_argument("--device", choices=("cpu", "cuda"), default=None, help="where to run (default: cuda if available, else cpu)")
    parser.add_argument(
        "--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
        help=f"refuse images with more than N pixels (default {DEFAULT_MAX_PIXELS} = 2048², about 12 GB of memory "
             "for the paper-size UDM; 0: no limit)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def max_pixels(args: argparse.Namespace) -> int | None:
    """``--max-pixels`` as a limit (None: no limit); ValueError for a negative value."""
    value = getattr(args, "max_pixels", DEFAULT_MAX_PIXELS)
    if value is None or value == 0:
        return None
    if value < 0:
        raise ValueError(f"--max-pixels must be ≥ 0 (0: no limit), got {value}")
    return int(value)


def resolve_device(name: str | None) -> torch.device:
    """``None`` → cuda if available else cpu; ``"cuda"`` without a GPU → ValueError."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available (torch.cuda.is_available() is False); use --device cpu")
    return torch.device(name)


def load_udm(args: argparse.Namespace) -> tuple[UniversalDegradationModel, torch.device]:
    """The model of ``--ckpt`` in eval mode on ``--device``, and that device."""
    device = resolve_device(args.device)
    model = UniversalDegradationModel.from_checkpoint(args.ckpt, map_location="cpu")
    return model.to(device).eval(), device
