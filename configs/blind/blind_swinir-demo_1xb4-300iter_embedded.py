# CPU demo of configs/blind/blind_swinir_1xb8-500k_df2k.py, the MMagic twin of
# options/train/Blind/train_Blind_SwinIR_demo_embedded.yml: a tiny SwinIRNet, the embedded photographs,
# minutes on a CPU.
#   basicsr train -opt options/train/UDM/train_UDM_demo_embedded.yml
#       (or the MMagic twin configs/udm/udm_demo_1xb4-300iter_embedded.py)
#   degplug degrade --preset noise25 --input <embedded val photos> --out real/
#   degplug pool --ckpt experiments/udm_demo/models/udm_latest.pth --input real/ --out pools/demo.pth
#   python -m mmagic_ext.train configs/blind/blind_swinir-demo_1xb4-300iter_embedded.py
_base_ = './blind_swinir_1xb8-500k_df2k.py'

experiment_name = 'blind_swinir_demo'
work_dir = f'./work_dirs/{experiment_name}'

model = dict(
    generator=dict(type='SwinIRNet', upscale=1, in_chans=3, img_size=48, window_size=8, img_range=1., depths=[2],
                   embed_dim=16, num_heads=[2], mlp_ratio=2, upsampler='', resi_connection='1conv'),
    udm='experiments/udm_demo/models/udm_latest.pth',
    pool='pools/demo.pth')

train_dataloader = dict(
    batch_size=4, num_workers=0,
    dataset=dict(type='DegplugSyntheticPairDataset', gt_folder='embedded:train', pipeline=dict(ops=[]),
                 crop_size=48, repeat=50, phase='train', seed=0))
val_dataloader = dict(
    dataset=dict(_delete_=True, type='DegplugSyntheticPairDataset', gt_folder='embedded:val', pipeline='noise25',
                 crop_size=96, phase='val'))
test_dataloader = val_dataloader

train_cfg = dict(type='IterBasedTrainLoop', max_iters=300, val_interval=300)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=5e-4, betas=(0.9, 0.99), weight_decay=0))
param_scheduler = dict(type='MultiStepLR', by_epoch=False, milestones=[100000], gamma=0.5, _delete_=True)
default_hooks = dict(checkpoint=dict(interval=100), logger=dict(interval=20))
env_cfg = dict(dist_cfg=dict(backend='gloo'))
