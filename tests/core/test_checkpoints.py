"""degplug.checkpoints: every model file layout round-trips, refused and wrong files are named.

Layouts are checked against the frameworks' documented shapes directly with ``torch.load`` (not
through degplug's readers): BasicSR ``{'params': sd}``, MMagic ``{'meta', 'state_dict': {prefix +
key}}``, degplug ``{'kind', 'version', 'config', 'state_dict'}``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from degplug import checkpoints
from degplug.cli.main import main
from degplug.ndr.checkpoint import save_restorer, save_restorer_as
from degplug.ndr.degrad_net import NDRDegradNet
from degplug.ndr.restore_net import NDRRestoreNet
from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel

pytestmark = pytest.mark.usefixtures("one_thread")  # one torch thread, tests/conftest.py

TINY_UDM = UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8).to_dict()
TINY_RESTORER = {"width": 8, "blocks": [1, 1, 1, 1], "heads": [1, 1, 2, 2], "refinement_blocks": 1,
                 "token_dim": 16, "degradation_channels": 8, "rank": 4}
TINY_DEGRADER = {"width": 8, "degradation_channels": 8, "rank": 4}


def _udm(seed: int = 0) -> UniversalDegradationModel:
    torch.manual_seed(seed)
    model = UniversalDegradationModel(**TINY_UDM)
    with torch.no_grad():  # non-zero modulation, so the embedding and the seed change the output
        for parameter in model.synthesis.parameters():
            if parameter.abs().sum() == 0:
                parameter.normal_(0, 0.2)
    return model.eval()


def _restorer(seed: int = 0) -> NDRRestoreNet:
    return NDRRestoreNet(seed=seed, **TINY_RESTORER).eval()


def _degrader(seed: int = 1) -> NDRDegradNet:
    return NDRDegradNet(seed=seed, **TINY_DEGRADER).eval()


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sorted(sa) == sorted(sb)
    for key, value in sa.items():
        assert torch.equal(value, sb[key]), key


class _CodePayload:
    """Unpickling runs ``os.system('touch marker')`` (a pickle carrying code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _planted(path: Path, marker: Path, around: dict) -> Path:
    torch.save({**around, "payload": _CodePayload(marker)}, path)
    return path


# ------------------------------------------------------------------------------ unwrapping plain dicts
def test_unwrap_reads_basicsr_mmagic_and_bare_layouts():
    a, b = torch.arange(3.0), torch.ones(2)
    assert checkpoints.unwrap_state_dict({"params": {"w": a}}, "f.pth") == {"w": a}
    ema = checkpoints.unwrap_state_dict({"params": {"w": a}, "params_ema": {"w": b}}, "f.pth")
    assert ema["w"] is b  # BasicSR's EMA weights first
    assert checkpoints.unwrap_state_dict({"params": {"w": a}, "params_ema": {"w": b}}, "f.pth", param_key="params")["w"] is a
    mmagic = {"meta": {}, "state_dict": {"module.restorer.w": a, "degrader.w": b}, "message_hub": {}}
    assert checkpoints.unwrap_state_dict(mmagic, "f.pth", prefix="restorer.") == {"w": a}
    assert checkpoints.unwrap_state_dict({"module.w": a}, "f.pth") == {"w": a}  # DataParallel prefix removed
    assert [checkpoints.file_format(s) for s in ({"kind": "x"}, {"params": {}}, mmagic, {"w": a}, {"w": 1}, [a])] == [
        "degplug", "basicsr", "mmagic", "bare", "unknown", "unknown"]


def test_unwrap_errors_name_the_file_and_what_is_missing():
    with pytest.raises(checkpoints.CheckpointKindError, match=r"x\.pth.*without UDM weights.*training_step\.model\.\*"):
        checkpoints.unwrap_state_dict({"state_dict": {"restorer.w": torch.ones(1)}}, "x.pth", "training_step.model.", what="UDM weights")
    with pytest.raises(checkpoints.CheckpointKindError, match=r"y\.pth: BasicSR weight file without 'params_ema'"):
        checkpoints.unwrap_state_dict({"params": {}}, "y.pth", param_key="params_ema")
    with pytest.raises(checkpoints.CheckpointKindError, match=r"z\.pth: a degplug checkpoint"):
        checkpoints.unwrap_state_dict({"kind": checkpoints.UDM_KIND}, "z.pth")
    with pytest.raises(checkpoints.CheckpointKindError, match=r"u\.pth: not a weight file.*top-level keys \['epoch'\]"):
        checkpoints.unwrap_state_dict({"epoch": 3}, "u.pth")


# ------------------------------------------------------------------------------ atomic saving
def test_save_is_atomic_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "ckpt.pth"
    checkpoints.save({"w": torch.ones(2)}, path)
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 (pickling a lambda fails inside torch.save)
        checkpoints.save({"w": torch.zeros(2), "bad": lambda: None}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pth"]  # no temporary left behind


# ------------------------------------------------------------------------------ UDM round trips
@pytest.mark.parametrize("layout", ["degplug", "basicsr", "mmagic", "bare"])
def test_udm_round_trips_through_every_layout(tmp_path, layout):
    source = _udm()
    path = tmp_path / f"udm_{layout}.pth"
    if layout == "bare":
        torch.save({k: v.clone() for k, v in source.state_dict().items()}, path)
    else:
        source.save_as(path, layout)
    raw = torch.load(path, weights_only=True)  # the layout, read independently of degplug
    if layout == "degplug":
        assert raw["kind"] == "degplug.UniversalDegradationModel" and raw["version"] == 1 and raw["config"] == TINY_UDM
    elif layout == "basicsr":
        assert sorted(raw) == ["params"] and sorted(raw["params"]) == sorted(source.state_dict())
    elif layout == "mmagic":
        assert raw["meta"]["udm_config"] == TINY_UDM
        assert sorted(raw["state_dict"]) == sorted("training_step.model." + k for k in source.state_dict())
    config = TINY_UDM if layout in ("basicsr", "bare") else None  # these layouts carry no sizes
    loaded = UniversalDegradationModel.from_checkpoint(path, config=config).eval()
    _same_weights(loaded, source)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded.synthesize(x, loaded.encode(x), seed=3), source.synthesize(x, source.encode(x), seed=3))


def test_udm_framework_file_without_config_is_a_clear_error(tmp_path):
    path = _udm().save_as(tmp_path / "net_g_4.pth", "basicsr")
    with pytest.raises(ValueError) as error:
        UniversalDegradationModel.from_checkpoint(path)
    message = str(error.value)
    assert str(path) in message and "not a degplug UDM checkpoint" in message and "BasicSR net_g" in message and "config" in message


# ------------------------------------------------------------------------------ NDR round trips
@pytest.mark.parametrize("layout", ["degplug", "basicsr", "mmagic", "bare"])
def test_ndr_round_trips_through_every_layout(tmp_path, layout):
    restorer, degrader = _restorer(), _degrader()
    path = tmp_path / f"ndr_{layout}.pth"
    if layout == "bare":
        torch.save({k: v.clone() for k, v in restorer.state_dict().items()}, path)
    else:
        save_restorer_as(restorer, TINY_RESTORER, path, layout, degrader, TINY_DEGRADER)
    raw = torch.load(path, weights_only=True)
    if layout == "basicsr":
        assert sorted(raw) == ["params", "params_degrad"] and sorted(raw["params"]) == sorted(restorer.state_dict())
    elif layout == "mmagic":
        assert {k.split(".")[0] for k in raw["state_dict"]} == {"restorer", "degrader"}
        assert raw["meta"]["ndr_config"] == TINY_RESTORER
    config = TINY_RESTORER if layout in ("basicsr", "bare") else None
    loaded = NDRRestoreNet.from_checkpoint(path, config=config).eval()
    _same_weights(loaded, restorer)
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), restorer(x))
    if layout == "degplug":
        _same_weights(NDRDegradNet.from_checkpoint(path), degrader)


