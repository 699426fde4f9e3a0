"""A converted authors' checkpoint (``degplug convert udm-official``) loads for fine-tuning in both
frameworks: BasicSR's ``path.pretrain_network_g`` (default ``param_key_g``) and MMagic's ``load_from``
(mmengine's own checkpoint loading, weights-only)."""

from __future__ import annotations

import pytest
import torch

from degplug.cli.main import main as degplug_main
from degplug.udm.model import UniversalDegradationModel
from tests.helpers.official_states import authors_state, save_authors_checkpoint

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("official")
    save_authors_checkpoint(folder / "theirs.pt", authors_state(seed=5, dim=16, map_channels=2, filters=8, k_loc=5))
    assert degplug_main(["convert", "udm-official", str(folder / "theirs.pt"), "--out", str(folder / "udm.pth")]) == 0
    return folder / "udm.pth", UniversalDegradationModel.from_checkpoint(folder / "udm.pth").eval()


def _outputs(model: UniversalDegradationModel) -> torch.Tensor:
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return model.eval().transfer(images[:1], images[1:], seed=3)


def test_basicsr_pretrain_network_g_loads_the_converted_file(converted):
    from basicsr_ext.udm_model import UDMModel

    path, reference = converted
    opt = {"num_gpu": 0, "is_train": False, "dist": False, "rank": 0, "world_size": 1,
           "network_g": {"type": "UniversalDegradationModel", **reference.config.to_dict()},
           "path": {"pretrain_network_g": str(path), "strict_load_g": True},
           "val": {"metrics": ["psnr"]}}
    model = UDMModel(opt)
    assert model.udm.config.architecture == "official"
    assert torch.equal(_outputs(model.udm), _outputs(reference))


def test_mmagic_load_from_fills_the_generator_and_the_moco_encoders(converted):
    from mmagic.registry import MODELS
    from mmengine.runner.checkpoint import load_checkpoint

    import mmagic_ext  # noqa: F401  (registers degplug; weights-only checkpoint loading)

    path, reference = converted
    generator = {"type": "UniversalDegradationModel", **reference.config.to_dict()}
    editor = MODELS.build(dict(type="UDMEditor", generator=generator, training=dict(
        dists_pretrained=False, queue_size=8, weights=dict(similarity=0.0, l1=1.0, gan=0.0))))
    assert not torch.equal(_outputs(editor.generator), _outputs(reference))
    load_checkpoint(editor, str(path), map_location="cpu")  # what Runner.load_checkpoint does for load_from
    assert torch.equal(_outputs(editor.generator), _outputs(reference))
    key_encoder = editor.training_step.contrast.key_encoder.state_dict()
    for name, value in reference.hden.state_dict().items():
        assert torch.equal(key_encoder[name], value), name
    editor_state = editor.state_dict()  # an editor checkpoint still round-trips unchanged
    other = MODELS.build(dict(type="UDMEditor", generator=generator, training=dict(
        dists_pretrained=False, queue_size=8, weights=dict(similarity=0.0, l1=1.0, gan=0.0))))
    other.load_state_dict(editor_state)
    assert torch.equal(_outputs(other.generator), _outputs(reference))
