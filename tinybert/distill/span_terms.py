"""Stage-2 loss terms of token-level (NER) and span (reading comprehension) distillation, as registry entries
(:mod:`tinybert.distill.terms`), and the stage-2 presets that use them. Stage 1 is TinyBERT's, unchanged
(:func:`tinybert.distill.spec.task_stage1`: attention scores and hidden states, no head).

- ``token_soft_ce``: soft cross-entropy of the student's per-token label distribution against the teacher's at a
  temperature, over the real tokens' first pieces only (the positions that carry a label: ``labels != -100``);
  summed over labels, averaged over those tokens. ``token_hard_ce``: the gold-label loss on the same positions.
- ``span_soft_ce``: soft cross-entropy of the student's start distribution against the teacher's, and of the end
  distributions, over each window's real positions (padding excluded), averaged over windows; the term is the mean
  of the two. ``span_hard_ce``: BERT's gold start/end loss.

Logits have the shape of the window: (batch, length, labels) for tokens, (batch, length, 2) = start and end for
spans. Teacher logits cached per window (``max_seq_length`` long) are cut to the batch's length here.
"""

from __future__ import annotations

import torch

from tinybert.distill.losses import soft_cross_entropy
from tinybert.distill.spec import DistillSpec, LossTerm
from tinybert.distill.terms import TermInputs, register_loss
from tinybert.span_eval import span_loss, token_loss

IGNORE_INDEX = -100
MASKED = -1e4  # a finite "minus infinity" for padded positions (0 * -inf would be nan)


def _teacher(inputs: TermInputs) -> torch.Tensor:
    length = inputs.student.logits.shape[1]
    return inputs.teacher_logits[:, :length].float()


@register_loss("token_soft_ce", scalar="cls_loss", teacher=("logits",), student=("logits",))
def token_soft_ce_term(inputs: TermInputs, temperature: float = 1.0) -> torch.Tensor:
    """Per-token soft cross-entropy over the labelled first pieces (0 when a batch has none)."""
    student = inputs.student.logits
    real = inputs.batch["labels"] != IGNORE_INDEX
    if not bool(real.any()):
        return student.sum() * 0.0
    return soft_cross_entropy(student[real], _teacher(inputs)[real], temperature)


@register_loss("token_hard_ce", scalar="hard_loss", student=("logits",))
def token_hard_ce_term(inputs: TermInputs) -> torch.Tensor:
    return token_loss(inputs.student.logits, inputs.batch["labels"])


@register_loss("span_soft_ce", scalar="cls_loss", teacher=("logits",), student=("logits",))
def span_soft_ce_term(inputs: TermInputs, temperature: float = 1.0) -> torch.Tensor:
    """Mean of the start and end soft cross-entropies over each window's real positions."""
    student, teacher = inputs.student.logits.float(), _teacher(inputs)
    padding = ~inputs.batch["attention_mask"].bool()
    total = student.new_zeros(())
    for side in (0, 1):
        total = total + soft_cross_entropy(student[..., side].masked_fill(padding, MASKED),
                                           teacher[..., side].masked_fill(padding, MASKED), temperature)
    return total / 2


@register_loss("span_hard_ce", scalar="hard_loss", student=("logits",))
def span_hard_ce_term(inputs: TermInputs) -> torch.Tensor:
    logits = inputs.student.logits
    return span_loss(logits[..., 0], logits[..., 1], inputs.batch["start_positions"], inputs.batch["end_positions"])


def span_stage2(kind: str, temperature: float = 1.0, hard_label_weight: float = 0.0,
                cache_teacher_logits: bool = True) -> DistillSpec:
    """Stage 2 of ``kind`` ``"token"`` (NER) or ``"span"`` (reading comprehension): the soft term alone, or
    ``(1 - w) * soft + w * hard`` with ``hard_label_weight`` w; everything but the projections trains; the best
    student on dev is published."""
    from tinybert.config.base import check_positive, check_range

    check_positive("temperature", temperature)
    check_range("hard_label_weight", hard_label_weight, 0.0, 1.0)
    soft = LossTerm(f"{kind}_soft_ce", options={"temperature": temperature})
    terms = [soft]
    if hard_label_weight:
        soft.weight = 1 - hard_label_weight
        terms.append(LossTerm(f"{kind}_hard_ce", weight=hard_label_weight))
    return DistillSpec(terms=terms, trainable="all but projections", cache_teacher_logits=cache_teacher_logits,
                       evaluator="dev", publish="best")


__all__ = ["span_stage2"]
