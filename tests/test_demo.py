"""examples/demo.sh end to end at tiny budgets, with an offline tiny teacher and tiny GloVe file (no downloads)."""

import json
import os
import subprocess
import sys

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, BertConfig, BertModel

from tinybert.cli import run_command
from tinybert.models.checkpoint import save_model
from tinybert.models.tokenizer import load_tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STAGES = ["teacher", "teacher_mlm", "mlm_data", "pregen", "general_student", "td_stage1", "td_stage2", "td_eval",
          "label_only"]


def test_demo_pipeline_tiny(tmp_path):
    corpus = tmp_path / "corpus.txt"
    with open(os.path.join(ROOT, "examples", "data", "corpus_en.txt"), encoding="utf-8") as f:
        lines = [next(f) for _ in range(600)]
    corpus.write_text("".join(lines), encoding="utf-8")
    with open(os.path.join(ROOT, "examples", "data", "spam", "train.tsv"), encoding="utf-8") as f:
        spam = [next(f) for _ in range(300)]
    (tmp_path / "more.txt").write_text("".join(x.split("\t")[0] + "\n" for x in spam[1:]), encoding="utf-8")
    assert run_command("build-vocab", ["--input_file", str(corpus), str(tmp_path / "more.txt"), "--output_dir",
                                       str(tmp_path / "vocab"), "--vocab_size", "1500", "--do_lower_case"]) == 0
    tok = load_tokenizer(tmp_path / "vocab", do_lower_case=True)
    vocab_size = len(tok.get_vocab())
    torch.manual_seed(0)
    teacher = BertModel(BertConfig(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                                   intermediate_size=128, max_position_embeddings=128))
    save_model(teacher, tmp_path / "teacher", tokenizer=tok)
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "config.json").write_text(json.dumps(dict(
        model_type="bert", vocab_size=vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128)))
    words = sorted({w.strip(".,:;\"'()").lower() for line in lines for w in line.split()} - {""})[:400]
    rng = np.random.default_rng(0)
    (tmp_path / "glove.txt").write_text(
        "".join(w + " " + " ".join(f"{v:.4f}" for v in rng.normal(size=8)) + "\n" for w in words if " " not in w))

    run = tmp_path / "run"
    env = dict(os.environ, RUN=str(run), DEMO_SCALE="tiny", DEMO_TEACHER=str(tmp_path / "teacher"),
               DEMO_GLOVE=str(tmp_path / "glove.txt"), DEMO_STUDENT=str(tmp_path / "student"), PY=sys.executable,
               OMP_NUM_THREADS="1")
    proc = subprocess.run(["bash", os.path.join(ROOT, "examples", "demo.sh")], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    for stage in STAGES:
        assert (run / stage / ".demo_done").is_file(), stage
    for model_dir in ("teacher", "teacher_mlm", "general_student", "td_stage1", "td_stage2", "label_only"):
        assert (run / model_dir / "model.safetensors").is_file(), model_dir
        assert (run / model_dir / "config.json").is_file(), model_dir
    aug = (run / "data" / "spam_small" / "train_aug.tsv").read_text().splitlines()
    assert aug[0] == "sentence\tlabel" and len(aug) > 49
    # the students' unlabelled e-mails: the next 48 training e-mails, text only, none of them among the labelled
    unlabeled = (run / "data" / "spam_small" / "unlabeled.tsv").read_text().splitlines()
    labelled = {row.split("\t")[0] for row in (run / "data" / "spam_small" / "train.tsv").read_text().splitlines()}
    assert unlabeled[0] == "index\tsentence" and len(unlabeled) == 49
    assert [row.split("\t")[0] for row in unlabeled[1:]] == [str(i) for i in range(48)]
    assert not labelled & {row.split("\t", 1)[1] for row in unlabeled[1:]}
    assert "acc = " in (run / "td_eval" / "eval_results.txt").read_text()
    student = AutoModelForSequenceClassification.from_pretrained(str(run / "td_stage2"))
    assert student.config.num_hidden_layers == 1 and student.config.num_labels == 2

    report = run / "report"
    table = (report / "report.md").read_text()
    for name in ("teacher (MiniLM-L6)", "TinyBERT student", "label-only student"):
        assert name in table
    data = json.loads((report / "report.json").read_text())
    assert len(data["runs"]) == 3
    assert {"teacher_mlm", "general_student", "td_stage1"} <= set(data["plotted"]["losses"])  # every stage's losses
    for png in ("losses.png", "dev_metric.png"):
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "stage wall times" in proc.stdout

    # a second run reuses every finished step
    again = subprocess.run(["bash", os.path.join(ROOT, "examples", "demo.sh")], env=env, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("already done") == len(STAGES) + 1  # + the augmented data folder
