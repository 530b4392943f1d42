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
    ``random_ids`` (10%).
    """
    total, n_inst = len(ids), len(lengths)
    off = instance_offsets(lengths)
    inst_of = np.repeat(np.arange(n_inst), lengths)
    num = np.minimum(max_predictions, np.maximum(1, np.round(lengths * masked_lm_prob).astype(np.int64)))
    chosen = np.zeros(total, bool)
    if word_start is None:
        keys = rng.random(total) * 0.5
        keys[specials] = 0.75  # after every candidate of the instance
        order = np.argsort(keys + inst_of, kind="stable")
        rank = np.arange(total) - off[inst_of[order]]
        chosen[order] = (rank < num[inst_of[order]]) & ~specials[order]
    else:
        prev_special = np.ones(total, bool)
        prev_special[1:] = specials[:-1]
        heads = np.flatnonzero(~specials & (word_start | prev_special))
        is_head = np.zeros(total, bool)
        is_head[heads] = True
        group = np.cumsum(is_head) - 1  # the word of every token (specials: ignored)
        sizes = np.bincount(group[~specials], minlength=len(heads)).tolist()
        g_inst = inst_of[heads]
        order = np.argsort(rng.random(len(heads)) * 0.5 + g_inst, kind="stable")
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
        chosen = ~specials & take[np.maximum(group, 0)] & (group >= 0)
    idx = np.flatnonzero(chosen)
    labels = ids[idx].copy()
    r = rng.random(len(idx))
    repl = random_ids[rng.integers(0, len(random_ids), size=len(idx))]
    out = ids.copy()
    out[idx] = np.where(r < 0.8, mask_id, np.where(r < 0.9, labels, repl))
    counts = np.bincount(inst_of[idx], minlength=n_inst)
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
