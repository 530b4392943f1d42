"""NER and reading-comprehension distillation: the stage-2 token and span terms against a direct computation, the
presets, and fine-tune -> stage 1 -> stage 2 -> eval end to end on tiny models and fixtures."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch
from test_ner_e2e import TRAIN, mrc_file, ner_data, run, tiny_model

from tinybert.distill import span_terms
from tinybert.distill.layer_map import LayerMap
from tinybert.distill.terms import LOSSES, TermInputs
from tinybert.models.view import DistillOutputs


def inputs(student_logits, teacher_logits, **batch) -> TermInputs:
    return TermInputs(batch, DistillOutputs(logits=student_logits), None, teacher_logits, LayerMap())


def test_token_soft_ce_against_a_direct_computation():
    torch.manual_seed(0)
    batch, length, labels, temperature = 3, 5, 4, 2.0
    student = torch.randn(batch, length, labels)
    teacher = torch.randn(batch, length + 3, labels)  # cached windows are longer than the trimmed batch
    gold = torch.tensor([[-100, 1, -100, 2, -100], [-100, 0, 3, -100, -100], [-100, -100, -100, -100, -100]])
    got = LOSSES["token_soft_ce"].fn(inputs(student, teacher, labels=gold), temperature=temperature)
    terms = []
    for b in range(batch):
        for t in range(length):
            if gold[b, t] == -100:
                continue
            q = [math.exp(x / temperature) for x in teacher[b, t].tolist()]
            q = [x / sum(q) for x in q]
            s = [x / temperature for x in student[b, t].tolist()]
            log_z = math.log(sum(math.exp(x) for x in s))
            terms.append(-sum(qi * (si - log_z) for qi, si in zip(q, s, strict=True)))
    assert len(terms) == 4 and got.item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)
    # only the first pieces of real tokens count: the logits elsewhere do not matter
    changed = student.clone()
    changed[gold == -100] = 50.0
    again = LOSSES["token_soft_ce"].fn(inputs(changed, teacher, labels=gold), temperature=temperature)
    assert again.item() == pytest.approx(got.item(), rel=1e-6)
    # a batch without labelled tokens gives 0 (and a gradient path)
    none = torch.full_like(gold, -100)
    zero = LOSSES["token_soft_ce"].fn(inputs(student.requires_grad_(), teacher, labels=none))
    assert zero.item() == 0.0 and zero.requires_grad


def test_span_soft_ce_against_a_direct_computation():
    torch.manual_seed(1)
    student = torch.randn(2, 6, 2)
    teacher = torch.randn(2, 9, 2)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    got = LOSSES["span_soft_ce"].fn(inputs(student, teacher, attention_mask=mask), temperature=1.5)
    total = 0.0
    for side in (0, 1):
        per_window = []
        for b in range(2):
            n = int(mask[b].sum())
            q = torch.softmax(teacher[b, :n, side] / 1.5, dim=0)
            log_p = torch.log_softmax(student[b, :n, side] / 1.5, dim=0)
            per_window.append(-(q * log_p).sum().item())
        total += sum(per_window) / 2
    assert got.item() == pytest.approx(total / 2, rel=1e-5)
    hard = LOSSES["span_hard_ce"].fn(inputs(student, None, start_positions=torch.tensor([1, 0]),
                                            end_positions=torch.tensor([2, 3])))
    expected = (torch.nn.functional.cross_entropy(student[..., 0], torch.tensor([1, 0]))
                + torch.nn.functional.cross_entropy(student[..., 1], torch.tensor([2, 3]))) / 2
    assert hard.item() == pytest.approx(expected.item(), rel=1e-6)


def test_stage2_presets():
    spec = span_terms.span_stage2("token", temperature=2.0)
    assert [t.name for t in spec.terms] == ["token_soft_ce"] and spec.terms[0].options == {"temperature": 2.0}
    assert spec.cache_teacher_logits and spec.publish == "best" and spec.trainable == "all but projections"
    mixed = span_terms.span_stage2("span", hard_label_weight=0.25, cache_teacher_logits=False)
    assert [(t.name, t.weight) for t in mixed.terms] == [("span_soft_ce", 0.75), ("span_hard_ce", 0.25)]
    assert not mixed.cache_teacher_logits


def records(out: str) -> list[dict]:
    with open(os.path.join(out, "metrics.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_ner_finetune_distil_evaluate(tmp_path):
    data = ner_data(tmp_path / "data")
    teacher = str(tmp_path / "teacher")
    run("ner", ["--model", tiny_model(tmp_path / "base", tmp_path), "--data_dir", data, "--output_dir", teacher,
                "--do_train", "--max_seq_length", 16, "--max_steps", 30, "--eval_step", 30, *TRAIN])
    general = tiny_model(tmp_path / "general", tmp_path, seed=3)  # stands in for a general student
    common = ["--teacher_model", teacher, "--data_dir", data, "--max_seq_length", 16, *TRAIN]
    stage1 = str(tmp_path / "td1")
    run("ner-distill", ["--student_model", general, "--output_dir", stage1, "--max_steps", 4, *common])
    assert {"att_loss", "rep_loss"} <= set(records(stage1)[0])
    stage2 = str(tmp_path / "td2")
    result = run("ner-distill", ["--student_model", stage1, "--output_dir", stage2, "--pred_distill",
                                 "--temperature", 2, "--max_steps", 20, "--eval_step", 10, "--do_predict", *common])
    assert os.listdir(os.path.join(stage2, "teacher_logits"))  # cached per window
    f1s = [r["eval_f1"] for r in records(stage2) if "eval_f1" in r]
    assert len(f1s) == 2 and result.train.best_metric == max(f1s)
    assert result.predictions_file.endswith("test_predictions.txt")
    first = next(r for r in records(stage2) if "cls_loss" in r)
    # the cached logits are the teacher's own: an online teacher gives the same first loss
    online = str(tmp_path / "td2_online")
    run("ner-distill", ["--student_model", stage1, "--output_dir", online, "--pred_distill", "--temperature", 2,
                        "--max_steps", 1, "--no_logits_cache", *common])
    assert next(r for r in records(online) if "cls_loss" in r)["cls_loss"] == pytest.approx(first["cls_loss"],
                                                                                             rel=1e-4)
    # --do_eval alone evaluates the student (entity F1 of the published one)
    ev = run("ner-distill", ["--student_model", stage2, "--output_dir", tmp_path / "ev", "--do_eval",
                             "--data_dir", data, "--max_seq_length", 16])
    assert ev.eval_metrics["f1"] == pytest.approx(result.train.best_metric)


def test_mrc_finetune_distil_evaluate(tmp_path):
    data = tmp_path / "cmrc"
    data.mkdir()
    mrc_file(data / "train.json", 32, 1)
    mrc_file(data / "dev.json", 6, 2)
    teacher = str(tmp_path / "teacher")
    window = ["--max_seq_length", 16, "--doc_stride", 4, "--max_answer_length", 4]
    run("mrc", ["--model", tiny_model(tmp_path / "base", tmp_path), "--data_dir", data, "--output_dir", teacher,
                "--do_train", "--max_steps", 20, "--eval_step", 20, *window, *TRAIN])
    general = tiny_model(tmp_path / "general", tmp_path, model_type="nezha", seed=3)  # a NEZHA student
    common = ["--teacher_model", teacher, "--data_dir", data, *window, *TRAIN]
    stage1 = str(tmp_path / "td1")
    run("mrc-distill", ["--student_model", general, "--output_dir", stage1, "--max_steps", 3, *common])
    stage2 = str(tmp_path / "td2")
    result = run("mrc-distill", ["--student_model", stage1, "--output_dir", stage2, "--pred_distill",
                                 "--max_steps", 10, "--eval_step", 5, *common])
    averages = [r["eval_average"] for r in records(stage2) if "eval_average" in r]
    assert len(averages) == 2 and result.train.best_metric == max(averages)
    with open(os.path.join(stage2, "eval_results.txt"), encoding="utf-8") as f:
        assert "average = " in f.read()
