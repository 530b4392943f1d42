"""torch.distributed as started by ``torchrun``: read LOCAL_RANK / RANK / WORLD_SIZE, pick the device and backend.

One node: ``torchrun --nproc_per_node N script.py ...``. Several nodes: the same on every node with
``--nnodes M --node_rank K --master_addr HOST --master_port PORT``. NCCL on GPUs, gloo on CPU.
"""

from __future__ import annotations

import atexit
import datetime
import math
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(no_cuda: bool = False, timeout_s: int = 1800) -> DistInfo:
    """Join the process group torchrun describes (if WORLD_SIZE > 1) and choose this process's device.

    Idempotent: a second call returns the same answer without re-initialising.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and not no_cuda
    if use_cuda:
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if use_cuda else "gloo"
        kwargs: dict[str, Any] = {"device_id": device} if use_cuda else {}
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s), **kwargs)
        atexit.register(cleanup_distributed)
    if dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world_size, device=device)


def cleanup_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def get_rank() -> int:
    return dist.get_rank() if dist.is_initialized() else int(os.environ.get("RANK", "0"))


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum ``t`` over all processes (in place; returns it). A no-op in one process."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def gather_to_main(obj: Any) -> list[Any] | None:
    """Every process's ``obj`` (picklable, sent between our own processes only) on rank 0; None elsewhere."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return [obj]
    out: list[Any] | None = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def broadcast_from_main(obj: Any) -> Any:
    """Rank 0's ``obj`` on every process."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard_bounds(n: int, rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """The contiguous slice ``[lo, hi)`` of ``n`` items that process ``rank`` (default: this one) handles; the shards
    of ``world_size`` processes cover ``range(n)`` in rank order, their sizes differing by at most one."""
    rank = get_rank() if rank is None else rank
    world_size = get_world_size() if world_size is None else world_size
    return rank * n // world_size, (rank + 1) * n // world_size


def all_gather_shards(t: torch.Tensor, n: int) -> torch.Tensor:
    """Every process's rows ``t`` (its :func:`shard_bounds` shard of ``n`` rows) concatenated in rank order, on every
    process and on ``t``'s device. The shards are padded to one size for ``all_gather`` (NCCL: through this
    process's GPU) and trimmed after. A no-op in one process."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return t
    world = dist.get_world_size()
    lo, hi = shard_bounds(n, dist.get_rank(), world)
    if len(t) != hi - lo:
        raise ValueError(f"rank {dist.get_rank()} holds {len(t)} rows, its shard of {n} has {hi - lo}")
    comm = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    padded = t.new_zeros((math.ceil(n / world), *t.shape[1:]), device=comm)
    padded[:len(t)] = t
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    sizes = [b - a for a, b in (shard_bounds(n, r, world) for r in range(world))]
    return torch.cat([p[:s] for p, s in zip(parts, sizes, strict=True)]).to(t.device)
