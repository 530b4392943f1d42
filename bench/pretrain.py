"""Benchmark: NEZHA pretraining throughput (tokens/s) and its fraction of the measured fp32 GEMM rate, on this CPU.

Real text: ``examples/data/corpus_zh.txt``; a WordPiece vocabulary learnt from it by ``tinybert build-vocab``; shards
from ``tinybert pretrain-data`` (seq 128, 20 predictions at most, 15% masking); the model a randomly initialised
NEZHA from a preset (default ``mini``: 4 layers, 256 hidden, 4 heads, FFN 1024), target MLM+NSP, LAMB, batch 32.
The steps run through ``tinybert pretrain`` itself (the one training loop: data loading, trimming, forward, backward,
clipping, LAMB, schedule); the first ``--warmup_steps`` are not timed.

FLOPs counted per micro-batch at its trimmed length T: 3 x the encoder forward's matmuls (projections, FFN, QK^T, PV
and NEZHA's two relative-position terms; backward = 2 x forward), plus 3 x the MLM head at the masked positions
(transform h x h and decoder h x V) and the pooler/NSP head. That is ~6 x (non-embedding parameters) x tokens plus
attention. The rate is compared with an n x n fp32 matmul measured in the same run with the same threads.

    python bench/pretrain.py [--steps 20] [--warmup_steps 3] [--config mini] [--threads N]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # before tqdm is imported

import torch  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import encoder_forward_flops, gemm_flops_per_second, machine  # noqa: E402

import tinybert.recipes.pretrain as recipe  # noqa: E402
from tinybert.cli import run_command  # noqa: E402
from tinybert.models.pretraining import build_model_config, new_model, read_model_config  # noqa: E402

CORPUS = os.path.join(ROOT, "examples", "data", "corpus_zh.txt")


def head_flops(config, masked: int, sequences: int) -> float:
    """Forward matmul FLOPs of the MLM head at ``masked`` positions and of the pooler + NSP head."""
    h, v = config.hidden_size, config.vocab_size
    return 2.0 * masked * (h * h + h * v) + 2.0 * sequences * (h * h + 2 * h)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", default="mini", help="preset or JSON config (default %(default)s)")
    p.add_argument("--steps", type=int, default=20, help="timed optimizer steps (default %(default)s)")
    p.add_argument("--warmup_steps", type=int, default=3, help="untimed steps first (default %(default)s)")
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--seq_len", type=int, default=128)
    p.add_argument("--vocab_size", type=int, default=8000, help="build-vocab --vocab_size (default %(default)s)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast (the GEMM reference stays fp32)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    logging.disable(logging.INFO)

    with tempfile.TemporaryDirectory(prefix="bench_pretrain_") as tmp:
        t0 = time.perf_counter()
        assert run_command("build-vocab", ["--input_file", CORPUS, "--output_dir", os.path.join(tmp, "vocab"),
                                           "--vocab_size", str(args.vocab_size), "--min_count", "2"]) == 0
        vocab = os.path.join(tmp, "vocab", "vocab.txt")
        assert run_command("pretrain-data", ["--input_file", CORPUS, "--output_dir", os.path.join(tmp, "data"),
                                             "--vocab_file", vocab, "--max_seq_length", str(args.seq_len),
                                             "--dupe_factor", "1", "--num_workers", "1", "--no_progress"]) == 0
        prep = time.perf_counter() - t0

        calls: list[tuple[float, int, int, int]] = []  # (time, real tokens, padded positions, masked tokens)
        step = recipe.pretraining_step

        def timed(model, batch):
            calls.append((time.perf_counter(), int(batch["attention_mask"].sum()), batch["input_ids"].numel(),
                          int((batch["lm_label_ids"] != -100).sum())))
            return step(model, batch)

        recipe.pretraining_step = timed
        total = args.warmup_steps + args.steps + 1  # the call of step N+1 ends the timing of step N
        flags = ["--dataset_path", os.path.join(tmp, "data"), "--vocab_path", vocab, "--output_model_path",
                 os.path.join(tmp, "out"), "--config_path", args.config, "--model_type", "nezha",
                 "--max_seq_length", str(args.seq_len), "--batch_size", str(args.batch_size), "--total_steps",
                 str(total), "--save_checkpoint_steps", "0", "--report_steps", "1000", "--warmup", "0.1"]
        t1 = time.perf_counter()
        assert run_command("pretrain", flags + (["--bf16"] if args.bf16 else [])) == 0
        run_wall = time.perf_counter() - t1
        recipe.pretraining_step = step

        data, where = read_model_config(args.config, "nezha")
        n_vocab = sum(1 for _ in open(vocab, encoding="utf-8"))
        config = build_model_config(data, "nezha", n_vocab, where)
        timed_calls = calls[args.warmup_steps:args.warmup_steps + args.steps + 1]
        seconds = timed_calls[-1][0] - timed_calls[0][0]
        steps = timed_calls[:-1]
        real = sum(c[1] for c in steps)
        padded = sum(c[2] for c in steps)
        masked = sum(c[3] for c in steps)
        flops = 0.0
        for _, _, positions, n_masked in steps:
            length = positions // args.batch_size
            flops += 3 * (args.batch_size * encoder_forward_flops(config, length)
                          + head_flops(config, n_masked, args.batch_size))
        model = new_model(config, "mlm_nsp", 0)
        params = sum(p.numel() for p in model.parameters())
        non_embedding = params - sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)

    gemm = gemm_flops_per_second(1024, seconds=2.0)
    achieved = flops / seconds
    print(f"machine: {machine()}")
    print(f"model: NEZHA {config.num_hidden_layers}L/{config.hidden_size}H/{config.num_attention_heads} heads/FFN "
          f"{config.intermediate_size}, vocab {config.vocab_size} (build-vocab on corpus_zh.txt), "
          f"{params / 1e6:.2f}M parameters ({non_embedding / 1e6:.2f}M non-embedding), MLM+NSP, LAMB"
          f"{', bf16 autocast' if args.bf16 else ', fp32'}")
    print(f"data: seq {args.seq_len}, batch {args.batch_size}, {args.steps} timed steps after {args.warmup_steps} "
          f"warmup; mean trimmed length {padded / len(steps) / args.batch_size:.1f}, "
          f"{real / padded:.1%} of positions real, {masked / len(steps) / args.batch_size:.1f} masked per sequence "
          f"(preparation {prep:.1f}s, whole pretrain command {run_wall:.1f}s)")
    print(f"step time: {seconds / args.steps * 1e3:.0f} ms; {args.steps * args.batch_size / seconds:.1f} "
          f"sequences/s; {real / seconds:,.0f} tokens/s (real), {padded / seconds:,.0f} positions/s (incl. padding)")
    print(f"model FLOPs: {flops / args.steps / 1e9:.1f} GFLOP/step -> {achieved / 1e9:.1f} GFLOP/s; measured fp32 "
          f"GEMM (1024^3): {gemm / 1e9:.1f} GFLOP/s; efficiency {achieved / gemm:.1%}")


if __name__ == "__main__":
    main()
