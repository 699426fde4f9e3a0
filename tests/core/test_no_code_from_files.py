"""No code runs from a file: planted pickles, config text and restorer configs are refused, saying why.

Each payload writes a marker file when it runs. Every test first proves its payload is live (it
does create the marker when executed the unsafe way), then that degplug's loaders refuse it, the
marker is not created, and the error names the file and the reason.
"""

from __future__ import annotations

import builtins
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel

REPO = Path(__file__).resolve().parents[2]
TINY = UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8).to_dict()


class _ShellPayload:
    """Unpickling it runs ``touch MARKER`` through os.system."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(self.marker)}",)


class _BuiltinsPayload:
    """Unpickling it writes MARKER through builtins.exec."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return builtins.exec, (f"open({self.marker!r}, 'w').write('ran')",)


PAYLOADS = [_ShellPayload, _BuiltinsPayload]


def _plant(path: Path, payload, content: dict) -> Path:
    torch.save({**content, "message_hub": {"payload": payload}}, path)
    return path


def _assert_payload_is_live(path: Path, marker: Path) -> None:
    """Unpickling the file in full (what the old code did) runs the payload."""
    assert not marker.exists()
    torch.load(path, map_location="cpu", weights_only=False)
    assert marker.exists(), "the planted payload did not run when unpickled in full: the test proves nothing"
    marker.unlink()


def _mmagic_style_weights() -> dict:
    model = UniversalDegradationModel(**TINY)
    return {"training_step.model." + k: v for k, v in model.state_dict().items()}


# ------------------------------------------------------------- 1. converter never unpickles in full
@pytest.mark.parametrize("payload_class", PAYLOADS)
def test_converter_refuses_a_planted_pickle_instead_of_reading_it_in_full(tmp_path, monkeypatch, payload_class):
    from mmagic_ext.checkpoints.loading import CheckpointRefused
    from mmagic_ext.checkpoints.udm_checkpoints import udm_from_checkpoint

    marker = tmp_path / "ran.txt"
    path = _plant(tmp_path / "iter_4.pth", payload_class(marker), {"meta": {"udm_config": TINY}, "state_dict": _mmagic_style_weights()})
    _assert_payload_is_live(path, marker)
    # Even with the variable that used to be needed for mmengine files set by the user.
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(CheckpointRefused) as error:
        udm_from_checkpoint(path)
    assert not marker.exists()
    message = str(error.value)
    assert str(path) in message and "refused" in message and "holds a Python object" in message
    assert ("system" in message) if payload_class is _ShellPayload else ("exec" in message)


def test_converter_command_refuses_a_planted_pickle_with_a_clear_message(tmp_path, capsys):
    from mmagic_ext.checkpoints.udm_checkpoints import main

    marker = tmp_path / "ran.txt"
    path = _plant(tmp_path / "iter_4.pth", _ShellPayload(marker), {"state_dict": _mmagic_style_weights()})
    assert main([str(path), str(tmp_path / "out.pth"), "--to", "degplug"]) == 2
    err = capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "out.pth").exists()
    assert err.startswith("udm_checkpoints: error:") and str(path) in err and "holds a Python object" in err
    assert "Traceback" not in err


# ------------------------------------------------------------- 2. meta['cfg'] text is never run
def _cfg_payload(marker: Path) -> str:
    return (f"__import__('os').system('touch {marker}')\n"
            f"model = dict(type='UDMEditor', generator=dict(type='UniversalDegradationModel', **{TINY!r}))\n")


def test_config_text_in_a_checkpoint_is_never_executed(tmp_path):
    from mmengine.config import Config

    from mmagic_ext.checkpoints.udm_checkpoints import udm_from_checkpoint

    marker = tmp_path / "ran.txt"
    text = _cfg_payload(marker)
    Config.fromstring(text, file_format=".py")  # what the converter used to do with meta['cfg']
    assert marker.exists(), "the planted config text did not run: the test proves nothing"
    marker.unlink()

    # A weights-only-clean file (tensors and strings only) that carries only mmengine's config text.
    path = tmp_path / "iter_4.pth"
    torch.save({"meta": {"cfg": text}, "state_dict": _mmagic_style_weights()}, path)
    with pytest.raises(ValueError) as error:
        udm_from_checkpoint(path)
    assert not marker.exists()
    message = str(error.value)
    assert str(path) in message and "no degplug UDM config" in message and "not executed" in message and "--config" in message


