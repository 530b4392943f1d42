"""The one training loop: pretraining, finetuning and both distillation stages all run through :class:`Trainer`.

A recipe supplies the trainable model, frozen modules (teachers), a map-style dataset, a collate function and a loss
function; the loop owns devices, DDP, mixed precision, accumulation, clipping, the LR schedule, checkpoints and exact
resume, evaluation, logging and progress. Read :meth:`Trainer.train` top to bottom.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, Dataset, Sampler

from tinybert.config.training import TrainingArguments
from tinybert.errors import UserError
from tinybert.models.attention import fast_cpu_dropout
from tinybert.train import checkpointing as ckpt
from tinybert.train import distributed as tdist
from tinybert.train.optim import build_optimizer, build_scheduler, restart_schedule
from tinybert.utils.io import atomic_open
from tinybert.utils.memory import keep_freed_memory

logger = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
TENSORBOARD_DIR = "tensorboard"

LossFn = Callable[[nn.Module, Any], "torch.Tensor | tuple[torch.Tensor, Mapping[str, Any]]"]


class Evaluator(Protocol):
    """What the loop asks of an evaluator: metrics of the (unwrapped, eval-mode) model after optimizer step ``step``.

    Called on rank 0 every ``eval_steps`` and at the end, under ``torch.no_grad()``."""

    def evaluate(self, model: nn.Module, step: int) -> Mapping[str, float]: ...


def set_seed(seed: int) -> None:
    """Seed python, numpy and torch (CPU and every GPU). Recipes call it before building models."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class TrainResult:
    global_step: int
    loss: float | None  # mean training loss of the last logging window
    best_metric: float | None
    best_step: int | None
    wall_time: float  # seconds spent in this call
    samples_per_second: float  # global samples per second in this call
    eval_metrics: dict[str, float] = field(default_factory=dict)  # the last evaluation (rank 0)


class GlobalBatchSampler(Sampler[list[int]]):
    """Micro-batches of one process for one epoch, from optimizer step ``start_step`` on.

    The epoch is a permutation drawn from ``(seed, epoch)`` alone. Optimizer step ``s`` uses permutation positions
    ``[s*B, (s+1)*B)`` (the last, partial batch is filled from the start of the same permutation, so every step sees
    ``B`` samples and every sample is seen each epoch); its micro-step ``k`` on rank ``r`` takes
    ``[(k*W + r)*b, (k*W + r + 1)*b)`` of that global batch. Hence the samples of a step do not depend on the number
    of processes or accumulation steps, and a resumed run picks up exactly where it stopped.
    """

    def __init__(self, num_samples: int, global_batch: int, world_size: int, rank: int, accumulation: int,
                 seed: int, epoch: int, start_step: int = 0) -> None:
        self.num_samples, self.global_batch = num_samples, global_batch
        self.world_size, self.rank, self.accumulation = world_size, rank, accumulation
        self.micro_batch = global_batch // (world_size * accumulation)
        self.seed, self.epoch, self.start_step = seed, epoch, start_step
        self.steps = steps_per_epoch(num_samples, global_batch)

    def __len__(self) -> int:
        return (self.steps - self.start_step) * self.accumulation

    def __iter__(self) -> Iterator[list[int]]:
        perm = np.random.default_rng([self.seed % 2**63, self.epoch]).permutation(self.num_samples)
        for step in range(self.start_step, self.steps):
            positions = np.arange(step * self.global_batch, (step + 1) * self.global_batch) % self.num_samples
            batch = perm[positions]
            for micro in range(self.accumulation):
                lo = (micro * self.world_size + self.rank) * self.micro_batch
                yield batch[lo:lo + self.micro_batch].tolist()


