"""The distillation view, the TinyBERT losses and the layer map, against independent computations."""

import json
import math

import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, BertModel

from tinybert.distill import losses
from tinybert.distill.layer_map import LayerMap, LayerMatch, load_layer_map, uniform_map
from tinybert.distill.losses import attention_mse, hidden_mse, prediction_loss, soft_cross_entropy
from tinybert.distill.objective import DistillObjective
from tinybert.distill.spec import general_distillation
from tinybert.errors import UserError
from tinybert.models.view import distill_forward, frozen


def tiny_bert(layers=2, hidden=32, heads=4, cls=BertModel, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=60, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=2 * hidden, max_position_embeddings=32, **kw)
    return cls(cfg).eval()


def batch(b=3, t=9, seed=1):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, 60, (b, t), generator=g)
    mask = torch.ones(b, t, dtype=torch.long)
    mask[1, 6:] = 0
    mask[2, 4:] = 0
    types = torch.zeros(b, t, dtype=torch.long)
    types[:, 3:] = 1
    return ids, mask, types


# ---------------------------------------------------------------- the view
def test_scores_are_qk_over_sqrt_d_plus_mask_recomputed_from_weights():
    model = tiny_bert(layers=2, hidden=32, heads=4)
    ids, mask, types = batch()
    out = distill_forward(model, ids, mask, types, scores=True, hidden=True)
    assert len(out.hidden_states) == 3 and len(out.attention_scores) == 2
    d = 32 // 4
    for i, layer in enumerate(model.encoder.layer):
        h = out.hidden_states[i]
        att = layer.attention.self
        q = att.query(h).view(3, 9, 4, d).transpose(1, 2)
        k = att.key(h).view(3, 9, 4, d).transpose(1, 2)
        expected = q @ k.transpose(-1, -2) / math.sqrt(d)
        got = out.attention_scores[i]
        real = mask[:, None, None, :].expand_as(got).bool()
        torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-5)
        assert (got[~real] <= -1e30).all()  # the additive mask, far below the -100 threshold


def test_view_changes_no_output_and_restores_attention_implementation():
    model = tiny_bert(cls=BertForSequenceClassification, num_labels=3)
    ids, mask, types = batch()
    ref = model(input_ids=ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
    before = model.config._attn_implementation
    out = distill_forward(model, ids, mask, types, scores=True, hidden=True, logits=True)
    assert model.config._attn_implementation == before
    torch.testing.assert_close(out.logits, ref.logits, atol=1e-5, rtol=1e-5)
    for a, b in zip(out.hidden_states, ref.hidden_states):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.embedding, model.bert.embeddings(input_ids=ids, token_type_ids=types))


def test_only_wanted_layers_are_captured_and_no_head_without_logits():
    model = tiny_bert(layers=3, cls=BertForSequenceClassification, num_labels=2)
    ids, mask, types = batch()
    out = distill_forward(model, ids, mask, types, scores=[1])
    assert out.attention_scores[0] is None and out.attention_scores[2] is None
    assert out.attention_scores[1].shape == (3, 4, 9, 9)
    assert out.logits is None and out.hidden_states is None


def test_student_scores_carry_gradients_teacher_is_frozen():
    student = tiny_bert(seed=3)
    student.train()
    ids, mask, types = batch()
    out = distill_forward(student, ids, mask, types, scores=True)
    out.attention_scores[0][mask[:, None, None, :].expand(-1, 4, 9, -1).bool()].sum().backward()
    assert student.encoder.layer[0].attention.self.query.weight.grad.abs().sum() > 0
    teacher = frozen(tiny_bert(seed=4))
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())


# ---------------------------------------------------------------- losses (hand-computed)
def test_attention_mse_tinybert_mode_by_hand():
    # one sequence, one head, 2 tokens, the second token is padding (score + -10000 as the original's mask)
    s = torch.tensor([[[[1.0, -1e4 + 3.0], [2.0, -1e4]]]])
    t = torch.tensor([[[[0.0, -1e4 + 5.0], [4.0, -1e4 - 7.0]]]])
    # masked entries zeroed on both sides: diffs 1, 0, -2, 0 -> (1 + 4) / 4
    assert attention_mse(s, t, "tinybert").item() == pytest.approx(5 / 4)


