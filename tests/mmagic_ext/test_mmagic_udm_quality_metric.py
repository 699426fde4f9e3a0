"""UDMQualityMetric computes degplug's metrics on UDMEditor samples and reports missing ones as unavailable."""

import pytest
import torch

pytest.importorskip("mmagic")


def _sample(pred, gt):
    return {"output": {"pred_img": pred * 255}, "pred_img": pred * 255, "gt_img": gt * 255}


def test_psnr_matches_degplug_and_missing_weights_are_reported_not_faked(tmp_path):
    import mmagic_ext  # noqa: F401
    from mmagic.registry import METRICS

    from degplug.eval.metrics import psnr

    metric = METRICS.build(dict(type="UDMQualityMetric", metrics=["psnr", "ssim", "lpips"],
                                weight_paths={"alexnet": str(tmp_path / "missing_alexnet.pth")}))
    assert "lpips" in metric.unavailable and "missing_alexnet.pth" in metric.unavailable["lpips"]
    generator = torch.Generator().manual_seed(0)
    gt = torch.rand(2, 3, 16, 16, generator=generator)
    pred = (gt + 0.05 * torch.randn(2, 3, 16, 16, generator=generator)).clamp(0, 1)
    metric.process(None, [_sample(pred[0], gt[0]), _sample(pred[1], gt[1])])
    results = metric.compute_metrics(metric.results)
    assert results["reproduction/psnr"] == pytest.approx(float(psnr(pred, gt).mean()), rel=1e-4)
    assert 0 < results["reproduction/ssim"] < 1
    assert results["reproduction/lpips"] == "unavailable"
    assert not any(key.startswith("transfer/") and key != "transfer/lpips" for key in results)
