"""``tinybert export``: ONNX Runtime answers as PyTorch does on a tiny model; int8 runs and stays close; the
missing-extra error names the extra."""

from __future__ import annotations

import json
import os

import pytest
import torch
from test_task_distill import save_classifier, write_sst2

from tinybert.cli import run_command

onnxruntime = pytest.importorskip(
    "onnxruntime", reason="the 'export' extra is not installed (pip install -e '.[export]'); bench/latency.py "
                          "covers the ONNX path")
pytest.importorskip("onnx", reason="the 'export' extra is not installed (pip install -e '.[export]')")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    model_dir = save_classifier(root / "student", root, ["0", "1"], seed=3)
    data_dir = write_sst2(root / "SST-2", n_dev=40)
    out = root / "onnx"
    argv = [model_dir, "--output", str(out), "--quantize", "int8", "--task_name", "sst-2", "--data_dir", data_dir]
    assert run_command("export", argv) == 0
    return {"model_dir": model_dir, "data_dir": data_dir, "out": out, "root": root,
            "info": json.loads((out / "export.json").read_text())}


def _batch(tokenizer, texts, pair=None):
    enc = tokenizer(texts, pair, padding="longest", return_tensors="pt", return_token_type_ids=True)
    return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


def test_onnx_equals_pytorch(exported):
    from tinybert.export.onnx_model import OnnxClassifier
    from tinybert.models.classifier import load_classifier
    from tinybert.models.tokenizer import load_tokenizer

    out = exported["out"]
    assert {"model.onnx", "model.int8.onnx", "vocab.txt", "tokenizer_config.json", "config.json",
            "export.json"} <= set(os.listdir(out))
    info = exported["info"]
    assert info["ok"] and info["max_abs_diff"] <= 1e-4
    # the tokenizer beside the ONNX model encodes as the model folder's does
    ref_tok, tok = load_tokenizer(exported["model_dir"]), load_tokenizer(str(out))
    texts = ["the film was good", "a movie that was bad and boring but the actor was fine fine fine", "good"]
    assert ref_tok(texts)["input_ids"] == tok(texts)["input_ids"]
    # dynamic axes: batch sizes and lengths other than the traced ones, padded rows included
    model = load_classifier(exported["model_dir"])
    session = OnnxClassifier(str(out / "model.onnx"))
    for batch_texts in (texts, texts[:1], texts * 5):
        batch = _batch(tok, batch_texts)
        with torch.inference_mode():
            want = model(**batch).logits
        got = session(**batch).logits
        assert got.shape == want.shape
        assert float((got - want).abs().max()) <= 1e-4