def test_attention_mse_tinybert_mode_gradient_and_edge_values_against_a_plain_implementation(monkeypatch):
    """The fused loss (student gradient only) against torch.where + autograd, with entries exactly at the threshold,
    just above it, -inf (fp16-overflowed masks) and transformers' finfo.min masks."""
    g = torch.Generator().manual_seed(0)
    s = torch.randn(2, 3, 5, 5, generator=g, dtype=torch.float64) * 4
    t = torch.randn(2, 3, 5, 5, generator=g, dtype=torch.float64) * 4
    s[0, :, :, 4] = torch.finfo(torch.float32).min
    t[0, :, :, 4] = torch.finfo(torch.float32).min
    s[1, 0, 0, :3] = torch.tensor([-100.0, -99.99, float("-inf")])
    t[1, 0, 0, :3] = torch.tensor([-100.0, float("-inf"), -99.99])
    s.requires_grad_(True)

    def reference(a, b):
        a = torch.where(a <= -100, torch.zeros_like(a), a)
        b = torch.where(b <= -100, torch.zeros_like(b), b)
        return ((a - b) ** 2).mean()

    expected = reference(s, t)
    (grad_expected,) = torch.autograd.grad(expected, s)
    for chunk_bytes in (losses.CHUNK_BYTES, 1):  # one slice; one batch row per slice
        monkeypatch.setattr(losses, "CHUNK_BYTES", chunk_bytes)
        got = attention_mse(s, t, "tinybert")
        (grad_got,) = torch.autograd.grad(got * 3.0, s)  # a non-unit upstream gradient
        assert torch.isfinite(got) and got.item() == pytest.approx(expected.item(), rel=1e-6)  # computed in float32
        assert torch.allclose(grad_got, 3.0 * grad_expected, atol=1e-6)
        assert grad_got[1, 0, 0, 0] == 0 and grad_got[1, 0, 0, 1] != 0  # -100 is masked, -99.99 is not


def test_attention_mse_masked_mode_by_hand():
    s = torch.tensor([[[[1.0, 9.0], [2.0, 9.0]]]])
    t = torch.tensor([[[[0.0, -9.0], [5.0, 3.0]]]])
    mask = torch.tensor([[1, 0]])
    # only the (query 0, key 0) pair is real: (1 - 0)^2 / 1
    assert attention_mse(s, t, "masked", mask).item() == pytest.approx(1.0)
    mask = torch.tensor([[1, 1]])
    assert attention_mse(s, t, "masked", mask).item() == pytest.approx((1 + 324 + 9 + 36) / 4)


def test_attention_mse_averages_heads_when_counts_differ():
    s = torch.tensor([[[[1.0]], [[3.0]]]])  # 2 heads -> mean 2
    t = torch.tensor([[[[5.0]], [[1.0]], [[0.0]]]])  # 3 heads -> mean 2
    assert attention_mse(s, t).item() == pytest.approx(0.0)
    t = torch.tensor([[[[6.0]], [[6.0]], [[6.0]]]])
    assert attention_mse(s, t).item() == pytest.approx(16.0)


def test_hidden_mse_by_hand():
    s = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    t = torch.tensor([[[0.0, 2.0], [3.0, 0.0]]])
    assert hidden_mse(s, t).item() == pytest.approx((1 + 16) / 4)
    assert hidden_mse(s, t, torch.tensor([[1, 0]])).item() == pytest.approx(1 / 2)


