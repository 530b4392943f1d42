"""Task-distillation throughput: stage 1 and stage 2 samples/s, stage 2 for its first epoch (teacher logits computed
and cached) and for later epochs (cached logits: only the student runs).

Defaults: a random-init 4-layer/256 teacher (student_configs/small_4l_256d) and 2-layer/128 student
(student_configs/small_2l_128d), sequence length 64, real sentences from examples/data/spam/train.tsv. The
vocabulary is the MiniLM one when examples/fetch_models.py has fetched it, else a stand-in of the same size built
from the data. Target: later stage-2 epochs >= 3x the first epoch's samples/s.

    python bench/task_distill.py [--examples 2400] [--seq 64] [--batch 32] [--no_cuda]
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import StepClock  # noqa: E402

SPAM = os.path.join(ROOT, "examples", "data", "spam", "train.tsv")
MINILM_VOCAB = os.path.join(ROOT, ".cache", "models", "minilm", "vocab.txt")


def stand_in_vocab(path: str, size: int) -> None:
    """Special tokens, the data's most frequent words and characters, then [unusedN] up to ``size`` tokens."""
    words: collections.Counter[str] = collections.Counter()
    with open(SPAM, encoding="utf-8") as f:
        for line in f:
            words.update(re.findall(r"\w+|[^\w\s]", line.lower()))
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += sorted({c for w in words for c in w} - set(tokens))
    tokens += [w for w, _ in words.most_common() if len(w) > 1][: size - len(tokens)]
    tokens += [f"[unused{i}]" for i in range(size - len(tokens))]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher_config", default=os.path.join(ROOT, "student_configs", "small_4l_256d"))
    p.add_argument("--student_config", default=os.path.join(ROOT, "student_configs", "small_2l_128d"))
    p.add_argument("--examples", type=int, default=2400, help="training examples (from the spam train set)")
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--no_cuda", action="store_true")
    a = p.parse_args()

    import torch
    from transformers import BertForSequenceClassification

    import tinybert.recipes.task_distill as task
    from tinybert.cli import build_parser
    from tinybert.config import from_namespace
    from tinybert.config.distill import TaskDistillConfig
    from tinybert.models.checkpoint import save_model
    from tinybert.models.student import build_student, read_student_config
    from tinybert.models.tokenizer import load_tokenizer

    torch.manual_seed(0)
    work = tempfile.mkdtemp(prefix="bench_task_distill.")
    data = os.path.join(work, "data")
    os.makedirs(data)
    with open(SPAM, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for name, rows in (("train.tsv", lines[1:a.examples + 1]), ("dev.tsv", lines[1:65])):
        with open(os.path.join(data, name), "w", encoding="utf-8") as f:
            f.write("\n".join([lines[0], *rows]) + "\n")
    n = min(a.examples, len(lines) - 1)

    tconf = read_student_config(a.teacher_config)
    vocab = MINILM_VOCAB if os.path.isfile(MINILM_VOCAB) else os.path.join(work, "vocab.txt")
    if vocab != MINILM_VOCAB:
        stand_in_vocab(vocab, tconf.vocab_size)
    tokenizer = load_tokenizer(vocab, do_lower_case=True)
    tconf.num_labels = 2
    teacher_dir, general_dir = os.path.join(work, "teacher"), os.path.join(work, "general")
    save_model(BertForSequenceClassification(tconf), teacher_dir, tokenizer=tokenizer)
    build_student(a.student_config, tconf).save_pretrained(general_dir, tokenizer=tokenizer)

    timings: dict[str, float] = {}
    real_cache = task.cached_teacher_logits

    def timed_cache(*args, **kw):
        t0 = time.perf_counter()
        out = real_cache(*args, **kw)
        timings["cache"] = timings.get("cache", 0.0) + time.perf_counter() - t0
        return out

    task.cached_teacher_logits = timed_cache

    def distill(out: str, *extra: str):
        argv = ["--teacher_model", teacher_dir, "--task_name", "sst-2", "--data_dir", data, "--output_dir",
                os.path.join(work, out), "--max_seq_length", str(a.seq), "--train_batch_size", str(a.batch),
                "--num_train_epochs", "1", "--eval_step", "0", "--save_steps", "0", "--logging_steps", "10",
                "--skip_teacher_check", "--do_lower_case", *(["--no_cuda"] if a.no_cuda else []), *extra]
        return task.run_task_distill(from_namespace(TaskDistillConfig, build_parser("task-distill").parse_args(argv)))

    print(f"teacher {tconf.num_hidden_layers}L/{tconf.hidden_size}, student "
          f"{os.path.basename(a.student_config)}, {n} examples, seq {a.seq}, batch {a.batch}, "
          f"vocab {'MiniLM' if vocab == MINILM_VOCAB else 'stand-in'}, torch threads {torch.get_num_threads()}")
    print("samples/s are steady-state training steps (after 3 warm-up steps; start-up, the final evaluation and "
          "checkpoint left out); the first stage-2 epoch adds the teacher-logit pass")
    with StepClock() as clock:
        distill("td1", "--student_model", general_dir)
    print(f"stage 1:                        {clock.samples_per_second(a.batch):8.1f} samples/s")

    timings.clear()
    with StepClock() as clock:
        first = distill("td2", "--student_model", os.path.join(work, "td1"), "--pred_distill")
    steps = first.global_step
    first_s = timings["cache"] + steps * clock.seconds_per_step()
    print(f"stage 2, first epoch (caching): {n / first_s:8.1f} samples/s  (teacher logits {timings['cache']:.2f} s + "
          f"student {steps} steps x {1e3 * clock.seconds_per_step():.1f} ms; whole run {first.wall_time:.2f} s)")
    timings.clear()
    with StepClock() as clock:
        later = distill("td2", "--student_model", os.path.join(work, "td1"), "--pred_distill",
                        "--overwrite_output_dir")
    later_s = timings["cache"] + steps * clock.seconds_per_step()
    print(f"stage 2, later epochs (cached): {n / later_s:8.1f} samples/s  (cache read {timings['cache']:.3f} s + "
          f"student {steps} steps x {1e3 * clock.seconds_per_step():.1f} ms; whole run {later.wall_time:.2f} s)")
    with StepClock() as clock:
        distill("td2_online", "--student_model", os.path.join(work, "td1"), "--pred_distill", "--no_logits_cache")
    print(f"stage 2, no cache (reference):  {clock.samples_per_second(a.batch):8.1f} samples/s")
    ratio = first_s / later_s
    print(f"later / first epoch: {ratio:.2f}x (target >= 3x): {'OK' if ratio >= 3 else 'BELOW TARGET'}")
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
