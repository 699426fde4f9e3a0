"""benchmarks/gpu_check.py runs on a machine without CUDA: quick mode, every part reported, the
CUDA-only parts skipped with their reason, the others measured; its time guard stops a part."""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"
PARTS = ["gpu_tests", "mixed_precision", "ndr_vs_restormer", "onnx_export", "nccl_two_process", "device_degradations"]
CUDA_ONLY = {"gpu_tests": "skipped: no CUDA device", "nccl_two_process": "skipped: needs 2 CUDA devices, found 0"}


def _run(tmp_path: Path, env: dict, *args: str, timeout: float = 170) -> tuple[subprocess.CompletedProcess, dict]:
    out = tmp_path / "report" / "gpu_check.json"
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *args], env=env, capture_output=True,
                            text=True, timeout=timeout)
    assert out.is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    return result, json.loads(out.read_text())


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def _numbers(value):
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _numbers(item)
    elif isinstance(value, list):
        for item in value:
            yield from _numbers(item)


def test_gpu_check_on_the_cpu_reports_every_part_skipping_only_the_cuda_ones(tmp_path, subprocess_env):
    result, report = _run(tmp_path, subprocess_env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert report["mode"] == "quick" and report["mode_reason"] == "no CUDA device" and report["device"] == "cpu"
    assert list(report["parts"]) == PARTS
    assert "GPU-only parts (gpu_tests, nccl_two_process) are skipped" in result.stdout
    for name, part in report["parts"].items():
        assert part["status"] == "ok" or part["status"].startswith(("skipped: ", "failed: ")), name
        assert f"[{name}] {part['status']}" in result.stdout
        assert part["seconds"] <= part["budget_s"] + 1, name
    for name, reason in CUDA_ONLY.items():
        assert report["parts"][name]["status"].startswith(reason), report["parts"][name]["status"]
    assert "tests/core/utils/test_cuda_steps.py" in report["parts"]["gpu_tests"]["results"]["files"]
    assert all(math.isfinite(number) for number in _numbers(report))

    mixed = report["parts"]["mixed_precision"]
    assert mixed["status"] == "ok"
    for model in ("udm", "ndr"):
        variants = mixed["results"][model]["variants"]
        assert set(variants) == {"fp32", "bf16", "fp16", "fp32_channels_last"}
        for name, variant in variants.items():
            if name == "fp16" and variant["status"].startswith("skipped: "):
                continue  # a CPU build without float16 autocast: the reason is recorded
            assert variant["status"] == "ok", (model, name, variant["status"])
            assert _positive(variant["step_s"]) and variant["peak_memory_mib"] is None  # no CUDA allocator here
            assert math.isclose(variant["time_ratio_vs_fp32"], variant["step_s"] / variants["fp32"]["step_s"], rel_tol=1e-2)
            # same initialisation and batch: the first loss of an autocast step is float32's within 5e-2
            first, reference = variant["first_loss"], variants["fp32"]["first_loss"]
            assert abs(first - reference) <= 1e-3 + 5e-2 * abs(reference), (model, name, first, reference)
        assert variants["fp32"]["time_ratio_vs_fp32"] == 1.0

    if importlib.util.find_spec("mmagic") is not None:
        ndr = report["parts"]["ndr_vs_restormer"]
        assert ndr["status"] == "ok"
        models = ndr["results"]["models"]
        assert _positive(models["NDRRestoreNet"]["seconds"]) and _positive(models["Restormer (matched)"]["seconds"])
        expected = models["NDRRestoreNet"]["seconds"] / models["Restormer (matched)"]["seconds"]
        assert math.isclose(ndr["results"]["time_ratio_ndr_over_restormer_matched"], expected, rel_tol=1e-3)

    onnx = report["parts"]["onnx_export"]
    if importlib.util.find_spec("onnxruntime") is None:
        assert onnx["status"].startswith("skipped: onnx/onnxruntime not installed")
    else:
        assert onnx["status"] == "ok"
        graphs = onnx["results"]["graphs"]
        assert {g["graph"] for g in graphs} == {"ndr_restore", "udm_hden", "udm_iden", "udm_synthesis"}
        assert len(graphs) == 8  # each at two sizes
        assert all(g["max_abs_diff"] <= 1e-4 and g["passed"] and _positive(g["ort_over_torch"]) for g in graphs)

    device = report["parts"]["device_degradations"]
    if importlib.util.find_spec("degplug.degradations.device") is None:
        assert device["status"] == "skipped: module not present (degplug/degradations/device.py)"
    else:
        assert device["status"] == "ok", device["status"]
        assert _positive(device["results"]["speedup_device_over_cpu"])
        assert device["results"]["max_abs_diff_vs_cpu"] < 0.1  # the same records: the same degradation, not another

    assert report["summary"] == {state: sum(p["status"].split(":")[0] == state for p in report["parts"].values())
                                 for state in ("ok", "skipped", "failed")}


def test_gpu_check_time_guard_stops_a_part_at_its_budget_and_still_writes_the_report(tmp_path, subprocess_env):
    # 1 s is far less than importing MMagic takes: the alarm stops the part; then the global budget is spent
    result, report = _run(tmp_path, subprocess_env, "--only", "ndr_vs_restormer", "onnx_export",
                          "--part-budget", "ndr_vs_restormer=1", "--budget", "4", timeout=60)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert list(report["parts"]) == ["ndr_vs_restormer", "onnx_export"]
    stopped = report["parts"]["ndr_vs_restormer"]
    assert stopped["status"] == "failed: stopped at its time budget of 1 s (results so far kept)", stopped["status"]
    assert stopped["budget_s"] == 1 and stopped["seconds"] < 3
    assert report["parts"]["onnx_export"]["status"] == "skipped: the global time budget of 4 s is used up"
    assert report["summary"] == {"ok": 0, "skipped": 1, "failed": 1} and report["wall_s"] < 8


def test_gpu_check_refuses_a_bad_part_budget_by_name(tmp_path, subprocess_env):
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "r.json"), "--part-budget", "mixed=5"],
                            env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "--part-budget 'mixed=5': expected PART=SECONDS" in result.stderr
    assert not (tmp_path / "r.json").exists()
