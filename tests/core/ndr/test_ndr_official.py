"""`degplug convert ndr-official`: the authors' model_L.pth layout → a degplug checkpoint, RGB ↔ BGR.

The authors' state_dict layout is recorded in ``data/ndr_official_model_L_layout.txt`` (their NDRN
instantiated, every key and shape written down). A random state_dict in that layout is converted;
the converted networks on an RGB image must equal the authors' computation on the BGR image,
written out below from their NDR.py formulas on their own key names (not through degplug's modules).
"""

from __future__ import annotations


import pytest
import torch
import torch.nn.functional as F

from degplug.cli.main import main
from degplug.data.image_io import read_image, write_image
from degplug.ndr.checkpoint import load_degrader, load_restorer
from degplug.ndr.official import convert_official_state_dict, official_layout
from tests.helpers.official_states import random_official_state, recorded_layout

TOLERANCE = 1e-5


# ---------------------------------------------------------------------------------------------
# The authors' forward passes (NDR.py, common.py), on their key names, BGR in and out.

def _conv(sd, name, x, padding=0, groups=1):
    return F.conv2d(x, sd[name + ".weight"], sd.get(name + ".bias"), padding=padding, groups=groups)


def _layer_norm_with_bias(sd, name, x):
    mu = x.mean(1, keepdim=True)
    var = x.var(1, keepdim=True, unbiased=False)
    return (x - mu) / torch.sqrt(var + 1e-5) * sd[name + ".weight"][:, None, None] + sd[name + ".bias"][:, None, None]


