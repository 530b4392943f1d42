"""Task distillation: stage 2 targets, teacher-logit cache, best-checkpoint selection, MNLI reporting, label maps,
resume; tiny BERT models (2 layers, hidden 32) and tiny GLUE-layout files written here."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest
import torch

WORDS = ("good great fine nice happy bad awful poor sad dull the a movie film plot cast is was very not quite "
         "really story actor scene").split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
POSITIVE = {"good", "great", "fine", "nice", "happy"}


# ----------------------------------------------------------------------------------------------------- helpers


def write_vocab(path: str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(SPECIAL + WORDS) + "\n")
    return path


def tokenizer_for(tmp_path) -> object:
    from tinybert.models.tokenizer import load_tokenizer

    return load_tokenizer(write_vocab(str(tmp_path / "vocab" / "vocab.txt")), do_lower_case=True)


def bert_config(layers: int = 2, hidden: int = 32, heads: int = 2, **kw):
    from transformers import BertConfig

    return BertConfig(vocab_size=len(SPECIAL) + len(WORDS), hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=heads, intermediate_size=2 * hidden, max_position_embeddings=64, **kw)


def save_classifier(path, tmp_path, labels: list[str] | None, seed: int = 0, layers: int = 2, hidden: int = 32,
                    model=None) -> str:
    """A tiny BertForSequenceClassification folder (``labels`` None: one regression output)."""
    from transformers import BertForSequenceClassification

    from tinybert.models.checkpoint import save_model

    if model is None:
        torch.manual_seed(seed)
        n = 1 if labels is None else len(labels)
        id2label = {0: "LABEL_0"} if labels is None else dict(enumerate(labels))
        model = BertForSequenceClassification(bert_config(layers, hidden, num_labels=n, id2label=id2label,
                                                          label2id={v: k for k, v in id2label.items()}))
    save_model(model, str(path), tokenizer=tokenizer_for(tmp_path))
    return str(path)


def save_general_student(path, tmp_path, teacher_hidden: int = 32, seed: int = 1) -> str:
    """A general student (no classifier) with its projection, as general distillation writes it."""
    from transformers import BertModel

    from tinybert.models.student import TinyBertStudent

    torch.manual_seed(seed)
    student = TinyBertStudent(BertModel(bert_config(2, 16, 2)), teacher_hidden)
    student.save_pretrained(str(path), tokenizer=tokenizer_for(tmp_path))
    return str(path)


def sentence(rng: random.Random, n: int = 6) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, n)))


def write_sst2(data_dir, n_train: int = 24, n_dev: int = 12, seed: int = 0) -> str:
    rng = random.Random(seed)
    os.makedirs(data_dir, exist_ok=True)
    for split, n in (("train", n_train), ("dev", n_dev)):
        rows = ["sentence\tlabel"]
        for _ in range(n):
            s = sentence(rng)
            rows.append(f"{s}\t{int(any(w in POSITIVE for w in s.split()))}")
        (data_dir / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    (data_dir / "test.tsv").write_text("index\tsentence\n" + "".join(f"{i}\t{sentence(rng)}\n" for i in range(5)),
                                       encoding="utf-8")
    return str(data_dir)


def write_stsb(data_dir, labels: list[float], n_dev: int = 10, seed: int = 0) -> str:
    rng = random.Random(seed)
    os.makedirs(data_dir, exist_ok=True)
    head = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"
    for split, ys in (("train", labels), ("dev", [rng.uniform(0, 5) for _ in range(n_dev)])):
        rows = [head] + [f"{i}\tg\tf\t2012\t{i}\ts1\ts2\t{sentence(rng)}\t{sentence(rng)}\t{y:.3f}"
                         for i, y in enumerate(ys)]
        (data_dir / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(data_dir)


MNLI_LABELS = ["contradiction", "entailment", "neutral"]


def write_mnli(data_dir, n: int = 9, seed: int = 0) -> str:
    rng = random.Random(seed)
    os.makedirs(data_dir, exist_ok=True)
    head = "\t".join(["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
                      "sentence1_parse", "sentence2_parse", "sentence1", "sentence2", "label1", "gold_label"])
    head_cols = head.split("\t")
    for name in ("train", "dev_matched", "dev_mismatched"):
        rows = [head]
        for i in range(n + (3 if name == "dev_mismatched" else 0)):
            label = MNLI_LABELS[rng.randrange(3)]
            rows.append("\t".join([str(i), "1", "1", "g", "x", "x", "x", "x", sentence(rng), sentence(rng), label,
                                   label]))
        (data_dir / f"{name}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    for name, n_test in (("test_matched", 4), ("test_mismatched", 3)):
        rows = ["\t".join(head_cols[:10])]
        rows += ["\t".join([str(100 + i), "1", "1", "g", "x", "x", "x", "x", sentence(rng), sentence(rng)])
                 for i in range(n_test)]
        (data_dir / f"{name}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return str(data_dir)


def parse(command: str, argv: list[str]):
    from tinybert.cli import build_parser

    return build_parser(command).parse_args([str(a) for a in argv])


def distill(argv: list[str]):
    """``task_distill.py ARGV`` in this process (exceptions propagate): the CLI's mapping onto the recipes."""
    from tinybert.cli.task_distill import run

    return run(parse("task-distill", argv))