def test_int8_runs_and_stays_close(exported):
    from tinybert.export.onnx_model import OnnxClassifier
    from tinybert.models.classifier import load_classifier
    from tinybert.models.tokenizer import load_tokenizer

    info, out = exported["info"], exported["out"]
    import onnx

    assert info["files"]["model.int8.onnx"] < info["files"]["model.onnx"]
    ops = {node.op_type for node in onnx.load(str(out / "model.int8.onnx")).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops  # weights int8, activations quantized on the fly
    int8_weights = [t for t in onnx.load(str(out / "model.int8.onnx")).graph.initializer
                    if t.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= 2 * 6  # every linear layer of both encoder layers (q, k, v, out, up, down)
    tok = load_tokenizer(str(out))
    batch = _batch(tok, ["the film was good", "bad bad bad movie and the actor was boring"])
    with torch.inference_mode():
        want = load_classifier(exported["model_dir"])(**batch).logits
    got = OnnxClassifier(str(out / "model.int8.onnx"))(**batch).logits
    scale = float(want.abs().max())
    assert float((got - want).abs().max()) <= 0.1 * scale + 0.02
    assert info["int8_max_abs_diff"] <= 0.1 * scale + 0.05 and info["torch_int8_max_abs_diff"] is not None
    # dev metrics of every variant, measured on the same 40 dev examples
    assert set(info["dev"]) == {"pytorch_fp32", "onnx_fp32", "onnx_int8", "pytorch_int8"}
    assert info["metric"] == "acc"
    assert info["dev"]["onnx_fp32"]["acc"] == info["dev"]["pytorch_fp32"]["acc"]
    for name in ("onnx_int8", "pytorch_int8"):
        assert abs(info["dev"][name]["acc"] - info["dev"]["pytorch_fp32"]["acc"]) <= 0.1


def test_console_and_refusals(exported, capsys):
    out = exported["out"]
    assert run_command("export", [exported["model_dir"], "--output", str(out)]) == 2
    assert "holds an export already" in capsys.readouterr().err
    assert run_command("export", [exported["model_dir"], "--output", exported["model_dir"]]) == 2
    err = capsys.readouterr().err
    assert "--output" in err and "is the input model_dir" in err
    assert run_command("export", [exported["model_dir"], "--output", str(out), "--overwrite_output_dir"]) == 0
    printed = capsys.readouterr().out
    assert "max |ONNX - PyTorch| of the logits" in printed and "within 0.0001" in printed
    assert run_command("export", [exported["model_dir"], "--output", str(out), "--task_name", "sst-2"]) == 2
    assert "--data_dir is needed too" in capsys.readouterr().err


def test_missing_extra_names_the_extra(monkeypatch, tmp_path, capsys):
    import builtins

    real_import = builtins.__import__

    def no_onnxruntime(name, *args, **kwargs):
        if name == "onnxruntime" or name.startswith("onnxruntime."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnxruntime)
    monkeypatch.delitem(__import__("sys").modules, "onnxruntime", raising=False)
    model_dir = save_classifier(tmp_path / "m", tmp_path, ["0", "1"])
    capsys.readouterr()
    assert run_command("export", [model_dir, "--output", str(tmp_path / "onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "'export' extra" in err and "missing: onnxruntime" in err and "pip install -e '.[export]'" in err
    assert not os.path.exists(tmp_path / "onnx" / "model.onnx")


def test_nezha_exports_at_any_length(tmp_path):
    """NEZHA's relative positions (distances clipped to the table) are traced with dynamic lengths: inputs longer
    than the clipping window and than the traced batch still match."""
    from test_task_distill import bert_config, tokenizer_for

    from tinybert.export.onnx_model import OnnxClassifier, max_abs_diff
    from tinybert.models.checkpoint import save_model
    from tinybert.models.nezha import NezhaConfig, NezhaForSequenceClassification

    torch.manual_seed(0)
    base = bert_config()
    model = NezhaForSequenceClassification(NezhaConfig(
        vocab_size=base.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        max_relative_position=4, num_labels=2, id2label={0: "0", 1: "1"}, label2id={"0": 0, "1": 1})).eval()
    save_model(model, str(tmp_path / "nezha"), tokenizer=tokenizer_for(tmp_path))
    out = tmp_path / "onnx"
    assert run_command("export", [str(tmp_path / "nezha"), "--output", str(out)]) == 0
    assert json.loads((out / "export.json").read_text())["max_abs_diff"] <= 1e-4
    ids = torch.randint(5, base.vocab_size, (3, 40))
    mask = torch.ones_like(ids)
    mask[0, 25:] = 0
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    assert max_abs_diff(model, OnnxClassifier(str(out / "model.onnx")), batch) <= 1e-4


@pytest.mark.parametrize("head", ["token_classification", "question_answering"])
def test_token_and_span_heads(tmp_path, head):
    from test_task_distill import bert_config, tokenizer_for
    from transformers import BertForQuestionAnswering, BertForTokenClassification

    from tinybert.export.onnx_model import HEAD_OUTPUTS, OnnxClassifier, max_abs_diff
    from tinybert.models.checkpoint import save_model

    torch.manual_seed(1)
    if head == "token_classification":
        labels = {0: "O", 1: "B-PER", 2: "I-PER"}
        model = BertForTokenClassification(bert_config(num_labels=3, id2label=labels,
                                                       label2id={v: k for k, v in labels.items()}))
    else:
        model = BertForQuestionAnswering(bert_config())
    save_model(model.eval(), str(tmp_path / "model"), tokenizer=tokenizer_for(tmp_path))
    out = tmp_path / "onnx"
    assert run_command("export", [str(tmp_path / "model"), "--output", str(out), "--quantize", "int8"]) == 0
    info = json.loads((out / "export.json").read_text())
    assert info["head"] == head and info["outputs"] == list(HEAD_OUTPUTS[head]) and info["max_abs_diff"] <= 1e-4
    ids = torch.randint(5, bert_config().vocab_size, (2, 23))
    mask = torch.ones_like(ids)
    mask[1, 15:] = 0
    batch = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids)}
    session = OnnxClassifier(str(out / "model.onnx"))
    assert max_abs_diff(model, session, batch, tuple(HEAD_OUTPUTS[head])) <= 1e-4
    first = HEAD_OUTPUTS[head]
    assert getattr(session(**batch), next(iter(first))).shape[:2] == (2, 23)  # per-token outputs, dynamic length
    assert info["int8_max_abs_diff"] < 0.5
