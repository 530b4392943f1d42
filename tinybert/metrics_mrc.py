"""The official reading-comprehension metrics: CMRC2018 (Chinese) and SQuAD v1.1 (English). No torch here.

CMRC2018 (``cmrc2018_evaluate.py`` v5): the text is lower-cased and cut into a *mixed segmentation*: every Chinese
character (U+4E00..U+9FA5) and every mark of the script's punctuation list is a token of its own, runs of other
text are split into words. F1 is the longest common substring of the two token lists (punctuation dropped first)
against the lengths of both; EM compares the strings with that punctuation removed; each is the maximum over the
reference answers, averaged over all questions (unanswered ones score 0) and given in percent, with
``AVERAGE = (EM + F1) / 2``.

The official script splits the runs of other text with ``nltk.word_tokenize``; nltk is not a dependency here, so
:func:`word_tokenize` is a small stand-in: words (letters, digits, ``_``) with inner ``.``, ``,`` or ``'`` kept
whole (``3.5``, ``1,000``, ``U.S``), every other mark its own token. Scores differ from the official ones only on
English runs nltk splits differently (e.g. ``don't``), which CMRC answers rarely contain.

SQuAD v1.1 (``evaluate-v1.1.py``): lower case, punctuation (``string.punctuation``) and the articles a/an/the
removed, whitespace normalised; EM on the normalised strings, F1 on their bag of tokens.

A question with no reference answers (SQuAD v2 style, unanswerable) is scored as SQuAD v2 scores it: the empty
string is the one reference, and an empty prediction gets EM 1 and F1 1.
"""

from __future__ import annotations

import re
import string
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

CMRC_PUNCTUATION = frozenset(["-", ":", "_", "*", "^", "/", "\\", "~", "`", "+", "=", "，", "。", "：", "？", "！",
                              "“", "”", "；", "’", "《", "》", "……", "·", "、", "「", "」", "（", "）", "－", "～",
                              "『", "』"])
_CJK = re.compile(r"[\u4e00-\u9fa5]")
_WORD = re.compile(r"\w+(?:[.,']\w+)*|[^\w\s]")


def word_tokenize(text: str) -> list[str]:
    """Stand-in for ``nltk.word_tokenize`` on the non-Chinese runs (see the module docstring)."""
    return _WORD.findall(text)


def mixed_segmentation(text: str, remove_punctuation: bool = False) -> list[str]:
    """CMRC2018's tokens: each Chinese character or punctuation mark alone, other runs split into words."""
    text = str(text).lower().strip()
    segments: list[str] = []
    run = ""
    for char in text:
        if remove_punctuation and char in CMRC_PUNCTUATION:
            continue
        if _CJK.search(char) or char in CMRC_PUNCTUATION:
            if run:
                segments.extend(word_tokenize(run))
                run = ""
            segments.append(char)
        else:
            run += char
    if run:
        segments.extend(word_tokenize(run))
    return segments


def remove_punctuation(text: str) -> str:
    return "".join(c for c in str(text).lower().strip() if c not in CMRC_PUNCTUATION)


def longest_common_substring(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common contiguous run of two token lists (dynamic programming, one row)."""
    best = 0
    row = [0] * (len(b) + 1)
    for x in a:
        prev_diag = 0
        for j, y in enumerate(b, 1):
            here = row[j]
            row[j] = prev_diag + 1 if x == y else 0
            best = max(best, row[j])
            prev_diag = here
    return best


def cmrc_f1(answer: str, prediction: str) -> float:
    ans, pred = mixed_segmentation(answer, True), mixed_segmentation(prediction, True)
    if not ans or not pred:
        return float(ans == pred)
    common = longest_common_substring(ans, pred)
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ans)
    return 2 * precision * recall / (precision + recall)


def cmrc_em(answer: str, prediction: str) -> float:
    return float(remove_punctuation(answer) == remove_punctuation(prediction))


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = str(text).lower()
    text = "".join(c for c in text if c not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_f1(answer: str, prediction: str) -> float:
    pred, gold = normalize_answer(prediction).split(), normalize_answer(answer).split()
    if not pred or not gold:
        return float(pred == gold)
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def squad_em(answer: str, prediction: str) -> float:
    return float(normalize_answer(answer) == normalize_answer(prediction))


METRICS: dict[str, tuple[Callable[[str, str], float], Callable[[str, str], float]]] = {
    "zh": (cmrc_em, cmrc_f1),
    "en": (squad_em, squad_f1),
}


def is_chinese(texts: Sequence[str]) -> bool:
    """Whether a set of texts is mostly Chinese (picks the CMRC metric for ``language="auto"``)."""
    sample = "".join(texts[:200])
    return bool(sample) and len(_CJK.findall(sample)) * 5 >= len(sample.replace(" ", ""))


def score_predictions(references: Mapping[str, Sequence[str]], predictions: Mapping[str, Any],
                      language: str = "zh", warn: bool = True) -> dict[str, float]:
    """EM, F1 (percent, max over the references, unanswered questions 0) and AVERAGE over ``references``
    ({question id: [answer texts]}); ``TOTAL`` questions and ``SKIP`` (unanswered)."""
    em_fn, f1_fn = METRICS[language]
    em = f1 = 0.0
    skipped = 0
    for qid, answers in references.items():
        if qid not in predictions:
            skipped += 1
            if warn:
                print(f"Unanswered question: {qid}", file=sys.stderr)
            continue
        prediction = str(predictions[qid])
        golds = list(answers) or [""]
        em += max(em_fn(a, prediction) for a in golds)
        f1 += max(f1_fn(a, prediction) for a in golds)
    total = len(references)
    em_score, f1_score = (100.0 * em / total, 100.0 * f1 / total) if total else (0.0, 0.0)
    return {"AVERAGE": (em_score + f1_score) / 2, "F1": f1_score, "EM": em_score, "TOTAL": total, "SKIP": skipped}


def official_result(scores: Mapping[str, float], language: str, prediction_file: str) -> dict[str, Any]:
    """What the official script prints: CMRC2018 ``{"AVERAGE", "F1", "EM"}`` (3 decimals, as strings) with
    ``TOTAL``, ``SKIP`` and ``FILE``; SQuAD v1.1 ``{"exact_match", "f1"}``."""
    if language == "en":
        return {"exact_match": scores["EM"], "f1": scores["F1"]}
    return {"AVERAGE": f"{scores['AVERAGE']:.3f}", "F1": f"{scores['F1']:.3f}", "EM": f"{scores['EM']:.3f}",
            "TOTAL": int(scores["TOTAL"]), "SKIP": int(scores["SKIP"]), "FILE": prediction_file}
