"""The batched on-device degradation path (degrade_on: device) against the CPU path.

No GPU here: the device path runs on the CPU device, where its generators are the CPU path's, so
every operator must agree with the CPU path within the tolerance written below for it. On CUDA
the noise fields are other draws of the same law; the statistics tests below are what holds there.
"""

import json
import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch.utils.data import default_collate

from degplug.data.device_batches import degrade_batch
from degplug.data.synthetic_pairs import SyntheticPairDataset
from degplug.data.transfer_tuples import TransferTupleDataset
from degplug.degradations import DegradationPipeline, PipelineParams, apply_degradation_params
from degplug.degradations.blur import GaussianBlurParams
from degplug.degradations.device import BATCHED, DEVICE_PATHS, apply_records, apply_records_batch, check_degrade_on
from degplug.degradations.noise import GaussianNoiseParams, PoissonNoiseParams
from degplug.degradations.pipeline import AppliedDegradation
from degplug.degradations.registry import OPERATORS
from degplug.degradations.resize import ResizeBackParams, ResizeParams

#: max |device − CPU| per operator for the same record on the CPU device. The CPU path's OpenCV
#: filters trim and separate kernels (≤ 6e-6 L1), its resizes are OpenCV's; noise draws, masks,
#: maps and the JPEG codec are the same computations, so those are (nearly) exact.
TOLERANCE = {
    "gaussian_blur": 1e-4, "motion_blur": 1e-4, "defocus_blur": 1e-4, "spatial_blur": 1e-4,
    "resize": 1e-4, "resize_back": 1e-4, "film_grain": 1e-4, "rain_streaks": 1e-4, "raindrops": 1e-4,
    "haze": 1e-5, "spatial_noise": 1e-5,
    "gaussian_noise": 1e-6, "poisson_noise": 1e-6, "signal_dependent_noise": 1e-6, "jpeg": 1e-6,
}


