"""Tiny MMagic configs over the shipped demo configs, for ``mim train|test`` runs in the tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.conftest import REPO
from tests.helpers.udm_models import fresh_tiny_udm, tiny_pool

UDM_TINY_SIZES = dict(embed_dim=16, map_channels=2, encoder_width=8, long_kernel=3, synthesis_width=8,
                  synthesis_blocks=[1, 1, 1, 1, 1], rate_hidden=8)

UDM_TINY_CONFIG = """
_base_ = {demo!r}
work_dir = {work_dir!r}
model = dict(generator=dict({sizes}), training=dict(queue_size=8, weights=dict(similarity=0.0, l1=1.0, color=1.0, diversity=0.1)))
train_dataloader = dict(batch_size=2, dataset=dict(crop_size=32, repeat=1))
val_dataloader = dict(dataset=dict(crop_size=48))
test_dataloader = val_dataloader
train_cfg = dict(max_iters={iters}, val_interval={iters})
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
custom_hooks = [dict(type='UDMTransferPanelHook', max_images=2), dict(type='UDMCheckpointExportHook', interval=2)]
val_evaluator = dict(metrics=[dict(type='PSNR', prefix='reproduction'),
                              dict(type='UDMQualityMetric', metrics=['psnr', 'ssim', 'lpips'])])
test_evaluator = val_evaluator
"""


def write_udm_config(path: Path, work_dir: Path, iters: int) -> Path:
    sizes = ", ".join(f"{k}={v!r}" for k, v in UDM_TINY_SIZES.items())
    path.write_text(textwrap.dedent(UDM_TINY_CONFIG.format(demo=str(REPO / "configs" / "udm" / "udm_demo_1xb4-300iter_embedded.py"),
                                                       work_dir=str(work_dir), sizes=sizes, iters=iters)))
    return path


NDR_TINY_CONFIG = """
_base_ = {demo!r}
work_dir = {work_dir!r}
model = dict(
    restorer=dict(width=8, blocks=[1, 1, 1, 1], heads=[1, 1, 1, 1], refinement_blocks=1, num_tokens=4, token_dim=8,
                  degradation_channels=8, rank=2),
    degrader=dict(width=8, degradation_channels=8, rank=2),
    training=dict(schedule='alternate'))
train_dataloader = dict(batch_size=2, dataset=dict(crop_size=24, tasks=[
    dict(task='denoise', gt_folder='embedded:train', sigmas=[25], repeat=1),
    dict(task='dehaze', gt_folder='embedded:train', repeat=1)]))
val_dataloader = dict(dataset=dict(crop_size=36, tasks=[
    dict(task='denoise', gt_folder='embedded:val', sigmas=[25]),
    dict(task='sr', gt_folder='embedded:val', scale=2)]))
test_dataloader = val_dataloader
train_cfg = dict(max_iters={iters}, val_interval={iters})
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
custom_hooks = [dict(type='NDRCheckpointExportHook', interval=2)]
"""


def write_ndr_config(path: Path, work_dir: Path, iters: int) -> Path:
    path.write_text(textwrap.dedent(NDR_TINY_CONFIG.format(demo=str(REPO / "configs" / "ndr" / "ndr_demo_1xb4-300iter_embedded.py"),
                                                       work_dir=str(work_dir), iters=iters)))
    return path


BLIND_TINY_CONFIG = """
_base_ = {demo!r}
work_dir = {work_dir!r}
model = dict(udm={udm!r}, pool={pool!r})
train_dataloader = dict(batch_size=2, dataset=dict(crop_size=24, repeat=1))
val_dataloader = dict(dataset=dict(crop_size=32))
test_dataloader = val_dataloader
train_cfg = dict(max_iters={iters}, val_interval={iters})
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2))
"""


def write_blind_config(path: Path, work_dir: Path, udm: Path, pool: Path, iters: int) -> Path:
    path.write_text(textwrap.dedent(BLIND_TINY_CONFIG.format(demo=str(REPO / "configs" / "blind" / "blind_swinir-demo_1xb4-300iter_embedded.py"),
                                                       work_dir=str(work_dir), udm=str(udm), pool=str(pool), iters=iters)))
    return path


def frozen_udm_and_pool(root: Path) -> tuple[Path, Path]:
    """A fresh tiny UDM and a 2-entry pool of it, saved as ``root/udm.pth`` and ``root/pool.pth``."""
    udm = fresh_tiny_udm()
    tiny_pool(udm).save(root / "pool.pth")
    udm.save_checkpoint(root / "udm.pth")
    return root / "udm.pth", root / "pool.pth"
