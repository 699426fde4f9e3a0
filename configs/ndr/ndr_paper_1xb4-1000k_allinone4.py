# NDR-Restore, 4-task variant of configs/ndr/ndr_paper_1xb4-1000k_allinone3.py: noise σ 15/25/50, rain, haze and ×2 bicubic
# super-resolution synthesised from the same clean images (`degplug data check --protocol allinone4`).
#   mim train mmagic configs/ndr/ndr_paper_1xb4-1000k_allinone4.py --work-dir work_dirs/ndr_allinone4
_base_ = './ndr_paper_1xb4-1000k_allinone3.py'

experiment_name = 'ndr_allinone4'
work_dir = f'./work_dirs/{experiment_name}'

train_dataloader = dict(dataset=dict(tasks=[
    dict(task='denoise', gt_folder='datasets/allinone/train/denoise', sigmas=[15, 25, 50], repeat=1),
    dict(task='derain', root_folder='datasets/allinone/train/derain', repeat=120),
    dict(task='dehaze', root_folder='datasets/allinone/train/dehaze',
         list_file='datasets/allinone/train/dehaze/subset.txt', crop_gt_to_lq=True, repeat=1),
    dict(task='sr', gt_folder='datasets/allinone/train/denoise', scale=2, repeat=1),  # bicubic down, bicubic up
]))
val_dataloader = dict(dataset=dict(tasks=[
    dict(task='denoise', gt_folder='datasets/allinone/test/denoise', sigmas=[15, 25, 50], name='denoise σ{sigma}'),
    dict(task='derain', root_folder='datasets/allinone/test/derain', repeat=1, name='derain'),
    dict(task='dehaze', root_folder='datasets/allinone/test/dehaze', crop_gt_to_lq=True, name='dehaze'),
    dict(task='sr', gt_folder='datasets/allinone/test/denoise', scale=2, name='sr ×2'),  # CBSD68 ×2
]))
test_dataloader = val_dataloader
