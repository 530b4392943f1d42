"""General-distillation throughput: samples/s, FLOP efficiency and peak RSS of the real training loop.

Runs ``general_distill.py``'s own code path (the Trainer, the distillation view, the intermediate objective) for a
fixed number of steps on data pregenerated from real text (examples/data/corpus_en.txt, State of the Union speeches)
with a BERT uncased 30522-token vocabulary (the MiniLM teacher's, from .cache/models/minilm when fetched, else one
learnt from the corpus). Teacher and student are randomly initialised from configs: speed does not depend on weights.

Targets on the 2-core CPU (teacher 4L/256H/4 heads, student 2L/128H/4 heads, batch 32, seq 128): >= 60 samples/s,
>= 75% of the measured fp32 GEMM rate, peak RSS <= 1.2 GiB.

    .venv/bin/python bench/general_distill.py [--teacher student_configs/small_4l_256d]
        [--student student_configs/small_2l_128d] [--batch 32] [--seq 128] [--steps 20] [--bf16]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from common import StepClock, encoder_forward_flops, gemm_flops_per_second, machine, peak_rss_gib  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", default=os.path.join(ROOT, "student_configs", "small_4l_256d"))
    p.add_argument("--student", default=os.path.join(ROOT, "student_configs", "small_2l_128d"))
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3, help="steps excluded from the timing")
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--no_cuda", action="store_true")
    args = p.parse_args()

    import torch

    from tinybert.cli import run_command
    from tinybert.models.checkpoint import model_class, save_model
    from tinybert.models.student import read_student_config
    from tinybert.models.tokenizer import load_tokenizer

    work = tempfile.mkdtemp(prefix="bench_gd_")
    vocab_src = os.path.join(ROOT, ".cache", "models", "minilm")
    corpus = os.path.join(ROOT, "examples", "data", "corpus_en.txt")
    if not os.path.isfile(os.path.join(vocab_src, "vocab.txt")):
        vocab_src = os.path.join(work, "vocab.txt")
        run_command("build-vocab", ["--input_file", corpus, "--output", vocab_src, "--vocab_size", "30522"])
    tokenizer = load_tokenizer(vocab_src, do_lower_case=True)

    tcfg = read_student_config(args.teacher)
    tcfg.vocab_size = len(tokenizer.get_vocab())
    torch.manual_seed(0)
    teacher = model_class(tcfg, "base")(tcfg)
    save_model(teacher, os.path.join(work, "teacher"), tokenizer=tokenizer)
    scfg_dir = os.path.join(work, "student_cfg")
    os.makedirs(scfg_dir)
    scfg = read_student_config(args.student)
    scfg.vocab_size = tcfg.vocab_size
    scfg.to_json_file(os.path.join(scfg_dir, "config.json"))

    t0 = time.perf_counter()
    pregen = os.path.join(work, "pregen")
    run_command("pregenerate", ["--train_corpus", corpus, "--bert_model", os.path.join(work, "teacher"),
                                "--output_dir", pregen, "--max_seq_len", str(args.seq), "--num_workers", "2",
                                "--epochs_to_generate", "1", "--do_lower_case", "--no_progress"])
    pregen_s = time.perf_counter() - t0

    # the general-distillation recipe (what general_distill.py runs), with a clock on the steps after warm-up
    import dataclasses

    from tinybert.config.distill import GeneralDistillConfig, general_distill_training
    from tinybert.recipes.general_distill import run_general_distill

    cfg = GeneralDistillConfig(
        pregenerated_data=pregen, teacher_model=os.path.join(work, "teacher"), student_model=scfg_dir,
        output_dir=os.path.join(work, "out"), max_seq_length=args.seq,
        training=dataclasses.replace(general_distill_training(), train_batch_size=args.batch, max_steps=args.steps,
                                     save_steps=0, eval_steps=0, logging_steps=args.steps, bf16=args.bf16,
                                     no_cuda=args.no_cuda))
    with StepClock(args.warmup) as clock:
        run_general_distill(cfg)
    n = len(clock.times) - 1
    sps = clock.samples_per_second(args.batch)
    mean_len = clock.mean_length()

    teacher_f = encoder_forward_flops(tcfg, int(mean_len))
    student_f = 3 * encoder_forward_flops(scfg, int(mean_len))  # forward + backward
    proj_f = 3 * 2 * mean_len * scfg.hidden_size * tcfg.hidden_size * (scfg.num_hidden_layers + 1)
    flops_per_sample = teacher_f + student_f + proj_f
    gemm = gemm_flops_per_second()
    achieved = sps * flops_per_sample
    print(f"machine: {machine()}")
    print(f"pregeneration: {pregen_s:.1f} s for the corpus with 2 workers (see bench/pregenerate.py for instances/s)")
    print(f"teacher {tcfg.num_hidden_layers}L/{tcfg.hidden_size}H/{tcfg.num_attention_heads}, student "
          f"{scfg.num_hidden_layers}L/{scfg.hidden_size}H/{scfg.num_attention_heads}, batch {args.batch}, "
          f"seq {args.seq} (mean trimmed batch length {mean_len:.0f}), {n} steps, {'bf16' if args.bf16 else 'fp32'}")
    print(f"samples/s: {sps:.1f}   (target >= 60)")
    print(f"model FLOPs/sample: {flops_per_sample / 1e9:.3f} GFLOP   achieved {achieved / 1e9:.1f} GFLOP/s")
    print(f"fp32 GEMM rate measured: {gemm / 1e9:.1f} GFLOP/s   efficiency: {100 * achieved / gemm:.0f}%   "
          "(target >= 75%)")
    print(f"peak RSS: {peak_rss_gib():.2f} GiB   (target <= 1.2)")


if __name__ == "__main__":
    main()
