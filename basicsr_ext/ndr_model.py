"""NDRModel: NDR-Restore with bidirectional training in BasicSR (wiring only).

The loss math, the half-step schedule and the iteration are ``degplug.ndr.training.NDRTrainingStep``
(``step``); this class maps BasicSR's options, optimizers, schedulers, checkpoints and validation onto it.

Options (besides BasicSR's usual ones):
    network_g: ``type: NDRRestoreNet`` (the restorer used at inference).
    network_degrad: ``type: NDRDegradNet`` (training only).
    path.pretrain_network_g / pretrain_network_degrad: BasicSR files, or one degplug NDR checkpoint
        (``ndr_<iter>.pth``, or ``degplug convert ndr-official`` output) for both.
    train.ndr: ``NDRTrainingStep``'s arguments, as MMagic's ``model.training`` (and as UDM's ``train.udm``):
        schedule: ``joint`` (the released code) or ``alternate`` (the paper).
        optimizer_state: ``separate`` (default) or ``shared``: in the alternate schedule, whether
            the representation group (dictionary, queries) has its own optimizer state per half-step
            (a fourth optimizer, ``representation_degradation``) or one for both.
        restoration_weight / degradation_weight: 1 and 1.
        detach_representation_in_degradation_phase: false.
        amp: ``none`` (default), ``bf16`` or ``fp16`` mixed precision (fp16 with a GradScaler);
            channels_last: networks and inputs in channels_last memory format. Both may also be
            given as ``train.amp`` / ``train.channels_last``, as for UDM.
        These keys written flat in ``train`` (the earlier layout) still work, with a one-time
        warning naming the key's new place; a key given both ways is an error.
    train.grad_clip: 10 (beside ``train.ndr``, as MMagic's ``model.grad_clip`` beside ``model.training``).
    train.optim_g: one optimizer setting used for each optimizer (one per parameter group:
        restoration, representation, degradation; plus representation_degradation with separate
        state), e.g. Adam lr 1e-4, weight_decay 1e-8. They are saved in the training state in
        ``degplug.ndr.training.OPTIMIZER_KEYS`` order, each with its lr scheduler.
Validation reports PSNR/SSIM per task (datasets that tag items with ``task``; rows in the order the
tasks come) and their average, restored and scored by ``degplug.eval.ndr_scoring`` as ``degplug eval ndr``
and MMagic's ``NDRTaskMetric``; ``basicsr test`` (options/test/NDR/test_NDR_allinone3.yml) also writes it to
``results/<name>/<dataset>_metrics.{md,json}``.
"""

from __future__ import annotations

import os.path as osp
import warnings
from collections import OrderedDict

import torch

from basicsr_ext import compat  # noqa: F401
from basicsr.archs import build_network
from basicsr.models.base_model import BaseModel
from basicsr.utils import get_root_logger, imwrite, tensor2img

from degplug.eval.ndr_protocol import metrics_table_markdown, save_metrics_table
from degplug.eval.ndr_scoring import TaskAccumulator, image_scores, restore_images
from degplug.ndr.checkpoint import save_restorer
from degplug.ndr.degrad_net import NDRDegradNet
from degplug.ndr.restore_net import NDRRestoreNet
from degplug.ndr.training import OPTIMIZER_GROUPS, NDRTrainingStep, parameter_groups
from degplug.utils.precision import MixedPrecision
from basicsr_ext.runtime import load_pretrained, log_replica_agreement, place_on_device
from basicsr_ext.training_states import ResumeError

# train.ndr: NDRTrainingStep's keyword arguments (MMagic's NDREditor training=dict(...) takes the same).
NDR_KEYS = (
    "schedule", "restoration_weight", "degradation_weight", "detach_representation_in_degradation_phase",
    "optimizer_state", "amp", "channels_last",
)
PRECISION_KEYS = ("amp", "channels_last")  # also accepted as train.amp / train.channels_last (as UDMModel)
MOVED_KEYS = tuple(key for key in NDR_KEYS if key not in PRECISION_KEYS)  # flat in train before train.ndr
# What NDRModel reads in ``train`` besides BasicSR's own keys (basicsr_ext.options_check).
TRAIN_KEYS = {"ndr", "grad_clip", *PRECISION_KEYS, *MOVED_KEYS}
_warned_moved_keys: set[str] = set()


