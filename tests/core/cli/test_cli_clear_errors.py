"""Bad input gives one clear line naming the file or option, never a traceback: `degplug` verbs and `basicsr train` options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from degplug.cli.main import main
from degplug.data.image_io import write_image
from tests.helpers.udm_models import photo_crop, tiny_udm

CPU = ["--device", "cpu", "--no-progress"]
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("clear_errors")
    model = tiny_udm()
    model.save_checkpoint(root / "udm.pt")
    write_image(root / "clean.png", photo_crop(0, 16, 16))
    write_image(root / "in" / "a.png", photo_crop(1, 16, 16))
    (root / "a_file").write_text("not a folder")
    return root


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("verb", ["reapply", "transfer", "degrade"])
def test_an_output_path_that_is_a_file_is_named(files, tmp_path, capsys, verb):
    ckpt, clean, blocker = str(files / "udm.pt"), str(files / "clean.png"), files / "a_file"
    if verb == "reapply":
        assert main(["pool", "--ckpt", ckpt, "--input", clean, "--out", str(tmp_path / "pool.pt"), *CPU]) == 0
        argv = ["reapply", "--ckpt", ckpt, "--pool", str(tmp_path / "pool.pt"), "--input", clean, "--out", str(blocker)]
    elif verb == "transfer":
        argv = ["transfer", "--ckpt", ckpt, "--ref", clean, "--input", str(files / "in"), "--out", str(blocker / "sub")]
    else:
        argv = ["degrade", "--input", clean, "--out", str(blocker / "sub"), "--no-progress"]
    capsys.readouterr()
    assert main([*argv, *([] if verb == "degrade" else CPU)]) == 1
    assert "a_file" in _error_line(capsys)


def test_an_output_file_path_that_is_a_folder_is_named(files, tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    assert main(["pool", "--ckpt", str(files / "udm.pt"), "--input", str(files / "clean.png"), "--out", str(tmp_path / "taken"), *CPU]) == 1
    assert "taken" in _error_line(capsys)
    assert main(["encode", "--ckpt", str(files / "udm.pt"), "--input", str(files / "clean.png"), "--out", str(tmp_path / "taken"), *CPU]) == 1
    assert "taken" in _error_line(capsys)


def test_a_checkpoint_whose_weights_do_not_fit_its_config_is_named(files, tmp_path, capsys):
    state = torch.load(files / "udm.pt", weights_only=True)
    state["config"]["encoder_width"] = 12  # the stored weights were made with 8
    torch.save(state, tmp_path / "mismatch.pt")
    argv = ["encode", "--ckpt", str(tmp_path / "mismatch.pt"), "--input", str(files / "clean.png"), "--out", str(tmp_path / "e.pt"), *CPU]
    assert main(argv) == 1
    line = _error_line(capsys)
    assert "mismatch.pt" in line and "do not match" in line and "size mismatch" in line


@pytest.mark.parametrize("key, value, expected", [
    ("embed_dim", "sixty-four", "'embed_dim' must be an integer"),
    ("use_ida", "yes", "'use_ida' must be true or false"),
    ("synthesis_blocks", [1, 1], "synthesis_blocks needs 5"),
    ("no_such_option", 3, "unknown UDM option"),
])
def test_a_checkpoint_config_of_the_wrong_type_is_named(files, tmp_path, capsys, key, value, expected):
    state = torch.load(files / "udm.pt", weights_only=True)
    state["config"][key] = value
    torch.save(state, tmp_path / "bad_config.pt")
    argv = ["encode", "--ckpt", str(tmp_path / "bad_config.pt"), "--input", str(files / "clean.png"), "--out", str(tmp_path / "e.pt"), *CPU]
    assert main(argv) == 1
    line = _error_line(capsys)
    assert "bad_config.pt" in line and expected in line


@pytest.mark.parametrize("params, expected", [
    ({"sigma": "abc", "gray": False, "noise_seed": 1}, "GaussianNoiseParams.sigma: expected a finite number, got 'abc'"),
    ({"sigma": 20.0, "gray": "no", "noise_seed": 1}, "GaussianNoiseParams.gray: expected true or false"),
    ({"sigma": 20.0, "gray": False, "noise_seed": -4}, "noise_seed = -4 is out of range"),
    ({"sigma": 20.0, "gray": False}, "missing parameter(s) ['noise_seed']"),
])
def test_a_parameter_file_with_a_bad_value_is_named(files, tmp_path, capsys, params, expected):
    path = tmp_path / "params.json"
    path.write_text(json.dumps({"steps": [{"type": "gaussian_noise", "params": params}]}))
    argv = ["degrade", "--input", str(files / "clean.png"), "--out", str(tmp_path / "o"), "--params", str(path), "--no-progress"]
    assert main(argv) == 1
    line = _error_line(capsys)
    assert "params.json" in line and "step 0 ('gaussian_noise')" in line and expected in line


def test_a_parameter_file_that_is_not_json_or_not_a_pipeline_is_named(files, tmp_path, capsys):
    for text, expected in (("{not json", "not valid JSON"), ('{"steps": 3}', "'steps' list"), ("[1, 2]", "'steps' list")):
        path = tmp_path / "params.json"
        path.write_text(text)
        assert main(["degrade", "--input", str(files / "clean.png"), "--out", str(tmp_path / "o"), "--params", str(path)]) == 1
        line = _error_line(capsys)
        assert "params.json" in line and expected in line


# -------------------------------------------------------------- basicsr train options
def _need_basicsr() -> None:
    pytest.importorskip("basicsr_ext.compat")  # makes basicsr 1.4.2 importable on current torchvision
    pytest.importorskip("basicsr")


def _udm_options(tmp_path: Path, edit) -> Path:
    options = yaml.safe_load((REPO / "options" / "train" / "UDM" / "train_UDM_demo_embedded.yml").read_text())
    edit(options)
    path = tmp_path / "options.yml"
    path.write_text(yaml.safe_dump(options))
    return path


def _set(path: str, value):
    def edit(options):
        *parents, last = path.split(".")
        block = options
        for name in parents:
            block = block[int(name)] if name.isdigit() else block[name]
        block[last] = value
    return edit


def _rename(path: str, new: str):
    def edit(options):
        *parents, last = path.split(".")
        block = options
        for name in parents:
            block = block[name]
        block[new] = block.pop(last)
    return edit


OPTION_CASES = [
    (_rename("datasets.train.crop_size", "crop_sise"), "datasets.train: unknown option 'crop_sise' of DegplugTransferTupleDataset. Did you mean 'crop_size'?"),
    (_rename("train.total_iter", "total_iters"), "train: unknown option 'total_iters'. Did you mean 'total_iter'"),
    (_rename("val.val_freq", "val_frequency"), "val: unknown option 'val_frequency'. Did you mean 'val_freq'?"),
    (_rename("logger.print_freq", "print_frq"), "logger: unknown option 'print_frq'. Did you mean 'print_freq'?"),
    (_rename("network_d.width", "widht"), "network_d: unknown option 'widht' of UDMDiscriminator. Did you mean 'width'?"),
    (_set("network_g.embed_dim", "sixty-four"), "UDM option 'embed_dim' must be an integer, got 'sixty-four'"),
    (_set("datasets.train.batch_size_per_gpu", "four"), "datasets.train.batch_size_per_gpu = 'four': expected a finite number"),
    (_set("datasets.train.crop_size", "big"), "datasets.train.crop_size = 'big': DegplugTransferTupleDataset expects int | None"),
    (_set("datasets.val.use_flip", "sometimes"), "datasets.val.use_flip = 'sometimes': DegplugTransferTupleDataset expects bool"),
    (_set("train.total_iter", "many"), "train.total_iter = 'many': expected a finite number"),
    (_set("train.total_iter", float("inf")), "train.total_iter = inf: expected a finite number"),
    (_set("train.optim_g", "Adam"), "train.optim_g = 'Adam': expected a mapping with a 'type'"),
    (_set("val.save_img", "yes"), "val.save_img = 'yes': expected true or false"),
    (_set("logger.save_checkpoint_freq", 0), "logger.save_checkpoint_freq = 0: expected a number > 0"),
    (_set("num_gpu", "two"), "options.num_gpu = 'two': expected a number ≥ 0 or 'auto'"),
    (_set("train", ["not", "a", "mapping"]), "train must be a mapping"),
]


@pytest.mark.parametrize("edit, expected", OPTION_CASES, ids=[case[1].split(":")[0][:40] for case in OPTION_CASES])
def test_basicsr_options_check_names_nested_keys_and_types(tmp_path, edit, expected):
    _need_basicsr()
    from basicsr_ext.options_check import OptionsError, check_options
    from tests.helpers.framework_registries import basicsr_registries

    with pytest.raises(OptionsError) as raised:
        check_options(_udm_options(tmp_path, edit), registries=basicsr_registries())
    assert expected in str(raised.value) and "options.yml" in str(raised.value)


def test_all_in_one_task_keys_and_basicsr_dataset_keys_are_checked(tmp_path):
    _need_basicsr()
    from basicsr_ext.options_check import OptionsError, check_options
    from tests.helpers.framework_registries import basicsr_registries

    ndr = yaml.safe_load((REPO / "options" / "train" / "NDR" / "train_NDR_demo_embedded.yml").read_text())
    ndr["datasets"]["train"]["tasks"][0]["sigma"] = [25]
    (tmp_path / "ndr.yml").write_text(yaml.safe_dump(ndr))
    with pytest.raises(OptionsError, match=r"tasks\[0\]: unknown option 'sigma'.*Did you mean 'sigmas'"):
        check_options(tmp_path / "ndr.yml", registries=basicsr_registries())
    sr = yaml.safe_load((REPO / "options" / "train" / "SwinIR" / "train_SwinIR_allinone_demo_embedded.yml").read_text())
    sr["datasets"]["train"] = {"name": "p", "type": "PairedImageDataset", "dataroot_gt": str(tmp_path),
                               "dataroot_lq": str(tmp_path), "io_backend": {"type": "disk"}, "gt_sise": 64}
    (tmp_path / "sr.yml").write_text(yaml.safe_dump(sr))
    with pytest.raises(OptionsError, match=r"unknown option 'gt_sise' of PairedImageDataset.*Did you mean 'gt_size'"):
        check_options(tmp_path / "sr.yml", registries=basicsr_registries())


def test_basicsr_train_with_a_misspelt_nested_key_creates_nothing(tmp_path, monkeypatch, capsys):
    _need_basicsr()
    from basicsr_ext.cli import main as basicsr_main

    options = _udm_options(tmp_path, _rename("train.total_iter", "total_iters"))
    monkeypatch.chdir(tmp_path)
    assert basicsr_main(["train", "-opt", str(options)]) == 2
    err = capsys.readouterr().err
    assert "total_iters" in err and "Did you mean 'total_iter'" in err and "Traceback" not in err
    assert not (tmp_path / "experiments").exists() and not (tmp_path / "results").exists()