def test_soft_cross_entropy_and_temperature_by_hand():
    student = torch.tensor([[0.0, math.log(3.0)]])  # p = (1/4, 3/4)
    teacher = torch.tensor([[0.0, 0.0]])  # q = (1/2, 1/2)
    expected = -(0.5 * math.log(0.25) + 0.5 * math.log(0.75))
    assert soft_cross_entropy(student, teacher).item() == pytest.approx(expected, rel=1e-6)
    # at T=2 the logits are halved: student (0, ln3) -> p ∝ (1, sqrt 3); teacher (0, 2 ln 3) -> q = (1/4, 3/4)
    teacher2 = torch.tensor([[0.0, 2 * math.log(3.0)]])
    p1 = 1 / (1 + math.sqrt(3))
    expected2 = -(0.25 * math.log(p1) + 0.75 * math.log(1 - p1))
    assert soft_cross_entropy(student, teacher2, temperature=2.0).item() == pytest.approx(expected2, rel=1e-6)
    # mean over the batch, sum over classes
    two = soft_cross_entropy(student.repeat(2, 1), torch.cat([teacher, teacher2]))
    # at T=1 the second teacher row (0, 2 ln 3) gives q = (1/10, 9/10)
    row2 = -(0.1 * math.log(0.25) + 0.9 * math.log(0.75))
    assert two.item() == pytest.approx((expected + row2) / 2, rel=1e-6)


def test_regression_prediction_loss_uses_teacher_predictions():
    student = torch.tensor([[1.0], [2.0]])
    teacher = torch.tensor([[1.5], [4.0]])
    assert prediction_loss(student, teacher, regression=True).item() == pytest.approx((0.25 + 4) / 2)


# ---------------------------------------------------------------- layer maps
@pytest.mark.parametrize(
    "s,t,att,hid",
    [
        (4, 12, [2, 5, 8, 11], [0, 3, 6, 9, 12]),
        (6, 12, [1, 3, 5, 7, 9, 11], [0, 2, 4, 6, 8, 10, 12]),
        (2, 4, [1, 3], [0, 2, 4]),
        (4, 6, [0, 2, 3, 5], [0, 1, 3, 4, 6]),  # not a multiple: spread over the whole teacher
    ],
)
def test_uniform_map_indices(s, t, att, hid):
    m = uniform_map(s, t)
    assert [x.teacher for x in m.of_kind("attention")] == att
    assert [x.student for x in m.of_kind("attention")] == list(range(s))
    assert [x.teacher for x in m.of_kind("hidden")] == hid
    assert [x.student for x in m.of_kind("hidden")] == list(range(s + 1))


def test_custom_json_layer_map_and_errors(tmp_path):
    p = tmp_path / "map.json"
    p.write_text(json.dumps([{"kind": "attention", "student": 1, "teacher": 3, "weight": 2.0},
                             {"kind": "hidden", "student": 2, "teacher": 4}]))
    m = load_layer_map(str(p), 2, 4)
    assert m == LayerMap([LayerMatch("attention", 1, 3, 2.0), LayerMatch("hidden", 2, 4, 1.0)])
    assert json.loads(json.dumps(m.to_json()))[0]["weight"] == 2.0
    p.write_text(json.dumps([{"kind": "attention", "student": 2, "teacher": 3}]))
    with pytest.raises(UserError, match="out of range"):
        load_layer_map(str(p), 2, 4)
    p.write_text("[{")
    with pytest.raises(UserError, match="map.json:1: not valid JSON"):
        load_layer_map(str(p), 2, 4)
    with pytest.raises(UserError, match="expected 'uniform', 'last'"):
        load_layer_map("nonsense", 2, 4)


# ---------------------------------------------------------------- the objective
def test_intermediate_objective_equals_sum_of_mapped_losses():
    from tinybert.models.student import TinyBertStudent

    teacher = frozen(tiny_bert(layers=4, hidden=48, heads=4, seed=5))
    student = TinyBertStudent(tiny_bert(layers=2, hidden=32, heads=4, seed=6), fit_size=48, projection="per_layer")
    ids, mask, types = batch()
    b = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
    lm = uniform_map(2, 4)
    loss, parts = DistillObjective(teacher, general_distillation(lm))(student, b)
    t = distill_forward(teacher, ids, mask, types, scores=True, hidden=True)
    s = distill_forward(student.model, ids, mask, types, scores=True, hidden=True)
    att = sum(attention_mse(s.attention_scores[i], t.attention_scores[j]) for i, j in [(0, 1), (1, 3)])
    rep = sum(hidden_mse(student.fit_denses[i](s.hidden_states[i]), t.hidden_states[j])
              for i, j in [(0, 0), (1, 2), (2, 4)])
    assert parts["att_loss"].item() == pytest.approx(att.item(), rel=1e-5)
    assert parts["rep_loss"].item() == pytest.approx(rep.item(), rel=1e-5)
    loss.backward()
    assert student.fit_denses[2].weight.grad is not None


