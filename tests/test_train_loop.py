"""The one training loop on CPU: exact resume, checkpoints, logs, evaluation/best model, argument checks."""

import argparse
import json
import os
import random

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from tinybert.cli.flags import add_training_arguments
from tinybert.config import from_namespace
from tinybert.errors import UserError
from tinybert.train import GlobalBatchSampler, Trainer, TrainingArguments, set_seed
from tinybert.train.checkpointing import check_output_dir


class Net(nn.Module):
    """A small MLP with dropout, a LayerNorm and a tied weight (like BERT's embeddings/decoder)."""

    def __init__(self, dim=8, hidden=16):
        super().__init__()
        self.inp = nn.Linear(dim, hidden)
        self.drop = nn.Dropout(0.2)
        self.norm = nn.LayerNorm(hidden)
        self.hid = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, hidden)
        self.out.weight = self.hid.weight
        self.head = nn.Linear(hidden, 1)

    def forward(self, x):
        h = self.norm(self.drop(torch.tanh(self.inp(x))))
        h = self.drop(torch.relu(self.hid(h)))
        return self.head(self.out(h))


class Points(torch.utils.data.Dataset):
    def __init__(self, n=37, dim=8):
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(n, dim, generator=g)
        self.y = self.x[:, :3].sum(1, keepdim=True)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "y": self.y[i], "index": i}


def collate(items):
    return {"x": torch.stack([it["x"] for it in items]), "y": torch.stack([it["y"] for it in items]),
            "index": torch.tensor([it["index"] for it in items])}


class CrashAt(Exception):
    pass


def make_loss(crash_at=None, seen=None):
    """An MSE loss that also draws from python, numpy and torch RNGs (so each RNG state must be restored)."""
    calls = [0]

    def loss_fn(model, batch):
        if crash_at is not None and calls[0] == crash_at:
            raise CrashAt(f"simulated kill at micro-step {calls[0]}")
        calls[0] += 1
        if seen is not None:
            seen.append(batch["index"].tolist())
        noise = 0.01 * torch.randn_like(batch["y"]) + 0.01 * random.random() + 0.01 * float(np.random.rand())
        mse = ((model(batch["x"]) - batch["y"] - noise) ** 2).mean()
        return mse, {"mse": mse.detach(), "const": 2.0}

    return loss_fn


def args_for(out, **kw):
    base = dict(output_dir=str(out), train_batch_size=8, gradient_accumulation_steps=2, max_steps=12, save_steps=4,
                logging_steps=3, learning_rate=1e-2, warmup_proportion=0.2, seed=7, progress_bar=False)
    base.update(kw)
    return TrainingArguments(**base)


def train(out, crash_at=None, seen=None, **kw):
    set_seed(0)
    model = Net()
    return model, Trainer(args_for(out, **kw), model, Points(), collate, make_loss(crash_at, seen)).train()


