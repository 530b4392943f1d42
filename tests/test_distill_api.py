"""The distillation recipes from Python (typed configs, no flags) give what the commands give, bit for bit; and a loss
term registered from outside runs through the recipe and the one loop unchanged."""

from __future__ import annotations

import dataclasses
import json
import os
import random

import pytest
import torch
from test_task_distill import (
    WORDS,
    bert_config,
    final_weights,
    save_classifier,
    save_general_student,
    sentence,
    tokenizer_for,
    write_sst2,
)

from tinybert.cli import run_command


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A pretrained-style teacher with pregenerated shards, a student config, a fine-tuned teacher and SST-2 data,
    all on one vocabulary."""
    from transformers import BertModel

    from tinybert.models.checkpoint import save_model

    d = tmp_path_factory.mktemp("api")
    torch.manual_seed(0)
    save_model(BertModel(bert_config(layers=4, hidden=32)), str(d / "teacher_base"), tokenizer=tokenizer_for(d))
    rng = random.Random(0)
    docs = ["\n".join(sentence(rng, 8) for _ in range(rng.randint(2, 6))) for _ in range(30)]
    (d / "corpus.txt").write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    assert run_command("pregenerate", ["--train_corpus", str(d / "corpus.txt"), "--bert_model", str(d / "teacher_base"),
                                       "--output_dir", str(d / "pregen"), "--max_seq_len", "16",
                                       "--epochs_to_generate", "1", "--num_workers", "1", "--no_progress"]) == 0
    (d / "student_cfg").mkdir()
    (d / "student_cfg" / "config.json").write_text(bert_config(2, 16, 2).to_json_string())
    save_classifier(d / "teacher_clf", d, ["0", "1"], seed=5, layers=4, hidden=32)
    write_sst2(d / "data", n_train=24, n_dev=12)
    assert set(WORDS)  # the shared vocabulary of every model here
    return d


def commands(d, out) -> None:
    """The pipeline as a user types it."""
    task = ["--task_name", "sst-2", "--data_dir", d / "data", "--max_seq_length", 16, "--eval_batch_size", 8,
            "--do_lower_case", "--train_batch_size", 8, "--max_steps", 4, "--eval_step", 2, "--logging_steps", 1,
            "--no_cuda"]
    argvs = [
        ("general-distill", ["--pregenerated_data", d / "pregen", "--teacher_model", d / "teacher_base",
                             "--student_model", d / "student_cfg", "--output_dir", out / "gd", "--max_seq_length", 16,
                             "--train_batch_size", 8, "--max_steps", 4, "--logging_steps", 1, "--save_steps", 2,
                             "--eval_step", 2, "--seed", 3, "--no_cuda"]),
        ("task-distill", ["--teacher_model", d / "teacher_clf", "--student_model", out / "gd", "--output_dir",
                          out / "td1", *task]),
        ("task-distill", ["--pred_distill", "--teacher_model", d / "teacher_clf", "--student_model", out / "td1",
                          "--output_dir", out / "td2", "--temperature", 2, "--hard_label_weight", 0.25,
                          "--learning_rate", 1e-3, "--do_predict", *task]),
        ("task-distill", ["--do_eval", "--student_model", out / "td2", "--output_dir", out / "eval", *task]),
    ]
    for name, argv in argvs:
        assert run_command(name, [str(a) for a in argv]) == 0, (name, argv[:6])


def python_api(d, out) -> dict:
    """The same pipeline from Python: configs and recipe functions only."""
    from tinybert import (
        EvalConfig,
        GeneralDistillConfig,
        TaskConfig,
        TaskDistillConfig,
        run_evaluation,
        run_general_distill,
        run_task_distill,
    )
    from tinybert.config.distill import general_distill_training, task_distill_training

    gd = run_general_distill(GeneralDistillConfig(
        pregenerated_data=str(d / "pregen"), teacher_model=str(d / "teacher_base"),
        student_model=str(d / "student_cfg"), output_dir=str(out / "gd"), max_seq_length=16,
        training=dataclasses.replace(general_distill_training(), train_batch_size=8, max_steps=4, logging_steps=1,
                                     save_steps=2, eval_steps=2, seed=3, no_cuda=True)))
    task = TaskConfig("sst-2", str(d / "data"), max_seq_length=16, eval_batch_size=8, do_lower_case=True)
    training = dataclasses.replace(task_distill_training(), train_batch_size=8, max_steps=4, eval_steps=2,
                                   logging_steps=1, no_cuda=True)
    td1 = run_task_distill(TaskDistillConfig(teacher_model=str(d / "teacher_clf"), student_model=str(out / "gd"),
                                             output_dir=str(out / "td1"), task=task, training=training))
    td2 = run_task_distill(TaskDistillConfig(
        teacher_model=str(d / "teacher_clf"), student_model=str(out / "td1"), output_dir=str(out / "td2"), task=task,
        pred_distill=True, temperature=2.0, hard_label_weight=0.25, do_predict=True,
        training=dataclasses.replace(training, learning_rate=1e-3)))
    metrics = run_evaluation(EvalConfig(student_model=str(out / "td2"), output_dir=str(out / "eval"), task=task))
    return {"gd": gd, "td1": td1, "td2": td2, "eval": metrics}


def test_python_configs_give_what_the_commands_give(inputs, tmp_path):
    from safetensors.torch import load_file

    from tinybert.evaluate import read_eval_results

    commands(inputs, tmp_path / "cli")
    results = python_api(inputs, tmp_path / "py")
    assert results["gd"].global_step == results["td1"].global_step == results["td2"].global_step == 4
    assert results["td2"].best_metric is not None and results["td1"].best_metric is None  # stage 1: latest
    compared = 0
    for run in ("gd", "td1", "td2", "eval"):
        a, b = tmp_path / "cli" / run, tmp_path / "py" / run
        for folder, _, names in os.walk(a):
            rel = os.path.relpath(folder, a)
            for name in names:
                pa, pb = os.path.join(folder, name), os.path.join(b, rel, name)
                if name.endswith(".safetensors"):
                    ta, tb = load_file(pa), load_file(pb)
                    assert ta.keys() == tb.keys()
                    assert all(torch.equal(ta[k], tb[k]) for k in ta), (run, rel, name)
                    compared += 1
                elif name in ("metrics.jsonl", "eval_results.txt", "SST-2.tsv", "config.json"):
                    assert open(pa, "rb").read() == open(pb, "rb").read(), (run, rel, name)
                    compared += 1
    assert compared >= 12
    assert results["eval"] == read_eval_results(str(tmp_path / "cli" / "eval" / "eval_results.txt"))
    # and the runs did train: the stage-2 student moved away from the stage-1 one
    before, after = final_weights(str(tmp_path / "py" / "td1")), final_weights(str(tmp_path / "py" / "td2"))
    key = "model.bert.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(before[key], after[key])
    records = [json.loads(x) for x in (tmp_path / "py" / "td2" / "metrics.jsonl").read_text().splitlines()]
    for r in (r for r in records if "loss" in r):
        assert r["loss"] == pytest.approx(0.75 * r["cls_loss"] + 0.25 * r["hard_loss"], rel=1e-6)


def test_a_registered_loss_term_runs_through_the_recipe_and_the_loop(tmp_path):
    """A term registered from outside (one function, one entry), used in a spec handed to the task recipe: logged
    under its name, weighted into the loss, called at every micro-step; the loop and the recipe are untouched."""
    from tinybert import DistillSpec, LossTerm, TaskConfig, TaskDistillConfig, register_loss, run_task_distill
    from tinybert.config.distill import task_distill_training
    from tinybert.distill.terms import LOSSES

    calls = []

    @register_loss("test_logit_l2", scalar="l2_loss", student=("logits",))
    def logit_l2(inputs, scale: float = 1.0):
        calls.append(tuple(inputs.student.logits.shape))
        assert inputs.teacher is None  # the teacher's logits are cached: no teacher pass at all
        return scale * inputs.student.logits.float().pow(2).mean()

    try:
        teacher = save_classifier(tmp_path / "teacher", tmp_path, ["0", "1"], seed=5)
        student = save_general_student(tmp_path / "student", tmp_path)
        data = write_sst2(tmp_path / "data")
        spec = DistillSpec([LossTerm("soft_ce", 0.5, {"temperature": 1.0}), LossTerm("test_logit_l2", 0.5,
                                                                                    {"scale": 2.0})],
                           trainable="all but projections", cache_teacher_logits=True, evaluator="dev",
                           publish="best")
        out = tmp_path / "out"
        result = run_task_distill(TaskDistillConfig(
            teacher_model=teacher, student_model=student, output_dir=str(out), distill_spec=spec,
            task=TaskConfig("sst-2", data, max_seq_length=16, eval_batch_size=8), skip_teacher_check=True,
            training=dataclasses.replace(task_distill_training(), train_batch_size=8, max_steps=3, eval_steps=1,
                                         logging_steps=1, no_cuda=True)))
    finally:
        del LOSSES["test_logit_l2"]
    assert len(calls) == 3 and all(shape[0] == 8 for shape in calls)
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "loss" in r]
    assert [r["step"] for r in train] == [1, 2, 3]
    for r in train:
        assert r["l2_loss"] > 0 and r["loss"] == pytest.approx(0.5 * r["cls_loss"] + 0.5 * r["l2_loss"], rel=1e-6)
    assert result.best_metric is not None and (out / "eval_results.txt").is_file()  # publish: best
    assert os.listdir(out / "teacher_logits")  # cached as the spec says


@pytest.mark.parametrize("command", ["general-distill", "task-distill", "ner-distill"])
def test_distillation_defaults_to_the_original_optimizer(command):
    """The original's flags mean the original's update: BertAdam (no bias correction) with weight decay 0.01, from
    the command and from Python alike (docs/fidelity.md 15.3: with AdamW the same flags learned several times
    slower)."""
    from tinybert.cli import build_parser
    from tinybert.config.distill import general_distill_training, task_distill_training
    from tinybert.train.optim import BertAdam, build_optimizer

    argv = {"general-distill": ["--pregenerated_data", "p", "--teacher_model", "t", "--student_model", "s"],
            "task-distill": ["--task_name", "sst-2", "--data_dir", "d"], "ner-distill": ["--student_model", "s"]}
    args = build_parser(command).parse_args(["--output_dir", "out", *argv[command]])
    assert (args.optimizer, args.weight_decay) == ("bertadam", 0.01)
    for training in (general_distill_training(), task_distill_training()):
        assert (training.optimizer, training.weight_decay) == ("bertadam", 0.01)
    optimizer = build_optimizer(torch.nn.Linear(2, 2), args.optimizer, lr=1e-3, weight_decay=args.weight_decay)
    assert isinstance(optimizer, BertAdam)
    # one step on a gradient g: BertAdam moves by lr * (1 - b1) * g / (sqrt((1 - b2) * g^2) + eps), about
    # lr * 0.1 / sqrt(0.001) = 3.16 lr, where bias-corrected AdamW moves by lr
    p = torch.nn.Parameter(torch.tensor([1.0]))
    opt = BertAdam([p], lr=1e-3, weight_decay=0.0)
    p.grad = torch.tensor([0.5])
    opt.step()
    m, v = 0.1 * 0.5, 0.001 * 0.5**2  # the raw moments after one step
    assert p.item() == pytest.approx(1.0 - 1e-3 * m / (v**0.5 + 1e-6), rel=1e-6)  # 1 - 3.16e-3