def steps_per_epoch(num_samples: int, global_batch: int) -> int:
    return math.ceil(num_samples / global_batch)


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return type(batch)({k: _to_device(v, device) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(_to_device(v, device) for v in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch


class Trainer:
    """Train ``model`` on ``train_dataset`` by minimising ``loss_fn``; see docs/ARCHITECTURE.md (tinybert.train).

    - ``loss_fn(model, batch) -> loss`` or ``(loss, {name: scalar})``: the recipe's whole step. ``model`` is the
      DDP-wrapped model under torchrun (call it, not ``.module``, so gradients sync); ``batch`` is the collated
      micro-batch already on the device. The scalars (same names on every process) are logged, averaged over the
      logging window and over processes.
    - ``frozen``: modules the loss uses but never trains (teachers): moved to the device, eval mode, no grad, not
      wrapped in DDP, not optimised.
    - ``evaluator`` (an :class:`Evaluator`: ``evaluate(unwrapped_model, step) -> {name: float}``) runs on rank 0
      every ``eval_steps`` and at the end (model in eval mode, no grad); with ``metric_for_best`` (higher is
      better) the best model is what ``save_fn`` publishes.
    - ``save_fn(unwrapped_model, directory)`` writes the model folder; the loop gives it an empty staging directory
      and then moves its files into ``output_dir`` (so it never clobbers ``checkpoint/`` or the logs). It runs on
      rank 0 when the metric improves, or once at the end without ``metric_for_best``; with ``save_every_eval``
      (and no ``metric_for_best``) at every ``eval_steps`` boundary and at the end instead, with or without an
      ``evaluator``, so ``output_dir`` always holds the latest model.
    """

    def __init__(
        self,
        args: TrainingArguments,
        model: nn.Module,
        train_dataset: Dataset,
        collate_fn: Callable[[list[Any]], Any] | None,
        loss_fn: LossFn,
        *,
        frozen: Sequence[nn.Module] = (),
        evaluator: Evaluator | None = None,
        metric_for_best: str | None = None,
        save_fn: Callable[[nn.Module, str], None] | None = None,
        save_every_eval: bool = False,
    ) -> None:
        self.args, self.loss_fn, self.collate_fn = args, loss_fn, collate_fn
        self.evaluator, self.metric_for_best, self.save_fn = evaluator, metric_for_best, save_fn
        if metric_for_best is not None and evaluator is None:
            raise ValueError("metric_for_best needs an evaluator")
        if save_every_eval and metric_for_best is not None:
            raise ValueError("save_every_eval (the latest model) and metric_for_best (the best) exclude each other")
        self.save_every_eval = save_every_eval
        self.dist = tdist.init_distributed(args.no_cuda, args.ddp_timeout)
        self.device = self.dist.device
        world, accum = self.dist.world_size, args.gradient_accumulation_steps
        if args.train_batch_size % (world * accum):
            raise UserError(f"--train_batch_size {args.train_batch_size} must be divisible by the number of processes "
                            f"({world}) x --gradient_accumulation_steps ({accum})")
        self.micro_batch_size = args.train_batch_size // (world * accum)

        # Mixed precision: bf16 autocast anywhere; fp16 only on CUDA (CPU fp16 autocast is slow and unscaled).
        if args.fp16 and self.device.type != "cuda":
            raise UserError("--fp16 needs a CUDA GPU; on CPU use --bf16 (or neither)")
        if args.bf16 and self.device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise UserError("--bf16 is not supported by this GPU; use --fp16")
        self.amp_dtype = torch.bfloat16 if args.bf16 else torch.float16 if args.fp16 else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=args.fp16)

        keep_freed_memory()  # no page faults for each step's large tensors (see tinybert.utils.memory)
        self.model = model.to(self.device)
        self.frozen = list(frozen)
        for m in self.frozen:
            m.to(self.device).eval().requires_grad_(False)

        self.train_dataset = train_dataset
        n = len(train_dataset)  # type: ignore[arg-type]
        if n == 0:
            raise UserError("the training set is empty")
        self.steps_per_epoch = steps_per_epoch(n, args.train_batch_size)
        self.total_steps = (args.max_steps if args.max_steps > 0
                            else math.ceil(args.num_train_epochs * self.steps_per_epoch))
        if self.total_steps < 1:
            raise UserError("nothing to train: --num_train_epochs gives 0 optimizer steps")
        self.optimizer = build_optimizer(self.model, args.optimizer, args.learning_rate, args.weight_decay,
                                         (args.adam_beta1, args.adam_beta2), args.adam_epsilon)
        self.scheduler = build_scheduler(self.optimizer, args.schedule, self.total_steps, args.warmup_steps,
                                         args.warmup_proportion, args.poly_power)
        self.params = [p for g in self.optimizer.param_groups for p in g["params"]]

    # ------------------------------------------------------------------ the loop
    def train(self) -> TrainResult:
        """Train to ``total_steps`` (resuming when the output dir holds a checkpoint); see :meth:`_train`.

        On CPU the trainable model's dropout runs through :func:`tinybert.models.attention.fast_cpu_dropout` for the
        duration: the same drop rate and generator as nn.Dropout (different masks), about 4x cheaper."""
        cpu = self.device.type == "cpu"
        with fast_cpu_dropout(self.model) if cpu else contextlib.nullcontext():
            return self._train()

    def _train(self) -> TrainResult:
        args, dist, out = self.args, self.dist, self.args.output_dir
        global_batch, accumulation = args.train_batch_size, args.gradient_accumulation_steps

        # 1. Fresh start or resume (every process reads the same files; rank 0 clears a discarded run).
        resume = ckpt.check_output_dir(out, args.overwrite_output_dir, args.resume)
        tdist.barrier()
        if dist.is_main:
            if not resume:
                _clear_run(out)
            os.makedirs(out, exist_ok=True)
        tdist.barrier()
        state: dict[str, Any] = {"global_step": 0, "epoch": 0, "step_in_epoch": 0, "best_metric": None,
                                 "best_step": None, "log_window": {}, "log_count": 0}
        rng = None
        if resume:
            state, rng = self._load(out)
        else:
            set_seed(args.seed + dist.rank)  # per rank, so dropout masks differ between processes
        step, epoch, step_in_epoch = state["global_step"], state["epoch"], state["step_in_epoch"]
        best, best_step = state["best_metric"], state["best_step"]

        # 2. Wrap the trainable model (only it) for DDP; frozen modules stay as they are.
        model: nn.Module = self.model
        if dist.distributed:
            model = DDP(self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                        find_unused_parameters=False)
        model.train()

        # 3. Logging: metrics.jsonl (appended, cut back to the resumed step), TensorBoard, tqdm, all on rank 0.
        writer, metrics_file, bar = None, None, None
        if dist.is_main:
            metrics_file = _open_metrics(os.path.join(out, METRICS_FILE), keep_upto=step)
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(os.path.join(out, TENSORBOARD_DIR), purge_step=step + 1 if step else None)
            if args.progress_bar:
                from tqdm.auto import tqdm

                bar = tqdm(total=self.total_steps, initial=step, desc="train", unit="step", dynamic_ncols=True)
        window = {k: torch.tensor(v, device=self.device) for k, v in state["log_window"].items()}
        count = state["log_count"]
        last_loss, last_eval = None, {}
        start_step, t0 = step, time.perf_counter()
        if rng is not None:
            ckpt.restore_rng_state(rng)  # last thing before training: nothing above may draw random numbers

        logger.info("training %d steps (%d per epoch), global batch %d = %d processes x %d accumulation x %d, on %s",
                    self.total_steps, self.steps_per_epoch, global_batch, dist.world_size, accumulation,
                    self.micro_batch_size, self.device)
        try:
            while step < self.total_steps:
                if hasattr(self.train_dataset, "set_epoch"):  # e.g. pregenerated data: one file set per epoch
                    self.train_dataset.set_epoch(epoch)
                sampler = GlobalBatchSampler(len(self.train_dataset), global_batch, dist.world_size, dist.rank,
                                             accumulation, args.seed, epoch, step_in_epoch)
                loader = DataLoader(self.train_dataset, batch_sampler=sampler, collate_fn=self.collate_fn,
                                    num_workers=args.num_workers, pin_memory=self.device.type == "cuda",
                                    generator=torch.Generator().manual_seed(
                                        args.seed * 1_000_003 + epoch * 1009 + dist.rank))
                batches = iter(loader)
                epoch_steps = sampler.steps  # may differ from epoch 0 when set_epoch changes the data
                while step_in_epoch < epoch_steps and step < self.total_steps:
                    # 4. One optimizer step: `accumulation` micro-batches, gradients synchronised on the last one.
                    lr = self.optimizer.param_groups[0]["lr"]
                    for micro in range(accumulation):
                        batch = _to_device(next(batches), self.device)
                        sync = micro == accumulation - 1
                        with contextlib.nullcontext() if sync or not dist.distributed else model.no_sync():
                            with torch.autocast(self.device.type, dtype=self.amp_dtype or torch.float32,
                                                enabled=self.amp_dtype is not None):
                                loss, scalars = _split(self.loss_fn(model, batch))
                            self.scaler.scale(loss / accumulation).backward()
                        for name, value in {"loss": loss, **scalars}.items():
                            value = torch.as_tensor(value, device=self.device).detach().float()
                            window[name] = window[name] + value if name in window else value
                        count += 1
                    self.scaler.unscale_(self.optimizer)
                    if args.max_grad_norm > 0:
                        torch.nn.utils.clip_grad_norm_(self.params, args.max_grad_norm)
                    self.scaler.step(self.optimizer)
                    self.scaler.update()
                    self.scheduler.step()
                    self.optimizer.zero_grad(set_to_none=True)
                    step, step_in_epoch = step + 1, step_in_epoch + 1
                    if bar is not None:
                        bar.update(1)
                    done = step >= self.total_steps

                    # 5. Log, evaluate, checkpoint.
                    if step % args.logging_steps == 0 or done:
                        sums, total = self._reduce(window, count)
                        logs = {k: v / total for k, v in sums.items()}
                        window, count = {}, 0
                        last_loss = logs["loss"]
                        self._log(writer, metrics_file, {"step": step, "epoch": epoch, "lr": lr, **logs})
                        if bar is not None:
                            bar.set_postfix(loss=f"{last_loss:.4g}", lr=f"{lr:.3g}")
                    at_eval = (args.eval_steps > 0 and step % args.eval_steps == 0) or done
                    if self.evaluator is not None and at_eval:
                        if dist.is_main:
                            last_eval = self._evaluate(step)
                            if last_eval:
                                self._log(writer, metrics_file, {"step": step, **{f"eval_{k}": v for k, v in
                                                                                   last_eval.items()}})
                            if self.metric_for_best is not None:
                                value = float(last_eval[self.metric_for_best])
                                if best is None or value > best:
                                    best, best_step = value, step
                                    self._publish()
                                    logger.info("step %d: new best %s = %.6g", step, self.metric_for_best, value)
                        model.train()
                    if dist.is_main and self.metric_for_best is None and (done or (self.save_every_eval and at_eval)):
                        self._publish()  # the latest model: at the end, or at every eval step with save_every_eval
                    if (args.save_steps > 0 and step % args.save_steps == 0) or done:
                        at_end = step_in_epoch == epoch_steps  # the data position is the next batch
                        self._save(out, {"global_step": step, "epoch": epoch + at_end,
                                         "step_in_epoch": 0 if at_end else step_in_epoch, "best_metric": best,
                                         "best_step": best_step, "finished": done}, window, count)
                if step_in_epoch >= epoch_steps:
                    epoch, step_in_epoch = epoch + 1, 0
        finally:
            if bar is not None:
                bar.close()
            if writer is not None:
                writer.close()
            if metrics_file is not None:
                metrics_file.close()

        wall = time.perf_counter() - t0
        return TrainResult(global_step=step, loss=last_loss, best_metric=best, best_step=best_step, wall_time=wall,
                           samples_per_second=(step - start_step) * global_batch / wall if wall > 0 else 0.0,
                           eval_metrics=dict(last_eval))

    # ------------------------------------------------------------------ helpers
    def _load(self, out: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        args, dist = self.args, self.dist
        extending = ckpt.check_extension(out, ckpt.read_trainer_state(out) or {}, self.total_steps)
        state, training_state, rng = ckpt.load_checkpoint(out, self.model, dist.rank, self.device)
        if state.get("train_batch_size", args.train_batch_size) != args.train_batch_size:
            raise UserError.at(ckpt.checkpoint_dir(out), f"was written with --train_batch_size "
                               f"{state['train_batch_size']}; resume with it or pass --overwrite_output_dir")
        if state.get("seed", args.seed) != args.seed:
            logger.warning("resuming a run started with --seed %s under --seed %s: the data order changes",
                           state["seed"], args.seed)
        self.optimizer.load_state_dict(training_state["optimizer"])
        self.scheduler.load_state_dict(training_state["scheduler"])
        if extending:  # a finished run given a larger budget: the schedule continues towards the new total
            restart_schedule(self.optimizer, self.scheduler)
            logger.info("extending the finished run from step %d to %d; the learning-rate schedule is recomputed "
                        "for the new total", state["global_step"], self.total_steps)
        if training_state.get("scaler"):
            self.scaler.load_state_dict(training_state["scaler"])
        if rng is None:
            logger.warning("checkpoint has no RNG state for rank %d (it was written by %s processes); reseeding",
                           dist.rank, state.get("world_size"))
            set_seed(args.seed + dist.rank + state["global_step"])
        if not dist.is_main:  # rank 0 carries the (already reduced) partial log window
            state["log_window"], state["log_count"] = {}, 0
        logger.info("resuming from %s at step %d (epoch %d, step %d in epoch)", ckpt.checkpoint_dir(out),
                    state["global_step"], state["epoch"], state["step_in_epoch"])
        return state, rng

    def _save(self, out: str, progress: dict[str, Any], window: dict[str, torch.Tensor], count: int) -> None:
        """Checkpoint everything an exact resume needs; collective (every process calls it), rank 0 writes."""
        rngs = tdist.gather_to_main(ckpt.capture_rng_state())
        logs, total_count = self._reduce(window, count) if window else ({}, 0)
        if not self.dist.is_main:
            return
        state = {**progress, "log_window": logs, "log_count": total_count, "total_steps": self.total_steps,
                 "train_batch_size": self.args.train_batch_size, "world_size": self.dist.world_size,
                 "seed": self.args.seed, "args": asdict(self.args)}
        training_state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                          "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {}}
        ckpt.save_checkpoint(out, self.model, training_state, rngs or [], state)

    def _reduce(self, window: dict[str, torch.Tensor], count: int) -> tuple[dict[str, float], int]:
        """Sums of the logging window and its number of micro-steps, over all processes (collective)."""
        names = sorted(window)
        packed = torch.stack([window[k].reshape(()) for k in names] +
                             [torch.tensor(float(count), device=self.device)])
        packed = tdist.all_reduce_sum(packed).tolist()
        return dict(zip(names, packed[:-1], strict=True)), int(packed[-1])

    def _log(self, writer: Any, metrics_file: Any, record: dict[str, Any]) -> None:
        if metrics_file is None:
            return
        metrics_file.write(json.dumps(record) + "\n")
        metrics_file.flush()
        step = record["step"]
        for k, v in record.items():
            if k not in ("step", "epoch") and isinstance(v, int | float):
                tag = f"eval/{k[5:]}" if k.startswith("eval_") else f"train/{k}"
                writer.add_scalar(tag, v, step)

    @torch.no_grad()
    def _evaluate(self, step: int) -> dict[str, float]:
        self.model.eval()
        try:
            return {k: float(v) for k, v in self.evaluator.evaluate(self.model, step).items()}  # type: ignore[union-attr]
        finally:
            self.model.train()

    def _publish(self) -> None:
        """Let save_fn write the model into a staging dir, then move its entries into output_dir one by one."""
        if self.save_fn is None:
            return
        out = self.args.output_dir
        staging = tempfile.mkdtemp(prefix=".model.", suffix=".tmp", dir=out)
        try:
            self.save_fn(self.model, staging)
            for name in sorted(os.listdir(staging)):
                if name in (ckpt.CHECKPOINT_DIR, TENSORBOARD_DIR, METRICS_FILE):
                    raise ValueError(f"save_fn may not write {name!r}: the training loop owns it")
                dst = os.path.join(out, name)
                if os.path.isdir(dst) and not os.path.islink(dst):
                    shutil.rmtree(dst)
                os.replace(os.path.join(staging, name), dst)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _split(out: Any) -> tuple[torch.Tensor, Mapping[str, Any]]:
    if isinstance(out, tuple):
        loss, scalars = out
        return loss, scalars
    return out, {}


def _clear_run(out: str) -> None:
    """Remove what an earlier run in ``out`` left that this loop owns (checkpoint, logs)."""
    for name in (ckpt.CHECKPOINT_DIR, TENSORBOARD_DIR):
        shutil.rmtree(os.path.join(out, name), ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(out, METRICS_FILE))


def _open_metrics(path: str, keep_upto: int) -> Any:
    """Open metrics.jsonl for appending, first dropping records past ``keep_upto`` (and any torn last line)."""
    if os.path.exists(path):
        kept = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and record.get("step", 0) <= keep_upto:
                    kept.append(json.dumps(record) + "\n")
        with atomic_open(path, "w") as f:
            f.writelines(kept)
    return open(path, "a", encoding="utf-8")
