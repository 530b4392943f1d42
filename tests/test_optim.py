"""LAMB, BertAdam, AdamW parameter groups and LR schedules against values worked out by hand."""

import math

import pytest
import torch
from torch import nn

from tinybert.train.optim import BertAdam, Lamb, build_optimizer, build_scheduler, lr_factor, param_groups


def lamb_reference(w, grads, lr, wd, b1=0.9, b2=0.999, eps=1e-6, clip=10.0):
    """Plain-python LAMB on a list of floats (one tensor), step after step."""
    m = [0.0] * len(w)
    v = [0.0] * len(w)
    for t, g in enumerate(grads, start=1):
        m = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m, g)]
        v = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(v, g)]
        u = [(mi / (1 - b1**t)) / (math.sqrt(vi / (1 - b2**t)) + eps) + wd * wi for mi, vi, wi in zip(m, v, w)]
        wn, un = math.sqrt(sum(x * x for x in w)), math.sqrt(sum(x * x for x in u))
        r = min(max(wn / un, 0.0), clip) if wn > 0 and un > 0 else 1.0
        w = [wi - lr * r * ui for wi, ui in zip(w, u)]
    return w


def run_lamb(groups, grads_per_step, **kw):
    params = [torch.tensor(g["w"], dtype=torch.float64, requires_grad=True) for g in groups]
    opt = Lamb([{"params": [p], "weight_decay": g["wd"]} for p, g in zip(params, groups)], **kw)
    for step_grads in grads_per_step:
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
    return [p.detach().tolist() for p in params]


def test_lamb_one_step_by_hand():
    # w = (3, 4): |w| = 5; g = (0.1, -0.2). Step 1 with bias correction: m_hat = g, v_hat = g^2, so
    # u = g / (|g| + eps) + wd * w = (0.1/(0.1+1e-6) + 0.03, -0.2/(0.2+1e-6) + 0.04)
    lr, wd, eps = 0.1, 0.01, 1e-6
    u = [0.1 / (0.1 + eps) + wd * 3, -0.2 / (0.2 + eps) + wd * 4]
    r = 5.0 / math.hypot(*u)  # about 3.55: inside [0, 10]
    expected_w = [3 - lr * r * u[0], 4 - lr * r * u[1]]
    # bias (no weight decay group), zero norm: ratio 1, update = g/(|g|+eps) = (1, 1) up to eps
    expected_b = [-lr * 0.5 / (0.5 + eps)] * 2
    got_w, got_b = run_lamb([{"w": [3.0, 4.0], "wd": wd}, {"w": [0.0, 0.0], "wd": 0.0}],
                            [[[0.1, -0.2], [0.5, 0.5]]], lr=lr, eps=eps)
    assert got_w == pytest.approx(expected_w, abs=1e-12)
    assert got_b == pytest.approx(expected_b, abs=1e-12)
    assert 3.0 < r < 4.0


def test_lamb_trust_ratio_clipped_at_10_and_zero_update():
    lr, wd = 0.01, 0.01
    # |w| = 500, |u| ~ 1.4 + decay -> ratio ~ 90, clipped to 10
    w0 = [300.0, 400.0]
    u = [0.1 / (0.1 + 1e-6) + wd * 300, -0.2 / (0.2 + 1e-6) + wd * 400]
    assert 500 / math.hypot(*u) > 10
    expected = [w0[0] - lr * 10 * u[0], w0[1] - lr * 10 * u[1]]
    # a tensor with zero gradient and no decay: update norm 0 -> ratio 1 and nothing moves
    got_big, got_still = run_lamb([{"w": w0, "wd": wd}, {"w": [1.0, -2.0], "wd": 0.0}],
                                  [[[0.1, -0.2], [0.0, 0.0]]], lr=lr)
    assert got_big == pytest.approx(expected, abs=1e-10)
    assert got_still == [1.0, -2.0]


def test_lamb_two_steps_match_reference_and_eps_parameter():
    grads = [[0.3, -0.1, 0.02], [-0.2, 0.4, 0.05], [0.1, 0.1, -0.3]]
    w0 = [0.5, -1.5, 2.0]
    for eps in (1e-6, 1e-4):
        expected = lamb_reference(w0, grads, lr=0.05, wd=0.01, eps=eps)
        (got,) = run_lamb([{"w": w0, "wd": 0.01}], [[g] for g in grads], lr=0.05, eps=eps)
        assert got == pytest.approx(expected, abs=1e-12)
    # eps matters at this scale, so the parameter really reaches the update
    assert lamb_reference(w0, grads, 0.05, 0.01, eps=1e-4) != pytest.approx(
        lamb_reference(w0, grads, 0.05, 0.01, eps=1e-6), abs=1e-9)


