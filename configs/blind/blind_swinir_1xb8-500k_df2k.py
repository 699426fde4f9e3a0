# Data-mode BlindWrapper in MMagic, the MMagic twin of options/train/Blind/train_Blind_SwinIR_DF2K.yml:
# MMagic's own SwinIRNet (any MODELS restoration arch works, e.g. generator=dict(type='NAFNet',
# img_channels=3, mid_channels=32, middle_blk_num=12, enc_blk_nums=[2, 2, 4, 8], dec_blk_nums=[2, 2, 2, 2])
# with NAFNet's own recipe) trained on pairs whose LQ side a frozen UDM synthesizes from GT crops with
# embeddings of YOUR real degraded images (docs/specification.md §4). Same arch, loss, crops, batch,
# learning rate and schedule as the BasicSR file; BasicSR's EMA of the weights (train.ema_decay 0.999)
# has no counterpart here.
#   degplug pool --ckpt udm.pth --input my_real_degraded/ --out pools/real.pth
#   python -m mmagic_ext.train configs/blind/blind_swinir_1xb8-500k_df2k.py
_base_ = 'mmagic::_base_/default_runtime.py'
custom_imports = dict(imports=['mmagic_ext'], allow_failed_imports=False)

experiment_name = 'blind_swinir'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    type='BlindRestorationEditor',
    generator=dict(type='SwinIRNet', upscale=1, in_chans=3, img_size=128, window_size=8, img_range=1.,
                   depths=[6, 6, 6, 6, 6, 6], embed_dim=180, num_heads=[6, 6, 6, 6, 6, 6], mlp_ratio=2,
                   upsampler='', resi_connection='1conv'),
    udm='experiments/udm/models/udm_latest.pth',     # trained UDM checkpoint (frozen)
    pool='pools/real.pth',                             # or reference_folder='my_real_degraded/'
    pixel_loss=dict(type='L1Loss', loss_weight=1.0, reduction='mean'),
    data_preprocessor=dict(type='DegplugDataPreprocessor'),
    seed=0)

train_dataloader = dict(
    batch_size=8, num_workers=6, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    # supplies GT crops only (identity pipeline); the editor makes the LQ side
    dataset=dict(type='DegplugSyntheticPairDataset', gt_folder='datasets/DF2K/HR', pipeline=dict(ops=[]),
                 crop_size=128, phase='train', seed=0))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='DegplugPairedFolderDataset', lq_folder='datasets/real_val/lq',
                 gt_folder='datasets/real_val/gt', phase='val'))
test_dataloader = val_dataloader

train_cfg = dict(type='IterBasedTrainLoop', max_iters=500000, val_interval=5000)
val_cfg = dict(type='MultiValLoop')   # MMagic's loops drive its Evaluator
test_cfg = dict(type='MultiTestLoop')
val_evaluator = dict(type='Evaluator', metrics=[dict(type='PSNR'), dict(type='SSIM')])
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-4, weight_decay=0, betas=(0.9, 0.99)))
param_scheduler = dict(type='MultiStepLR', by_epoch=False, milestones=[250000, 400000, 450000, 475000], gamma=0.5)
randomness = dict(seed=0)  # BasicSR's manual_seed: 0 (network initialisation, data order)
# out_dir=None: checkpoints go into the work dir, where `--resume` looks for them (MMagic's default
# runtime would put them under ./work_dirs/ relative to the current directory instead).
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=5000, by_epoch=False, out_dir=None,
                                     save_optimizer=True, max_keep_ckpts=5),
                     logger=dict(type='LoggerHook', interval=100))
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=False)
# Data-parallel training: `torchrun --nproc_per_node=N -m mmagic_ext.train CONFIG --launcher pytorch`
# (gloo on a CPU-only machine). The editor averages its own gradients (its train_step calls the bare
# arch and the frozen UDM), so DegplugReplicaWrapper only starts every rank from rank 0's weights.
model_wrapper_cfg = dict(type='mmagic.DegplugReplicaWrapper')