def test_nezha_scores_include_relative_term_and_match_plain_forward():
    from tinybert.models.nezha import NezhaConfig, NezhaForSequenceClassification

    torch.manual_seed(7)
    cfg = NezhaConfig(vocab_size=60, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                      max_relative_position=3, num_labels=2)
    model = NezhaForSequenceClassification(cfg).eval()
    ids, mask, types = batch()
    out = distill_forward(model, ids, mask, types, scores=True, hidden=True, logits=True)
    ref = model(input_ids=ids, attention_mask=mask, token_type_ids=types, output_hidden_states=True)
    torch.testing.assert_close(out.logits, ref.logits)
    assert all(m.score_sink is None for m in (layer.attention.self for layer in model.nezha.encoder.layer))
    # scores recomputed here: (QK^T + Q R^T)/sqrt(d), R[i, j] = sinusoid(clip(j - i, -3, 3) + 3)
    d, k = 8, 3
    table = torch.zeros(2 * k + 1, d)
    for pos in range(2 * k + 1):
        for i in range(0, d, 2):
            table[pos, i] = math.sin(pos / 10000 ** (i / d))
            table[pos, i + 1] = math.cos(pos / 10000 ** (i / d))
    rel = torch.tensor([[min(max(j - i, -k), k) + k for j in range(9)] for i in range(9)])
    r = table[rel]  # (9, 9, d)
    layer = model.nezha.encoder.layer[1].attention.self
    h = out.hidden_states[1]
    q = layer.query(h).view(3, 9, 4, d).transpose(1, 2)
    kk = layer.key(h).view(3, 9, 4, d).transpose(1, 2)
    expected = (q @ kk.transpose(-1, -2) + torch.einsum("bhid,ijd->bhij", q, r)) / math.sqrt(d)
    got = out.attention_scores[1]
    real = mask[:, None, None, :].expand_as(got).bool()
    torch.testing.assert_close(got[real], expected[real], atol=1e-5, rtol=1e-5)
    assert (got[~real] <= -1e30).all()


# ---------------------------------------------------------------- distillation as data
def test_stage2_presets_log_today_s_scalars_and_sum_as_before():
    """w = 0: soft alone, ``cls_loss`` only; w > 0: ``(1 - w) * soft + w * hard``, bit for bit."""
    from tinybert.distill.spec import task_stage2
    from tinybert.evaluate import task_loss
    from tinybert.models.student import TinyBertStudent

    teacher = frozen(tiny_bert(cls=BertForSequenceClassification, num_labels=3, seed=5))
    student = TinyBertStudent(tiny_bert(cls=BertForSequenceClassification, num_labels=3, seed=6), fit_size=32)
    student.eval()  # no dropout: the two passes below see the same student
    ids, mask, types = batch()
    b = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types, "labels": torch.tensor([0, 2, 1])}
    with torch.no_grad():
        t_logits = teacher(input_ids=ids, attention_mask=mask, token_type_ids=types).logits
        s_logits = student(ids, mask, types, logits=True).logits
    soft = soft_cross_entropy(s_logits, t_logits, 2.0)
    loss, parts = DistillObjective(teacher, task_stage2(2.0, 0.0, cache_teacher_logits=False))(student, b)
    assert set(parts) == {"cls_loss"} and torch.equal(loss.detach(), soft)
    w = 0.3
    loss, parts = DistillObjective(teacher, task_stage2(2.0, w, cache_teacher_logits=False))(student, b)
    hard = task_loss(s_logits, b["labels"], regression=False)
    assert set(parts) == {"cls_loss", "hard_loss"}
    assert torch.equal(loss.detach(), (1 - w) * soft + w * hard) and torch.equal(parts["hard_loss"], hard)
    # regression: MSE to the teacher's predictions; the cache stands in for the teacher (which never runs)
    spec = task_stage2(regression=True)
    objective = DistillObjective(None, spec)
    assert not objective.teacher_each_step
    objective.logits_cache = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    reg = TinyBertStudent(tiny_bert(cls=BertForSequenceClassification, num_labels=1, seed=7), fit_size=32).eval()
    loss, parts = objective(reg, {**b, "index": torch.tensor([3, 0, 1])})
    with torch.no_grad():
        pred = reg(ids, mask, types, logits=True).logits[:, 0]
    assert loss.item() == pytest.approx(((pred - torch.tensor([4.0, 1.0, 2.0])) ** 2).mean().item(), rel=1e-6)


