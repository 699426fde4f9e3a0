"""One checkpoint, one test folder, one NDR-Restore table: `degplug eval ndr`, BasicSR's validation /
`basicsr test` (NDRModel.nondist_validation on the all-in-one test options' dataset) and MMagic's
NDREditor + NDRTaskMetric give the same rows, in the same order.

The test folder has denoise (noise added with the seeds both sides share), dehaze and derain: the
command lists its folders by name after denoise, the options list the tasks in that order, and a
sorted table (what the frameworks printed before) would put dehaze first. Images are 20×28, not a
multiple of 8 (the protocol's padding); the framework loaders batch by two, the command scores one
image at a time.
"""

import importlib.util
import json

import pytest
import torch

if importlib.util.find_spec("basicsr") is None or importlib.util.find_spec("mmagic") is None:
    pytest.skip("BasicSR or MMagic is not installed", allow_module_level=True)

from degplug.data.image_io import write_image  # noqa: E402
from degplug.ndr.checkpoint import checkpoint_state, load_restorer  # noqa: E402
from degplug.ndr.restore_net import NDRRestoreNet  # noqa: E402
from tests.helpers.udm_models import photo_crop  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"width": 8, "blocks": [1, 1, 1, 1], "heads": [1, 1, 2, 2], "refinement_blocks": 1, "num_tokens": 4,
        "token_dim": 16, "degradation_channels": 8, "rank": 4, "variant": "residual"}
ORDER = ["denoise σ15", "denoise σ25", "denoise σ50", "dehaze", "derain"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ndr_scoring")
    net = NDRRestoreNet(seed=0, **TINY)  # residual variant: input + an untrained network's output (checked below)
    torch.save(checkpoint_state(net, dict(TINY)), root / "ndr.pth")
    data = root / "test"
    for index in range(3):
        write_image(data / "denoise" / f"{index}.png", photo_crop(index, 20, 28))
    for index in range(2):
        clean = photo_crop(index + 3, 20, 28)
        write_image(data / "derain" / "gt" / f"norain-{index}.png", clean)
        write_image(data / "derain" / "lq" / f"rain-{index}.png", (clean + 0.2 * photo_crop(index, 20, 28)).clamp(0, 1))
        write_image(data / "dehaze" / "gt" / f"{index:04d}.png", clean)
        write_image(data / "dehaze" / "lq" / f"{index:04d}_0.8_0.2.png", 0.6 * clean + 0.35)
    tasks = [
        {"task": "denoise", "gt_folder": str(data / "denoise"), "sigmas": [15, 25, 50], "name": "denoise σ{sigma}", "repeat": 1},
        {"task": "dehaze", "root_folder": str(data / "dehaze"), "repeat": 1, "name": "dehaze"},
        {"task": "derain", "root_folder": str(data / "derain"), "repeat": 1, "name": "derain"},
    ]
    return root, data, tasks


def _rows(results) -> list[tuple[str, float, float, int]]:
    return [(r.task, r.psnr, r.ssim, r.images) for r in results]


def test_eval_ndr_command_basicsr_test_and_mmagic_metric_give_one_table(setup, tmp_path, capsys):
    from mmengine.dataset import pseudo_collate
    from mmagic.registry import METRICS, MODELS
    from torch.utils.data import DataLoader

    import basicsr_ext  # noqa: F401
    import mmagic_ext  # noqa: F401
    from basicsr_ext.datasets import DegplugAllInOneDataset as BasicSRAllInOne
    from basicsr_ext.ndr_model import NDRModel
    from degplug.cli.main import main
    from degplug.eval.ndr_protocol import TaskMetrics, metrics_table_markdown
    from mmagic_ext.datasets.degplug_datasets import DegplugAllInOneDataset as MMagicAllInOne

    root, data, tasks = setup
    # `degplug eval ndr`
    assert main(["eval", "ndr", "--ckpt", str(root / "ndr.pth"), "--data", str(data), "--device", "cpu",
                 "--out", str(tmp_path / "eval")]) == 0
    printed = capsys.readouterr().out
    cli = [TaskMetrics(**row) for row in json.loads((tmp_path / "eval.json").read_text())["tasks"]]
    assert [r.task for r in cli] == ORDER != sorted(ORDER) and [r.images for r in cli] == [3, 3, 3, 2, 2]

    # BasicSR: `basicsr test` on the all-in-one test options' dataset, two images a batch
    dataset = BasicSRAllInOne({"name": "allinone_test", "type": "DegplugAllInOneDataset", "tasks": tasks,
                               "crop_size": None, "phase": "val"})
    opt = {"num_gpu": 0, "is_train": False, "dist": False, "rank": 0, "world_size": 1,
           "network_g": {"type": "NDRRestoreNet", **TINY},
           "path": {"pretrain_network_g": str(root / "ndr.pth"), "strict_load_g": True, "results_root": str(tmp_path)},
           "val": {"save_img": False}}
    model = NDRModel(opt)
    model.nondist_validation(DataLoader(dataset, batch_size=2), 0, None, False)
    written = [TaskMetrics(**row) for row in json.loads((tmp_path / "allinone_test_metrics.json").read_text())["tasks"]]

    # MMagic: NDREditor.val_step + NDRTaskMetric on the same dataset class, two images a batch
    editor = MODELS.build(dict(type="NDREditor", restorer=dict(type="NDRRestoreNet", **TINY)))
    editor.restorer.load_state_dict(load_restorer(root / "ndr.pth").state_dict())
    items = [item for item in MMagicAllInOne(tasks=tasks, crop_size=None, phase="val")]
    metric = METRICS.build(dict(type="NDRTaskMetric"))
    for start in range(0, len(items), 2):
        metric.process(None, editor.val_step(pseudo_collate(items[start : start + 2])))
    mmagic = metric.compute_metrics(metric.results)

    assert _rows(model.task_results) == _rows(written) == _rows(cli)  # bit-identical, same order
    assert list(mmagic) == [f"{task}/{name}" for task in [*ORDER, "Average"] for name in ("PSNR", "SSIM")]
    for row in cli:  # MMagic's [0, 255] float samples: a float32 round trip, no more
        assert mmagic[f"{row.task}/PSNR"] == pytest.approx(row.psnr, rel=1e-6)
        assert mmagic[f"{row.task}/SSIM"] == pytest.approx(row.ssim, rel=1e-6, abs=1e-7)
    mmagic_rows = [TaskMetrics(r.task, mmagic[f"{r.task}/PSNR"], mmagic[f"{r.task}/SSIM"], r.images) for r in cli]
    table = metrics_table_markdown(cli)
    assert metrics_table_markdown(model.task_results) == table == metrics_table_markdown(mmagic_rows)
    assert table in printed
    # not vacuous: the restorer changes its inputs, and the tasks differ
    assert len({round(r.psnr, 3) for r in cli}) == len(cli)
    lq = dataset[0]["lq"][None]
    with torch.no_grad():
        assert not torch.allclose(model.get_bare_model(model.net_g).eval()(lq).clamp(0, 1), lq, atol=1e-2)
