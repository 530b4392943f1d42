import json
import logging

import numpy as np
import pytest
import torch

from tinybert.data.task_features import IGNORE_INDEX, TaskDataset, collate, collate_fixed, encode_examples
from tinybert.data.tasks import (
    KNOWN_TASKS,
    InputExample,
    check_label_map,
    generic_task,
    get_task,
    is_header_row,
    label_maps,
    read_examples,
    read_train,
)
from tinybert.errors import UserError

# The header lines of the distributed GLUE files (None: the file has no header).
MNLI_COLS = ("index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\t"
             "sentence2_parse\tsentence1\tsentence2")
MNLI_TRAIN = MNLI_COLS + "\tlabel1\tgold_label"
MNLI_DEV = MNLI_COLS + "\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label"
STSB_COLS = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"
MRPC_TRAIN = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
MRPC_TEST = "index\t#1 ID\t#2 ID\t#1 String\t#2 String"
QQP_TRAIN = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"
PAIR3 = "index\tsentence1\tsentence2\tlabel"


def write(path, header, rows):
    lines = ([header] if header is not None else []) + ["\t".join(r) for r in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def mnli_row(i, s1, s2, *labels):
    return [str(i), "31193", f"{i}n", "government", f"( {s1} )", f"( {s2} )", f"(ROOT {s1})", f"(ROOT {s2})", s1, s2,
            *labels]


# (task, train header, train rows, expected train (text_a, text_b, label), test header, test rows, expected test)
GLUE_CASES = [
    ("cola", None,
     [["gj04", "1", "", "Our friends won't buy this analysis."], ["gj04", "0", "*", "They drank the pub."]],
     [("Our friends won't buy this analysis.", None, "1"), ("They drank the pub.", None, "0")],
     "index\tsentence", [["0", "Bill whistled past the house."]], [("test-0", "Bill whistled past the house.", None)]),
    ("sst-2", "sentence\tlabel", [["hide new secretions ", "0"], ["the greatest musicians ", "1"]],
     [("hide new secretions ", None, "0"), ("the greatest musicians ", None, "1")],
     "index\tsentence", [["7", "uneasy mishmash"]], [("test-7", "uneasy mishmash", None)]),
    ("mrpc", MRPC_TRAIN, [["1", "702876", "702977", "Amrozi accused", "Referring to him"],
                          ["0", "2108705", "2108831", "Yucaipa owned", "Yucaipa bought"]],
     [("Amrozi accused", "Referring to him", "1"), ("Yucaipa owned", "Yucaipa bought", "0")],
     MRPC_TEST, [["0", "1089874", "1089925", "PCCW's chief", "Current Chief"]],
     [("test-0", "PCCW's chief", "Current Chief")]),
    ("qqp", QQP_TRAIN, [["133273", "213221", "213222", "How is the life?", "Which is the best?", "0"]],
     [("How is the life?", "Which is the best?", "0")],
     "id\tquestion1\tquestion2", [["0", "Why do rockets look white?", "Why are rockets white?"]],
     [("test-0", "Why do rockets look white?", "Why are rockets white?")]),
    ("mnli", MNLI_TRAIN, [mnli_row(0, "Conceptually cream", "Product and geography", "neutral", "neutral")],
     [("Conceptually cream", "Product and geography", "neutral")],
     MNLI_COLS, [mnli_row(9, "Hierbas, ans", "Hierbas is a name")], [("test-9", "Hierbas, ans", "Hierbas is a name")]),
    ("qnli", "index\tquestion\tsentence\tlabel", [["0", "When did it?", "It did in 1945.", "not_entailment"]],
     [("When did it?", "It did in 1945.", "not_entailment")],
     "index\tquestion\tsentence", [["0", "What is it?", "It is."]], [("test-0", "What is it?", "It is.")]),
    ("rte", PAIR3, [["0", "No Weapons of Mass", "Weapons of Mass found.", "not_entailment"],
                    ["1", "A place of sorrow", "Pope buried.", "entailment"]],
     [("No Weapons of Mass", "Weapons of Mass found.", "not_entailment"),
      ("A place of sorrow", "Pope buried.", "entailment")],
     "index\tsentence1\tsentence2", [["0", "Mangla was", "Tarbela is"]], [("test-0", "Mangla was", "Tarbela is")]),
    ("wnli", PAIR3, [["0", "I stuck a pin.", "The carrot had a hole.", "1"]],
     [("I stuck a pin.", "The carrot had a hole.", "1")],
     "index\tsentence1\tsentence2", [["0", "Maude and Dora", "Horses ran"]], [("test-0", "Maude and Dora",
                                                                                 "Horses ran")]),
]


@pytest.mark.parametrize("case", GLUE_CASES, ids=[c[0] for c in GLUE_CASES])
def test_glue_processors(tmp_path, case):
    task, header, rows, expected, test_header, test_rows, test_expected = case
    spec = get_task(task.upper())
    assert spec.name == task and spec.output_mode == "classification"
    write(tmp_path / "train.tsv", header, rows)
    dev_name = "dev_matched.tsv" if task == "mnli" else "dev.tsv"
    write(tmp_path / dev_name, header, rows)
    write(tmp_path / ("test_matched.tsv" if task == "mnli" else "test.tsv"), test_header, test_rows)
    train = read_examples(spec, tmp_path, "train")
    assert [(e.text_a, e.text_b, e.label) for e in train] == expected
    first_line = 1 if header is None else 2
    assert [e.guid for e in train] == [f"train-{first_line + i}" for i in range(len(rows))]
    assert [(e.text_a, e.text_b, e.label) for e in read_examples(spec, tmp_path, "dev")] == expected
    test = read_examples(spec, tmp_path, "test")
    assert [(e.guid, e.text_a, e.text_b) for e in test] == test_expected
    assert all(e.label is None for e in test)
    # the augmented file has the train layout (header kept), read with --aug_train
    write(tmp_path / "train_aug.tsv", header, rows + rows)
    assert [(e.text_a, e.text_b, e.label) for e in read_train(spec, tmp_path, aug_train=True)] == expected * 2
    # text_columns point at the text cells of a train row
    assert tuple(rows[0][c] for c in spec.text_columns) == tuple(t for t in expected[0][:2] if t is not None)


def test_stsb_regression(tmp_path):
    spec = get_task("STS-B")
    assert spec.labels is None and spec.output_mode == "regression" and spec.num_labels == 1
    meta = ["0", "main-captions", "MSRvid", "2012test", "0001", "none", "none"]
    write(tmp_path / "train.tsv", STSB_COLS + "\tscore", [meta + ["A plane is taking off.", "An air plane.", "5.000"],
                                                          meta + ["A man plays.", "A cat eats.", "0.500"]])
    write(tmp_path / "test.tsv", STSB_COLS, [meta + ["A girl styles.", "A girl brushes."]])
    ex = read_examples(spec, tmp_path, "train")
    assert [(e.text_a, e.text_b, e.label) for e in ex] == [("A plane is taking off.", "An air plane.", 5.0),
                                                           ("A man plays.", "A cat eats.", 0.5)]
    assert read_examples(spec, tmp_path, "test")[0].label is None
    bad = meta + ["a", "b", "high"]
    write(tmp_path / "dev.tsv", STSB_COLS + "\tscore", [bad])
    with pytest.raises(UserError, match=r"dev.tsv:2: label 'high' is not a number \(task sts-b is a regression\)$"):
        read_examples(spec, tmp_path, "dev")


def test_mnli_dev_matched_and_mismatched_both_read(tmp_path):
    spec = get_task("mnli")
    assert spec.labels == ["contradiction", "entailment", "neutral"]
    assert spec.dev_splits == ("dev", "dev_mismatched")
    write(tmp_path / "dev_matched.tsv", MNLI_DEV, [mnli_row(0, "m1", "m2", *["neutral"] * 5, "neutral")])
    write(tmp_path / "dev_mismatched.tsv", MNLI_DEV, [mnli_row(0, "x1", "x2", *["entailment"] * 5, "entailment"),
                                                      mnli_row(1, "y1", "y2", *["neutral"] * 5, "contradiction")])
    matched = read_examples(spec, tmp_path, "dev")
    mismatched = read_examples(spec, tmp_path, "dev_mismatched")
    assert [(e.text_a, e.label) for e in matched] == [("m1", "neutral")]
    assert [(e.text_a, e.label) for e in mismatched] == [("x1", "entailment"), ("y1", "contradiction")]
    assert [spec.eval_name(s) for s in spec.dev_splits] == ["mnli", "mnli-mm"]
    mm = get_task("MNLI-MM")
    assert [e.text_a for e in read_examples(mm, tmp_path, "dev")] == ["x1", "y1"]
    assert mm.labels == spec.labels


def test_qqp_malformed_rows_skipped_and_reported(tmp_path, caplog):
    rows = [["1", "2", "3", "q one", "q two", "1"], ["2", "4", "5", "broken question"],
            ["3", "6", "7", "q three", "q four", "0"], ["4", "8"]]
    write(tmp_path / "train.tsv", QQP_TRAIN, rows)
    with caplog.at_level(logging.WARNING, logger="tinybert.data.tasks"):
        ex = read_examples(get_task("qqp"), tmp_path, "train")
    assert [(e.text_a, e.label) for e in ex] == [("q one", "1"), ("q three", "0")]
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs == [f"{tmp_path}/train.tsv: skipped 2 malformed row(s) with fewer than 6 columns (lines 3, 5)"]


def test_clue_tasks(tmp_path):
    lcqmc = get_task("LCQMC")
    assert lcqmc.language == "zh" and lcqmc.text_columns == (0, 1)
    write(tmp_path / "train.tsv", None, [["喜欢打篮球的男生喜欢什么样的女生", "爱打篮球的男生喜欢什么样的女生", "1"],
                                         ["我手机丢了", "我想换个手机", "0"]])
    assert [(e.text_a[:2], e.text_b[:2], e.label) for e in read_examples(lcqmc, tmp_path, "train")] == [
        ("喜欢", "爱打", "1"), ("我手", "我想", "0")]
    write(tmp_path / "dev.tsv", "text_a\ttext_b\tlabel", [["a", "b", "1"]])  # a header is detected and skipped
    assert len(read_examples(lcqmc, tmp_path, "dev")) == 1

    senti = get_task("ChnSentiCorp")
    d = tmp_path / "senti"
    d.mkdir()
    write(d / "train.tsv", "label\ttext_a", [["1", "选择珠江花园的原因就是方便"], ["0", "房间太小"]])
    assert [(e.text_a, e.text_b, e.label) for e in read_examples(senti, d, "train")] == [
        ("选择珠江花园的原因就是方便", None, "1"), ("房间太小", None, "0")]
    assert senti.text_columns == (1,)

    xnli = get_task("xnli-zh")
    assert is_header_row(xnli, ["premise", "hypo", "label"]) and not is_header_row(xnli, ["a", "b", "neutral"])
    assert is_header_row(get_task("sst-2"), ["x", "1"]) and not is_header_row(get_task("cola"), ["s", "1", "", "x"])
    assert xnli.name == "xnli" and xnli.labels == ["contradiction", "entailment", "neutral"]
    d = tmp_path / "xnli"
    d.mkdir()
    write(d / "train.tsv", "premise\thypo\tlabel",
          [["从概念上看", "产品和地理", "neutral"], ["他说", "他没说", "contradictory"]])
    assert [e.label for e in read_examples(xnli, d, "train")] == ["neutral", "contradiction"]


def test_generic_tsv_csv_jsonl(tmp_path):
    d = tmp_path / "tsv"
    d.mkdir()
    write(d / "train.tsv", None, [["10", "good film"], ["2", "bad film"], ["10", "great"]])
    write(d / "dev.tsv", None, [["2", "awful"]])
    spec = get_task("generic", text_columns="1", label_column="0")
    ex = read_examples(spec, d, "dev")
    assert [(e.text_a, e.text_b, e.label) for e in ex] == [("awful", None, "2")]
    from tinybert.data.tasks import resolve_task

    assert resolve_task(spec, d).labels == ["2", "10"]  # numeric order, not "10" < "2"

    d = tmp_path / "csv"
    d.mkdir()
    (d / "train.csv").write_text('q,a,y\n"Hi, there",yes,pos\nwhat,"say ""no""",neg\n', encoding="utf-8")
    spec = generic_task(["q", "a"], "y")
    ex = read_examples(spec, d, "train")
    assert [(e.text_a, e.text_b, e.label) for e in ex] == [("Hi, there", "yes", "pos"), ("what", 'say "no"', "neg")]
    assert [e.guid for e in ex] == ["train-2", "train-3"]
    assert resolve_task(spec, d).labels == ["neg", "pos"]
    (d / "dev.csv").write_text("q,a,y\nx,y,meh\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"dev.csv:2: label 'meh' is not one of the generic labels \['neg', 'pos'\]$"):
        read_examples(spec, d, "dev")

    d = tmp_path / "jsonl"
    d.mkdir()
    (d / "train.jsonl").write_text('{"text": "one", "label": 1}\n\n{"text": "zero", "label": 0}\n', encoding="utf-8")
    spec = generic_task(["text"], "label", labels="0,1")
    assert spec.labels == ["0", "1"] and not spec.is_pair
    assert [(e.text_a, e.label) for e in read_examples(spec, d, "train")] == [("one", "1"), ("zero", "0")]
    (d / "dev.jsonl").write_text('{"text": "x"}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"dev.jsonl:1: missing field 'label'$"):
        read_examples(spec, d, "dev")
    (d / "test.jsonl").write_text('{"text": "x"\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"test.jsonl:1: not valid JSON"):
        read_examples(spec, d, "test")
    with pytest.raises(UserError, match="needs --text_columns"):
        get_task("generic")


def test_bad_input_messages(tmp_path):
    with pytest.raises(UserError) as e:
        get_task("sst5")
    assert str(e.value) == "unknown task 'sst5'; known tasks: " + ", ".join(KNOWN_TASKS)
    assert "cola" in KNOWN_TASKS and "generic" in KNOWN_TASKS

    spec = get_task("rte")
    with pytest.raises(UserError) as e:
        read_examples(spec, tmp_path, "train")
    assert str(e.value) == f"{tmp_path}/train.tsv: train file for task rte not found"

    write(tmp_path / "train.tsv", PAIR3, [["0", "a", "b", "entailment"], ["1", "only one sentence"]])
    with pytest.raises(UserError) as e:
        read_examples(spec, tmp_path, "train")
    assert str(e.value) == f"{tmp_path}/train.tsv:3: expected at least 4 tab-separated columns, found 2"

    write(tmp_path / "dev.tsv", PAIR3, [["0", "a", "b", "entailment"], ["1", "a", "b", "contradiction"]])
    with pytest.raises(UserError) as e:
        read_examples(spec, tmp_path, "dev")
    assert str(e.value) == (f"{tmp_path}/dev.tsv:3: label 'contradiction' is not one of the rte labels "
                            "['entailment', 'not_entailment']")

    write(tmp_path / "dev.tsv", PAIR3, [])
    with pytest.raises(UserError) as e:
        read_examples(spec, tmp_path, "dev")
    assert str(e.value) == f"{tmp_path}/dev.tsv: dev set is empty; expected at least one example"

    # MNLI's label is the last column: a row cut after sentence2 is refused, not read with sentence2 as its label
    write(tmp_path / "dev_matched.tsv", MNLI_DEV, [mnli_row(0, "a", "b")])
    with pytest.raises(UserError) as e:
        read_examples(get_task("mnli"), tmp_path, "dev")
    assert str(e.value) == f"{tmp_path}/dev_matched.tsv:2: expected at least 11 tab-separated columns, found 10"
    with pytest.raises(UserError, match="task rte has no dev_mismatched split"):
        read_examples(spec, tmp_path, "dev_mismatched")


def test_label_maps_and_check(caplog):
    mnli = get_task("mnli")
    id2label, label2id = label_maps(mnli)
    assert id2label == {0: "contradiction", 1: "entailment", 2: "neutral"}
    assert label2id == {"contradiction": 0, "entailment": 1, "neutral": 2}
    check_label_map({"id2label": {"0": "CONTRADICTION", "1": "ENTAILMENT", "2": "NEUTRAL"}}, mnli, "teacher")
    with pytest.raises(UserError) as e:  # the MNLI label-order trap
        check_label_map({"id2label": {"0": "entailment", "1": "neutral", "2": "contradiction"}}, mnli, "teacher")
    assert str(e.value) == ("teacher orders its labels ['entailment', 'neutral', 'contradiction'] but task mnli uses "
                            "['contradiction', 'entailment', 'neutral']; its predictions would be scored against the "
                            "wrong labels")
    with pytest.raises(UserError) as e:
        check_label_map({"id2label": {"0": "LABEL_0", "1": "LABEL_1"}}, mnli, "student")
    assert str(e.value) == ("student has 2 labels ['LABEL_0', 'LABEL_1'] but task mnli needs 3 labels "
                            "['contradiction', 'entailment', 'neutral']")
    with caplog.at_level(logging.WARNING, logger="tinybert.data.tasks"):
        check_label_map({"id2label": {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}}, mnli, "student")
    assert "generic label names" in caplog.text
    with pytest.raises(UserError, match=r"^teacher has labels \['neg', 'pos'\] but task sst-2 has labels"):
        check_label_map({"id2label": {0: "neg", 1: "pos"}}, get_task("sst-2"), "teacher")

    from transformers import BertConfig

    stsb = get_task("sts-b")
    assert label_maps(stsb) == ({0: "LABEL_0"}, {"LABEL_0": 0})
    check_label_map(BertConfig(num_labels=1), stsb, "teacher")
    with pytest.raises(UserError, match=r"needs 1 output \(regression\)$"):
        check_label_map(BertConfig(num_labels=2), stsb, "teacher")
    i2l, l2i = label_maps(get_task("rte"))
    check_label_map(BertConfig(id2label=i2l, label2id=l2i), get_task("rte"), "teacher")


SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = ["a", "b", "c", "d", "e", "x", "y"]


@pytest.fixture
def tokenizer(tmp_path):
    from tinybert.models.tokenizer import load_tokenizer

    (tmp_path / "vocab.txt").write_text("\n".join(SPECIALS + WORDS) + "\n", encoding="utf-8")
    return load_tokenizer(tmp_path, do_lower_case=True)


def test_encode_pairs_truncation_and_collate(tokenizer):
    ids = {t: i for i, t in enumerate(SPECIALS + WORDS)}
    cls, sep = ids["[CLS]"], ids["[SEP]"]
    spec = get_task("rte")
    examples = [InputExample("0", "a b c d e", "x", "entailment"),  # 5 + 1 tokens: a's side is cut to 3
                InputExample("1", "a", "y", "not_entailment"),
                InputExample("2", "a b", "x y", None)]
    f = encode_examples(examples, tokenizer, 7, spec)
    assert f["input_ids"].dtype == np.int64 and f["input_ids"].shape == (3, 7)
    assert f["input_ids"][0].tolist() == [cls, ids["a"], ids["b"], ids["c"], sep, ids["x"], sep]
    assert f["token_type_ids"][0].tolist() == [0, 0, 0, 0, 0, 1, 1]
    assert f["input_ids"][1].tolist() == [cls, ids["a"], sep, ids["y"], sep, 0, 0]
    assert f["attention_mask"][1].tolist() == [1, 1, 1, 1, 1, 0, 0]
    assert f["lengths"].tolist() == [7, 5, 7]
    assert f["labels"].tolist() == [0, 1, IGNORE_INDEX] and f["labels"].dtype == np.int64

    ds = TaskDataset(f)
    assert len(ds) == 3 and ds[1]["index"].item() == 1
    batch = collate([ds[1]])  # dynamic padding: cut to the longest in the batch
    assert batch["input_ids"].shape == (1, 5) and batch["input_ids"][0].tolist() == [cls, ids["a"], sep, ids["y"],
                                                                                      sep]
    assert collate([ds[1], ds[0]])["input_ids"].shape == (2, 7)
    assert collate_fixed([ds[1]])["attention_mask"].shape == (1, 7)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate)
    assert [b["index"].tolist() for b in loader] == [[0, 1], [2]]


def test_encode_single_and_regression(tokenizer):
    ids = {t: i for i, t in enumerate(SPECIALS + WORDS)}
    f = encode_examples([InputExample("0", "b a", None, "1")], tokenizer, 6, get_task("sst-2"))
    assert f["input_ids"][0].tolist() == [ids["[CLS]"], ids["b"], ids["a"], ids["[SEP]"], 0, 0]
    assert f["token_type_ids"][0].tolist() == [0] * 6
    r = encode_examples([InputExample("0", "a", "b", 3.5), InputExample("1", "a", "b", None)], tokenizer, 8,
                        get_task("sts-b"))
    assert r["labels"].dtype == np.float32 and r["labels"][0] == 3.5 and np.isnan(r["labels"][1])


def test_generic_jsonl_names_must_exist_in_header(tmp_path):
    write(tmp_path / "train.tsv", "sentence\tlabel", [["x", "1"]])
    with pytest.raises(UserError) as e:
        read_examples(generic_task(["text"], "label"), tmp_path, "train")
    assert str(e.value) == f"{tmp_path}/train.tsv:1: no column named 'text' in the header; columns: sentence, label"
    assert json.dumps(label_maps(get_task("cola"))[0]) == '{"0": "0", "1": "1"}'
