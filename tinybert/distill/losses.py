"""TinyBERT's losses.

- Attention: MSE between student and teacher pre-softmax attention scores. ``mode="tinybert"`` reproduces the
  original exactly: every score at or below -100 (the additive padding mask) is set to 0 on both sides, then the
  mean over all B*H*T*T entries. ``mode="masked"`` averages over real (query, key) pairs only, so padding does not
  dilute the loss. When the head counts differ, both sides are averaged over heads first (head-averaged maps).
- Hidden states: MSE between the projected student state and the teacher state (embedding output included), mean
  over all entries as the original, or over real tokens when an attention mask is given.
- Prediction layer: soft cross-entropy between temperature-scaled distributions, summed over classes and averaged
  over the batch. (The original also averaged over classes, which only rescales the loss by 1/C; with Adam this
  changes almost nothing, and the standard form is what the paper writes.) Regression tasks: MSE to the teacher's
  predictions, never to the gold labels (the original's STS-B defect).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MASK_THRESHOLD = -1e2


def _clamped_and_keep(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``scores`` clamped at ``MASK_THRESHOLD`` (-inf and huge negatives become the threshold), and a float mask: 1
    above the threshold, 0 at or below it. Their product is :func:`zero_masked`."""
    clamped = scores.clamp(min=MASK_THRESHOLD)
    return clamped, torch.sign(clamped - MASK_THRESHOLD)


def zero_masked(scores: torch.Tensor) -> torch.Tensor:
    """``scores`` with every entry at or below ``MASK_THRESHOLD`` set to 0 (-inf and NaN-free for finite or -inf
    inputs). Arithmetic instead of ``torch.where(scores <= thr, 0, scores)``: on CPU, float comparisons and ``where``
    take several times longer than clamp/sign/mul."""
    clamped, keep = _clamped_and_keep(scores)
    return clamped * keep


CHUNK_BYTES = 2**19  # per slice of the (B, heads, T, T) tensors in the fused attention loss


class _ZeroedScoreMSE(torch.autograd.Function):
    """``mean((zero_masked(s) - zero_masked(t))**2)`` with the gradient for ``s`` only (the teacher's scores carry
    none). The score tensors are several MiB each, and on memory-starved CPUs every pass over them costs more than
    the arithmetic, so the work runs slice by slice along the batch (each slice in cache): the scores are read once
    and one tensor, ``zero_masked(s) - zero_masked(t)`` where ``s`` is kept and 0 elsewhere, is written for the
    backward pass, which is a single scaling."""

    @staticmethod
    def forward(ctx, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        student, teacher = student.contiguous(), teacher.contiguous()
        per_row = max(1, student[0].numel() * student.element_size())
        rows = max(1, CHUNK_BYTES // per_row)
        grad_base = torch.empty_like(student)  # d(loss)/d(student) * numel / 2
        total = student.new_zeros((), dtype=torch.float64)
        for i in range(0, student.shape[0], rows):
            s, out = student[i:i + rows], grad_base[i:i + rows]
            clamped, keep = _clamped_and_keep(s)
            diff = clamped.mul_(keep).sub_(zero_masked(teacher[i:i + rows]))
            flat = diff.reshape(-1)
            total += torch.dot(flat, flat)
            torch.mul(diff, keep, out=out)
        ctx.save_for_backward(grad_base)
        return (total / student.numel()).to(student.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (grad_base,) = ctx.saved_tensors
        return grad_base * (grad * (2.0 / grad_base.numel())), None


def _match_heads(student: torch.Tensor, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if student.shape[1] != teacher.shape[1]:
        return student.mean(dim=1, keepdim=True), teacher.mean(dim=1, keepdim=True)
    return student, teacher


def attention_mse(
    student: torch.Tensor,
    teacher: torch.Tensor,
    mode: str = "tinybert",
    attention_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """MSE between (B, heads, T, T) pre-softmax score tensors; see the module docstring for ``mode``."""
    student = student.float()
    teacher = teacher.float()
    if mode == "tinybert":
        if student.shape == teacher.shape and not teacher.requires_grad:
            return _ZeroedScoreMSE.apply(student, teacher)
        student, teacher = _match_heads(zero_masked(student), zero_masked(teacher))
        return (student - teacher).pow(2).mean()
    if mode == "masked":
        if attention_mask is None:
            raise ValueError("the masked attention loss needs the attention mask")
        m = attention_mask.to(student.dtype)
        pair = (m[:, :, None] * m[:, None, :])[:, None]  # (B, 1, T, T)
        # padded keys hold -inf-like scores on both sides: zero them before differencing
        student = torch.where(pair > 0, student, torch.zeros_like(student))
        teacher = torch.where(pair > 0, teacher, torch.zeros_like(teacher))
        student, teacher = _match_heads(student, teacher)
        sq = (student - teacher).pow(2) * pair
        return sq.sum() / (pair.sum() * student.shape[1]).clamp_min(1.0)
    raise ValueError(f"unknown attention loss mode {mode!r}; expected 'tinybert' or 'masked'")


def hidden_mse(
    student: torch.Tensor, teacher: torch.Tensor, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """MSE between (B, T, H) states; over real tokens only when ``attention_mask`` is given."""
    # (s - t)^2 rather than F.mse_loss: nothing of the teacher is saved for backward, so a teacher tensor made under
    # torch.inference_mode() can be used as is, without a copy
    sq = (student.float() - teacher.float()).pow(2)
    if attention_mask is None:
        return sq.mean()
    m = attention_mask.to(sq.dtype)[:, :, None]
    return (sq * m).sum() / (m.sum() * student.shape[-1]).clamp_min(1.0)


def soft_cross_entropy(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Cross-entropy of softmax(student/T) against softmax(teacher/T): sum over classes, mean over the batch."""
    log_p = F.log_softmax(student_logits.float() / temperature, dim=-1)
    q = F.softmax(teacher_logits.float() / temperature, dim=-1)
    return -(q * log_p).sum(dim=-1).mean()


def regression_mse(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """MSE between the student's and the teacher's (N, 1) predictions."""
    return F.mse_loss(student_logits.float().view(-1), teacher_logits.float().view(-1))


def prediction_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0, regression: bool = False
) -> torch.Tensor:
    """Stage-2 loss: soft cross-entropy for classification, MSE to the teacher's predictions for regression."""
    if regression:
        return regression_mse(student_logits, teacher_logits)
    return soft_cross_entropy(student_logits, teacher_logits, temperature)