def common(data_dir, out, *extra) -> list[str]:
    return ["--data_dir", data_dir, "--output_dir", out, "--max_seq_length", 16, "--train_batch_size", 8,
            "--eval_batch_size", 8, "--no_cuda", "--logging_steps", 1, *extra]


def weights(folder: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(os.path.join(folder, "model.safetensors"))


def final_weights(out: str) -> dict[str, torch.Tensor]:
    """The weights the run ended with (its last checkpoint), independent of which model was published."""
    from safetensors.torch import load_file

    return load_file(os.path.join(out, "checkpoint", "model.safetensors"))


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0, msg=k)


def error_line(capsys) -> str:
    """The one ``error:`` line a refused command printed (and no traceback)."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def eval_records(out: str) -> list[dict]:
    with open(os.path.join(out, "metrics.jsonl"), encoding="utf-8") as f:
        return [r for r in map(json.loads, f) if any(k.startswith("eval_") for k in r)]


# ----------------------------------------------------------------------------------------------------- tests


def test_stsb_stage2_learns_teacher_predictions_not_gold(tmp_path):
    """Gold STS-B scores replaced by garbage give the identical run; with a hard-label weight they do not."""
    teacher = save_classifier(tmp_path / "teacher", tmp_path, None, seed=3)
    student = save_general_student(tmp_path / "student", tmp_path)
    rng = np.random.default_rng(0)
    runs = {}
    for name, labels in (("gold", rng.uniform(0, 5, 16)), ("garbage", rng.uniform(-100, 100, 16))):
        data = write_stsb(tmp_path / f"data_{name}", list(labels))
        for w in (0.0, 0.5):
            out = str(tmp_path / f"out_{name}_{w}")
            distill(["--task_name", "sts-b", "--teacher_model", teacher, "--student_model", student, "--pred_distill",
                     "--skip_teacher_check", "--max_steps", 3, "--hard_label_weight", w, *common(data, out)])
            runs[name, w] = final_weights(out)
    assert_same(runs["gold", 0.0], runs["garbage", 0.0])
    diff = max((runs["gold", 0.5][k] - runs["garbage", 0.5][k]).abs().max().item() for k in runs["gold", 0.5])
    assert diff > 1e-4  # the test can see a gold-label dependence when there is one


def test_stsb_stage2_loss_is_mse_to_teacher_predictions(tmp_path):
    """The first logged step loss equals an independent MSE between student and teacher outputs on that batch."""
    from transformers import BertForSequenceClassification

    from tinybert.data.task_features import TaskDataset, collate
    from tinybert.data.tasks import get_task, read_examples
    from tinybert.train.loop import GlobalBatchSampler

    teacher = save_classifier(tmp_path / "teacher", tmp_path, None, seed=3)
    student = save_general_student(tmp_path / "student", tmp_path)
    data = write_stsb(tmp_path / "data", list(np.linspace(0, 5, 16)))
    out = str(tmp_path / "out")
    distill(["--task_name", "sts-b", "--teacher_model", teacher, "--student_model", student, "--pred_distill",
             "--skip_teacher_check", "--max_steps", 1, "--seed", 7, *common(data, out)])
    logged = json.loads(open(os.path.join(out, "metrics.jsonl")).readline())["cls_loss"]

    spec = get_task("sts-b")
    ds = TaskDataset.from_examples(read_examples(spec, data, "train"), tokenizer_for(tmp_path), 16, spec)
    first = next(iter(GlobalBatchSampler(len(ds), 8, 1, 0, 1, seed=7, epoch=0)))
    batch = collate([ds[i] for i in first])
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    t = BertForSequenceClassification.from_pretrained(teacher).eval()
    torch.manual_seed(7)  # the student's regression head is initialised with the run's seed
    from tinybert.models.classifier import load_task_student

    s = load_task_student(student, spec, 32, None).model.train()
    torch.manual_seed(7)  # the loop seeds the dropout stream with seed + rank
    from tinybert.models.attention import fast_cpu_dropout

    with torch.no_grad(), fast_cpu_dropout(s):  # the loop trains on CPU with the fast dropout
        expected = ((s(**inputs).logits[:, 0] - t(**inputs).logits[:, 0]) ** 2).mean().item()
    assert logged == pytest.approx(expected, rel=1e-4)


def test_cached_and_uncached_teacher_logits_give_the_same_run(tmp_path):
    teacher = save_classifier(tmp_path / "teacher", tmp_path, ["0", "1"], seed=5)
    student = save_general_student(tmp_path / "student", tmp_path)
    data = write_sst2(tmp_path / "data")
    outs = {}
    for name, extra in (("cached", []), ("uncached", ["--no_logits_cache"])):
        out = str(tmp_path / name)
        distill(["--task_name", "sst-2", "--teacher_model", teacher, "--student_model", student, "--pred_distill",
                 "--skip_teacher_check", "--num_train_epochs", 2, "--temperature", 2, "--learning_rate", 1e-3, *extra,
                 *common(data, out)])
        outs[name] = out
    cache = os.listdir(os.path.join(outs["cached"], "teacher_logits"))
    assert len(cache) == 1 and not os.path.exists(os.path.join(outs["uncached"], "teacher_logits"))
    a, b = final_weights(outs["cached"]), final_weights(outs["uncached"])
    assert a.keys() == b.keys()
    for k in a:  # teacher logits from length-sorted vs. training batches differ at most in the last float bits
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6, msg=k)
    start = weights(student)
    moved = max((a["model.bert." + k] - v).abs().max().item() for k, v in start.items() if k.startswith("encoder"))
    assert moved > 1e-4  # the student did train

    # the cache holds the teacher's logits on the training set, in dataset order
    from safetensors.torch import load_file
    from transformers import BertForSequenceClassification

    from tinybert.data.task_features import TaskDataset
    from tinybert.data.tasks import get_task, read_examples

    spec = get_task("sst-2")
    ex = read_examples(spec, data, "train")
    enc = tokenizer_for(tmp_path)([e.text_a for e in ex], padding=True, return_tensors="pt")
    with torch.no_grad():
        expected = BertForSequenceClassification.from_pretrained(teacher).eval()(**enc).logits
    cached = load_file(os.path.join(outs["cached"], "teacher_logits", cache[0]))["logits"]
    torch.testing.assert_close(cached, expected, rtol=1e-5, atol=1e-5)
    assert len(TaskDataset.from_examples(ex, tokenizer_for(tmp_path), 16, spec)) == len(cached)


def test_best_checkpoint_with_negative_mcc(tmp_path):
    """CoLA dev labels opposite to the teacher's predictions: every MCC is negative, and the best one is kept."""
    from transformers import BertForSequenceClassification

    from tinybert.evaluate import read_eval_results
    from tinybert.metrics import matthews_corrcoef

    rng = random.Random(1)
    torch.manual_seed(11)
    model = BertForSequenceClassification(bert_config(num_labels=2, id2label={0: "0", 1: "1"},
                                                      label2id={"0": 0, "1": 1})).eval()
    dev = [sentence(rng) for _ in range(16)]
    tok = tokenizer_for(tmp_path)
    with torch.no_grad():
        d = model(**tok(dev, padding=True, return_tensors="pt")).logits.diff(dim=1)[:, 0].sort().values
        model.classifier.weight /= (d[-1] - d[0]).item()  # logit differences spread over ~1
        model.classifier.bias /= (d[-1] - d[0]).item()
        model.classifier.bias[1] -= (d[7] + d[8]).item() / 2 / (d[-1] - d[0]).item()  # half on each side
        pred = model(**tok(dev, padding=True, return_tensors="pt")).logits.argmax(1).numpy()
    assert 0 < pred.sum() < len(pred)
    teacher = save_classifier(tmp_path / "teacher", tmp_path, None, model=model)
    data = tmp_path / "cola"
    data.mkdir()
    (data / "train.tsv").write_text("".join(f"src\t{rng.randint(0, 1)}\t\t{sentence(rng)}\n" for _ in range(16)))
    (data / "dev.tsv").write_text("".join(f"src\t{1 - p}\t\t{s}\n" for s, p in zip(dev, pred, strict=True)))
    out = str(tmp_path / "out")
    # the student is a copy of the teacher and does not move (learning rate 0): every dev MCC is -1, and the
    # first of them must still be published (a best initialised to 0 would publish nothing)
    distill(["--task_name", "cola", "--teacher_model", teacher, "--student_model", teacher, "--pred_distill",
             "--max_steps", 4, "--eval_step", 1, "--learning_rate", 0, *common(str(data), out)])
    mccs = [r["eval_mcc"] for r in eval_records(out)]
    assert len(mccs) == 4 and max(mccs) < 0
    result = read_eval_results(os.path.join(out, "eval_results.txt"))
    assert result["mcc"] == pytest.approx(max(mccs))
    assert result["global_step"] == 1 + mccs.index(max(mccs))
    # independent check of the kept model
    kept = BertForSequenceClassification.from_pretrained(out).eval()
    with torch.no_grad():
        p = kept(**tok(dev, padding=True, return_tensors="pt")).logits.argmax(1).numpy()
    assert matthews_corrcoef(p, 1 - pred) == pytest.approx(max(mccs))


