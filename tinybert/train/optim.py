"""Optimizers (AdamW from torch, our LAMB and BertAdam) and learning-rate schedules.

Weight decay is never applied to biases and LayerNorm weights: :func:`param_groups` splits the trainable parameters
into a decayed and an undecayed group, and every optimizer here decays per group.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from tinybert.errors import UserError


def _no_decay_names(model: nn.Module) -> set[str]:
    """Names of parameters that get no weight decay: every bias, every parameter of a normalisation layer."""
    names = set()
    for module_name, module in model.named_modules():
        norm_types = (nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)
        is_norm = isinstance(module, norm_types) or "norm" in type(module).__name__.lower()
        for pname, _ in module.named_parameters(recurse=False):
            full = f"{module_name}.{pname}" if module_name else pname
            if is_norm or pname == "bias" or "layernorm" in full.lower() or "layer_norm" in full.lower():
                names.add(full)
    return names


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters in two groups: with ``weight_decay`` and without (biases, LayerNorm).

    Parameters with ``requires_grad=False`` are left out; a shared (tied) parameter appears once.
    """
    no_decay = _no_decay_names(model)
    decay, plain = [], []
    for name, p in model.named_parameters():  # named_parameters yields a tied parameter once
        if p.requires_grad:
            (plain if name in no_decay else decay).append(p)
    if not decay and not plain:
        raise ValueError("the model has no trainable parameters")
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


class Lamb(torch.optim.Optimizer):
    """LAMB (You et al., 2019), as in the NEZHA pretraining recipe.

    Per parameter tensor ``w`` with gradient ``g`` at step ``t``::

        m = b1 m + (1 - b1) g            v = b2 v + (1 - b2) g^2
        u = m_hat / (sqrt(v_hat) + eps) + wd * w        (m_hat, v_hat bias-corrected when bias_correction)
        r = clip(|w| / |u|, 0, max_trust_ratio), or 1 when |w| or |u| is 0
        w = w - lr * r * u

    ``trust_ratio=False`` drops ``r`` (then this is Adam with decoupled weight decay); see :class:`BertAdam`.
    Weight decay is per param group (put biases and LayerNorm weights in a group with ``weight_decay=0``).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-6,
        weight_decay: float = 0.01,
        max_trust_ratio: float = 10.0,
        bias_correction: bool = True,
        trust_ratio: bool = True,
    ) -> None:
        if lr < 0 or eps < 0 or weight_decay < 0 or not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"invalid LAMB hyper-parameters: lr={lr} betas={betas} eps={eps} wd={weight_decay}")
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, max_trust_ratio=max_trust_ratio,
                        bias_correction=bias_correction, trust_ratio=trust_ratio)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("Lamb does not support sparse gradients")
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                if group["bias_correction"]:
                    update = (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt_().add_(group["eps"]))
                else:
                    update = m / v.sqrt().add_(group["eps"])
                if group["weight_decay"] != 0:
                    update.add_(p, alpha=group["weight_decay"])
                if group["trust_ratio"]:
                    w_norm, u_norm = p.norm(), update.norm()
                    ratio = torch.where(
                        (w_norm > 0) & (u_norm > 0),
                        (w_norm / u_norm).clamp(0.0, group["max_trust_ratio"]),
                        torch.ones_like(w_norm),
                    )
                    update.mul_(ratio)
                p.sub_(update, alpha=group["lr"])
        return loss


class BertAdam(Lamb):
    """The original BERT/TinyBERT ``BertAdam`` update: Adam moments WITHOUT bias correction, ``eps`` added to
    ``sqrt(v)``, decoupled weight decay ``lr * wd * w``, no trust ratio.

    Differences from the original: the schedule lives in the LR scheduler (not inside the optimizer), and gradient
    clipping is the training loop's global-norm clip (the original clipped each tensor to norm 1 separately).
    """

    def __init__(self, params: Iterable, lr: float = 5e-5, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-6, weight_decay: float = 0.01) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         bias_correction=False, trust_ratio=False)


def build_optimizer(
    model: nn.Module,
    name: str = "adamw",
    lr: float = 5e-5,
    weight_decay: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-6,
) -> torch.optim.Optimizer:
    """``adamw`` (torch.optim.AdamW), ``lamb`` (:class:`Lamb`) or ``bertadam`` (:class:`BertAdam`) over the
    trainable parameters of ``model``, biases and LayerNorm weights without weight decay."""
    groups = param_groups(model, weight_decay)
    if name == "adamw":
        # the fused kernel (CPU and CUDA) updates a large embedding table several times faster than the loop
        fused = all(p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float16, torch.bfloat16)
                    for g in groups for p in g["params"])
        return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, fused=fused)
    if name == "lamb":
        return Lamb(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    if name == "bertadam":
        return BertAdam(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    raise UserError(f"unknown optimizer {name!r}; one of: adamw, lamb, bertadam")


def lr_factor(step: int, schedule: str, total_steps: int, warmup_steps: int, power: float = 1.0) -> float:
    """Multiplier of the peak LR for the optimizer step that follows ``step`` completed steps.

    Warmup: ``step / warmup_steps``. Then
    - ``linear``: ``(total - step) / (total - warmup)``, reaching 0 at ``total`` (TinyBERT's warmup_linear, HF);
    - ``poly``: ``(1 - step / total) ** power`` (Google BERT / NEZHA's ``tf.train.polynomial_decay`` to 0 from step 0
      with warmup overriding the start; at the end of warmup it is ``(1 - warmup / total) ** power``);
    - ``constant``: 1.
    """
    if step < warmup_steps:
        return step / warmup_steps
    if schedule == "constant":
        return 1.0
    if schedule == "linear":
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    if schedule == "poly":
        return max(0.0, 1.0 - step / total_steps) ** power
    raise UserError(f"unknown schedule {schedule!r}; one of: linear, poly, constant")


def build_scheduler(
    optimizer: torch.optim.Optimizer,
    schedule: str,
    total_steps: int,
    warmup_steps: int = 0,
    warmup_proportion: float = 0.0,
    power: float = 1.0,
) -> LambdaLR:
    """A LambdaLR following :func:`lr_factor`; warmup is ``warmup_steps`` if > 0 else
    ``ceil(warmup_proportion * total_steps)``. Its state dict holds only numbers (loads with weights_only=True)."""
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    warmup = warmup_steps if warmup_steps > 0 else math.ceil(warmup_proportion * total_steps)
    lr_factor(0, schedule, total_steps, warmup, power)  # validates the name

    def factor(step: int) -> float:
        return lr_factor(step, schedule, total_steps, warmup, power)

    return LambdaLR(optimizer, factor)


def restart_schedule(optimizer: torch.optim.Optimizer, scheduler: LambdaLR) -> None:
    """Set every parameter group's learning rate from ``scheduler``'s own factors at its current step.

    After loading the scheduler state of a run planned for another total (a finished run being extended), the
    optimizer still holds the old schedule's last rate; the next step must use the new schedule's."""
    for group, base, factor in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True):
        group["lr"] = base * factor(scheduler.last_epoch)
    scheduler._last_lr = [group["lr"] for group in optimizer.param_groups]