def test_degplug_config_dict_is_used_and_the_config_text_beside_it_ignored(tmp_path):
    from mmagic_ext.checkpoints.udm_checkpoints import udm_from_checkpoint

    marker = tmp_path / "ran.txt"
    torch.manual_seed(0)
    source = UniversalDegradationModel(**TINY)
    weights = {"training_step.model." + k: v for k, v in source.state_dict().items()}
    path = tmp_path / "iter_4.pth"
    torch.save({"meta": {"cfg": _cfg_payload(marker), "udm_config": TINY}, "state_dict": weights}, path)
    model = udm_from_checkpoint(path)
    assert not marker.exists()
    assert model.config.to_dict() == TINY
    for name, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name


def test_explicit_config_path_given_by_the_user_is_read(tmp_path):
    from mmagic_ext.checkpoints.udm_checkpoints import main

    torch.manual_seed(1)
    source = UniversalDegradationModel(**TINY)
    path = tmp_path / "iter_4.pth"
    torch.save({"meta": {"cfg": "raise SystemExit('must not run')"},
                "state_dict": {"training_step.model." + k: v for k, v in source.state_dict().items()}}, path)
    options = tmp_path / "udm.yml"
    options.write_text(yaml.safe_dump({"network_g": {"type": "UniversalDegradationModel", **TINY}}))
    assert main([str(path), str(tmp_path / "udm.pth"), "--to", "degplug", "--config", str(options)]) == 0
    rebuilt = UniversalDegradationModel.from_checkpoint(tmp_path / "udm.pth")
    assert all(torch.equal(rebuilt.state_dict()[k], v) for k, v in source.state_dict().items())


# ------------------------------------------------------------- 3. mmengine loads weights-only with an allowlist
@pytest.mark.parametrize("payload_class", PAYLOADS)
def test_mmengine_checkpoint_loading_refuses_a_planted_pickle(tmp_path, monkeypatch, payload_class):
    import mmagic_ext  # noqa: F401  (what custom_imports does for mim train/test)
    from mmengine.runner.checkpoint import CheckpointLoader, load_checkpoint
    from torch import nn

    from mmagic_ext.checkpoints.loading import CheckpointRefused

    marker = tmp_path / "ran.txt"
    net = nn.Conv2d(3, 3, 1)
    path = _plant(tmp_path / "third_party.pth", payload_class(marker), {"state_dict": net.state_dict()})
    _assert_payload_is_live(path, marker)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    for load in (lambda: CheckpointLoader.load_checkpoint(str(path)),  # Runner.load_checkpoint / resume
                 lambda: load_checkpoint(net, str(path))):  # load_from / init_cfg Pretrained
        with pytest.raises(CheckpointRefused, match="holds a Python object") as error:
            load()
        assert str(path) in str(error.value)
        assert not marker.exists()


