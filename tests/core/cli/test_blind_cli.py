"""`degplug blind`: restores a folder with a built-in operator restorer; bad options fail clearly."""

import torch

from degplug.cli.main import main
from degplug.data.image_io import read_image, write_image
from degplug.udm.config import UDMConfig
from degplug.udm.model import UniversalDegradationModel


def tiny_checkpoint(path):
    torch.manual_seed(0)
    UniversalDegradationModel(**UDMConfig.small(embed_dim=16, encoder_width=8, synthesis_width=8, rate_hidden=8).to_dict()).save_checkpoint(path)
    return path


def test_blind_verb_restores_every_image_and_keeps_sizes(tmp_path, capsys):
    udm = tiny_checkpoint(tmp_path / "udm.pth")
    (tmp_path / "in" / "sub").mkdir(parents=True)
    write_image(tmp_path / "in" / "a.png", torch.rand(3, 20, 27))
    write_image(tmp_path / "in" / "sub" / "b.png", torch.rand(3, 30, 18))
    config = tmp_path / "pnp.yml"
    config.write_text("framework: degplug\ntype: PlugAndPlayHQS\niterations: 1\ndata_steps: 1\n")
    code = main(["blind", "--restorer", str(config), "--udm", str(udm), "--input", str(tmp_path / "in"),
                 "--out", str(tmp_path / "out"), "--tile", "24", "--tile-overlap", "8", "--operator-samples", "1",
                 "--device", "cpu", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert read_image(tmp_path / "out" / "a.png").shape == (3, 20, 27)
    assert read_image(tmp_path / "out" / "sub" / "b.png").shape == (3, 30, 18)


def test_blind_verb_errors_name_the_bad_option(tmp_path, capsys, monkeypatch):
    import sys

    # as on a core-only install: the BasicSR adapter's builder cannot be imported
    monkeypatch.setitem(sys.modules, "basicsr_ext", None)
    monkeypatch.setitem(sys.modules, "basicsr_ext.restorer_builder", None)
    udm = tiny_checkpoint(tmp_path / "udm.pth")
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "a.png", torch.rand(3, 16, 16))
    assert main(["blind", "--restorer", "nope", "--udm", str(udm), "--input", str(tmp_path / "in"), "--out", str(tmp_path / "o")]) == 1
    assert "--restorer 'nope'" in capsys.readouterr().err
    config = tmp_path / "swinir.yml"
    config.write_text("framework: basicsr\ntype: SwinIR\n")
    assert main(["blind", "--restorer", str(config), "--udm", str(udm), "--input", str(tmp_path / "in"), "--out", str(tmp_path / "o")]) == 1
    assert "basicsr_ext" in capsys.readouterr().err
    assert main(["blind", "--restorer", "pnp_hqs", "--udm", str(tmp_path / "none.pth"), "--input", str(tmp_path / "in"), "--out", str(tmp_path / "o")]) == 1
    assert "none.pth" in capsys.readouterr().err
