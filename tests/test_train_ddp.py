"""A real 2-process gloo run (torchrun's environment) equals one process with the same global batch."""

import json
import os
import textwrap

import pytest
import torch
from ddp_launch import run_two_ranks
from safetensors.torch import load_file
from torch import nn

from tinybert.train import Trainer, TrainingArguments, set_seed

SCRIPT = textwrap.dedent("""
    import json, os, sys
    import torch
    from torch.nn.parallel import DistributedDataParallel
    sys.path.insert(0, {tests!r})
    import test_train_ddp as t
    from tinybert.train import Trainer

    out, accum = sys.argv[1], int(sys.argv[2])
    seen = {{"wrapped": [], "teacher_training": [], "batch_sizes": set()}}
    student, teacher = t.build()
    trainer = Trainer(t.args(out, accum), student, t.Data(), t.collate, t.make_loss(teacher, seen), frozen=[teacher])
    trainer.train()
    seen["world_size"] = trainer.dist.world_size
    seen["wrapped"] = all(isinstance(m, DistributedDataParallel) for m in seen["wrapped"])
    seen["teacher_wrapped"] = isinstance(teacher, DistributedDataParallel)
    seen["teacher_grad"] = any(p.requires_grad for p in teacher.parameters())
    seen["batch_sizes"] = sorted(seen["batch_sizes"])
    with open(os.path.join(out, f"seen_{{trainer.dist.rank}}.json"), "w") as f:
        json.dump(seen, f)
""")


class Student(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Linear(6, 12)  # frozen by the "recipe": excluded from the optimizer and from DDP's reducer
        self.emb.requires_grad_(False)
        self.body = nn.Sequential(nn.Linear(12, 12), nn.LayerNorm(12), nn.Tanh(), nn.Linear(12, 3))

    def forward(self, x):
        return self.body(self.emb(x))


class Data(torch.utils.data.Dataset):
    def __init__(self):
        self.x = torch.randn(21, 6, generator=torch.Generator().manual_seed(11))

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i]


def collate(items):
    return torch.stack(items)


def build():
    set_seed(3)
    teacher = nn.Sequential(nn.Linear(6, 3), nn.Dropout(0.5))  # left in train mode: the Trainer must set eval
    return Student(), teacher


def make_loss(teacher, seen):
    def loss_fn(model, x):
        seen["wrapped"].append(model)
        seen["teacher_training"].append(teacher.training)
        seen["batch_sizes"].add(len(x))
        with torch.no_grad():
            target = teacher(x)
        mse = ((model(x) - target) ** 2).mean()
        return mse, {"mse": mse.detach()}

    return loss_fn


def args(out, accum):
    return TrainingArguments(output_dir=out, train_batch_size=8, gradient_accumulation_steps=accum, max_steps=7,
                             save_steps=3, logging_steps=2, learning_rate=3e-2, optimizer="lamb", warmup_steps=2,
                             seed=5, no_cuda=True, progress_bar=False)


def test_two_process_gloo_equals_one_process(tmp_path):
    script = tmp_path / "ddp_child.py"
    script.write_text(SCRIPT.format(tests=os.path.dirname(os.path.abspath(__file__))))
    two = tmp_path / "two"
    # 2 processes x 2 accumulation steps x micro-batch 2 = global batch 8 (no_sync on the first micro-step)
    run_two_ranks([str(script), str(two), "2"], timeout=180)
    for rank in (0, 1):
        seen = json.load(open(two / f"seen_{rank}.json"))
        assert seen["world_size"] == 2 and seen["wrapped"] is True
        assert seen["teacher_wrapped"] is False and seen["teacher_grad"] is False
        assert seen["teacher_training"] == [False] * 14 and seen["batch_sizes"] == [2]
    assert sorted(os.listdir(two / "checkpoint")) == ["model.safetensors", "rng_state_0.pt", "rng_state_1.pt",
                                                      "trainer_state.json", "training_state.pt"]

    # the same global batch in one process, micro-batch 8, no accumulation
    one = tmp_path / "one"
    student, teacher = build()
    seen = {"wrapped": [], "teacher_training": [], "batch_sizes": set()}
    Trainer(args(str(one), 1), student, Data(), collate, make_loss(teacher, seen), frozen=[teacher]).train()
    assert seen["batch_sizes"] == {8}

    w1, w2 = load_file(one / "checkpoint" / "model.safetensors"), load_file(two / "checkpoint" / "model.safetensors")
    assert w1.keys() == w2.keys()
    moved = 0
    start = Student().state_dict()
    for k in w1:
        torch.testing.assert_close(w2[k], w1[k], atol=1e-5, rtol=0)
        moved += not torch.allclose(w1[k], start[k])
    assert moved >= 4  # training really changed the trainable weights (and left the frozen embedding alone)
    torch.testing.assert_close(w2["emb.weight"], w1["emb.weight"], atol=0, rtol=0)

    def losses(d):
        return [(r["step"], r["loss"], r["mse"]) for r in map(json.loads, open(d / "metrics.jsonl"))]

    l1, l2 = losses(one), losses(two)
    assert [s for s, _, _ in l1] == [s for s, _, _ in l2] == [2, 4, 6, 7]
    for (_, a, _), (_, b, m) in zip(l1, l2):
        assert b == pytest.approx(a, abs=1e-5) and m == pytest.approx(b, abs=1e-6)  # averaged over both ranks
