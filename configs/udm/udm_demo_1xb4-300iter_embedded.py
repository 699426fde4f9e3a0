# UDM demo, the MMagic twin of options/train/UDM/train_UDM_demo_embedded.yml: a small model trained on the photographs shipped
# inside scikit-image and matplotlib, with synthetic degradations, on the CPU in a few minutes:
#   mim train mmagic configs/udm/udm_demo_1xb4-300iter_embedded.py --work-dir work_dirs/udm_demo
#   python -m mmagic_ext.train configs/udm/udm_demo_1xb4-300iter_embedded.py
#   mim test mmagic configs/udm/udm_demo_1xb4-300iter_embedded.py --checkpoint work_dirs/udm_demo/iter_300.pth
# The same recipe as options/train/UDM/train_UDM_demo_embedded.yml: L1 instead of DISTS (DISTS's pretrained VGG cannot be
# assumed offline), colour/diversity/GAN terms off (see that file for the measured reason), lr 2e-3;
# LPIPS/DISTS metrics are reported as unavailable without their weights. configs/udm/udm_paper_1xb24-400k_clean-realistic.py keeps the paper's.
_base_ = '../_base_/udm_runtime.py'

experiment_name = 'udm_demo'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    type='UDMEditor',
    generator=dict(type='UniversalDegradationModel', embed_dim=64, map_channels=4, encoder_width=16,
                   long_kernel=7, synthesis_width=16, synthesis_blocks=[1, 1, 1, 1, 1], rate_hidden=32),
    discriminator=None,
    training=dict(
        dists_pretrained=False, transfer_weight=1.0, queue_size=32,
        weights=dict(similarity=0.0, l1=1.0, rate_g=1e-4, rate_l=1.0, contrastive=1e-4, color=0.0,
                     diversity=0.0, gan=0.0)),
    data_preprocessor=dict(type='DegplugDataPreprocessor'),
    seed=0,
)

train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='DegplugTransferTupleDataset', gt_folder='embedded:train', pipeline='homogeneous',
                 crop_size=64, repeat=50, phase='train', seed=0))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='DegplugTransferTupleDataset', gt_folder='embedded:val', pipeline='homogeneous',
                 crop_size=96, repeat=4, phase='val'))
test_dataloader = val_dataloader

total_iters = 300
checkpoint_interval = 100
train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_iters, val_interval=total_iters)

optim_wrapper = dict(
    constructor='UDMOptimWrapperConstructor',
    generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-3, betas=(0.9, 0.999), eps=1e-3)),
    entropy=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3)))
param_scheduler = dict(type='MultiStepLR', by_epoch=False, milestones=[100000], gamma=0.5)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(type='CheckpointHook', interval=checkpoint_interval, by_epoch=False, out_dir=None,
                    save_optimizer=True, max_keep_ckpts=10, save_best=None))
custom_hooks = [
    dict(type='UDMTransferPanelHook', interval=1, max_images=8),
    dict(type='UDMCheckpointExportHook', interval=checkpoint_interval),
]
env_cfg = dict(dist_cfg=dict(backend='gloo'))
