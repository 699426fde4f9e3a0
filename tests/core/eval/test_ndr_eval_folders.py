"""`degplug eval ndr` folders and the all-in-one dataset on the datasets' own layouts and sizes.

Super-resolution pairs (degraded smaller than clean) are upsampled as training makes its ×s inputs
and get their own "×s" row; only a small border is ever cropped; anything else is refused.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from degplug.data.all_in_one import AllInOneDataset, task_folder_pairs
from degplug.data.image_io import read_image, write_image
from degplug.eval.ndr_table import MAX_MARGIN, evaluate_ndr_folder, prepare_pair
from tests.helpers.udm_models import photo_crop


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1.0 / float(((a - b) ** 2).mean()))


def _bicubic_up(lq: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Keys' cubic (A = −0.75), half-pixel centres, edge pixels repeated: torch's bicubic mode."""
    return F.interpolate(lq[None], size=size, mode="bicubic", align_corners=False)[0].clamp(0, 1)


def test_sr_pair_is_upsampled_bicubically_and_gets_its_own_row(tmp_path):
    data = tmp_path / "test"
    expected = []
    for index in range(2):
        gt = photo_crop(index, 32, 40)
        lq = F.avg_pool2d(gt[None], 2)[0]  # a 16×20 low-resolution image
        write_image(data / "sr" / "gt" / f"{index}.png", gt)
        write_image(data / "sr" / "lq" / f"{index}x2.png", lq)
        stored_lq, stored_gt = read_image(data / "sr" / "lq" / f"{index}x2.png"), read_image(data / "sr" / "gt" / f"{index}.png")
        expected.append(_psnr(_bicubic_up(stored_lq, (32, 40)), stored_gt))
    [row] = evaluate_ndr_folder(torch.nn.Identity(), data)
    assert row.task == "sr ×2" and row.images == 2
    assert row.psnr == pytest.approx(sum(expected) / 2, abs=0.02)
    # scored against the whole clean image, not a crop: a centre crop of gt would score differently
    cropped = _psnr(read_image(data / "sr" / "lq" / "0x2.png"), read_image(data / "sr" / "gt" / "0.png")[:, 8:24, 10:30])
    assert abs(row.psnr - cropped) > 0.5


def test_mod_crop_margin_and_refusal_of_other_size_differences():
    gt = torch.rand(3, 33, 41)
    lq, clean, scale = prepare_pair(torch.rand(3, 16, 20), gt)
    assert scale == 2 and lq.shape == clean.shape == (3, 32, 40)
    torch.testing.assert_close(clean, gt[:, :32, :40])  # BasicSR's mod-crop: at most s − 1 pixels
    margin_gt = torch.rand(3, 48 + 2 * MAX_MARGIN, 40 + 6)
    lq, clean, scale = prepare_pair(torch.rand(3, 48, 40), margin_gt)
    assert scale == 1
    torch.testing.assert_close(clean, margin_gt[:, MAX_MARGIN : MAX_MARGIN + 48, 3:43])  # SOTS indoor's border
    with pytest.raises(ValueError, match=r"gt is 70×40 and lq 48×40"):
        prepare_pair(torch.rand(3, 48, 40), torch.rand(3, 70, 40))
    with pytest.raises(ValueError, match=r"gt is 40×40 and lq 48×40"):
        prepare_pair(torch.rand(3, 48, 40), torch.rand(3, 40, 40))


def test_eval_reads_rain100l_and_sots_with_their_own_folder_and_file_names(tmp_path):
    data = tmp_path / "test"
    for index in (1, 2):
        write_image(data / "derain" / "rainy" / f"rain-{index}.png", photo_crop(index, 24, 24))
        write_image(data / "derain" / "norain" / f"norain-{index}.png", photo_crop(index, 24, 24))
        write_image(data / "dehaze" / "hazy" / f"000{index}_0.8_0.2.jpg", photo_crop(index + 2, 24, 24))
        write_image(data / "dehaze" / "gt" / f"000{index}.png", photo_crop(index + 2, 24, 24))
    rows = {row.task: row for row in evaluate_ndr_folder(torch.nn.Identity(), data)}
    assert set(rows) == {"derain", "dehaze"}
    assert rows["derain"].images == 2 and rows["derain"].psnr == pytest.approx(100.0)  # rain-k paired with norain-k
    assert rows["dehaze"].images == 2 and rows["dehaze"].psnr == pytest.approx(100.0)  # 000k_0.8_0.2 with 000k