def test_bertadam_has_no_bias_correction():
    # step 1: m = 0.1 g, v = 0.001 g^2, update = 0.1 g / (sqrt(0.001) |g| + eps) + wd * w
    p = torch.tensor([2.0, -1.0], dtype=torch.float64, requires_grad=True)
    opt = BertAdam([p], lr=0.1, eps=1e-6, weight_decay=0.01)
    p.grad = torch.tensor([0.5, 0.25], dtype=torch.float64)
    opt.step()
    u = [0.1 * 0.5 / (math.sqrt(0.001) * 0.5 + 1e-6) + 0.01 * 2.0, 0.1 * 0.25 / (math.sqrt(0.001) * 0.25 + 1e-6) - 0.01]
    assert p.detach().tolist() == pytest.approx([2.0 - 0.1 * u[0], -1.0 - 0.1 * u[1]], abs=1e-12)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(4, 4)
        self.LayerNorm = nn.LayerNorm(4)  # BERT's attribute name
        self.out = nn.Linear(4, 4, bias=False)
        self.tied = nn.Linear(4, 4, bias=False)
        self.tied.weight = self.out.weight
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)


@pytest.mark.parametrize("name", ["adamw", "lamb", "bertadam"])
def test_weight_decay_excludes_bias_and_layernorm(name):
    torch.manual_seed(0)
    m = Block()
    groups = param_groups(m, 0.1)
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    plain = {id(p) for g in groups if g["weight_decay"] == 0 for p in g["params"]}
    assert decayed == {id(m.dense.weight), id(m.out.weight)}  # tied weight once, frozen left out
    assert plain == {id(m.dense.bias), id(m.LayerNorm.weight), id(m.LayerNorm.bias)}
    # behaviour: with zero gradients only weight decay acts; AdamW multiplies by (1 - lr * wd)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    opt = build_optimizer(m, name, lr=0.5, weight_decay=0.1)
    for p in m.parameters():
        p.grad = torch.zeros_like(p) if p.requires_grad else None
    opt.step()
    after = m.state_dict()
    for key in ("dense.bias", "LayerNorm.weight", "LayerNorm.bias", "frozen.weight", "frozen.bias"):
        assert torch.equal(after[key], before[key]), key
    for key in ("dense.weight", "out.weight"):
        assert not torch.equal(after[key], before[key]), key
        if name in ("adamw", "bertadam"):
            torch.testing.assert_close(after[key], before[key] * (1 - 0.5 * 0.1))
        else:  # LAMB: u = wd * w, |w| / |u| = 10 (not clipped), step = lr * 10 * wd * w
            torch.testing.assert_close(after[key], before[key] * (1 - 0.5 * 10 * 0.1))


def lrs(schedule, total, warmup, power=1.0, steps=()):
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=2.0)
    sched = build_scheduler(opt, schedule, total, warmup_steps=warmup, power=power)
    out = {}
    for s in range(total + 1):
        out[s] = opt.param_groups[0]["lr"]  # the LR the optimizer step after s completed steps uses
        opt.step()
        sched.step()
    return [out[s] for s in steps]


def test_linear_schedule_values():
    # warmup 10 of 100: 0 at start, half-way up at 5, peak at 10, half at the middle of the decay (55), 0 at the end
    assert lrs("linear", 100, 10, steps=(0, 5, 10, 55, 100)) == pytest.approx([0, 1.0, 2.0, 1.0, 0.0])


def test_poly_schedule_values():
    # BERT/NEZHA polynomial_decay: (1 - step/total)^power after warmup; at warmup end 0.9^p, midpoint 0.5^p, end 0
    assert lrs("poly", 100, 10, steps=(5, 10, 50, 100)) == pytest.approx([1.0, 2 * 0.9, 2 * 0.5, 0.0])
    assert lrs("poly", 100, 10, power=2.0, steps=(10, 50, 100)) == pytest.approx([2 * 0.81, 2 * 0.25, 0.0])
    assert lrs("constant", 100, 10, steps=(5, 10, 99)) == pytest.approx([1.0, 2.0, 2.0])


def test_warmup_proportion_and_state_dict_is_plain():
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, "linear", 95, warmup_proportion=0.1)  # ceil(9.5) = 10 warmup steps
    assert lr_factor(10, "linear", 95, 10) == 1.0
    for _ in range(10):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(1.0)
    assert sched.state_dict()["lr_lambdas"] == [None]
