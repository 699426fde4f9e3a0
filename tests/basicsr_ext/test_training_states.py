"""Training states are written atomically, and a resume falls back past a broken newest state, saying so."""

from __future__ import annotations

import collections
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from basicsr_ext.training_states import ResumeError, find_resume_state, load_named_state, save_training_state_atomically
from degplug.utils.atomic import atomic_torch_save

REPO = Path(__file__).resolve().parents[2]


def _trained_optimizer(steps: int):
    torch.manual_seed(steps)
    net = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[2, 5], gamma=0.5)  # holds a Counter
    for _ in range(steps):
        optimizer.zero_grad()
        net(torch.rand(4, 3)).square().mean().backward()
        optimizer.step()
        scheduler.step()
    return net, optimizer, scheduler


def _basicsr_state(iteration: int) -> dict:
    _, optimizer, scheduler = _trained_optimizer(iteration)
    assert isinstance(scheduler.state_dict()["milestones"], collections.Counter)
    return {"epoch": 0, "iter": iteration, "optimizers": [optimizer.state_dict()], "schedulers": [scheduler.state_dict()]}


def _experiment(tmp_path: Path, iterations=(2, 4)) -> tuple[dict, Path]:
    states = tmp_path / "training_states"
    models = tmp_path / "models"
    states.mkdir()
    models.mkdir()
    for iteration in iterations:
        torch.save(_basicsr_state(iteration), states / f"{iteration}.state")
        torch.save({"queue": torch.rand(8, 4)}, states / f"{iteration}.contrast.pth")
        torch.save({"params": torch.nn.Linear(3, 2).state_dict()}, models / f"net_g_{iteration}.pth")
    opt = {"network_g": {"type": "X"}, "network_d": {"type": "Y"}, "path": {"models": str(models)}}
    return opt, states


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def test_truncated_newest_state_is_skipped_and_the_previous_one_resumed(tmp_path):
    opt, states = _experiment(tmp_path)
    _truncate(states / "4.state")
    messages: list[str] = []
    path, state = find_resume_state(opt, str(states), "cpu", report=messages.append)
    assert path == str(states / "2.state")
    expected = _basicsr_state(2)
    assert state["iter"] == 2
    assert state["schedulers"][0]["milestones"] == expected["schedulers"][0]["milestones"]
    exp_avg = expected["optimizers"][0]["state"][0]["exp_avg"]
    assert torch.equal(state["optimizers"][0]["state"][0]["exp_avg"], exp_avg)
    assert len(messages) == 2
    assert "skipped the training state of iteration 4" in messages[0] and str(states / "4.state") in messages[0]
    assert "Error" in messages[0]  # the reason torch gave (PytorchStreamReader / EOF)
    assert messages[1] == f"resume: resuming from {states / '2.state'} instead"


def test_newest_state_with_a_truncated_companion_file_is_skipped(tmp_path):
    opt, states = _experiment(tmp_path)
    _truncate(states / "4.contrast.pth", keep=0.3)
    messages: list[str] = []
    path, _ = find_resume_state(opt, str(states), "cpu", report=messages.append)
    assert path == str(states / "2.state")
    assert str(states / "4.contrast.pth") in messages[0]


def test_newest_state_with_a_broken_network_file_is_skipped_but_an_unsaved_network_is_not_required(tmp_path):
    opt, states = _experiment(tmp_path)
    # net_d was never saved (a UDM without GAN term): not held against any state.
    assert find_resume_state(opt, str(states), "cpu", report=lambda m: None)[0] == str(states / "4.state")
    (Path(opt["path"]["models"]) / "net_g_4.pth").write_bytes(b"")
    messages: list[str] = []
    path, _ = find_resume_state(opt, str(states), "cpu", report=messages.append)
    assert path == str(states / "2.state")
    assert "net_g_4.pth" in messages[0] and "empty file" in messages[0]


def test_intact_newest_state_is_taken_without_messages(tmp_path):
    opt, states = _experiment(tmp_path, iterations=(2, 4, 10))
    messages: list[str] = []
    path, state = find_resume_state(opt, str(states), "cpu", report=messages.append)
    assert path == str(states / "10.state") and state["iter"] == 10 and messages == []


