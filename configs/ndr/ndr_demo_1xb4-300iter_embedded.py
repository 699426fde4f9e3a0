# NDR-Restore demo, the MMagic twin of options/train/NDR/train_NDR_demo_embedded.yml: a small model on the photographs shipped
# inside scikit-image and matplotlib with synthetic noise, rain, haze and ×2 downsampling, on the CPU:
#   mim train mmagic configs/ndr/ndr_demo_1xb4-300iter_embedded.py --work-dir work_dirs/ndr_demo
#   python -m mmagic_ext.train configs/ndr/ndr_demo_1xb4-300iter_embedded.py
#   mim test mmagic configs/ndr/ndr_demo_1xb4-300iter_embedded.py --checkpoint work_dirs/ndr_demo/iter_300.pth
#   degplug restore --ckpt work_dirs/ndr_demo/ndr_latest.pth ...
_base_ = '../_base_/ndr_runtime.py'

experiment_name = 'ndr_demo'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    type='NDREditor',
    restorer=dict(type='NDRRestoreNet', width=16, blocks=[1, 1, 1, 1], heads=[1, 1, 2, 2], refinement_blocks=1,
                  num_tokens=32, token_dim=32, degradation_channels=16, rank=4),
    degrader=dict(type='NDRDegradNet', width=16, degradation_channels=16, rank=4),
    training=dict(schedule='joint'),
    grad_clip=10.0,
    data_preprocessor=dict(type='DegplugDataPreprocessor'),
)

train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='DegplugAllInOneDataset',
        tasks=[
            dict(task='denoise', gt_folder='embedded:train', sigmas=[15, 25, 50], repeat=4),
            dict(task='derain', gt_folder='embedded:train', repeat=4),
            dict(task='dehaze', gt_folder='embedded:train', repeat=4),
            dict(task='sr', gt_folder='embedded:train', scale=2, repeat=4),
        ],
        crop_size=64, phase='train', seed=0))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='DegplugAllInOneDataset',
        tasks=[
            dict(task='denoise', gt_folder='embedded:val', sigmas=[15, 25, 50]),
            dict(task='derain', gt_folder='embedded:val', repeat=1),
            dict(task='dehaze', gt_folder='embedded:val'),
            dict(task='sr', gt_folder='embedded:val', scale=2),
        ],
        crop_size=96, phase='val'))
test_dataloader = val_dataloader

total_iters = 300
checkpoint_interval = 100
train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_iters, val_interval=total_iters)

optim_wrapper = dict(
    constructor='NDROptimWrapperConstructor',
    optimizer=dict(type='Adam', lr=5e-4, weight_decay=1e-8, betas=(0.9, 0.999)))
param_scheduler = dict(type='MultiStepLR', by_epoch=False, milestones=[100000], gamma=0.5)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=checkpoint_interval, by_epoch=False, out_dir=None,
                    save_optimizer=True, max_keep_ckpts=10, save_best=None))
custom_hooks = [dict(type='NDRCheckpointExportHook', interval=checkpoint_interval)]
env_cfg = dict(dist_cfg=dict(backend='gloo'))
