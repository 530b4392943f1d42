"""Students made of a teacher's layers (``task_distill.py --init_from_teacher``, ``tinybert finetune --keep_layers``)
and the teacher-layer layer map: checked against a forward pass assembled by hand from the original's modules."""

from __future__ import annotations

import json
import os

import pytest
import torch
from test_task_distill import (
    bert_config,
    common,
    distill,
    error_line,
    save_classifier,
    save_general_student,
    write_sst2,
)


def teacher_model(layers: int = 4, seed: int = 0):
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    return BertForSequenceClassification(bert_config(layers, 32, num_labels=2)).eval()


def batch(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 30, (3, 9), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    return ids, mask


def by_hand(model, layers, ids, mask) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings, then the original model's ``layers`` (1-based) one after the other: (last hidden state, logits)."""
    bert = model.bert
    h = bert.embeddings(input_ids=ids, token_type_ids=torch.zeros_like(ids))
    extended = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min  # additive, per key
    for n in layers:
        out = bert.encoder.layer[n - 1](h, attention_mask=extended)
        h = out[0] if isinstance(out, tuple) else out
    return h, model.classifier(bert.pooler(h))


@pytest.mark.parametrize("layers", [(2, 4), (1,), (1, 2, 3)])
def test_keep_layers_runs_the_chosen_layers_in_order(layers):
    from tinybert.models.layer_subset import keep_layers

    model = teacher_model()
    ids, mask = batch()
    small = keep_layers(model, layers).eval()
    with torch.no_grad():
        out = small(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        hidden, logits = by_hand(model, layers, ids, mask)
        other, _ = by_hand(model, (1, 3), ids, mask)  # a different choice of layers: the check can fail
    torch.testing.assert_close(out.hidden_states[-1][mask.bool()], hidden[mask.bool()], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.logits, logits, rtol=1e-5, atol=1e-6)
    assert (other - hidden)[mask.bool()].abs().max() > 0.01  # 1000x the tolerance above
    assert small.config.num_hidden_layers == len(layers) and len(small.bert.encoder.layer) == len(layers)
    assert small.config.tinybert_layers_from == {"layers": list(layers), "of": 4}
    # the source model is untouched, and the copy shares no tensor with it
    assert model.config.num_hidden_layers == 4 and len(model.bert.encoder.layer) == 4
    small.bert.embeddings.word_embeddings.weight.data.add_(1.0)
    assert not torch.equal(small.bert.embeddings.word_embeddings.weight, model.bert.embeddings.word_embeddings.weight)


def test_layer_choices_are_checked():
    from tinybert.config.base import parse_layer_list
    from tinybert.errors import UserError
    from tinybert.models.layer_subset import keep_layers

    assert parse_layer_list("2,4,6") == (2, 4, 6)
    for bad in ("2,2", "4,2", "0,1", "a", ""):
        with pytest.raises(UserError):
            parse_layer_list(bad, "keep_layers")
    with pytest.raises(UserError, match="layer 5 does not exist; it has layers 1..4"):
        keep_layers(teacher_model(), (2, 5), "the teacher")


def test_teacher_layer_map():
    from tinybert.distill.layer_map import load_layer_map
    from tinybert.errors import UserError

    got = [(m.kind, m.student, m.teacher) for m in load_layer_map("3,6", 2, 6)]
    assert got == [("attention", 0, 2), ("attention", 1, 5), ("hidden", 0, 0), ("hidden", 1, 3), ("hidden", 2, 6)]
    with pytest.raises(UserError, match="names 3 teacher layers for a student of 2"):
        load_layer_map("1,2,3", 2, 6)
    with pytest.raises(UserError, match="teacher layer 7 does not exist"):
        load_layer_map("3,7", 2, 6)


def test_student_from_teacher_starts_where_the_teacher_is():
    """Layers 1,2 of a 4-layer teacher: the student's embedding output, hidden states 1-2 (through the identity
    projection) and attention scores of layers 0-1 equal the teacher's, so stage 1's loss starts at 0 there."""
    from tinybert.models.classifier import student_from_teacher
    from tinybert.models.view import distill_forward

    teacher = teacher_model()
    ids, mask = batch(1)
    student = student_from_teacher(teacher, (1, 2)).eval()
    with torch.no_grad():
        s = student(ids, mask, scores=True, hidden=True, logits=True)
        t = distill_forward(teacher, ids, mask, scores=True, hidden=True, logits=True)
    assert len(s.hidden_states) == 3 and len(s.attention_scores) == 2
    for i in range(3):
        torch.testing.assert_close(s.hidden_states[i], t.hidden_states[i], rtol=1e-5, atol=1e-6)
    for i in range(2):
        torch.testing.assert_close(s.attention_scores[i], t.attention_scores[i], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(s.logits, by_hand(teacher, (1, 2), ids, mask)[1], rtol=1e-5, atol=1e-6)
    assert torch.equal(student.fit_dense.weight, torch.eye(32)) and not student.fit_dense.bias.any()
    # layers 2,4: the copies are renumbered, so every score lands in its own slot (none lost)
    far = student_from_teacher(teacher, (2, 4)).eval()
    with torch.no_grad():
        scores = far(ids, mask, scores=True).attention_scores
    assert len(scores) == 2 and all(x is not None and x.shape == (3, 2, 9, 9) for x in scores)


def test_init_from_teacher_stages_and_keep_layers_finetune(tmp_path, capsys):
    """Stage 1 and 2 from the teacher's layers 2,4 through the command; the label-only match via --keep_layers."""
    from safetensors.torch import load_file

    from tinybert.cli import run_command

    data = write_sst2(tmp_path / "data")
    teacher = save_classifier(tmp_path / "teacher", tmp_path, ["0", "1"], layers=4)
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    distill(["--teacher_model", teacher, "--init_from_teacher", "2,4", "--task_name", "sst-2",
             *common(data, s1, "--max_steps", 3, "--learning_rate", 1e-4)])
    assert (s1 / "metrics.jsonl").is_file()
    cfg = json.loads((s1 / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 2 and cfg["hidden_size"] == 32
    assert cfg["tinybert_layers_from"] == {"layers": [2, 4], "of": 4}
    distill(["--pred_distill", "--teacher_model", teacher, "--student_model", s1, "--task_name", "sst-2",
             *common(data, s2, "--max_steps", 3, "--eval_step", 3)])
    assert (s2 / "eval_results.txt").is_file()
    # the published stage-1 student's layer 1 is the teacher's layer 2 after 3 small steps: close, not equal
    t = load_file(os.path.join(teacher, "model.safetensors"))
    w = load_file(str(s1 / "model.safetensors"))
    key = "bert.encoder.layer.{}.attention.self.query.weight"
    assert (w[key.format(0)] - t[key.format(1)]).abs().max() < 0.01
    ft = tmp_path / "ft"
    assert run_command("finetune", [str(a) for a in ["--model", teacher, "--keep_layers", "1,3",
                                                     "--task_name", "sst-2", *common(data, ft, "--max_steps", 2)]]) == 0
    assert json.loads((ft / "config.json").read_text())["num_hidden_layers"] == 2
    # both or neither of --student_model and --init_from_teacher: one line naming the flags
    student = save_general_student(tmp_path / "gs", tmp_path)
    for extra in (["--student_model", student, "--init_from_teacher", "1,2"], []):
        argv = ["--teacher_model", teacher, "--task_name", "sst-2", *extra, *common(data, tmp_path / "x")]
        assert run_command("task-distill", [str(a) for a in argv]) == 2
        assert "--student_model or --init_from_teacher: give exactly one" in error_line(capsys)
    argv = ["--teacher_model", teacher, "--task_name", "sst-2", "--init_from_teacher", "2,9",
            *common(data, tmp_path / "x")]
    assert run_command("task-distill", [str(a) for a in argv]) == 2
    assert "layer 9 does not exist" in error_line(capsys)
