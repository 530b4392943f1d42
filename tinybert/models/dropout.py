"""Dropout for CPU training, with masks drawn 16 bits at a time from torch's own generator.

Why: torch's CPU ``bernoulli_`` (behind ``nn.Dropout``) costs about 7-11 ns per element on the 2-core machines this
project is tested on, which made dropout 15-20% of a small student's training step. Here one full-range int64 draw
gives four 16-bit lanes (about 1 ns per element): an element is kept when its lane, read as an unsigned number, is at
least ``round(p * 65536)``. The drop probability is therefore ``p`` to within 2**-17, and survivors are scaled by
``1 / (1 - p_used)`` with ``p_used = round(p * 65536) / 65536``, so the expected output equals the input exactly.

The bits come from torch's default CPU generator, so ``torch.manual_seed``, per-rank seeds and the RNG states saved in
checkpoints govern these masks exactly as they govern ``nn.Dropout`` (the masks themselves differ from
``nn.Dropout``'s for the same seed). On other devices :func:`dropout` is ``torch.nn.functional.dropout``.
"""

from __future__ import annotations

import torch
from torch import nn

LANES = 65536  # 16-bit lanes
INT64_MIN = -(2**63)


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, generator: torch.Generator | None = None
              ) -> tuple[torch.Tensor, float]:
    """A boolean keep-mask of ``shape`` (each element dropped with probability ``p_used``) and the survivors' scale."""
    threshold = round(p * LANES)
    numel = 1
    for s in shape:
        numel *= int(s)
    words = torch.empty((numel + 3) // 4, dtype=torch.int64).random_(INT64_MIN, None, generator=generator)
    lanes = words.view(torch.int16)[:numel].view(shape)
    # A signed lane s is the unsigned lane s + 32768: keep when s + 32768 >= threshold.
    mask = lanes >= threshold - LANES // 2
    return mask, LANES / (LANES - threshold)


def _fast_path(x: torch.Tensor, p: float) -> bool:
    """Whether the 16-bit-lane mask applies: CPU, and 0 < round(p * 65536) < 65536 (else torch's dropout)."""
    return x.device.type == "cpu" and 0 < round(p * LANES) < LANES


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``nn.functional.dropout(x, p, training)`` with the fast CPU mask; differentiable (the gradient is masked and
    scaled the same way)."""
    if not training or p <= 0.0:
        return x
    if not _fast_path(x, p):
        return nn.functional.dropout(x, p, training=True)
    mask, scale = keep_mask(x.shape, p)
    return _MaskScale.apply(x, mask, scale)


class _MaskScale(torch.autograd.Function):
    """``x * mask * scale``, forwards and backwards. For float32 the mask becomes a float tensor of 0 and ``scale``
    (through a uint8 view of the bool mask: bool-to-float conversion is 5x slower on CPU), so each direction is one
    multiplication; other dtypes use aten's dropout-backward kernel (rounding once, in the input's dtype)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mask: torch.Tensor, scale: float) -> torch.Tensor:
        if x.dtype == torch.float32:
            factor = mask.view(torch.uint8).to(torch.float32).mul_(scale)
            ctx.save_for_backward(factor)
            ctx.scale = None
            return x * factor
        ctx.save_for_backward(mask)
        ctx.scale = scale
        return torch.ops.aten.native_dropout_backward(x, mask, scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (saved,) = ctx.saved_tensors
        if ctx.scale is None:
            return grad * saved, None, None
        return torch.ops.aten.native_dropout_backward(grad, saved, ctx.scale), None, None


class _KeepOnly(torch.autograd.Function):
    """``x * mask`` (no scale) both ways, multiplying by a uint8 view of the bool mask (one fast pass each)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(mask)
        return x * mask.view(torch.uint8)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (mask,) = ctx.saved_tensors
        return grad * mask.view(torch.uint8), None


def dropout_before_matmul(x: torch.Tensor, other: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``dropout(x, p) @ other`` with the survivors' scale applied to ``other`` instead of ``x`` (attention: ``other``
    is the values, 4x smaller than the probabilities at 128 tokens and 32-wide heads), so dropping costs one pass over
    ``x`` each way."""
    if not training or p <= 0.0 or x.dtype != torch.float32 or not _fast_path(x, p):
        return torch.matmul(dropout(x, p, training), other)
    mask, scale = keep_mask(x.shape, p)
    return torch.matmul(_KeepOnly.apply(x, mask), other * scale)


class FastDropout(nn.Dropout):
    """``nn.Dropout`` drawing its mask with :func:`keep_mask` on CPU (``inplace`` is ignored: the result is new)."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return dropout(input, self.p, self.training)


__all__ = ["FastDropout", "dropout", "dropout_before_matmul", "keep_mask"]
