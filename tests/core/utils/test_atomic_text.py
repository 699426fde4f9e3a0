"""Tables, JSON records and lists beside outputs are written atomically (atomic_write_text)."""

from __future__ import annotations

import os

import pytest

from degplug.utils import atomic
from degplug.utils.atomic import atomic_write_text


def test_atomic_write_text_writes_the_text_and_leaves_no_temporary(tmp_path):
    path = atomic_write_text(tmp_path / "sub" / "table.md", "| a |\n| é |\n")
    assert path.read_bytes() == "| a |\n| é |\n".encode("utf-8")
    assert os.listdir(tmp_path / "sub") == ["table.md"]


def test_a_failed_write_keeps_the_old_file_whole(tmp_path, monkeypatch):
    path = tmp_path / "table.json"
    path.write_text('{"old": 1}\n')

    def failing_replace(source, destination):  # the kill between the write and the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(path, '{"new": 2}\n')
    assert path.read_text() == '{"old": 1}\n'
    assert os.listdir(tmp_path) == ["table.json"]  # the temporary file was removed


def test_the_evaluation_tables_are_written_through_it():
    import inspect

    from degplug.cli import edit, reapply
    from degplug.data import lmdb_writer
    from degplug.eval import analysis_report, ndr_protocol, udm_table

    for module in (edit, reapply, lmdb_writer, analysis_report, ndr_protocol, udm_table):
        source = inspect.getsource(module)
        assert "atomic_write_text(" in source and ".write_text(" not in source, module.__name__