def _transformer_block(sd, p, x, heads):
    n, c, h, w = x.shape
    y = _layer_norm_with_bias(sd, p + "norm1.body", x)
    qkv = _conv(sd, p + "attn.qkv_dwconv", _conv(sd, p + "attn.qkv", y), padding=1, groups=3 * c)
    q, k, v = (t.reshape(n, heads, c // heads, h * w) for t in qkv.chunk(3, dim=1))
    q, k = F.normalize(q, dim=-1), F.normalize(k, dim=-1)
    attention = ((q @ k.transpose(-2, -1)) * sd[p + "attn.temperature"]).softmax(dim=-1)
    x = x + _conv(sd, p + "attn.project_out", (attention @ v).reshape(n, c, h, w))
    y = _conv(sd, p + "ffn.project_in", _layer_norm_with_bias(sd, p + "norm2.body", x))
    y = _conv(sd, p + "ffn.dwconv", y, padding=1, groups=y.shape[1])
    gate, value = y.chunk(2, dim=1)
    return x + _conv(sd, p + "ffn.project_out", F.gelu(gate) * value)


def _blocks(sd, p, x, heads, count, first=0):
    for index in range(first, first + count):
        x = _transformer_block(sd, f"{p}.{index}.", x, heads)
    return x


def _low_rank_transform(sd, p, x):
    n, c, h, w = x.shape
    factor_c = torch.sigmoid(_conv(sd, p + "conv_C.1", x.mean(dim=(2, 3), keepdim=True))).view(n, 16, c, 1, 1)
    factor_h = torch.sigmoid(_conv(sd, p + "conv_H.1", x.mean(dim=3, keepdim=True))).view(n, 16, 1, h, 1)
    factor_w = torch.sigmoid(_conv(sd, p + "conv_W.1", x.mean(dim=2, keepdim=True))).view(n, 16, 1, 1, w)
    return x * (factor_c * factor_h * factor_w).mean(1)


def _inject(sd, p, x, d):
    d = _low_rank_transform(sd, p + "low_rank_transform1.", _conv(sd, p + "conv1", d))
    return _conv(sd, p + "f", d) * _low_rank_transform(sd, p + "low_rank_transform3.", x) + _conv(sd, p + "g", d)


def _representation(sd, p, x, dr):
    m = _conv(sd, p + "mapping", x, padding=1)
    n, _, h, w = m.shape
    q = _conv(sd, p + "degradation_recog.attn.qkv", m).view(n, -1, h * w)
    attention = ((q.transpose(-2, -1) @ dr.transpose(-2, -1)) * sd[p + "degradation_recog.attn.temperature"]).softmax(-1)
    looked_up = (attention @ dr).transpose(-2, -1).reshape(n, -1, h, w)
    rep = _conv(sd, p + "degradation_recog.ffn.project_out", _conv(sd, p + "degradation_recog.attn.project_out", looked_up))
    return _inject(sd, p + "inject_degradation.", x, rep), rep


def _down(sd, p, x):
    return F.pixel_unshuffle(_conv(sd, p + "body.0", x, padding=1), 2)


def _up(sd, p, x):
    return F.pixel_shuffle(_conv(sd, p + "body.0", x, padding=1), 2)


def authors_restoration(sd, bgr):
    """RestorationNet.forward: (output, [x_rep1, x_rep2, x_rep3]); no input residual."""
    r, dr = "restoration_net.", sd["restoration_net.dr"]
    x1 = _blocks(sd, r + "block1", _conv(sd, r + "extractor", bgr, padding=1), 1, 4)
    x2 = _blocks(sd, r + "block2", _down(sd, r + "pool1.", x1), 2, 6)
    x3 = _blocks(sd, r + "block3", _down(sd, r + "pool2.", x2), 4, 6)
    bottom = _blocks(sd, r + "bottom", _down(sd, r + "pool3.", x3), 6, 8)
    (res1, rep1), (res2, rep2), (res3, rep3) = (
        _representation(sd, f"{r}res_connect{i}.", x, dr) for i, x in ((1, x1), (2, x2), (3, x3))
    )
    y = torch.cat([res3, _up(sd, r + "up3.", bottom)], dim=1)
    y = _blocks(sd, r + "block_up3", _conv(sd, r + "block_up3.0", y), 4, 6, first=1)
    y = torch.cat([res2, _up(sd, r + "up2.", y)], dim=1)
    y = _blocks(sd, r + "block_up2", _conv(sd, r + "block_up2.0", y), 2, 6, first=1)
    y = torch.cat([res1, _up(sd, r + "up1.", y)], dim=1)
    y = _blocks(sd, r + "block_up1", _conv(sd, r + "block_up1.0", y), 1, 4, first=1)
    y = _blocks(sd, r + "refinement", y, 1, 3)
    return _conv(sd, r + "reconstruction", y, padding=1), [rep1, rep2, rep3]


def _double_conv(sd, p, x):
    return x + F.relu(_conv(sd, p + "conv.2", F.relu(_conv(sd, p + "conv.0", x, padding=1)), padding=1))


def authors_degradation(sd, bgr, reps):
    """DegradationNet.forward: the clean image degraded as the representations say, plus the input."""
    d = "degradation_net."
    x1 = _double_conv(sd, d + "block1.", _conv(sd, d + "extractor", bgr, padding=1))
    x2 = _double_conv(sd, d + "block2.", _down(sd, d + "pool1.", x1))
    x3 = _double_conv(sd, d + "block3.", _down(sd, d + "pool2.", x2))
    bottom = _double_conv(sd, d + "bottom.", _down(sd, d + "pool3.", x3))
    res = [_inject(sd, f"{d}inject_degradation{i + 1}.", x, rep) for i, (x, rep) in enumerate(zip((x1, x2, x3), reps))]
    y = _double_conv(sd, d + "block_up3.1.", _conv(sd, d + "block_up3.0", torch.cat([res[2], _up(sd, d + "up3.", bottom)], 1)))
    y = _double_conv(sd, d + "block_up2.1.", _conv(sd, d + "block_up2.0", torch.cat([res[1], _up(sd, d + "up2.", y)], 1)))
    y = _double_conv(sd, d + "block_up1.1.", _conv(sd, d + "block_up1.0", torch.cat([res[0], _up(sd, d + "up1.", y)], 1)))
    rg = d + "refinement.body."
    body = _conv(sd, rg + "0.body.2", F.relu(_conv(sd, rg + "0.body.0", y, padding=1)), padding=1)
    gate = torch.sigmoid(_conv(sd, rg + "0.body.3.conv_du.2", F.relu(_conv(sd, rg + "0.body.3.conv_du.0", body.mean((2, 3), keepdim=True)))))
    group = _conv(sd, rg + "1", y + body * gate, padding=1) + y
    return _conv(sd, d + "reconstruction", group, padding=1) + bgr


# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def official_file(tmp_path_factory):
    state = random_official_state(0)
    path = tmp_path_factory.mktemp("official") / "model_L.pth"
    torch.save(state, path)
    return path, state


@pytest.fixture(scope="module")
def converted(official_file, tmp_path_factory):
    src, _ = official_file
    out = tmp_path_factory.mktemp("converted") / "ndr.pth"
    assert main(["convert", "ndr-official", str(src), "--out", str(out)]) == 0
    return out


def test_degplug_layout_maps_one_to_one_onto_the_recorded_authors_keys():
    recorded = recorded_layout()
    assert len(recorded) == 671
    ours = official_layout()
    assert {k: tuple(v[2]) for k, v in ours.items()} == recorded
    targets = [(net, key) for official, (net, key, _) in ours.items() if official != "restoration_net.dr"]
    assert len(targets) == len(set(targets))  # no two of their tensors land on one of ours


def test_converted_networks_on_rgb_equal_the_authors_computation_on_bgr(official_file, converted):
    _, state = official_file
    restorer, degrader = load_restorer(converted).eval(), load_degrader(converted).eval()
    g = torch.Generator().manual_seed(5)
    rgb, clean_rgb = torch.rand(2, 3, 24, 32, generator=g), torch.rand(2, 3, 24, 32, generator=g)
    with torch.no_grad():
        expected_bgr, expected_reps = authors_restoration(state, rgb.flip(1))
        expected_degraded_bgr = authors_degradation(state, clean_rgb.flip(1), expected_reps)
        restored, features = restorer.forward_with_features(rgb)
        degraded = degrader(clean_rgb, features)
    assert 0.05 < expected_bgr.abs().max() < 20  # a meaningful output scale for an absolute tolerance
    torch.testing.assert_close(restored, expected_bgr.flip(1), rtol=0, atol=TOLERANCE)
    for ours, theirs in zip(features, expected_reps):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=TOLERANCE)
    torch.testing.assert_close(degraded, expected_degraded_bgr.flip(1), rtol=0, atol=TOLERANCE)
    # the colour reordering matters: the same weights without it give another result
    with torch.no_grad():
        assert (restorer(rgb.flip(1)) - expected_bgr.flip(1)).abs().max() > 100 * TOLERANCE


def test_converted_file_serves_degplug_basicsr_and_mmagic_layouts(converted, tmp_path):
    state = torch.load(converted, map_location="cpu", weights_only=True)
    restorer = load_restorer(converted)
    assert set(state["params"]) == set(restorer.state_dict())  # BasicSR: path.pretrain_network_g, param_key params
    assert {k for k in state["state_dict"] if k.startswith("restorer.")} == {f"restorer.{k}" for k in restorer.state_dict()}
    assert {k for k in state["state_dict"] if k.startswith("degrader.")} == {
        f"degrader.{k}" for k in load_degrader(converted).state_dict()}  # MMagic: NDREditor.restorer / .degrader
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(load_restorer(converted).eval()(x), restorer.eval()(x))  # degplug eval ndr
    write_image(tmp_path / "in" / "a.png", x[0])
    assert main(["restore", "--ckpt", str(converted), "--input", str(tmp_path / "in"), "--out",
                 str(tmp_path / "out"), "--device", "cpu", "--no-progress"]) == 0
    assert read_image(tmp_path / "out" / "a.png").shape == (3, 16, 16)


def test_module_prefixed_keys_and_one_copy_of_the_dictionary_convert_the_same(official_file):
    _, state = official_file
    reference = convert_official_state_dict(state)
    wrapped = {f"module.{k}": v for k, v in state.items() if k != "restoration_net.dr"}
    for ours, theirs in zip(convert_official_state_dict(wrapped), reference):
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_foreign_or_damaged_files_are_refused_naming_what_is_wrong(official_file, tmp_path, capsys):
    _, state = official_file

    def convert(modified: dict, name: str) -> str:
        path = tmp_path / f"{name}.pth"
        torch.save(modified, path)
        assert main(["convert", "ndr-official", str(path), "--out", str(tmp_path / f"{name}_out.pth")]) == 1
        assert not (tmp_path / f"{name}_out.pth").exists()
        return capsys.readouterr().err

    missing = {k: v for k, v in state.items() if k != "restoration_net.res_connect2.mapping.weight"}
    assert "missing keys: restoration_net.res_connect2.mapping.weight" in convert(missing, "missing")
    extra = {**state, "restoration_net.extra.weight": torch.zeros(1)}
    assert "unexpected keys: restoration_net.extra.weight" in convert(extra, "extra")
    wrong = {**state, "degradation_net.up2.body.0.weight": torch.zeros(384, 192, 1, 1)}
    err = convert(wrong, "shape")
    assert "degradation_net.up2.body.0.weight: expected (384, 192, 3, 3), found (384, 192, 1, 1)" in err
    err = convert({"weights": [1, 2]}, "foreign")
    assert "not an NDRN state_dict" in err and "weights" in err
    assert main(["convert", "ndr-official", str(tmp_path / "absent.pth"), "--out", str(tmp_path / "o.pth")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_unconverted_authors_file_given_to_restore_names_the_converter(official_file, tmp_path, capsys):
    src, _ = official_file
    write_image(tmp_path / "in" / "a.png", torch.rand(3, 8, 8))
    assert main(["restore", "--ckpt", str(src), "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out")]) == 1
    assert "degplug convert ndr-official" in capsys.readouterr().err
