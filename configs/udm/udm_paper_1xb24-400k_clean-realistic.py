# UDM with the paper's model and settings (docs/specification.md §1.6), the MMagic twin of
# options/train/UDM/train_UDM_paper.yml.
# Fill in your data folders, then:
#   mim train mmagic configs/udm/udm_paper_1xb24-400k_clean-realistic.py --work-dir work_dirs/udm
#   python -m mmagic_ext.train configs/udm/udm_paper_1xb24-400k_clean-realistic.py            (same, without mim)
# DISTS needs vgg16-397923af.pth and DISTS_weights.pt in torch's hub cache (see `degplug doctor`).
_base_ = '../_base_/udm_runtime.py'

experiment_name = 'udm_paper'
work_dir = f'./work_dirs/{experiment_name}'
train_gt_folder = 'datasets/clean_train'   # <- your folder of clean images (any layout, recursive)
val_gt_folder = 'datasets/clean_val'       # <- held-out clean images
degradation = 'realistic'                  # a preset name, a YAML file, or an inline dict(ops=[...])

model = dict(
    type='UDMEditor',
    generator=dict(type='UniversalDegradationModel', embed_dim=256, map_channels=4, encoder_width=64,
                   long_kernel=13, synthesis_width=64, synthesis_blocks=[4, 3, 2, 3, 4], cond_channels=8,
                   use_ida=True, depthwise_ida=False, rate_hidden=64),
    discriminator=dict(type='UDMDiscriminator', in_channels=3, width=64, conditional=False),
    training=dict(
        dists_pretrained=True, transfer_weight=1.0, queue_size=120, momentum=0.999, temperature=0.07,
        weights=dict(similarity=1.0, l1=0.0, rate_g=1e-4, rate_l=1.0, contrastive=1e-4, color=1.0,
                     diversity=1.0, gan=0.05, gp=10.0, entropy_aux=1.0),
        diversity_c2=0.03,   # the authors' C2 (0.12 on [-1, 1] images), with |cov|
        rate_lr=1e-3,        # rate models' parameters, a group of the generator optimizer (authors' lr_Cprs)
        # amp='bf16',          # mixed precision: 'none' (default) | 'bf16' | 'fp16'; keep type='OptimWrapper' below
        # channels_last=True,  # networks and inputs in channels_last memory format
    ),
    data_preprocessor=dict(type='DegplugDataPreprocessor'),
    seed=0,
)

train_dataloader = dict(
    batch_size=24, num_workers=6, persistent_workers=True,       # batch 24 (authors' code)
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='DegplugTransferTupleDataset', gt_folder=train_gt_folder, pipeline=degradation,
                 crop_size=128, use_flip=True, use_rot=True, phase='train', seed=0))   # patch 128
# degrade on the GPU in DegplugDataPreprocessor instead of the workers: add degrade_on='device' to that dataset
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='DegplugTransferTupleDataset', gt_folder=val_gt_folder, pipeline=degradation,
                 crop_size=256, phase='val'))
test_dataloader = val_dataloader

total_iters = 400000
checkpoint_interval = 5000
train_cfg = dict(type='IterBasedTrainLoop', max_iters=total_iters, val_interval=5000)

# The authors did not publish the networks' learning rates; 1e-4 is our choice. Adam eps 1e-3 is theirs.
optim_wrapper = dict(
    constructor='UDMOptimWrapperConstructor',
    generator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999), eps=1e-3)),
    entropy=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3)),
    discriminator=dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-4, betas=(0.5, 0.999), eps=1e-3)))
param_scheduler = dict(type='MultiStepLR', by_epoch=False, milestones=[200000, 300000], gamma=0.5)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=100),
    checkpoint=dict(type='CheckpointHook', interval=checkpoint_interval, by_epoch=False, out_dir=None,
                    save_optimizer=True, max_keep_ckpts=10, save_best=None))
custom_hooks = [
    dict(type='UDMTransferPanelHook', interval=1, max_images=8),
    dict(type='UDMCheckpointExportHook', interval=checkpoint_interval),
]
