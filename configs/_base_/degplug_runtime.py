# Runtime shared by degplug's UDM and NDR-Restore configs: MMagic's defaults (default_scope='mmagic'),
# degplug registered, MMagic's multi-loops for validation/testing, checkpoints in the work dir and
# data-parallel training through DegplugReplicaWrapper. udm_runtime.py / ndr_runtime.py add their
# export hooks and evaluators.
# Importing mmagic_ext also makes mmengine read checkpoints (load_from, --resume, mim test --checkpoint)
# with torch.load(weights_only=True) and an explicit allowlist (mmagic_ext/checkpoints/loading.py).
_base_ = 'mmagic::_base_/default_runtime.py'

custom_imports = dict(imports=['mmagic_ext'], allow_failed_imports=False)

checkpoint_interval = 5000
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=100),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # out_dir=None: checkpoints go into the work dir, where `--resume` looks for them.
    checkpoint=dict(type='CheckpointHook', interval=checkpoint_interval, by_epoch=False, out_dir=None,
                    save_optimizer=True, max_keep_ckpts=10, save_best=None),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
visualizer = dict(_delete_=True, type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])

env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
# Data-parallel training: `torchrun --nproc_per_node=N -m mmagic_ext.train CONFIG --launcher pytorch`.
# The editors average their own gradients across ranks (their steps call the bare networks, so DDP
# would not synchronise them); DegplugReplicaWrapper only starts every rank from rank 0's weights and
# needs no GPU device ids. dist_cfg.backend is used on GPUs ('nccl'); on a machine without CUDA
# `mmagic_ext.train` initialises the process group with 'gloo' itself (mmengine's init_dist needs CUDA).
model_wrapper_cfg = dict(type='mmagic.DegplugReplicaWrapper')  # scoped: mmengine's Runner looks it up from its root registry

randomness = dict(seed=0)  # BasicSR's manual_seed: 0 (network initialisation, data order)

val_cfg = dict(type='MultiValLoop')
test_cfg = dict(type='MultiTestLoop')
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=False)