def test_objective_computes_only_what_the_terms_need():
    from tinybert.distill import terms as term_registry
    from tinybert.distill.spec import DistillSpec, LossTerm
    from tinybert.models.student import TinyBertStudent

    seen = {}

    @term_registry.register_loss("test_hidden_only", scalar="h_loss", teacher=("hidden",), student=("hidden",))
    def hidden_only(inputs):
        seen["teacher"], seen["student"] = inputs.teacher, inputs.student
        return hidden_mse(inputs.student.hidden_states[2], inputs.teacher.hidden_states[4])

    try:
        teacher = frozen(tiny_bert(layers=4, hidden=48, heads=4, seed=5))
        student = TinyBertStudent(tiny_bert(layers=2, hidden=32, heads=4, seed=6), fit_size=48)
        spec = DistillSpec([LossTerm("test_hidden_only")], layer_map=uniform_map(2, 4))
        objective = DistillObjective(teacher, spec)
        assert objective.teacher_scores is False and objective.student_scores is False
        assert objective.student_hidden == [0, 1, 2] and objective.teacher_hidden and not objective.student_logits
        ids, mask, types = batch()
        loss, parts = objective(student, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})
        assert set(parts) == {"h_loss"} and loss.requires_grad
        assert seen["teacher"].attention_scores is None and seen["student"].attention_scores is None
        assert seen["student"].logits is None and seen["teacher"].logits is None
    finally:
        del term_registry.LOSSES["test_hidden_only"]


def test_spec_is_plain_data_and_refuses_what_cannot_run():
    from tinybert.distill.spec import DistillSpec, LossTerm, general_distillation, task_stage2

    spec = general_distillation(uniform_map(2, 4), "masked")
    raw = json.loads(spec.to_json())
    assert raw["terms"] == [{"name": "attention", "weight": 1.0, "options": {"mode": "masked"}},
                            {"name": "hidden", "weight": 1.0, "options": {}}]
    assert raw["layer_map"][0] == {"kind": "attention", "student": 0, "teacher": 1, "weight": 1.0}
    assert DistillSpec.from_dict(raw).to_dict() == spec.to_dict()
    assert "attention(mode=masked) + hidden" in spec.describe()
    assert task_stage2(2.0, 0.25).describe().startswith("0.75*soft_ce(temperature=2.0) + 0.25*hard_ce")
    with pytest.raises(UserError, match="unknown loss term 'nope'"):
        DistillObjective(None, DistillSpec([LossTerm("nope")]))
    with pytest.raises(UserError, match="loss term 'soft_ce'"):
        DistillObjective(None, DistillSpec([LossTerm("soft_ce", options={"temprature": 2.0})]))
    with pytest.raises(ValueError, match="needs an evaluator"):
        DistillSpec([LossTerm("soft_ce")], publish="best")
    with pytest.raises(UserError, match="temperature must be > 0"):
        task_stage2(0.0)
    with pytest.raises(UserError, match=r"hard_label_weight must be in \[0.0, 1.0\]"):
        task_stage2(1.0, 1.5)