def test_mnli_reports_matched_and_mismatched(tmp_path, capsys):
    from transformers import BertForSequenceClassification

    from tinybert.evaluate import read_eval_results

    model = save_classifier(tmp_path / "mnli_model", tmp_path, MNLI_LABELS, seed=2)
    data = write_mnli(tmp_path / "mnli")
    out = str(tmp_path / "eval")
    distill(["--do_eval", "--do_predict", "--task_name", "mnli", "--student_model", model, "--data_dir", data,
             "--output_dir", out, "--max_seq_length", 32, "--no_cuda"])
    for name, n_test in (("MNLI-m.tsv", 4), ("MNLI-mm.tsv", 3)):  # GLUE submission files, one per test set
        lines = open(os.path.join(out, name)).read().splitlines()
        assert lines[0] == "index\tprediction" and [x.split("\t")[0] for x in lines[1:]] == [
            str(100 + i) for i in range(n_test)]
        assert {x.split("\t")[1] for x in lines[1:]} <= set(MNLI_LABELS)
    result = read_eval_results(os.path.join(out, "eval_results.txt"))
    assert "mnli_acc" in capsys.readouterr().out
    m = BertForSequenceClassification.from_pretrained(model).eval()
    tok = tokenizer_for(tmp_path)
    for split, key in (("dev_matched", "mnli_acc"), ("dev_mismatched", "mnli-mm_acc")):
        rows = [line.split("\t") for line in (tmp_path / "mnli" / f"{split}.tsv").read_text().splitlines()[1:]]
        enc = tok([r[8] for r in rows], [r[9] for r in rows], padding=True, return_tensors="pt")
        with torch.no_grad():
            pred = m(**enc).logits.argmax(1).numpy()
        gold = np.array([MNLI_LABELS.index(r[-1]) for r in rows])
        assert result[key] == pytest.approx((pred == gold).mean())
    assert {"mnli_eval_loss", "mnli-mm_eval_loss"} <= result.keys()


