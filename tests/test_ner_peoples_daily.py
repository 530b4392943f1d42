"""People's Daily NER: the conversion rules on a hand-written snippet, the shipped files, and a tiny fine-tune on a
slice of them through the command."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tinybert.data.ner import label_list, read_ner_file

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data" / "peoples_daily_ner"


def converter():
    path = ROOT / "examples" / "convert_peoples_daily.py"
    spec = importlib.util.spec_from_file_location("convert_peoples_daily", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_conversion_rules():
    conv = converter()
    line = ("新华社/nt  记者/n  江/nr  泽民/nr  李/nr  鹏/nr  克林顿/nr  在/p  [香港/ns  特别/a  行政区/n]ns  "
            "[国务院/nt  办公厅/n]nt  [中国/ns  人民/n]nz  说/v  。/w  “/w  好/a  。/w  ”/w  完/v")
    spans = conv.parse_line(line)
    entities = [(text, kind) for text, kind in spans if kind]
    assert entities == [("新华社", "ORG"), ("江泽民", "PER"), ("李鹏", "PER"), ("克林顿", "PER"),
                        ("香港特别行政区", "LOC"), ("国务院办公厅", "ORG"), ("中国", "LOC")]
    sentences = conv.sentences(spans)
    assert ["".join(c for c, _ in s) for s in sentences] == [
        "新华社记者江泽民李鹏克林顿在香港特别行政区国务院办公厅中国人民说。", "“好。”", "完"]
    assert [t for c, t in sentences[0][:5]] == ["B-ORG", "I-ORG", "I-ORG", "O", "O"]
    # a headline (no sentence-final mark) after a finished paragraph opens a document
    docs = conv.documents(["标题/n  一/m", "正文/n  。/w", "又/d  一/m  段/q  。/w", "新/a  标题/n", "正文/n  。/w"])
    assert [len(d) for d in docs] == [3, 2]
    assert [conv.split_of(k) for k in (0, 1, 2, 5, 6, 50, 51)] == ["dev", "test", "train", "train", None, "dev",
                                                                  "test"]


def test_shipped_files():
    files = {name: read_ner_file(str(DATA / f"{name}.txt")) for name in ("train", "dev", "test")}
    for ner in files.values():
        assert ner.format == "char" and ner.labelled and ner.repaired == 0
    assert label_list(files.values()) == ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    sizes = {name: len(ner.sentences) for name, ner in files.items()}
    assert sizes == {"train": 3484, "dev": 878, "test": 879}
    assert sum(os.path.getsize(DATA / f"{n}.txt") for n in files) < 1_600_000


def test_tiny_finetune_on_people_daily(tmp_path):
    """The shipped files go through `tinybert ner` unchanged (a slice, a tiny model, a few steps)."""
    from test_ner_e2e import SPECIAL, run

    from tinybert.models.checkpoint import save_model
    from tinybert.models.tokenizer import load_tokenizer

    def head(name: str, n: int) -> list[str]:
        return (DATA / f"{name}.txt").read_text(encoding="utf-8").split("\n\n")[:n]

    data = tmp_path / "pd"
    data.mkdir()
    chars = set()
    for name, n in (("train", 48), ("dev", 12)):
        blocks = head(name, n)
        (data / f"{name}.txt").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
        chars |= {line.split()[0] for b in blocks for line in b.splitlines() if line}
    vocab = tmp_path / "vocab" / "vocab.txt"
    vocab.parent.mkdir()
    vocab.write_text("\n".join(SPECIAL + sorted(chars)) + "\n", encoding="utf-8")
    from transformers import BertConfig, BertForMaskedLM

    model = BertForMaskedLM(BertConfig(vocab_size=len(SPECIAL) + len(chars), hidden_size=32, num_hidden_layers=1,
                                       num_attention_heads=2, intermediate_size=64, max_position_embeddings=64))
    save_model(model, str(tmp_path / "base"), tokenizer=load_tokenizer(str(vocab), do_lower_case=True))
    out = tmp_path / "out"
    result = run("ner", ["--model", tmp_path / "base", "--data_dir", data, "--output_dir", out, "--do_train",
                         "--do_eval", "--max_seq_length", 64, "--max_steps", 4, "--eval_step", 4,
                         "--train_batch_size", 8, "--no_cuda", "--logging_steps", 1])
    assert result.train.global_step == 4 and 0.0 <= result.eval_metrics["f1"] <= 1.0
    assert (out / "eval_results.txt").is_file()


@pytest.mark.parametrize("name", ["train", "dev", "test"])
def test_files_end_cleanly(name):
    text = (DATA / f"{name}.txt").read_text(encoding="utf-8")
    assert text.endswith("\n\n") and "\n\n\n" not in text and not text.startswith("\n")


def test_demo_zh_script_parses():
    import subprocess

    subprocess.run(["bash", "-n", str(ROOT / "examples" / "demo_zh.sh")], check=True)