def read_metrics(out):
    with open(os.path.join(out, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    seen = []
    model, result = train(out, seen=seen)
    return out, model, result, seen


# crash at micro-step 8 = first micro-batch of step 5, right after the checkpoint at step 4 (a clean stop there);
# crash at micro-step 21 = second micro-batch of step 11: steps 9-10 are lost, resume from step 8 and cross the
# epoch boundary (37 samples, global batch 8: 5 steps per epoch, the last batch wrapping around).
@pytest.mark.parametrize("crash_at,resume_step", [(8, 4), (21, 8)])
def test_killed_and_resumed_equals_uninterrupted(tmp_path, reference, crash_at, resume_step):
    ref_out, ref_model, ref_result, ref_seen = reference
    with pytest.raises(CrashAt):
        train(tmp_path, crash_at=crash_at)
    state = json.load(open(tmp_path / "checkpoint" / "trainer_state.json"))
    assert state["global_step"] == resume_step and not state["finished"]
    assert max(r["step"] for r in read_metrics(tmp_path)) <= crash_at // 2
    seen = []
    model, result = train(tmp_path, seen=seen)  # a different seed for the fresh model: resume must overwrite it
    assert result.global_step == 12
    assert seen == ref_seen[2 * resume_step:]  # the very same micro-batches, in order
    assert_same_weights(model, ref_model)
    # metrics.jsonl: no duplicates, and the logging window split by the kill is carried over exactly
    assert read_metrics(tmp_path) == read_metrics(ref_out)
    assert result.loss == ref_result.loss


def test_hard_kill_in_subprocess_then_resume(tmp_path, reference):
    """os._exit mid-step (no cleanup, no finally blocks), then resume in this process."""
    import subprocess
    import sys

    script = tmp_path / "killed.py"
    script.write_text(
        "import os, sys, torch\n"
        f"torch.set_num_threads({torch.get_num_threads()})\n"  # bit-exactness needs the parent's thread count
        f"sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
        "import test_train_loop as t\n"
        "inner = t.make_loss\n"
        "def make_loss(crash_at=None, seen=None):\n"
        "    f, calls = inner(), [0]\n"
        "    def loss_fn(m, b):\n"
        "        if calls[0] == 19:\n"  # step 10, second micro-batch: the last checkpoint is step 8
        "            os._exit(17)\n"
        "        calls[0] += 1\n"
        "        return f(m, b)\n"
        "    return loss_fn\n"
        "t.make_loss = make_loss\n"
        f"t.train({str(tmp_path / 'out')!r})\n")
    tmp_path = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 17, proc.stderr[-2000:]
    assert json.load(open(tmp_path / "checkpoint" / "trainer_state.json"))["global_step"] == 8
    model, _ = train(tmp_path)
    assert_same_weights(model, reference[1])
    assert read_metrics(tmp_path) == read_metrics(reference[0])


def test_checkpoint_contents_load_with_weights_only(reference):
    out, model, result, _ = reference
    ck = out / "checkpoint"
    assert sorted(os.listdir(ck)) == ["model.safetensors", "rng_state_0.pt", "trainer_state.json",
                                      "training_state.pt"]
    weights = load_file(ck / "model.safetensors")
    sd = model.state_dict()
    assert weights.keys() == sd.keys()  # the tied weight is stored under both names
    for k in sd:
        assert torch.equal(weights[k], sd[k])
    training_state = torch.load(ck / "training_state.pt", weights_only=True)
    assert set(training_state) == {"optimizer", "scheduler", "scaler"}
    assert len(training_state["optimizer"]["param_groups"]) == 2
    rng = torch.load(ck / "rng_state_0.pt", weights_only=True)
    assert set(rng) == {"python", "numpy", "torch", "cuda"}
    state = json.load(open(ck / "trainer_state.json"))
    assert state["finished"] and state["global_step"] == 12 == result.global_step
    assert (state["epoch"], state["step_in_epoch"]) == (2, 2)  # 12 steps = 2 epochs of 5 + 2
    assert not [n for n in os.listdir(out) if n.startswith(".")]  # no temporary leftovers


def test_sampler_covers_the_epoch_and_is_the_same_for_any_world_size():
    n, B = 37, 8
    one = [b for b in GlobalBatchSampler(n, B, 1, 0, 1, seed=3, epoch=1)]
    assert len(one) == 5 and all(len(b) == 8 for b in one)
    assert set(sum(one, [])) == set(range(n))  # every sample; 3 repeated to fill the last batch
    assert one[-1][5:] == one[0][:3]
    other_epoch = [b for b in GlobalBatchSampler(n, B, 1, 0, 1, seed=3, epoch=2)]
    assert other_epoch != one
    # 2 ranks x 2 accumulation steps: micro-batches of 2; rank r, micro k takes slice (k*2 + r)
    ranks = [list(GlobalBatchSampler(n, B, 2, r, 2, seed=3, epoch=1)) for r in range(2)]
    for s in range(5):
        micro = [ranks[0][2 * s], ranks[1][2 * s], ranks[0][2 * s + 1], ranks[1][2 * s + 1]]
        assert sum(micro, []) == one[s]
    assert list(GlobalBatchSampler(n, B, 2, 1, 2, seed=3, epoch=1, start_step=3)) == ranks[1][6:]


def test_metrics_jsonl_and_tensorboard(reference):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out, _, result, _ = reference
    records = read_metrics(out)
    assert [r["step"] for r in records] == [3, 6, 9, 12]
    assert all({"loss", "mse", "const", "lr", "epoch"} <= r.keys() for r in records)
    assert all(r["const"] == 2.0 and r["loss"] == pytest.approx(r["mse"]) for r in records)
    # lr logged is the one the step used: linear warmup over ceil(0.2 * 12) = 3 steps, then linear decay
    assert records[0]["lr"] == pytest.approx(1e-2 * 2 / 3)
    assert records[1]["lr"] == pytest.approx(1e-2 * (12 - 5) / 9)
    assert result.loss == records[-1]["loss"]
    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    losses = acc.Scalars("train/loss")
    assert [e.step for e in losses] == [3, 6, 9, 12]
    assert losses[-1].value == pytest.approx(records[-1]["loss"], rel=1e-6)
    assert acc.Scalars("train/lr")[1].value == pytest.approx(records[1]["lr"], rel=1e-6)


def test_finished_run_refused_and_overwrite_starts_fresh(tmp_path):
    train(tmp_path, max_steps=3, save_steps=0)
    with pytest.raises(UserError, match="already holds a finished run; pass --overwrite_output_dir"):
        check_output_dir(tmp_path)
    with pytest.raises(UserError, match="already holds a finished run"):
        train(tmp_path, max_steps=3)
    _, result = train(tmp_path, max_steps=4, logging_steps=2, overwrite_output_dir=True)
    assert result.global_step == 4
    assert [r["step"] for r in read_metrics(tmp_path)] == [2, 4]
    with pytest.raises(UserError, match="no checkpoint to resume from"):
        check_output_dir(tmp_path / "nothing", resume=True)


def test_evaluate_best_model_and_frozen_teacher(tmp_path):
    set_seed(0)
    model, teacher = Net(), Net()
    teacher.train()
    scores = iter([0.5, 0.9, 0.7, 0.95])  # evaluations at steps 2, 4, 6 and the end (7)
    saved = []

    class Evaluate:
        def evaluate(self, m, step):
            assert m is model and not m.training
            return {"acc": next(scores), "n": 1}

    def save(m, d):
        saved.append(d)
        torch.save({"w": m.head.weight.detach().clone()}, os.path.join(d, "weights.pt"))
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"step": len(saved)}, f)

    def loss_fn(m, batch):
        assert m.training and not teacher.training
        with torch.no_grad():
            target = teacher(batch["x"])
        return ((m(batch["x"]) - target) ** 2).mean()

    args = args_for(tmp_path, max_steps=7, eval_steps=2, save_steps=0, gradient_accumulation_steps=1)
    trainer = Trainer(args, model, Points(), collate, loss_fn, frozen=[teacher], evaluator=Evaluate(),
                      metric_for_best="acc", save_fn=save)
    assert not any(p.requires_grad for p in teacher.parameters())
    assert {id(p) for p in teacher.parameters()}.isdisjoint(id(p) for p in trainer.params)
    result = trainer.train()
    assert (result.best_metric, result.best_step) == (0.95, 7)
    assert len(saved) == 3  # improvements at steps 2, 4 and 7
    assert json.load(open(tmp_path / "config.json")) == {"step": 3}
    assert torch.equal(torch.load(tmp_path / "weights.pt", weights_only=True)["w"], model.head.weight)
    evals = [r for r in read_metrics(tmp_path) if "eval_acc" in r]
    assert [(r["step"], r["eval_acc"]) for r in evals] == [(2, 0.5), (4, 0.9), (6, 0.7), (7, 0.95)]
    state = json.load(open(tmp_path / "checkpoint" / "trainer_state.json"))
    assert (state["best_metric"], state["best_step"]) == (0.95, 7)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".model.")]


