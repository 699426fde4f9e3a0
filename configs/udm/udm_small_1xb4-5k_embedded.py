# UDM small, the MMagic twin of options/train/UDM/train_UDM_small_embedded.yml (the recipe of the shipped `small` model):
#   mim train mmagic configs/udm/udm_small_1xb4-5k_embedded.py --work-dir work_dirs/udm_small
#   python -m mmagic_ext.train configs/udm/udm_small_1xb4-5k_embedded.py
# Same model, data, loss weights, learning rates and schedule as options/train/UDM/train_UDM_small_embedded.yml; see that
# file for why each differs from the demo recipe (Adam eps 1e-8, standardised e_g, contrastive 0.1,
# encoders reading the high-pass band, no colour term,
# rates scaled to an L1 of ~0.03, local-statistics matching instead of DISTS).
_base_ = '../_base_/udm_runtime.py'

experiment_name = 'udm_small'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    type='UDMEditor',
    generator=dict(type='UniversalDegradationModel', embed_dim=64, map_channels=4, encoder_width=16,
                   long_kernel=7, synthesis_width=16, synthesis_blocks=[1, 1, 1, 1, 1], rate_hidden=32,
                   global_input_scale=2.0, map_scale=16.0, encoder_highpass_gain=10.0),
    discriminator=None,
    training=dict(
        dists_pretrained=False, transfer_weight=1.0, queue_size=32,
        weights=dict(similarity=0.0, l1=1.0, local_stats=1.0, rate_g=1e-5, rate_l=5e-5, contrastive=0.1,
                     color=0.0, diversity=0.0, gan=0.0)),
    data_preprocessor=dict(type='DegplugDataPreprocessor'),
    seed=0,
)

train_pipeline = dict(
    name='udm_small',
    ops=[
        dict(type='haze', prob=0.12),
        dict(type='rain_streaks', prob=0.1),
        dict(type='gaussian_blur', prob=0.35, kernel_size=[13, 25], sigma_x=[0.5, 4.0], isotropic_prob=0.8),
        dict(type='spatial_blur', prob=0.12),
        dict(type='resize', prob=0.25, scale=[0.25, 1.0]),
        dict(type='gaussian_noise', prob=0.4, sigma=[2.0, 50.0], gray_prob=0.2),
        dict(type='spatial_noise', prob=0.12),
        dict(type='jpeg', prob=0.3, quality=[10, 90]),
        dict(type='resize_back', prob=1.0),
    ])
train_dataloader = dict(
    batch_size=4, num_workers=1, persistent_workers=True,  # data wait 18% -> 5% of the iteration here (options/train/UDM/train_UDM_small_embedded.yml)
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='DegplugTransferTupleDataset', gt_folder='embedded:train', pipeline=train_pipeline,
                 crop_size=48, degrade_size=160, repeat=2000, phase='train', seed=0))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='DegplugTransferTupleDataset', gt_folder='embedded:val', pipeline=train_pipeline,
                 crop_size=128, phase='val'))
test_dataloader = val_dataloader

total_iters = 5000
checkpoint_interval = 100
train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_iters, val_interval=total_iters)

optim_wrapper = dict(
    constructor='UDMOptimWrapperConstructor',
    generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=4e-4, betas=(0.9, 0.999), eps=1e-8)),
    entropy=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3)))
param_scheduler = dict(type='MultiStepLR', by_epoch=False, milestones=[3500, 4500], gamma=0.5)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=checkpoint_interval, by_epoch=False, out_dir=None,
                    save_optimizer=True, max_keep_ckpts=4, save_best=None))
custom_hooks = [
    dict(type='UDMTransferPanelHook', interval=1, max_images=8),
    dict(type='UDMCheckpointExportHook', interval=checkpoint_interval),
]
env_cfg = dict(dist_cfg=dict(backend='gloo'))
