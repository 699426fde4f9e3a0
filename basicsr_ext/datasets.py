"""degplug's framework-free datasets, constructed from a BasicSR ``datasets.<phase>`` block.

BasicSR builds a dataset as ``cls(opt)``; these subclasses map that block onto the core
dataset's keyword arguments. BasicSR's own bookkeeping keys are dropped; any other key the core
dataset does not take is an error naming it.
"""

from __future__ import annotations

import inspect

from degplug.data.all_in_one import AllInOneDataset
from degplug.data.paired_folders import PairedFolderDataset
from degplug.data.synthetic_pairs import SyntheticPairDataset
from degplug.data.transfer_tuples import TransferTupleDataset

BASICSR_BOOKKEEPING = {
    "name", "type", "batch_size_per_gpu", "num_worker_per_gpu", "dataset_enlarge_ratio", "prefetch_mode",
    "pin_memory", "use_shuffle", "io_backend", "persistent_workers", "scale",
}


def core_kwargs(opt: dict, core_class: type) -> dict:
    """The entries of ``opt`` that ``core_class.__init__`` takes; unknown keys raise ValueError."""
    accepted = set(inspect.signature(core_class.__init__).parameters) - {"self"}
    kwargs = {}
    for key, value in opt.items():
        if key == "phase" and value == "test":
            kwargs[key] = "val"  # `basicsr test` names its sets test_*: deterministic like validation
        elif key in accepted:
            kwargs[key] = value
        elif key not in BASICSR_BOOKKEEPING:
            raise ValueError(
                f"datasets.{opt.get('phase', '?')}: option {key!r} is not known to {opt.get('type')} "
                f"(it takes {', '.join(sorted(accepted))})"
            )
    return kwargs


class DegplugSyntheticPairDataset(SyntheticPairDataset):
    """Clean images from ``gt_folder`` (None: the embedded photos) degraded on the fly."""

    def __init__(self, opt: dict) -> None:
        super().__init__(**core_kwargs(opt, SyntheticPairDataset))
        self.opt = opt  # BasicSR reads dataset.opt (e.g. its name) during validation


class DegplugTransferTupleDataset(TransferTupleDataset):
    """(gt, lq, gt_b, lq_b): one sampled degradation applied to two clean images."""

    def __init__(self, opt: dict) -> None:
        super().__init__(**core_kwargs(opt, TransferTupleDataset))
        self.opt = opt  # BasicSR reads dataset.opt (e.g. its name) during validation


class DegplugPairedFolderDataset(PairedFolderDataset):
    """Real pairs from ``lq_folder``/``gt_folder``, matched by name."""

    def __init__(self, opt: dict) -> None:
        super().__init__(**core_kwargs(opt, PairedFolderDataset))
        self.opt = opt  # BasicSR reads dataset.opt (e.g. its name) during validation


class DegplugAllInOneDataset(AllInOneDataset):
    """The all-in-one restoration mix (noise, rain, haze, SR) with per-task repeat ratios."""

    def __init__(self, opt: dict) -> None:
        super().__init__(**core_kwargs(opt, AllInOneDataset))
        self.opt = opt  # BasicSR reads dataset.opt (e.g. its name) during validation
