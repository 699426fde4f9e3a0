"""``from degplug import UniversalDegradationModel, ...`` works, and ``import degplug`` stays light.

Each check runs in a fresh interpreter, so modules loaded by other tests do not hide an eager import.
"""

from __future__ import annotations

import json
import subprocess
import sys

# the public name -> the module that defines the class (where the code lives today)
EXPECTED = {
    "UniversalDegradationModel": "degplug.udm.model",
    "NDRRestoreNet": "degplug.ndr.restore_net",
    "BlindWrapper": "degplug.blind.wrapper",
    "DegradationPipeline": "degplug.degradations.pipeline",
}
FRAMEWORKS = ("basicsr", "mmagic", "mmengine", "mmcv")


def run_probe(code: str) -> dict:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_degplug_loads_no_submodule_torch_or_framework():
    report = run_probe(
        "import json, sys\n"
        "import degplug\n"
        "print(json.dumps({'degplug': sorted(m for m in sys.modules if m.startswith('degplug.')),\n"
        "                  'torch': 'torch' in sys.modules,\n"
        f"                  'frameworks': sorted({{m.split('.')[0] for m in sys.modules}} & set({FRAMEWORKS!r})),\n"
        "                  'version': degplug.__version__}))\n"
    )
    assert report["degplug"] == [], f"import degplug loaded submodules: {report['degplug']}"
    assert report["torch"] is False, "import degplug imported torch"
    assert report["frameworks"] == []
    assert report["version"] == "0.1.0"


def test_each_top_level_name_is_the_class_from_its_module():
    report = run_probe(
        "import importlib, json, sys\n"
        f"expected = {EXPECTED!r}\n"
        "from degplug import UniversalDegradationModel, NDRRestoreNet, BlindWrapper, DegradationPipeline\n"
        "import degplug\n"
        "rows = {}\n"
        "for name, module in expected.items():\n"
        "    value = getattr(degplug, name)\n"
        "    rows[name] = [value.__module__, value.__qualname__, value is getattr(importlib.import_module(module), name),\n"
        "                  isinstance(value, type)]\n"
        "print(json.dumps({'rows': rows, 'all': sorted(degplug.__all__), 'dir': sorted(set(expected) & set(dir(degplug))),\n"
        f"                  'frameworks': sorted({{m.split('.')[0] for m in sys.modules}} & set({FRAMEWORKS!r}))}}))\n"
    )
    for name, module in EXPECTED.items():
        assert report["rows"][name] == [module, name, True, True], (name, report["rows"][name])
    assert report["all"] == sorted([*EXPECTED, "__version__"])
    assert report["dir"] == sorted(EXPECTED)
    assert report["frameworks"] == [], f"the top-level names pulled in {report['frameworks']}"


def test_one_name_loads_only_what_it_needs_and_unknown_names_raise():
    report = run_probe(
        "import json, sys\n"
        "import degplug\n"
        "pipeline = degplug.DegradationPipeline\n"
        "try:\n"
        "    degplug.NoSuchThing\n"
        "    error = None\n"
        "except AttributeError as exc:\n"
        "    error = str(exc)\n"
        "print(json.dumps({'udm': 'degplug.udm.model' in sys.modules, 'ndr': 'degplug.ndr.restore_net' in sys.modules,\n"
        "                  'blind': 'degplug.blind.wrapper' in sys.modules, 'error': error,\n"
        "                  'cached': 'DegradationPipeline' in vars(degplug)}))\n"
    )
    assert report == {
        "udm": False,
        "ndr": False,
        "blind": False,
        "error": "module 'degplug' has no attribute 'NoSuchThing'",
        "cached": True,
    }