def test_mmengine_checkpoint_content_loads_weights_only(tmp_path):
    """The objects mmengine's Runner.save_checkpoint stores (message hub, schedulers, meta) load."""
    import numpy as np
    from mmengine.logging import MessageHub
    from mmengine.runner.checkpoint import CheckpointLoader
    from torch import nn

    import mmagic_ext  # noqa: F401

    net = nn.Linear(2, 2)
    optimizer = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    hub = MessageHub.get_instance("degplug_test_hub")
    for value in (0.5, np.float64(0.25), 1):
        hub.update_scalar("train/loss", value)
    hub.update_info("iter", 4)
    hub.update_info("max_iters", 8)
    hub.update_info("lr", np.float32(1e-3))
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 4])
    content = {"meta": {"cfg": "x = 1", "iter": 4, "seed": 0, "dataset_meta": {"name": "embedded:train"},
                        "udm_config": TINY},
               "state_dict": net.state_dict(), "message_hub": hub.state_dict(),
               "optimizer": {"state": optimizer.state_dict()["state"], "param_groups": optimizer.state_dict()["param_groups"]},
               "param_schedulers": [scheduler.state_dict()]}
    path = tmp_path / "iter_4.pth"
    torch.save(content, path)
    loaded = CheckpointLoader.load_checkpoint(str(path), map_location="cpu")
    restored = MessageHub.get_instance("degplug_test_hub_restored")
    restored.load_state_dict(loaded["message_hub"])
    assert restored.get_scalar("train/loss").data[0].tolist() == [0.5, 0.25, 1.0]
    assert restored.get_info("iter") == 4 and loaded["meta"]["udm_config"] == TINY
    assert torch.equal(loaded["state_dict"]["weight"], net.weight)


def test_mmagic_ext_train_no_longer_disables_the_weights_only_check(tmp_path, monkeypatch):
    import mmengine.runner

    from mmagic_ext import train

    config = tmp_path / "tiny.py"
    config.write_text("load_from = 'somebody_elses.pth'\n")
    seen = {}

    class FakeRunner:
        @classmethod
        def from_cfg(cls, cfg):
            seen["load_from"] = cfg.load_from
            seen["env"] = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
            return cls()

        def train(self):
            return None

    monkeypatch.delenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", raising=False)
    monkeypatch.setattr(mmengine.runner, "Runner", FakeRunner)
    assert train.main([str(config), "--work-dir", str(tmp_path / "work")]) == 0
    assert seen == {"load_from": "somebody_elses.pth", "env": None}
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ


