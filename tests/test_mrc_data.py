"""Reading comprehension: the official CMRC2018 / SQuAD v1.1 metrics on hand-worked examples and against a second,
simpler implementation on random strings; SQuAD/CMRC JSON reading and its errors; windows over long contexts with
answers mapped through character offsets; the n-best search; ``tinybert mrc-eval``."""

from __future__ import annotations

import itertools
import json
import random
import re
import string

import numpy as np
import pytest

from tinybert.data import mrc
from tinybert.errors import UserError
from tinybert.metrics_mrc import (
    CMRC_PUNCTUATION,
    cmrc_em,
    cmrc_f1,
    mixed_segmentation,
    score_predictions,
    squad_em,
    squad_f1,
)

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def tokenizer(tmp_path, text: str):
    from tinybert.models.tokenizer import load_tokenizer

    chars = sorted({c for c in text if not c.isspace()})
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(SPECIAL + chars + ["iphone", "plus"]) + "\n", encoding="utf-8")
    return load_tokenizer(str(path), do_lower_case=True)


def squad_file(path, paragraphs: list[tuple[str, list[tuple[str, str, list[tuple[str, int]]]]]]) -> str:
    data = {"version": "v1.0", "data": [{"title": "t", "paragraphs": [
        {"context": context, "qas": [{"id": qid, "question": q,
                                      "answers": [{"text": t, "answer_start": s} for t, s in answers]}
                                     for qid, q, answers in qas]} for context, qas in paragraphs]}]}
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return str(path)


# ----------------------------------------------------------------------------------------------------- metrics


