"""Map a model's vocabulary-sized tensors onto a new vocabulary (continued pretraining on a domain vocab).

Rows of tokens present in both vocabularies are copied; rows of new tokens are drawn from
``normal(0, initializer_range)`` (BERT's initialisation) with a seeded generator; an MLM output bias gets 0 for new
tokens; a decoder weight tied to the embeddings is set to the new embedding.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tinybert.errors import UserError

EMBEDDING_SUFFIX = "embeddings.word_embeddings.weight"
BIAS_SUFFIXES = ("cls.predictions.bias", "cls.predictions.decoder.bias", "lm_head.bias")
DECODER_SUFFIXES = ("cls.predictions.decoder.weight",)


@dataclass
class VocabAdaptation:
    """The adapted state dict and what changed."""

    state_dict: dict[str, Any]
    embedding: Any  # the new word-embedding tensor, (len(new_tokens), hidden)
    kept: int  # tokens whose rows were copied
    added: int  # tokens initialised afresh
    adapted_keys: list[str] = field(default_factory=list)


def _index(tokens: Sequence[str], what: str) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, t in enumerate(tokens):
        if t in index:
            raise UserError(f"the {what} vocabulary repeats token {t!r} (rows {index[t]} and {i}); fix the vocab.txt")
        index[t] = i
    return index


def adapt_vocab(state_dict: Mapping[str, Any], old_tokens: Sequence[str], new_tokens: Sequence[str], *,
                initializer_range: float = 0.02, seed: int = 0) -> VocabAdaptation:
    """Return a copy of ``state_dict`` whose vocabulary-sized tensors follow ``new_tokens`` instead of ``old_tokens``.

    Works on any BERT-family state dict (keys ``bert.*``, ``nezha.*`` or bare): the word embedding is the key ending in
    ``embeddings.word_embeddings.weight``; MLM biases (``cls.predictions.bias`` / ``decoder.bias``) and an untied
    decoder weight are adapted too when present.
    """
    import torch

    old_index = _index(old_tokens, "old")
    _index(new_tokens, "new")
    emb_keys = [k for k in state_dict if k.endswith(EMBEDDING_SUFFIX)]
    if len(emb_keys) != 1:
        raise UserError(f"expected one word-embedding tensor (*.{EMBEDDING_SUFFIX}) in the checkpoint, "
                        f"found {len(emb_keys)}")
    emb_key = emb_keys[0]
    old = state_dict[emb_key]
    if old.shape[0] != len(old_tokens):
        raise UserError(f"the checkpoint's embedding has {old.shape[0]} rows but the old vocabulary has "
                        f"{len(old_tokens)} tokens; pass the model's own vocab.txt as the old vocabulary")
    src = torch.tensor([old_index.get(t, -1) for t in new_tokens], dtype=torch.long)
    keep = src >= 0
    gen = torch.Generator().manual_seed(seed)
    new = torch.empty((len(new_tokens), old.shape[1]), dtype=torch.float32)
    new.normal_(0.0, initializer_range, generator=gen)
    new = new.to(old.dtype)
    new[keep] = old[src[keep]]
    out = dict(state_dict)
    out[emb_key] = new
    adapted = [emb_key]
    for k, v in state_dict.items():
        if k == emb_key or not hasattr(v, "shape") or not v.shape or v.shape[0] != len(old_tokens):
            continue
        if k.endswith(BIAS_SUFFIXES) and v.dim() == 1:
            b = torch.zeros(len(new_tokens), dtype=v.dtype)
            b[keep] = v[src[keep]]
            out[k] = b
            adapted.append(k)
        elif k.endswith(DECODER_SUFFIXES) and v.dim() == 2:
            tied = v.data_ptr() == old.data_ptr() or torch.equal(v, old)
            if tied:
                out[k] = new
            else:
                w = torch.empty((len(new_tokens), v.shape[1]), dtype=torch.float32)
                w.normal_(0.0, initializer_range, generator=gen)
                w = w.to(v.dtype)
                w[keep] = v[src[keep]]
                out[k] = w
            adapted.append(k)
    n_keep = int(keep.sum())
    return VocabAdaptation(out, new, n_keep, len(new_tokens) - n_keep, adapted)
