"""general_distill.py end to end on tiny models: output format, DDP equivalence, bad input."""

import json
import os
import subprocess
import sys

import pytest
import torch
from ddp_launch import free_port
from safetensors.torch import load_file
from transformers import AutoModel, BertConfig, BertModel

from tinybert.cli import run_command
from tinybert.models.checkpoint import save_model
from tinybert.models.tokenizer import load_tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LETTERS = [chr(c) for c in range(ord("a"), ord("z") + 1)]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "the", "of", "and", "to", *LETTERS,
         *("##" + c for c in LETTERS)]


def real_corpus(path, lines=400):
    with open(os.path.join(ROOT, "examples", "data", "corpus_en.txt"), encoding="utf-8") as f:
        text = [next(f) for _ in range(lines)]
    path.write_text("".join(text) + "\n" + "".join(text[::-1]), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("gd")
    (d / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    torch.manual_seed(0)
    teacher = BertModel(BertConfig(vocab_size=len(VOCAB), hidden_size=48, num_hidden_layers=4, num_attention_heads=4,
                                   intermediate_size=96, max_position_embeddings=64))
    save_model(teacher, d / "teacher", tokenizer=load_tokenizer(d / "vocab.txt", do_lower_case=True))
    student_cfg = dict(model_type="bert", vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                       hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (d / "student").mkdir()
    (d / "student" / "config.json").write_text(json.dumps(student_cfg))
    real_corpus(d / "corpus.txt")
    assert run_command("pregenerate", ["--train_corpus", str(d / "corpus.txt"), "--bert_model", str(d / "teacher"),
                                       "--output_dir", str(d / "pregen"), "--max_seq_len", "32",
                                       "--epochs_to_generate", "2", "--num_workers", "1", "--no_progress"]) == 0
    return d


def distill(d, out, *extra, nproc=None, steps=6):
    args = ["--pregenerated_data", str(d / "pregen"), "--teacher_model", str(d / "teacher"),
            "--student_model", str(d / "student"), "--output_dir", str(out), "--max_seq_length", "32",
            "--train_batch_size", "8", "--max_steps", str(steps), "--logging_steps", "2", "--save_steps", "3",
            "--eval_step", "0", "--seed", "3", *extra]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    if nproc:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
               str(free_port()), os.path.join(ROOT, "general_distill.py"), *args]
    else:
        cmd = [sys.executable, os.path.join(ROOT, "general_distill.py"), *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def test_general_distill_writes_a_student_plain_transformers_loads(setup, tmp_path):
    r = distill(setup, tmp_path / "out", "--projection", "per_layer")
    assert r.returncode == 0, r.stderr[-2000:]
    out = tmp_path / "out"
    for name in ("config.json", "model.safetensors", "vocab.txt", "metrics.jsonl"):
        assert (out / name).is_file(), name
    assert any(n.startswith("events.out.tfevents") for n in os.listdir(out / "tensorboard"))
    stored = load_file(str(out / "model.safetensors"))
    projections = load_file(str(out / "projections.safetensors"))  # beside the model: transformers never sees them
    assert not [k for k in stored if k.startswith("fit_dense")]
    assert {f"fit_denses.{i}.weight" for i in range(3)} <= set(projections)
    assert projections["fit_denses.0.weight"].shape == (48, 32)  # student width 32 -> teacher width 48
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "loss" in r]
    assert [r["step"] for r in train] == [2, 4, 6]
    for rec in train:
        assert rec["loss"] == pytest.approx(rec["att_loss"] + rec["rep_loss"], rel=1e-5)
    model = AutoModel.from_pretrained(str(out)).eval()
    assert model.config.num_hidden_layers == 2
    ids = torch.tensor([[2, 11, 12, 13, 3]])
    ref = BertModel(model.config).eval()
    ref.load_state_dict({k: v for k, v in stored.items() if not k.startswith("fit_dense")}, strict=False)
    torch.testing.assert_close(model(input_ids=ids).last_hidden_state, ref(input_ids=ids).last_hidden_state)
    # the student is not the random init it started from: the encoder was trained
    assert json.loads((out / "config.json").read_text())["tinybert_projection"] == {"type": "per_layer",
                                                                                    "fit_size": 48}


def test_two_process_gloo_run_equals_one_process(setup, tmp_path):
    one = distill(setup, tmp_path / "one", steps=4)
    assert one.returncode == 0, one.stderr[-2000:]
    two = distill(setup, tmp_path / "two", nproc=2, steps=4)
    assert two.returncode == 0, two.stderr[-3000:]
    a = load_file(str(tmp_path / "one" / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)
    # and training did move the weights (a test that cannot fail proves nothing)
    init = distill(setup, tmp_path / "zero", steps=1)
    assert init.returncode == 0
    c = load_file(str(tmp_path / "zero" / "model.safetensors"))
    assert not torch.allclose(a["encoder.layer.0.attention.self.query.weight"],
                              c["encoder.layer.0.attention.self.query.weight"])


def test_bad_input_one_line_errors(setup, tmp_path, capsys):
    d = setup
    bad = tmp_path / "bad_student"
    bad.mkdir()
    cfg = json.loads((d / "student" / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps(dict(cfg, vocab_size=99)))
    base = ["--pregenerated_data", str(d / "pregen"), "--teacher_model", str(d / "teacher"), "--max_steps", "1",
            "--train_batch_size", "4", "--max_seq_length", "32"]
    assert run_command("general-distill", [*base, "--student_model", str(bad), "--output_dir",
                                           str(tmp_path / "o1")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert f"vocab_size 99 differs from the teacher's {len(VOCAB)}" in err
    # data pregenerated at 32 tokens refused for a 16-token run
    assert run_command("general-distill", [*base, "--student_model", str(d / "student"), "--output_dir",
                                           str(tmp_path / "o2"), "--max_seq_length", "16"]) == 2  # the later flag wins
    assert "max_seq_len 32" in capsys.readouterr().err
    # longer than the teacher's 64 positions
    assert run_command("general-distill", [*base, "--student_model", str(d / "student"), "--output_dir",
                                           str(tmp_path / "o4"), "--max_seq_length", "128"]) == 2
    assert "--max_seq_length 128 exceeds the teacher's max_position_embeddings 64" in capsys.readouterr().err
    # a finished run is never overwritten without --overwrite_output_dir
    out = tmp_path / "o3"
    assert run_command("general-distill", [*base, "--student_model", str(d / "student"), "--output_dir", str(out)]) == 0
    before = (out / "model.safetensors").read_bytes()
    assert run_command("general-distill", [*base, "--student_model", str(d / "student"), "--output_dir", str(out)]) == 2
    assert "overwrite_output_dir" in capsys.readouterr().err
    assert (out / "model.safetensors").read_bytes() == before