def _images(count=4, height=40, width=56, seed=0):
    """Smooth random images with edges (blurs and codecs have something to act on)."""
    generator = torch.Generator().manual_seed(seed)
    base = torch.rand(count, 3, height // 4 + 1, width // 4 + 1, generator=generator)
    images = torch.nn.functional.interpolate(base, size=(height, width), mode="bilinear", align_corners=False)
    images[:, :, height // 3 : height // 2] = 0.9  # a bright bar: edges
    return images.clamp(0, 1)


def _record(type_name, params):
    return PipelineParams([AppliedDegradation(type_name, params)])


def _cpu(images, records):
    return [apply_degradation_params(images[i], record) for i, record in enumerate(records)]


def test_every_built_in_operator_has_a_batched_device_version_and_a_documented_path():
    assert set(BATCHED) == set(OPERATORS) == set(DEVICE_PATHS)


@pytest.mark.parametrize("name", sorted(OPERATORS))
def test_each_operator_on_the_device_equals_the_cpu_path_within_its_tolerance(name, one_thread):
    ops = [{"type": name}] + ([{"type": "resize_back"}] if name == "resize" else [])
    pipeline = DegradationPipeline.from_config({"ops": ops, "order": "config"})
    generator = torch.Generator().manual_seed(11)
    images = _images()
    worst = 0.0
    for _ in range(3):
        records = [pipeline.sample(generator) for _ in range(len(images))]
        device = apply_records(images, records)
        for expected, got in zip(_cpu(images, records), device, strict=True):
            assert got.shape == (1, *expected.shape)
            worst = max(worst, (got[0] - expected).abs().max().item())
    assert worst <= TOLERANCE[name], f"{name}: max |device - cpu| = {worst:.3g}"


@pytest.mark.parametrize("interpolation", ["area", "bilinear", "bicubic", "nearest"])
def test_resize_down_and_up_with_every_method_matches_the_cpu_operator(interpolation, one_thread):
    images = _images(height=36, width=48)
    records = [_record("resize", ResizeParams(scale, interpolation)) for scale in (0.5, 0.37, 1.3, 2.0)]
    for expected, got in zip(_cpu(images, records), apply_records(images, records), strict=True):
        assert got.shape[-2:] == expected.shape[-2:]
        assert (got[0] - expected).abs().max().item() <= TOLERANCE["resize"]


def test_area_halving_is_the_two_by_two_mean():
    images = _images(count=2, height=32, width=32)
    out = apply_records_batch(images, [_record("resize", ResizeParams(0.5, "area"))] * 2)
    reference = images.reshape(2, 3, 16, 2, 16, 2).mean(dim=(3, 5))
    assert torch.allclose(out, reference, atol=1e-6)


def test_gaussian_blur_equals_an_independent_mirror_correlation_also_for_kernels_wider_than_the_image():
    images = _images(count=2, height=20, width=30)
    # rotated anisotropic: one dense convolution; isotropic: column and row passes
    # 41: the reflection repeats beyond the 20-pixel side
    for size, sx, sy, angle in ((9, 5.0, 2.0, 0.6), (41, 5.0, 2.0, 0.6), (11, 2.0, 2.0, 0.0), (41, 7.0, 7.0, 0.0)):
        params = GaussianBlurParams(size, sx, sy, angle)
        out = apply_records_batch(images, [_record("gaussian_blur", params)] * 2)
        # the kernel written here from the formula, applied by scipy (mode 'mirror' = reflect-101)
        coords = np.arange(size) - (size - 1) / 2
        yy, xx = np.meshgrid(coords, coords, indexing="ij")
        u = math.cos(angle) * xx + math.sin(angle) * yy
        v = -math.sin(angle) * xx + math.cos(angle) * yy
        kernel = np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
        kernel /= kernel.sum()
        for n in range(2):
            for c in range(3):
                reference = ndimage.correlate(images[n, c].double().numpy(), kernel, mode="mirror")
                assert np.abs(out[n, c].numpy() - np.clip(reference, 0, 1)).max() < 1e-5


def test_gaussian_noise_is_the_seeded_generator_draw_scaled_by_sigma():
    images = torch.full((2, 3, 16, 16), 0.5)
    records = [_record("gaussian_noise", GaussianNoiseParams(4.0, False, seed)) for seed in (5, 6)]
    out = apply_records_batch(images, records)
    for n, seed in enumerate((5, 6)):
        draw = torch.randn((1, 3, 16, 16), generator=torch.Generator().manual_seed(seed))
        assert torch.allclose(out[n] - 0.5, draw[0] * 4.0 / 255.0, atol=1e-6)


def test_a_batch_mixing_every_preset_operator_gives_each_image_its_own_cpu_result(one_thread):
    images = _images(count=8, height=48, width=48, seed=3)
    for preset in ("realistic", "homogeneous", "inhomogeneous"):
        pipeline = DegradationPipeline.from_config(preset)
        generator = torch.Generator().manual_seed(7)
        records = [pipeline.sample(generator) for _ in range(len(images))]
        assert len({tuple(r.types) for r in records}) > 1  # the batch really mixes operator chains
        device = apply_records_batch(images, records)
        for n, expected in enumerate(_cpu(images, records)):
            difference = (device[n] - expected).abs()
            # JPEG after a blur: a 1e-6 difference can move an 8-bit level and with it a codec block
            if "jpeg" in records[n].types:
                assert difference.mean().item() < 1e-3
            else:
                assert difference.max().item() <= 1e-4, (preset, records[n].types)


def test_records_replay_on_another_batch_of_another_size(one_thread):
    pipeline = DegradationPipeline.from_config("homogeneous")
    generator = torch.Generator().manual_seed(2)
    records = [pipeline.sample(generator) for _ in range(3)]
    first = apply_records_batch(_images(count=3, height=40, width=40), records)
    other = _images(count=3, height=52, width=36, seed=9)
    replayed = apply_records_batch(other, [PipelineParams.from_json(r.to_json()) for r in records])  # via JSON
    assert first.shape == (3, 3, 40, 40) and replayed.shape == (3, 3, 52, 36)
    for n, expected in enumerate(_cpu(other, records)):
        assert (replayed[n] - expected).abs().mean().item() < 1e-3


def test_noise_statistics_of_the_device_path_match_the_model(one_thread):
    # mid-grey (no clamping): residual std of Gaussian noise σ = 10 is 10/255, Poisson's sqrt(x/peak)
    images = torch.full((6, 3, 64, 64), 0.5)
    generator = torch.Generator().manual_seed(0)
    seeds = [int(torch.randint(2**62, (), generator=generator)) for _ in range(6)]
    gaussian = apply_records_batch(images, [_record("gaussian_noise", GaussianNoiseParams(10.0, False, s)) for s in seeds])
    std = (gaussian - 0.5).std().item()
    assert abs(std - 10 / 255) / (10 / 255) < 0.03
    assert abs((gaussian - 0.5).mean().item()) < 0.002
    poisson = apply_records_batch(images, [_record("poisson_noise", PoissonNoiseParams(200.0, False, s)) for s in seeds])
    expected = math.sqrt(0.5 / 200.0)
    assert abs((poisson - 0.5).std().item() - expected) / expected < 0.03
    cpu = torch.stack(_cpu(images, [_record("poisson_noise", PoissonNoiseParams(200.0, False, s + 1)) for s in seeds]))
    assert abs((cpu - 0.5).std().item() - (poisson - 0.5).std().item()) / expected < 0.03


def test_size_changing_records_and_bad_inputs():
    images = _images(count=2, height=32, width=32)
    shrink = [_record("resize", ResizeParams(0.5, "bicubic")), _record("resize", ResizeParams(0.25, "bicubic"))]
    sizes = [tuple(image.shape[-2:]) for image in apply_records(images, shrink)]
    assert sizes == [(16, 16), (8, 8)]
    with pytest.raises(ValueError, match="resize_back"):
        apply_records_batch(images, shrink)
    back = [PipelineParams(r.steps + [AppliedDegradation("resize_back", ResizeBackParams("area"))]) for r in shrink]
    assert apply_records_batch(images, back).shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="one per image"):
        apply_records(images, shrink[:1])
    with pytest.raises(ValueError, match=r"records\[0\]"):
        apply_records(images, ['{"steps": [{"type": "blurr", "params": {}}]}', shrink[1]])


def test_degrade_on_option_is_checked_by_name():
    assert check_degrade_on("device") == "device"
    with pytest.raises(ValueError, match="degrade_on.*'gpu'"):
        SyntheticPairDataset(gt_folder="embedded:train", pipeline="noise25", crop_size=32, degrade_on="gpu")
    with pytest.raises(ValueError, match="degrade_on.*crop_size"):
        SyntheticPairDataset(gt_folder="embedded:train", pipeline="noise25", crop_size=None, degrade_on="device")
    from basicsr_ext.datasets import DegplugTransferTupleDataset

    with pytest.raises(ValueError, match="degrade_on"):
        DegplugTransferTupleDataset({"phase": "train", "type": "DegplugTransferTupleDataset", "pipeline": "noise25",
                                     "crop_size": 32, "degrade_on": "cuda"})


NO_JPEG = {"ops": [
    {"one_of": [{"type": "gaussian_blur"}, {"type": "motion_blur"}, {"type": "defocus_blur"}], "prob": 0.8},
    {"type": "resize", "prob": 0.6, "scale": [0.3, 1.0]},
    {"one_of": [{"type": "gaussian_noise"}, {"type": "poisson_noise"}, {"type": "signal_dependent_noise"}], "prob": 0.8},
    {"type": "film_grain", "prob": 0.3},
    {"type": "resize_back"},
]}


@pytest.mark.parametrize("dataset_class", [SyntheticPairDataset, TransferTupleDataset])
def test_device_datasets_sample_the_same_records_and_the_batch_equals_the_cpu_items(dataset_class, one_thread):
    settings = dict(gt_folder="embedded:train", pipeline=NO_JPEG, crop_size=40, seed=4, positive_crop=True)
    cpu, device = dataset_class(**settings), dataset_class(degrade_on="device", **settings)
    cpu_items = [cpu[i] for i in range(4)]
    device_items = [device[i] for i in range(4)]
    assert "lq" not in device_items[0] and device_items[0]["gt_region"].shape == (3, 72, 72)  # 40 + 2·16
    batch = degrade_batch(default_collate(device_items))
    assert not {"gt_region", "window", "gt_b_region"} & set(batch)
    keys = ["gt", "lq", "lq_pos"] + (["gt_b", "lq_b"] if dataset_class is TransferTupleDataset else [])
    for n, item in enumerate(cpu_items):
        assert device_items[n]["params"] == item["params"]  # the same sampler, the same records
        if dataset_class is TransferTupleDataset:
            assert device_items[n]["params_b"] == item["params_b"]
        for key in keys:
            assert batch[key][n].shape == item[key].shape
            steps = [step["type"] for step in json.loads(item["params"])["steps"]]
            assert (batch[key][n] - item[key]).abs().max().item() <= 1e-4, (key, steps)


def test_sampled_parameter_distribution_is_the_cpu_one():
    settings = dict(gt_folder="embedded:train", pipeline="realistic", crop_size=32, seed=1)
    cpu, device = SyntheticPairDataset(**settings), SyntheticPairDataset(degrade_on="device", **settings)
    assert [cpu[i]["params"] for i in range(0, 40, 3)] == [device[i]["params"] for i in range(0, 40, 3)]


def test_a_size_changing_pipeline_is_applied_to_the_crops_as_on_the_cpu(one_thread):
    settings = dict(gt_folder="embedded:train", pipeline={"ops": [{"type": "resize", "scale": 0.5, "interpolation": "area"}]},
                    crop_size=32, seed=0)
    cpu, device = SyntheticPairDataset(**settings), SyntheticPairDataset(degrade_on="device", **settings)
    batch = degrade_batch(default_collate([device[0], device[1]]))
    assert batch["lq"].shape == (2, 3, 16, 16)
    for n in range(2):
        assert (batch["lq"][n] - cpu[n]["lq"]).abs().max().item() <= 1e-4


def test_mmagic_preprocessor_degrades_device_batches_like_the_cpu_dataset(one_thread):
    from mmengine.dataset import pseudo_collate

    from mmagic_ext.models.data_preprocessors.data_preprocessor import DegplugDataPreprocessor
    from mmagic_ext.datasets.degplug_datasets import DegplugTransferTupleDataset

    settings = dict(gt_folder="embedded:train", pipeline=NO_JPEG, crop_size=24, seed=2)
    cpu = DegplugTransferTupleDataset(**settings)
    device = DegplugTransferTupleDataset(degrade_on="device", **settings)
    preprocessor = DegplugDataPreprocessor()
    out = preprocessor(pseudo_collate([device[0], device[1]]), True)["inputs"]
    reference = preprocessor(pseudo_collate([cpu[0], cpu[1]]), True)["inputs"]
    assert sorted(out) == sorted(reference) == ["gt", "gt_b", "lq", "lq_b"]
    for key in out:
        assert (out[key] - reference[key]).abs().max().item() <= 1e-4


def test_basicsr_udm_model_feed_data_degrades_a_device_batch():
    from basicsr_ext.udm_model import UDMModel

    dataset = TransferTupleDataset(gt_folder="embedded:train", pipeline="noise25", crop_size=24, degrade_on="device")
    model = UDMModel.__new__(UDMModel)
    model.device = torch.device("cpu")
    model.feed_data(default_collate([dataset[0], dataset[1]]))
    assert sorted(model.batch) == ["gt", "gt_b", "lq", "lq_b"]
    residual = model.batch["lq"] - model.batch["gt"]
    assert 0.05 < residual.std().item() < 0.12  # σ = 25/255 ≈ 0.098, a little clamped


def test_the_torchvision_codec_used_on_cuda_round_trips_like_the_cpu_codec():
    # the CUDA path's code (encode a list, bytes to the host, decode, stack) with torchvision's CPU
    # libjpeg; here both are libjpeg-turbo with 4:2:0 chroma and agree exactly (measured 0), other
    # builds may round differently: at most 2 levels anywhere, under half a level on average
    from degplug.degradations.device import torchvision_jpeg
    from degplug.degradations.jpeg import jpeg_roundtrip

    images = _images(count=3, height=48, width=64)
    for quality in (30, 90):
        theirs = torchvision_jpeg(images, quality)
        ours = jpeg_roundtrip(images, quality)
        assert theirs.shape == images.shape and theirs.dtype == torch.float32
        assert (theirs - ours).abs().max().item() <= 2 / 255 + 1e-6
        assert (theirs - ours).abs().mean().item() < 0.5 / 255
        # and it is a lossy codec at that quality: further from the input at 30 than at 90
        assert (theirs - images).abs().mean().item() > 0
    assert (torchvision_jpeg(images, 30) - images).abs().mean() > (torchvision_jpeg(images, 90) - images).abs().mean()


_NEEDS_CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: the GPU checks of the device path (tolerances on CUDA, noise law, nvJPEG)")


def cuda_test(test):
    """Marked ``gpu`` (``pytest -m gpu``, benchmarks/gpu_check.py) and skipped without CUDA."""
    return pytest.mark.gpu(_NEEDS_CUDA(test))
#: on CUDA the deterministic operators follow the CPU tolerances; the noise fields are Philox draws
DETERMINISTIC = ("gaussian_blur", "motion_blur", "defocus_blur", "resize", "resize_back", "haze", "raindrops")


@cuda_test
@pytest.mark.parametrize("name", DETERMINISTIC)
def test_on_cuda_deterministic_operators_equal_the_cpu_path(name):
    ops = [{"type": name}] + ([{"type": "resize_back"}] if name == "resize" else [])
    pipeline = DegradationPipeline.from_config({"ops": ops, "order": "config"})
    generator = torch.Generator().manual_seed(11)
    images = _images()
    records = [pipeline.sample(generator) for _ in range(len(images))]
    device = apply_records(images.cuda(), records)
    for expected, got in zip(_cpu(images, records), device, strict=True):
        assert got.is_cuda and (got[0].cpu() - expected).abs().max().item() <= TOLERANCE[name]


@cuda_test
def test_on_cuda_noise_has_the_cpu_statistics_and_jpeg_is_close_to_the_cpu_codec():
    images = torch.full((6, 3, 64, 64), 0.5, device="cuda")
    records = [_record("gaussian_noise", GaussianNoiseParams(10.0, False, seed)) for seed in range(6)]
    noise = apply_records_batch(images, records) - 0.5
    assert abs(noise.std().item() - 10 / 255) / (10 / 255) < 0.03 and abs(noise.mean().item()) < 0.002
    poisson = apply_records_batch(images, [_record("poisson_noise", PoissonNoiseParams(200.0, False, s)) for s in range(6)]) - 0.5
    assert abs(poisson.std().item() - math.sqrt(0.5 / 200)) / math.sqrt(0.5 / 200) < 0.03
    from degplug.degradations.device import _CUDA_JPEG_FAILED
    from degplug.degradations.jpeg import JpegParams

    clean = _images(count=4, height=64, width=64)
    for quality in (30, 90):
        got = apply_records_batch(clean.cuda(), [_record("jpeg", JpegParams(quality))] * 4).cpu()
        expected = torch.stack(_cpu(clean, [_record("jpeg", JpegParams(quality))] * 4))
        assert not _CUDA_JPEG_FAILED, _CUDA_JPEG_FAILED
        assert (got - expected).abs().mean().item() < 1.5 / 255  # nvJPEG vs libjpeg at the same quality


def test_mmagic_udm_editor_trains_a_step_on_a_degrade_on_device_batch(one_thread):
    pytest.importorskip("mmagic")
    from mmagic.registry import OPTIM_WRAPPER_CONSTRUCTORS
    from mmengine.dataset import pseudo_collate

    from mmagic_ext.datasets.degplug_datasets import DegplugTransferTupleDataset
    from tests.helpers.mmagic_udm import tiny_editor

    editor = tiny_editor(gan=0.0)
    settings = dict(generator=dict(optimizer=dict(type="Adam", lr=1e-3, eps=1e-3)))
    optim = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(type="UDMOptimWrapperConstructor", optim_wrapper_cfg=settings))(editor)
    dataset = DegplugTransferTupleDataset(gt_folder="embedded:train", pipeline="homogeneous", crop_size=24, degrade_on="device")
    log = editor.train_step(pseudo_collate([dataset[0], dataset[1]]), optim)
    assert torch.isfinite(log["l_total"])


def test_basicsr_blind_model_feed_data_takes_a_degrade_on_device_batch():
    from basicsr_ext.blind_model import BlindRestorationModel

    dataset = SyntheticPairDataset(gt_folder="embedded:train", pipeline={"ops": []}, crop_size=24, degrade_on="device")
    model = BlindRestorationModel.__new__(BlindRestorationModel)
    model.device = torch.device("cpu")
    model.feed_data(default_collate([dataset[0], dataset[1]]))
    assert model.lq.shape == model.gt.shape == (2, 3, 24, 24)
    assert torch.equal(model.lq, model.gt)  # no operator: the crop itself
