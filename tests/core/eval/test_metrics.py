"""The evaluation metrics against known values; missing pretrained weights are reported, not faked."""

import math
import sys

import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from degplug.eval.metrics import build_metrics, psnr
from degplug.losses.ssim import ms_ssim, ssim

torch.set_num_threads(1)


def photo(name: str) -> torch.Tensor:
    return torch.from_numpy(getattr(data, name)()[:80, :96, :3].astype(np.float64) / 255.0).permute(2, 0, 1)[None].float()


def test_psnr_of_a_uniform_error_of_0_1_is_20_db_and_matches_skimage():
    x = torch.full((1, 3, 16, 16), 0.5)
    assert psnr(x, x + 0.1).item() == pytest.approx(20.0, abs=1e-4)
    a, b = photo("astronaut"), photo("coffee")
    reference = peak_signal_noise_ratio(a[0].numpy(), b[0].numpy(), data_range=1.0)
    assert psnr(a, b).item() == pytest.approx(reference, abs=1e-3)


def test_metric_set_ssim_is_one_on_itself_and_matches_skimage_on_two_photos():
    metrics = build_metrics(("psnr", "ssim", "ms_ssim"))
    a, b = photo("astronaut"), photo("chelsea")
    assert metrics(a, a)["ssim"].item() == pytest.approx(1.0, abs=1e-6)
    reference = structural_similarity(
        a[0].permute(1, 2, 0).numpy(), b[0].permute(1, 2, 0).numpy(), gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False, channel_axis=2, data_range=1,
    )
    assert metrics(a, b)["ssim"].item() == pytest.approx(reference, abs=1e-3)


def test_ms_ssim_is_one_on_itself_equals_ssim_with_one_scale_and_falls_with_noise():
    a = photo("astronaut")
    noisy = (a + 0.1 * torch.randn(a.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    assert ms_ssim(a, a).item() == pytest.approx(1.0, abs=1e-6)
    assert ms_ssim(a, noisy, weights=(1.0,)).item() == pytest.approx(ssim(a, noisy).item(), abs=1e-5)
    noisier = (a + 0.3 * torch.randn(a.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    assert ms_ssim(a, noisier).item() < ms_ssim(a, noisy).item() < 1.0


def test_metric_set_clamps_out_of_range_predictions():
    metrics = build_metrics(("psnr",))
    target = torch.full((1, 3, 16, 16), 1.0)
    assert math.isclose(metrics(target + 0.5, target)["psnr"].item(), psnr(target, target).item())


def test_metrics_without_their_weights_are_unavailable_with_the_missing_file_named(tmp_path):
    missing = tmp_path / "nothing.pth"
    metrics = build_metrics(("ssim", "lpips", "dists"), weight_paths={"alexnet": str(missing), "vgg16": str(missing)})
    assert set(metrics.metrics) == {"ssim"}
    assert str(missing) in metrics.unavailable["lpips"] and str(missing) in metrics.unavailable["dists"]
    assert set(metrics(photo("astronaut"), photo("coffee"))) == {"ssim"}


def test_lpips_without_the_lpips_package_is_unavailable_naming_the_metrics_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "lpips", None)  # `import lpips` now raises ModuleNotFoundError
    metrics = build_metrics(("psnr", "lpips"))
    assert set(metrics.metrics) == {"psnr"}
    assert "lpips package" in metrics.unavailable["lpips"] and "[metrics]" in metrics.unavailable["lpips"]
