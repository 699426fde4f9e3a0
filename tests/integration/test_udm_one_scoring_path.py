"""One checkpoint, one data set, one UDM table: `degplug eval udm`, BasicSR's validation / `basicsr test`
(UDMModel.nondist_validation) and MMagic's UDMEditor + UDMQualityMetric give the same rows.

The model's weights are perturbed so its output depends on the synthesis noise (a fresh synthesis
network returns its input, which every seed scores alike); the framework loaders batch the tuples
by two, the CLI scores one tuple at a time, so the agreement also covers batching.
"""

import importlib.util
import json

import pytest
import torch

if importlib.util.find_spec("basicsr") is None or importlib.util.find_spec("mmagic") is None:
    pytest.skip("BasicSR or MMagic is not installed", allow_module_level=True)

from degplug.eval.metrics import build_metrics, psnr  # noqa: E402
from degplug.udm.model import UniversalDegradationModel  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = dict(embed_dim=16, map_channels=2, encoder_width=8, long_kernel=3, synthesis_width=8,
            synthesis_blocks=[1, 1, 1, 1, 1], rate_hidden=8)
METRICS = ["psnr", "ssim", "ms_ssim"]
SHARED_ROWS = ("reproduction", "transfer", "identity")


def _noisy_model() -> UniversalDegradationModel:
    generator = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = UniversalDegradationModel(**TINY)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    return model.eval()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("udm_scoring")
    model = _noisy_model()
    model.save_checkpoint(folder / "udm.pth")
    torch.save({"params": model.state_dict()}, folder / "net_g.pth")  # the same weights as BasicSR's file
    return folder


def _basicsr_rows(checkpoint, loader, tmp_path) -> tuple[dict, str]:
    import basicsr_ext  # noqa: F401
    from basicsr_ext.udm_model import UDMModel

    opt = {"num_gpu": 0, "is_train": False, "dist": False, "rank": 0, "world_size": 1,
           "network_g": {"type": "UniversalDegradationModel", **TINY},
           "path": {"pretrain_network_g": str(checkpoint / "net_g.pth"), "strict_load_g": True, "param_key_g": "params",
                    "results_root": str(tmp_path)},
           "val": {"metrics": METRICS}}
    model = UDMModel(opt)
    model.nondist_validation(loader, 0, None, False)
    name = loader.dataset.opt["name"] if hasattr(loader.dataset, "opt") else "val"
    table = json.loads((tmp_path / f"{name}_metrics.json").read_text())  # what `basicsr test` writes
    return model.metric_averages, table


def _mmagic_rows(checkpoint, items) -> dict:
    from mmengine.dataset import pseudo_collate
    from mmagic.registry import METRICS as METRIC_REGISTRY, MODELS

    import mmagic_ext  # noqa: F401

    editor = MODELS.build(dict(type="UDMEditor", generator=dict(type="UniversalDegradationModel", **TINY),
                               training=dict(dists_pretrained=False, queue_size=8, weights=dict(similarity=0.0, l1=1.0, gan=0.0))))
    editor.generator.load_state_dict(UniversalDegradationModel.from_checkpoint(checkpoint / "udm.pth").state_dict())
    metric = METRIC_REGISTRY.build(dict(type="UDMQualityMetric", metrics=METRICS))
    for start in range(0, len(items), 2):
        metric.process(None, editor.val_step(pseudo_collate(items[start : start + 2])))
    return metric.compute_metrics(metric.results)


def _flat(rows: dict) -> dict[str, float]:
    return {f"{row}/{name}": value for row in SHARED_ROWS for name, value in rows[row].items() if name != "images"}


def _markdown(flat: dict[str, float], images: int) -> str:
    from degplug.eval.udm_table import UDMEvaluation

    means: dict[str, dict[str, float]] = {}
    for key, value in flat.items():
        row, name = key.split("/")
        means.setdefault(row, {})[name] = value
    return UDMEvaluation(means, {row: images for row in means}).to_markdown(include_paper=False)