def test_all_in_one_dataset_reads_the_datasets_own_layouts_and_a_subset_list(tmp_path):
    rain, ots = tmp_path / "Rain100L", tmp_path / "OTS"
    for index in (1, 2, 3):
        write_image(rain / "rainy" / f"rain-{index}.png", torch.full((3, 16, 16), 0.1 * index))
        write_image(rain / "norain" / f"norain-{index}.png", torch.full((3, 16, 16), 0.1 * index + 0.05))
        write_image(ots / "clear" / f"000{index}.png", torch.full((3, 16, 16), 0.2 * index))
        for part, beta in ((1, "0.8_0.2"), (2, "0.9_0.1")):
            write_image(ots / "hazy" / f"part{part}" / f"000{index}_{beta}.jpg", torch.full((3, 16, 16), 0.5))
    (tmp_path / "subset.txt").write_text("part1/0001_0.8_0.2.jpg\nhazy/part2/0003_0.9_0.1.jpg\n")
    dataset = AllInOneDataset(
        [{"task": "derain", "root_folder": str(rain), "repeat": 1},
         {"task": "dehaze", "root_folder": str(ots), "list_file": str(tmp_path / "subset.txt")}],
        crop_size=None, phase="val")
    assert len(dataset) == 3 + 2
    for index in range(3):
        item = dataset[index]
        assert item["lq_path"].endswith(f"rain-{index + 1}.png") and item["gt_path"].endswith(f"norain-{index + 1}.png")
    assert [(dataset[i]["lq_path"].split("hazy/")[1], dataset[i]["gt_path"].rsplit("/", 1)[1]) for i in (3, 4)] == [
        ("part1/0001_0.8_0.2.jpg", "0001.png"), ("part2/0003_0.9_0.1.jpg", "0003.png")]


def test_the_ots_subset_list_of_airnet_and_promptir_selects_from_ots_as_distributed(tmp_path):
    # RESIDE OTS as downloaded (haze/part1…part4 + clear/, JPEG), and the published subset list
    # format (data_dir/hazy/hazy_outside.txt of AirNet/PromptIR: "synthetic/partN/<scene>_<A>_<beta>.jpg")
    ots = tmp_path / "OTS_BETA"
    for scene in ("0025", "0039"):
        write_image(ots / "clear" / f"{scene}.jpg", torch.full((3, 16, 16), 0.2 if scene == "0025" else 0.8))
        for part, version in ((1, "0.8_0.04"), (1, "1_0.2"), (4, "0.9_0.1")):
            write_image(ots / "haze" / f"part{part}" / f"{scene}_{version}.jpg", torch.full((3, 16, 16), 0.5))
    listed = ["synthetic/part1/0025_0.8_0.04.jpg", "synthetic/part1/0039_1_0.2.jpg", "synthetic/part4/0039_0.9_0.1.jpg"]
    (tmp_path / "subset.txt").write_text("\n".join(listed) + "\n")
    dataset = AllInOneDataset([{"task": "dehaze", "root_folder": str(ots), "list_file": str(tmp_path / "subset.txt")}],
                              crop_size=None, phase="val")
    assert len(dataset) == 3  # of the 6 hazy images, exactly the listed ones, in list order
    items = [dataset[i] for i in range(3)]
    assert [item["lq_path"].split("haze/")[1] for item in items] == [entry.split("synthetic/")[1] for entry in listed]
    assert [item["gt_path"].rsplit("/", 1)[1] for item in items] == ["0025.jpg", "0039.jpg", "0039.jpg"]
    assert [round(float(item["gt"].mean()), 1) for item in items] == [0.2, 0.8, 0.8]  # the clean scene, read


