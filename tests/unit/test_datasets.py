"""Datasets: synthetic pairs, paired folders, transfer tuples, the all-in-one mix, embedded photos."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from degplug.data import (
    AllInOneDataset,
    PairedFolderDataset,
    SyntheticPairDataset,
    TransferTupleDataset,
    embedded_photo_paths,
    export_embedded_photos,
    write_image,
)
from degplug.degradations import DegradationPipeline, PipelineParams

from tests.unit.degradation_helpers import textured_image


@pytest.fixture
def clean_folder(tmp_path):
    folder = tmp_path / "clean"
    for index, (h, w) in enumerate([(40, 48), (36, 52), (20, 24)]):  # the last is smaller than the crop
        write_image(folder / f"img{index}.png", textured_image(h, w, seed=index))
    return folder


def test_synthetic_pairs_in_val_phase_are_identical_per_index(clean_folder):
    dataset = SyntheticPairDataset(clean_folder, "realistic", crop_size=32, seed=1, phase="val")
    first, second = dataset[1], dataset[1]
    assert torch.equal(first["lq"], second["lq"]) and first["params"] == second["params"]
    assert first["gt"].shape == (3, 32, 32) and first["lq"].shape == (3, 32, 32)
    # the recorded params reproduce lq from gt
    params = PipelineParams.from_json(first["params"])
    assert torch.equal(DegradationPipeline.apply(first["gt"], params), first["lq"])


def test_synthetic_pairs_in_train_phase_differ_between_visits_but_repeat_with_the_seed(clean_folder):
    def draws(seed):
        dataset = SyntheticPairDataset(clean_folder, "noise25", crop_size=16, seed=seed, phase="train", repeat=2)
        return [dataset[i]["lq"] for i in (0, 0, 3)]

    run_a, run_b = draws(4), draws(4)
    assert all(torch.equal(a, b) for a, b in zip(run_a, run_b))
    assert not torch.equal(run_a[0], run_a[1])


def test_images_smaller_than_the_crop_are_padded(clean_folder):
    dataset = SyntheticPairDataset(clean_folder, "blur_fixed", crop_size=32, phase="val")
    item = dataset[2]  # 20×24 image
    assert item["gt"].shape == (3, 32, 32) and item["gt_path"].endswith("img2.png")


def test_one_bad_file_is_logged_with_its_path_and_skipped(clean_folder, caplog):
    (clean_folder / "broken.png").write_bytes(b"")
    dataset = SyntheticPairDataset(clean_folder, "noise25", crop_size=16, phase="val")
    with caplog.at_level(logging.WARNING, logger="degplug.data"):
        items = [dataset[i] for i in range(len(dataset))]
    assert len(items) == 4
    assert any("broken.png" in record.getMessage() for record in caplog.records)
    assert all("broken.png" not in item["gt_path"] for item in items)
    assert any(path.name == "broken.png" for path in dataset.bad_files)


def test_a_folder_of_only_bad_files_stops_with_an_error(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    for name in ("a.png", "b.jpg"):
        (folder / name).write_bytes(b"")
    dataset = SyntheticPairDataset(folder, "noise25", crop_size=8, phase="val")
    with pytest.raises(RuntimeError, match="unreadable"):
        dataset[0]


def test_empty_folder_is_rejected_when_the_dataset_is_built(tmp_path):
    with pytest.raises(ValueError, match="contains no image files"):
        SyntheticPairDataset(tmp_path, "noise25")


def test_paired_folders_match_by_name_and_crop_aligned(tmp_path):
    lq_dir, gt_dir = tmp_path / "lq", tmp_path / "gt"
    for index in range(2):
        gt = textured_image(32, 40, seed=index)
        write_image(gt_dir / f"{index:03d}.png", gt)
        write_image(lq_dir / f"{index:03d}.png", gt * 0.5)
    dataset = PairedFolderDataset(lq_dir, gt_dir, crop_size=16, seed=0, phase="train")
    item = dataset[1]
    assert item["lq_path"].endswith("001.png") and item["gt_path"].endswith("001.png")
    assert torch.allclose(item["lq"], item["gt"] * 0.5, atol=2 / 255)  # same crop, same flips


def test_paired_folders_with_different_naming_schemes_via_key_pattern(tmp_path):
    lq_dir, gt_dir = tmp_path / "rainy", tmp_path / "clean"
    write_image(gt_dir / "norain-12.png", textured_image(16, 16))
    write_image(lq_dir / "rain-12.png", textured_image(16, 16))
    dataset = PairedFolderDataset(lq_dir, gt_dir, crop_size=None, key_pattern=r"(\d+)$", phase="val")
    assert dataset[0]["gt_path"].endswith("norain-12.png")


def test_mismatched_paired_names_raise_naming_the_file(tmp_path):
    lq_dir, gt_dir = tmp_path / "lq", tmp_path / "gt"
    write_image(gt_dir / "a.png", textured_image(8, 8))
    write_image(lq_dir / "a.png", textured_image(8, 8))
    write_image(lq_dir / "zebra.png", textured_image(8, 8))
    with pytest.raises(ValueError, match="zebra.png"):
        PairedFolderDataset(lq_dir, gt_dir)


def test_paired_super_resolution_crops_match_the_scale(tmp_path):
    lq_dir, gt_dir = tmp_path / "lq", tmp_path / "gt"
    write_image(gt_dir / "x.png", textured_image(32, 48))
    write_image(lq_dir / "x.png", textured_image(16, 24))
    item = PairedFolderDataset(lq_dir, gt_dir, crop_size=16, scale=2, phase="val")[0]
    assert item["gt"].shape == (3, 16, 16) and item["lq"].shape == (3, 8, 8)


def test_transfer_tuples_share_one_degradation_on_two_different_images(clean_folder):
    dataset = TransferTupleDataset(clean_folder, "blur_fixed", crop_size=16, seed=0, phase="val")
    item = dataset[0]
    assert item["gt_path"] != item["gt_b_path"]
    assert set(item) >= {"gt", "lq", "gt_b", "lq_b", "params"}
    params = PipelineParams.from_json(item["params"])
    assert torch.equal(DegradationPipeline.apply(item["gt_b"], params), item["lq_b"])
    noisy = TransferTupleDataset(clean_folder, "noise25", crop_size=16, phase="val")[0]
    assert json.loads(noisy["params"])["steps"][0]["params"]["sigma"] == json.loads(noisy["params_b"])["steps"][0]["params"]["sigma"]


def test_all_in_one_mix_tags_tasks_and_applies_repeats(clean_folder, tmp_path):
    rain_lq, rain_gt = tmp_path / "rain_lq", tmp_path / "rain_gt"
    write_image(rain_gt / "1.png", textured_image(24, 24))
    write_image(rain_lq / "1.png", textured_image(24, 24, seed=9))
    dataset = AllInOneDataset(
        [
            {"task": "denoise", "gt_folder": clean_folder, "sigmas": [15, 50]},
            {"task": "derain", "gt_folder": rain_gt, "lq_folder": rain_lq, "repeat": 4},
            {"task": "dehaze", "gt_folder": clean_folder},
            {"task": "sr", "gt_folder": clean_folder, "scale": 4},
        ],
        crop_size=16,
        phase="val",
    )
    assert dataset.task_names == ["denoise_15", "denoise_50", "derain", "dehaze", "sr_x4"]
    assert len(dataset) == 3 + 3 + 4 + 3 + 3
    tasks = [dataset[i]["task"] for i in range(len(dataset))]
    assert tasks.count("derain") == 4
    noisy15, noisy50 = dataset[0], dataset[3]
    assert (noisy50["lq"] - noisy50["gt"]).std() > 2 * (noisy15["lq"] - noisy15["gt"]).std()
    sr = dataset[len(dataset) - 1]
    assert sr["lq"].shape == sr["gt"].shape and sr["task_id"] == 4
    with pytest.raises(ValueError, match="deblur"):
        AllInOneDataset([{"task": "deblur"}])


def test_datasets_work_with_a_torch_dataloader(clean_folder):
    dataset = TransferTupleDataset(clean_folder, "homogeneous", crop_size=16, phase="train")
    batch = next(iter(torch.utils.data.DataLoader(dataset, batch_size=3)))
    assert batch["gt"].shape == (3, 3, 16, 16) and batch["lq_b"].shape == (3, 3, 16, 16)
    assert len(batch["params"]) == 3


def test_embedded_photos_are_real_colour_photographs_with_a_disjoint_val_split(tmp_path):
    train, val = embedded_photo_paths("train"), embedded_photo_paths("val")
    assert len(train) >= 5 and len(val) >= 1
    assert not set(train) & set(val)
    assert set(train) | set(val) == set(embedded_photo_paths("all"))
    written = export_embedded_photos(tmp_path, split="val")
    assert sorted(p.name for p in written) == ["coffee.png", "grace_hopper.png"]
    from degplug.data import read_image

    image = read_image(written[0])
    assert image.shape[0] == 3 and min(image.shape[-2:]) >= 256
    assert (image[0] - image[1]).abs().mean() > 0.01  # colour, not gray
    with pytest.raises(ValueError, match="split"):
        embedded_photo_paths("test")


def test_lmdb_folder_works_wherever_an_image_folder_does(clean_folder, tmp_path):
    pytest.importorskip("lmdb")  # a declared degplug dependency; LMDB support is optional at run time
    from degplug.data import list_image_files, read_image
    from degplug.data.lmdb_source import write_lmdb

    files = list_image_files(clean_folder)
    lmdb_folder = write_lmdb(files, tmp_path / "clean.lmdb")
    entries = list_image_files(lmdb_folder)
    assert [entry.name for entry in entries] == [f.stem for f in files]
    assert torch.equal(read_image(entries[0]), read_image(files[0]))
    dataset = SyntheticPairDataset(lmdb_folder, "noise25", crop_size=16, phase="val")
    assert dataset[0]["gt"].shape == (3, 16, 16)
