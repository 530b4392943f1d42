"""tinybert pretrain on a tiny NEZHA: learning vs a shuffled-label control, continued pretraining, exact resume,
2-process gloo equivalence, the output folder as a masked LM, bad input."""

import json
import os
import random

import pytest
import torch
from ddp_launch import run_two_ranks
from safetensors.torch import load_file

import tinybert.models  # noqa: F401  (registers NEZHA with the Auto classes)
import tinybert.recipes.pretrain as recipe
from tinybert.cli import run_command
from tinybert.data.pregenerated import EpochPregeneratedData, collate_pretraining
from tinybert.models.pretraining import build_model_config, new_model, read_model_config
from tinybert.train import GlobalBatchSampler

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAIRS = {"cat": "fish", "dog": "bone", "cow": "grass", "bird": "seed", "mole": "worm", "bee": "honey"}
WORDS = ["the", "eats", "likes", "and", ".", "a", "big", "small", *PAIRS, *PAIRS.values()]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(WORDS)]
CONFIG = {"model_type": "nezha", "num_hidden_layers": 2, "hidden_size": 48, "num_attention_heads": 2,
          "intermediate_size": 96, "max_relative_position": 8, "hidden_dropout_prob": 0.0,
          "attention_probs_dropout_prob": 0.0}


def corpus(rng: random.Random, docs: int = 150) -> str:
    """Documents of sentences where each animal always eats the same food: learnable by a masked LM."""
    out = []
    for _ in range(docs):
        lines = []
        for _ in range(rng.randint(3, 6)):
            a = rng.choice(list(PAIRS))
            lines.append(f"the {rng.choice(['big', 'small'])} {a} {rng.choice(['eats', 'likes'])} the {PAIRS[a]} .")
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def make_data(d, vocab, name="data"):
    assert run_command("pretrain-data", ["--input_file", str(d / "corpus.txt"), "--output_dir", str(d / name),
                                         "--vocab_file", str(vocab), "--max_seq_length", "32", "--dynamic_masking",
                                         "--random_seed", "1", "--num_workers", "1", "--no_progress"]) == 0
    return d / name


