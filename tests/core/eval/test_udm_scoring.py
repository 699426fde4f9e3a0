"""degplug.eval.udm_scoring: image k's noise from seed + k, each image alone, so batching never changes a number."""

import pytest
import torch

from degplug.eval.metrics import build_metrics
from degplug.eval.udm_scoring import UDMScoreAccumulator, batch_indices, score_batch, synthesize_rows
from degplug.udm.model import UniversalDegradationModel

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(embed_dim=16, map_channels=2, encoder_width=8, long_kernel=3, synthesis_width=8,
            synthesis_blocks=[1, 1, 1, 1, 1], rate_hidden=8)


@pytest.fixture(scope="module")
def model():
    generator = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = UniversalDegradationModel(**TINY)
    with torch.no_grad():  # so that the output depends on the synthesis noise
        for parameter in net.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return net


def _batch(count=3, size=24):
    generator = torch.Generator().manual_seed(1)
    gt, gt_b = torch.rand(count, 3, size, size, generator=generator), torch.rand(count, 3, size, size, generator=generator)
    noise = 0.1 * torch.randn(count, 3, size, size, generator=generator)
    return {"gt": gt, "lq": (gt + noise).clamp(0, 1), "gt_b": gt_b, "lq_b": (gt_b + noise.flip(0)).clamp(0, 1)}


def _mse_psnr(x, y):
    return 10 * torch.log10(1 / ((x.double() - y.double()) ** 2).mean())


def test_each_image_is_synthesised_alone_with_seed_plus_its_index(model):
    batch = _batch()
    model.train()
    outputs = synthesize_rows(model, batch, seed=5, indices=[7, 8, 9])
    assert model.training  # the mode is restored
    model.eval()
    with torch.no_grad():
        for k, index in enumerate((7, 8, 9)):
            embedding = model.encode(batch["lq"][k : k + 1])
            expected = model.synthesize(batch["gt"][k : k + 1], embedding, seed=5 + index)
            assert torch.equal(outputs["reproduction"][k : k + 1], expected)
            assert torch.equal(outputs["transfer"][k : k + 1], model.synthesize(batch["gt_b"][k : k + 1], embedding, seed=5 + index))
        other_seed = model.synthesize(batch["gt_b"][:1], model.encode(batch["lq"][:1]), seed=5)
    assert not torch.allclose(outputs["transfer"][:1], other_seed, atol=1e-3)  # the seed is used


def test_scores_do_not_depend_on_how_the_images_are_batched(model):
    batch, metrics = _batch(count=4), build_metrics(("psnr", "ssim"))
    whole = UDMScoreAccumulator()
    whole.add(score_batch(model, batch, metrics, seed=2).values)
    split = UDMScoreAccumulator()
    for start, stop in ((0, 1), (1, 4)):
        part = {key: value[start:stop] for key, value in batch.items()}
        split.add(score_batch(model, part, metrics, seed=2, indices=range(start, stop)).values)
    assert whole.flat() == split.flat()
    means, counts = whole.means()
    assert counts == {"reproduction": 4, "transfer": 4, "identity": 4}
    identity = sum(float(_mse_psnr(batch["gt_b"][k], batch["lq_b"][k])) for k in range(4)) / 4
    assert means["identity"]["psnr"] == pytest.approx(identity, rel=1e-5)


def test_rows_follow_the_batch_and_bad_input_is_named(model):
    batch = _batch(count=2)
    reproduction_only = score_batch(model, {"gt": batch["gt"], "lq": batch["lq"]}, build_metrics(("psnr",)))
    assert list(reproduction_only.values) == ["reproduction"] and reproduction_only.values["reproduction"]["psnr"].shape == (2,)
    assert batch_indices({"lq": batch["lq"], "index": torch.tensor([4, 9])}) == [4, 9]
    assert batch_indices({"lq": batch["lq"]}, start=3) == [3, 4]
    with pytest.raises(ValueError, match="rows: unknown"):
        score_batch(model, batch, build_metrics(("psnr",)), rows=("transfer", "mixed"))
    with pytest.raises(ValueError, match="'lq'"):
        score_batch(model, {"gt": batch["gt"]}, build_metrics(("psnr",)))
    with pytest.raises(ValueError, match="index"):
        batch_indices({"lq": batch["lq"], "index": [1]})
