"""UDMModel: UDM training in BasicSR (feed_data / optimize_parameters wiring only).

The loss math and the iteration are ``degplug.udm.training.UDMTrainingStep`` (``step``); this
class maps BasicSR's options, optimizers, schedulers, EMA, checkpoints and validation onto it.

Options (besides BasicSR's usual ones):
    network_g: ``type: UniversalDegradationModel`` with UDMConfig keys.
    network_d: optional ``type: UDMDiscriminator``; used when ``train.udm.weights.gan > 0``.
    train.udm: ``UDMTrainingOptions`` (loss weights, DISTS weights, MoCo settings).
    train.optim_g / optim_d / optim_aux: optimizers of the generator+encoders, the critic and the
        entropy models' quantiles (default Adam lr 1e-3 for the latter, as the authors). The rate
        models' own parameters are a second parameter group of optim_g at ``train.udm.rate_lr``
        (default 1e-3, the authors' ``lr_Cprs``).
    train.ema_decay: > 0 keeps an EMA copy of network_g (parameters averaged, buffers such as
        BatchNorm statistics copied); validation and the exported ``udm_*.pth`` use it.
    train.amp: ``none`` (default), ``bf16`` or ``fp16`` mixed precision; train.channels_last:
        true puts the networks and inputs in channels_last memory format (``UDMTrainingOptions``;
        the same as ``train.udm.amp`` / ``train.udm.channels_last``).
    val.metrics: names among psnr, ssim, ms_ssim, lpips, dists (keys of a mapping or a list).
    val.seed: the synthesis seed of validation and ``basicsr test`` (default 0); rows, seed rule
        and scores are ``degplug.eval.udm_scoring``'s, the same as ``degplug eval udm`` and MMagic's.
"""

from __future__ import annotations

import os.path as osp
from collections import OrderedDict

import torch

from basicsr_ext import compat  # noqa: F401
from basicsr.archs import build_network
from basicsr.models.base_model import BaseModel
from basicsr.utils import get_root_logger, imwrite, tensor2img

from degplug import checkpoints
from degplug.data.device_batches import degrade_batch
from degplug.eval.metrics import build_metrics
from degplug.eval.udm_scoring import UDMScoreAccumulator, batch_indices, score_rows, synthesize_rows
from degplug.eval.udm_table import UDMEvaluation, save_udm_evaluation
from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.training import UDMOptimizers, UDMTrainingOptions, UDMTrainingStep
from degplug.utils.distributed import broadcast_module
from basicsr_ext.runtime import load_pretrained, log_replica_agreement, place_on_device

DEFAULT_AUX_OPTIMIZER = {"type": "Adam", "lr": 1e-3}


def _training_options(train: dict) -> UDMTrainingOptions:
    """``train.udm`` with ``train.amp`` / ``train.channels_last`` (ValueError naming the key)."""
    values = dict(train.get("udm") or {})
    for key in ("amp", "channels_last"):
        if key in train:
            if key in values and values[key] != train[key]:
                raise ValueError(f"train.{key} = {train[key]!r} and train.udm.{key} = {values[key]!r} differ; set one of them")
            values[key] = train[key]
    try:
        return UDMTrainingOptions.from_dict(values)
    except ValueError as error:
        raise ValueError(f"train.{error}") from None


