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
from degplug.data.synthetic_pairs import DEGRADE_MARGIN
from degplug.degradations import DegradationPipeline, PipelineParams

from tests.helpers.degradation_images import textured_image


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
    # the recorded params reproduce lq from gt when the crop itself is degraded (degrade_size = crop)
    crop_only = SyntheticPairDataset(clean_folder, "realistic", crop_size=32, seed=1, phase="val", degrade_size=32)[1]
    params = PipelineParams.from_json(crop_only["params"])
    assert torch.equal(DegradationPipeline.apply(crop_only["gt"], params), crop_only["lq"])


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
    # degrade_size = crop_size degrades the crops themselves, so re-applying the params to gt_b is exact
    dataset = TransferTupleDataset(clean_folder, "blur_fixed", crop_size=16, seed=0, phase="val", degrade_size=16)
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
    from degplug.data.lmdb_writer import write_lmdb

    files = list_image_files(clean_folder)
    lmdb_folder = write_lmdb(files, tmp_path / "clean.lmdb")
    entries = list_image_files(lmdb_folder)
    assert [entry.name for entry in entries] == [f.stem for f in files]
    assert torch.equal(read_image(entries[0]), read_image(files[0]))
    dataset = SyntheticPairDataset(lmdb_folder, "noise25", crop_size=16, phase="val")
    assert dataset[0]["gt"].shape == (3, 16, 16)


def _find_window(image: torch.Tensor, crop: torch.Tensor) -> tuple[int, int]:
    """Top-left corner of ``crop`` inside ``image`` (exact match); fails when it is not a crop of it."""
    size_h, size_w = crop.shape[-2:]
    for top in range(image.shape[-2] - size_h + 1):
        for left in range(image.shape[-1] - size_w + 1):
            if torch.equal(image[..., top : top + size_h, left : left + size_w], crop):
                return top, left
    raise AssertionError("not a crop of the image")


LAYOUT_PIPELINE = {"ops": [{"type": "haze", "depth_smoothness": 0.3}, {"type": "raindrops", "count": 6},
                           {"type": "spatial_noise", "sigma": 30.0, "mask_smoothness": 0.3}]}


@pytest.fixture
def large_image_folder(tmp_path):
    folder = tmp_path / "large"
    write_image(folder / "photo.png", textured_image(96, 128, seed=5))
    return folder


@pytest.mark.parametrize("dataset_class", [SyntheticPairDataset, TransferTupleDataset])
@pytest.mark.parametrize("phase", ["train", "val"])
def test_crops_are_taken_from_the_degraded_whole_image(large_image_folder, dataset_class, phase):
    """Layouts relative to the image (haze depth, drops, masks) have the scale of the full photo."""
    dataset = dataset_class(large_image_folder, LAYOUT_PIPELINE, crop_size=32, seed=2, phase=phase,
                            use_flip=False, use_rot=False)
    full = dataset.paths[0]
    from degplug.data import read_image

    image = read_image(full)
    for index in range(3):
        item = dataset[index]
        params = PipelineParams.from_json(item["params"])
        degraded_full = DegradationPipeline.apply(image, params)
        top, left = _find_window(image, item["gt"])
        assert torch.equal(item["lq"], degraded_full[..., top : top + 32, left : left + 32])
        # Degrading the crop itself gives a different, shrunken layout.
        assert (DegradationPipeline.apply(item["gt"], params) - item["lq"]).abs().max() > 0.05


@pytest.mark.parametrize("crop", [48, 96])
def test_a_raindrop_has_the_same_size_in_pixels_whatever_the_crop_size(tmp_path, crop):
    """The drop seen in a crop is the full photo's drop (radius 8% of its shorter side, 7.7 px),
    not one laid out on the crop (8% of the crop side), whatever the crop size."""
    folder = tmp_path / "grey"
    write_image(folder / "photo.png", torch.full((3, 96, 128), 0.5))
    pipeline = {"ops": [{"type": "raindrops", "count": 1, "min_radius": 0.08, "max_radius": 0.08, "blur": 0.02}]}
    from degplug.degradations.rain import Raindrops

    dataset = SyntheticPairDataset(folder, pipeline, crop_size=crop, seed=0, phase="train", use_flip=False, use_rot=False)
    for index in range(6):
        item = dataset[index]
        drop = PipelineParams.from_json(item["params"]).steps[0].params
        grey = item["gt"][0, 0]
        inside = (item["lq"][0] - grey) > 0.5 * 0.15 * (1 - grey)  # where the drop mask exceeds 0.5
        full_mask = Raindrops.drop_mask(96, 128, drop) > 0.5
        mismatch = min(int((full_mask[t : t + crop, l : l + crop] != inside).sum())
                       for t in range(96 - crop + 1) for l in range(128 - crop + 1))
        assert mismatch <= 2, "the crop shows a window of the full photo's drop"
        if inside.sum() > 20:
            assert int((Raindrops.drop_mask(crop, crop, drop) > 0.5).ne(inside).sum()) > 20