def test_save_fn_final_model_without_metric(tmp_path):
    set_seed(0)
    model = Net()
    calls = []
    trainer = Trainer(args_for(tmp_path, max_steps=3), model, Points(), collate, make_loss(),
                      save_fn=lambda m, d: calls.append(os.listdir(d)))
    trainer.train()
    assert calls == [[]]  # once, at the end, into an empty staging dir


class ConstantAcc:
    def evaluate(self, model, step):
        return {"acc": 0.0}


def test_save_every_eval_publishes_the_latest_model(tmp_path):
    """With no evaluator, save_every_eval publishes at every eval_steps boundary and at the end (steps 2, 4, 5)."""
    for name, evaluator in (("plain", None), ("evaluated", ConstantAcc())):
        out = tmp_path / name
        set_seed(0)
        calls, box = [], {}  # calls: (step, what output_dir held when save_fn ran, head bias)

        def save(m, d, out=out, calls=calls, box=box):
            step = box["trainer"].scheduler.last_epoch
            published = out / "model.txt"
            calls.append((step, published.read_text() if published.exists() else None, m.head.bias.item()))
            open(os.path.join(d, "model.txt"), "w").write(str(step))

        trainer = Trainer(args_for(out, max_steps=5, eval_steps=2), Net(), Points(), collate, make_loss(),
                          evaluator=evaluator, save_fn=save, save_every_eval=True)
        box["trainer"] = trainer
        trainer.train()
        # each publish replaced the previous one: output_dir held the step of the last publish, and ends with 5
        assert [(s, prev) for s, prev, _ in calls] == [(2, None), (4, "2"), (5, "4")], name
        assert (out / "model.txt").read_text() == "5"
        biases = [b for _, _, b in calls]
        assert len(set(biases)) == 3  # the latest model each time, not one frozen copy
    # without save_every_eval (and no metric): published once, at the end
    out, calls = tmp_path / "once", []
    Trainer(args_for(out, max_steps=5, eval_steps=2), Net(), Points(), collate, make_loss(),
            save_fn=lambda m, d: calls.append(1)).train()
    assert calls == [1]
    with pytest.raises(ValueError, match="save_every_eval"):
        Trainer(args_for(tmp_path), Net(), Points(), collate, make_loss(), evaluator=ConstantAcc(),
                metric_for_best="acc", save_every_eval=True)


