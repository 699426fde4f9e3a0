# Runtime shared by the UDM configs: degplug_runtime.py plus UDM transfer panels, the export of
# degplug's self-describing udm_<iter>.pth / udm_latest.pth and the UDM metrics.
_base_ = './degplug_runtime.py'

checkpoint_interval = 5000
custom_hooks = [
    dict(type='UDMTransferPanelHook', interval=1, max_images=8),
    dict(type='UDMCheckpointExportHook', interval=checkpoint_interval),
]
val_evaluator = dict(type='Evaluator', metrics=[
    dict(type='PSNR', prefix='reproduction'),
    dict(type='SSIM', prefix='reproduction'),
    dict(type='PSNR', pred_key='transfer_pred_img', gt_key='transfer_gt_img', prefix='transfer'),
    dict(type='UDMQualityMetric', metrics=['psnr', 'ssim', 'ms_ssim', 'lpips', 'dists']),
])
test_evaluator = val_evaluator
