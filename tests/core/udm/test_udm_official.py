"""The UDM authors' released checkpoints converted into degplug (``degplug convert udm-official``).

The state_dicts below are laid out exactly as the authors' trainer saves them
(``torch.save({'model': {'netE', 'netE_loc', 'netG', 'netCprs', 'netCprs_loc', 'netP'}})``, key
names and shapes as their modules produce them with CompressAI 1.2.8); the reference forward pass
is their computation written out with ``torch.nn.functional`` on those keys, independently of
degplug's modules: images in [-1, 1], the U-Net's own ``2x - 1``, pre-activation convolutions
without bias, LeakyReLU(0.01), ReLU in the last block, condition resized per SFT layer with
``align_corners=True``, noise maps drawn in network order.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from degplug.cli.main import main as degplug_main
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.official import convert_official_checkpoint
from tests.helpers.official_states import STAGES, authors_layout, authors_state, save_authors_checkpoint

# ------------------------------------------------------- the authors' computation, written out
def _block(sd, name, x, stride=1, padding=0):
    x = F.conv2d(x, sd[f"{name}.conv.weight"], sd[f"{name}.conv.bias"], stride=stride, padding=padding)
    x = F.batch_norm(x, sd[f"{name}.norm.running_mean"], sd[f"{name}.norm.running_var"],
                     sd[f"{name}.norm.weight"], sd[f"{name}.norm.bias"], training=False, eps=1e-5)
    return F.leaky_relu(x, 0.2)


def _short_branch(sd, x):
    for index, (stride, padding) in enumerate([(1, 1), (1, 0), (2, 1), (1, 0), (1, 1), (1, 0)]):
        x = _block(sd, f"LPE_l.{index}", x, stride, padding)
    return x


def ref_hden(sd, y):
    """LPE on y in [-1, 1]: [avg(long), avg(short)] → MLP."""
    k = sd["LPE_p.0.conv.weight"].shape[-1]
    p = _block(sd, "LPE_p.0", y, stride=(k - 1) // 2, padding=0)
    for index in (1, 2, 3):
        p = _block(sd, f"LPE_p.{index}", p, padding=1)
    features = torch.cat([p.mean(dim=(2, 3)), _short_branch(sd, y).mean(dim=(2, 3))], dim=1)
    hidden = F.leaky_relu(F.linear(features, sd["last_mlp.0.weight"], sd["last_mlp.0.bias"]), 0.1)
    return F.linear(hidden, sd["last_mlp.2.weight"], sd["last_mlp.2.bias"])


def ref_iden(sd, y):
    """LPEL on y in [-1, 1] (even sizes)."""
    k = sd["LPE_p.0.conv.weight"].shape[-1]
    s = (k - 1) // 2
    p = _block(sd, "LPE_p.0", y, stride=s, padding=s // 2)
    for index in (1, 2, 3):
        p = _block(sd, f"LPE_p.{index}", p, padding=1)
    p = F.avg_pool2d(F.conv_transpose2d(p, sd["LPE_p.4.weight"], sd["LPE_p.4.bias"], stride=s), 2)
    short = _short_branch(sd, y)
    p = p[..., : short.shape[-2], : short.shape[-1]]
    hidden = F.leaky_relu(F.conv2d(torch.cat([p, short], 1), sd["last_mlp.0.weight"], sd["last_mlp.0.bias"]), 0.1)
    return torch.sigmoid(F.conv2d(hidden, sd["last_mlp.2.weight"], sd["last_mlp.2.bias"]))


def _bottleneck_param(sd, kind, i):
    return sd.get(f"model.{ {'m': 'matrices', 'b': 'biases', 'f': 'factors'}[kind]}.{i}",
                  sd.get(f"model._{ {'m': 'matrix', 'b': 'bias', 'f': 'factor'}[kind]}{i}"))


def ref_bottleneck(sd, x):
    """EntropyBottleneck at eval: round around the medians; likelihood of the unit bin, bounded at 1e-9.

    x: N×C×...; returns (x̂, -log2 p summed over every dimension but the batch)."""
    channels = x.shape[1]
    medians = sd["model.quantiles"][:, 0, 1].view(1, channels, *([1] * (x.dim() - 2)))
    x_hat = torch.round(x - medians) + medians

    def logits(v):  # v: C×1×M
        for i in range(5):
            v = torch.matmul(F.softplus(_bottleneck_param(sd, "m", i)), v) + _bottleneck_param(sd, "b", i)
            if i < 4:
                v = v + torch.tanh(_bottleneck_param(sd, "f", i)) * torch.tanh(v)
        return v

    values = x_hat.transpose(0, 1).reshape(channels, 1, -1)
    likelihood = (torch.sigmoid(logits(values + 0.5)) - torch.sigmoid(logits(values - 0.5))).clamp_min(1e-9)
    likelihood = likelihood.reshape(channels, x.shape[0], *x.shape[2:]).transpose(0, 1)
    return x_hat, -torch.log2(likelihood).flatten(1).sum(dim=1)


def _residual_mlp(sd, prefix, x):
    for block in range(2):
        p = f"{prefix}.layers.{block}.block."
        x = x + F.linear(F.relu(F.linear(x, sd[p + "0.weight"], sd[p + "0.bias"])), sd[p + "2.weight"], sd[p + "2.bias"])
    return x


def ref_global_rate(sd, e_g):
    code, bits = ref_bottleneck(sd, _residual_mlp(sd, "head", e_g))
    return _residual_mlp(sd, "tail", code), bits


def _gdn(sd, name, x, inverse):
    pedestal = 2.0 ** -36
    beta = torch.clamp(sd[f"{name}.beta"], min=(1e-6 + pedestal) ** 0.5) ** 2 - pedestal
    gamma = torch.clamp(sd[f"{name}.gamma"], min=2.0 ** -18) ** 2 - pedestal
    norm = torch.sqrt(F.conv2d(x ** 2, gamma[:, :, None, None], beta))
    return x * norm if inverse else x / norm


def ref_compressor(sd, e_l):
    """ImageCompressor at eval on e_l (size a multiple of 16): (clamped reconstruction, bits per position per image)."""
    x = _gdn(sd, "model.Encoder.gdn1", F.conv2d(e_l, sd["model.Encoder.conv1.weight"], sd["model.Encoder.conv1.bias"], stride=4, padding=4), False)
    x = _gdn(sd, "model.Encoder.gdn2", F.conv2d(x, sd["model.Encoder.conv2.weight"], sd["model.Encoder.conv2.bias"], stride=2, padding=2), False)
    code = torch.round(F.conv2d(x, sd["model.Encoder.conv3.weight"], stride=2, padding=2))

    def cdf(v):
        for layer in range(1, 5):
            h, b = sd[f"model.bitEstimator.f{layer}.h"], sd[f"model.bitEstimator.f{layer}.b"]
            v = v * F.softplus(h) + b
            v = torch.sigmoid(v) if layer == 4 else v + torch.tanh(v) * torch.tanh(sd[f"model.bitEstimator.f{layer}.a"])
        return v

    probability = cdf(code + 0.5) - cdf(code - 0.5)
    bits = torch.clamp(-1.0 * torch.log(probability + 1e-10) / math.log(2.0), 0, 50).flatten(1).sum(dim=1)
    y = _gdn(sd, "model.Decoder.igdn1", F.conv_transpose2d(code, sd["model.Decoder.deconv1.weight"], sd["model.Decoder.deconv1.bias"], stride=2, padding=2, output_padding=1), True)
    y = _gdn(sd, "model.Decoder.igdn2", F.conv_transpose2d(y, sd["model.Decoder.deconv2.weight"], sd["model.Decoder.deconv2.bias"], stride=2, padding=2, output_padding=1), True)
    y = F.conv_transpose2d(y, sd["model.Decoder.deconv3.weight"], sd["model.Decoder.deconv3.bias"], stride=4, padding=4, output_padding=3)
    return y.clamp(0.0, 1.0), bits / (e_l.shape[-2] * e_l.shape[-1])


def ref_synthesis(sd, x, e_g, e_l, generator):
    """BasicWrapper(VUNet) on x in [-1, 1]; output in [-1, 1]."""
    cond = torch.cat([e_l, e_g[:, :, None, None].expand(-1, -1, *e_l.shape[-2:])], dim=1)
    cond = F.conv2d(cond, sd["conv.weight"], sd["conv.bias"], padding=1)
    cond = F.conv2d(F.relu(cond), sd["net.map_head.conv2d.weight"], padding=1)

    def act(v, relu):
        return F.relu(v) if relu else F.leaky_relu(v, 0.01)

    def sft(p, y, relu):
        b, _, h, w = y.shape
        full = cond if cond.shape[-2:] == (h, w) else F.interpolate(cond, (h, w), mode="bilinear", align_corners=True)
        half = cond if cond.shape[-2:] == (h // 2, w // 2) else F.interpolate(cond, (h // 2, w // 2), mode="bilinear", align_corners=True)
        gamma = F.conv2d(act(F.conv2d(full, sd[p + "convs_gamma.0.conv2d.weight"]), relu), sd[p + "convs_gamma.1.conv2d.weight"])
        noise = torch.randn((b, 1, h, w), generator=generator)
        beta = F.conv2d(torch.cat([full, noise], 1), sd[p + "convs_beta.0.conv2d.weight"])
        beta = F.conv2d(act(beta, relu), sd[p + "convs_beta.1.conv2d.weight"])
        gate = F.leaky_relu(F.conv_transpose2d(half, sd[p + "spatial_gamma.transform_map.0.weight"], stride=2), 0.1)
        gate = F.conv2d(gate, sd[p + "spatial_gamma.transform_map.2.weight"], stride=2, padding=1)
        ida = F.conv2d(y, sd[p + "spatial_gamma.transform_x.weight"], stride=2, padding=1) * gate
        ida = F.conv_transpose2d(ida, sd[p + "spatial_gamma.deconv.weight"], sd[p + "spatial_gamma.deconv.bias"], stride=2)
        return y * (1 + gamma) + beta + ida

    def stage(name, count, y):
        for block in range(count):
            p = f"net.{name}.{block}."
            relu = name == "blocks1_" and block == count - 1  # the last residual block uses ReLU
            r = F.conv2d(act(sft(p + "sft1.", y, relu), relu), sd[p + "conv1.conv2d.weight"], padding=1)
            r = F.conv2d(act(sft(p + "sft2.", r, relu), relu), sd[p + "conv2.conv2d.weight"], padding=1)
            y = y + r
        return y

    counts = {name: count for name, _, count in STAGES}
    y = F.conv2d(x * 2 - 1, sd["net.conv_first.conv2d.weight"], padding=1)
    skip1 = y = stage("blocks1", counts["blocks1"], y)
    skip2 = y = stage("blocks2", counts["blocks2"], F.conv2d(y, sd["net.conv_down1.conv2d.weight"], stride=2, padding=1))
    y = stage("blocks3", counts["blocks3"], F.conv2d(y, sd["net.conv_down2.conv2d.weight"], stride=2, padding=1))
    y = F.conv_transpose2d(y, sd["net.conv_up2.tconv2d.weight"], stride=2, padding=1)
    y = F.conv2d(act(torch.cat([y, skip2], 1), False), sd["net.conv_skip2.conv2d.weight"], padding=1)
    y = stage("blocks2_", counts["blocks2_"], y)
    y = F.conv_transpose2d(y, sd["net.conv_up1.tconv2d.weight"], stride=2, padding=1)
    y = F.conv2d(act(torch.cat([y, skip1], 1), False), sd["net.conv_skip1.conv2d.weight"], padding=1)
    y = stage("blocks1_", counts["blocks1_"], y)
    return F.conv2d(act(y, False), sd["net.conv_last.conv2d.weight"])


# ------------------------------------------------------------------------------------ tests
def test_layout_of_the_full_size_model_is_the_one_their_modules_produce():
    """Counts and spot shapes taken from the authors' CombinedModel at their training-config sizes
    (moco_enc_dim 256, kernel 3, e_l 4 channels, proj_dim_noise 8, head/tail 2 layers)."""
    layout = authors_layout()
    assert {part: len(keys) for part, keys in layout.items()} == {
        "netE": 74, "netE_loc": 76, "netG": 331, "netCprs": 36, "netCprs_loc": 20}
    assert layout["netG"]["net.blocks1.0.sft1.convs_gamma.0.conv2d.weight"] == (18, 8, 1, 1)
    assert layout["netG"]["net.blocks1.0.sft1.convs_beta.0.conv2d.weight"] == (18, 9, 1, 1)
    assert layout["netG"]["net.blocks1.0.sft1.spatial_gamma.transform_map.0.weight"] == (8, 36, 2, 2)
    assert layout["netE_loc"]["LPE_p.4.weight"] == (128, 256, 3, 3)
    assert layout["netE_loc"]["last_mlp.2.weight"] == (4, 256, 1, 1)
    assert layout["netCprs"]["model.matrices.4"] == (256, 1, 3)
    synthesis = sum(math.prod(shape) for shape in layout["netG"].values())
    assert synthesis == 11_684_520
    assert len(authors_layout(compressor=64)["netCprs_loc"]) == 30


CASES = {
    # the released training configs' sizes, e_l rate: bare EntropyBottleneck
    "full-size-bottleneck": dict(sizes=dict(), reference=(32, 32), clean=[(32, 32), (40, 56)]),
    # other sizes read from the shapes; e_l rate: the learned compressor; IDEN kernel 5 (stride 2, crop)
    "small-compressor": dict(sizes=dict(dim=32, k=5, k_loc=5, map_channels=3, filters=8, cond=6, compressor=8),
                             reference=(32, 64), clean=[(32, 64), (48, 24)]),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def converted(request, tmp_path_factory):
    case = CASES[request.param]
    parts = authors_state(seed=1, **case["sizes"])
    folder = tmp_path_factory.mktemp(request.param)
    save_authors_checkpoint(folder / "theirs.pt", parts)
    assert degplug_main(["convert", "udm-official", str(folder / "theirs.pt"), "--out", str(folder / "udm.pth")]) == 0
    model = UniversalDegradationModel.from_checkpoint(folder / "udm.pth").eval()
    return case, parts, model


def _images(shape, seed):
    return torch.rand(2, 3, *shape, generator=torch.Generator().manual_seed(seed))


def test_encode_and_rates_equal_the_authors_computation(converted):
    case, parts, model = converted
    y = _images(case["reference"], 10)
    with torch.no_grad():
        embedding, bits_g, rate_l = model.encode_with_rates(y)
        signed = y * 2 - 1  # degplug's [0, 1] → the authors' [-1, 1]
        e_g, expected_bits_g = ref_global_rate(parts["netCprs"], ref_hden(parts["netE"], signed))
        raw_l = ref_iden(parts["netE_loc"], signed)
        if case["sizes"].get("compressor"):
            e_l, expected_rate_l = ref_compressor(parts["netCprs_loc"], raw_l)
        else:
            e_l, bits_l = ref_bottleneck(parts["netCprs_loc"], raw_l)
            expected_rate_l = bits_l / (raw_l.shape[-2] * raw_l.shape[-1])  # their bpp map, averaged over positions
    assert embedding.local_map.shape == (2, raw_l.shape[1], case["reference"][0] // 2, case["reference"][1] // 2)
    assert (e_g - e_g.round()).abs().max() > 0.01  # the tail MLP is not the identity here
    torch.testing.assert_close(embedding.global_vector, e_g, rtol=0, atol=1e-5)
    torch.testing.assert_close(embedding.local_map, e_l, rtol=0, atol=1e-5)
    torch.testing.assert_close(bits_g, expected_bits_g, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(rate_l, expected_rate_l, rtol=1e-6, atol=1e-5)
    assert bits_g.min() > 0 and rate_l.min() > 0


def test_synthesis_with_a_fixed_random_state_equals_the_authors_computation(converted):
    case, parts, model = converted
    y = _images(case["reference"], 11)
    with torch.no_grad():
        embedding = model.encode(y)
        for index, shape in enumerate(case["clean"]):  # reproduction size, then a transfer to another size
            x = _images(shape, 20 + index)
            ours = model.synthesize_unclamped(x, embedding, torch.Generator().manual_seed(7))
            theirs = ref_synthesis(parts["netG"], x * 2 - 1, embedding.global_vector, embedding.local_map,
                                   torch.Generator().manual_seed(7))
            torch.testing.assert_close(ours, (theirs + 1) / 2, rtol=0, atol=1e-5)  # [-1, 1] → degplug's [0, 1]
            clamped = model.synthesize(x, embedding, seed=7)
            torch.testing.assert_close(clamped, ((theirs + 1) / 2).clamp(0, 1), rtol=0, atol=1e-5)
            other_seed = model.synthesize_unclamped(x, embedding, torch.Generator().manual_seed(8))
            assert (other_seed - ours).abs().max() > 1e-3  # the random state matters


def test_files_of_older_compressai_versions_convert_to_the_same_model(tmp_path):
    sizes = dict(dim=16, map_channels=2, filters=8, k_loc=5)
    new, old = authors_state(seed=3, **sizes), authors_state(seed=3, **sizes, old_names=True)
    save_authors_checkpoint(tmp_path / "new.pt", new)
    save_authors_checkpoint(tmp_path / "old.pt", old)
    a = convert_official_checkpoint(tmp_path / "new.pt", tmp_path / "a.pth").state_dict()
    b = convert_official_checkpoint(tmp_path / "old.pt", tmp_path / "b.pth").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_inferred_config_is_the_official_variant_with_the_sizes_of_the_tensors(tmp_path):
    save_authors_checkpoint(tmp_path / "theirs.pt", authors_state(dim=32, k=5, k_loc=7, map_channels=3, filters=8, cond=6, compressor=8))
    config = convert_official_checkpoint(tmp_path / "theirs.pt", tmp_path / "udm.pth").config
    assert (config.architecture, config.encoder_width, config.long_kernel, config.iden_long_kernel) == ("official", 8, 5, 7)
    assert (config.map_channels, config.synthesis_width, config.cond_channels, config.embed_dim) == (3, 8, 6, 256)
    assert (config.map_rate_compress, config.map_code_channels, config.rate_hidden) == (True, 8, 64)
    assert config.synthesis_blocks == (4, 3, 2, 3, 4)


def _bad_files():
    parts = authors_state(dim=16, map_channels=2, filters=8)
    missing = {p: dict(v) for p, v in parts.items()}
    del missing["netG"]["net.blocks1_.3.sft2.convs_beta.1.conv2d.weight"]
    extra = {p: dict(v) for p, v in parts.items()}
    extra["netE"]["LPE_p.9.conv.weight"] = torch.zeros(1)
    misshapen = {p: dict(v) for p, v in parts.items()}
    misshapen["netG"]["net.map_head.conv2d.weight"] = torch.zeros(8, 8, 1, 1)
    no_part = {p: v for p, v in parts.items() if p != "netCprs_loc"}
    return {
        "not-theirs": ({"params": {"weight": torch.zeros(1)}}, ["not a UDM authors' checkpoint", "'params'", "netE"]),
        "missing-part": ({"model": no_part}, ["parts missing ['netCprs_loc']"]),
        "missing-key": ({"model": missing}, ["missing keys", "netG.net.blocks1_.3.sft2.convs_beta.1.conv2d.weight"]),
        "unexpected-key": ({"model": extra}, ["netE: unexpected keys", "LPE_p.9.conv.weight"]),
        "wrong-shape": ({"model": misshapen}, ["netG.net.map_head.conv2d.weight", "(8, 8, 1, 1)", "(8, 8, 3, 3)"]),
        "a-tensor": (torch.zeros(3), ["not a UDM authors' checkpoint"]),
    }


@pytest.mark.parametrize("name", sorted(_bad_files()))
def test_files_that_are_not_theirs_or_of_unknown_layout_fail_naming_the_keys(name, tmp_path, capsys):
    state, phrases = _bad_files()[name]
    torch.save(state, tmp_path / "bad.pt")
    assert degplug_main(["convert", "udm-official", str(tmp_path / "bad.pt"), "--out", str(tmp_path / "udm.pth")]) == 1
    message = capsys.readouterr().err
    assert message.startswith("degplug convert: error:") and "Traceback" not in message
    for phrase in phrases:
        assert phrase in message
    assert not (tmp_path / "udm.pth").exists()


def test_a_file_holding_other_objects_is_refused_without_unpickling_it(tmp_path, capsys):
    torch.save({"model": {"netE": {"x": torch.zeros(1)}}, "extra": _Marker()}, tmp_path / "pickled.pt")
    assert degplug_main(["convert", "udm-official", str(tmp_path / "pickled.pt"), "--out", str(tmp_path / "o.pth")]) == 1
    assert "weights-only" in capsys.readouterr().err


class _Marker:
    pass


def test_converted_file_serves_the_udm_verbs_and_the_blind_wrapper(tmp_path):
    from degplug.blind.wrapper import BlindWrapper
    from degplug.data.image_io import write_image

    save_authors_checkpoint(tmp_path / "theirs.pt", authors_state(seed=2, dim=16, map_channels=2, filters=8))
    assert degplug_main(["convert", "udm-official", str(tmp_path / "theirs.pt"), "--out", str(tmp_path / "udm.pth")]) == 0
    state = torch.load(tmp_path / "udm.pth", weights_only=True)
    assert state["params"].keys() == state["state_dict"].keys()  # BasicSR's default param_key reads the same tensors
    images = _images((32, 40), 5)
    write_image(tmp_path / "ref.png", images[0])
    write_image(tmp_path / "clean.png", images[1])
    ckpt = str(tmp_path / "udm.pth")
    assert degplug_main(["transfer", "--ckpt", ckpt, "--ref", str(tmp_path / "ref.png"), "--input", str(tmp_path / "clean.png"),
                         "--out", str(tmp_path / "out.png"), "--seed", "0"]) == 0
    assert degplug_main(["encode", "--ckpt", ckpt, "--input", str(tmp_path / "ref.png"), "--out", str(tmp_path / "e.pt")]) == 0
    assert (tmp_path / "out.png").is_file() and (tmp_path / "e.pt").is_file()
    blind = BlindWrapper(torch.nn.Identity(), udm=ckpt)
    assert blind.udm.config.architecture == "official"


def test_the_official_variant_trains_one_step(tmp_path):
    """Fine-tuning: the core training step runs on the official variant and moves its weights."""
    from degplug.udm.training import UDMTrainingOptions, UDMTrainingStep

    save_authors_checkpoint(tmp_path / "theirs.pt", authors_state(seed=4, dim=16, map_channels=2, filters=8))
    model = convert_official_checkpoint(tmp_path / "theirs.pt", tmp_path / "udm.pth").train()
    step = UDMTrainingStep(model, UDMTrainingOptions.from_dict(
        {"dists_pretrained": False, "queue_size": 4, "weights": {"similarity": 0.0, "l1": 1.0, "gan": 0.0}}))
    groups = step.parameter_groups()
    assert groups["aux"] and {id(p) for p in groups["main"]}.isdisjoint(id(p) for p in groups["aux"])
    assert len(groups["main"]) + len(groups["aux"]) == len(list(model.parameters()))
    before = model.synthesis.head.weight.detach().clone()
    optimizer = torch.optim.Adam(groups["main"], lr=1e-3)
    batch = {name: _images((32, 32), seed) for name, seed in (("gt", 1), ("lq", 2), ("gt_b", 3), ("lq_b", 4))}
    losses = step.generator_losses(batch, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(losses["loss"]) and torch.isfinite(losses["aux_loss"])
    (losses["loss"] + losses["aux_loss"]).backward()
    optimizer.step()
    assert not torch.equal(before, model.synthesis.head.weight)


def test_sizes_their_code_rejects_still_work_and_keep_their_shapes(tmp_path):
    """Odd images (IDEN), images whose sides are not multiples of 8 (U-Net) and maps whose sides are
    not multiples of 16 (compressor) are padded inside and cropped back."""
    save_authors_checkpoint(tmp_path / "theirs.pt", authors_state(seed=6, dim=16, map_channels=2, filters=8, compressor=8))
    model = convert_official_checkpoint(tmp_path / "theirs.pt", tmp_path / "udm.pth")
    with torch.no_grad():
        embedding, bits_g, rate_l = model.encode_with_rates(_images((33, 21), 1))
        assert embedding.local_map.shape == (2, 2, 17, 11)
        out = model.synthesize(_images((30, 45), 2), embedding, seed=0)
    assert out.shape == (2, 3, 30, 45) and torch.isfinite(out).all() and torch.isfinite(rate_l).all()


def test_unknown_architecture_is_refused_naming_the_option():
    with pytest.raises(ValueError, match="architecture"):
        UniversalDegradationModel(architecture="authors")
    with pytest.raises(ValueError, match="map_channels"):
        UniversalDegradationModel(architecture="official", map_channels=0)


def test_configs_saved_before_the_new_options_still_match_the_same_model():
    """A latent pool (or checkpoint) written before ``architecture`` and friends existed stays usable."""
    from degplug.udm.config import UDMConfig
    from degplug.udm.latent_pool import LatentPool
    from tests.helpers.udm_models import tiny_udm

    model = tiny_udm()
    old = {k: v for k, v in model.config.to_dict().items()
           if k not in ("architecture", "iden_long_kernel", "map_code_channels", "rate_head_blocks", "rate_tail_blocks")}
    assert UDMConfig.defaults_filled(old) == model.config.to_dict()
    LatentPool(torch.zeros(1, model.config.embed_dim), None, ["a.png"], old).check_compatible(model)
    with pytest.raises(ValueError, match="architecture"):
        LatentPool(torch.zeros(1, model.config.embed_dim), None, ["a.png"], {**old, "architecture": "official"}).check_compatible(model)
