# Runtime shared by the NDR-Restore configs: degplug_runtime.py plus the export of degplug's
# self-describing ndr_<iter>.pth / ndr_latest.pth (read by `degplug restore --ckpt`) and the
# per-task PSNR/SSIM of the test protocol.
_base_ = './degplug_runtime.py'

checkpoint_interval = 10000
default_hooks = dict(checkpoint=dict(interval=checkpoint_interval))
custom_hooks = [dict(type='NDRCheckpointExportHook', interval=checkpoint_interval)]

# Test protocol (docs/specification.md §2): reflect-pad to a multiple of 8, PSNR/SSIM on RGB, per task + average.
val_evaluator = dict(type='Evaluator', metrics=[
    dict(type='PSNR', prefix='restoration'),
    dict(type='SSIM', prefix='restoration'),
    dict(type='NDRTaskMetric'),
])
test_evaluator = val_evaluator