def test_ndr_degrad_from_a_checkpoint_saved_without_one_names_the_file(tmp_path):
    path = save_restorer(_restorer(), TINY_RESTORER, tmp_path / "ndr.pth")
    with pytest.raises(ValueError, match=r"ndr\.pth: this NDR-Restore checkpoint holds no NDR-Degrad"):
        NDRDegradNet.from_checkpoint(path)


# ------------------------------------------------------------------------------ refused and wrong files
@pytest.mark.parametrize("reader", ["udm", "ndr", "ndr_degrad", "load"])
def test_a_pickle_carrying_code_is_refused_naming_the_file(tmp_path, reader):
    marker = tmp_path / "ran.txt"
    path = _planted(tmp_path / "evil.pth", marker, {"kind": checkpoints.UDM_KIND, "params": {}})
    call = {"udm": UniversalDegradationModel.from_checkpoint, "ndr": NDRRestoreNet.from_checkpoint,
            "ndr_degrad": NDRDegradNet.from_checkpoint, "load": checkpoints.load}[reader]
    with pytest.raises(checkpoints.TorchFileRefused) as error:
        call(path)
    assert not marker.exists(), "the planted code ran"
    assert str(path) in str(error.value) and "refused" in str(error.value) and "system" in str(error.value)


def test_the_planted_payload_really_runs_when_unpickled_in_full(tmp_path):
    """The refusal above proves something: the same file runs its code under a full unpickle."""
    marker = tmp_path / "ran.txt"
    path = _planted(tmp_path / "evil.pth", marker, {})
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_wrong_kind_names_the_file_the_expected_kind_and_the_found_one(tmp_path):
    ndr = save_restorer(_restorer(), TINY_RESTORER, tmp_path / "ndr.pth")
    udm = _udm().save_as(tmp_path / "udm.pth")
    with pytest.raises(checkpoints.CheckpointKindError) as error:
        UniversalDegradationModel.from_checkpoint(ndr)
    message = str(error.value)
    assert str(ndr) in message and "expected kind 'degplug.UniversalDegradationModel'" in message and "NDR-Restore checkpoint" in message
    with pytest.raises(checkpoints.CheckpointKindError) as error:
        NDRRestoreNet.from_checkpoint(udm)
    message = str(error.value)
    assert str(udm) in message and "expected kind 'degplug.NDRRestoreNet'" in message and "UDM checkpoint" in message
    state = torch.load(udm, weights_only=True)
    torch.save(dict(state, version=7), tmp_path / "v7.pth")
    with pytest.raises(checkpoints.CheckpointKindError, match=r"v7\.pth: UDM checkpoint version 7, this degplug reads 1"):
        UniversalDegradationModel.from_checkpoint(tmp_path / "v7.pth")


