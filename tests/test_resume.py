"""Resuming training (issue 13): damaged checkpoints are one-line errors naming the file, a finished run can be
extended with a larger budget, and a run SIGKILLed while it writes a checkpoint resumes bit-identical."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file
from test_train_loop import Net, Points, collate, make_loss, read_metrics

from tinybert.errors import UserError
from tinybert.train import Trainer, TrainingArguments, set_seed
from tinybert.train.checkpointing import CHECKPOINT_DIR, MODEL_FILE, STATE_FILE, TRAINER_STATE_FILE, rng_file
from tinybert.train.optim import lr_factor

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)


def run(out, **kw):
    set_seed(0)
    base = dict(output_dir=str(out), train_batch_size=8, max_steps=6, save_steps=3, logging_steps=1,
                learning_rate=1e-2, warmup_proportion=0.2, seed=7, progress_bar=False)
    return Trainer(TrainingArguments(**{**base, **kw}), Net(), Points(), collate, make_loss()).train()


# ----------------------------------------------------------------------------------------------- damaged files
@pytest.mark.parametrize("name, damage", [
    (MODEL_FILE, "truncate"), (STATE_FILE, "garbage"), (rng_file(0), "garbage"), (TRAINER_STATE_FILE, "garbage"),
    (STATE_FILE, "missing"),
])
def test_resume_onto_a_damaged_checkpoint_is_one_line_naming_the_file(tmp_path, name, damage):
    run(tmp_path, max_steps=6, save_steps=3)
    state = tmp_path / CHECKPOINT_DIR / TRAINER_STATE_FILE
    record = json.loads(state.read_text())
    record["finished"] = False  # an interrupted run, so it resumes
    state.write_text(json.dumps(record))
    path = tmp_path / CHECKPOINT_DIR / name
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x80\x04not a checkpoint at all" * 7)
    else:
        path.unlink()
    with pytest.raises(UserError) as caught:
        run(tmp_path, max_steps=9, resume=True)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(path)), message
    assert "the checkpoint is damaged" in message and "overwrite_output_dir" in message
    assert caught.value.field == "overwrite_output_dir"  # the CLI shows it as --overwrite_output_dir


def test_damaged_checkpoint_through_the_cli_names_the_flag(tmp_path, capsys):
    """The same through a command: one ``error:`` line, no traceback, the flag to pass."""
    from test_finetune import flags, save_base_model
    from test_task_distill import error_line, write_sst2

    from tinybert.cli import run_command

    base = save_base_model(tmp_path / "base", tmp_path)
    data = write_sst2(tmp_path / "data", n_train=16, n_dev=8)
    out = tmp_path / "ft"
    argv = [str(a) for a in ["--model", base, "--task_name", "sst-2", "--max_steps", 2, "--save_steps", 1,
                             *flags(data, out)]]
    assert run_command("finetune", argv) == 0
    (out / CHECKPOINT_DIR / STATE_FILE).write_bytes(b"garbage")
    assert run_command("finetune", [*argv[:argv.index("--max_steps") + 1], "4",
                                    *argv[argv.index("--max_steps") + 2:], "--resume"]) == 2
    line = error_line(capsys)
    assert str(out / CHECKPOINT_DIR / STATE_FILE) in line and "damaged" in line and "--overwrite_output_dir" in line


# ----------------------------------------------------------------------------------------------- extending
def test_a_finished_run_is_extended_by_resume_with_a_larger_budget(tmp_path):
    run(tmp_path, max_steps=6)
    with pytest.raises(UserError, match="already holds a finished run.*larger --max_steps"):
        run(tmp_path, max_steps=10)  # without resume: refused, saying how to extend it
    for budget in (6, 4):
        with pytest.raises(UserError, match="already complete") as caught:
            run(tmp_path, max_steps=budget, resume=True)
        assert caught.value.field == "max_steps"
    before = load_file(str(tmp_path / CHECKPOINT_DIR / MODEL_FILE))
    result = run(tmp_path, max_steps=10, resume=True)
    assert result.global_step == 10
    records = read_metrics(tmp_path)
    assert [r["step"] for r in records] == list(range(1, 11))
    # steps 7..10 follow the schedule recomputed for 10 steps (the finished run's rate had decayed to 0)
    warmup = 2  # ceil(0.2 * 10)
    for record in records[6:]:
        assert record["lr"] == pytest.approx(1e-2 * lr_factor(record["step"] - 1, "linear", 10, warmup))
    assert records[6]["lr"] > 0
    after = load_file(str(tmp_path / CHECKPOINT_DIR / MODEL_FILE))
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert json.loads((tmp_path / CHECKPOINT_DIR / TRAINER_STATE_FILE).read_text())["finished"]
    with pytest.raises(UserError, match="already complete"):
        run(tmp_path, max_steps=10, resume=True)


def test_extending_by_epochs(tmp_path):
    run(tmp_path, max_steps=0, num_train_epochs=1)  # 37 samples, batch 8: 5 steps
    result = run(tmp_path, max_steps=0, num_train_epochs=2, resume=True)
    assert result.global_step == 10
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [0] * 5 + [1] * 5


# ----------------------------------------------------------------------------------------------- SIGKILL
CHILD = r'''
import os, shutil, signal, sys
sys.path[:0] = [TESTS, ROOT]
import torch
from test_train_loop import Net, Points, collate, make_loss
import tinybert.train.checkpointing as ckpt
from tinybert.train import Trainer, TrainingArguments, set_seed

point, out = sys.argv[1], sys.argv[2]
saves = [0]
save_checkpoint = ckpt.save_checkpoint

def counting(*args, **kwargs):
    saves[0] += 1
    return save_checkpoint(*args, **kwargs)

ckpt.save_checkpoint = counting
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
if point == "state":  # while training_state.pt is written (model.safetensors already in the staging folder)
    torch_save = torch.save
    def torn_save(obj, f, *args, **kwargs):
        if saves[0] == 2 and str(f).endswith("training_state.pt"):
            with open(f, "wb") as fh:
                fh.write(b"half a file")
            die()
        return torch_save(obj, f, *args, **kwargs)
    torch.save = torn_save
elif point == "swap":  # the previous checkpoint moved aside, the new one not yet renamed into place
    replace = os.replace
    def replace_then_die(src, dst):
        replace(src, dst)
        if saves[0] == 2 and str(dst).endswith(".old"):
            die()
    os.replace = replace_then_die
elif point == "cleanup":  # the new checkpoint in place, the previous one not yet removed
    rmtree = shutil.rmtree
    def rmtree_or_die(path, *args, **kwargs):
        if saves[0] == 2 and str(path).endswith(".old"):
            die()
        return rmtree(path, *args, **kwargs)
    shutil.rmtree = rmtree_or_die
set_seed(0)
args = TrainingArguments(output_dir=out, train_batch_size=8, gradient_accumulation_steps=2, max_steps=12,
                         save_steps=4, logging_steps=1, learning_rate=1e-2, warmup_proportion=0.2, seed=7,
                         progress_bar=False)
Trainer(args, Net(), Points(), collate, make_loss()).train()
'''


def _child(tmp_path, point: str, out) -> int:
    script = tmp_path / "child.py"
    script.write_text(f"TESTS, ROOT = {TESTS!r}, {ROOT!r}\n" + CHILD)
    env = {**os.environ, "TQDM_DISABLE": "1", "PYTHONPATH": ROOT}
    return subprocess.run([sys.executable, str(script), point, str(out)], env=env, capture_output=True,
                          timeout=600).returncode


def _tensors(obj, prefix=""):
    if isinstance(obj, torch.Tensor):
        return {prefix: obj}
    if isinstance(obj, dict):
        return {k: v for key, value in obj.items() for k, v in _tensors(value, f"{prefix}/{key}").items()}
    if isinstance(obj, list | tuple):
        return {k: v for i, value in enumerate(obj) for k, v in _tensors(value, f"{prefix}/{i}").items()}
    return {prefix: torch.tensor(obj) if isinstance(obj, int | float) else obj}


def _final(out):
    folder = os.path.join(out, CHECKPOINT_DIR)
    state = torch.load(os.path.join(folder, STATE_FILE), weights_only=True)
    return (load_file(os.path.join(folder, MODEL_FILE)), _tensors(state["optimizer"]),
            open(os.path.join(out, "metrics.jsonl"), "rb").read())


def _assert_identical(a, b):
    for x, y in zip(a[:2], b[:2], strict=True):
        assert x.keys() == y.keys()
        for key in x:
            same = torch.equal(x[key], y[key]) if isinstance(x[key], torch.Tensor) else x[key] == y[key]
            assert same, key
    assert a[2] == b[2]  # metrics.jsonl, byte for byte


def test_sigkill_while_writing_a_checkpoint_then_resume_is_bit_identical(tmp_path):
    reference = tmp_path / "uninterrupted"
    assert _child(tmp_path, "none", reference) == 0
    expected = _final(reference)
    for point, resumed_from in (("state", 4), ("swap", 4), ("cleanup", 8)):
        out = tmp_path / point
        assert _child(tmp_path, point, out) == -signal.SIGKILL, point  # really killed mid-write
        leftovers = [n for n in os.listdir(out) if n.startswith(f".{CHECKPOINT_DIR}.")]
        assert leftovers, point  # the kill left a staging or moved-aside folder behind
        from tinybert.train.checkpointing import read_trainer_state

        assert read_trainer_state(out)["global_step"] == resumed_from, point  # the last good checkpoint
        assert not [n for n in os.listdir(out) if n.startswith(f".{CHECKPOINT_DIR}.")]
        assert _child(tmp_path, "none", out) == 0
        _assert_identical(_final(out), expected)


def test_resume_with_a_checkpoint_of_another_model_is_one_line(tmp_path):
    run(tmp_path, max_steps=6, save_steps=3)
    state = tmp_path / CHECKPOINT_DIR / TRAINER_STATE_FILE
    state.write_text(json.dumps({**json.loads(state.read_text()), "finished": False}))
    set_seed(0)
    wider = Net(hidden=24)  # same keys, other shapes
    args = TrainingArguments(output_dir=str(tmp_path), train_batch_size=8, max_steps=9, save_steps=3,
                             progress_bar=False, seed=7)
    with pytest.raises(UserError, match="checkpoint does not fit the model .*size mismatch") as caught:
        Trainer(args, wider, Points(), collate, make_loss()).train()
    assert "\n" not in str(caught.value) and caught.value.field == "overwrite_output_dir"