def training_options(train: dict | None) -> dict:
    """``NDRTrainingStep``'s keyword arguments from an options file's ``train`` block: ``train.ndr``,
    plus ``train.amp`` / ``train.channels_last``, plus the flat keys of the earlier layout (each
    warned about once per process). ValueError naming the key when it is given both ways, when
    train.ndr is not a mapping or holds an unknown key."""
    train = train or {}
    nested = train.get("ndr")
    if nested is None:
        nested = {}
    if not isinstance(nested, dict):
        raise ValueError(f"train.ndr: expected a mapping of NDR training options ({', '.join(NDR_KEYS)}), got {nested!r}")
    unknown = sorted(str(key) for key in nested if key not in NDR_KEYS)
    if unknown:
        raise ValueError(f"train.ndr: unknown option(s) {unknown}; expected some of {list(NDR_KEYS)}")
    values = dict(nested)
    for key in MOVED_KEYS:
        if key not in train:
            continue
        if key in nested:
            raise ValueError(f"train.{key} and train.ndr.{key} are both given; keep train.ndr.{key} only")
        if key not in _warned_moved_keys:
            _warned_moved_keys.add(key)
            warnings.warn(f"NDRModel options: train.{key} is now train.ndr.{key}; the flat key still works for now",
                          FutureWarning, stacklevel=2)
        values[key] = train[key]
    for key in PRECISION_KEYS:
        if key in train:
            if key in values and values[key] != train[key]:
                raise ValueError(f"train.{key} = {train[key]!r} and train.ndr.{key} = {values[key]!r} differ; set one of them")
            values[key] = train[key]
    return values