class UDMModel(BaseModel):
    """BasicSR model for the universal degradation model."""

    @staticmethod
    def check_options(opt: dict) -> None:
        """Validate UDM-specific options before BasicSR creates anything (ValueError names the key)."""
        network = {k: v for k, v in (opt.get("network_g") or {}).items() if k != "type"}
        try:
            UDMConfig.from_dict(network)
        except ValueError as error:
            raise ValueError(f"network_g: {error}") from None
        train = opt.get("train") or {}
        try:
            UDMTrainingOptions.from_dict(train.get("udm") or {})
        except ValueError as error:
            raise ValueError(f"train.udm: {error}") from None
        _training_options(train)


    def __init__(self, opt: dict) -> None:
        super().__init__(opt)
        self.net_g = self.model_to_device(build_network(opt["network_g"]))
        if not isinstance(self.get_bare_model(self.net_g), UniversalDegradationModel):
            raise ValueError("UDMModel: network_g.type must be UniversalDegradationModel")
        self.print_network(self.net_g)
        load_pretrained(self, "g", self.net_g)
        self.metric_set = None
        self.batch: dict[str, torch.Tensor] = {}
        if self.is_train:
            self.init_training_settings()

    def model_to_device(self, net):
        # No DDP wrapper: the training step calls the bare networks; gradients are averaged explicitly.
        return place_on_device(self, net)

    @property
    def udm(self) -> UniversalDegradationModel:
        return self.get_bare_model(self.net_g)

    # ----------------------------------------------------------------- setup
    def init_training_settings(self) -> None:
        train_opt = self.opt["train"]
        self.net_g.train()
        discriminator = build_network(self.opt["network_d"]) if "network_d" in self.opt else None
        options = _training_options(train_opt)
        self.training_step = UDMTrainingStep(self.udm, options, discriminator=discriminator).to(self.device)
        if self.training_step.precision.enabled or self.training_step.precision.channels_last:
            get_root_logger().info(f"UDM training precision: {self.training_step.precision}")
        broadcast_module(self.training_step)  # distributed: every rank starts from rank 0's critic and MoCo state
        self.net_d = self.training_step.discriminator
        if self.net_d is not None:
            load_pretrained(self, "d", self.net_d)
            self.net_d.train()
        self.ema_decay = train_opt.get("ema_decay", 0)
        if self.ema_decay > 0:
            get_root_logger().info(f"Use Exponential Moving Average with decay: {self.ema_decay}")
            self.net_g_ema = build_network(self.opt["network_g"]).to(self.device)
            self.model_ema(0)
            self.net_g_ema.eval()
        self.setup_optimizers()
        self.setup_schedulers()
        self.seed = int(self.opt.get("manual_seed") or 0)  # of every iteration's generator (UDMTrainingStep.step)

    def _optimizer(self, key: str, params, default: dict | None = None):
        settings = dict(self.opt["train"].get(key) or default or {})
        if "type" not in settings:
            raise ValueError(f"train.{key} needs a 'type' (e.g. Adam)")
        optim_type = settings.pop("type")
        return self.get_optimizer(optim_type, params, **settings)

    def setup_optimizers(self) -> None:
        groups = self.training_step.parameter_groups()
        self.optimizer_g = self._optimizer("optim_g", self.training_step.generator_param_groups())
        self.optimizer_aux = self._optimizer("optim_aux", groups["aux"], DEFAULT_AUX_OPTIMIZER)
        self.optimizers = [self.optimizer_g, self.optimizer_aux]
        if self.net_d is not None:
            self.optimizer_d = self._optimizer("optim_d", groups["discriminator"])
            self.optimizers.append(self.optimizer_d)

    def model_ema(self, decay: float = 0.999) -> None:
        """BasicSR's parameter EMA, plus the buffers (BatchNorm running statistics, entropy-model
        tables) copied from the trained network: BasicSR averages parameters only."""
        super().model_ema(decay)
        source = dict(self.udm.named_buffers())
        with torch.no_grad():
            for name, buffer in self.get_bare_model(self.net_g_ema).named_buffers():
                value = source[name]
                if buffer.shape != value.shape:
                    buffer.resize_(value.shape)
                buffer.copy_(value)

    # ------------------------------------------------------------------ data
    def feed_data(self, data: dict) -> None:
        data = degrade_batch(data, self.device)  # datasets with degrade_on: device; others pass through
        self.batch = {key: data[key].to(self.device) for key in ("gt", "lq", "gt_b", "lq_b", "lq_pos") if key in data}
        self.image_paths = data.get("gt_path") or data.get("lq_path")
        self.data_index = data.get("index")  # the images' data-set indices, when the dataset gives them

    # ---------------------------------------------------------------- train
    def optimize_parameters(self, current_iter: int) -> None:
        optimizers = UDMOptimizers(self.optimizer_g, self.optimizer_aux, self.optimizer_d if self.net_d is not None else None)
        log = self.training_step.step(self.batch, current_iter, optimizers, seed=self.seed, rank=self.opt.get("rank", 0))
        self.log_dict = self.reduce_loss_dict(OrderedDict(log))
        if self.ema_decay > 0:
            self.model_ema(decay=self.ema_decay)

    # ----------------------------------------------------------------- test
    def _eval_model(self) -> UniversalDegradationModel:
        return self.net_g_ema if hasattr(self, "net_g_ema") else self.udm

    def test(self, indices: list[int] | None = None) -> None:
        """Reproduction (own clean image) and, with a transfer tuple, transfer outputs.

        ``degplug.eval.udm_scoring.synthesize_rows``: image k's noise seeded ``val.seed`` (default
        0) + its index (``indices``; default the batch's ``index`` or its rows 0..N-1).
        """
        if indices is None:
            indices = batch_indices({"lq": self.batch["lq"], "index": getattr(self, "data_index", None)})
        outputs = synthesize_rows(self._eval_model(), self.batch, seed=self._val_seed(), indices=indices)
        self.output = outputs["reproduction"]
        self.output_transfer = outputs.get("transfer")

    def dist_validation(self, dataloader, current_iter, tb_logger, save_img):
        if self.opt["rank"] == 0:
            self.nondist_validation(dataloader, current_iter, tb_logger, save_img)

    def _val_seed(self) -> int:
        return int((self.opt.get("val") or {}).get("seed", 0))

    def _metric_names(self) -> tuple[str, ...]:
        metrics = self.opt["val"].get("metrics") or ["psnr", "ssim", "ms_ssim"]
        return tuple(metrics.keys() if isinstance(metrics, dict) else metrics)

    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img):
        logger = get_root_logger()
        if self.metric_set is None:
            self.metric_set = build_metrics(self._metric_names(), device=self.device, weight_paths=self.opt["val"].get("weight_paths"))
            for name, reason in self.metric_set.unavailable.items():
                logger.warning(f"Validation metric {name} skipped: {reason}")
        dataset_name = dataloader.dataset.opt["name"] if hasattr(dataloader.dataset, "opt") else "val"
        # degplug.eval.udm_scoring scores every row, as `degplug eval udm` and MMagic's UDMQualityMetric do;
        # an image's index is the batch's "index", else its position in this (unshuffled) loader
        accumulator = UDMScoreAccumulator()
        count = 0
        for index, data in enumerate(dataloader):
            self.feed_data(data)
            indices = batch_indices({"lq": self.batch["lq"], "index": self.data_index}, start=count)
            self.test(indices)
            outputs = {"reproduction": self.output}
            if self.output_transfer is not None:
                outputs["transfer"] = self.output_transfer
            accumulator.add(score_rows(outputs, self.batch, self.metric_set))
            count += self.batch["lq"].shape[0]
            if save_img:
                self._save_panel(index, current_iter)
        self.metric_averages = accumulator.flat()
        message = f"Validation {dataset_name} (iter {current_iter}, {count} images)"
        for key, value in self.metric_averages.items():
            message += f"\n\t # {key}: {value:.4f}"
            if tb_logger:
                tb_logger.add_scalar(f"metrics/{dataset_name}/{key}", value, current_iter)
        for name in self.metric_set.unavailable:
            message += f"\n\t # {name}: unavailable (pretrained weights missing)"
        logger.info(message)
        if not self.is_train:  # `basicsr test`: the table as files next to the results
            means, counts = accumulator.means()
            evaluation = UDMEvaluation(means, counts, dict(self.metric_set.unavailable), source=dataset_name)
            for path in save_udm_evaluation(evaluation, osp.join(self.opt["path"]["results_root"], f"{dataset_name}_metrics")):
                logger.info(f"Metrics table written: {path}")

    def _save_panel(self, index: int, current_iter: int) -> None:
        """clean | reference degraded | synthesized | target (transfer), or reproduction without a tuple."""
        if self.output_transfer is not None:
            columns = [self.batch["gt_b"], self.batch["lq"], self.output_transfer, self.batch["lq_b"]]
        else:
            columns = [self.batch["gt"], self.batch["lq"], self.output, self.batch["lq"]]
        height = min(c.shape[-2] for c in columns)
        panel = torch.cat([c[:1, :, :height, :] for c in columns], dim=3)
        stem = osp.splitext(osp.basename(self.image_paths[0]))[0] if self.image_paths else "val"
        name = f"{stem}_{index:03d}"
        path = osp.join(self.opt["path"]["visualization"], name, f"{name}_{current_iter}.png")
        imwrite(tensor2img(panel.detach().cpu(), rgb2bgr=True, min_max=(0, 1)), path)

    def get_current_visuals(self) -> OrderedDict:
        visuals = OrderedDict(lq=self.batch["lq"].detach().cpu(), result=self.output.detach().cpu())
        visuals["gt"] = self.batch["gt"].detach().cpu()
        return visuals

    # ----------------------------------------------------------- checkpoints
    def save(self, epoch: int, current_iter: int) -> None:
        log_replica_agreement(self, self.training_step, "the UDM training state")
        if hasattr(self, "net_g_ema"):
            self.save_network([self.net_g, self.net_g_ema], "net_g", current_iter, param_key=["params", "params_ema"])
        else:
            self.save_network(self.net_g, "net_g", current_iter)
        if self.net_d is not None:
            self.save_network(self.net_d, "net_d", current_iter)
        self.save_training_state(epoch, current_iter)
        if self.opt["rank"] == 0:
            # A self-describing degplug checkpoint for the CLI and BlindWrapper.
            label = "latest" if current_iter == -1 else current_iter
            self._eval_model().save_checkpoint(osp.join(self.opt["path"]["models"], f"udm_{label}.pth"))

    def save_training_state(self, epoch: int, current_iter: int) -> None:
        if current_iter != -1 and self.opt["rank"] == 0:
            # The contrastive key encoder and queue are training state too; store them beside BasicSR's
            # file, atomically and before it, so that an <iter>.state on disk means a complete state.
            path = osp.join(self.opt["path"]["training_states"], f"{current_iter}.contrast.pth")
            checkpoints.save(checkpoints.detached_state_dict(self.training_step.contrast), path)
        super().save_training_state(epoch, current_iter)

    def resume_training(self, resume_state: dict) -> None:
        super().resume_training(resume_state)
        path = osp.join(self.opt["path"]["training_states"], f"{resume_state['iter']}.contrast.pth")
        if osp.isfile(path):
            state = checkpoints.load(path, "contrastive training state", map_location=self.device)
            self.training_step.contrast.load_state_dict(state)
        else:
            get_root_logger().warning(f"No contrastive state at {path}: the MoCo queue restarts empty.")