def test_no_loadable_state_is_a_clear_error_listing_each_file(tmp_path):
    opt, states = _experiment(tmp_path)
    _truncate(states / "4.state")
    (states / "2.state").write_bytes(b"")
    with pytest.raises(ResumeError) as error:
        find_resume_state(opt, str(states), "cpu", report=lambda m: None)
    message = str(error.value)
    assert str(states / "4.state") in message and str(states / "2.state") in message and "empty file" in message
    assert find_resume_state(opt, str(tmp_path / "nothing_here"), "cpu") is None


def test_named_resume_state_that_does_not_load_is_an_error_naming_it(tmp_path):
    opt, states = _experiment(tmp_path)
    _truncate(states / "4.state")
    with pytest.raises(ResumeError, match="4.state"):
        load_named_state(str(states / "4.state"), "cpu")
    assert load_named_state(str(states / "2.state"), "cpu")["iter"] == 2


def test_a_planted_pickle_as_newest_state_is_skipped_without_running(tmp_path):
    opt, states = _experiment(tmp_path)
    marker = tmp_path / "ran.txt"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    torch.save({**_basicsr_state(6), "extra": Payload()}, states / "6.state")
    messages: list[str] = []
    path, _ = find_resume_state(opt, str(states), "cpu", report=messages.append)
    assert path == str(states / "4.state") and not marker.exists()
    assert "6.state" in messages[0] and "UnpicklingError" in messages[0]


KILLED_WRITER = """
import os, signal, sys, torch
from degplug.utils.atomic import atomic_write
payload = torch.rand(200_000)
def write(handle):
    import io
    buffer = io.BytesIO()
    torch.save({"iter": 4, "big": payload}, buffer)
    data = buffer.getvalue()
    handle.write(data[: len(data) // 2])
    handle.flush()
    os.kill(os.getpid(), signal.SIGKILL)  # killed in the middle of writing
atomic_write(sys.argv[1], write)
"""


def _killed_while_writing(target: Path) -> None:
    result = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(target)], env=dict(os.environ, PYTHONPATH=str(REPO)),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == -9, result.stderr


def test_a_process_killed_while_writing_leaves_the_previous_files_intact(tmp_path):
    previous = tmp_path / "2.state"
    atomic_torch_save({"iter": 2, "big": torch.zeros(3)}, previous)
    _killed_while_writing(tmp_path / "4.state")  # a new state
    assert not (tmp_path / "4.state").exists()
    _killed_while_writing(previous)  # overwriting an existing file (as net_g_latest.pth is)
    assert torch.load(previous, weights_only=True)["iter"] == 2  # the old content, complete
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p != previous)
    assert len(leftovers) == 2 and all(name.startswith((".2.state.", ".4.state.")) and name.endswith(".tmp") for name in leftovers)
    # Leftover temporary files are never mistaken for states: the resume takes 2.state without a word.
    messages: list[str] = []
    assert find_resume_state({"path": {"models": str(tmp_path)}}, str(tmp_path), "cpu", report=messages.append)[0] == str(previous)
    assert messages == []


def test_save_training_state_atomically_writes_basicsr_layout_on_rank_zero_only(tmp_path):
    net, optimizer, scheduler = _trained_optimizer(3)
    model = SimpleNamespace(opt={"rank": 0, "path": {"training_states": str(tmp_path)}}, optimizers=[optimizer], schedulers=[scheduler])
    save_training_state_atomically(model, 1, 30)
    save_training_state_atomically(model, 1, -1)  # "latest" has no training state in BasicSR
    save_training_state_atomically(SimpleNamespace(opt={"rank": 1, "path": {"training_states": str(tmp_path)}},
                                                   optimizers=[optimizer], schedulers=[scheduler]), 1, 40)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["30.state"]
    state = load_named_state(str(tmp_path / "30.state"), "cpu")
    assert set(state) == {"epoch", "iter", "optimizers", "schedulers"} and (state["epoch"], state["iter"]) == (1, 30)
    fresh_net, fresh_optimizer, fresh_scheduler = _trained_optimizer(0)
    fresh_optimizer.load_state_dict(state["optimizers"][0])
    fresh_scheduler.load_state_dict(state["schedulers"][0])
    assert fresh_scheduler.last_epoch == 3
    assert torch.equal(fresh_optimizer.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