class EpochPoints(Points):
    """A dataset whose size changes with the epoch (like pregenerated epoch files): 37, 29, then 45 samples."""

    sizes = (37, 29, 45)

    def __init__(self):
        super().__init__(n=45)
        self.epochs, self.n = [], 37

    def set_epoch(self, epoch):
        self.epochs.append(epoch)
        self.n = self.sizes[epoch % 3]

    def __len__(self):
        return self.n


def test_dataset_set_epoch_is_called_each_epoch_and_on_resume(tmp_path):
    set_seed(0)
    data, ref = EpochPoints(), Net()
    Trainer(args_for(tmp_path / "ref"), ref, data, collate, make_loss()).train()
    assert data.epochs == [0, 1, 2]  # 12 steps = 5 (37 samples) + 4 (29) + 3 of 6 (45)
    state = json.load(open(tmp_path / "ref" / "checkpoint" / "trainer_state.json"))
    assert (state["epoch"], state["step_in_epoch"]) == (2, 3)
    set_seed(0)
    data = EpochPoints()
    with pytest.raises(CrashAt):  # step 9 = last step of epoch 1, after the checkpoint at step 8
        Trainer(args_for(tmp_path / "run"), Net(), data, collate, make_loss(crash_at=16)).train()
    assert data.epochs == [0, 1]
    set_seed(0)
    data, model = EpochPoints(), Net()
    Trainer(args_for(tmp_path / "run"), model, data, collate, make_loss()).train()
    assert data.epochs == [1, 2]
    assert_same_weights(model, ref)


def test_bert_student_with_tied_embeddings_resumes_exactly(tmp_path):
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=16)
    ids = torch.randint(0, 50, (20, 10), generator=torch.Generator().manual_seed(5))
    data = [{"input_ids": row, "labels": row} for row in ids]

    def bert_collate(items):
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}

    def run(out, crash_at=None):
        set_seed(1)
        model = BertForMaskedLM(config)
        assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
        calls = [0]

        def loss_fn(m, batch):
            if calls[0] == crash_at:
                raise CrashAt()
            calls[0] += 1
            return m(**batch).loss

        args = args_for(out, max_steps=5, save_steps=2, train_batch_size=4, learning_rate=1e-3)
        Trainer(args, model, data, bert_collate, loss_fn).train()
        return model

    ref = run(tmp_path / "ref")
    with pytest.raises(CrashAt):
        run(tmp_path / "run", crash_at=7)  # step 4, second micro-batch: resume from step 2
    assert_same_weights(run(tmp_path / "run"), ref)
    assert load_file(tmp_path / "ref" / "checkpoint" / "model.safetensors").keys() == ref.state_dict().keys()


def test_bf16_on_cpu_trains(tmp_path):
    _, result = train(tmp_path, max_steps=4, bf16=True)
    assert result.global_step == 4 and np.isfinite(result.loss)


def test_user_errors(tmp_path):
    with pytest.raises(UserError, match="divisible"):
        Trainer(args_for(tmp_path, train_batch_size=10, gradient_accumulation_steps=3), Net(), Points(), collate,
                make_loss())
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="--fp16 needs a CUDA GPU"):
            Trainer(args_for(tmp_path, fp16=True), Net(), Points(), collate, make_loss())
    with pytest.raises(UserError, match="exclude each other"):
        args_for(tmp_path, fp16=True, bf16=True)
    with pytest.raises(UserError, match="unknown optimizer"):
        args_for(tmp_path, optimizer="sgd")
    with pytest.raises(UserError, match="empty"):
        Trainer(args_for(tmp_path), Net(), [], collate, make_loss())
    with pytest.raises(CrashAt):
        train(tmp_path / "b", crash_at=9)  # checkpoint at step 4
    with pytest.raises(UserError, match="--train_batch_size 8; resume with it or pass --overwrite_output_dir"):
        train(tmp_path / "b", train_batch_size=16)


def test_argparse_helper_uses_original_names_and_recipe_defaults():
    parser = argparse.ArgumentParser()
    parser.add_argument("--output_dir", required=True)
    add_training_arguments(parser, defaults={"learning_rate": 1e-4, "optimizer": "lamb"})
    ns = parser.parse_args(["--output_dir", "o", "--train_batch_size", "64", "--eval_step", "5", "--no_cuda",
                            "--gradient_accumulation_steps", "2", "--num_train_epochs", "2.5", "--bf16"])
    args = from_namespace(TrainingArguments, ns)
    assert (args.output_dir, args.train_batch_size, args.eval_steps, args.no_cuda) == ("o", 64, 5, True)
    assert (args.learning_rate, args.optimizer, args.num_train_epochs, args.bf16) == (1e-4, "lamb", 2.5, True)
    assert from_namespace(TrainingArguments, ns, output_dir="x").output_dir == "x"
    with pytest.raises(ValueError, match="unknown training defaults"):
        add_training_arguments(argparse.ArgumentParser(), defaults={"lr": 1})
