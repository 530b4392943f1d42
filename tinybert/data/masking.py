"""The masked-LM masking kernel, shared by instance generation (:mod:`tinybert.data.pretraining`) and by the reader
of pregenerated data (:mod:`tinybert.data.shards`, dynamic masking): which positions are predicted, and what they
become. Only numpy; neither of those modules is imported here.
"""

from __future__ import annotations

import numpy as np

from tinybert.errors import UserError


def instance_offsets(lengths: np.ndarray) -> np.ndarray:
    """``[0, l0, l0+l1, ...]`` (int64)."""
    out = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def mask_batch(ids: np.ndarray, lengths: np.ndarray, specials: np.ndarray, word_start: np.ndarray | None, *,
               masked_lm_prob: float, max_predictions: int, mask_id: int, random_ids: np.ndarray,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mask a batch of instances given as concatenated ``ids`` with ``lengths``.

    Returns (masked ids, predictions per instance, positions within each instance (sorted per instance), the original
    ids there). Instance ``i`` predicts ``min(max_predictions, max(1, round(len_i * masked_lm_prob)))`` positions
    taken in random order among its non-``specials`` tokens; with ``word_start`` (whole-word masking) the units are
    words (a start token and the continuation tokens after it), taken whole or skipped when they would exceed the
    budget, as BERT does. Each chosen position becomes [MASK] (80%), keeps its token (10%) or becomes a random id from
    ``random_ids`` (10%). The random numbers come from ``rng``, drawn for the whole batch.
    """
    keys = np.zeros(len(ids))
    if word_start is None:
        keys[:] = rng.random(len(ids))
    else:
        heads = _word_heads(specials, word_start)
        keys[heads] = rng.random(len(heads))
    idx = _choose(lengths, specials, word_start, keys, masked_lm_prob, max_predictions)
    choice = rng.random(len(idx))
    replacement = rng.integers(0, len(random_ids), size=len(idx))
    return _apply(ids, lengths, idx, choice, random_ids[replacement], mask_id)


def mask_with_draws(ids: np.ndarray, lengths: np.ndarray, specials: np.ndarray, word_start: np.ndarray | None, *,
                    masked_lm_prob: float, max_predictions: int, mask_id: int, random_ids: np.ndarray,
                    draws: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`mask_batch` with the random numbers given per token: ``draws`` is (3, len(ids)) float64 in [0, 1)
    (the order key, the [MASK]/keep/random choice, the random replacement), so every token's masking depends on
    its own draws only (a document's instances mask the same whatever batch they are in)."""
    keys = draws[0] if word_start is None else np.where(_head_mask(specials, word_start), draws[0], 0.0)
    idx = _choose(lengths, specials, word_start, keys, masked_lm_prob, max_predictions)
    replacement = np.minimum((draws[2][idx] * len(random_ids)).astype(np.int64), len(random_ids) - 1)
    return _apply(ids, lengths, idx, draws[1][idx], random_ids[replacement], mask_id)


def _head_mask(specials: np.ndarray, word_start: np.ndarray) -> np.ndarray:
    """Tokens that start a maskable word: a non-special token flagged as a word start or following a special."""
    prev_special = np.ones(len(specials), bool)
    prev_special[1:] = specials[:-1]
    return ~specials & (word_start | prev_special)


def _word_heads(specials: np.ndarray, word_start: np.ndarray) -> np.ndarray:
    return np.flatnonzero(_head_mask(specials, word_start))


def _choose(lengths: np.ndarray, specials: np.ndarray, word_start: np.ndarray | None, keys: np.ndarray,
            masked_lm_prob: float, max_predictions: int) -> np.ndarray:
    """The positions to predict (indices into the concatenated tokens): per instance, candidates (tokens, or words
    with ``word_start``) in the order of their ``keys`` in [0, 1) (a word's key is its first token's)."""
    total, n_inst = len(specials), len(lengths)
    off = instance_offsets(lengths)
    inst_of = np.repeat(np.arange(n_inst), lengths)
    num = np.minimum(max_predictions, np.maximum(1, np.round(lengths * masked_lm_prob).astype(np.int64)))
    if word_start is None:
        keys = keys * 0.5
        keys[specials] = 0.75  # after every candidate of the instance
        order = np.argsort(keys + inst_of, kind="stable")
        rank = np.arange(total) - off[inst_of[order]]
        chosen = np.zeros(total, bool)
        chosen[order] = (rank < num[inst_of[order]]) & ~specials[order]
        return np.flatnonzero(chosen)
    heads = _word_heads(specials, word_start)
    is_head = np.zeros(total, bool)
    is_head[heads] = True
    group = np.cumsum(is_head) - 1  # the word of every token (specials: ignored)
    sizes = np.bincount(group[~specials], minlength=len(heads)).tolist()
    g_inst = inst_of[heads]
    order = np.argsort(keys[heads] * 0.5 + g_inst, kind="stable")
    g_off = np.searchsorted(g_inst[order], np.arange(n_inst + 1)).tolist()
    order_l, num_l = order.tolist(), num.tolist()
    take = np.zeros(len(heads), bool)
    for i in range(n_inst):
        budget, used = num_l[i], 0
        for g in order_l[g_off[i]:g_off[i + 1]]:
            if used >= budget:
                break
            if used + sizes[g] <= budget:
                take[g] = True
                used += sizes[g]
    return np.flatnonzero(~specials & take[np.maximum(group, 0)] & (group >= 0))


def _apply(ids: np.ndarray, lengths: np.ndarray, idx: np.ndarray, choice: np.ndarray, replacement: np.ndarray,
           mask_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """[MASK] where ``choice < 0.8``, the token itself below 0.9, else ``replacement``."""
    off = instance_offsets(lengths)
    inst_of = np.repeat(np.arange(len(lengths)), lengths)
    labels = ids[idx].copy()
    out = ids.copy()
    out[idx] = np.where(choice < 0.8, mask_id, np.where(choice < 0.9, labels, replacement))
    counts = np.bincount(inst_of[idx], minlength=len(lengths))
    return out, counts, idx - off[inst_of[idx]], labels


def special_ids(vocab: dict[str, int]) -> dict[str, int]:
    missing = [s for s in ("[PAD]", "[CLS]", "[SEP]", "[MASK]") if s not in vocab]
    if missing:
        raise UserError(f"the vocabulary lacks {', '.join(missing)}; use a BERT WordPiece vocab.txt")
    return {s: vocab[s] for s in ("[PAD]", "[CLS]", "[SEP]", "[MASK]")}


def replacement_ids(vocab: dict[str, int]) -> np.ndarray:
    """Ids a masked position may be replaced with at random: every token except bracketed specials."""
    ids = [i for t, i in vocab.items() if not (t.startswith("[") and t.endswith("]"))]
    return np.array(sorted(ids) or sorted(vocab.values()), dtype=np.int32)
