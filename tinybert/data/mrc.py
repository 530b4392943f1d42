"""Extractive reading comprehension data: SQuAD v1.1 / CMRC2018 JSON (same layout; SQuAD v2 unanswerable questions
handled), windows over long contexts, and the n-best answer search that turns start/end logits into
``predictions.json`` and ``nbest_predictions.json``.

Layout: ``{"data": [{"paragraphs": [{"context", "qas": [{"id", "question", "answers": [{"text",
"answer_start"}], "is_impossible"?}]}]}]}``. The context is tokenised with character offsets (Chinese text is not
whitespace-split: the tokenizer cuts each Chinese character apart and the offsets map pieces back to characters), so
an answer's characters map onto pieces and a predicted span of pieces maps back onto the exact context text.

A feature is ``[CLS] question [SEP] window of the context [SEP]``; windows start every ``doc_stride`` context pieces
(the original BERT flag: the step between windows) and a piece seen by several windows is answered only by the one
where it has the most context (:mod:`tinybert.data.windows`). In training, a window that does not hold the whole
answer (or an unanswerable question) points start and end at ``[CLS]`` (position 0).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinybert.data.windows import max_context_owner, window_starts
from tinybert.errors import UserError, require_file

PREDICTIONS = "predictions.json"
NBEST_PREDICTIONS = "nbest_predictions.json"


@dataclass
class MrcExample:
    qid: str
    question: str
    context: str
    answers: list[tuple[str, int]]  # (text, answer_start)
    is_impossible: bool = False


@dataclass
class MrcFeatures:
    """Model inputs of every window (``arrays``: ``input_ids``, ``attention_mask``, ``token_type_ids``,
    ``start_positions``, ``end_positions``, ``lengths``) and what the answer search needs per window: the example it
    belongs to, each position's character span in the context (-1 outside the context) and whether the window
    answers for that position."""

    arrays: dict[str, np.ndarray]
    example: np.ndarray  # (n,) example index
    offsets: np.ndarray  # (n, L, 2) character [start, end) or -1
    max_context: np.ndarray  # (n, L) bool
    examples: list[MrcExample] = field(default_factory=list)


def read_mrc_file(path: str, check_answers: bool = True) -> list[MrcExample]:
    """Questions of a SQuAD/CMRC2018 JSON file; bad input named by file and question id. ``check_answers``
    False skips the ``answer_start`` check (the metrics use only the answer texts)."""
    require_file(path, "reading-comprehension file")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise UserError.at(path, f"not JSON ({e.msg})", line=e.lineno) from None
    except UnicodeDecodeError as e:
        raise UserError.at(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise UserError.at(path, 'expected SQuAD/CMRC2018 layout {"data": [{"paragraphs": [{"context", "qas"}]}]}')
    examples: list[MrcExample] = []
    seen: set[str] = set()
    for article in data["data"]:
        for paragraph in article.get("paragraphs", []):
            context = paragraph.get("context")
            for qa in paragraph.get("qas", []):
                qid = str(qa.get("id", "")).strip()
                where = f"{path}: question {qid!r}"
                if not qid:
                    raise UserError.at(path, f"a question has no id (question {qa.get('question', '')[:30]!r})")
                if qid in seen:
                    raise UserError(f"{where}: the id is used twice")
                seen.add(qid)
                if not isinstance(context, str) or not context.strip():
                    raise UserError(f"{where}: its paragraph has an empty context")
                question = qa.get("question")
                if not isinstance(question, str) or not question.strip():
                    raise UserError(f"{where}: empty question")
                answers = []
                for answer in qa.get("answers", []):
                    text, start = answer.get("text"), answer.get("answer_start")
                    if not isinstance(text, str) or not isinstance(start, int):
                        raise UserError(f"{where}: an answer needs 'text' and an integer 'answer_start'")
                    if check_answers and context[start:start + len(text)] != text:
                        found = context[max(start, 0):max(start, 0) + len(text)]
                        raise UserError(f"{where}: answer {text!r} does not match the context at answer_start "
                                        f"{start} (found {found!r})")
                    answers.append((text, start))
                impossible = bool(qa.get("is_impossible", False)) or not answers
                examples.append(MrcExample(qid, question.strip(), context, answers, impossible))
    if not examples:
        raise UserError.at(path, "holds no questions")
    return examples


def references(examples: Sequence[MrcExample]) -> dict[str, list[str]]:
    """{question id: reference answer texts} (what the metrics compare with)."""
    return {ex.qid: [text for text, _ in ex.answers] for ex in examples}


def encode_mrc(examples: Sequence[MrcExample], tokenizer: Any, max_seq_length: int = 384, doc_stride: int = 128,
               max_query_length: int = 64) -> MrcFeatures:
    """Windows of every example (see the module docstring). The stride is cut to the window when larger."""
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    questions = tokenizer([ex.question for ex in examples], add_special_tokens=False)["input_ids"]
    contexts = tokenizer([ex.context for ex in examples], add_special_tokens=False, return_offsets_mapping=True)
    rows = []
    for k, ex in enumerate(examples):
        q_ids = questions[k][:max_query_length]
        c_ids, c_off = contexts["input_ids"][k], contexts["offset_mapping"][k]
        capacity = max_seq_length - len(q_ids) - 3
        if capacity < 1:
            raise UserError.of_field("max_seq_length", f"{max_seq_length} leaves no room for the context after "
                                                       f"question {ex.qid!r} ({len(q_ids)} pieces)")
        span = _answer_span(ex, c_off) if ex.answers and not ex.is_impossible else None
        starts = window_starts(len(c_ids), capacity, min(doc_stride, capacity))
        owner = max_context_owner(len(c_ids), capacity, starts)
        lead = len(q_ids) + 2
        for w, start in enumerate(starts):
            stop = min(start + capacity, len(c_ids))
            ids = [cls_id, *q_ids, sep_id, *c_ids[start:stop], sep_id]
            offsets = [(-1, -1)] * lead + [tuple(o) for o in c_off[start:stop]] + [(-1, -1)]
            best = [False] * lead + [owner[p] == w for p in range(start, stop)] + [False]
            answer = (0, 0)
            if span is not None and start <= span[0] and span[1] < stop:
                answer = (lead + span[0] - start, lead + span[1] - start)
            rows.append((k, ids, lead, offsets, best, answer))
    n = len(rows)
    arrays = {key: np.zeros((n, max_seq_length), dtype=np.int64)
              for key in ("input_ids", "attention_mask", "token_type_ids")}
    arrays["input_ids"][:] = tokenizer.pad_token_id or 0
    arrays["start_positions"] = np.zeros(n, dtype=np.int64)
    arrays["end_positions"] = np.zeros(n, dtype=np.int64)
    example = np.zeros(n, dtype=np.int64)
    offsets = np.full((n, max_seq_length, 2), -1, dtype=np.int64)
    max_context = np.zeros((n, max_seq_length), dtype=bool)
    for r, (k, ids, lead, offs, best, answer) in enumerate(rows):
        arrays["input_ids"][r, :len(ids)] = ids
        arrays["attention_mask"][r, :len(ids)] = 1
        arrays["token_type_ids"][r, lead:len(ids)] = 1
        arrays["start_positions"][r], arrays["end_positions"][r] = answer
        example[r] = k
        offsets[r, :len(ids)] = offs
        max_context[r, :len(ids)] = best
    arrays["lengths"] = arrays["attention_mask"].sum(axis=1).astype(np.int64)
    return MrcFeatures(arrays, example, offsets, max_context, list(examples))


def _answer_span(ex: MrcExample, offsets: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """First and last context piece covering the first answer's characters (None if no piece does)."""
    text, begin = ex.answers[0]
    end = begin + len(text)
    pieces = [i for i, (s, e) in enumerate(offsets) if e > begin and s < end and e > s]
    return (pieces[0], pieces[-1]) if pieces else None


