"""The core package never imports a training framework."""

import subprocess
import sys

FRAMEWORKS = ("basicsr", "mmagic", "mmengine", "mmcv")

PROBE = """
import importlib, pkgutil, sys
import degplug
for module in pkgutil.walk_packages(degplug.__path__, "degplug."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)
loaded = sorted({name.split('.')[0] for name in sys.modules} & set(%r))
print(','.join(loaded))
""" % (FRAMEWORKS,)


def test_importing_every_degplug_module_loads_no_framework():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"degplug imported frameworks: {result.stdout.strip()}"
