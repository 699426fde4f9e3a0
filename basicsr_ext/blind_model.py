"""BlindRestorationModel: data-mode BlindWrapper training in BasicSR (wiring only).

Wraps ANY arch registered in BasicSR's ``ARCH_REGISTRY`` (``network_g.type``: SwinIR, RRDBNet,
EDSR, ... or degplug's) and trains it on pairs whose LQ side is synthesized on the fly from the
GT crops by a frozen UDM with embeddings drawn from a latent pool (docs/specification.md §4). Everything else
(pixel/perceptual losses, optimizers, schedulers, validation on the dataset's own ``lq``,
checkpoints) is BasicSR's ``SRModel``.

Options (besides SRModel's)::

    degplug:
      udm: experiments/udm_demo/models/udm_latest.pth    # trained UDM checkpoint (frozen)
      pool: pools/real.pth                                # `degplug pool` file, or instead:
      reference_folder: ~                                 # real degraded images, encoded at start

The training dataset only has to supply GT crops (its ``lq`` is replaced); use e.g.
``DegplugSyntheticPairDataset`` with ``pipeline: {ops: []}``. (``BlindWrapper`` configs with
``framework: basicsr`` are built by :mod:`basicsr_ext.restorer_builder`.)
"""

from __future__ import annotations

from pathlib import Path

from basicsr_ext import compat  # noqa: F401  (before the first basicsr import)
from basicsr.models.sr_model import SRModel

from degplug.blind.pool_pairs import LatentPoolPairSynthesizer
from degplug.data.device_batches import degrade_batch
from degplug.utils.random import make_generator

SOURCES = ("pool", "reference_folder")


class BlindRestorationModel(SRModel):
    """SRModel whose training LQ inputs come from a frozen UDM and a latent pool."""

    @staticmethod
    def check_options(opt: dict) -> None:
        if not opt.get("is_train", True) and "train" not in opt:
            return
        block = opt.get("degplug")
        if not isinstance(block, dict):
            raise ValueError("model_type BlindRestorationModel needs a 'degplug' block with 'udm' and 'pool' (or 'reference_folder')")
        unknown = sorted(set(block) - {"udm", *SOURCES})
        if unknown:
            raise ValueError(f"degplug: unknown option(s) {unknown}; expected udm, pool or reference_folder")
        if not block.get("udm"):
            raise ValueError("degplug.udm: the path of a trained UDM checkpoint is required")
        given = [key for key in SOURCES if block.get(key)]
        if len(given) != 1:
            raise ValueError(f"degplug: give exactly one of pool / reference_folder (found {given or 'none'})")
        for key in ("udm", *given):
            if not Path(block[key]).exists():
                raise ValueError(f"degplug.{key} = {block[key]!r} does not exist")

    def __init__(self, opt: dict) -> None:
        super().__init__(opt)
        if self.is_train:
            block = opt["degplug"]
            self.pair_synthesizer = LatentPoolPairSynthesizer(
                block["udm"], pool=block.get("pool"), reference_folder=block.get("reference_folder")
            )
            self.iteration_seed = int(opt.get("manual_seed") or 0) * 1_000_003 + int(opt.get("rank", 0))

    def feed_data(self, data: dict) -> None:
        super().feed_data(degrade_batch(data, self.device))  # datasets with degrade_on: device

    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img):
        dataset = dataloader.dataset
        if not hasattr(dataset, "opt"):  # degplug's datasets keep no BasicSR opt; SRModel reads its name
            dataset.opt = {"name": self.opt["datasets"].get("val", {}).get("name", "val")}
        super().nondist_validation(dataloader, current_iter, tb_logger, save_img)

    def optimize_parameters(self, current_iter: int) -> None:
        generator = make_generator(self.iteration_seed + current_iter, device=self.gt.device)
        self.lq = self.pair_synthesizer(self.gt, generator)
        super().optimize_parameters(current_iter)
