"""Keep freed memory in the process (glibc malloc tuning) so that training steps do not page-fault.

Every training step allocates and frees tensors of several MiB. By default glibc gives large freed blocks back to the
kernel (mmap'd chunks are unmapped, the top of the heap is trimmed), so the next step's tensors fault their pages in
again: 4,000-5,000 page faults per step and ~10% of a general-distillation step on the 2-core test machine. Raising
the mmap threshold to its maximum (32 MiB on 64-bit), never trimming, and padding heap growth removes them (about one
fault per step), which is what PyTorch's CPU performance guide gets from swapping in jemalloc or tcmalloc, here without
LD_PRELOAD. The cost: memory freed stays with the process, so its RSS stays at the peak (which training reaches every
step anyway). ``TINYBERT_MALLOC_TUNING=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # mallopt parameters (glibc malloc.h)
MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's ceiling on 64-bit: larger blocks are always mmap'd
TOP_PAD = 64 * 2**20
NEVER_TRIM = 2**31 - 1

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Tune glibc malloc as the module docstring says (once per process); False where it does not apply (not glibc,
    or switched off)."""
    global _done
    if _done is not None:
        return _done
    _done = False
    if not sys.platform.startswith("linux") or os.environ.get("TINYBERT_MALLOC_TUNING", "1") == "0":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # musl, or no glibc at all
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) and mallopt(M_TRIM_THRESHOLD, NEVER_TRIM)
                 and mallopt(M_TOP_PAD, TOP_PAD))
    return _done


__all__ = ["keep_freed_memory"]
