"""The resumable training state in ``output_dir/checkpoint/``, written atomically, read with weights_only=True.

Layout::

    checkpoint/
      model.safetensors      state dict of the unwrapped trainable model (tied tensors saved once per key, as copies)
      training_state.pt      {"optimizer", "scheduler", "scaler"} state dicts: tensors, numbers, strings only
      rng_state_<rank>.pt    python, numpy, torch CPU and CUDA generator states of one process
      trainer_state.json     global_step, epoch, step_in_epoch, best metric/step, log window, finished marker, ...

A ``finished: true`` trainer_state marks a completed run: the output dir is then refused without
``overwrite_output_dir``, unless ``resume`` asks to extend it with a larger budget (``max_steps`` or
``num_train_epochs`` giving more steps than it ran): the loop then continues from the final state with the schedule
recomputed for the new total, which is not identical to a run planned at that length from the start (its learning
rate decayed towards the old end). The directory is replaced as a whole (``atomic_dir``), so a run killed while saving
keeps the previous checkpoint; one killed between moving the previous checkpoint aside and renaming the new one in
place finds it moved aside, and :func:`recover_checkpoint` puts it back. A file that cannot be read (truncated,
garbage) is reported as a damaged checkpoint naming the file. Rank 0 writes everything (the other ranks' RNG states
are gathered to it); every rank reads its own files on resume, so a multi-node run needs ``output_dir`` on a
filesystem all nodes share.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import shutil
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from tinybert.config.training import TrainingArguments
from tinybert.errors import UserError
from tinybert.utils.io import atomic_dir
from tinybert.utils.paths import check_output_location

CHECKPOINT_DIR = "checkpoint"
MODEL_FILE = "model.safetensors"
STATE_FILE = "training_state.pt"
TRAINER_STATE_FILE = "trainer_state.json"


def rng_file(rank: int) -> str:
    return f"rng_state_{rank}.pt"


def checkpoint_dir(output_dir: str | os.PathLike) -> str:
    return os.path.join(os.fspath(output_dir), CHECKPOINT_DIR)


def damaged(path: str | os.PathLike, error: BaseException | str) -> UserError:
    """The one-line error for a checkpoint file that cannot be read: which file, that the checkpoint is damaged, and
    what to do (the CLI shows ``--overwrite_output_dir``)."""
    reason = error if isinstance(error, str) else (str(error).strip().splitlines() or [type(error).__name__])[0]
    return UserError(f"{os.fspath(path)}: the checkpoint is damaged ({reason[:160]}); nothing was loaded. Start "
                     "afresh in this folder with overwrite_output_dir (discards the checkpoint), give another "
                     "output folder, or put back a good copy of the checkpoint folder", field="overwrite_output_dir")


def recover_checkpoint(output_dir: str | os.PathLike) -> None:
    """Undo what a kill inside ``atomic_dir`` can leave: with no ``checkpoint/`` but a previous one moved aside
    (``.checkpoint.*.old``), put that one back; then drop leftover ``.old`` / ``.tmp`` directories (an unfinished
    write, or a previous checkpoint not yet removed)."""
    out = os.fspath(output_dir)
    if not os.path.isdir(out):
        return
    path = checkpoint_dir(out)
    leftovers = sorted(name for name in os.listdir(out)
                       if name.startswith(f".{CHECKPOINT_DIR}.") and name.endswith((".old", ".tmp")))
    if not os.path.isdir(path):
        for name in leftovers:
            if name.endswith(".old") and os.path.isfile(os.path.join(out, name, TRAINER_STATE_FILE)):
                with contextlib.suppress(OSError):  # another process may have put it back first
                    os.replace(os.path.join(out, name), path)
                break
    for name in leftovers:
        shutil.rmtree(os.path.join(out, name), ignore_errors=True)


def read_trainer_state(output_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The trainer state of the checkpoint in ``output_dir``, or None when there is none."""
    recover_checkpoint(output_dir)
    path = os.path.join(checkpoint_dir(output_dir), TRAINER_STATE_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise damaged(path, e) from None
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        raise damaged(path, "expected a JSON object with global_step")
    return state


def check_output_dir(output_dir: str | os.PathLike, overwrite_output_dir: bool = False, resume: bool = False) -> bool:
    """Decide between a fresh start and a resume; True when the run will resume from ``output_dir/checkpoint``.

    A finished run is refused unless ``resume`` (then the loop extends it when the new budget is larger, see
    :func:`check_extension`). Cheap: recipes call it before loading any model, so a refused output dir costs nothing.
    """
    if overwrite_output_dir:
        return False
    state = read_trainer_state(output_dir)
    if state is not None and state.get("finished") and not resume:
        raise UserError.at(output_dir, "already holds a finished run; pass --overwrite_output_dir to train again, "
                                       f"or --resume with a larger --max_steps / --num_train_epochs than its "
                                       f"{state['global_step']} steps to extend it")
    if state is None and resume:
        raise UserError.at(checkpoint_dir(output_dir), "no checkpoint to resume from (--resume)")
    return state is not None


def start_run(output_dir: str, inputs: Mapping[str, str | os.PathLike | None],
              training: TrainingArguments) -> TrainingArguments:
    """The output policy of a training recipe, applied before any loading: the output may not be, contain or lie in
    an input (:func:`tinybert.utils.paths.check_output_location`), and a finished run is not overwritten without
    ``overwrite_output_dir`` (:func:`check_output_dir`). Returns the loop's arguments with ``output_dir`` set."""
    check_output_location(output_dir, inputs)
    training = dataclasses.replace(training, output_dir=output_dir)
    check_output_dir(output_dir, training.overwrite_output_dir, training.resume)
    return training


def check_extension(output_dir: str | os.PathLike, state: dict[str, Any], total_steps: int) -> bool:
    """For a resumed run: True when it extends a finished one (``total_steps`` beyond its final step); refuse a
    finished run whose budget is not larger."""
    if not state.get("finished"):
        return False
    if total_steps <= state["global_step"]:
        raise UserError(f"{os.fspath(output_dir)}: the run is already complete ({state['global_step']} steps; the "
                        f"budget asked for gives {total_steps}); pass a larger max_steps / num_train_epochs to "
                        "extend it, or overwrite_output_dir to train again", field="max_steps")
    return True


def capture_rng_state() -> dict[str, Any]:
    """This process's generator states, as plain tensors/numbers (loadable with weights_only=True)."""
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"kind": kind, "key": torch.from_numpy(key.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(gauss)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized() else None,
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    numpy_state = state["numpy"]
    np.random.set_state((numpy_state["kind"], numpy_state["key"].numpy().astype(np.uint32), numpy_state["pos"],
                         numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"].cpu())


def model_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """CPU copies of ``model.state_dict()``: tied tensors become separate copies, which safetensors accepts, and
    loading them back writes the same values into the shared parameter twice."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in model.state_dict().items()}


def save_checkpoint(
    output_dir: str | os.PathLike,
    model: nn.Module,
    training_state: dict[str, Any],
    rng_states: list[dict[str, Any]],
    trainer_state: dict[str, Any],
) -> str:
    """Write ``output_dir/checkpoint`` atomically (replacing the previous one); returns its path.

    ``model`` is the unwrapped model; ``rng_states[r]`` is rank r's :func:`capture_rng_state`.
    """
    path = checkpoint_dir(output_dir)
    with atomic_dir(path) as tmp:
        save_file(model_state_dict(model), os.path.join(tmp, MODEL_FILE), metadata={"format": "pt"})
        torch.save(training_state, os.path.join(tmp, STATE_FILE))
        for rank, rng in enumerate(rng_states):
            torch.save(rng, os.path.join(tmp, rng_file(rank)))
        with open(os.path.join(tmp, TRAINER_STATE_FILE), "w", encoding="utf-8") as f:
            json.dump(trainer_state, f, indent=2)
            f.write("\n")
    return path


def load_checkpoint(
    output_dir: str | os.PathLike, model: nn.Module, rank: int, device: torch.device
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """Load the weights into ``model`` (unwrapped) and return (trainer_state, training_state, rng_state of ``rank``
    or None when the checkpoint was written by fewer processes). Only ``torch.load(weights_only=True)``."""
    path = checkpoint_dir(output_dir)
    state = read_trainer_state(output_dir)
    if state is None:
        raise UserError.at(path, "no checkpoint found")
    model_path = os.path.join(path, MODEL_FILE)
    weights = _read(model_path, lambda: load_file(model_path, device=str(device)))
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as e:  # a tensor of another shape: the checkpoint of another model
        detail = (str(e).strip().splitlines() or ["size mismatch"])[-1].strip()[:160]
        raise UserError(f"{path}: checkpoint does not fit the model ({detail}); pass overwrite_output_dir to start "
                        "fresh", field="overwrite_output_dir") from None
    if missing or unexpected:
        raise UserError(f"{path}: checkpoint does not fit the model (missing keys {missing[:3]}, unexpected "
                        f"{unexpected[:3]}); pass overwrite_output_dir to start fresh", field="overwrite_output_dir")
    state_path = os.path.join(path, STATE_FILE)
    training_state = _read(state_path, lambda: torch.load(state_path, map_location=device, weights_only=True))
    if not isinstance(training_state, dict) or not isinstance(training_state.get("optimizer"), dict):
        raise damaged(state_path, "expected the optimizer, scheduler and scaler states")
    rng_path = os.path.join(path, rng_file(rank))
    rng = None
    if os.path.isfile(rng_path):
        rng = _read(rng_path, lambda: torch.load(rng_path, map_location="cpu", weights_only=True))
        if not isinstance(rng, dict) or not {"python", "numpy", "torch"} <= set(rng):
            raise damaged(rng_path, "expected the python, numpy and torch generator states")
    return state, training_state, rng


def _read(path: str, read: Callable[[], Any]) -> Any:
    """``read()``, with any failure to read ``path`` (missing, truncated, garbage) turned into :func:`damaged`."""
    if not os.path.isfile(path):
        raise damaged(path, "file missing")
    try:
        with warnings.catch_warnings():  # torch's notes about pickle protocols are not the user's business here
            warnings.simplefilter("ignore")
            return read()
    except Exception as e:  # safetensors and torch.load raise many types (SafetensorError, UnpicklingError, ...)
        raise damaged(path, e) from None
