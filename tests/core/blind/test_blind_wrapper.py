"""BlindWrapper: operator mode with PlugAndPlayHQS, data mode with plain modules, errors for bad input."""

import subprocess
import sys

import pytest
import torch
from torch import nn

from degplug.blind import BlindWrapper, EstimatedOperator, PlugAndPlayHQS, build_restorer, identity_operator
from degplug.blind.denoisers import GaussianDenoiser, gaussian_smooth
from degplug.blind.restorer_factory import RESTORER_BUILDERS
from tests.helpers.udm_models import fresh_tiny_udm


def smooth_image(height: int = 24, width: int = 29, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return gaussian_smooth(torch.rand(1, 3, height, width, generator=generator), 1.5).clamp(0, 1)


class RecordingRestorer:
    """An operator restorer that returns A(y) and remembers the operator it was given."""

    def restore(self, degraded, operator):
        self.operator = operator
        return operator(degraded).clamp(0, 1)


def test_operator_mode_hands_the_udm_estimated_operator_to_the_restorer():
    udm = fresh_tiny_udm()
    restorer = RecordingRestorer()
    blind = BlindWrapper(restorer, udm=udm, operator_seeds=(3,))
    y = torch.rand(1, 3, 16, 20)
    out = blind(y)
    assert blind.mode == "operator"
    assert isinstance(restorer.operator, EstimatedOperator)
    expected = udm.synthesize(y, udm.encode(y), seed=3)
    assert torch.allclose(out, expected, atol=1e-5)


def test_estimated_operator_is_differentiable_in_x_and_deterministic():
    udm = fresh_tiny_udm()
    blind = BlindWrapper(RecordingRestorer(), udm=udm, operator_seeds=(0, 1))
    operator = blind.estimate_operator(torch.rand(1, 3, 16, 16))
    x = torch.rand(1, 3, 16, 16, dtype=torch.float32, requires_grad=True)
    out = operator(x)
    assert torch.equal(out.detach(), operator(x).detach())  # fixed random states
    direction = torch.randn_like(x)
    (gradient,) = torch.autograd.grad((out * direction).sum(), x)
    assert gradient.abs().sum() > 0
    # the analytic gradient matches a finite difference along a random direction
    step = torch.randn_like(x) * 1e-2
    with torch.no_grad():
        numeric = ((operator(x + step) - operator(x - step)) * direction).sum() / 2
    analytic = (gradient * step).sum()
    assert torch.isclose(numeric, analytic, rtol=0.05, atol=1e-3), (numeric, analytic)
    assert all(p.grad is None for p in udm.parameters())


def test_plug_and_play_hqs_with_the_true_blur_beats_the_identity_operator():
    clean = smooth_image(32, 32)
    blur = lambda image: gaussian_smooth(image, 1.6)  # noqa: E731
    degraded = blur(clean).clamp(0, 1)
    restorer = PlugAndPlayHQS(iterations=6, data_steps=10, noise_level=0.005, sigma_end=0.005)
    oracle = restorer.restore(degraded, blur)
    naive = restorer.restore(degraded, identity_operator)
    error = lambda image: ((image - clean) ** 2).mean().item()  # noqa: E731
    assert error(oracle) < 0.7 * error(naive)
    assert error(oracle) < error(degraded)


def test_plug_and_play_hqs_rejects_an_operator_without_gradient():
    import cv2

    def opencv_blur(image):  # NumPy/OpenCV on a detached copy: no autograd
        blurred = cv2.GaussianBlur(image.detach()[0].permute(1, 2, 0).numpy(), (7, 7), 1.5)
        return torch.from_numpy(blurred).permute(2, 0, 1)[None]

    with pytest.raises(TypeError, match="differentiabl"):
        PlugAndPlayHQS(iterations=1, data_steps=1).restore(smooth_image(16, 16), opencv_blur)


def test_degradation_blur_is_differentiable_for_operator_mode_and_matches_opencv():
    from degplug.degradations.blur import GaussianBlur, GaussianBlurParams
    from degplug.degradations.filtering import filter2d

    kernel = GaussianBlur.kernel(GaussianBlurParams(kernel_size=7, sigma_x=1.5, sigma_y=1.5, rotation=0.0))
    image = smooth_image(16, 16)
    x = image.clone().requires_grad_(True)
    blurred = filter2d(x, kernel)
    assert blurred.requires_grad
    assert torch.allclose(blurred.detach(), filter2d(image, kernel), atol=1e-5)  # OpenCV path, same padding


def test_udm_stays_frozen_and_outside_the_wrapper_parameters():
    udm = fresh_tiny_udm()
    restorer = nn.Conv2d(3, 3, 3, padding=1)
    blind = BlindWrapper(restorer, udm=udm)
    assert blind.mode == "data"
    assert not udm.training and all(not p.requires_grad for p in udm.parameters())
    names = {name for name, _ in blind.named_parameters()}
    assert names == {"restorer.weight", "restorer.bias"}
    blind.train()
    assert not udm.training


def test_wrapping_a_plain_module_by_config_builds_and_runs_it():
    config = {"framework": "python", "allow_python_import": True, "type": "torch.nn:Conv2d",
              "in_channels": 3, "out_channels": 3, "kernel_size": 3, "padding": 1}
    blind = BlindWrapper(config, udm=fresh_tiny_udm(), allow_python_import=True)
    assert isinstance(blind.restorer, nn.Conv2d)
    y = torch.rand(2, 3, 9, 13)
    assert torch.allclose(blind(y), blind.restorer(y).clamp(0, 1))


def test_degplug_config_builds_plug_and_play_with_a_configured_denoiser():
    restorer = build_restorer({"framework": "degplug", "type": "PlugAndPlayHQS", "iterations": 2,
                               "denoiser": {"type": "GaussianDenoiser", "strength": 0.5}})
    assert isinstance(restorer, PlugAndPlayHQS) and isinstance(restorer.denoiser, GaussianDenoiser)
    assert restorer.denoiser.strength == 0.5


def test_framework_builders_are_a_table_of_paths_the_core_does_not_import():
    assert RESTORER_BUILDERS["basicsr"] == "basicsr_ext.restorer_builder:build_restorer"
    assert RESTORER_BUILDERS["mmagic"] == "mmagic_ext.models.restorer_builder:build_restorer"
    script = ("import sys, degplug.blind\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('basicsr', 'basicsr_ext', 'mmagic', 'mmagic_ext', 'mmengine')))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.split()[-1] == "[]", result.stdout + result.stderr


@pytest.mark.parametrize("framework,blocked,extra", [("basicsr", "basicsr", "degplug[basicsr]"),
                                                     ("mmagic", "mmagic", "degplug[mmagic]")])
def test_framework_that_is_not_installed_is_an_error_naming_it_and_the_package(framework, blocked, extra):
    # a fresh interpreter in which the framework is not found, as on a core-only install
    script = ("import sys\n"
              "class NotInstalled:\n"
              "    def find_spec(self, name, path=None, target=None):\n"
              f"        if name.split('.')[0] == {blocked!r}:\n"
              "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
              "sys.meta_path.insert(0, NotInstalled())\n"
              "from degplug.blind import BlindWrapper\n"
              f"BlindWrapper({{'framework': {framework!r}, 'type': 'SwinIR'}})\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode != 0 and last.startswith("ValueError: restorer config"), result.stderr[-2000:]
    assert f"framework {framework!r}" in last and f"package {blocked!r}" in last and extra in last


def test_unknown_or_missing_framework_lists_the_known_ones(monkeypatch):
    with pytest.raises(ValueError, match=r"unknown framework 'nosuch'; known: \['basicsr', 'degplug', 'mmagic', 'python'\]"):
        BlindWrapper({"framework": "nosuch", "type": "SwinIR"})
    with pytest.raises(ValueError, match="needs a 'framework' key"):
        BlindWrapper({"type": "SwinIR"})
    monkeypatch.setitem(RESTORER_BUILDERS, "mine", "tests.helpers.no_such_module:build")
    with pytest.raises(ValueError, match=r"framework 'mine' needs the package 'tests.helpers.no_such_module'"):
        BlindWrapper({"framework": "mine", "type": "X"})


def test_a_user_framework_registers_a_builder_or_its_path(monkeypatch):
    monkeypatch.setattr("degplug.blind.restorer_factory.RESTORER_BUILDERS", dict(RESTORER_BUILDERS))
    from degplug.blind import register_restorer_builder

    register_restorer_builder("conv", lambda config: nn.Conv2d(3, 3, **config))
    assert isinstance(build_restorer({"framework": "conv", "kernel_size": 1}), nn.Conv2d)
    path = "degplug.blind.restorer_factory:_build_degplug"  # any function config -> restorer
    register_restorer_builder("mine", path)
    smooth = build_restorer({"framework": "mine", "type": "GaussianDenoiser", "strength": 0.5})
    assert isinstance(smooth, GaussianDenoiser) and smooth.strength == 0.5
    register_restorer_builder("mine", path)  # the same again: fine
    with pytest.raises(ValueError, match="already registered"):
        register_restorer_builder("mine", "degplug.blind.restorer_factory:_build_python")
    with pytest.raises(ValueError, match="module:function"):
        register_restorer_builder("bad", "no_colon")


def test_restorer_that_fits_no_protocol_is_rejected_with_the_protocol():
    with pytest.raises(ValueError, match=r"restore\(degraded"):
        BlindWrapper(object(), udm=fresh_tiny_udm())
    with pytest.raises(ValueError, match="operator protocol"):
        BlindWrapper(nn.Identity(), udm=fresh_tiny_udm(), mode="operator")
    with pytest.raises(ValueError, match="needs udm"):
        BlindWrapper(RecordingRestorer())


def test_udm_checkpoint_of_wrong_shape_version_or_kind_is_a_clear_error(tmp_path):
    udm = fresh_tiny_udm()
    state = udm.checkpoint_state()
    wrong_version = dict(state, version=99)
    torch.save(wrong_version, tmp_path / "v99.pth")
    with pytest.raises(ValueError, match="udm:.*version 99"):
        BlindWrapper(RecordingRestorer(), udm=tmp_path / "v99.pth")
    wrong_shape = dict(state, config=dict(state["config"], embed_dim=32))
    torch.save(wrong_shape, tmp_path / "shape.pth")
    with pytest.raises(ValueError, match="udm:"):
        BlindWrapper(RecordingRestorer(), udm=tmp_path / "shape.pth")
    torch.save({"something": torch.zeros(1)}, tmp_path / "foreign.pth")
    with pytest.raises(ValueError, match="not a degplug UDM checkpoint"):
        BlindWrapper(RecordingRestorer(), udm=tmp_path / "foreign.pth")
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        BlindWrapper(RecordingRestorer(), udm=tmp_path / "missing.pth")


def test_importing_degplug_and_its_blind_wrapper_loads_no_framework():
    probe = (
        "import sys, degplug; degplug.BlindWrapper; import degplug.cli.blind;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'basicsr', 'mmagic', 'mmengine', 'mmcv'}))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