@pytest.fixture(autouse=True)
def no_progress_bars(monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("pretrain")
    (d / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    (d / "corpus.txt").write_text(corpus(random.Random(0)))
    (d / "config.json").write_text(json.dumps(CONFIG))
    make_data(d, d / "vocab.txt")
    return d


def pretrain(d, out, *extra, steps=8, data="data", vocab="vocab.txt"):
    args = ["--dataset_path", str(d / data), "--vocab_path", str(d / vocab), "--output_model_path", str(out),
            "--config_path", str(d / "config.json"), "--max_seq_length", "32", "--batch_size", "8",
            "--total_steps", str(steps), "--report_steps", "1", "--save_checkpoint_steps", "3", "--seed", "5",
            "--num_workers", "0", *extra]
    return run_command("pretrain", args)


def records(out):
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def test_mlm_loss_falls_well_below_start_and_below_a_shuffled_label_control(setup, tmp_path, monkeypatch):
    common = ("--target", "mlm", "--learning_rate", "0.05", "--warmup", "10", "--batch_size", "16")
    assert pretrain(setup, tmp_path / "real", *common, steps=150) == 0
    real = [r["mlm_loss"] for r in records(tmp_path / "real")]

    step = recipe.pretraining_step
    gen = torch.Generator().manual_seed(0)

    def shuffled(model, batch):  # the same run, but each masked position gets another masked position's label
        labels = batch["lm_label_ids"].clone()
        where = labels != -100
        values = labels[where]
        labels[where] = values[torch.randperm(values.numel(), generator=gen)]
        return step(model, dict(batch, lm_label_ids=labels))

    monkeypatch.setattr(recipe, "pretraining_step", shuffled)
    assert pretrain(setup, tmp_path / "control", *common, steps=150) == 0
    control = [r["mlm_loss"] for r in records(tmp_path / "control")]

    def mean(xs):
        return sum(xs) / len(xs)

    start, end, control_end = mean(real[:5]), mean(real[-10:]), mean(control[-10:])
    assert start == pytest.approx(mean(control[:5]), rel=0.1)  # both start from the same random model
    assert end < 0.5 * start, (start, end)
    assert end < 0.7 * control_end, (end, control_end)
    assert mean([r["mlm_acc"] for r in records(tmp_path / "real")][-10:]) > 0.45


def test_output_folder_is_a_masked_lm_for_tinybert_and_plain_transformers(setup, tmp_path):
    from transformers import AutoModelForMaskedLM

    from tinybert.models.checkpoint import load_model

    out = tmp_path / "out"
    assert pretrain(setup, out, steps=2) == 0  # default target mlm_nsp
    for name in ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "metrics.jsonl"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["NezhaForPreTraining"] and config["vocab_size"] == len(VOCAB)
    rec = records(out)
    assert {"loss", "mlm_loss", "nsp_loss", "mlm_acc", "lr"} <= set(rec[0])
    assert rec[0]["loss"] == pytest.approx(rec[0]["mlm_loss"] + rec[0]["nsp_loss"], rel=1e-5)
    ours = load_model(out, head="mlm", require_head=True)
    plain = AutoModelForMaskedLM.from_pretrained(str(out)).eval()
    ids = torch.tensor([[2, 5, 11, 4, 7, 5, 17, 9, 3]])
    with torch.no_grad():
        torch.testing.assert_close(ours(input_ids=ids).logits, plain(input_ids=ids).logits)
    stored = load_file(str(out / "model.safetensors"))
    assert "cls.seq_relationship.weight" in stored


def first_batch(d, data, batch_size=8, seed=5):
    dataset = EpochPregeneratedData(str(d / data), VOCAB, 32)
    indices = next(iter(GlobalBatchSampler(len(dataset), batch_size, 1, 0, 1, seed, 0)))
    return collate_pretraining([dataset[i] for i in indices])


def test_continued_pretraining_starts_from_the_given_weights(setup, tmp_path):
    from tinybert.models.checkpoint import load_model

    src = tmp_path / "src"
    assert pretrain(setup, src, "--learning_rate", "0.02", steps=30) == 0
    cont = tmp_path / "cont"
    assert pretrain(setup, cont, "--pretrained_model_path", str(src), steps=2) == 0
    batch = first_batch(setup, "data")
    loaded = load_model(src, head="pretraining")
    with torch.no_grad():
        out = loaded(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     token_type_ids=batch["token_type_ids"], labels=batch["lm_label_ids"],
                     next_sentence_label=batch["is_next"])
    first = records(cont)[0]
    assert first["step"] == 1
    assert first["loss"] == pytest.approx(float(out.loss), rel=1e-5)
    # a run from scratch starts elsewhere (the comparison above can fail)
    assert abs(records(src)[0]["loss"] - first["loss"]) > 0.1


def test_adapt_vocab_copies_kept_rows_and_refuses_a_mismatch_without_it(setup, tmp_path, capsys):
    src = tmp_path / "src"
    assert pretrain(setup, src, steps=2) == 0
    new_vocab = VOCAB[:5] + list(reversed(VOCAB[5:])) + ["lion", "meat"]
    d = tmp_path
    (d / "vocab.txt").write_text("\n".join(new_vocab) + "\n")
    (d / "corpus.txt").write_text(corpus(random.Random(1), docs=20) + "the lion eats the meat .\n")
    (d / "config.json").write_text(json.dumps(CONFIG))
    make_data(d, d / "vocab.txt", name="data2")
    # without --adapt_vocab: one line, exit 2, pointing at the adapter
    capsys.readouterr()
    assert pretrain(d, d / "refused", "--pretrained_model_path", str(src), data="data2", steps=1) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "--adapt_vocab" in err and "build-vocab" in err
    assert not (d / "refused" / "model.safetensors").exists()
    # with it: rows of kept tokens copied (learning rate 0 keeps them), new ones initialised
    out = d / "adapted"
    assert pretrain(d, out, "--pretrained_model_path", str(src), "--adapt_vocab", "--learning_rate", "0",
                    data="data2", steps=1) == 0
    old = load_file(str(src / "model.safetensors"))["nezha.embeddings.word_embeddings.weight"]
    new = load_file(str(out / "model.safetensors"))["nezha.embeddings.word_embeddings.weight"]
    assert new.shape == (len(new_vocab), CONFIG["hidden_size"])
    for token in ("cat", "fish", "[MASK]", "."):
        torch.testing.assert_close(new[new_vocab.index(token)], old[VOCAB.index(token)], rtol=0, atol=0)
    assert (out / "vocab.txt").read_text().split("\n")[:len(new_vocab)] == new_vocab


def test_killed_and_resumed_equals_uninterrupted(setup, tmp_path, monkeypatch):
    extra = ("--learning_rate", "0.01", "--accumulation_steps", "2")
    assert pretrain(setup, tmp_path / "full", *extra, steps=8) == 0

    step, calls = recipe.pretraining_step, [0]

    def dies_in_step_5(model, batch):  # 2 micro-batches per step: call 9 is step 5, after the checkpoint at 3
        calls[0] += 1
        if calls[0] == 9:
            raise RuntimeError("killed")
        return step(model, batch)

    monkeypatch.setattr(recipe, "pretraining_step", dies_in_step_5)
    with pytest.raises(RuntimeError, match="killed"):
        pretrain(setup, tmp_path / "resumed", *extra, steps=8)
    state = json.loads((tmp_path / "resumed" / "checkpoint" / "trainer_state.json").read_text())
    assert state["global_step"] == 3 and not state["finished"]
    monkeypatch.setattr(recipe, "pretraining_step", step)
    assert pretrain(setup, tmp_path / "resumed", *extra, "--resume", steps=8) == 0

    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert records(tmp_path / "full") == records(tmp_path / "resumed")


def test_two_process_gloo_run_equals_one_process(setup, tmp_path):
    # one process with 2 accumulation steps runs the same micro-batches of 4 as two processes with one each
    assert pretrain(setup, tmp_path / "one", "--accumulation_steps", "2", "--learning_rate", "0.01", steps=4) == 0
    args = ["--dataset_path", str(setup / "data"), "--vocab_path", str(setup / "vocab.txt"),
            "--output_model_path", str(tmp_path / "two"), "--config_path", str(setup / "config.json"),
            "--max_seq_length", "32", "--batch_size", "8", "--total_steps", "4", "--report_steps", "1",
            "--save_checkpoint_steps", "3", "--seed", "5", "--learning_rate", "0.01"]
    # the two workers started the way `torchrun --nproc_per_node 2 -m tinybert pretrain ...` starts them (its
    # environment), without torchrun's own process (one torch import fewer)
    run_two_ranks(["-m", "tinybert", "pretrain", *args], timeout=300, PYTHONPATH=ROOT, TQDM_DISABLE="1")
    a = load_file(str(tmp_path / "one" / "model.safetensors"))
    b = load_file(str(tmp_path / "two" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)
    for x, y in zip(records(tmp_path / "one"), records(tmp_path / "two"), strict=True):
        assert x["loss"] == pytest.approx(y["loss"], rel=1e-5)
    # and the weights moved from their initialisation (a test that cannot fail proves nothing)
    config = build_model_config(CONFIG, "nezha", len(VOCAB), "config")
    init = new_model(config, "mlm_nsp", 5).state_dict()
    key = "nezha.encoder.layer.0.attention.self.query.weight"
    assert not torch.allclose(init[key], a[key])


def test_bad_input_one_line_errors(setup, tmp_path, capsys):
    def refused(*extra, config=None):
        capsys.readouterr()
        args = ["--dataset_path", str(setup / "data"), "--vocab_path", str(setup / "vocab.txt"),
                "--output_model_path", str(tmp_path / "o"), "--config_path", config or str(setup / "config.json"),
                "--max_seq_length", "32", "--batch_size", "4", "--total_steps", "1", *extra]
        assert run_command("pretrain", args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err, err
        return err

    assert "is a nezha config but --model_type is bert" in refused("--model_type", "bert")
    assert "is a bert config but --model_type is nezha" in refused("--model_type", "nezha",
                                                                   config=os.path.join(ROOT, "tinybert", "presets",
                                                                                       "bert_tiny.json"))
    dup = tmp_path / "dup.txt"
    dup.write_text("\n".join(VOCAB + ["cat"]) + "\n")
    assert "duplicate token 'cat'" in refused("--vocab_path", str(dup))
    err = refused("--world_size", "8", "--gpu_ranks", "0", "1", "2", "3", "--master_ip", "tcp://10.0.0.1:6000")
    assert ("torchrun --nnodes 2 --node_rank 0 --master_addr 10.0.0.1 --master_port 6000 --nproc_per_node 4"
            in err)
    assert "a proportion < 1 or a step count" in refused("--warmup", "-1")
    assert not (tmp_path / "o").exists()  # nothing written


def test_presets_resolve_for_both_model_types():
    for model_type in ("nezha", "bert"):
        for name, (layers, hidden, heads, ffn) in {"tiny": (2, 128, 2, 512), "mini": (4, 256, 4, 1024),
                                                    "small": (4, 512, 8, 2048), "medium": (8, 512, 8, 2048),
                                                    "base": (12, 768, 12, 3072),
                                                    "large": (24, 1024, 16, 4096)}.items():
            data, where = read_model_config(name, model_type)
            config = build_model_config(data, model_type, 100, where)
            assert config.model_type == model_type and config.vocab_size == 100
            assert (config.num_hidden_layers, config.hidden_size, config.num_attention_heads,
                    config.intermediate_size) == (layers, hidden, heads, ffn)


def test_extend_a_finished_run_with_a_larger_budget(setup, tmp_path, capsys):
    """``--resume`` with a larger ``--total_steps`` continues a finished run; the same budget says it is complete."""
    out = tmp_path / "run"
    assert pretrain(setup, out, steps=4) == 0
    assert pretrain(setup, out, "--resume", steps=6) == 0
    assert [r["step"] for r in records(out) if "loss" in r] == [1, 2, 3, 4, 5, 6]
    capsys.readouterr()
    assert pretrain(setup, out, "--resume", steps=6) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "already complete" in err and "--max_steps" in err and "\n" not in err
    assert pretrain(setup, out, steps=8) == 2  # without --resume: refused, saying how to extend it
    assert "--resume with a larger --max_steps" in capsys.readouterr().err
