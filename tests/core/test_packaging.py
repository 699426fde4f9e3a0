"""pyproject.toml matches the layering: the core's dependencies carry no framework, every import is declared.

The imports are read from the source with ``ast``; an import name is mapped to the distributions
that provide it through the installed packages' own metadata (``packages_distributions``), and the
dependency closure is walked through the installed packages' ``Requires-Dist``.
"""

from __future__ import annotations

import ast
import functools
import re
import shutil
import subprocess
import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
EXTRAS = PROJECT["optional-dependencies"]
FIRST_PARTY = {"degplug", "basicsr_ext", "mmagic_ext"}
FRAMEWORKS = {"basicsr", "mmagic", "mmengine", "mmcv"}
# distributions that only the frameworks' stacks need (mmcv's build, mmagic's imports, `mim`)
FRAMEWORK_STACKS = FRAMEWORKS | {"openmim", "diffusers", "transformers", "albumentations"}
# module-level statements: their bodies run at import time
MODULE_LEVEL = (ast.Module, ast.If, ast.Try, ast.With, ast.ExceptHandler)


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def names(requirements: list[str]) -> set[str]:
    return {normalize(Requirement(text).name) for text in requirements}


def third_party_imports(package: str) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module-level, inside functions/classes): top-level import name -> files importing it."""
    top: dict[str, set[str]] = {}
    nested: dict[str, set[str]] = {}

    def visit(node: ast.AST, module_level: bool) -> None:
        for child in ast.iter_child_nodes(node):
            child_level = module_level and isinstance(node, MODULE_LEVEL)
            if isinstance(child, ast.Import):
                modules = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                modules = [child.module]
            else:
                modules = []
            for module in modules:
                name = module.split(".")[0]
                if name not in sys.stdlib_module_names and name not in FIRST_PARTY and name != "__future__":
                    (top if child_level else nested).setdefault(name, set()).add(str(path.relative_to(ROOT)))
            visit(child, child_level)

    for path in sorted((ROOT / package).rglob("*.py")):
        visit(ast.parse(path.read_text(), filename=str(path)), True)
    return top, nested


@functools.cache
def _import_name_to_distributions() -> dict[str, list[str]]:
    return packages_distributions()


# import names whose distribution is named otherwise, for modules not installed here (an
# environment with fewer extras); installed modules are mapped by their own metadata
OTHER_NAMES = {"cv2": {"opencv-python-headless", "opencv-python"}, "PIL": {"pillow"}, "yaml": {"pyyaml"},
               "skimage": {"scikit-image"}, "sklearn": {"scikit-learn"}}


def providers(import_name: str) -> set[str]:
    found = _import_name_to_distributions().get(import_name)
    if not found:
        return OTHER_NAMES.get(import_name, {normalize(import_name)})
    return {normalize(name) for name in found}


def undeclared(imports: dict[str, set[str]], declared: set[str]) -> dict[str, set[str]]:
    return {name: files for name, files in imports.items() if not providers(name) & declared}


def test_pyproject_has_the_layered_extras():
    assert {"basicsr", "mmagic", "metrics", "export", "all", "dev"} <= set(EXTRAS)
    for extra, requirements in EXTRAS.items():
        for text in requirements:
            Requirement(text)  # raises on a malformed requirement
        assert requirements, f"extra {extra!r} is empty"


def test_every_module_level_import_of_the_core_is_a_core_dependency():
    top, _ = third_party_imports("degplug")
    assert {"torch", "numpy", "cv2", "PIL"} <= set(top), sorted(top)  # the walk does find imports
    missing = undeclared(top, names(PROJECT["dependencies"]))
    assert not missing, f"imported at module level under degplug/ but not a core dependency: {missing}"


def test_every_lazy_import_of_the_core_is_declared_in_the_core_or_an_extra():
    _, nested = third_party_imports("degplug")
    declared = names(PROJECT["dependencies"]) | set().union(*(names(reqs) for reqs in EXTRAS.values()))
    missing = undeclared(nested, declared)
    assert not missing, f"imported on first use under degplug/ but declared nowhere: {missing}"


@pytest.mark.parametrize("package,extra", [("basicsr_ext", "basicsr"), ("mmagic_ext", "mmagic")])
def test_each_adapter_needs_only_the_core_and_its_extra(package, extra):
    top, nested = third_party_imports(package)
    assert extra in {**top, **nested}  # the walk does find the framework's imports
    declared = names(PROJECT["dependencies"]) | names(EXTRAS[extra])
    missing = undeclared({**nested, **top}, declared)
    assert not missing, f"{package} imports modules that neither the core nor the {extra!r} extra provides: {missing}"


def test_frameworks_are_extras_only_and_basicsr_needs_no_mmcv():
    core = names(PROJECT["dependencies"])
    assert not core & FRAMEWORK_STACKS, f"framework distributions in the core dependencies: {core & FRAMEWORK_STACKS}"
    assert "basicsr" in names(EXTRAS["basicsr"])
    assert {"mmagic", "mmengine", "mmcv", "openmim"} <= names(EXTRAS["mmagic"])
    assert not names(EXTRAS["basicsr"]) & {"mmagic", "mmengine", "mmcv", "openmim", "diffusers"}
    assert not names(EXTRAS["mmagic"]) & {"basicsr"}
    assert not (names(EXTRAS["metrics"]) | names(EXTRAS["export"])) & FRAMEWORKS


def _closure(requirements: list[str]) -> set[str]:
    """Every distribution that installing ``requirements`` brings, read from the installed metadata."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(text) for text in requirements]
    while todo:
        requirement = todo.pop()
        key = (normalize(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = distribution(requirement.name)
        except PackageNotFoundError:
            pytest.fail(f"{requirement.name} is not installed here, so its requirements cannot be read")
        for text in dist.requires or []:
            sub = Requirement(text)
            contexts = [{"extra": extra} for extra in requirement.extras] or [{"extra": ""}]
            if sub.marker is None or any(sub.marker.evaluate(context) for context in contexts):
                todo.append(sub)
    return {name for name, _ in seen}


def test_installing_the_core_brings_no_framework():
    closure = _closure(PROJECT["dependencies"])
    assert {"torch", "numpy", "compressai"} <= closure  # the walk does follow requirements
    assert not closure & FRAMEWORK_STACKS, f"the core's dependencies pull in {sorted(closure & FRAMEWORK_STACKS)}"


def test_installing_the_basicsr_extra_brings_no_mmcv():
    basicsr_closure = _closure(PROJECT["dependencies"] + EXTRAS["basicsr"])
    assert "basicsr" in basicsr_closure
    assert not basicsr_closure & {"mmcv", "mmengine", "mmagic"}, "a BasicSR-only install would build mmcv"


def test_all_is_exactly_the_union_of_the_other_extras():
    def canonical(requirements: list[str]) -> set[str]:
        return {str(Requirement(text)) for text in requirements}

    union = set().union(*(canonical(EXTRAS[extra]) for extra in ("basicsr", "mmagic", "metrics", "export")))
    assert canonical(EXTRAS["all"]) == union, (
        f"only in 'all': {canonical(EXTRAS['all']) - union}; missing from 'all': {union - canonical(EXTRAS['all'])}"
    )


def test_install_script_installs_everything_by_default():
    script = (ROOT / "scripts" / "install.sh").read_text()
    assert 'EXTRAS="${DEGPLUG_EXTRAS-all,dev}"' in script
    assert '-e ".${EXTRAS:+[$EXTRAS]}"' in script
    test_script = (ROOT / "scripts" / "test.sh").read_text()
    assert test_script.index(".venv/bin/ruff check .\n") < test_script.index("-m pytest ")


def _ruff() -> str:
    path = Path(sys.executable).with_name("ruff")
    found = str(path) if path.is_file() else shutil.which("ruff")
    assert found, "ruff is not installed (it is in the dev extra: pip install -e '.[dev]')"
    return found


@pytest.mark.parametrize(
    "filename,source,banned",
    [
        ("degplug/probe.py", "import basicsr.archs\n", True),
        ("degplug/udm/probe.py", "def f():\n    from mmengine.model import BaseModel\n    return BaseModel\n", True),
        ("degplug/probe.py", "from mmcv.ops import nms\n", True),
        ("degplug/probe.py", "import mmagic\n", True),
        ("degplug/probe.py", "import mmagic_ext\n", True),
        ("degplug/probe.py", "import torch\n", False),
        ("basicsr_ext/probe.py", "import basicsr.archs\n", False),
        ("mmagic_ext/probe.py", "from mmcv.ops import nms\nimport mmagic\nimport mmengine\n", False),
    ],
)
def test_ruff_bans_framework_imports_inside_degplug_only(filename, source, banned):
    result = subprocess.run(
        [_ruff(), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), "--stdin-filename", filename, "-"],
        input=source, capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert result.returncode == (1 if banned else 0), result.stdout + result.stderr
    assert ("TID251" in result.stdout) is banned, result.stdout


def test_ruff_version_is_the_dev_pin():
    pin = next(Requirement(text) for text in EXTRAS["dev"] if normalize(Requirement(text).name) == "ruff")
    version = subprocess.run([_ruff(), "--version"], capture_output=True, text=True, timeout=60).stdout.split()[-1]
    assert pin.specifier.contains(version), f"ruff {version} does not satisfy the dev pin {pin}"
