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