def test_cmrc_metric_hand_worked():
    assert mixed_segmentation("iPhone 6 Plus发布于2014年。") == ["iphone", "6", "plus", "发", "布", "于", "2014",
                                                                 "年", "。"]
    assert mixed_segmentation("《红楼梦》", remove_punctuation=True) == ["红", "楼", "梦"]
    assert cmrc_f1("北京大学", "北京大学。") == 1.0 and cmrc_em("北京大学", "北京大学。") == 1.0
    assert cmrc_f1("1998年", "1998") == pytest.approx(2 / 3) and cmrc_em("1998年", "1998") == 0.0  # P 1, R 1/2
    assert cmrc_f1("中国人民银行", "人民银行行长") == pytest.approx(2 / 3)  # LCS 人民银行: P = R = 4/6
    assert cmrc_f1("iPhone 6 Plus", "iphone 6") == pytest.approx(0.8)  # LCS 2 words: P 1, R 2/3
    assert cmrc_f1("红楼梦", "水浒传") == 0.0 and cmrc_em("《红楼梦》", "红楼梦") == 1.0
    # max over the references; unanswered questions score 0 and count in the total
    refs = {"q1": ["张三", "张三丰"], "q2": ["1998年"], "q3": ["北京"]}
    scores = score_predictions(refs, {"q1": "张三丰", "q2": "1998"}, "zh", warn=False)
    assert scores["EM"] == pytest.approx(100 / 3) and scores["F1"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert scores["TOTAL"] == 3 and scores["SKIP"] == 1
    assert scores["AVERAGE"] == pytest.approx((scores["EM"] + scores["F1"]) / 2)
    # an unanswerable question (no references): the empty answer is right
    assert score_predictions({"q": []}, {"q": ""}, "zh")["EM"] == 100.0


def test_squad_metric_hand_worked():
    assert squad_em("the Eiffel Tower", "Eiffel Tower!") == 1.0 and squad_f1("the Eiffel Tower", "Eiffel Tower!") == 1
    assert squad_f1("Denver Broncos", "the Broncos of Denver") == pytest.approx(0.8)  # 2 common: P 2/3, R 1
    assert squad_em("1,000", "1000") == 1.0 and squad_f1("Broncos", "Panthers") == 0.0
    scores = score_predictions({"a": ["Denver Broncos", "Broncos"], "b": ["x"]}, {"a": "the Broncos of Denver"},
                               "en", warn=False)
    assert scores["F1"] == pytest.approx(100 * 0.8 / 2) and scores["EM"] == 0.0  # max(0.8, 0.5) for a


# a second, simple implementation of each metric for a randomised comparison


def simple_cmrc_segments(text: str) -> list[str]:
    text = text.lower().strip()
    kept = [c for c in text if c not in CMRC_PUNCTUATION]
    out: list[str] = []
    for alone, group in itertools.groupby(kept, key=lambda c: "\u4e00" <= c <= "\u9fa5"):
        if alone:
            out.extend(group)
        else:
            out.extend(re.findall(r"\w+(?:[.,']\w+)*|[^\w\s]", "".join(group)))
    return out


def simple_cmrc_f1(answer: str, prediction: str) -> float:
    a, p = simple_cmrc_segments(answer), simple_cmrc_segments(prediction)
    if not a or not p:
        return float(a == p)
    longest = max((j - i for i in range(len(a)) for j in range(i + 1, len(a) + 1)
                   if any(p[k:k + j - i] == a[i:j] for k in range(len(p)))), default=0)
    if not longest:
        return 0.0
    return 2 * (longest / len(p)) * (longest / len(a)) / (longest / len(p) + longest / len(a))


def simple_squad_f1(answer: str, prediction: str) -> float:
    def norm(s: str) -> list[str]:
        s = "".join(c for c in s.lower() if c not in string.punctuation)
        return [w for w in s.split() if w not in ("a", "an", "the")]

    a, p = norm(answer), norm(prediction)
    if not a or not p:
        return float(a == p)
    rest, same = list(a), 0
    for w in p:
        if w in rest:
            rest.remove(w)
            same += 1
    return 0.0 if not same else 2 * same / (len(a) + len(p))


def test_metrics_match_a_simple_implementation_on_random_strings():
    rng = random.Random(0)
    zh = list("北京大学中国人民银行年月日的是在") + list("，。：？！“”《》、（）-/") + list("ab 12.,") + [" "]
    en = ["the", "a", "an", "Denver", "broncos", "won", "1,000", "cat's", "!", ",", ".", "-", "x"]
    for _ in range(600):
        a = "".join(rng.choice(zh) for _ in range(rng.randint(0, 12)))
        p = "".join(rng.choice(zh) for _ in range(rng.randint(0, 12)))
        if rng.random() < 0.3:
            p = a[rng.randint(0, len(a)):] + p[:3]
        assert cmrc_f1(a, p) == pytest.approx(simple_cmrc_f1(a, p)), (a, p)
        ea = " ".join(rng.choice(en) for _ in range(rng.randint(0, 6)))
        ep = " ".join(rng.choice(en) for _ in range(rng.randint(0, 6)))
        assert squad_f1(ea, ep) == pytest.approx(simple_squad_f1(ea, ep)), (ea, ep)


# ----------------------------------------------------------------------------------------------------- data


CONTEXT = "中国人民银行成立于1948年12月1日，总部设在北京。它是中华人民共和国的中央银行。"


def test_reading_and_errors(tmp_path):
    path = squad_file(tmp_path / "ok.json", [(CONTEXT, [("q1", "中国人民银行成立于哪一年？", [("1948年", 9)]),
                                                         ("q2", "总部在哪里？", [("北京", 24)])])])
    examples = mrc.read_mrc_file(path)
    assert [e.qid for e in examples] == ["q1", "q2"] and examples[1].answers == [("北京", 24)]
    bad = squad_file(tmp_path / "bad.json", [(CONTEXT, [("q9", "总部在哪里？", [("北京", 20)])])])
    with pytest.raises(UserError, match=r"bad.json: question 'q9': answer '北京' does not match the context at "
                                        r"answer_start 20"):
        mrc.read_mrc_file(bad)
    assert mrc.read_mrc_file(bad, check_answers=False)[0].qid == "q9"
    empty = squad_file(tmp_path / "empty.json", [("  ", [("q3", "问题？", [])])])
    with pytest.raises(UserError, match=r"empty.json: question 'q3': its paragraph has an empty context"):
        mrc.read_mrc_file(empty)
    (tmp_path / "layout.json").write_text('{"paragraphs": []}', encoding="utf-8")
    with pytest.raises(UserError, match="expected SQuAD/CMRC2018 layout"):
        mrc.read_mrc_file(str(tmp_path / "layout.json"))


@pytest.mark.parametrize(("max_len", "stride"), [(64, 128), (20, 4), (16, 3)])
def test_windows_map_answers_through_offsets(tmp_path, max_len, stride):
    question = "总部在哪里？"
    path = squad_file(tmp_path / "d.json", [(CONTEXT, [("q", question, [("北京", 24)]),
                                                        ("q0", "哪一年？", [("1948年", 9)])])])
    examples = mrc.read_mrc_file(path)
    tok = tokenizer(tmp_path, CONTEXT + question + "哪一年？")
    feats = mrc.encode_mrc(examples, tok, max_seq_length=max_len, doc_stride=stride, max_query_length=8)
    arrays = feats.arrays
    assert (arrays["lengths"] <= max_len).all()
    for r in range(len(feats.example)):
        ex = examples[feats.example[r]]
        s, e = arrays["start_positions"][r], arrays["end_positions"][r]
        if s:  # the window holds the answer: its pieces give back the answer's exact characters
            assert ex.context[feats.offsets[r, s, 0]:feats.offsets[r, e, 1]] == ex.answers[0][0]
    # every context piece is answered for by exactly one window
    for k, ex in enumerate(examples):
        rows = np.nonzero(feats.example == k)[0]
        owned = sorted(int(feats.offsets[r, p, 0]) for r in rows for p in np.nonzero(feats.max_context[r])[0])
        pieces = tok(ex.context, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        assert owned == [begin for begin, _ in pieces]
    # the n-best search finds the answer from logits peaked at the gold positions
    start = np.full(arrays["input_ids"].shape, -5.0)
    end = np.full(arrays["input_ids"].shape, -5.0)
    for r in range(len(feats.example)):
        start[r, arrays["start_positions"][r]] += 10
        end[r, arrays["end_positions"][r]] += 10
    preds, nbest = mrc.best_answers(feats, start, end, n_best_size=5, max_answer_length=10)
    assert preds == {"q": "北京", "q0": "1948年"}
    assert nbest["q"][0]["text"] == "北京" and sum(x["probability"] for x in nbest["q"]) == pytest.approx(1.0)
    assert len({x["text"] for x in nbest["q"]}) == len(nbest["q"]) <= 5


def test_max_answer_length_and_unanswerable(tmp_path):
    path = squad_file(tmp_path / "d.json", [(CONTEXT, [("q", "哪一年？", [("1948年", 9)])])])
    examples = mrc.read_mrc_file(path)
    tok = tokenizer(tmp_path, CONTEXT + "哪一年？")
    feats = mrc.encode_mrc(examples, tok, max_seq_length=64)
    start = np.zeros(feats.arrays["input_ids"].shape)
    end = np.zeros(feats.arrays["input_ids"].shape)
    s = int(feats.arrays["start_positions"][0])
    start[0, s], end[0, s + 8] = 9, 9  # a 9-piece span is the best ...
    end[0, s + 1] = 5  # ... a 2-piece span the next
    offs = feats.offsets[0]
    assert mrc.best_answers(feats, start, end, max_answer_length=9)[0]["q"] == CONTEXT[offs[s, 0]:offs[s + 8, 1]]
    assert mrc.best_answers(feats, start, end, max_answer_length=3)[0]["q"] == "1948年"  # pieces 1948 and 年
    start[0, 0], end[0, 0] = 20, 20  # [CLS] wins: unanswerable when SQuAD v2 answers are allowed
    assert mrc.best_answers(feats, start, end, version_2_with_negative=True)[0]["q"] == ""
    assert mrc.best_answers(feats, start, end)[0]["q"] != ""


def test_mrc_eval_command(tmp_path, capsys):
    from tinybert.cli import main

    path = squad_file(tmp_path / "dev.json", [(CONTEXT, [("q1", "哪一年？", [("1948年", 9)]),
                                                          ("q2", "总部在哪里？", [("北京", 24), ("北京。", 24)])])])
    preds = tmp_path / "predictions.json"
    preds.write_text(json.dumps({"q1": "1948", "q2": "北京"}, ensure_ascii=False), encoding="utf-8")
    metric = tmp_path / "metric.txt"
    assert main(["mrc-eval", path, str(preds), str(metric)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # q1: F1 2/3 (1948 vs 1948 年), EM 0; q2: 1 and 1 -> F1 83.333, EM 50, AVERAGE 66.667
    assert printed == {"AVERAGE": "66.667", "F1": "83.333", "EM": "50.000", "TOTAL": 2, "SKIP": 0,
                       "FILE": str(preds)}
    assert json.loads(metric.read_text(encoding="utf-8")) == printed
    assert main(["mrc-eval", path, str(preds), "--language", "en"]) == 0
    assert json.loads(capsys.readouterr().out.strip()) == {"exact_match": 50.0, "f1": 50.0}


FIXTURE = __import__("pathlib").Path(__file__).parent / "fixtures" / "cmrc2018_small.json"


def test_hand_written_cmrc_fixture_scored_by_hand(tmp_path, capsys):
    """tests/fixtures/cmrc2018_small.json: 13 questions in CMRC2018 layout; 5 answered by hand-made predictions."""
    from tinybert.cli import main

    examples = mrc.read_mrc_file(str(FIXTURE))
    assert len(examples) == 13 and examples[0].qid == "TRAIN_1_QUERY_0"
    preds = {"TRAIN_1_QUERY_0": "北京",  # EM 1, F1 1
             "TRAIN_1_QUERY_1": "华北平原的北部",  # LCS 4 of 7 and 4 tokens: F1 8/11
             "TRAIN_2_QUERY_1": "1931年",  # tokens 1931 年 of 1931 年 11 月: F1 2/3
             "TRAIN_4_QUERY_0": "曹雪芹。",  # punctuation dropped: EM 1, F1 1
             "TRAIN_5_QUERY_0": "迈向充满希望的新世纪"}  # the reference's 《》 dropped: EM 1, F1 1
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps(preds, ensure_ascii=False), encoding="utf-8")
    assert main(["mrc-eval", str(FIXTURE), str(path), "--language", "zh"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    em, f1 = 100 * 3 / 13, 100 * (3 + 8 / 11 + 2 / 3) / 13
    assert out == {"AVERAGE": f"{(em + f1) / 2:.3f}", "F1": f"{f1:.3f}", "EM": f"{em:.3f}", "TOTAL": 13,
                   "SKIP": 8, "FILE": str(path)}
    tok = tokenizer(tmp_path, "".join(e.context + e.question for e in examples))
    feats = mrc.encode_mrc(examples, tok, max_seq_length=48, doc_stride=16, max_query_length=16)
    for r in range(len(feats.example)):
        s, e = feats.arrays["start_positions"][r], feats.arrays["end_positions"][r]
        ex = examples[feats.example[r]]
        if s:
            assert ex.context[feats.offsets[r, s, 0]:feats.offsets[r, e, 1]] == ex.answers[0][0]
