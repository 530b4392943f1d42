"""NER data: each format read and written back, subword alignment, windows reassembling every token exactly once,
entity metrics on hand-worked examples (seqeval's definitions), bad input naming file:line."""

from __future__ import annotations

import json
import logging
import os
import random

import numpy as np
import pytest

from tinybert.data import ner
from tinybert.errors import UserError
from tinybert.metrics_ner import entity_scores, get_entities, get_entities_strict

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CHARS = list(dict.fromkeys("北京上海人民日报江泽李鹏新华社记者在今天的说中国"))
WORDS = ["eu", "rejects", "german", "call", "to", "boycott", "british", "lamb", "peter", "##burn",
         "black", "."]


def tokenizer(tmp_path):
    from tinybert.models.tokenizer import load_tokenizer

    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(SPECIAL + CHARS + WORDS) + "\n", encoding="utf-8")
    return load_tokenizer(str(path), do_lower_case=True)


def write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


CHAR_BIO = "江 B-PER\n泽 I-PER\n民 I-PER\n在 O\n北 B-LOC\n京 I-LOC\n\n新 B-ORG\n华 I-ORG\n社 I-ORG\n记 O\n者 O\n"
CONLL = ("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\ncall NN I-NP O\n\n"
         "Peter NNP B-NP B-PER\nBlackburn NNP I-NP I-PER\n\n-DOCSTART- -X- -X- O\n\nBritish JJ B-NP B-MISC\n"
         "lamb NN I-NP O\n. . O O\n")
CLUENER = (json.dumps({"text": "新华社记者在北京", "label": {"organization": {"新华社": [[0, 2]]},
                                                      "address": {"北京": [[6, 7]]}}}, ensure_ascii=False) + "\n" +
           json.dumps({"text": "今天", "label": {}}, ensure_ascii=False) + "\n")
JSONL = (json.dumps({"tokens": ["EU", "rejects", "German", "call"], "tags": ["S-ORG", "O", "S-MISC", "O"]}) + "\n" +
         json.dumps({"tokens": ["Peter", "Blackburn"], "tags": ["B-PER", "E-PER"]}) + "\n")


# ----------------------------------------------------------------------------------------------------- formats


@pytest.mark.parametrize(("name", "text", "fmt"), [("a.txt", CHAR_BIO, "char"), ("b.txt", CONLL, "conll"),
                                                   ("c.json", CLUENER, "cluener"), ("d.jsonl", JSONL, "jsonl")])
def test_each_format_reads_and_writes_back_unchanged(tmp_path, name, text, fmt):
    path = write(tmp_path / name, text)
    data = ner.read_ner_file(path)
    assert data.format == fmt and data.labelled and data.repaired == 0
    out = str(tmp_path / ("out_" + name))
    ner.write_ner_file(out, data, [s.tags for s in data.sentences])
    if fmt == "cluener":  # same records (key order of the label dict may differ)
        read = [json.loads(x) for x in open(out, encoding="utf-8")]
        assert read == [json.loads(x) for x in text.splitlines()]
    else:
        assert open(out, encoding="utf-8").read() == text
    again = ner.read_ner_file(out)
    assert [s.tags for s in again.sentences] == [s.tags for s in data.sentences]


def test_formats_give_tokens_and_tags(tmp_path):
    char = ner.read_ner_file(write(tmp_path / "a.txt", CHAR_BIO))
    assert char.sentences[0].tokens == list("江泽民在北京") and char.sentences[1].tags[0] == "B-ORG"
    conll = ner.read_ner_file(write(tmp_path / "b.txt", CONLL))
    assert [s.tokens for s in conll.sentences][1] == ["Peter", "Blackburn"] and len(conll.sentences) == 3
    assert conll.sentences[1].line == 8  # 1-based line of its first token
    clue = ner.read_ner_file(write(tmp_path / "c.json", CLUENER))
    assert clue.sentences[0].tags == ["B-organization", "I-organization", "I-organization", "O", "O", "O",
                                      "B-address", "I-address"]
    assert ner.label_list([char]) == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def test_predictions_written_in_the_inputs_format(tmp_path):
    conll = ner.read_ner_file(write(tmp_path / "b.txt", CONLL))
    new = [["O"] * len(s.tokens) for s in conll.sentences]
    new[1] = ["B-PER", "I-PER"]
    ner.write_ner_file(str(tmp_path / "p.txt"), conll, new)
    lines = open(tmp_path / "p.txt", encoding="utf-8").read().splitlines()
    assert lines[0] == "-DOCSTART- -X- -X- O" and lines[2] == "EU NNP B-NP O" and lines[7] == "Peter NNP B-NP B-PER"
    clue = ner.read_ner_file(write(tmp_path / "c.json", CLUENER))
    ner.write_ner_file(str(tmp_path / "p.json"), clue, [["B-LOC", "I-LOC"] + ["O"] * 6, ["O", "O"]])
    first = json.loads(open(tmp_path / "p.json", encoding="utf-8").readline())
    assert first["label"] == {"LOC": {"新华": [[0, 1]]}} and first["text"] == "新华社记者在北京"
    # an unlabelled test file (one column) gets its tags appended
    test = ner.read_ner_file(write(tmp_path / "t.txt", "北\n京\n\n人\n"))
    assert not test.labelled
    ner.write_ner_file(str(tmp_path / "tp.txt"), test, [["B-LOC", "I-LOC"], ["O"]])
    assert open(tmp_path / "tp.txt", encoding="utf-8").read() == "北 B-LOC\n京 I-LOC\n\n人 O\n"


