"""End to end, as a user runs it: finetune a teacher, then task distillation stage 1, stage 2 and --do_eval through
the top-level scripts (subprocesses), on tiny models and a tiny SST-2-layout data set."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from test_task_distill import bert_config, tokenizer_for, write_sst2

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["--max_seq_length", "16", "--train_batch_size", "8", "--eval_batch_size", "8", "--no_cuda",
         "--do_lower_case", "--logging_steps", "1"]


def run(*argv: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    p = subprocess.run([sys.executable, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"{argv[:3]} exited {p.returncode}:\n{p.stderr[-3000:]}"
    return p.stdout


def files(folder) -> set[str]:
    return set(os.listdir(folder))


def test_finetune_stage1_stage2_eval(tmp_path):
    from safetensors import safe_open
    from transformers import AutoModelForSequenceClassification, BertForMaskedLM

    from tinybert.evaluate import read_eval_results
    from tinybert.models.checkpoint import save_model
    from tinybert.models.student import build_student, load_student

    data = write_sst2(tmp_path / "sst2", n_train=24, n_dev=12)
    train = open(os.path.join(data, "train.tsv")).read()
    (tmp_path / "sst2" / "train_aug.tsv").write_text(train + "".join(train.splitlines(True)[1:9]))
    torch.manual_seed(0)
    base = str(tmp_path / "bert")
    save_model(BertForMaskedLM(bert_config(hidden=32)), base, tokenizer=tokenizer_for(tmp_path))

    # 1. the teacher
    ft = str(tmp_path / "teacher")
    run("-m", "tinybert", "finetune", "--model", base, "--task_name", "sst-2", "--data_dir", data, "--output_dir", ft,
        "--max_steps", "6", "--eval_step", "3", "--learning_rate", "1e-3", *SMALL)
    assert {"config.json", "model.safetensors", "vocab.txt", "eval_results.txt", "metrics.jsonl"} <= files(ft)

    # 2. a general student (as general distillation leaves it: encoder + projection, no classifier)
    config = tmp_path / "student_config.json"
    config.write_text(bert_config(layers=2, hidden=16).to_json_string())
    teacher_config = AutoModelForSequenceClassification.from_pretrained(ft).config
    gs = str(tmp_path / "general")
    build_student(str(config), teacher_config).save_pretrained(gs, tokenizer=tokenizer_for(tmp_path))

    # 3. stage 1 on the augmented set, 4. stage 2, 5. --do_eval and --do_predict
    td1, td2, ev = (str(tmp_path / n) for n in ("td1", "td2", "eval"))
    run("task_distill.py", "--teacher_model", ft, "--student_model", gs, "--task_name", "sst-2", "--data_dir", data,
        "--aug_train", "--output_dir", td1, "--max_steps", "4", "--eval_step", "2", *SMALL)
    assert {"config.json", "model.safetensors", "vocab.txt", "metrics.jsonl"} <= files(td1)
    with safe_open(os.path.join(td1, "model.safetensors"), "pt") as f:
        assert "classifier.weight" in f.keys()
    with safe_open(os.path.join(td1, "projections.safetensors"), "pt") as f:  # the projections beside the model
        assert "fit_dense.weight" in f.keys()
    run("task_distill.py", "--pred_distill", "--teacher_model", ft, "--student_model", td1, "--task_name", "sst-2",
        "--data_dir", data, "--aug_train", "--output_dir", td2, "--max_steps", "6", "--eval_step", "3",
        "--learning_rate", "1e-3", *SMALL)
    assert {"config.json", "model.safetensors", "vocab.txt", "eval_results.txt", "metrics.jsonl",
            "teacher_logits"} <= files(td2)
    out = run("task_distill.py", "--do_eval", "--do_predict", "--student_model", td2, "--task_name", "sst-2",
              "--data_dir", data, "--output_dir", ev, *SMALL)
    assert "acc = " in out
    result, trained = read_eval_results(os.path.join(ev, "eval_results.txt")), read_eval_results(
        os.path.join(td2, "eval_results.txt"))
    assert result["acc"] == pytest.approx(trained["acc"]) and result["eval_loss"] == pytest.approx(trained["eval_loss"])
    lines = open(os.path.join(ev, "SST-2.tsv")).read().splitlines()
    assert lines[0] == "index\tprediction" and [x.split("\t")[0] for x in lines[1:]] == [str(i) for i in range(5)]
    assert {x.split("\t")[1] for x in lines[1:]} <= {"0", "1"}

    # the final student is a plain transformers classifier giving the student's own outputs
    hf = AutoModelForSequenceClassification.from_pretrained(td2).eval()
    ours = load_student(td2, 32, head="sequence_classification").eval()
    enc = tokenizer_for(tmp_path)(["good movie", "the plot was very dull"], padding=True, return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(hf(**enc).logits, ours(**enc, logits=True).logits)
    assert hf.config.num_hidden_layers == 2 and hf.config.hidden_size == 16
