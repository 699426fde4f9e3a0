"""ONNX export (``degplug.onnx_export`` and ``degplug export``): graphs equal torch at two sizes."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from degplug.cli.main import main
from degplug.ndr.checkpoint import save_restorer
from degplug.ndr.restore_net import NDRRestoreNet
from degplug.onnx_export import OnnxGraph, export_ndr, export_udm
from degplug.udm.config import UDMConfig
from degplug.udm.embedding import DegradationEmbedding
from degplug.udm.model import UniversalDegradationModel
from degplug.udm.noise_state import ExplicitNoise, draw_noise_state, noise_layout

TINY_NDR = {"width": 8, "blocks": (1, 1, 1, 1), "heads": (1, 1, 2, 2), "refinement_blocks": 1, "num_tokens": 8,
            "token_dim": 16, "degradation_channels": 8, "rank": 4, "seed": 0}
TOLERANCE = 1e-4


def _perturbed_small_udm(**overrides) -> UniversalDegradationModel:
    """A small UDM whose zero-initialised layers (synthesis output, SFT β) are moved off zero, so the
    random state and every branch change the output."""
    torch.manual_seed(0)
    model = UniversalDegradationModel(**UDMConfig.small(synthesis_blocks=(1, 1, 1, 1, 1), **overrides).to_dict())
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.02 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


def _session(path):
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _run(session, **inputs):
    return session.run(None, {name: value.numpy() for name, value in inputs.items()})


@pytest.fixture(scope="module")
def ndr_export(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    net = NDRRestoreNet(**TINY_NDR).eval()
    path = tmp_path_factory.mktemp("ndr") / "ndr.onnx"
    export_ndr(net, path)
    return net, path


@pytest.fixture(scope="module")
def udm_export(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    model = _perturbed_small_udm(encoder_highpass_gain=10.0)  # the shipped recipe's encoders (image + high-pass band)
    folder = tmp_path_factory.mktemp("udm")
    graphs = {graph.name: graph for graph in export_udm(model, folder)}
    return model, graphs


# ------------------------------------------------------------------------------ the random state
def test_explicit_noise_state_reproduces_the_seeded_synthesis_exactly():
    model = _perturbed_small_udm()
    layout = noise_layout(model.synthesis)
    blocks = model.config.synthesis_blocks  # two IDA-SFT layers per block, one noise map each
    assert {s: layout.count(s) for s in layout.levels} == {
        1: 2 * (blocks[0] + blocks[4]), 2: 2 * (blocks[1] + blocks[3]), 4: 2 * blocks[2]}
    clean = torch.rand(2, 3, 24, 32)
    embedding = model.encode(torch.rand(1, 3, 40, 28))
    with torch.no_grad():
        seeded = model.synthesize(clean, embedding, seed=5)
        state = draw_noise_state(layout, 2, 24, 32, torch.Generator().manual_seed(5))
        explicit = model.synthesize(clean, embedding, noise_source=ExplicitNoise(layout, state))
        zeros = {s: torch.zeros_like(t) for s, t in state.items()}
        noise_free = model.synthesize(clean, embedding, noise_source=ExplicitNoise(layout, zeros))
    assert torch.equal(seeded, explicit)
    assert (seeded - noise_free).abs().max() > 1e-3  # the state really reaches the output


def test_explicit_noise_state_of_the_wrong_shape_is_refused_by_name():
    model = _perturbed_small_udm()
    layout = noise_layout(model.synthesis)
    state = draw_noise_state(layout, 1, 16, 16, torch.Generator().manual_seed(0))
    state[2] = state[2][:, :1]
    with pytest.raises(ValueError, match="half-resolution maps must be N×4"):
        ExplicitNoise(layout, state)


# ---------------------------------------------------------------------------------- NDR-Restore
def test_ndr_graph_equals_torch_at_two_sizes_and_batches(ndr_export):
    net, path = ndr_export
    session = _session(path)
    for batch, height, width in ((1, 32, 48), (2, 56, 40)):
        lq = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(height))
        with torch.no_grad():
            expected = net(lq).clamp(0, 1).numpy()
        (got,) = _run(session, lq=lq)
        assert got.shape == (batch, 3, height, width)
        assert np.abs(got - expected).max() <= TOLERANCE


def test_ndr_graph_refuses_sides_that_are_not_multiples_of_8(ndr_export):
    _, path = ndr_export
    with pytest.raises(ValueError, match=r"input 'lq': height 36 .*multiples of 8"):
        OnnxGraph(path)(lq=np.zeros((1, 3, 36, 48), np.float32))


# ------------------------------------------------------------------------------------------ UDM
def test_udm_encoder_graphs_equal_model_encode_at_two_sizes_odd_included(udm_export):
    model, graphs = udm_export
    hden, iden = _session(graphs["udm_hden"].path), _session(graphs["udm_iden"].path)
    for batch, height, width in ((1, 40, 56), (2, 37, 30)):
        y = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(width))
        with torch.no_grad():
            embedding = model.encode(y)
        (e_g,) = _run(hden, y=y)
        (e_l,) = _run(iden, y=y)
        assert np.abs(e_g - embedding.global_vector.numpy()).max() <= TOLERANCE
        assert e_l.shape == tuple(embedding.local_map.shape) == (batch, 4, (height + 1) // 2, (width + 1) // 2)
        assert np.abs(e_l - embedding.local_map.numpy()).max() <= TOLERANCE


def test_udm_synthesis_graph_with_the_drawn_state_equals_the_seeded_torch_synthesis(udm_export):
    """Two sizes, each with an e_l from a reference of another size (one shrunk, one enlarged in the
    graph) and a batch-1 embedding shared by the batch; the noise inputs are the seeded maps."""
    model, graphs = udm_export
    session = _session(graphs["udm_synthesis"].path)
    layout = noise_layout(model.synthesis)
    names = {1: "noise_full", 2: "noise_half", 4: "noise_quarter"}
    assert [i.name for i in session.get_inputs()] == ["x", "e_g", "e_l", *(names[s] for s in layout.levels)]
    for (height, width), reference_size, seed in (((32, 48), (60, 44), 3), ((72, 40), (20, 24), 4)):
        clean = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            embedding = model.encode(torch.rand(1, 3, *reference_size, generator=torch.Generator().manual_seed(9)))
            expected = model.synthesize(clean, embedding, seed=seed).numpy()
        state = draw_noise_state(layout, 2, height, width, torch.Generator().manual_seed(seed))
        (got,) = _run(session, x=clean, e_g=embedding.global_vector, e_l=embedding.local_map,
                      **{names[s]: state[s] for s in layout.levels})
        assert np.abs(got - expected).max() <= TOLERANCE
        assert np.abs(got - clean.numpy()).max() > 1e-3  # the graph does degrade


def test_udm_synthesis_graph_refuses_sides_that_are_not_multiples_of_4(udm_export):
    _, graphs = udm_export
    graph = OnnxGraph(graphs["udm_synthesis"].path)
    inputs = graphs["udm_synthesis"].make_inputs(1, 32, 32, torch.Generator().manual_seed(0))
    arrays = {name: tensor.numpy() for name, tensor in inputs.items()}
    arrays["x"] = np.zeros((1, 3, 30, 32), np.float32)
    with pytest.raises(ValueError, match=r"input 'x': height 30 does not fit the udm_synthesis graph.*multiples of 4"):
        graph(**arrays)
    with pytest.raises(ValueError, match=r"missing \['noise_full'\]"):
        graph(**{k: v for k, v in arrays.items() if k != "noise_full"})
    arrays["x"] = np.zeros((1, 3, 32, 32), np.float32)
    arrays["e_g"] = np.zeros((1, 7), np.float32)  # the model's e_g has 64 values
    with pytest.raises(ValueError, match=r"udm_synthesis.onnx: onnxruntime refused the inputs"):
        graph(**arrays)


def test_official_layout_synthesis_graph_takes_multiples_of_8(tmp_path):
    pytest.importorskip("onnxruntime")
    model = _perturbed_small_udm(architecture="official", long_kernel=3)
    graphs = {g.name: g for g in export_udm(model, tmp_path)}
    session = _session(graphs["udm_synthesis"].path)
    layout = noise_layout(model.synthesis)
    clean = torch.rand(1, 3, 40, 24)
    embedding = DegradationEmbedding(torch.randn(1, model.config.embed_dim), torch.rand(1, 4, 9, 15))
    with torch.no_grad():
        expected = model.synthesize(clean, embedding, seed=2).numpy()
    state = draw_noise_state(layout, 1, 40, 24, torch.Generator().manual_seed(2))
    names = {1: "noise_full", 2: "noise_half", 4: "noise_quarter"}
    (got,) = _run(session, x=clean, e_g=embedding.global_vector, e_l=embedding.local_map,
                  **{names[s]: state[s] for s in layout.levels})
    assert np.abs(got - expected).max() <= TOLERANCE
    assert OnnxGraph(graphs["udm_synthesis"].path).size_multiple == 8


# ------------------------------------------------------------------------------------- the verb
@pytest.fixture
def ndr_checkpoint(tmp_path):
    net = NDRRestoreNet(**TINY_NDR)
    return save_restorer(net, TINY_NDR, tmp_path / "ndr.pth")


def test_verb_exports_ndr_and_prints_differences_and_time_ratios(ndr_checkpoint, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "out" / "ndr.onnx"
    code = main(["export", "ndr", "--ckpt", str(ndr_checkpoint), "--out", str(out),
                 "--check-sizes", "32x48", "40x40", "--repeats", "1"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert out.is_file()
    lines = [line for line in printed.splitlines() if "ORT/torch" in line]
    assert len(lines) == 2 and all(line.rstrip().endswith("ok") for line in lines)
    assert "1×32×48" in lines[0] and "1×40×40" in lines[1]


def test_verb_exports_the_three_udm_graphs(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    _perturbed_small_udm().save_checkpoint(tmp_path / "udm.pth")
    code = main(["export", "udm", "--ckpt", str(tmp_path / "udm.pth"), "--out", str(tmp_path / "graphs"),
                 "--check-sizes", "32x32", "24x40", "--repeats", "1"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert sorted(p.name for p in (tmp_path / "graphs").iterdir()) == ["udm_hden.onnx", "udm_iden.onnx", "udm_synthesis.onnx"]
    assert sum(line.rstrip().endswith("ok") for line in printed.splitlines() if "ORT/torch" in line) == 6


def test_verb_refuses_check_sizes_that_do_not_fit_before_exporting(ndr_checkpoint, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    out = tmp_path / "ndr.onnx"
    code = main(["export", "ndr", "--ckpt", str(ndr_checkpoint), "--out", str(out), "--check-sizes", "60x64"])
    error = capsys.readouterr().err
    assert code == 1
    assert "--check-sizes 60x64: height 60 does not fit the ndr_restore graph" in error and "multiples of 8" in error
    assert not out.exists()


def test_verb_names_bad_checkpoints_and_outputs(ndr_checkpoint, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    assert main(["export", "ndr", "--ckpt", str(tmp_path / "missing.pth"), "--out", str(tmp_path / "a.onnx")]) == 1
    assert "missing.pth" in capsys.readouterr().err
    assert main(["export", "udm", "--ckpt", str(ndr_checkpoint), "--out", str(tmp_path / "graphs")]) == 1
    assert "not a degplug UDM checkpoint" in capsys.readouterr().err
    assert main(["export", "ndr", "--ckpt", str(ndr_checkpoint), "--out", str(tmp_path / "ndr.pt")]) == 1
    assert "must end in .onnx" in capsys.readouterr().err


def test_verb_without_onnxruntime_says_to_install_the_export_extra(ndr_checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime now raises ImportError
    out = tmp_path / "ndr.onnx"
    assert main(["export", "ndr", "--ckpt", str(ndr_checkpoint), "--out", str(out)]) == 1
    error = capsys.readouterr().err
    assert "onnxruntime" in error and "`export` extra" in error and ".[export]" in error
    assert not out.exists()
