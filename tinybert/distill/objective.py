"""The intermediate-layer objective (general distillation and task stage 1), as a loss function for the loop.

The teacher runs in eval mode under ``torch.inference_mode()`` and computes only what the layer map uses: score
tensors of the mapped teacher layers (the others run through fused SDPA) and no task head.
"""

from __future__ import annotations

import torch
from torch import nn

from tinybert.distill.layer_map import LayerMap
from tinybert.distill.losses import attention_mse, hidden_mse
from tinybert.models.view import distill_forward


class IntermediateObjective:
    """``loss_fn(student, batch) -> (loss, {"att_loss", "rep_loss"})`` for :class:`tinybert.train.Trainer`.

    ``batch`` holds ``input_ids``, ``attention_mask`` and ``token_type_ids``; ``student`` is a (possibly
    DDP-wrapped) :class:`tinybert.models.student.TinyBertStudent`.
    """

    def __init__(self, teacher: nn.Module, layer_map: LayerMap, attention_mode: str = "tinybert") -> None:
        self.teacher = teacher
        self.layer_map = layer_map
        self.attention_mode = attention_mode
        self.att = layer_map.of_kind("attention")
        self.hid = layer_map.of_kind("hidden")

    def teacher_outputs(self, batch: dict[str, torch.Tensor]):
        with torch.inference_mode():
            return distill_forward(
                self.teacher,
                batch["input_ids"],
                batch.get("attention_mask"),
                batch.get("token_type_ids"),
                scores=sorted({m.teacher for m in self.att}) if self.att else False,
                hidden=bool(self.hid),
            )

    def __call__(self, student: nn.Module, batch: dict[str, torch.Tensor]):
        t = self.teacher_outputs(batch)
        s = student(
            batch["input_ids"],
            batch.get("attention_mask"),
            batch.get("token_type_ids"),
            scores=sorted({m.student for m in self.att}) if self.att else False,
            hidden=sorted({m.student for m in self.hid}) if self.hid else False,
        )
        mask = batch.get("attention_mask")
        zero = torch.zeros((), device=batch["input_ids"].device)
        att_loss, rep_loss = zero, zero
        for m in self.att:
            att_loss = att_loss + m.weight * attention_mse(
                s.attention_scores[m.student], t.attention_scores[m.teacher], self.attention_mode, mask
            )
        for m in self.hid:
            rep_loss = rep_loss + m.weight * hidden_mse(s.hidden_states[m.student], t.hidden_states[m.teacher])
        loss = att_loss + rep_loss
        return loss, {"att_loss": att_loss.detach(), "rep_loss": rep_loss.detach()}
