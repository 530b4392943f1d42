"""The resumable training state in ``output_dir/checkpoint/``, written atomically, read with weights_only=True.

Layout::

    checkpoint/
      model.safetensors      state dict of the unwrapped trainable model (tied tensors saved once per key, as copies)
      training_state.pt      {"optimizer", "scheduler", "scaler"} state dicts: tensors, numbers, strings only
      rng_state_<rank>.pt    python, numpy, torch CPU and CUDA generator states of one process
      trainer_state.json     global_step, epoch, step_in_epoch, best metric/step, log window, finished marker, ...

A ``finished: true`` trainer_state marks a completed run: the output dir is then refused without
``--overwrite_output_dir``. The directory is replaced as a whole (``atomic_dir``), so a run killed while saving
keeps the previous checkpoint. Rank 0 writes everything (the other ranks' RNG states are gathered to it); every rank
reads its own files on resume, so a multi-node run needs ``output_dir`` on a filesystem all nodes share.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from tinybert.errors import UserError
from tinybert.utils.io import atomic_dir

CHECKPOINT_DIR = "checkpoint"
MODEL_FILE = "model.safetensors"
STATE_FILE = "training_state.pt"
TRAINER_STATE_FILE = "trainer_state.json"


def rng_file(rank: int) -> str:
    return f"rng_state_{rank}.pt"


def checkpoint_dir(output_dir: str | os.PathLike) -> str:
    return os.path.join(os.fspath(output_dir), CHECKPOINT_DIR)


def read_trainer_state(output_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The trainer state of the checkpoint in ``output_dir``, or None when there is none."""
    path = os.path.join(checkpoint_dir(output_dir), TRAINER_STATE_FILE)
    if not os.path.isfile(path):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise UserError.at(path, f"unreadable checkpoint state ({e}); pass --overwrite_output_dir") from e


def check_output_dir(output_dir: str | os.PathLike, overwrite_output_dir: bool = False, resume: bool = False) -> bool:
    """Decide between a fresh start and a resume; True when the run will resume from ``output_dir/checkpoint``.

    Cheap: recipes call it before loading any model, so a refused output dir costs nothing.
    """
    if overwrite_output_dir:
        return False
    state = read_trainer_state(output_dir)
    if state is not None and state.get("finished"):
        raise UserError.at(output_dir, "already holds a finished run; pass --overwrite_output_dir to train again")
    if state is None and resume:
        raise UserError.at(checkpoint_dir(output_dir), "no checkpoint to resume from (--resume)")
    return state is not None


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
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
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
    try:
        weights = load_file(os.path.join(path, MODEL_FILE), device=str(device))
        missing, unexpected = model.load_state_dict(weights, strict=False)
        if missing or unexpected:
            raise UserError.at(path, f"checkpoint does not fit the model (missing keys {missing[:3]}, unexpected "
                                     f"{unexpected[:3]}); pass --overwrite_output_dir to start fresh")
        training_state = torch.load(os.path.join(path, STATE_FILE), map_location=device, weights_only=True)
        rng_path = os.path.join(path, rng_file(rank))
        rng = torch.load(rng_path, map_location="cpu", weights_only=True) if os.path.isfile(rng_path) else None
    except (OSError, RuntimeError) as e:
        raise UserError.at(path, f"unreadable checkpoint ({e}); pass --overwrite_output_dir to start fresh") from e
    return state, training_state, rng
