"""The fast CPU dropout: its mask statistics, scale, gradient, seeding, and its use inside a transformers model."""

from __future__ import annotations

import pytest
import torch
import transformers
from torch import nn

from tinybert.models import dropout as fd
from tinybert.models.attention import ATTN_NAME, fast_cpu_dropout


def _drop_indicator(p: float, shape=(1 << 20,)) -> torch.Tensor:
    return fd.dropout(torch.ones(shape), p) == 0


@pytest.mark.parametrize("p", [0.1, 0.5, 0.02])
def test_drop_rate_is_p_in_every_lane_and_neighbours_are_independent(p):
    torch.manual_seed(0)
    dropped = _drop_indicator(p).float()
    n = dropped.numel()
    sd = (p * (1 - p) / (n / 4)) ** 0.5  # per-lane standard deviation
    # The four 16-bit lanes of each int64 word: a lane with a biased bit (e.g. a sign bit that is never set)
    # would drop nothing or everything.
    for lane in range(4):
        assert abs(dropped.view(-1, 4)[:, lane].mean().item() - p) < 6 * sd
    both = (dropped[:-1] * dropped[1:]).mean().item()  # adjacent elements (same word and across words)
    assert abs(both - p * p) < 6 * (p * p * (1 - p * p) / n) ** 0.5


def test_survivors_are_scaled_so_the_expectation_is_kept():
    torch.manual_seed(1)
    x = torch.full((4096,), 3.0)
    y = fd.dropout(x, 0.1)
    threshold = round(0.1 * 65536)
    scale = 65536 / (65536 - threshold)
    kept = y != 0
    assert torch.equal(y[kept], torch.full_like(y[kept], 3.0 * scale))
    assert scale == pytest.approx(1 / (1 - threshold / 65536))
    assert abs(threshold / 65536 - 0.1) < 2**-17


def test_gradient_is_the_same_mask_and_scale():
    torch.manual_seed(2)
    x = torch.randn(64, 32, dtype=torch.float64, requires_grad=True)
    y = fd.dropout(x, 0.3)
    g = torch.randn_like(y)
    y.backward(g)
    scale = 65536 / (65536 - round(0.3 * 65536))
    kept = y != 0
    assert torch.allclose(y, x.detach() * kept * scale)
    assert torch.allclose(x.grad, g * kept * scale)
    assert 0.25 < 1 - kept.double().mean().item() < 0.35


def test_masks_follow_torch_seed_and_rng_state():
    torch.manual_seed(3)
    a, b = _drop_indicator(0.1, (1000,)), _drop_indicator(0.1, (1000,))
    assert not torch.equal(a, b)  # successive calls differ
    torch.manual_seed(3)
    assert torch.equal(_drop_indicator(0.1, (1000,)), a)
    state = torch.get_rng_state()
    c = _drop_indicator(0.1, (999,))  # odd size: the last word is partly used
    torch.set_rng_state(state)
    assert torch.equal(_drop_indicator(0.1, (999,)), c)


def test_identity_when_not_training_or_p_zero_and_zero_when_p_one():
    torch.manual_seed(0)
    x = torch.randn(10, 10)
    assert fd.dropout(x, 0.5, training=False) is x
    assert fd.dropout(x, 0.0) is x
    assert torch.equal(fd.dropout(x, 1.0), torch.zeros_like(x))
    assert torch.equal(fd.dropout(x, 0.999995), torch.zeros_like(x))  # rounds to 65536/65536: torch's dropout
    assert torch.equal(fd.dropout_before_matmul(x, torch.eye(10), 1.0), torch.zeros_like(x))


def _bert(dropout: float) -> transformers.BertForSequenceClassification:
    config = transformers.BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, hidden_dropout_prob=dropout,
                                     attention_probs_dropout_prob=dropout, num_labels=3)
    torch.manual_seed(0)
    return transformers.BertForSequenceClassification(config)


def test_context_switches_dropout_and_attention_then_restores():
    model = _bert(0.1)
    n_dropout = sum(type(m) is nn.Dropout for m in model.modules())
    assert model.config._attn_implementation == "sdpa"
    with fast_cpu_dropout(model) as switched:
        assert switched == n_dropout > 0
        assert all(type(m) is not nn.Dropout for m in model.modules())
        assert model.config._attn_implementation == ATTN_NAME
    assert sum(type(m) is nn.Dropout for m in model.modules()) == n_dropout
    assert model.config._attn_implementation == "sdpa"


def test_training_attention_path_equals_sdpa_when_nothing_is_dropped(monkeypatch):
    """Inside the context a training-mode forward takes the eager path with our dropout; with a mask that keeps
    everything it must give the model's own (SDPA, eval-mode) outputs and gradients."""
    model = _bert(0.1)
    ids = torch.tensor([[2, 5, 7, 9, 3, 0], [2, 11, 3, 0, 0, 0]])
    mask = (ids != 0).long()
    model.eval()
    ref = model(input_ids=ids, attention_mask=mask).logits
    ref.sum().backward()
    ref_grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()

    calls = []

    def keep_all(shape, p, generator=None):
        calls.append(tuple(shape))
        return torch.ones(shape, dtype=torch.bool), 1.0

    monkeypatch.setattr(fd, "keep_mask", keep_all)
    model.train()
    with fast_cpu_dropout(model):
        out = model(input_ids=ids, attention_mask=mask).logits
    out.sum().backward()
    assert (2, 2, 6, 6) in calls  # attention probabilities went through our dropout
    assert torch.allclose(out, ref, atol=1e-5)
    for n, p in model.named_parameters():
        if n in ref_grads:
            assert torch.allclose(p.grad, ref_grads[n], atol=1e-5), n