def test_label_map_mismatch_refused(tmp_path, capsys):
    from tinybert.cli import run_command

    data = write_mnli(tmp_path / "mnli")
    wrong = save_classifier(tmp_path / "teacher", tmp_path, ["entailment", "neutral", "contradiction"])
    student = save_general_student(tmp_path / "student", tmp_path)
    argv = ["--task_name", "mnli", "--teacher_model", wrong, "--student_model", student, *common(data, tmp_path / "o")]
    assert run_command("task-distill", [str(a) for a in argv]) == 2
    err = error_line(capsys)
    assert "orders its labels" in err and "teacher" in err
    two = save_classifier(tmp_path / "teacher2", tmp_path, ["0", "1"])
    argv[3] = two
    assert run_command("task-distill", [str(a) for a in argv]) == 2
    assert "needs 3 labels" in error_line(capsys)
    # a student whose stored classifier has the wrong order is refused too
    good = save_classifier(tmp_path / "teacher3", tmp_path, MNLI_LABELS)
    argv[3], argv[5] = good, wrong
    assert run_command("task-distill", [str(a) for a in argv]) == 2
    assert "student orders its labels" in error_line(capsys)
    assert not os.path.exists(tmp_path / "o")


def test_bad_input_one_line_errors(tmp_path, capsys):
    from tinybert.cli import run_command

    data = write_sst2(tmp_path / "data")
    teacher = save_classifier(tmp_path / "teacher", tmp_path, ["0", "1"])
    student = save_general_student(tmp_path / "student", tmp_path)
    config_only = tmp_path / "config_only"
    config_only.mkdir()
    (config_only / "config.json").write_text(json.dumps(bert_config(2, 16).to_dict()))
    base = ["--teacher_model", teacher, "--student_model", student]
    cases = [
        (["--task_name", "nope", *base], "unknown task"),
        (["--task_name", "sst-2", "--teacher_model", teacher, "--student_model", str(config_only)], "general_distill"),
        (["--task_name", "sst-2", "--teacher_model", student, "--student_model", student], "not fine-tuned"),
    ]
    for argv, msg in cases:
        assert run_command("task-distill", [str(a) for a in argv + common(data, tmp_path / "o")]) == 2
        err = error_line(capsys)
        assert msg in err, err
    (tmp_path / "data" / "dev.tsv").write_text("sentence\tlabel\ngood movie\tmaybe\n")
    sst2 = [str(a) for a in ["--task_name", "sst-2", *base, *common(data, tmp_path / "o")]]
    assert run_command("task-distill", sst2) == 2
    assert "dev.tsv:2" in error_line(capsys)
    (tmp_path / "data" / "dev.tsv").write_text("sentence\tlabel\n")
    assert run_command("task-distill", sst2) == 2
    assert "empty" in error_line(capsys)


