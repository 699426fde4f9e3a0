# NDR-Restore, 5-task variant of configs/ndr/ndr_paper_1xb4-1000k_allinone3.py: the five-task mix of later work (IDR, InstructIR):
# noise (trained on σ 15/25/50 as the authors' 3-task recipe, scored at σ 25 as the 5-task benchmark),
# rain, haze, GoPro motion blur, LOL low light (`degplug data check --protocol allinone5`).
#   mim train mmagic configs/ndr/ndr_paper_1xb4-1000k_allinone5.py --work-dir work_dirs/ndr_allinone5
_base_ = './ndr_paper_1xb4-1000k_allinone3.py'

experiment_name = 'ndr_allinone5'
work_dir = f'./work_dirs/{experiment_name}'

train_dataloader = dict(dataset=dict(tasks=[
    dict(task='denoise', gt_folder='datasets/allinone/train/denoise', sigmas=[15, 25, 50], repeat=1),
    dict(task='derain', root_folder='datasets/allinone/train/derain', repeat=120),
    dict(task='dehaze', root_folder='datasets/allinone/train/dehaze',
         list_file='datasets/allinone/train/dehaze/subset.txt', crop_gt_to_lq=True, repeat=1),
    dict(task='deblur', root_folder='datasets/allinone/train/deblur', repeat=1),  # GoPro: <sequence>/blur + sharp
    dict(task='lowlight', root_folder='datasets/allinone/train/lowlight', repeat=1),  # LOL our485: low/ + high/
]))
val_dataloader = dict(dataset=dict(tasks=[
    dict(task='denoise', gt_folder='datasets/allinone/test/denoise', sigmas=[25], name='denoise σ{sigma}'),
    dict(task='derain', root_folder='datasets/allinone/test/derain', repeat=1, name='derain'),
    dict(task='dehaze', root_folder='datasets/allinone/test/dehaze', crop_gt_to_lq=True, name='dehaze'),
    dict(task='deblur', root_folder='datasets/allinone/test/deblur', name='deblur'),  # GoPro test
    dict(task='lowlight', root_folder='datasets/allinone/test/lowlight', name='lowlight'),  # LOL eval15
]))
test_dataloader = val_dataloader
