"""BlindRestorationEditor: data-mode BlindWrapper training in MMagic (wiring only).

Wraps ANY restoration arch registered in MMagic's ``MODELS`` (``generator``: NAFNet, Restormer,
SwinIRNet, SRCNNNet, ...) and trains it on pairs whose LQ side is synthesized on the fly from the
GT crops by a frozen UDM with embeddings drawn from a latent pool (docs/specification.md §4). Validation and
testing run the generator on the dataset's own ``lq``.

Config::

    model = dict(
        type='BlindRestorationEditor',
        generator=dict(type='NAFNet', img_channels=3, mid_channels=32, ...),
        udm='experiments/udm_demo/models/udm_latest.pth',
        pool='pools/real.pth',                 # or reference_folder='real_degraded/'
        pixel_loss=dict(type='L1Loss', loss_weight=1.0),
        data_preprocessor=dict(type='DegplugDataPreprocessor'),
        seed=0)

Images stay RGB in [0, 1] end to end (``DegplugDataPreprocessor`` never rescales); outputs of
``val_step``/``test_step`` are ``DataSample`` s with ``pred_img``/``gt_img`` in [0, 255] so MMagic's
``PSNR``/``SSIM`` metrics work unchanged. The UDM is held outside the module tree: the optimiser
never sees it and ``train()`` never switches it out of eval mode. (``BlindWrapper`` configs with
``framework: mmagic`` are built by :mod:`mmagic_ext.models.restorer_builder`.)
"""

from __future__ import annotations

import torch
from torch import nn

from degplug.blind.pool_pairs import LatentPoolPairSynthesizer
from degplug.utils.distributed import average_gradients, broadcast_buffers
from degplug.utils.random import make_generator
from mmagic_ext.models.data_preprocessors.data_preprocessor import DegplugDataPreprocessor
from mmagic_ext.models.base_models.editor_base import DegplugEditor
from mmagic_ext.models.editors.udm_editor import _build


class BlindRestorationEditor(DegplugEditor):
    """A registered restoration arch trained on latent-pool-synthesized pairs (see the module doc)."""

    synchronises_gradients = True  # train_step averages gradients itself (DegplugReplicaWrapper)

    def __init__(
        self,
        generator: dict | nn.Module,
        udm: str | None = None,
        pool: str | None = None,
        reference_folder: str | None = None,
        pixel_loss: dict | nn.Module | None = None,
        data_preprocessor: dict | nn.Module | None = None,
        seed: int = 0,
        init_cfg: dict | None = None,
    ) -> None:
        preprocessor = _build(data_preprocessor, "data_preprocessor") or DegplugDataPreprocessor()
        super().__init__(data_preprocessor=preprocessor, init_cfg=init_cfg)
        self.generator = _build(generator, "generator")
        self.pixel_loss = _build(pixel_loss, "pixel_loss") or nn.L1Loss()
        # Needed only for training; a test-only config may leave udm/pool out.
        self.pair_synthesizer = (
            LatentPoolPairSynthesizer(udm, pool=pool, reference_folder=reference_folder) if udm is not None else None
        )
        self.seed = int(seed)
        self._local_iteration = 0

    def train_step(self, data: dict, optim_wrapper) -> dict[str, torch.Tensor]:
        if self.pair_synthesizer is None:
            raise ValueError("BlindRestorationEditor: training needs udm= and pool= (or reference_folder=) in the model config")
        from mmengine.dist import get_rank

        gt = self.data_preprocessor(data, True)["inputs"]["gt"]
        generator = make_generator(self.seed * 1_000_003 + get_rank() + self._iteration(), device=gt.device)
        lq = self.pair_synthesizer(gt, generator)
        with optim_wrapper.optim_context(self):
            loss = self.pixel_loss(self.generator(lq), gt)
        optim_wrapper.zero_grad()
        optim_wrapper.backward(loss)
        # distributed: mean over the ranks (no-op in one process); see DegplugReplicaWrapper
        average_gradients(p for group in optim_wrapper.optimizer.param_groups for p in group["params"])
        optim_wrapper.step()
        optim_wrapper.zero_grad()
        broadcast_buffers(self.generator)  # e.g. BatchNorm statistics from rank 0, as DDP does
        return {"loss": loss.detach()}

    @torch.no_grad()
    def _data_samples(self, data: dict) -> list:
        from mmagic.structures import DataSample

        processed = self.data_preprocessor(data, False)
        batch, samples = processed["inputs"], processed["data_samples"]
        prediction = self.generator(batch["lq"]).clamp(0.0, 1.0)
        results = []
        for index in range(prediction.shape[0]):
            sample = samples[index].clone() if samples is not None else DataSample()
            sample.set_data(dict(pred_img=(prediction[index] * 255.0).cpu()))
            if "gt" in batch:
                sample.set_data(dict(gt_img=(batch["gt"][index] * 255.0).cpu()))
            sample.output = DataSample(pred_img=sample.pred_img)
            results.append(sample)
        return results

    def _tensor_output(self, inputs) -> torch.Tensor:
        """``forward(mode='tensor')``: the restored ``inputs['lq']`` (or ``inputs`` itself), N×3×H×W."""
        lq = inputs["lq"] if isinstance(inputs, dict) else inputs
        return self.generator(lq)