def test_gopro_sequences_and_real_sr_pairs_upsampled_like_the_synthetic_ones(tmp_path):
    gopro = tmp_path / "GOPRO_Large" / "train"
    for sequence in ("GOPR0372_07_00", "GOPR0374_11_00"):
        for frame in ("000047.png", "000048.png"):
            write_image(gopro / sequence / "blur" / frame, torch.rand(3, 16, 16))
            write_image(gopro / sequence / "sharp" / frame, torch.rand(3, 16, 16))
    assert len(task_folder_pairs(gopro, "deblur")) == 2
    sr = tmp_path / "sr"
    write_image(sr / "HR" / "0001.png", photo_crop(0, 32, 32))
    write_image(sr / "LR" / "0001x2.png", F.avg_pool2d(photo_crop(0, 32, 32)[None], 2)[0])
    dataset = AllInOneDataset([{"task": "deblur", "root_folder": str(gopro)},
                               {"task": "sr", "root_folder": str(sr), "scale": 2}], crop_size=None, phase="val")
    assert len(dataset) == 5 and dataset.task_names == ["deblur", "sr_x2"]
    blur_item = dataset[2]
    assert "GOPR0374_11_00/blur/000047" in blur_item["lq_path"] and "GOPR0374_11_00/sharp/000047" in blur_item["gt_path"]
    sr_item = dataset[4]
    assert sr_item["lq"].shape == sr_item["gt"].shape == (3, 32, 32)
    torch.testing.assert_close(sr_item["lq"], _bicubic_up(read_image(sr / "LR" / "0001x2.png"), (32, 32)), atol=1e-5, rtol=0)


def test_unknown_layouts_and_missing_list_entries_are_named(tmp_path):
    write_image(tmp_path / "Rain" / "images" / "rain-1.png", torch.rand(3, 8, 8))
    with pytest.raises(ValueError, match=r"no degraded and no clean sub-folder.*rainy.*norain.*found: \['images'\]"):
        AllInOneDataset([{"task": "derain", "root_folder": str(tmp_path / "Rain")}])
    write_image(tmp_path / "Rain" / "rainy" / "rain-1.png", torch.rand(3, 8, 8))
    write_image(tmp_path / "Rain" / "norain" / "norain-1.png", torch.rand(3, 8, 8))
    (tmp_path / "list.txt").write_text("rain-1.png\nrain-7.png\n")
    with pytest.raises(ValueError, match=r"1 of 2 listed files are not in .*\['rain-7.png'\]"):
        AllInOneDataset([{"task": "derain", "root_folder": str(tmp_path / "Rain"), "list_file": str(tmp_path / "list.txt")}])
    with pytest.raises(ValueError, match="no synthetic version"):
        AllInOneDataset([{"task": "lowlight"}])


def test_eval_sr_rows_equal_the_test_options_synthetic_sr_task(tmp_path):
    for index in range(2):
        write_image(tmp_path / "denoise" / f"{index}.png", photo_crop(index, 30, 34))
    rows = {row.task: row for row in evaluate_ndr_folder(torch.nn.Identity(), tmp_path, sr_scales=(2,))}
    assert list(rows) == ["denoise σ15", "denoise σ25", "denoise σ50", "sr ×2"]
    dataset = AllInOneDataset([{"task": "sr", "gt_folder": str(tmp_path / "denoise"), "scale": 2, "name": "sr ×2"}],
                              crop_size=None, phase="val")
    assert dataset.task_names == ["sr ×2"]
    expected = sum(_psnr(dataset[i]["lq"], dataset[i]["gt"]) for i in range(2)) / 2
    assert rows["sr ×2"].psnr == pytest.approx(expected, abs=1e-3) and rows["sr ×2"].psnr < 60


def test_eval_noise_rows_score_the_same_noisy_images_as_the_test_options(tmp_path):
    import yaml

    from tests.conftest import REPO

    for index in range(2):
        write_image(tmp_path / "denoise" / f"{index}.png", photo_crop(index, 24, 28))
    tasks = yaml.safe_load((REPO / "options" / "test" / "NDR" / "test_NDR_allinone3.yml").read_text())["datasets"]["test_1"]["tasks"][:1]
    tasks[0]["gt_folder"] = str(tmp_path / "denoise")
    dataset = AllInOneDataset(tasks, crop_size=None, phase="val")
    rows = evaluate_ndr_folder(torch.nn.Identity(), tmp_path)
    assert [r.task for r in rows] == dataset.task_names == ["denoise σ15", "denoise σ25", "denoise σ50"]
    for number, row in enumerate(rows):
        items = [dataset[2 * number + i] for i in range(2)]
        expected = sum(_psnr(item["lq"].clamp(0, 1), item["gt"]) for item in items) / 2
        assert row.psnr == pytest.approx(expected, abs=1e-4)
