"""Entity-level precision, recall and F1 of tag sequences, as ``seqeval`` computes them.

- Default mode (``strict=False``): seqeval's ``get_entities`` / conlleval chunking. A chunk starts at ``B-`` or
  ``S-``, at an ``I-``/``E-`` after ``O`` or after an ``E-``/``S-``, and at any change of type; it ends before the
  next start, at ``O``, or after ``E-``/``S-``. So an ``I-X`` that no ``B-X`` opened starts an entity of type X.
- Strict mode (``strict=True``, seqeval's ``mode="strict", scheme=IOBES``, the usual choice for BIOES): only
  well-formed entities count: ``S-X``, or ``B-X`` followed by ``I-X``... and closed by ``E-X``; anything else
  (a ``B-X`` never closed, a stray ``I-X`` or ``E-X``) is no entity.
- BMES tags (``M-`` for inside) are read as BIOES (``M-`` = ``I-``).

Precision, recall and F1 are micro-averaged over entities (an entity counts when type, start and end all match);
per-type scores come with their support (number of gold entities). No torch here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

Entity = tuple[str, int, int]  # (type, first token, last token), inclusive


def split_tag(tag: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``; ``M-`` is returned as ``I``."""
    if tag == "O" or not tag:
        return "O", ""
    prefix, _, kind = tag.partition("-")
    if prefix == "M":
        prefix = "I"
    return prefix, kind


def _end_of_chunk(prev_tag: str, tag: str, prev_type: str, kind: str) -> bool:
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag != "O" and prev_type != kind


def _start_of_chunk(prev_tag: str, tag: str, prev_type: str, kind: str) -> bool:
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag != "O" and prev_type != kind


def get_entities(tags: Sequence[str]) -> list[Entity]:
    """Entities of one tag sequence in seqeval's default (conlleval) reading."""
    chunks: list[Entity] = []
    prev_tag, prev_type, begin = "O", "", 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, kind = split_tag(tag)
        if _end_of_chunk(prev_tag, prefix, prev_type, kind):
            chunks.append((prev_type, begin, i - 1))
        if _start_of_chunk(prev_tag, prefix, prev_type, kind):
            begin = i
        prev_tag, prev_type = prefix, kind
    return chunks


def get_entities_strict(tags: Sequence[str]) -> list[Entity]:
    """Well-formed BIOES entities only (seqeval strict mode with the IOBES scheme)."""
    parts = [split_tag(t) for t in tags]
    entities: list[Entity] = []
    i = 0
    while i < len(parts):
        prefix, kind = parts[i]
        if prefix == "S":
            entities.append((kind, i, i))
            i += 1
        elif prefix == "B":
            j = i + 1
            while j < len(parts) and parts[j] == ("I", kind):
                j += 1
            if j < len(parts) and parts[j] == ("E", kind):
                entities.append((kind, i, j))
                i = j + 1
            else:
                i = j
        else:
            i += 1
    return entities


def is_bioes(tag_sets: Iterable[str]) -> bool:
    """Whether a label set uses end/single tags (BIOES or BMES)."""
    return any(split_tag(t)[0] in ("E", "S") for t in tag_sets)


def _prf(correct: int, predicted: int, gold: int) -> tuple[float, float, float]:
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def entity_scores(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]],
                  strict: bool = False) -> dict[str, float]:
    """Micro precision/recall/F1 over entities of sentences ``gold`` vs ``pred`` plus per type
    ``f1_<TYPE>``, ``precision_<TYPE>``, ``recall_<TYPE>``, ``support_<TYPE>`` (the gold entity count)."""
    if len(gold) != len(pred):
        raise ValueError(f"{len(gold)} gold sentences but {len(pred)} predicted")
    extract = get_entities_strict if strict else get_entities
    correct: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    for k, (g_tags, p_tags) in enumerate(zip(gold, pred, strict=True)):
        if len(g_tags) != len(p_tags):
            raise ValueError(f"sentence {k}: {len(g_tags)} gold tags but {len(p_tags)} predicted")
        g_set, p_set = set(extract(g_tags)), set(extract(p_tags))
        n_gold.update(e[0] for e in g_set)
        n_pred.update(e[0] for e in p_set)
        correct.update(e[0] for e in g_set & p_set)
    precision, recall, f1 = _prf(sum(correct.values()), sum(n_pred.values()), sum(n_gold.values()))
    result = {"precision": precision, "recall": recall, "f1": f1}
    for kind in sorted(set(n_gold) | set(n_pred)):
        p, r, f = _prf(correct[kind], n_pred[kind], n_gold[kind])
        result.update({f"precision_{kind}": p, f"recall_{kind}": r, f"f1_{kind}": f,
                       f"support_{kind}": float(n_gold[kind])})
    return result


def token_accuracy(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> float:
    """Share of tokens whose tag is right (reported beside entity F1; a trivial all-``O`` tagger scores high here)."""
    total = sum(len(g) for g in gold)
    right = sum(a == b for g, p in zip(gold, pred, strict=True) for a, b in zip(g, p, strict=True))
    return right / total if total else 0.0
