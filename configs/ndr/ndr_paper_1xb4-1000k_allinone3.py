# NDR-Restore, all-in-one restoration with bidirectional training (docs/specification.md §2), the MMagic twin of
# options/train/NDR/train_NDR_allinone3.yml. Fill in your data paths, then:
#   mim train mmagic configs/ndr/ndr_paper_1xb4-1000k_allinone3.py --work-dir work_dirs/ndr_allinone
#   mim test mmagic configs/ndr/ndr_paper_1xb4-1000k_allinone3.py --checkpoint work_dirs/ndr_allinone/iter_1000000.pth
#   degplug restore --ckpt work_dirs/ndr_allinone/ndr_latest.pth ...
# The published 3-task protocol, data laid out as for `degplug data check --protocol allinone3
# datasets/allinone` (README, "Dataset preparation"): BSD400+WED clean images with Gaussian noise
# σ ∈ {15, 25, 50} (×3), Rain100L (×120), RESIDE OTS (×1, the usual subset from a list).
# configs/ndr/ndr_paper_1xb4-1000k_allinone4.py adds ×2 bicubic SR, configs/ndr/ndr_paper_1xb4-1000k_allinone5.py GoPro deblurring and LOL low light.
# The authors' released weights: `degplug convert ndr-official model_L.pth --out ndr.pth`, then
# `mim test mmagic configs/ndr/ndr_paper_1xb4-1000k_allinone3.py --checkpoint ndr.pth` (per-task table), or load_from = 'ndr.pth'.
_base_ = '../_base_/ndr_runtime.py'

experiment_name = 'ndr_allinone'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    type='NDREditor',
    restorer=dict(type='NDRRestoreNet', width=48, blocks=[4, 6, 6, 8], heads=[1, 2, 4, 6], refinement_blocks=3,
                  ffn_expansion=2.66, num_tokens=32, token_dim=128, rank=16),
    degrader=dict(type='NDRDegradNet', width=48, rank=16),
    training=dict(schedule='joint',  # joint (the released code) | alternate (degplug's reading of the paper)
                  restoration_weight=1.0, degradation_weight=1.0,
                  optimizer_state='separate',  # alternate only: 'separate' (default) | 'shared' (README)
                  # amp='bf16',  # mixed precision: 'none' (default) | 'bf16' | 'fp16'; keep type='OptimWrapper'
                  # channels_last=True,
                  ),
    grad_clip=10.0,
    data_preprocessor=dict(type='DegplugDataPreprocessor'),
)

train_dataloader = dict(
    batch_size=4, num_workers=8, persistent_workers=True,  # batch 4 (code)
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='DegplugAllInOneDataset',
        tasks=[
            dict(task='denoise', gt_folder='datasets/allinone/train/denoise', sigmas=[15, 25, 50], repeat=1),
            dict(task='derain', root_folder='datasets/allinone/train/derain', repeat=120),
            # drop list_file when train/dehaze holds only the subset
            dict(task='dehaze', root_folder='datasets/allinone/train/dehaze',
                 list_file='datasets/allinone/train/dehaze/subset.txt', crop_gt_to_lq=True, repeat=1),
        ],
        crop_size=128, use_flip=True, use_rot=True, phase='train', seed=0))  # patch 128 (code)
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,  # whole images of different sizes
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='DegplugAllInOneDataset',
        tasks=[  # the rows of `degplug eval ndr`; noise with fixed seeds
            dict(task='denoise', gt_folder='datasets/allinone/test/denoise', sigmas=[15, 25, 50],
                 name='denoise σ{sigma}'),  # CBSD68
            dict(task='derain', root_folder='datasets/allinone/test/derain', repeat=1, name='derain'),  # Rain100L
            dict(task='dehaze', root_folder='datasets/allinone/test/dehaze', crop_gt_to_lq=True,
                 name='dehaze'),  # SOTS outdoor
        ],
        crop_size=None, phase='val'))  # whole images; the editor reflect-pads to a multiple of 8
test_dataloader = val_dataloader

total_iters = 1000000
checkpoint_interval = 10000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_iters, val_interval=10000)

optim_wrapper = dict(
    constructor='NDROptimWrapperConstructor',
    optimizer=dict(type='Adam', lr=1e-4, weight_decay=1e-8, betas=(0.9, 0.999)))
param_scheduler = dict(type='MultiStepLR', by_epoch=False, milestones=[200000, 400000, 600000, 800000], gamma=0.5)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', interval=checkpoint_interval, by_epoch=False, out_dir=None,
                    save_optimizer=True, max_keep_ckpts=10, save_best=None))
custom_hooks = [dict(type='NDRCheckpointExportHook', interval=checkpoint_interval)]
