"""Shared bench helpers: the machine's measured GEMM rate, transformer FLOP counts, peak RSS."""

from __future__ import annotations

import platform
import resource
import time

import torch


def gemm_flops_per_second(n: int = 1024, seconds: float = 2.0, dtype: torch.dtype = torch.float32,
                          device: str = "cpu") -> float:
    """Sustained FLOP/s of an n x n x n matmul on this machine (what 100% means in the efficiency figures)."""
    a = torch.randn(n, n, dtype=dtype, device=device)
    b = torch.randn(n, n, dtype=dtype, device=device)
    for _ in range(3):
        a @ b
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        reps += 1
    if device != "cpu":
        torch.cuda.synchronize()
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def encoder_forward_flops(config, seq_len: int) -> float:
    """Matmul FLOPs of one encoder forward on one sequence (embeddings lookups are free; LayerNorm etc. ignored)."""
    h, i, layers, t = config.hidden_size, config.intermediate_size, config.num_hidden_layers, seq_len
    per_layer = 2 * t * (4 * h * h + 2 * h * i) + 2 * 2 * t * t * h  # projections + FFN, QK^T and PV
    if getattr(config, "model_type", "") == "nezha":
        per_layer += 2 * 2 * t * t * h  # the relative-position terms on keys and values
    return float(layers * per_layer)


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux reports KiB


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {torch.get_num_threads()} torch threads, torch {torch.__version__}"


class StepClock:
    """Times the micro-batches of the real :class:`tinybert.train.Trainer` loop (by wrapping its loss function), so a
    bench reports steady-state training throughput without the run's one-off costs (start-up, the final evaluation
    and checkpoint). Use as ``with StepClock() as clock: recipe(...)``; then ``clock.samples_per_second(batch)``."""

    def __init__(self, warmup: int = 3) -> None:
        self.warmup = warmup
        self.times: list[float] = []
        self.lengths: list[int] = []

    def __enter__(self) -> StepClock:
        from tinybert.train import Trainer

        self._original = original = Trainer.train
        clock = self

        def train(trainer):
            loss_fn = trainer.loss_fn

            def timed(model, batch):
                clock.times.append(time.perf_counter())
                clock.lengths.append(int(batch["input_ids"].shape[1]))
                return loss_fn(model, batch)

            trainer.loss_fn = timed
            trainer.args.progress_bar = False
            try:
                return original(trainer)
            finally:
                trainer.loss_fn = loss_fn
                clock.times.append(time.perf_counter())  # the end of the last step (plus its logging)

        Trainer.train = train
        return self

    def __exit__(self, *exc) -> None:
        from tinybert.train import Trainer

        Trainer.train = self._original

    def steady(self) -> list[float]:
        if len(self.times) < self.warmup + 3:
            raise ValueError(f"too few steps to time ({len(self.times) - 1}); run more than {self.warmup + 2}")
        return self.times[self.warmup:-1]  # the last mark includes the final evaluation and checkpoint: left out

    def seconds_per_step(self) -> float:
        s = self.steady()
        return (s[-1] - s[0]) / (len(s) - 1)

    def samples_per_second(self, batch: int) -> float:
        return batch / self.seconds_per_step()

    def mean_length(self) -> float:
        kept = self.lengths[self.warmup:]
        return sum(kept) / max(1, len(kept))
