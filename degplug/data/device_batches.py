"""``degrade_on: device``: the training step degrades the collated batch of clean regions on its device.

A dataset built with ``degrade_on='device'`` (:class:`~degplug.data.synthetic_pairs.SyntheticPairDataset`,
:class:`~degplug.data.transfer_tuples.TransferTupleDataset`) returns the clean crop ``gt``, the
clean region ``gt_region`` around it with the crop's ``window`` (and ``positive_window``), and the
sampled ``params`` (JSON text, one record per image, sampled exactly as the CPU path samples them);
transfer tuples add ``gt_b_region``/``window_b``/``params_b``. :func:`degrade_batch` turns such a
batch into the one the CPU path would have produced (``lq``, ``lq_b``, ``lq_pos`` next to ``gt``
and ``gt_b``): every region is degraded by :func:`degplug.degradations.device.apply_records` and
cropped at its windows, as the dataset crops its degraded region on the CPU. BasicSR's models call
it in ``feed_data``, MMagic's ``UDMDataPreprocessor`` in ``forward``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from degplug.degradations.device import apply_records

#: keys a ``degrade_on: device`` dataset adds in place of ``lq`` / ``lq_b`` / ``lq_pos``
REGION_KEYS = ("gt_region", "window", "positive_window", "gt_b_region", "window_b")


def is_device_batch(batch: Mapping[str, Any]) -> bool:
    """True for a batch (or item) from a ``degrade_on: device`` dataset, still to be degraded."""
    return "gt_region" in batch


def _windows(value: Any, count: int, key: str) -> list[tuple[int, int, int, int]]:
    windows = [tuple(int(v) for v in row) for row in (value.tolist() if isinstance(value, torch.Tensor) else value)]
    if len(windows) != count or any(len(w) != 4 for w in windows):
        raise ValueError(f"degrade_on: device: {key!r} must hold one (top, left, height, width) per image, got {windows!r}")
    return windows


def _crop(image: torch.Tensor, window: tuple[int, int, int, int]) -> torch.Tensor:
    top, left, height, width = window
    return image[..., top : top + height, left : left + width]


def _records(value: Any, count: int, key: str) -> list:
    records = [value] if isinstance(value, str) else list(value)
    if len(records) != count:
        raise ValueError(f"degrade_on: device: {count} images but {len(records)} {key!r} records")
    return records


def _stack(images: Sequence[torch.Tensor], key: str) -> torch.Tensor:
    sizes = sorted({tuple(image.shape[-2:]) for image in images})
    if len(sizes) > 1:
        raise ValueError(
            f"degrade_on: device: the degraded {key!r} crops of a batch differ in size {sizes}; "
            "a pipeline that resizes must end with resize_back"
        )
    return torch.cat(list(images)).contiguous()


def degrade_regions(
    regions: torch.Tensor,
    records: Sequence[Any],
    windows: Sequence[tuple[int, int, int, int]],
    positive_windows: Sequence[tuple[int, int, int, int]] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``(lq, lq_pos)``: each region degraded with its record, then cropped at its windows.

    A record whose result has another size than its region (a resize without ``resize_back``) is
    applied to the crops themselves, as the CPU path does.
    """
    degraded = apply_records(regions, records)
    lq: list[torch.Tensor | None] = [None] * len(degraded)
    positives: list[torch.Tensor | None] = [None] * len(degraded)
    resized = []
    for i, image in enumerate(degraded):
        if image.shape[-2:] == regions.shape[-2:]:
            lq[i] = _crop(image, windows[i])
            if positive_windows is not None:
                positives[i] = _crop(image, positive_windows[i])
        else:
            resized.append(i)
    if resized:
        crops = [_crop(regions[i : i + 1], windows[i]) for i in resized]
        for i, image in zip(resized, apply_records(crops, [records[i] for i in resized]), strict=True):
            lq[i] = image
        if positive_windows is not None:
            crops = [_crop(regions[i : i + 1], positive_windows[i]) for i in resized]
            for i, image in zip(resized, apply_records(crops, [records[i] for i in resized]), strict=True):
                positives[i] = image
    return _stack(lq, "lq"), (_stack(positives, "lq_pos") if positive_windows is not None else None)


def degrade_batch(batch: Mapping[str, Any], device: torch.device | str | None = None) -> dict[str, Any]:
    """A collated ``degrade_on: device`` batch with ``lq`` (``lq_b``, ``lq_pos``) made on ``device``.

    ``device``: where to degrade (default: where ``gt_region`` is). Tensors are moved there; the
    region and window keys are dropped; every other entry (paths, ``params``) is kept. A batch that
    is not a device batch is returned as it is (validation sets degraded on the CPU).
    """
    if not is_device_batch(batch):
        return dict(batch)
    regions = batch["gt_region"]
    if not isinstance(regions, torch.Tensor) or regions.dim() != 4:
        raise ValueError(f"degrade_on: device: 'gt_region' must be an N×3×H×W batch, got {type(regions).__name__}")
    device = regions.device if device is None else torch.device(device)
    out = {key: (value.to(device) if isinstance(value, torch.Tensor) else value)
           for key, value in batch.items() if key not in REGION_KEYS}
    count = regions.shape[0]
    if "params" not in batch or "window" not in batch:
        raise ValueError("degrade_on: device: the batch needs 'params' and 'window' next to 'gt_region'")
    positive = _windows(batch["positive_window"], count, "positive_window") if "positive_window" in batch else None
    out["lq"], lq_pos = degrade_regions(
        regions.to(device).float(), _records(batch["params"], count, "params"), _windows(batch["window"], count, "window"), positive
    )
    if lq_pos is not None:
        out["lq_pos"] = lq_pos
    if "gt_b_region" in batch:
        if "params_b" not in batch:
            raise ValueError("degrade_on: device: 'gt_b_region' needs 'params_b'")
        windows_b = _windows(batch.get("window_b", batch["window"]), count, "window_b")
        out["lq_b"], _ = degrade_regions(
            batch["gt_b_region"].to(device).float(), _records(batch["params_b"], count, "params_b"), windows_b
        )
    return out
