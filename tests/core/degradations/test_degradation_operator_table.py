"""The degradation operators come from one explicit table, complete without importing anything else.

The operator types are read from the shipped BasicSR options (options/**/*.yml) and MMagic configs
(configs/**/*.py, parsed with ast, never executed) and from the named presets those files use.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from degplug.degradations import PRESETS, get_operator_class, operator_names
from degplug.degradations.base import DegradationOp
from degplug.degradations.registry import OPERATORS

ROOT = Path(__file__).resolve().parents[3]


def _types_in_ops(ops) -> set[str]:
    """Operator types of a pipeline's ``ops`` (steps and nested ``one_of`` groups)."""
    found: set[str] = set()
    stack = [ops]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            if isinstance(item.get("type"), str):
                found.add(item["type"])
            stack.extend(value for value in item.values() if isinstance(value, (list, dict)))
    return found


def _pipelines_in(data) -> tuple[set[str], set[str]]:
    """(operator types of inline ``ops`` lists, preset names given as ``pipeline: <name>``) in a nested config."""
    types: set[str] = set()
    presets: set[str] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "ops":
                    types |= _types_in_ops(value)
                elif key == "pipeline" and isinstance(value, str):
                    presets.add(value)
                else:
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return types, presets


def _literal(node: ast.AST, names: dict[str, object]):
    """The value of a config expression made of literals, ``dict(...)`` calls and earlier names."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict":
        return {keyword.arg: _literal(keyword.value, names) for keyword in node.keywords if keyword.arg}
    if isinstance(node, ast.Dict):
        return {
            _literal(key, names): _literal(value, names)
            for key, value in zip(node.keys, node.values)
            if key is not None
        }
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_literal(element, names) for element in node.elts]
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Constant):
        return node.value
    return None


def _config_py(path: Path) -> dict[str, object]:
    names: dict[str, object] = {}
    for statement in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(statement, ast.Assign):
            value = _literal(statement.value, names)
            for target in statement.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = value
    return names


def shipped_pipeline_types() -> dict[str, set[str]]:
    """File (relative path) -> the operator types its pipelines use, presets resolved."""
    per_file: dict[str, tuple[set[str], set[str]]] = {}
    for path in sorted((ROOT / "options").rglob("*.yml")):
        per_file[str(path.relative_to(ROOT))] = _pipelines_in(yaml.safe_load(path.read_text(encoding="utf-8")))
    for path in sorted((ROOT / "configs").rglob("*.py")):
        per_file[str(path.relative_to(ROOT))] = _pipelines_in(_config_py(path))
    result = {}
    for name, (types, presets) in per_file.items():
        for preset in presets:
            if preset in PRESETS:
                types = types | _types_in_ops(PRESETS[preset]["ops"])
            else:
                assert preset.endswith((".yml", ".yaml", ".json")), f"{name}: pipeline {preset!r} is neither a preset nor a file"
        result[name] = types
    return result


def test_the_shipped_options_and_configs_use_only_operators_of_the_table():
    used = shipped_pipeline_types()
    # the reader found the inline pipelines of the small UDM recipe in both frameworks
    for name in ("options/train/UDM/train_UDM_small_embedded.yml", "configs/udm/udm_small_1xb4-5k_embedded.py"):
        assert {"haze", "gaussian_blur", "jpeg", "resize_back"} <= used[name], (name, used[name])
    # and resolved the presets named by the other recipes
    assert {"motion_blur", "film_grain", "raindrops"} <= used["options/train/UDM/train_UDM_paper.yml"]
    missing = {name: sorted(types - set(OPERATORS)) for name, types in used.items() if types - set(OPERATORS)}
    assert not missing, f"operator types used by shipped files but not in the table: {missing}"
    for types in used.values():
        for name in types:
            assert get_operator_class(name) is OPERATORS[name]


def test_every_preset_uses_only_operators_of_the_table():
    for preset, config in PRESETS.items():
        unknown = _types_in_ops(config["ops"]) - set(OPERATORS)
        assert not unknown, f"preset {preset!r} uses {sorted(unknown)}"


def test_each_table_key_is_its_class_name_and_the_public_lookups_read_the_table():
    assert len(OPERATORS) >= 15
    for name, cls in OPERATORS.items():
        assert isinstance(cls, type) and issubclass(cls, DegradationOp)
        assert cls.name == name
    assert operator_names() == sorted(OPERATORS)


def test_an_unknown_operator_is_an_error_listing_every_known_name():
    with pytest.raises(ValueError, match="unknown degradation type 'gausian_noise'") as error:
        get_operator_class("gausian_noise")
    for name in OPERATORS:
        assert repr(name) in str(error.value)


_FRESH_PROCESS = """
import json, pkgutil, importlib, sys
from degplug.degradations.registry import OPERATORS, get_operator_class, operator_names
before = operator_names()
classes = {name: get_operator_class(name).__module__ + "." + get_operator_class(name).__qualname__ for name in before}
import degplug
for module in pkgutil.walk_packages(degplug.__path__, "degplug."):
    if module.name.rsplit(".", 1)[-1] != "__main__":
        importlib.import_module(module.name)
print(json.dumps({"before": before, "classes": classes, "after": operator_names(), "modules": len(sys.modules)}))
"""


def test_the_table_is_complete_without_importing_other_modules_and_no_import_adds_to_it():
    # a fresh interpreter: the lookups work right after importing the table module, and importing
    # every other degplug module afterwards registers nothing more
    result = subprocess.run(
        [sys.executable, "-c", _FRESH_PROCESS], capture_output=True, text=True, timeout=300, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["before"] == sorted(OPERATORS)
    assert report["after"] == report["before"]
    for name in set().union(*shipped_pipeline_types().values()):
        assert name in report["classes"]
    assert report["classes"]["gaussian_noise"] == "degplug.degradations.noise.GaussianNoise"


def test_no_degplug_module_registers_an_operator():
    # registration by import side effect would show up as a call or decorator in the package
    offenders = []
    for path in sorted((ROOT / "degplug").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            called = node.func if isinstance(node, ast.Call) else None
            decorators = node.decorator_list if isinstance(node, (ast.ClassDef, ast.FunctionDef)) else []
            for expression in [called, *decorators]:
                name = getattr(expression, "id", None) or getattr(expression, "attr", None)
                if name == "register_operator":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, offenders
