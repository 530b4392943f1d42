"""Bit-identity check of the distillation commands between two source trees (e.g. before and after a refactor).

Seeded CPU runs of general distillation (two variants), task stage 1, stage 2 (cached, uncached, with a gold-label
weight, STS-B regression) and ``--do_eval --do_predict`` through the top-level scripts of a tree
(``PYTHONPATH=TREE``, which takes precedence over the editable install), on real text (examples/data: the State of
the Union corpus and the spam e-mails) with tiny random-init models. ``compare`` then checks every model's tensors
(``model.safetensors``, with ``projections.safetensors`` where a tree writes the projections apart) and every other
safetensors file tensor by tensor (``torch.equal``), and ``metrics.jsonl``, ``eval_results.txt``, ``config.json``
and the prediction files byte for byte.

    python bench/distill_identity.py prepare WORK                # fixtures, made once with this tree
    python bench/distill_identity.py run TREE WORK OUT           # the runs with TREE's code
    python bench/distill_identity.py compare OUT_A OUT_B         # exit 0 when identical
    python bench/distill_identity.py all WORK BEFORE_TREE        # all three: BEFORE_TREE vs this tree
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MINILM = os.path.join(ROOT, ".cache", "models", "minilm")
SPAM = os.path.join(ROOT, "examples", "data", "spam")
CORPUS = os.path.join(ROOT, "examples", "data", "corpus_en.txt")
BYTE_FILES = ("metrics.jsonl", "eval_results.txt", "config.json", "SST-2.tsv", "STS-B.tsv")


def _env(tree: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": tree, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false"}


def _call(tree: str, script: str, *argv: str) -> None:
    cmd = [sys.executable, os.path.join(tree, script), *map(str, argv)]
    p = subprocess.run(cmd, env=_env(tree), capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"{script} {' '.join(argv[:4])} ... exited {p.returncode}:\n{p.stderr[-3000:]}")


def prepare(work: str) -> None:
    """Tiny teacher (base and two classifiers), a student config, pregenerated shards and task data in ``work``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertModel

    from tinybert.cli import run_command
    from tinybert.models.checkpoint import save_model
    from tinybert.models.tokenizer import load_tokenizer

    os.makedirs(work, exist_ok=True)
    if os.path.isfile(os.path.join(MINILM, "vocab.txt")):
        vocab = os.path.join(MINILM, "vocab.txt")
    else:  # a vocabulary learnt from the corpus
        vocab = os.path.join(work, "vocab", "vocab.txt")
        run_command("build-vocab", ["--input_file", CORPUS, "--output_dir", os.path.dirname(vocab),
                                    "--vocab_size", "8000"])
    tokenizer = load_tokenizer(vocab, do_lower_case=True)
    size = len(tokenizer.get_vocab())

    def config(**kw):  # classifiers: a wide init, so the teacher's logits differ by units between examples
        return BertConfig(vocab_size=size, hidden_size=48, num_hidden_layers=4, num_attention_heads=4,
                          intermediate_size=96, max_position_embeddings=64, **kw)

    torch.manual_seed(0)
    save_model(BertModel(config()), os.path.join(work, "teacher"), tokenizer=tokenizer)
    torch.manual_seed(1)
    labels = {0: "0", 1: "1"}
    classifier = config(num_labels=2, id2label=labels, label2id={"0": 0, "1": 1}, initializer_range=0.5)
    save_model(BertForSequenceClassification(classifier), os.path.join(work, "teacher_clf"), tokenizer=tokenizer)
    torch.manual_seed(2)
    regression = config(num_labels=1, initializer_range=0.5)
    save_model(BertForSequenceClassification(regression), os.path.join(work, "teacher_reg"), tokenizer=tokenizer)
    os.makedirs(os.path.join(work, "student"), exist_ok=True)
    with open(os.path.join(work, "student", "config.json"), "w") as f:
        json.dump({"model_type": "bert", "vocab_size": size, "hidden_size": 32, "num_hidden_layers": 2,
                   "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 64}, f)

    with open(CORPUS, encoding="utf-8") as f:
        text = [next(f) for _ in range(300)]
    with open(os.path.join(work, "corpus.txt"), "w", encoding="utf-8") as f:
        f.write("".join(text))
    assert run_command("pregenerate", ["--train_corpus", os.path.join(work, "corpus.txt"), "--bert_model",
                                       os.path.join(work, "teacher"), "--output_dir", os.path.join(work, "pregen"),
                                       "--max_seq_len", "32", "--epochs_to_generate", "2", "--num_workers", "1",
                                       "--no_progress"]) == 0

    with open(os.path.join(SPAM, "train.tsv"), encoding="utf-8") as f:
        rows = f.read().splitlines()[1:]
    sst = os.path.join(work, "sst2")
    os.makedirs(sst, exist_ok=True)
    train, dev, test = rows[:48], rows[48:72], rows[72:80]
    for name, part in (("train", train), ("train_aug", train + train[:16]), ("dev", dev)):
        with open(os.path.join(sst, f"{name}.tsv"), "w", encoding="utf-8") as f:
            f.write("sentence\tlabel\n" + "".join(r + "\n" for r in part))
    with open(os.path.join(sst, "test.tsv"), "w", encoding="utf-8") as f:
        f.write("index\tsentence\n" + "".join(f"{i}\t{r.split(chr(9))[0]}\n" for i, r in enumerate(test)))

    rng = random.Random(0)
    sts = os.path.join(work, "stsb")
    os.makedirs(sts, exist_ok=True)
    head = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"
    sentences = [r.split("\t")[0][:200] for r in rows[100:180]]
    for name, lo in (("train", 0), ("dev", 48)):
        n = 48 if name == "train" else 16
        lines = [head] + [f"{i}\tg\tf\t2012\t{i}\ts1\ts2\t{sentences[lo + i]}\t{sentences[lo + (i + 1) % n]}\t"
                          f"{rng.uniform(0, 5):.3f}" for i in range(n)]
        with open(os.path.join(sts, f"{name}.tsv"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


def run(tree: str, work: str, out: str) -> None:
    """The distillation commands of ``tree`` on the fixtures of ``work``, into ``out/<run>``."""
    w = lambda *p: os.path.join(work, *p)  # noqa: E731
    o = lambda *p: os.path.join(out, *p)  # noqa: E731
    gd = ["--pregenerated_data", w("pregen"), "--teacher_model", w("teacher"), "--student_model", w("student"),
          "--max_seq_length", 32, "--train_batch_size", 8, "--logging_steps", 2, "--save_steps", 3, "--eval_step", 3,
          "--seed", 3, "--no_cuda"]
    _call(tree, "general_distill.py", *gd, "--output_dir", o("gd"), "--max_steps", 6)
    _call(tree, "general_distill.py", *gd, "--output_dir", o("gd_last_masked"), "--max_steps", 4, "--projection",
          "per_layer", "--attention_loss", "masked", "--layer_map", "last")
    task = ["--task_name", "sst-2", "--data_dir", w("sst2"), "--max_seq_length", 32, "--train_batch_size", 8,
            "--eval_batch_size", 8, "--logging_steps", 1, "--seed", 5, "--no_cuda", "--do_lower_case"]
    _call(tree, "task_distill.py", *task, "--teacher_model", w("teacher_clf"), "--student_model", o("gd"),
          "--aug_train", "--output_dir", o("td1"), "--max_steps", 6, "--eval_step", 3)
    stage2 = [*task, "--pred_distill", "--teacher_model", w("teacher_clf"), "--student_model", o("td1"),
              "--max_steps", 6, "--eval_step", 2, "--temperature", 2, "--learning_rate", 1e-3]
    _call(tree, "task_distill.py", *stage2, "--output_dir", o("td2"))
    _call(tree, "task_distill.py", *stage2, "--output_dir", o("td2_online"), "--no_logits_cache")
    _call(tree, "task_distill.py", *stage2, "--output_dir", o("td2_hard"), "--hard_label_weight", 0.3, "--do_predict")
    _call(tree, "task_distill.py", "--task_name", "sts-b", "--data_dir", w("stsb"), "--max_seq_length", 32,
          "--train_batch_size", 8, "--eval_batch_size", 8, "--logging_steps", 1, "--seed", 5, "--no_cuda",
          "--pred_distill", "--teacher_model", w("teacher_reg"), "--student_model", o("gd"), "--max_steps", 4,
          "--eval_step", 2, "--hard_label_weight", 0.5, "--output_dir", o("stsb2"))
    _call(tree, "task_distill.py", *task, "--do_eval", "--do_predict", "--student_model", o("td2"),
          "--output_dir", o("eval"))


WEIGHT_FILES = ("model.safetensors", "projections.safetensors")  # one model's tensors, in one file or two


def _tensors(folder: str, names: list[str]) -> dict:
    from safetensors.torch import load_file

    out = {}
    for name in names:
        out.update(load_file(os.path.join(folder, name)))
    return out


def compare(a: str, b: str) -> int:
    """The tensors of every model folder (model.safetensors with projections.safetensors when there) and of every
    other safetensors file, tensor by tensor, and the byte files, of the runs under ``a`` and ``b``."""
    from torch import equal

    problems, checked = [], 0
    runs = sorted(os.listdir(a))
    if runs != sorted(os.listdir(b)):
        problems.append(f"different runs: {runs} vs {sorted(os.listdir(b))}")
    for run_name in runs:
        for folder, _, names in os.walk(os.path.join(a, run_name)):
            rel = os.path.relpath(folder, a)
            other = os.path.join(b, rel)
            if rel.split(os.sep)[-1] == "tensorboard":
                continue
            groups = [[n for n in names if n in WEIGHT_FILES]]
            groups += [[n] for n in sorted(names) if n.endswith(".safetensors") and n not in WEIGHT_FILES]
            for group in (g for g in groups if g):
                other_names = [n for n in (WEIGHT_FILES if group[0] in WEIGHT_FILES else group)
                               if os.path.isfile(os.path.join(other, n))]
                if not other_names:
                    problems.append(f"{rel}/{group[0]}: missing in {b}")
                    continue
                ta, tb = _tensors(folder, group), _tensors(other, other_names)
                bad = sorted(k for k in ta if k not in tb or not equal(ta[k], tb[k]))
                if ta.keys() != tb.keys() or bad:
                    problems.append(f"{rel}/{'+'.join(group)}: {len(bad)} of {len(ta)} tensors differ or are "
                                    f"missing, e.g. {bad[:3]}; extra: {sorted(set(tb) - set(ta))[:3]}")
                checked += 1
            for name in sorted(n for n in names if n in BYTE_FILES):
                pb = os.path.join(other, name)
                if not os.path.isfile(pb) or open(os.path.join(folder, name), "rb").read() != open(pb, "rb").read():
                    problems.append(f"{rel}/{name}: bytes differ")
                checked += 1
    for line in problems:
        print("DIFFERENT:", line)
    print(f"{checked} files compared in {len(runs)} runs ({', '.join(runs)}): "
          f"{'identical' if not problems else f'{len(problems)} differ'}")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("prepare", "run", "compare", "all"):
        print(__doc__)
        return 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "prepare":
        prepare(rest[0])
    elif cmd == "run":
        run(*rest)
    elif cmd == "compare":
        return compare(*rest)
    else:
        work, before = rest
        prepare(os.path.join(work, "fixtures"))
        for name, tree in (("before", before), ("after", ROOT)):
            run(tree, os.path.join(work, "fixtures"), os.path.join(work, name))
        return compare(os.path.join(work, "before"), os.path.join(work, "after"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