def test_latent_pool_reader_refuses_a_model_checkpoint_by_kind(tmp_path):
    from degplug.udm.latent_pool import LatentPool

    path = _udm().save_as(tmp_path / "udm.pth")
    with pytest.raises(ValueError, match=r"udm\.pth: not a degplug latent pool \(expected kind 'degplug.LatentPool'; it is a UDM checkpoint"):
        LatentPool.load(path)


def test_blind_restorer_weights_read_basicsr_and_mmagic_files(tmp_path):
    from degplug.blind.restorer_factory import load_module_weights

    source, target = torch.nn.Conv2d(3, 3, 3), torch.nn.Conv2d(3, 3, 3)
    checkpoints.save({"params": {f"module.{k}": v for k, v in source.state_dict().items()}}, tmp_path / "net_g.pth")
    load_module_weights(target, tmp_path / "net_g.pth")
    _same_weights(target, source)
    checkpoints.save({"state_dict": {"weight": torch.zeros(3, 3, 3, 3)}}, tmp_path / "short.pth")
    with pytest.raises(ValueError, match=r"short\.pth: the restorer weights do not match Conv2d: missing \['bias'\]"):
        load_module_weights(target, tmp_path / "short.pth")


# ------------------------------------------------------------------------------ degplug convert
def test_convert_help_lists_every_conversion(capsys):
    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    out = capsys.readouterr().out
    for kind in ("ndr-official", "udm-official", "udm-framework", "ndr-framework"):
        assert kind in out


