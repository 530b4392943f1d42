"""Teacher finetuning: the kept model is the best one on dev, a plain transformers classifier with the task's labels."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from test_task_distill import (
    MNLI_LABELS,
    bert_config,
    error_line,
    eval_records,
    parse,
    tokenizer_for,
    write_mnli,
    write_sst2,
    write_stsb,
)


def save_base_model(path, tmp_path, seed: int = 0) -> str:
    """A tiny pretrained-style BERT folder with no classification head."""
    from transformers import BertForMaskedLM

    from tinybert.models.checkpoint import save_model

    torch.manual_seed(seed)
    save_model(BertForMaskedLM(bert_config()), str(path), tokenizer=tokenizer_for(tmp_path))
    return str(path)


def finetune(argv: list) -> object:
    """The recipe on the config the CLI maps these flags onto."""
    from tinybert.config.base import from_namespace
    from tinybert.config.finetune import FinetuneConfig
    from tinybert.recipes.finetune import run_finetune

    return run_finetune(from_namespace(FinetuneConfig, parse("finetune", argv)))


def flags(data, out, *extra) -> list:
    return ["--data_dir", data, "--output_dir", out, "--max_seq_length", 16, "--train_batch_size", 8,
            "--eval_batch_size", 8, "--no_cuda", "--logging_steps", 1, "--learning_rate", 1e-3, *extra]


def test_finetune_keeps_best_dev_model(tmp_path):
    from transformers import AutoModelForSequenceClassification

    from tinybert.evaluate import read_eval_results

    base = save_base_model(tmp_path / "base", tmp_path)
    data = write_sst2(tmp_path / "data", n_train=32, n_dev=16)
    out = str(tmp_path / "ft")
    result = finetune(["--model", base, "--task_name", "sst-2", "--max_steps", 8, "--eval_step", 2,
                       *flags(data, out)])
    accs = [r["eval_acc"] for r in eval_records(out)]
    assert len(accs) == 4 and result.best_metric == max(accs)
    kept = read_eval_results(os.path.join(out, "eval_results.txt"))
    assert kept["acc"] == max(accs) and kept["global_step"] == 2 * (1 + accs.index(max(accs)))

    # a plain transformers classifier with the task's labels, scoring what eval_results.txt says
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    assert model.config.id2label == {0: "0", 1: "1"}
    rows = [line.split("\t") for line in open(os.path.join(data, "dev.tsv")).read().splitlines()[1:]]
    with torch.no_grad():
        pred = model(**tokenizer_for(tmp_path)([r[0] for r in rows], padding=True, return_tensors="pt")).logits
    assert (pred.argmax(1).numpy() == np.array([int(r[1]) for r in rows])).mean() == pytest.approx(kept["acc"])
    assert os.path.isfile(os.path.join(out, "vocab.txt")) and os.path.isfile(os.path.join(out, "metrics.jsonl"))


def test_finetune_regression_and_label_maps(tmp_path):
    """STS-B gets one output scored by correlation; MNLI gets the task's label names in the config."""
    from transformers import AutoConfig

    base = save_base_model(tmp_path / "base", tmp_path)
    data = write_stsb(tmp_path / "stsb", list(np.linspace(0, 5, 16)))
    out = str(tmp_path / "stsb_out")
    finetune(["--model", base, "--task_name", "sts-b", "--max_steps", 2, *flags(data, out)])
    assert AutoConfig.from_pretrained(out).num_labels == 1
    assert {"pearson", "spearmanr", "corr"} <= set(eval_records(out)[-1]) | {k[5:] for k in eval_records(out)[-1]}
    mnli = write_mnli(tmp_path / "mnli")
    out = str(tmp_path / "mnli_out")
    finetune(["--model", base, "--task_name", "mnli", "--max_steps", 1, *flags(mnli, out)])
    assert list(AutoConfig.from_pretrained(out).id2label.values()) == MNLI_LABELS
    assert {"eval_mnli_acc", "eval_mnli-mm_acc"} <= set(eval_records(out)[-1])


def test_finetune_refuses_finished_output(tmp_path, capsys):
    from tinybert.cli import run_command

    base = save_base_model(tmp_path / "base", tmp_path)
    data = write_sst2(tmp_path / "data")
    out = tmp_path / "ft"
    argv = [str(a) for a in ["--model", base, "--task_name", "sst-2", "--max_steps", 1, *flags(data, out)]]
    assert run_command("finetune", argv) == 0
    before = (out / "model.safetensors").read_bytes()
    assert run_command("finetune", argv) == 2
    assert "--overwrite_output_dir" in error_line(capsys)
    assert (out / "model.safetensors").read_bytes() == before
    other = [str(a) for a in ["--model", base, "--task_name", "sst-3", *flags(data, tmp_path / "new")]]
    assert run_command("finetune", other) == 2
    assert "unknown task" in error_line(capsys)


def test_from_scratch_builds_a_random_classifier_from_a_config(tmp_path, capsys):
    """The label-only baseline: a student-sized config, random weights, the tokenizer from --vocab."""
    import json

    from tinybert.errors import UserError
    from tinybert.models.checkpoint import load_model

    base = save_base_model(tmp_path / "base", tmp_path)
    cfg = json.loads(open(os.path.join(base, "config.json")).read())
    cfg_dir = tmp_path / "student_cfg"
    cfg_dir.mkdir()
    (cfg_dir / "config.json").write_text(json.dumps({k: cfg[k] for k in (
        "model_type", "vocab_size", "hidden_size", "num_attention_heads", "intermediate_size",
        "max_position_embeddings")} | {"num_hidden_layers": 1}))
    data = write_sst2(tmp_path / "data", n_train=16, n_dev=8)
    out = str(tmp_path / "scratch")
    finetune(["--model", str(cfg_dir), "--from_scratch", "--vocab", base, "--task_name", "sst-2",
              "--max_steps", 2, "--eval_step", 1, *flags(data, out)])
    model = load_model(out, head="sequence_classification")
    assert model.config.num_hidden_layers == 1 and model.config.id2label == {0: "0", 1: "1"}
    assert os.path.isfile(os.path.join(out, "vocab.txt"))
    # random init, not the base model's weights
    base_model = load_model(base, head="base")
    assert not torch.equal(model.bert.embeddings.word_embeddings.weight, base_model.embeddings.word_embeddings.weight)
    no_vocab = ["--model", str(cfg_dir), "--from_scratch", "--task_name", "sst-2", "--max_steps", 1,
                *flags(data, str(tmp_path / "x"))]
    with pytest.raises(UserError, match="from_scratch needs vocab"):  # the library names config fields
        finetune(no_vocab)
    from tinybert.cli import run_command

    assert run_command("finetune", [str(a) for a in no_vocab]) == 2  # the CLI shows the flag
    assert "--from_scratch needs vocab" in error_line(capsys)
