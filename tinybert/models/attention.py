"""Our attention implementation for transformers models, registered as ``tinybert`` (``AttentionInterface``).

It serves two callers: the distillation view (:mod:`tinybert.models.view`), which wants the pre-softmax scores of
some layers (recorded in the :data:`SCORE_SINK` of the call), and CPU training (:func:`fast_cpu_dropout`), which wants
training-time attention computed eagerly with the fast dropout of :mod:`tinybert.models.dropout` instead of SDPA's
unfused math fallback. Every other layer and call goes through PyTorch's fused SDPA.

Both the view and the training loop import this module (it imports only the dropout kernels), so neither imports
the other.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator, Sequence

import torch
from torch import nn

from tinybert.models.dropout import FastDropout, dropout_before_matmul

ATTN_NAME = "tinybert"


class ScoreSink:
    """Per-call record of the pre-softmax scores of the wanted layers."""

    def __init__(self, num_layers: int, wanted: Sequence[int] | None) -> None:
        self.scores: list[torch.Tensor | None] = [None] * num_layers
        self.wanted = set(range(num_layers)) if wanted is None else set(wanted)


SCORE_SINK: contextvars.ContextVar[ScoreSink | None] = contextvars.ContextVar("tinybert_score_sink", default=None)


def _eager(module, query, key, value, attention_mask, scaling=None, dropout=0.0):
    """Attention computed step by step: (output, pre-softmax scores, probabilities before dropout)."""
    scale = scaling if scaling is not None else query.size(-1) ** -0.5
    scores = torch.matmul(query * scale, key.transpose(2, 3))  # scaling the (T, d) query, not the (T, T) scores
    if attention_mask is not None:
        scores.add_(attention_mask[:, :, :, : key.shape[-2]])  # in place: the matmul's backward needs no output
    probs = nn.functional.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    out = dropout_before_matmul(probs, value, dropout, training=module.training).transpose(1, 2).contiguous()
    return out, scores, probs


def tinybert_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Attention function registered as ``tinybert``: eager with score capture where wanted; eager with our fast
    dropout when training on CPU (where SDPA would take its unfused math path anyway); fused SDPA elsewhere."""
    sink = SCORE_SINK.get()
    layer = getattr(module, "layer_idx", None)
    if sink is not None and layer is not None and layer in sink.wanted:
        out, scores, probs = _eager(module, query, key, value, attention_mask, scaling, dropout)
        sink.scores[layer] = scores
        return out, probs
    if module.training and dropout > 0 and query.device.type == "cpu":
        out, _, probs = _eager(module, query, key, value, attention_mask, scaling, dropout)
        return out, probs
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    kwargs.pop("encoder_hidden_states", None)
    return sdpa_attention_forward(module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs)


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(ATTN_NAME, tinybert_attention)
    AttentionMaskInterface.register(ATTN_NAME, eager_mask)


_register()


@contextlib.contextmanager
def fast_cpu_dropout(model: nn.Module) -> Iterator[int]:
    """For the duration of the block: every ``nn.Dropout`` of ``model`` is a :class:`FastDropout`, and a
    transformers model on the ``sdpa`` attention implementation uses ours (``tinybert``), which computes training-time
    attention eagerly with this dropout on CPU (PyTorch's SDPA falls back to its unfused math path for dropout on CPU
    anyway) and calls SDPA otherwise. Yields how many dropout modules were switched; restores everything on exit."""
    switched = [m for m in model.modules() if type(m) is nn.Dropout]
    for m in switched:
        m.__class__ = FastDropout
    config = getattr(model, "config", None)
    previous = getattr(config, "_attn_implementation", None)
    if previous == "sdpa":
        config._attn_implementation = ATTN_NAME
    try:
        yield len(switched)
    finally:
        for m in switched:
            m.__class__ = nn.Dropout
        if previous == "sdpa":
            config._attn_implementation = previous



__all__ = ["ATTN_NAME", "SCORE_SINK", "ScoreSink", "fast_cpu_dropout", "tinybert_attention"]