def test_stage2_killed_and_resumed_equals_uninterrupted(tmp_path, monkeypatch):
    from tinybert.train import checkpointing

    teacher = save_classifier(tmp_path / "teacher", tmp_path, ["0", "1"], seed=5)
    student = save_general_student(tmp_path / "student", tmp_path)
    data = write_sst2(tmp_path / "data", n_train=32)
    argv = ["--task_name", "sst-2", "--teacher_model", teacher, "--student_model", student, "--pred_distill",
            "--skip_teacher_check", "--max_steps", 6, "--save_steps", 2, "--eval_step", 2]
    full = str(tmp_path / "full")
    distill([*argv, *common(data, full)])

    real = checkpointing.save_checkpoint
    calls = []

    def crash_after_second(*a, **kw):
        path = real(*a, **kw)
        calls.append(path)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return path

    monkeypatch.setattr(checkpointing, "save_checkpoint", crash_after_second)
    part = str(tmp_path / "part")
    with pytest.raises(RuntimeError, match="killed"):
        distill([*argv, *common(data, part)])
    monkeypatch.setattr(checkpointing, "save_checkpoint", real)
    assert json.load(open(os.path.join(part, "checkpoint", "trainer_state.json")))["global_step"] == 4
    distill([*argv, *common(data, part)])  # resumes automatically
    assert_same(final_weights(full), final_weights(part))
    assert_same(weights(full), weights(part))  # the same best student published
    assert open(os.path.join(full, "eval_results.txt")).read() == open(os.path.join(part, "eval_results.txt")).read()
    # and a finished run is refused without --overwrite_output_dir
    from tinybert.errors import UserError

    with pytest.raises(UserError, match="finished"):
        distill([*argv, *common(data, part)])


