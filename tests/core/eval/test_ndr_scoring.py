"""degplug.eval.ndr_scoring: per-image restoration and scores, per-task float64 means in the order met."""

import pytest
import torch

from degplug.eval.ndr_scoring import TaskAccumulator, image_scores, restore_images, score_batch

pytestmark = pytest.mark.usefixtures("one_thread")


def _psnr(x, y):
    return float(10 * torch.log10(1 / ((x.double() - y.double()) ** 2).mean()))


def test_each_image_is_padded_restored_and_scored_alone():
    seen = []

    def restorer(x):
        seen.append(tuple(x.shape))
        return x * 0.9 + 0.05

    generator = torch.Generator().manual_seed(0)
    lq, gt = torch.rand(3, 3, 13, 21, generator=generator), torch.rand(3, 3, 13, 21, generator=generator)
    scores = score_batch(restorer, lq, gt)
    assert seen == [(1, 3, 16, 24)] * 3  # one image at a time, reflect-padded to a multiple of 8
    assert torch.allclose(scores.restored, (lq * 0.9 + 0.05).clamp(0, 1))
    assert scores.psnr.tolist() == pytest.approx([_psnr(scores.restored[k], gt[k]) for k in range(3)], rel=1e-5)
    assert torch.equal(restore_images(restorer, lq), scores.restored)
    single = [image_scores(scores.restored[k : k + 1], gt[k : k + 1]) for k in range(3)]
    assert torch.equal(scores.ssim, torch.cat([s for _, s in single]))
    with pytest.raises(ValueError, match="differs from gt"):
        image_scores(scores.restored, gt[:, :, :12])


def test_task_accumulator_keeps_the_order_tasks_come_in_and_averages_in_float64():
    accumulator = TaskAccumulator()
    accumulator.add(["derain", "dehaze", "derain"], torch.tensor([30.0, 20.0, 31.0]), [0.9, 0.8, 0.7])
    accumulator.add("dehaze", [22.0], [0.6])
    rows = accumulator.results()
    assert [(r.task, r.images) for r in rows] == [("derain", 2), ("dehaze", 2)]
    assert rows[0].psnr == 30.5 and rows[1].ssim == pytest.approx(0.7, abs=1e-12)
    with pytest.raises(ValueError, match="2 task names for 3"):
        accumulator.add(["a", "b"], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
