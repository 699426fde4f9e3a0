"""degplug's framework-free datasets as MMagic datasets (registered in ``mmagic.registry.DATASETS``).

Each class takes the core dataset's keyword arguments unchanged (``gt_folder``, ``pipeline``,
``crop_size``, ``seed``, ``phase``, ...), so a config block reads like the BasicSR options block
minus BasicSR's bookkeeping keys. ``gt_folder='embedded:train'`` / ``'embedded:val'`` selects the
photographs shipped inside scikit-image and matplotlib. Folders are resolved when the dataset is
built, so a missing folder stops the run before training with a message naming it.

Item format (chosen so no MMagic transform is needed and values never leave [0, 1])::

    dict(inputs=dict(gt=3×H×W, lq=3×H×W[, gt_b=..., lq_b=...]),   # float tensors in [0, 1], RGB
         data_samples=DataSample(metainfo: gt_path, lq_path[, gt_b_path, lq_b_path], params, sample_idx))

mmengine's default ``pseudo_collate`` turns a batch into lists; ``DegplugDataPreprocessor`` stacks them.
With ``degrade_on='device'`` the inputs are ``gt`` and the clean ``gt_region`` (``gt_b``,
``gt_b_region``), the metainfo holds the windows, and ``DegplugDataPreprocessor`` makes ``lq`` on the
model's device (:func:`degplug.data.device_batches.degrade_batch`).
"""

from __future__ import annotations

from typing import Any

import torch
from mmagic.structures import DataSample

from degplug.data.all_in_one import AllInOneDataset
from degplug.data.paired_folders import PairedFolderDataset
from degplug.data.synthetic_pairs import SyntheticPairDataset
from degplug.data.transfer_tuples import TransferTupleDataset

IMAGE_KEYS = ("gt", "lq", "gt_b", "lq_b", "lq_pos", "gt_region", "gt_b_region")
META_KEYS = ("gt_path", "lq_path", "gt_b_path", "lq_b_path", "params", "params_b", "task", "window", "window_b", "positive_window")


def pack_item(item: dict[str, Any], index: int | None = None) -> dict[str, Any]:
    """A core dataset item → ``dict(inputs=..., data_samples=DataSample(...))`` (see module doc).

    ``index``: the item's index in the data set, kept as metainfo ``sample_idx`` (mmengine's
    name); evaluation seeds image k's synthesis noise with it (``degplug.eval.udm_scoring``).
    """
    inputs = {key: item[key] for key in IMAGE_KEYS if isinstance(item.get(key), torch.Tensor)}
    metainfo = {key: item[key] for key in META_KEYS if key in item}
    if index is not None:
        metainfo["sample_idx"] = int(index)
    return {"inputs": inputs, "data_samples": DataSample(metainfo=metainfo)}


class _MMagicPacking:
    """Mixin: pack the core dataset's items for MMagic and give mmengine a ``metainfo``."""

    @property
    def metainfo(self) -> dict:
        return {"dataset_type": type(self).__name__}

    def __getitem__(self, index: int) -> dict[str, Any]:
        return pack_item(super().__getitem__(index), index)


class DegplugSyntheticPairDataset(_MMagicPacking, SyntheticPairDataset):
    """Clean images from ``gt_folder`` degraded on the fly by ``pipeline`` (inputs ``gt``, ``lq``)."""


class DegplugTransferTupleDataset(_MMagicPacking, TransferTupleDataset):
    """One sampled degradation on two clean images (inputs ``gt``, ``lq``, ``gt_b``, ``lq_b``)."""


class DegplugPairedFolderDataset(_MMagicPacking, PairedFolderDataset):
    """Real pairs from ``lq_folder``/``gt_folder``, matched by name (inputs ``gt``, ``lq``)."""


class DegplugAllInOneDataset(_MMagicPacking, AllInOneDataset):
    """The all-in-one restoration mix (noise, rain, haze, SR) with per-task repeat ratios."""