# ----------------------------------------------------------------------------------------------------- bad input


def test_bad_input_names_file_and_line(tmp_path):
    path = write(tmp_path / "bad.txt", "江 B-PER\n泽 I-PER O\n")
    with pytest.raises(UserError, match=r"bad.txt:2: .*token/tag count mismatch"):
        ner.read_ner_file(path)
    path = write(tmp_path / "bad.jsonl", JSONL + json.dumps({"tokens": ["a", "b"], "tags": ["O"]}) + "\n")
    with pytest.raises(UserError, match=r"bad.jsonl:3: 2 tokens but 1 tags"):
        ner.read_ner_file(path)
    path = write(tmp_path / "bad.json", json.dumps({"text": "北京", "label": {"LOC": {"北京": [[0, 2]]}}}) + "\n")
    with pytest.raises(UserError, match=r"bad.json:1: LOC '北京' at \[0, 2\]"):
        ner.read_ner_file(path)
    path = write(tmp_path / "tag.txt", "江 X-PER\n")
    with pytest.raises(UserError, match=r"tag.txt:1: tag 'X-PER'"):
        ner.read_ner_file(path)
    dev = ner.read_ner_file(write(tmp_path / "dev.txt", "北 O\n\n京 B-GPE\n"))
    with pytest.raises(UserError, match=r"dev.txt:3: label 'B-GPE' is not among the labels"):
        ner.check_labels(dev, {"O": 0, "B-LOC": 1})


def test_i_tag_of_a_type_never_opened_is_repaired_and_counted(tmp_path, caplog):
    path = write(tmp_path / "r.txt", "a O\nb I-PER\nc I-PER\nd B-LOC\ne I-PER\n")
    with caplog.at_level(logging.WARNING):
        data = ner.read_ner_file(path)
    assert data.sentences[0].tags == ["O", "B-PER", "I-PER", "B-LOC", "B-PER"] and data.repaired == 2
    assert "2 I- tags" in caplog.text and "r.txt:1" in caplog.text
    # the repair is exactly seqeval's reading of the original tags
    original = ["O", "I-PER", "I-PER", "B-LOC", "I-PER"]
    assert get_entities(original) == get_entities(data.sentences[0].tags)


# ----------------------------------------------------------------------------------------------------- encoding


def test_first_piece_carries_the_label(tmp_path):
    tok = tokenizer(tmp_path)
    sentence = ner.NerSentence(["peter", "blackburn", "\u200b", "eu"], ["B-PER", "I-PER", "O", "B-ORG"], 1)
    label2id = {"O": 0, "B-PER": 1, "I-PER": 2, "B-ORG": 3}
    feats = ner.encode_ner([sentence], tok, label2id, max_seq_length=16)
    ids = feats["input_ids"][0, :feats["lengths"][0]].tolist()
    pieces = tok.convert_ids_to_tokens(ids)
    assert pieces == ["[CLS]", "peter", "black", "##burn", "[UNK]", "eu", "[SEP]"]  # a piece-less token is [UNK]
    assert feats["labels"][0, :7].tolist() == [-100, 1, 2, -100, 0, 3, -100]
    assert feats["word_index"][0, :7].tolist() == [-1, 0, 1, -1, 2, 3, -1]