def test_degrade_size_bounds_the_degraded_region(large_image_folder, monkeypatch):
    dataset = SyntheticPairDataset(large_image_folder, "noise25", crop_size=32, degrade_size=48, seed=0)
    shapes = []
    original = dataset.pipeline.apply
    monkeypatch.setattr(dataset.pipeline, "apply", lambda image, params: shapes.append(tuple(image.shape)) or original(image, params))
    item = dataset[0]
    assert shapes == [(3, 48, 48)] and item["lq"].shape == (3, 32, 32)
    # only pixel-sized operators: the crop with a margin of real context, however large the photo
    shapes.clear()
    unbounded = SyntheticPairDataset(large_image_folder, "noise25", crop_size=32, seed=0)
    monkeypatch.setattr(unbounded.pipeline, "apply", lambda image, params: shapes.append(tuple(image.shape)) or original(image, params))
    unbounded[0]
    assert shapes == [(3, 32 + 2 * DEGRADE_MARGIN, 32 + 2 * DEGRADE_MARGIN)]
    per_crop = SyntheticPairDataset(large_image_folder, "blur_fixed", crop_size=32, degrade_size=32, phase="val")[0]
    assert torch.equal(per_crop["lq"], DegradationPipeline.apply(per_crop["gt"], PipelineParams.from_json(per_crop["params"])))
    with pytest.raises(ValueError, match="degrade_size"):
        SyntheticPairDataset(large_image_folder, "noise25", crop_size=32, degrade_size=16)


@pytest.mark.parametrize("dataset_class", [SyntheticPairDataset, TransferTupleDataset])
def test_positive_crop_is_another_crop_of_the_same_degraded_image(large_image_folder, dataset_class):
    dataset = dataset_class(large_image_folder, LAYOUT_PIPELINE, crop_size=32, seed=1, positive_crop=True,
                            use_flip=False, use_rot=False)
    from degplug.data import read_image

    image = read_image(large_image_folder / "photo.png")
    positions = set()
    for index in range(4):
        item = dataset[index]
        assert item["lq_pos"].shape == item["lq"].shape
        degraded_full = DegradationPipeline.apply(image, PipelineParams.from_json(item["params"]))
        positions.add((_find_window(degraded_full, item["lq"]), _find_window(degraded_full, item["lq_pos"])))
    assert any(a != b for a, b in positions)  # at independent places
    assert "lq_pos" not in dataset_class(large_image_folder, "noise25", crop_size=32)[0]
    with pytest.raises(ValueError, match="positive_crop"):
        dataset_class(large_image_folder, "noise25", crop_size=None, positive_crop=True)


def test_paired_folders_can_give_a_second_crop_of_the_degraded_image(tmp_path):
    lq_dir, gt_dir = tmp_path / "lq", tmp_path / "gt"
    gt = textured_image(48, 64, seed=3)
    write_image(gt_dir / "a.png", gt)
    write_image(lq_dir / "a.png", gt * 0.5)
    from degplug.data import read_image

    lq_full = read_image(lq_dir / "a.png")
    for phase in ("train", "val"):
        dataset = PairedFolderDataset(lq_dir, gt_dir, crop_size=16, seed=0, phase=phase, positive_crop=True,
                                      use_flip=False, use_rot=False)
        item = dataset[0]
        assert item["lq_pos"].shape == item["lq"].shape == (3, 16, 16)
        _find_window(lq_full, item["lq_pos"])  # a crop of the degraded file
        assert torch.equal(dataset[0]["lq_pos"], item["lq_pos"]) or phase == "train"
    assert "lq_pos" not in PairedFolderDataset(lq_dir, gt_dir, crop_size=16)[0]


def test_transfer_tuples_lay_out_inhomogeneous_degradations_identically_on_both_crops(tmp_path):
    """a and b are degraded as regions of one size with the crop at the same place: the same haze
    depth and drops on both crops, whatever the two image sizes (so e_l of a fits b)."""
    folder = tmp_path / "flat"
    write_image(folder / "a.png", torch.full((3, 96, 128), 0.5))
    write_image(folder / "b.png", torch.full((3, 80, 100), 0.5))
    pipeline = {"ops": [{"type": "haze"}, {"type": "raindrops", "count": 8}]}
    for phase in ("train", "val"):
        dataset = TransferTupleDataset(folder, pipeline, crop_size=32, seed=0, phase=phase)
        for index in range(4):
            item = dataset[index]
            assert torch.equal(item["lq"], item["lq_b"]), (phase, index)
            assert (item["lq"] - 0.5).abs().max() > 0.05  # there is a layout to compare