def _softmax(scores: list[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [x / total for x in exps]


def best_answers(features: MrcFeatures, start_logits: np.ndarray, end_logits: np.ndarray, n_best_size: int = 20,
                 max_answer_length: int = 30, version_2_with_negative: bool = False,
                 null_score_diff_threshold: float = 0.0) -> tuple[dict[str, str], dict[str, list[dict[str, Any]]]]:
    """The n-best answer search: for every example, the best ``n_best_size`` (start, end) pairs of each of its
    windows with both ends in the context, the start in a position the window answers for, ``end >= start`` and
    at most ``max_answer_length`` pieces, ranked by start + end logit. Returns ({id: answer text}, {id: n-best
    list of {text, probability, start_logit, end_logit}}). With ``version_2_with_negative`` the answer is "" when
    the best [CLS] score beats the best span by more than ``null_score_diff_threshold``."""
    by_example: dict[int, list[int]] = {}
    for r, k in enumerate(features.example.tolist()):
        by_example.setdefault(k, []).append(r)
    predictions: dict[str, str] = {}
    nbest: dict[str, list[dict[str, Any]]] = {}
    for k, ex in enumerate(features.examples):
        candidates: list[tuple[float, float, float, str]] = []
        null_score = None
        for r in by_example.get(k, []):
            starts, ends, offs = start_logits[r], end_logits[r], features.offsets[r]
            null = float(starts[0] + ends[0])
            null_score = null if null_score is None else min(null_score, null)
            valid = np.nonzero(offs[:, 0] >= 0)[0]
            top_starts = valid[np.argsort(-starts[valid], kind="stable")[:n_best_size]]
            top_ends = valid[np.argsort(-ends[valid], kind="stable")[:n_best_size]]
            for s in top_starts.tolist():
                if not features.max_context[r, s]:
                    continue
                for e in top_ends.tolist():
                    if e < s or e - s + 1 > max_answer_length:
                        continue
                    text = ex.context[int(offs[s, 0]):int(offs[e, 1])]
                    candidates.append((float(starts[s] + ends[e]), float(starts[s]), float(ends[e]), text))
        candidates.sort(key=lambda c: -c[0])
        chosen, texts = [], set()
        for cand in candidates:
            if cand[3] not in texts:
                texts.add(cand[3])
                chosen.append(cand)
            if len(chosen) == n_best_size:
                break
        if version_2_with_negative and null_score is not None:
            chosen.append((null_score, null_score, 0.0, ""))  # the null answer takes part in the probabilities
            chosen.sort(key=lambda c: -c[0])
        if not chosen:
            chosen = [(0.0, 0.0, 0.0, "")]
        probs = _softmax([c[0] for c in chosen])
        nbest[ex.qid] = [{"text": c[3], "probability": p, "start_logit": c[1], "end_logit": c[2]}
                         for c, p in zip(chosen, probs, strict=True)]
        best_span = next((c for c in chosen if c[3]), None)
        if best_span is None:
            predictions[ex.qid] = ""
        elif version_2_with_negative and null_score is not None:
            predictions[ex.qid] = "" if null_score - best_span[0] > null_score_diff_threshold else best_span[3]
        else:
            predictions[ex.qid] = best_span[3]
    return predictions, nbest


def write_predictions(directory: str, predictions: Mapping[str, str], nbest: Mapping[str, Any],
                      prefix: str = "") -> tuple[str, str]:
    """``predictions.json`` ({id: text}) and ``nbest_predictions.json`` in ``directory`` (atomically)."""
    from tinybert.utils.io import atomic_open

    paths = []
    for name, obj in ((PREDICTIONS, predictions), (NBEST_PREDICTIONS, nbest)):
        path = os.path.join(directory, prefix + name)
        with atomic_open(path, "w") as f:
            json.dump(obj, f, ensure_ascii=False, indent=2)
            f.write("\n")
        paths.append(path)
    return paths[0], paths[1]


def read_predictions(path: str) -> dict[str, Any]:
    """A ``predictions.json`` ({question id: answer text})."""
    from tinybert.utils.io import read_json

    return read_json(require_file(path, "predictions file"), expect=dict,
                     what='a JSON object {"question id": "answer text"}')
