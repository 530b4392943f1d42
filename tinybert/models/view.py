"""The distillation view: one forward pass giving what TinyBERT's losses compare, for teachers and students alike.

``distill_forward(model, ...)`` returns the embedding output, all L+1 hidden states, the L pre-softmax attention
score tensors (QK^T/sqrt(d) plus the additive mask; NEZHA's relative-position term included) and the logits, each
only when asked for.

How the scores are captured: transformers' own ``attentions`` are post-softmax, so for BERT-family models we register
an attention function (``AttentionInterface``) named ``tinybert`` and switch the model to it for the duration of the
call. For the layers whose scores are wanted it computes attention eagerly and records the scores; every other layer
goes through PyTorch's fused SDPA kernel, so a 12-layer teacher distilled into a 4-layer student materialises only 4
score tensors. NEZHA (ours) exposes a ``score_sink`` list on each self-attention module instead.

The additive mask is transformers' (0 for real keys, the dtype's most negative value for padding); the TinyBERT
attention loss zeroes every score at or below -100 on both sides, so the mask's exact value never reaches a loss.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from tinybert.models.attention import ATTN_NAME, SCORE_SINK, ScoreSink


@dataclass
class DistillOutputs:
    """What one forward pass of the distillation view gives; fields not asked for are ``None``."""

    hidden_states: tuple[torch.Tensor, ...] | None = None  # L+1 tensors (B, T, H); [0] is the embedding output
    attention_scores: tuple[torch.Tensor | None, ...] | None = None  # L tensors (B, heads, T, T), pre-softmax
    logits: torch.Tensor | None = None

    @property
    def embedding(self) -> torch.Tensor | None:
        return None if self.hidden_states is None else self.hidden_states[0]


def _is_nezha(model: nn.Module) -> bool:
    return getattr(getattr(model, "config", None), "model_type", None) == "nezha"


def base_model(model: nn.Module) -> nn.Module:
    """The encoder of a model with or without a task head (``model.bert``, ``model.nezha`` or the model itself)."""
    return getattr(model, "base_model", model)


def num_layers(model: nn.Module) -> int:
    return int(model.config.num_hidden_layers)


@contextlib.contextmanager
def _capture_scores(model: nn.Module, sink: ScoreSink) -> Iterator[None]:
    if _is_nezha(model):
        attn_modules = [layer.attention.self for layer in base_model(model).encoder.layer]
        for i, m in enumerate(attn_modules):
            m.score_sink = [] if i in sink.wanted else None
        try:
            yield
        finally:
            for i, m in enumerate(attn_modules):
                if m.score_sink:
                    sink.scores[i] = m.score_sink[-1]
                m.score_sink = None
        return
    config = model.config
    previous = config._attn_implementation
    config._attn_implementation = ATTN_NAME
    token = SCORE_SINK.set(sink)
    try:
        yield
    finally:
        SCORE_SINK.reset(token)
        config._attn_implementation = previous


def distill_forward(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    token_type_ids: torch.Tensor | None = None,
    *,
    scores: bool | Sequence[int] = False,
    hidden: bool = False,
    logits: bool = False,
) -> DistillOutputs:
    """Run ``model`` once and return the parts TinyBERT distillation compares.

    ``scores`` is False, True (every layer) or the 0-based layer indices whose pre-softmax scores are wanted.
    Without ``logits`` only the encoder runs (no task head). The caller chooses grad mode: a teacher should be
    called in eval mode under ``torch.inference_mode()``.
    """
    wanted = None if scores is True else ([] if scores is False else list(scores))
    sink = ScoreSink(num_layers(model), wanted) if scores is not False else None
    target = model if logits else base_model(model)
    kwargs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
    if hidden:
        kwargs["output_hidden_states"] = True
    ctx = _capture_scores(model, sink) if sink is not None else contextlib.nullcontext()
    with ctx:
        out = target(**kwargs)
    return DistillOutputs(
        hidden_states=tuple(out.hidden_states) if hidden else None,
        attention_scores=tuple(sink.scores) if sink is not None else None,
        logits=head_logits(out) if logits else None,
    )


def head_logits(out) -> torch.Tensor:
    """A head's logits: ``out.logits``, or for a span head (question answering) its start and end logits stacked
    on a last axis, (batch, length, 2)."""
    if getattr(out, "logits", None) is None and getattr(out, "start_logits", None) is not None:
        return torch.stack((out.start_logits, out.end_logits), dim=-1)
    return out.logits


def frozen(model: nn.Module) -> nn.Module:
    """Make ``model`` a teacher: eval mode (no dropout), no gradients. Call it under ``torch.inference_mode()``."""
    model.eval()
    model.requires_grad_(False)
    return model
