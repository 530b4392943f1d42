"""``tinybert predict``: every input format round-trips order and ids; PyTorch and ONNX folders answer alike."""

from __future__ import annotations

import io
import json
import os
import sys

import pytest
import torch
from test_task_distill import save_classifier

from tinybert.cli import run_command

# lengths deliberately mixed, so length-sorted batches reorder them
TEXTS = ["good", "the film was bad and boring and the actor was bad too", "fine", "a good movie",
         "bad bad bad bad bad bad bad bad bad", "the actor was good", "boring", "a fine film and a good actor"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    return save_classifier(root / "clf", root, ["neg", "pos"], seed=5)


def _expected(model_dir, texts, pairs=None):
    """Probabilities of each text, one at a time (no batching, no padding)."""
    from tinybert.models.classifier import load_classifier
    from tinybert.models.tokenizer import load_tokenizer

    model, tok = load_classifier(model_dir), load_tokenizer(model_dir)
    out = []
    with torch.inference_mode():
        for i, text in enumerate(texts):
            enc = tok(text, None if pairs is None else pairs[i], return_tensors="pt", return_token_type_ids=True)
            out.append(torch.softmax(model(**enc).logits[0], -1).tolist())
    return out


def _read_jsonl(path):
    return [json.loads(line) for line in open(path, encoding="utf-8")]


def _check(records, ids, model_dir, texts, pairs=None, tol=1e-5):
    assert [r["id"] for r in records] == ids
    for rec, want in zip(records, _expected(model_dir, texts, pairs), strict=True):
        got = [rec["probabilities"]["neg"], rec["probabilities"]["pos"]]
        assert got == pytest.approx(want, abs=tol)
        assert rec["label"] == ("pos" if want[1] > want[0] else "neg")


def test_tsv_with_header_and_ids(model_dir, tmp_path):
    src = tmp_path / "in.tsv"
    ids = [f"r{i * 7 % 5}-{i}" for i in range(len(TEXTS))]
    src.write_text("key\tsentence\n" + "".join(f"{i}\t{t}\n" for i, t in zip(ids, TEXTS, strict=True)))
    out = tmp_path / "out.jsonl"
    argv = [model_dir, "--input", str(src), "--text_columns", "sentence", "--id_column", "key", "--output", str(out),
            "--batch_size", "3"]
    assert run_command("predict", argv) == 0
    _check(_read_jsonl(out), ids, model_dir, TEXTS)


def test_csv_pairs_by_index(model_dir, tmp_path):
    src = tmp_path / "in.csv"
    pairs = [t[::-1] for t in TEXTS]  # reversed strings: mostly [UNK]s, other lengths
    src.write_text("".join(f'"{a}","{b}"\n' for a, b in zip(TEXTS, pairs, strict=True)))
    out = tmp_path / "out.jsonl"
    assert run_command("predict", [model_dir, "--input", str(src), "--text_columns", "0,1", "--output", str(out),
                                   "--batch_size", "2"]) == 0
    _check(_read_jsonl(out), [str(i) for i in range(len(TEXTS))], model_dir, TEXTS, pairs)


def test_jsonl_keeps_ids_and_tsv_output(model_dir, tmp_path):
    src = tmp_path / "in.jsonl"
    ids = [f"doc-{100 - i}" for i in range(len(TEXTS))]
    src.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(ids, TEXTS, strict=True)))
    numbered = tmp_path / "numbered.jsonl"  # ids of any JSON type come back as they were
    raw_ids = [100 - 3 * i if i % 2 else f"x{i}" for i in range(len(TEXTS))]
    numbered.write_text("".join(json.dumps({"key": i, "text": t}) + "\n" for i, t in zip(raw_ids, TEXTS, strict=True)))
    assert run_command("predict", [model_dir, "--input", str(numbered), "--id_column", "key", "--output",
                                   str(tmp_path / "numbered.out.jsonl")]) == 0
    _check(_read_jsonl(tmp_path / "numbered.out.jsonl"), raw_ids, model_dir, TEXTS)
    out = tmp_path / "out.tsv"
    assert run_command("predict", [model_dir, "--input", str(src), "--output", str(out), "--batch_size", "4"]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "id\tlabel\tp_neg\tp_pos"
    rows = [line.split("\t") for line in lines[1:]]
    records = [{"id": r[0], "label": r[1], "probabilities": {"neg": float(r[2]), "pos": float(r[3])}} for r in rows]
    _check(records, ids, model_dir, TEXTS)


def test_stdin_lines_to_stdout(model_dir, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(t + "\n" for t in TEXTS) + "\n"))
    assert run_command("predict", [model_dir, "--input", "-", "--batch_size", "3"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    _check(records, [str(i) for i in range(len(TEXTS))], model_dir, TEXTS)


def test_onnx_folder_and_int8(model_dir, tmp_path):
    pytest.importorskip("onnxruntime", reason="the 'export' extra is not installed (pip install -e '.[export]')")
    onnx_dir = tmp_path / "onnx"
    assert run_command("export", [model_dir, "--output", str(onnx_dir), "--quantize", "int8"]) == 0
    src = tmp_path / "in.txt"
    src.write_text("".join(t + "\n" for t in TEXTS))
    out = tmp_path / "onnx.jsonl"
    assert run_command("predict", [str(onnx_dir), "--input", str(src), "--output", str(out)]) == 0
    _check(_read_jsonl(out), [str(i) for i in range(len(TEXTS))], model_dir, TEXTS, tol=1e-4)
    for folder in (str(onnx_dir), model_dir):  # ONNX int8, and torch.ao int8 of the PyTorch folder
        out8 = tmp_path / f"int8_{os.path.basename(folder)}.jsonl"
        assert run_command("predict", [folder, "--input", str(src), "--output", str(out8), "--quantize", "int8"]) == 0
        _check(_read_jsonl(out8), [str(i) for i in range(len(TEXTS))], model_dir, TEXTS, tol=0.05)


def test_bad_input(model_dir, tmp_path, capsys):
    def error(argv):
        assert run_command("predict", argv) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith("error: ")
        return err

    src = tmp_path / "in.tsv"
    src.write_text("a\tb\n")
    assert "in.tsv:1: expected column 2 (text)" in error([model_dir, "--input", str(src), "--text_columns", "2"])
    assert "no column named 'text'" in error([model_dir, "--input", str(src), "--text_columns", "text"])
    (tmp_path / "x.bin").write_text("good\n")
    assert "x.bin: cannot tell the input format" in error([model_dir, "--input", str(tmp_path / "x.bin")])
    jl = tmp_path / "in.jsonl"
    jl.write_text('{"sentence": "good"}\n')
    assert "in.jsonl:1: missing field 'text'" in error([model_dir, "--input", str(jl)])
    assert "--output" in error([model_dir, "--input", str(jl), "--output", str(jl)])


def test_token_model_is_refused(tmp_path, capsys):
    from test_task_distill import bert_config, tokenizer_for
    from transformers import BertForTokenClassification

    from tinybert.models.checkpoint import save_model

    save_model(BertForTokenClassification(bert_config(num_labels=3)), str(tmp_path / "ner"),
               tokenizer=tokenizer_for(tmp_path))
    (tmp_path / "in.txt").write_text("good\n")
    capsys.readouterr()
    assert run_command("predict", [str(tmp_path / "ner"), "--input", str(tmp_path / "in.txt")]) == 2
    assert "holds a token_classification model; predict takes sequence classifiers" in capsys.readouterr().err


def test_regression_scores(tmp_path):
    from tinybert.models.classifier import load_classifier
    from tinybert.models.tokenizer import load_tokenizer

    reg = save_classifier(tmp_path / "reg", tmp_path, None, seed=2)  # one output: a regression model
    src = tmp_path / "in.txt"
    src.write_text("".join(t + "\n" for t in TEXTS))
    out = tmp_path / "out.jsonl"
    assert run_command("predict", [reg, "--input", str(src), "--output", str(out), "--batch_size", "3"]) == 0
    records = _read_jsonl(out)
    model, tok = load_classifier(reg), load_tokenizer(reg)
    with torch.inference_mode():
        want = [float(model(**tok(t, return_tensors="pt", return_token_type_ids=True)).logits[0, 0]) for t in TEXTS]
    assert [r["id"] for r in records] == [str(i) for i in range(len(TEXTS))]
    assert [r["score"] for r in records] == pytest.approx(want, abs=1e-5)
    assert "label" not in records[0]