@pytest.mark.parametrize(("max_len", "stride"), [(5, 1), (5, 3), (6, 2), (7, 5), (12, 4), (40, 8)])
def test_windows_reassemble_every_token_exactly_once(tmp_path, max_len, stride):
    tok = tokenizer(tmp_path)
    rng = random.Random(max_len * 31 + stride)
    vocab = CHARS + ["blackburn", "peter"]
    lengths = [rng.randint(1, 30) for _ in range(25)]
    sentences = [ner.NerSentence([rng.choice(vocab) for _ in range(n)], ["O"] * n, 1) for n in lengths]
    feats = ner.encode_ner(sentences, tok, {"O": 0}, max_seq_length=max_len, stride=min(stride, max_len - 2))
    assert feats["input_ids"].shape[1] == max_len and (feats["lengths"] <= max_len).all()
    # a "prediction" per position: 10 x the token index the window says it answers for
    predicted = [np.where(feats["word_index"][r] >= 0, feats["word_index"][r] * 10, 0)
                 for r in range(len(feats["sentence"]))]
    out = ner.assemble(feats, predicted, [len(s.tokens) for s in sentences])
    assert out == [[10 * j for j in range(len(s.tokens))] for s in sentences]
    # every first piece of every window is labelled for training (none lost at the window edges)
    assert (feats["labels"] >= 0).sum() >= sum(len(s.tokens) for s in sentences)


def test_stride_larger_than_the_window_is_refused(tmp_path):
    with pytest.raises(UserError, match="doc_stride must be at most"):
        ner.encode_ner([ner.NerSentence(["北"], None, 1)], tokenizer(tmp_path), {"O": 0}, 6, stride=5)


# ----------------------------------------------------------------------------------------------------- metrics


def test_entities_seqeval_default_mode():
    # seqeval's own docstring example and conlleval's reading of irregular sequences
    assert get_entities(["B-PER", "I-PER", "O", "B-LOC"]) == [("PER", 0, 1), ("LOC", 3, 3)]
    assert get_entities(["I-PER", "I-PER", "B-PER", "I-LOC"]) == [("PER", 0, 1), ("PER", 2, 2), ("LOC", 3, 3)]
    assert get_entities(["B-PER", "E-PER", "E-PER", "S-LOC", "I-LOC"]) == [
        ("PER", 0, 1), ("PER", 2, 2), ("LOC", 3, 3), ("LOC", 4, 4)]
    assert get_entities(["B-PER", "M-PER", "E-PER"]) == [("PER", 0, 2)]  # BMES


def test_entities_strict_bioes():
    tags = ["B-PER", "I-PER", "E-PER", "S-LOC", "B-ORG", "I-ORG", "O", "I-PER", "E-PER", "B-LOC", "E-ORG"]
    assert get_entities_strict(tags) == [("PER", 0, 2), ("LOC", 3, 3)]
    assert get_entities_strict(["B-PER", "E-PER", "E-PER"]) == [("PER", 0, 1)]
    assert get_entities_strict(["B-PER", "M-PER", "E-PER", "S-PER"]) == [("PER", 0, 2), ("PER", 3, 3)]


def test_entity_scores_hand_worked():
    # seqeval README example: precision 0.5, recall 0.5, f1 0.5; MISC f1 0 (1 gold), PER f1 1 (1 gold)
    gold = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    scores = entity_scores(gold, pred)
    assert scores["precision"] == 0.5 and scores["recall"] == 0.5 and scores["f1"] == 0.5
    assert scores["f1_MISC"] == 0.0 and scores["f1_PER"] == 1.0 and scores["support_MISC"] == 1.0
    # 3 gold, 4 predicted, 2 right: P 1/2, R 2/3, F1 = 2*(1/2)(2/3)/(1/2+2/3) = 4/7
    gold = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG"]]
    pred = [["B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "B-ORG"]]
    scores = entity_scores(gold, pred)
    assert scores["precision"] == 0.5 and scores["recall"] == pytest.approx(2 / 3)
    assert scores["f1"] == pytest.approx(4 / 7) and scores["f1_LOC"] == 0.0 and scores["f1_ORG"] == pytest.approx(2 / 3)
    # strict BIOES: a B- never closed is no entity (default mode counts it)
    gold = [["B-PER", "E-PER", "S-LOC"]]
    pred = [["B-PER", "I-PER", "S-LOC"]]
    assert entity_scores(gold, pred, strict=True)["precision"] == 1.0  # only LOC predicted, and right
    assert entity_scores(gold, pred, strict=True)["recall"] == 0.5
    assert entity_scores(gold, pred)["f1"] == 1.0  # default mode reads B-PER I-PER as PER (0, 1)


def test_find_split(tmp_path):
    write(tmp_path / "train.json", CLUENER)
    write(tmp_path / "dev.txt", CHAR_BIO)
    assert ner.find_split(str(tmp_path), "train") == os.path.join(tmp_path, "train.json")
    assert ner.find_split(str(tmp_path), "dev").endswith("dev.txt") and ner.find_split(str(tmp_path), "test") is None