def test_convert_udm_framework_round_trip_through_basicsr_and_mmagic(tmp_path, capsys):
    source = _udm(seed=2)
    degplug_file = source.save_as(tmp_path / "udm_4.pth")
    assert main(["convert", "udm-framework", str(degplug_file), "--out", str(tmp_path / "net_g_4.pth"), "--to", "basicsr"]) == 0
    assert sorted(torch.load(tmp_path / "net_g_4.pth", weights_only=True)) == ["params"]
    import json

    argv = ["convert", "udm-framework", str(tmp_path / "net_g_4.pth"), "--out", str(tmp_path / "iter_4.pth"), "--to", "mmagic",
            "--config", json.dumps(TINY_UDM)]
    assert main(argv) == 0
    assert main(["convert", "udm-framework", str(tmp_path / "iter_4.pth"), "--out", str(tmp_path / "back.pth"), "--to", "degplug"]) == 0
    _same_weights(UniversalDegradationModel.from_checkpoint(tmp_path / "back.pth"), source)
    capsys.readouterr()
    # a BasicSR file carries no sizes: the error names the file and the option
    assert main(["convert", "udm-framework", str(tmp_path / "net_g_4.pth"), "--out", str(tmp_path / "x.pth"), "--to", "degplug"]) == 1
    err = capsys.readouterr().err
    assert "net_g_4.pth" in err and "--config" in err and "Traceback" not in err
    # never overwrites without --force
    assert main(["convert", "udm-framework", str(degplug_file), "--out", str(tmp_path / "back.pth"), "--to", "degplug"]) == 1
    assert "--force" in capsys.readouterr().err


def test_convert_ndr_framework_round_trip_keeps_the_degrader(tmp_path):
    restorer, degrader = _restorer(seed=3), _degrader(seed=4)
    src = save_restorer(restorer, TINY_RESTORER, tmp_path / "ndr_4.pth", degrader, TINY_DEGRADER)
    assert main(["convert", "ndr-framework", str(src), "--out", str(tmp_path / "iter_4.pth"), "--to", "mmagic"]) == 0
    assert main(["convert", "ndr-framework", str(tmp_path / "iter_4.pth"), "--out", str(tmp_path / "back.pth"), "--to", "degplug"]) == 0
    _same_weights(NDRRestoreNet.from_checkpoint(tmp_path / "back.pth"), restorer)
    _same_weights(NDRDegradNet.from_checkpoint(tmp_path / "back.pth"), degrader)


def test_convert_reads_an_mmengine_training_file_with_the_adapters_allowlist(tmp_path):
    pytest.importorskip("mmengine")
    from mmengine.logging import HistoryBuffer

    source = _udm(seed=5)
    history = HistoryBuffer()
    history.update(0.5)
    state = {"meta": {"udm_config": TINY_UDM}, "message_hub": {"log_scalars": {"train/loss": history}},
             "state_dict": {"training_step.model." + k: v for k, v in source.state_dict().items()}}
    torch.save(state, tmp_path / "iter_8.pth")
    with pytest.raises(checkpoints.TorchFileRefused):  # plain weights-only reading does refuse it
        checkpoints.load(tmp_path / "iter_8.pth")
    assert main(["convert", "udm-framework", str(tmp_path / "iter_8.pth"), "--out", str(tmp_path / "udm.pth"), "--to", "degplug"]) == 0
    _same_weights(UniversalDegradationModel.from_checkpoint(tmp_path / "udm.pth"), source)
