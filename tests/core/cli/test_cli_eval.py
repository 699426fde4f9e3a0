"""The `eval`, `analyze` and `edit` verbs end to end on tiny models."""

import json

import torch

from degplug.cli.main import main
from degplug.data.image_io import read_image, write_image
from degplug.ndr.checkpoint import checkpoint_state, load_restorer
from degplug.ndr.restore_net import NDRRestoreNet
from tests.helpers.udm_models import photo_crop, tiny_udm

torch.set_num_threads(1)
TINY_RESTORER = {"width": 8, "blocks": (1, 1, 1, 1), "heads": (1, 1, 2, 2), "refinement_blocks": 1,
                 "token_dim": 16, "degradation_channels": 8, "rank": 4}


def test_eval_udm_writes_markdown_and_json_with_baselines(tmp_path, capsys):
    ckpt = tmp_path / "udm.pth"
    tiny_udm().save_checkpoint(ckpt)
    code = main(["eval", "udm", "--ckpt", str(ckpt), "--data", "embedded:val", "--pairs", "2", "--crop-size", "32",
                 "--metrics", "psnr", "ssim", "ms_ssim", "--device", "cpu", "--out", str(tmp_path / "table")])
    assert code == 0
    payload = json.loads((tmp_path / "table.json").read_text())
    assert set(payload["rows"]) == {"reproduction", "transfer", "mixed transfer", "wrong embedding", "identity",
                                    "random degradation"}
    assert "gap_closed" in payload["statistics"]["transfer"]
    assert payload["rows"]["identity"]["images"] == 2 and 0 < payload["rows"]["transfer"]["ssim"] <= 1
    assert "| identity |" in (tmp_path / "table.md").read_text() and "| transfer |" in capsys.readouterr().out


def test_eval_ndr_reads_a_task_folder_and_reports_each_task_and_the_average(tmp_path):
    net = NDRRestoreNet(seed=0, **TINY_RESTORER)
    torch.save(checkpoint_state(net, {**TINY_RESTORER}), tmp_path / "ndr.pth")
    data = tmp_path / "test"
    for index in range(2):
        write_image(data / "denoise" / f"{index}.png", photo_crop(index, 24, 24))
        write_image(data / "derain" / "gt" / f"norain-{index}.png", photo_crop(index, 24, 24))
        write_image(data / "derain" / "lq" / f"rain-{index}.png", photo_crop(index + 1, 24, 24))
    code = main(["eval", "ndr", "--ckpt", str(tmp_path / "ndr.pth"), "--data", str(data), "--device", "cpu",
                 "--out", str(tmp_path / "ndr_table")])
    assert code == 0
    payload = json.loads((tmp_path / "ndr_table.json").read_text())
    assert [t["task"] for t in payload["tasks"]] == ["denoise σ15", "denoise σ25", "denoise σ50", "derain"]
    assert all(t["images"] == 2 for t in payload["tasks"])
    sigma15, sigma50 = payload["tasks"][0]["psnr"], payload["tasks"][2]["psnr"]
    assert sigma15 > sigma50  # an untrained restorer keeps most of the noise: stronger noise, lower PSNR


def test_ndr_checkpoint_round_trip_and_a_foreign_checkpoint_is_named(tmp_path):
    net = NDRRestoreNet(seed=0, **TINY_RESTORER)
    torch.save(checkpoint_state(net, TINY_RESTORER), tmp_path / "ndr.pth")
    loaded = load_restorer(tmp_path / "ndr.pth").eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), net.eval()(x))
    tiny_udm().save_checkpoint(tmp_path / "udm.pth")
    assert main(["eval", "ndr", "--ckpt", str(tmp_path / "udm.pth"), "--data", str(tmp_path)]) == 1


def test_restore_and_eval_read_framework_weight_files_given_the_network_sizes(tmp_path, capsys):
    net = NDRRestoreNet(seed=0, **TINY_RESTORER).eval()
    weights = {k: v.clone() for k, v in net.state_dict().items()}
    files = {
        "net_g_10.pth": {"params": weights},  # BasicSR's save_network
        "mmagic_iter_10.pth": {"meta": {}, "state_dict": {f"restorer.{k}": v for k, v in weights.items()}},
        "bare.pth": weights,
    }
    image = photo_crop(0, 24, 24)
    write_image(tmp_path / "in" / "a.png", image)
    with torch.no_grad():
        expected = net(read_image(tmp_path / "in" / "a.png")[None]).clamp(0, 1)[0]
    sizes = json.dumps(TINY_RESTORER)
    for name, state in files.items():
        torch.save(state, tmp_path / name)
        code = main(["restore", "--ckpt", str(tmp_path / name), "--ndr-config", sizes, "--input", str(tmp_path / "in"),
                     "--out", str(tmp_path / name.replace(".pth", "")), "--device", "cpu", "--no-progress"])
        assert code == 0, name
        restored = read_image(tmp_path / name.replace(".pth", "") / "a.png")
        assert (restored - expected).abs().max() <= 1 / 255 + 1e-6, name  # 8-bit PNG rounding only
        capsys.readouterr()
        # without the sizes: one clear line saying what to pass
        assert main(["restore", "--ckpt", str(tmp_path / name), "--input", str(tmp_path / "in"),
                     "--out", str(tmp_path / "none"), "--device", "cpu"]) == 1
        assert "--ndr-config" in capsys.readouterr().err
    assert main(["restore", "--ckpt", str(tmp_path / "bare.pth"), "--ndr-config", "[1]", "--input", str(tmp_path / "in"),
                 "--out", str(tmp_path / "none"), "--device", "cpu"]) == 1
    assert "--ndr-config: expected a JSON object" in capsys.readouterr().err


def test_analyze_writes_the_report_and_plots(tmp_path):
    ckpt = tmp_path / "udm.pth"
    tiny_udm().save_checkpoint(ckpt)
    out = tmp_path / "analysis"
    for index in range(3):
        write_image(tmp_path / "clean" / f"{index}.png", photo_crop(index, 40, 40))
    code = main(["analyze", "--ckpt", str(ckpt), "--data", str(tmp_path / "clean"), "--count", "6", "--crop-size", "32",
                 "--device", "cpu", "--out", str(out)])
    assert code == 0
    payload = json.loads((out / "analysis.json").read_text())
    assert payload["samples"] == 6 and len(payload["variances"]) == 16
    assert sum(payload["label_counts"].values()) == 6
    for name in ("variances.png", "projection.png", "local_maps.png"):
        assert (out / name).stat().st_size > 1000


def test_edit_writes_an_interpolation_strip(tmp_path):
    ckpt = tmp_path / "udm.pth"
    tiny_udm().save_checkpoint(ckpt)
    for name, index in (("clean", 0), ("a", 1), ("b", 2)):
        write_image(tmp_path / f"{name}.png", photo_crop(index, 24, 24))
    code = main(["edit", "--ckpt", str(ckpt), "--input", str(tmp_path / "clean.png"), "--ref", str(tmp_path / "a.png"),
                 "--ref-b", str(tmp_path / "b.png"), "--steps", "3", "--device", "cpu", "--out", str(tmp_path / "strip.png")])
    assert code == 0
    strip = read_image(tmp_path / "strip.png")
    assert strip.shape == (3, 24, 4 * 24 + 3 * 4)
    assert main(["edit", "--ckpt", str(ckpt), "--input", str(tmp_path / "clean.png"), "--ref", str(tmp_path / "a.png"),
                 "--out", str(tmp_path / "s.png")]) == 1  # neither --ref-b nor --dim