def test_eval_udm_command_basicsr_test_and_mmagic_metric_give_one_table(checkpoint, tmp_path, capsys):
    from torch.utils.data import DataLoader

    from degplug.cli.main import main
    from degplug.eval.evaluation_tuples import load_tuples
    from mmagic_ext.datasets.degplug_datasets import pack_item

    # `degplug eval udm` on the checkpoint file
    code = main(["eval", "udm", "--ckpt", str(checkpoint / "udm.pth"), "--data", "embedded:val", "--pairs", "3",
                 "--crop-size", "40", "--seed", "0", "--metrics", *METRICS, "--out", str(tmp_path / "eval")])
    assert code == 0
    printed = capsys.readouterr().out
    cli = _flat(json.loads((tmp_path / "eval.json").read_text())["rows"])

    # the same tuples through BasicSR's validation and MMagic's val_step + metric, two tuples a batch
    tuples = load_tuples("embedded:val", pairs=3, seed=0, pipeline="realistic", crop_size=40)
    items = [{"gt": t.x_a[0], "lq": t.y_a[0], "gt_b": t.x_b[0], "lq_b": t.y_b[0]} for t in tuples]
    basicsr, basicsr_file = _basicsr_rows(checkpoint, DataLoader(items, batch_size=2), tmp_path)
    mmagic = _mmagic_rows(checkpoint, [pack_item(item, index) for index, item in enumerate(items)])

    assert sorted(cli) == sorted(basicsr) == sorted(mmagic) and len(cli) == 9
    assert basicsr == cli  # bit-identical: one function, one seed rule, each image alone
    assert _flat(basicsr_file["rows"]) == cli and all(basicsr_file["rows"][row]["images"] == 3 for row in SHARED_ROWS)
    for key, value in cli.items():  # MMagic's [0, 255] float samples: a float32 round trip, no more
        assert mmagic[key] == pytest.approx(value, rel=1e-6, abs=1e-7), key
    table = _markdown(cli, 3)
    assert _markdown(basicsr, 3) == table == _markdown(mmagic, 3)
    for row in SHARED_ROWS:  # and the CLI printed those numbers
        assert f"| {row} | " in printed and f"{cli[f'{row}/psnr']:.2f}" in printed

    # the agreement is not vacuous: the noise matters, and the old framework rule (seed 0 for every
    # image) gives another transfer score than the shared rule (image k: seed + k)
    model = UniversalDegradationModel.from_checkpoint(checkpoint / "udm.pth").eval()
    x_b, y_a, y_b = tuples[2].x_b, tuples[2].y_a, tuples[2].y_b
    with torch.no_grad():
        embedding = model.encode(y_a)
        shared_rule, old_rule = model.synthesize(x_b, embedding, seed=2), model.synthesize(x_b, embedding, seed=0)
    assert not torch.allclose(shared_rule, old_rule, atol=1e-3)
    assert float(psnr(shared_rule, y_b)) != pytest.approx(float(psnr(old_rule, y_b)), abs=1e-4)


def test_basicsr_and_mmagic_validation_on_their_datasets_match_evaluate_udm(checkpoint, tmp_path):
    """The frameworks' own dataset classes (MMagic's items carry sample_idx) and their loaders."""
    from torch.utils.data import DataLoader

    from basicsr_ext.datasets import DegplugTransferTupleDataset as BasicSRTuples
    from degplug.data.transfer_tuples import TransferTupleDataset
    from degplug.eval.evaluation_tuples import EvaluationTuple
    from degplug.eval.udm_table import evaluate_udm
    from mmagic_ext.datasets.degplug_datasets import DegplugTransferTupleDataset as MMagicTuples

    options = dict(gt_folder="embedded:val", pipeline="homogeneous", crop_size=32, phase="val", seed=3, repeat=2)
    basicsr_dataset = BasicSRTuples({"name": "tuples", "type": "DegplugTransferTupleDataset", **options})
    basicsr, _ = _basicsr_rows(checkpoint, DataLoader(basicsr_dataset, batch_size=3), tmp_path)
    mmagic_dataset = MMagicTuples(**options)
    items = [mmagic_dataset[i] for i in range(len(mmagic_dataset))]
    assert [item["data_samples"].metainfo["sample_idx"] for item in items] == list(range(len(items)))
    mmagic = _mmagic_rows(checkpoint, items)

    core = TransferTupleDataset(**options)
    tuples = [EvaluationTuple(*(core[i][key][None] for key in ("gt", "lq", "gt_b", "lq_b"))) for i in range(len(core))]
    evaluation = evaluate_udm(UniversalDegradationModel.from_checkpoint(checkpoint / "udm.pth"), tuples,
                              build_metrics(tuple(METRICS)), seed=0, rows=SHARED_ROWS, statistics=False)
    reference = {f"{row}/{name}": value for row in SHARED_ROWS for name, value in evaluation.means[row].items()}
    assert len(tuples) == 4 and basicsr == reference
    for key, value in reference.items():
        assert mmagic[key] == pytest.approx(value, rel=1e-6, abs=1e-7), key
