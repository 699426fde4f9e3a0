import json
import math

import pytest
import torch

from degplug.eval.metrics import psnr
from degplug.eval.ndr_protocol import (
    TaskMetrics,
    evaluate_task,
    metrics_table_json,
    metrics_table_markdown,
    save_metrics_table,
)
from degplug.ndr.padding import restore_padded


def test_psnr_of_a_constant_0_1_error_is_20_db_and_identical_images_cap_at_100():
    x = torch.zeros(2, 3, 5, 5)
    torch.testing.assert_close(psnr(x, x + 0.1), torch.full((2,), 20.0))
    torch.testing.assert_close(psnr(x, x), torch.full((2,), 100.0))


def test_restore_padded_feeds_multiples_of_8_then_crops_and_clamps():
    seen = []

    def restorer(x):
        seen.append(tuple(x.shape[-2:]))
        return x * 2.0

    lq = torch.rand(1, 3, 13, 21)
    out = restore_padded(restorer, lq)
    assert seen == [(16, 24)]
    torch.testing.assert_close(out, (lq * 2).clamp(0, 1))


def test_restore_padded_restores_training_mode():
    net = torch.nn.Identity().train()
    restore_padded(net, torch.rand(1, 3, 8, 8))
    assert net.training


def test_evaluate_task_averages_per_image_metrics_and_table_has_average_row(tmp_path):
    gt = torch.rand(2, 3, 16, 16)
    perfect = evaluate_task(lambda x: x, [(gt, gt)], task="identity")
    assert perfect.images == 2 and perfect.psnr == pytest.approx(100.0) and perfect.ssim == pytest.approx(1.0)
    noisy = evaluate_task(lambda x: x, [(gt.clamp(0.1, 0.9), gt)], task="clamped")
    assert noisy.psnr < 40 and noisy.ssim < 1

    results = [TaskMetrics("a", 30.0, 0.8, 10), TaskMetrics("b", 34.0, 0.9, 5)]
    table = metrics_table_markdown(results)
    assert "| Average | 32.00 | 0.8500 | 15 |" in table
    payload = json.loads(metrics_table_json(results))
    assert math.isclose(payload["average"]["psnr"], 32.0) and len(payload["tasks"]) == 2
    md_path, json_path = save_metrics_table(results, tmp_path / "ndr_table")
    assert md_path.read_text() == table and json.loads(json_path.read_text()) == payload


def test_evaluate_task_rejects_an_empty_task_and_bad_gt():
    with pytest.raises(ValueError, match="no test pairs"):
        evaluate_task(lambda x: x, [], task="empty")
    with pytest.raises(ValueError, match="gt"):
        evaluate_task(lambda x: x, [(torch.rand(1, 3, 16, 16), torch.rand(1, 1, 16, 16))], task="bad")
