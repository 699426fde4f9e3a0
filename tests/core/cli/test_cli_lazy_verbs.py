"""The `degplug` verb table: help texts match the modules, verbs load lazily, `--out` is the one spelling."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from degplug.cli.main import VERBS, build_parser, main


def first_docstring_line(module_name: str) -> str:
    """Read the verb module's docstring from its source, without importing it."""
    path = Path(importlib.util.find_spec(module_name).origin)
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    assert doc, f"{path} has no module docstring"
    return doc.strip().splitlines()[0]


@pytest.mark.parametrize("verb", sorted(VERBS))
def test_table_help_is_the_module_docstring(verb):
    module_name, help_text = VERBS[verb]
    assert help_text == first_docstring_line(module_name)


def imported_after(argv: list[str]) -> set[str]:
    code = (
        "import sys\n"
        "from degplug.cli.main import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('degplug.cli.') or m == 'torch')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return set(result.stdout.strip().splitlines()[-1].split())


def test_top_level_help_imports_no_verb_and_no_torch():
    loaded = imported_after(["--help"])
    assert loaded == {"degplug.cli.main"}, loaded


def test_a_verb_imports_only_its_own_module():
    loaded = imported_after(["data", "--help"])
    verb_modules = {module for module, _ in VERBS.values()}
    assert loaded & verb_modules == {"degplug.cli.data"}


def test_top_level_help_lists_every_verb_with_its_help(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for verb, (_, help_text) in VERBS.items():
        assert verb in text
        assert " ".join(help_text.split())[:40] in text


@pytest.mark.parametrize("verb", ["degrade", "reapply", "restore", "blind"])
def test_out_is_the_spelling_and_output_still_works(verb):
    parser = build_parser([verb])
    sub = next(action for action in parser._actions if action.dest == "verb")
    options = next(action for action in sub.choices[verb]._actions if "--out" in action.option_strings)
    assert options.option_strings[0] == "--out" and "--output" in options.option_strings
    assert options.dest == "out"
    assert "--out" in sub.choices[verb].format_usage()


def all_parsers(parser):
    """A parser and every sub-parser under it (``convert udm``, ``eval ndr``, ...)."""
    yield parser
    for action in parser._actions:
        if isinstance(action.choices, dict):
            for child in action.choices.values():
                yield from all_parsers(child)


def test_no_option_is_spelled_output_first():
    for parser in all_parsers(build_parser()):
        for action in parser._actions:
            assert action.option_strings[:1] != ["--output"], f"{parser.prog}: {action.option_strings}"
            if "--output" in action.option_strings:
                assert action.option_strings[0] == "--out", f"{parser.prog}: {action.option_strings}"