class NDRModel(BaseModel):
    """BasicSR model for NDR-Restore trained against NDR-Degrad."""

    @staticmethod
    def check_options(opt: dict) -> None:
        if "network_degrad" not in opt and opt.get("train"):
            raise ValueError("NDRModel training needs a 'network_degrad' block (type: NDRDegradNet)")
        values = training_options(opt.get("train"))
        schedule = values.get("schedule", "joint")
        if schedule not in ("joint", "alternate"):
            raise ValueError(f"train.ndr.schedule must be 'joint' or 'alternate', got {schedule!r}")
        optimizer_state = values.get("optimizer_state", "separate")
        if optimizer_state not in ("separate", "shared"):
            raise ValueError(f"train.ndr.optimizer_state must be 'separate' or 'shared', got {optimizer_state!r}")
        train = opt.get("train") or {}
        where = {key: "train." if key in train else "train.ndr." for key in PRECISION_KEYS}  # the error names the key as written
        MixedPrecision(values.get("amp"), None, where["amp"])
        MixedPrecision(None, values.get("channels_last"), where["channels_last"])

    def __init__(self, opt: dict) -> None:
        super().__init__(opt)
        self.net_g = self.model_to_device(build_network(opt["network_g"]))
        if not isinstance(self.get_bare_model(self.net_g), NDRRestoreNet):
            raise ValueError("NDRModel: network_g.type must be NDRRestoreNet")
        self.print_network(self.net_g)
        load_pretrained(self, "g", self.net_g)
        if self.is_train:
            self.init_training_settings()

    def model_to_device(self, net):
        # No DDP wrapper: the training step calls the bare networks; gradients are averaged explicitly.
        return place_on_device(self, net)

    def init_training_settings(self) -> None:
        train_opt = self.opt["train"]
        self.net_degrad = self.model_to_device(build_network(self.opt["network_degrad"]))
        if not isinstance(self.get_bare_model(self.net_degrad), NDRDegradNet):
            raise ValueError("NDRModel: network_degrad.type must be NDRDegradNet")
        load_pretrained(self, "degrad", self.net_degrad)
        self.net_g.train()
        self.net_degrad.train()
        self.training_step = NDRTrainingStep(**training_options(train_opt))
        self.grad_clip = train_opt.get("grad_clip", 10.0)
        if self.training_step.precision.enabled or self.training_step.precision.channels_last:
            get_root_logger().info(f"NDR training precision: {self.training_step.precision}")
        groups = parameter_groups(self.get_bare_model(self.net_g), self.get_bare_model(self.net_degrad))
        settings = dict(train_opt["optim_g"])
        optim_type = settings.pop("type")
        self.group_optimizers = {
            key: self.get_optimizer(optim_type, groups[OPTIMIZER_GROUPS[key]], **settings)
            for key in self.training_step.optimizer_keys
        }
        self.optimizers = list(self.group_optimizers.values())
        self.setup_schedulers()

    def resume_training(self, resume_state: dict) -> None:
        """BasicSR's resume, with a clear error when the state holds another number of optimizers
        (a state saved with the other ``train.ndr.optimizer_state`` or schedule)."""
        saved, expected = len(resume_state.get("optimizers", [])), len(self.optimizers)
        if saved != expected:
            keys = ", ".join(self.group_optimizers)
            raise ResumeError(
                f"resume state: it holds {saved} optimizer states, this run has {expected} ({keys}; "
                f"train.ndr.schedule {self.training_step.schedule!r}, train.ndr.optimizer_state "
                f"{self.training_step.optimizer_state!r}); resume with the schedule and optimizer_state it was saved with"
            )
        super().resume_training(resume_state)

    def feed_data(self, data: dict) -> None:
        self.lq = data["lq"].to(self.device)
        self.gt = data["gt"].to(self.device) if "gt" in data else None
        self.tasks = data.get("task")
        self.image_paths = data.get("lq_path") or data.get("gt_path")

    def optimize_parameters(self, current_iter: int) -> None:
        logs = self.training_step.step(
            self.get_bare_model(self.net_g), self.get_bare_model(self.net_degrad), {"lq": self.lq, "gt": self.gt},
            current_iter, self.group_optimizers, grad_clip=self.grad_clip,
        )
        self.log_dict = OrderedDict((k.replace("/", "_"), float(v)) for k, v in logs.items())

    def test(self) -> None:
        """The test protocol's restoration (``degplug.eval.ndr_scoring.restore_images``)."""
        self.output = restore_images(self.get_bare_model(self.net_g), self.lq)

    def dist_validation(self, dataloader, current_iter, tb_logger, save_img):
        if self.opt["rank"] == 0:
            self.nondist_validation(dataloader, current_iter, tb_logger, save_img)

    def nondist_validation(self, dataloader, current_iter, tb_logger, save_img):
        # degplug.eval.ndr_scoring restores, scores and averages, as `degplug eval ndr` and MMagic's NDRTaskMetric
        accumulator = TaskAccumulator()
        for index, data in enumerate(dataloader):
            self.feed_data(data)
            self.test()
            tasks = self.tasks or ["all"] * self.lq.shape[0]
            accumulator.add(tasks, *image_scores(self.output, self.gt))
            if save_img:
                panel = torch.cat([self.lq[:1], self.output[:1], self.gt[:1]], dim=3)
                stem = osp.splitext(osp.basename(self.image_paths[0]))[0] if self.image_paths else "val"
                name = f"{tasks[0]}_{stem}_{index:03d}"
                imwrite(tensor2img(panel.cpu(), rgb2bgr=True, min_max=(0, 1)),
                        osp.join(self.opt["path"]["visualization"], name, f"{name}_{current_iter}.png"))
        results = accumulator.results()
        self.task_results = results
        table = metrics_table_markdown(results)
        dataset_name = dataloader.dataset.opt["name"] if hasattr(dataloader.dataset, "opt") else "val"
        get_root_logger().info(f"Validation {dataset_name} (iter {current_iter}), PSNR on RGB in [0, 1]:\n{table}")
        if not self.is_train:  # `basicsr test`: the table as files next to the results
            for path in save_metrics_table(results, osp.join(self.opt["path"]["results_root"], f"{dataset_name}_metrics")):
                get_root_logger().info(f"Metrics table written: {path}")
        if tb_logger:
            for r in results:
                tb_logger.add_scalar(f"metrics/{r.task}/psnr", r.psnr, current_iter)
                tb_logger.add_scalar(f"metrics/{r.task}/ssim", r.ssim, current_iter)

    def get_current_visuals(self) -> OrderedDict:
        visuals = OrderedDict(lq=self.lq.detach().cpu(), result=self.output.detach().cpu())
        if self.gt is not None:
            visuals["gt"] = self.gt.detach().cpu()
        return visuals

    def save(self, epoch: int, current_iter: int) -> None:
        if hasattr(self, "net_degrad"):
            log_replica_agreement(self, torch.nn.ModuleList([self.net_g, self.net_degrad]), "the NDR networks")
        self.save_network(self.net_g, "net_g", current_iter)
        self.save_network(self.net_degrad, "net_degrad", current_iter)
        self.save_training_state(epoch, current_iter)
        if self.opt["rank"] == 0:
            label = "latest" if current_iter == -1 else current_iter
            config = {k: v for k, v in self.opt["network_g"].items() if k != "type"}
            degrader_config = {k: v for k, v in self.opt["network_degrad"].items() if k != "type"}
            save_restorer(self.get_bare_model(self.net_g), config, osp.join(self.opt["path"]["models"], f"ndr_{label}.pth"),
                          degrader=self.get_bare_model(self.net_degrad), degrader_config=degrader_config)
