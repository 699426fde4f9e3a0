"""BlindWrapper wraps BasicSR- and MMagic-registered archs by config; their training adapters keep the UDM frozen."""

import pytest
import torch

from degplug.blind import BlindWrapper
from degplug.udm.model import UniversalDegradationModel
from tests.helpers.udm_models import fresh_tiny_udm, tiny_pool

pytestmark = pytest.mark.integration


def require(framework: str) -> None:
    """Skip only when the framework is not installed; an installed but broken one fails the test."""
    import importlib.util

    if importlib.util.find_spec(framework) is None:
        pytest.skip(f"{framework} is not installed")


def test_basicsr_registered_arch_is_wrapped_by_config():
    require("basicsr")

    blind = BlindWrapper({"framework": "basicsr", "type": "RRDBNet", "num_in_ch": 3, "num_out_ch": 3, "scale": 4,
                          "num_feat": 8, "num_block": 1, "num_grow_ch": 4}, udm=fresh_tiny_udm())
    assert type(blind.restorer).__name__ == "RRDBNet" and blind.mode == "data"
    out = blind(torch.rand(1, 3, 12, 10))
    assert out.shape == (1, 3, 48, 40) and 0 <= out.min() and out.max() <= 1
    with pytest.raises(ValueError, match="ARCH_REGISTRY"):
        BlindWrapper({"framework": "basicsr", "type": "NoSuchArch"})


def test_mmagic_registered_arch_is_wrapped_by_config():
    require("mmagic")

    blind = BlindWrapper({"framework": "mmagic", "type": "NAFNet", "img_channels": 3, "mid_channels": 8,
                          "middle_blk_num": 1, "enc_blk_nums": [1], "dec_blk_nums": [1]}, udm=fresh_tiny_udm())
    assert type(blind.restorer).__name__ == "NAFNet"
    y = torch.rand(1, 3, 13, 17)
    assert blind(y).shape == y.shape


# A fresh interpreter: nothing of the framework or its adapter is imported before the config names it.
FRESH_BUILD = """
import sys
from degplug.blind import BlindWrapper

def loaded():
    return sorted(name for name in sys.modules if name.split(".")[0] in ({framework!r}, {adapter!r}))

before = loaded()
blind = BlindWrapper({config!r})
print(type(blind.restorer).__name__, before, {adapter!r} in sys.modules)
"""


@pytest.mark.parametrize("framework,adapter,config,arch", [
    ("basicsr", "basicsr_ext", {"framework": "basicsr", "type": "RRDBNet", "num_in_ch": 3, "num_out_ch": 3, "scale": 1,
                                "num_feat": 8, "num_block": 1, "num_grow_ch": 4}, "RRDBNet"),
    ("mmagic", "mmagic_ext", {"framework": "mmagic", "type": "NAFNet", "img_channels": 3, "mid_channels": 8,
                              "middle_blk_num": 1, "enc_blk_nums": [1], "dec_blk_nums": [1]}, "NAFNet"),
])
def test_a_framework_config_builds_without_importing_the_adapter_first(framework, adapter, config, arch, subprocess_env):
    require(framework)
    import subprocess
    import sys

    script = FRESH_BUILD.format(framework=framework, adapter=adapter, config=config)
    result = subprocess.run([sys.executable, "-c", script], env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-3:] == [arch, "[]", "True"], result.stdout


def test_mmagic_blind_editor_trains_the_arch_and_never_the_udm(tmp_path):
    require("mmagic")
    import mmagic_ext  # noqa: F401
    from mmengine.optim import OptimWrapper
    from mmagic.registry import MODELS

    udm = fresh_tiny_udm()
    tiny_pool(udm).save(tmp_path / "pool.pth")
    udm.save_checkpoint(tmp_path / "udm.pth")
    editor = MODELS.build(dict(type="BlindRestorationEditor", udm=str(tmp_path / "udm.pth"), pool=str(tmp_path / "pool.pth"),
                               generator=dict(type="SRCNNNet", channels=(3, 8, 4, 3), kernel_sizes=(5, 1, 3), upscale_factor=1)))
    frozen = editor.pair_synthesizer.udm
    assert not any(p is q for p in editor.parameters() for q in frozen.parameters())
    before = [p.detach().clone() for p in editor.generator.parameters()]
    wrapper = OptimWrapper(torch.optim.Adam(editor.parameters(), lr=1e-2))
    editor.train()
    log = editor.train_step({"inputs": {"gt": [torch.rand(3, 16, 16) for _ in range(2)]}}, wrapper)
    assert torch.isfinite(log["loss"])
    assert all(p.grad is None for p in frozen.parameters()) and not frozen.training
    assert any(not torch.equal(a, b) for a, b in zip(before, editor.generator.parameters()))
    samples = editor.val_step({"inputs": {"gt": [torch.rand(3, 16, 16)], "lq": [torch.rand(3, 16, 16)]}})
    assert samples[0].pred_img.shape == (3, 16, 16) and samples[0].pred_img.max() <= 255


def test_basicsr_blind_model_trains_swinir_through_the_basicsr_command(tmp_path, subprocess_env):
    require("basicsr")
    import subprocess
    from pathlib import Path

    import yaml

    from tests.conftest import command_path

    udm = fresh_tiny_udm()
    udm.save_checkpoint(tmp_path / "udm.pth")
    tiny_pool(udm).save(tmp_path / "pool.pth")
    options = yaml.safe_load((Path(__file__).resolve().parents[2] / "options" / "train" / "Blind" / "train_Blind_SwinIR_demo_embedded.yml").read_text())
    options["name"] = "blind_test"
    options["degplug"] = {"udm": str(tmp_path / "udm.pth"), "pool": str(tmp_path / "pool.pth")}
    options["datasets"]["train"].update(crop_size=16, batch_size_per_gpu=2, dataset_enlarge_ratio=1)
    options["datasets"]["val"].update(crop_size=16)
    options["network_g"].update(img_size=16, embed_dim=8)
    options["train"]["total_iter"] = 2
    options["val"]["val_freq"] = 2
    options["logger"].update(print_freq=1, save_checkpoint_freq=2)
    path = tmp_path / "blind.yml"
    path.write_text(yaml.safe_dump(options))
    result = subprocess.run([command_path("basicsr"), "train", "-opt", str(path)], cwd=tmp_path, env=subprocess_env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "experiments" / "blind_test" / "models" / "net_g_2.pth").is_file()
    # UDM weights on disk are untouched by the restorer's training.
    reloaded = UniversalDegradationModel.from_checkpoint(tmp_path / "udm.pth")
    assert all(torch.equal(a, b) for a, b in zip(reloaded.state_dict().values(), udm.state_dict().values()))

    options["degplug"] = {"udm": str(tmp_path / "udm.pth")}
    path.write_text(yaml.safe_dump(options))
    result = subprocess.run([command_path("basicsr"), "train", "-opt", str(path)], cwd=tmp_path, env=subprocess_env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "pool" in result.stderr
