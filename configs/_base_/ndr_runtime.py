# Runtime shared by the NDR-Restore configs: MMagic's defaults (default_scope='mmagic'), degplug
# registered, MMagic's multi-loops for validation/testing, per-task PSNR/SSIM and the export of
# degplug's self-describing ndr_<iter>.pth / ndr_latest.pth (read by `degplug restore --ckpt`).
# Resuming (`--resume`) or testing a checkpoint on torch >= 2.6 needs TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1
# for mim (mmengine 0.10.7 pickles its message hub); `python -m mmagic_ext.train` sets it itself.
_base_ = 'mmagic::_base_/default_runtime.py'

custom_imports = dict(imports=['mmagic_ext'], allow_failed_imports=False)

checkpoint_interval = 10000
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # out_dir=None: checkpoints go into the work dir, where `--resume` looks for them.
    checkpoint=dict(type='CheckpointHook', interval=checkpoint_interval, by_epoch=False, out_dir=None,
                    save_optimizer=True, max_keep_ckpts=10, save_best=None),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
custom_hooks = [dict(type='NDRCheckpointExportHook', interval=checkpoint_interval)]
visualizer = dict(_delete_=True, type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])

env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
# Data-parallel training: `torchrun --nproc_per_node=N -m mmagic_ext.train CONFIG --launcher pytorch`.
# The editor averages its own gradients across ranks (its steps call the bare networks, so DDP would
# not synchronise them); DegplugReplicaWrapper only starts every rank from rank 0's weights and needs
# no GPU device ids. dist_cfg.backend is used on GPUs ('nccl'); on a machine without CUDA
# `mmagic_ext.train` initialises the process group with 'gloo' itself (mmengine's init_dist needs CUDA).
model_wrapper_cfg = dict(type='mmagic.DegplugReplicaWrapper')  # scoped: mmengine's Runner looks it up from its root registry
randomness = dict(seed=0)  # BasicSR's manual_seed: 0

val_cfg = dict(type='MultiValLoop')
test_cfg = dict(type='MultiTestLoop')
# Test protocol (SPEC §2): reflect-pad to a multiple of 8, PSNR/SSIM on RGB, per task + average.
val_evaluator = dict(type='Evaluator', metrics=[
    dict(type='PSNR', prefix='restoration'),
    dict(type='SSIM', prefix='restoration'),
    dict(type='NDRTaskMetric'),
])
test_evaluator = val_evaluator

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=False)