def test_config_errors_are_refused_before_work_and_shown_as_flags(tmp_path, capsys):
    """The configs check their fields at the door; the command shows the flag in place of the field."""
    from tinybert.cli import run_command

    data = write_sst2(tmp_path / "data")
    teacher = save_classifier(tmp_path / "teacher", tmp_path, ["0", "1"])
    student = save_general_student(tmp_path / "student", tmp_path)
    out = tmp_path / "o"
    base = ["--task_name", "sst-2", "--student_model", student]
    cases = [
        (["--teacher_model", teacher, "--temperature", 0, *common(data, out)], "--temperature must be > 0, got 0.0"),
        (["--teacher_model", teacher, "--hard_label_weight", 2, *common(data, out)],
         "--hard_label_weight must be in [0.0, 1.0], got 2.0"),
        (common(data, out), "--teacher_model is required for task distillation"),
        (["--teacher_model", teacher, "--layer_map", "nonsense", *common(data, out)],
         "--layer_map 'nonsense': expected 'uniform', 'last'"),
        (["--teacher_model", teacher, *common(data, tmp_path / "teacher" / "inside")],
         f"--output_dir {tmp_path / 'teacher' / 'inside'} lies inside the input --teacher_model"),
        (["--teacher_model", teacher, *common(data, tmp_path / "data")], "is the input --data_dir"),
    ]
    for argv, msg in cases:
        assert run_command("task-distill", [str(a) for a in base + argv]) == 2
        line = error_line(capsys)
        assert msg in line, line
    assert not out.exists() and not (tmp_path / "teacher" / "inside").exists()
    # evaluation refuses to replace its results without --overwrite_output_dir
    model = save_classifier(tmp_path / "model", tmp_path, ["0", "1"])
    ev = ["--do_eval", "--task_name", "sst-2", "--student_model", model, *common(data, tmp_path / "ev")]
    assert run_command("task-distill", [str(a) for a in ev]) == 0
    assert run_command("task-distill", [str(a) for a in ev]) == 2
    assert "already holds eval_results.txt; set --overwrite_output_dir" in error_line(capsys)
    assert run_command("task-distill", [str(a) for a in [*ev, "--overwrite_output_dir"]]) == 0


def test_unlabeled_rows_count_for_the_teacher_not_for_the_gold_labels(tmp_path):
    """``--unlabeled_train`` adds unlabeled.tsv (SST-2 test layout) to the training set: the teacher's logits are
    cached for every row, and the gold-label loss averages over the labelled rows only (0, not NaN, without any)."""
    from safetensors.torch import load_file

    from tinybert.data.tasks import get_task, read_examples
    from tinybert.evaluate import task_loss

    data = write_sst2(tmp_path / "data", n_train=10)
    rng = random.Random(5)
    (tmp_path / "data" / "unlabeled.tsv").write_text(
        "index\tsentence\n" + "".join(f"{i}\t{sentence(rng)}\n" for i in range(7)), encoding="utf-8")
    rows = read_examples(get_task("sst-2"), str(data), "unlabeled")
    assert len(rows) == 7 and all(r.label is None for r in rows)
    # a CLUE layout keeps its label column in test files: in the unlabeled split the cell is ignored, empty or not
    zh = tmp_path / "zh"
    zh.mkdir()
    (zh / "unlabeled.tsv").write_text("label\ttext\n\t好看\n1\t太差了\n", encoding="utf-8")
    zh_rows = read_examples(get_task("chnsenticorp"), str(zh), "unlabeled")
    assert [(r.text_a, r.label) for r in zh_rows] == [("好看", None), ("太差了", None)]
    teacher = save_classifier(tmp_path / "teacher", tmp_path, ["0", "1"])
    student = save_general_student(tmp_path / "student", tmp_path)
    out = tmp_path / "s2"
    distill(["--pred_distill", "--unlabeled_train", "--hard_label_weight", 0.5, "--teacher_model", teacher,
             "--student_model", student, "--task_name", "sst-2", *common(data, out, "--max_steps", 3)])
    (cache,) = (out / "teacher_logits").glob("*.safetensors")
    assert next(iter(load_file(str(cache)).values())).shape[0] == 17  # 10 labelled + 7 unlabelled
    # the gold-label term against a hand computation: rows 1 and 3 unlabelled (-100)
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 3.0], [5.0, 5.0]], requires_grad=True)
    labels = torch.tensor([0, -100, 1, -100])
    want = (np.log(1 + np.exp(-2.0)) + np.log(1 + np.exp(-2.0))) / 2  # -log softmax of the gold class, 2 rows
    assert abs(task_loss(logits, labels, regression=False).item() - want) < 1e-6
    none = task_loss(logits, torch.full((4,), -100), regression=False)
    assert none.item() == 0.0
    none.backward()  # a graph to step through, as every loss term has
    reg = task_loss(logits[:, :1], torch.tensor([1.0, float("nan"), 0.0, float("nan")]), regression=True)
    assert abs(reg.item() - ((2.0 - 1.0) ** 2 + (1.0 - 0.0) ** 2) / 2) < 1e-6
