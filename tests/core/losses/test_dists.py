import re
import warnings
from pathlib import Path

import pytest
import torch
import torchvision

from degplug.losses import DISTS, DISTSLoss
from degplug.losses.dists import _VGG16_CONV_INDICES, STAGE_CHANNELS, DISTSBackbone


def _random_dists() -> DISTS:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return DISTS(pretrained=False, seed=0)


@pytest.fixture(scope="module")
def random_dists() -> DISTS:
    return _random_dists()


def _image(seed=0, size=(40, 36)):
    generator = torch.Generator().manual_seed(seed)
    base = torch.rand(1, 3, 5, 5, generator=generator)
    smooth = torch.nn.functional.interpolate(base, size=size, mode="bilinear", align_corners=False)
    return (0.8 * smooth + 0.2 * torch.rand(1, 3, *size, generator=generator)).clamp(0, 1)


def test_dists_random_backbone_warns_loudly():
    with pytest.warns(UserWarning, match="pretrained=False"):
        DISTS(pretrained=False)


def test_dists_of_an_image_with_itself_is_zero(random_dists):
    x = _image()
    assert random_dists(x, x).abs().max().item() < 1e-5


def test_dists_grows_with_noise_level(random_dists):
    x = _image()
    generator = torch.Generator().manual_seed(1)
    noise = torch.randn(x.shape, generator=generator)
    values = [random_dists(x, (x + s * noise).clamp(0, 1)).item() for s in (0.02, 0.1, 0.3)]
    assert 0 < values[0] < values[1] < values[2]


def test_dists_gives_one_value_per_image_and_handles_odd_sizes(random_dists):
    x = torch.cat([_image(0, (23, 17)), _image(1, (23, 17))])
    values = random_dists(x, x.flip(0))
    assert values.shape == (2,)
    assert values[0].item() == pytest.approx(values[1].item(), rel=1e-4)  # symmetric
    assert values[0].item() > 0


def test_dists_random_backbone_is_seeded():
    a, b = _random_dists(), _random_dists()
    x, y = _image(0), _image(1)
    assert torch.equal(a(x, y), b(x, y))


def test_dists_missing_vgg_file_names_the_file_and_where_to_put_it(tmp_path):
    missing = tmp_path / "nowhere" / "vgg16-397923af.pth"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        DISTS(pretrained=True, vgg_path=missing, dists_weights_path=tmp_path / "w.pt")


def test_dists_missing_alpha_beta_file_names_the_file(tmp_path):
    vgg_path = tmp_path / "vgg16-397923af.pth"
    _save_fake_vgg(vgg_path)
    missing = tmp_path / "DISTS_weights.pt"
    with pytest.raises(FileNotFoundError) as error:
        DISTS(pretrained=True, vgg_path=vgg_path, dists_weights_path=missing)
    assert str(missing) in str(error.value)


def test_dists_default_lookup_is_the_torch_hub_checkpoint_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        DISTS(pretrained=True)
    assert str(Path(tmp_path) / "checkpoints" / "vgg16-397923af.pth") in str(error.value)


def _save_fake_vgg(path: Path) -> dict:
    generator = torch.Generator().manual_seed(3)
    state = {}
    for layer in torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"]).state_dict().items():
        name, tensor = layer
        state[f"features.{name}"] = torch.randn(tensor.shape, generator=generator) * 0.05
    torch.save(state, path)
    return state


def test_dists_conv_indices_match_torchvision_vgg16_layout():
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
    backbone = DISTSBackbone()
    flat = [index for stage in _VGG16_CONV_INDICES for index in stage]
    conv_indices = [i for i, layer in enumerate(features) if isinstance(layer, torch.nn.Conv2d)]
    assert flat == conv_indices
    for index, conv in backbone.convolutions():
        assert features[index].weight.shape == conv.weight.shape
    pools = [i for i, layer in enumerate(features) if isinstance(layer, torch.nn.MaxPool2d)]
    assert pools[:4] == [4, 9, 16, 23]


def test_dists_loads_real_format_weight_files(tmp_path):
    vgg_path = tmp_path / "vgg16-397923af.pth"
    state = _save_fake_vgg(vgg_path)
    total = sum(STAGE_CHANNELS)
    alpha = torch.rand(1, total, 1, 1, generator=torch.Generator().manual_seed(4))
    beta = torch.rand(1, total, 1, 1, generator=torch.Generator().manual_seed(5))
    weights_path = tmp_path / "DISTS_weights.pt"
    torch.save({"alpha": alpha, "beta": beta}, weights_path)
    metric = DISTS(pretrained=True, vgg_path=vgg_path, dists_weights_path=weights_path)
    index, conv = metric.backbone.convolutions()[7]
    assert torch.equal(conv.weight, state[f"features.{index}.weight"])
    assert torch.equal(metric.alpha, alpha.reshape(-1))
    assert not any(p.requires_grad for p in metric.parameters())


def test_dists_rejects_a_wrong_alpha_beta_file(tmp_path):
    vgg_path = tmp_path / "vgg.pth"
    _save_fake_vgg(vgg_path)
    bad = tmp_path / "bad.pt"
    torch.save({"alpha": torch.rand(10)}, bad)
    with pytest.raises(ValueError, match="bad.pt"):
        DISTS(pretrained=True, vgg_path=vgg_path, dists_weights_path=bad)


def test_dists_loss_is_ten_times_dists_plus_optional_l1_and_has_gradient(random_dists):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = DISTSLoss(pretrained=False, seed=0)
        loss_with_l1 = DISTSLoss(pretrained=False, seed=0, l1_weight=2.0, loss_weight=0.5)
    target = _image(0)
    pred = _image(1).requires_grad_(True)
    value = loss(pred, target)
    assert value.item() == pytest.approx(10 * random_dists(pred.detach(), target).item(), rel=1e-5)
    l1 = (pred.detach() - target).abs().mean().item()
    assert loss_with_l1(pred, target).item() == pytest.approx(0.5 * (value.item() + 2.0 * l1), rel=1e-5)
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())


def test_dists_gradients_stay_finite_and_close_under_float16_autocast(random_dists):
    """L2 pooling's sqrt(· + 1e-12) in float16 is sqrt(0) where a ReLU stage is all zeros: an
    infinite derivative times 0, NaN gradients at any loss scale (fp16 training never stepped)."""
    try:
        with torch.autocast("cpu", dtype=torch.float16):
            torch.nn.functional.conv2d(torch.rand(1, 1, 3, 3), torch.rand(1, 1, 3, 3))
    except RuntimeError as error:
        pytest.skip(f"no float16 autocast on this CPU build ({error})")
    target = _image(1, size=(32, 32))
    gradients = {}
    for amp in (False, True):
        pred = _image(2, size=(32, 32)).requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.float16, enabled=amp):
            random_dists(pred, target).sum().backward()
        gradients[amp] = pred.grad
    assert torch.isfinite(gradients[True]).all()
    similarity = torch.nn.functional.cosine_similarity(gradients[True].flatten(), gradients[False].flatten(), dim=0)
    assert similarity > 0.99