def test_mmagic_train_refuses_a_planted_load_from_file_with_a_clear_message(tmp_path):
    from tests.helpers.mmagic_configs import write_udm_config

    marker = tmp_path / "ran.txt"
    planted = _plant(tmp_path / "downloaded.pth", _ShellPayload(marker), {"state_dict": {}})
    config = write_udm_config(tmp_path / "udm_tiny.py", tmp_path / "work", iters=2)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
    result = subprocess.run([sys.executable, "-m", "mmagic_ext.train", str(config), "--cfg-options", f"load_from={planted}"],
                            capture_output=True, text=True, env=env, timeout=600, cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert not marker.exists()
    assert f"mmagic_ext.train: error: {planted}: refused (checkpoint): it holds a Python object (posix.system)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list((tmp_path / "work").glob("iter_*.pth")), "training must not start from a refused checkpoint"


def test_shipped_configs_and_docs_do_not_advise_disabling_the_check():
    offenders = []
    for folder in ("configs", "options", "mmagic_ext", "basicsr_ext", "degplug"):
        for path in (REPO / folder).rglob("*"):
            if path.suffix in {".py", ".yml", ".yaml", ".md"} and "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1" in path.read_text():
                offenders.append(str(path.relative_to(REPO)))
    readme = (REPO / "README.md").read_text()
    if "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1" in readme or "set it yourself" in readme:
        offenders.append("README.md")
    assert offenders == []


# ------------------------------------------------------------- 4. restorer configs never import code by themselves
def _payloads(marker: Path) -> list[dict]:
    return [
        {"framework": "python", "type": "os:system", "command": f"touch {shlex.quote(str(marker))}"},
        {"framework": "python", "type": "subprocess:run", "args": ["touch", str(marker)]},
    ]


def test_restorer_payloads_are_live_when_called_the_old_way(tmp_path):
    import importlib

    marker = tmp_path / "ran.txt"
    for config in _payloads(marker):
        config = dict(config)
        module, _, name = config.pop("type").partition(":")
        config.pop("framework")
        getattr(importlib.import_module(module), name)(**config)  # what framework 'python' used to do
        assert marker.exists(), config
        marker.unlink()


@pytest.mark.parametrize("index", [0, 1])
def test_python_restorer_config_is_refused_without_both_opt_ins(tmp_path, index):
    from degplug.blind.restorer_factory import build_restorer

    marker = tmp_path / "ran.txt"
    config = _payloads(marker)[index]
    for key_in_file, caller_allows, missing in ((False, False, "allow_python_import=True"),
                                                (True, False, "caller's allow_python_import=True"),
                                                (False, True, "'allow_python_import: true' in the config")):
        candidate = {**config, **({"allow_python_import": True} if key_in_file else {})}
        with pytest.raises(ValueError) as error:
            build_restorer(candidate, allow_python_import=caller_allows)
        message = str(error.value)
        assert "refused" in message and config["type"] in message and missing in message and "--allow-python-import" in message
        assert not marker.exists()


@pytest.mark.parametrize("index", [0, 1])
def test_python_restorer_config_naming_a_function_is_refused_even_when_allowed(tmp_path, index):
    from degplug.blind.restorer_factory import build_restorer

    marker = tmp_path / "ran.txt"
    config = {**_payloads(marker)[index], "allow_python_import": True}
    with pytest.raises(ValueError, match="not a class") as error:
        build_restorer(config, allow_python_import=True)
    assert "refused" in str(error.value)
    assert not marker.exists()


def test_python_restorer_config_naming_a_class_outside_the_protocol_is_refused(tmp_path):
    from degplug.blind.restorer_factory import build_restorer

    marker = tmp_path / "ran.txt"
    config = {"framework": "python", "allow_python_import": True, "type": "subprocess:Popen", "args": ["touch", str(marker)]}
    with pytest.raises(ValueError, match="neither an nn.Module subclass nor a restorer"):
        build_restorer(config, allow_python_import=True)
    assert not marker.exists()


class OperatorRestorerForTest:
    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def restore(self, degraded, operator):
        return degraded * self.gain


def test_both_opt_ins_build_modules_and_protocol_restorers(tmp_path):
    from torch import nn

    from degplug.blind.restorer_factory import build_restorer

    conv = build_restorer({"framework": "python", "allow_python_import": True, "type": "torch.nn:Conv2d",
                           "in_channels": 3, "out_channels": 3, "kernel_size": 1}, allow_python_import=True)
    assert isinstance(conv, nn.Conv2d) and conv.kernel_size == (1, 1)
    restorer = build_restorer({"framework": "python", "allow_python_import": True,
                               "type": f"{__name__}:OperatorRestorerForTest", "gain": 0.5}, allow_python_import=True)
    assert isinstance(restorer, OperatorRestorerForTest) and restorer.gain == 0.5
    # The permission is the caller's, for this call only.
    with pytest.raises(ValueError, match="refused"):
        build_restorer({"framework": "python", "allow_python_import": True, "type": "torch.nn:Conv2d",
                        "in_channels": 3, "out_channels": 3, "kernel_size": 1})


def test_blind_command_refuses_a_yaml_naming_os_system(tmp_path):
    from degplug.data.image_io import write_image

    marker = tmp_path / "ran.txt"
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "a.png", torch.rand(3, 16, 16))
    UniversalDegradationModel(**TINY).save_checkpoint(tmp_path / "udm.pth")
    config = tmp_path / "evil.yml"
    config.write_text(yaml.safe_dump({"framework": "python", "type": "os:system", "allow_python_import": True,
                                      "command": f"touch {marker}"}))
    command = [sys.executable, "-m", "degplug.cli.main", "blind", "--restorer", str(config), "--udm", str(tmp_path / "udm.pth"),
               "--input", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--device", "cpu", "--no-progress"]
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    errors = []
    for extra in ([], ["--allow-python-import"]):
        result = subprocess.run(command + extra, capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 1, result.stderr
        assert not marker.exists() and not (tmp_path / "out").exists()
        assert "refused" in result.stderr and "os:system" in result.stderr and "Traceback" not in result.stderr
        errors.append(result.stderr)
    assert "--allow-python-import" in errors[0]  # says how to opt in
    assert "not a class" in errors[1]  # opted in, still only classes
