"""Input folders: symbolic links to folders are followed (loops end), broken links are named, nothing is dropped silently."""

from __future__ import annotations

import os

import pytest
import torch

from degplug.cli.image_files import list_inputs
from degplug.cli.main import main
from degplug.data.folders import SkippedEntryWarning, list_image_files
from degplug.data.image_io import write_image


def _image(path):
    write_image(path, torch.full((3, 9, 10), 0.5))
    return path


@pytest.fixture
def linked_tree(tmp_path):
    """root/a.png, root/real/b.png, root/link -> ../outside (c.png), root/loop -> root, root/broken.png -> nowhere."""
    root = tmp_path / "root"
    _image(root / "a.png")
    _image(root / "real" / "b.png")
    _image(tmp_path / "outside" / "c.png")
    os.symlink(tmp_path / "outside", root / "link")
    os.symlink(root, root / "real" / "loop")
    os.symlink(tmp_path / "nowhere.png", root / "broken.png")
    os.symlink(tmp_path / "no_folder", root / "broken_folder")
    return root


def test_symlinked_folders_are_followed_once_and_broken_links_are_reported(linked_tree):
    reported = []
    files = list_image_files(linked_tree, on_skip=lambda path, reason: reported.append((path.name, reason)))
    assert [p.relative_to(linked_tree).as_posix() for p in files] == ["a.png", "link/c.png", "real/b.png"]
    names = {name: reason for name, reason in reported}
    assert set(names) == {"broken.png", "broken_folder", "loop"}
    assert "broken symbolic link" in names["broken.png"] and "nowhere.png" in names["broken.png"]
    assert "already searched" in names["loop"]


def test_default_report_is_a_warning_naming_the_link(linked_tree):
    with pytest.warns(SkippedEntryWarning, match="broken.png"):
        list_image_files(linked_tree)


def test_a_folder_reached_directly_and_through_a_link_is_listed_under_its_real_path(tmp_path):
    root = tmp_path / "root"
    _image(root / "zz_real" / "x.png")
    os.symlink(root / "zz_real", root / "aa_link")  # sorts first, but the real path wins
    reported = []
    files = list_image_files(root, on_skip=lambda path, reason: reported.append(path.name))
    assert [p.relative_to(root).as_posix() for p in files] == ["zz_real/x.png"]
    assert reported == ["aa_link"]


def test_excluded_output_folder_inside_the_input_is_not_searched(tmp_path):
    root = tmp_path / "in"
    _image(root / "a.png")
    _image(root / "out" / "a.png")
    assert list_image_files(root, exclude=[root / "out"]) == [root / "a.png"]
    assert len(list_image_files(root)) == 2


def test_cli_lists_through_links_and_names_broken_ones_on_stderr(linked_tree, capsys):
    paths, root = list_inputs(linked_tree, "--input")
    assert root == linked_tree and len(paths) == 3
    err = capsys.readouterr().err
    assert "broken.png" in err and "broken symbolic link" in err


def test_degrade_follows_a_linked_folder_and_reports_the_broken_link(linked_tree, tmp_path, capsys):
    out = tmp_path / "degraded"
    assert main(["degrade", "--input", str(linked_tree), "--out", str(out), "--preset", "jpeg", "--no-progress"]) == 0
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == ["a.png", "link/c.png", "real/b.png"]
    assert "broken.png" in capsys.readouterr().err


def test_input_that_is_a_broken_link_is_a_clear_error(tmp_path, capsys):
    os.symlink(tmp_path / "gone", tmp_path / "input")
    assert main(["degrade", "--input", str(tmp_path / "input"), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "broken symbolic link" in err and "gone" in err and "Traceback" not in err
