"""The one distillation objective: a :class:`~tinybert.distill.spec.DistillSpec` turned into the training loop's loss
function, computing only what the spec's terms need (:mod:`tinybert.distill.terms`).

The teacher runs in eval mode under ``torch.inference_mode()`` and computes only the score tensors of mapped teacher
layers (the others run through fused SDPA), the mapped hidden states, and its task head only when a term needs its
logits and they are not cached. The student's pass computes the same kinds of output for its side.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from tinybert.distill.spec import DistillSpec
from tinybert.distill.terms import TermInputs, loss_def
from tinybert.errors import UserError
from tinybert.models.view import distill_forward, frozen

# what each rule of DistillSpec.trainable freezes, from a TinyBertStudent
FREEZE = {
    "encoder+projections": lambda student: student.non_encoder_parameters(),
    "all but projections": lambda student: [p for m in student.projection_modules() for p in m.parameters()],
    "all": lambda student: [],
}


def freeze_untrained(student: nn.Module, spec: DistillSpec) -> list[nn.Parameter]:
    """Freeze what ``spec.trainable`` does not train (under DDP every trainable parameter needs a gradient);
    returns the frozen parameters."""
    params = FREEZE[spec.trainable](student)
    for p in params:
        p.requires_grad_(False)
    return params


class DistillObjective:
    """``loss_fn(student, batch) -> (loss, {scalar: value})`` for :class:`tinybert.train.Trainer`.

    ``loss`` sums the spec's terms in order, each times its weight (a weight of 1 is not multiplied); the scalars are
    the unweighted terms under their registered names (``att_loss``, ``rep_loss``, ``cls_loss``, ``hard_loss``).
    ``batch`` holds ``input_ids``, ``attention_mask``, ``token_type_ids`` (and ``labels``, ``index`` for task data);
    ``student`` is a (possibly DDP-wrapped) :class:`tinybert.models.student.TinyBertStudent`. With
    ``spec.cache_teacher_logits`` the recipe sets :attr:`logits_cache` (rows looked up by the batch's ``index``)
    before training.
    """

    def __init__(self, teacher: nn.Module | None, spec: DistillSpec) -> None:
        self.teacher = frozen(teacher) if teacher is not None else None  # eval mode, no gradients
        self.spec = spec
        self.terms = [(term, loss_def(term.name)) for term in spec.terms]
        for term, definition in self.terms:
            try:
                inspect.signature(definition.fn).bind(None, **term.options)
            except TypeError as e:
                raise UserError(f"loss term {term.name!r}: options {term.options} do not fit ({e})") from None
        scalar_names = [d.scalar for _, d in self.terms]
        if len(set(scalar_names)) != len(scalar_names):
            raise ValueError(f"two terms of the spec log under the same name: {scalar_names}")
        teacher_needs = set().union(*(d.teacher for _, d in self.terms))
        student_needs = set().union(*(d.student for _, d in self.terms))
        att, hid = spec.layer_map.of_kind("attention"), spec.layer_map.of_kind("hidden")
        self.teacher_scores: Any = sorted({m.teacher for m in att}) if att and "scores" in teacher_needs else False
        self.teacher_hidden = bool(hid) and "hidden" in teacher_needs
        self.teacher_logits = "logits" in teacher_needs
        self.student_scores: Any = sorted({m.student for m in att}) if att and "scores" in student_needs else False
        self.student_hidden: Any = sorted({m.student for m in hid}) if hid and "hidden" in student_needs else False
        self.student_logits = "logits" in student_needs
        self.logits_cache: torch.Tensor | None = None
        if self.teacher_each_step and teacher is None:
            raise ValueError("this distillation spec runs the teacher at every step: pass one")

    @property
    def teacher_each_step(self) -> bool:
        """Whether the teacher runs at every step (not when all it gives is cached logits)."""
        return bool(self.teacher_scores) or self.teacher_hidden or (
            self.teacher_logits and not self.spec.cache_teacher_logits)

    def teacher_outputs(self, batch: Mapping[str, torch.Tensor]):
        """The teacher's pass over ``batch`` (None when no term needs one)."""
        logits = self.teacher_logits and self.logits_cache is None
        if not (self.teacher_scores or self.teacher_hidden or logits):
            return None
        if logits and self.spec.cache_teacher_logits:
            raise RuntimeError("the spec caches the teacher's logits: set logits_cache before training")
        with torch.inference_mode():
            return distill_forward(self.teacher, batch["input_ids"], batch.get("attention_mask"),
                                   batch.get("token_type_ids"), scores=self.teacher_scores,
                                   hidden=self.teacher_hidden, logits=logits)

    def __call__(self, student: nn.Module, batch: Mapping[str, torch.Tensor]):
        teacher = self.teacher_outputs(batch)
        teacher_logits = None
        if self.logits_cache is not None:
            teacher_logits = self.logits_cache[batch["index"]]
        elif self.teacher_logits:
            teacher_logits = teacher.logits.float().clone()  # a normal tensor, usable as a loss target
        outputs = student(batch["input_ids"], batch.get("attention_mask"), batch.get("token_type_ids"),
                          scores=self.student_scores, hidden=self.student_hidden, logits=self.student_logits)
        inputs = TermInputs(batch, outputs, teacher, teacher_logits, self.spec.layer_map)
        loss, scalars = None, {}
        for term, definition in self.terms:
            value = definition.fn(inputs, **term.options)
            scalars[definition.scalar] = value.detach()
            weighted = value if term.weight == 1 else term.weight * value
            loss = weighted if loss is None else loss + weighted
        return loss, scalars


__all__ = ["FREEZE", "DistillObjective", "freeze_untrained"]
