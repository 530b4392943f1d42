"""Batch-1 latency of PyTorch fp32 vs ONNX fp32 / int8 (and torch.ao int8), and the goal of issue 17:
ONNX int8 at batch 1 at least 2x faster (p50) than PyTorch fp32, with dev accuracy within 1 point.

    python bench/latency.py                      # the demo's student config and TinyBERT 4L/312 (random weights)
    python bench/latency.py --student demo_runs/td_stage2 --task_name sst-2 --data_dir demo_runs/data/spam_small

Configs get random weights (latency does not depend on the values); a trained --student also gets the dev metric
of every variant. Inputs: the task's first dev examples (else built-in English sentences), each at its own length.
Figures on a shared machine are noisy: the models are interleaved call by call so a drift hits them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from tinybert.reporting.latency import latency_of_model, length_summary  # noqa: E402
from tinybert.reporting.measure import SAMPLE_SENTENCES, encode_batch, machine  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = ("student_configs/small_2l_128d", "student_configs/tinybert_4l_312d")
VOCAB_DIR = os.path.join(ROOT, ".cache", "models", "minilm")  # 30522 uncased WordPiece, as both configs


def random_classifier(config_dir: str):
    from transformers import AutoConfig, AutoModelForSequenceClassification

    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(config_dir, num_labels=2)
    return AutoModelForSequenceClassification.from_config(config).eval()


def dev_scorer(task_name: str, data_dir: str, tokenizer, max_seq_length: int):
    from tinybert.config.task import TaskConfig
    from tinybert.evaluate import DevEvaluator, best_metric_key, dev_sets

    spec = TaskConfig(task_name, data_dir, max_seq_length).spec()
    evaluator = DevEvaluator(spec, dev_sets(spec, data_dir, tokenizer, max_seq_length), 32)
    key = best_metric_key(spec)
    return lambda model: evaluator.evaluate(model)[key], spec


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", nargs="*", default=list(CONFIGS), help="student config folders (random weights)")
    p.add_argument("--student", nargs="*", default=[], help="trained classifier folders (dev metric measured)")
    p.add_argument("--task_name", default=None)
    p.add_argument("--data_dir", default=None)
    p.add_argument("--vocab", default=VOCAB_DIR, help="folder with the vocab.txt the configs' inputs use")
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--max_seq_length", type=int, default=128)
    p.add_argument("--threads", type=int, nargs="*", default=[1, 0],
                   help="thread counts to measure at, torch and ONNX Runtime alike; 0: all cores (default: 1 and 0)")
    p.add_argument("--torch_int8", action="store_true", help="also time torch.ao dynamic int8")
    p.add_argument("--json", default=None, help="write the figures here")
    args = p.parse_args()

    from tinybert.models.classifier import load_classifier
    from tinybert.models.tokenizer import load_tokenizer

    subjects = [(os.path.basename(c.rstrip("/")) + " (random weights)", c, None) for c in args.configs]
    subjects += [(os.path.basename(s.rstrip("/")), None, s) for s in args.student]
    info = machine()
    print(f"# batch-1 latency, {info['cpu']}, {info['cores']} cores, {info['torch_threads']} torch threads, "
          f"torch {info['torch']}")
    results = {"machine": info, "models": {}}
    for label, config_dir, trained in subjects:
        if not trained and not os.path.isfile(os.path.join(args.vocab, "vocab.txt")):
            print(f"\n## {label}: skipped, no {args.vocab}/vocab.txt (make demo fetches MiniLM's; or give --vocab)")
            continue
        tokenizer = load_tokenizer(trained or args.vocab)
        if args.data_dir:
            from tinybert.data.tasks import get_task, read_examples

            spec = get_task(args.task_name)
            items = read_examples(spec, args.data_dir, "dev")[:64]
        else:
            spec, items = None, list(SAMPLE_SENTENCES)
        batch = encode_batch(items, spec, tokenizer, args.max_seq_length)
        model = load_classifier(trained) if trained else random_classifier(os.path.join(ROOT, config_dir))
        dev = None
        if trained and args.task_name and args.data_dir:
            dev, _ = dev_scorer(args.task_name, args.data_dir, tokenizer, args.max_seq_length)
        for threads in args.threads:
            threads = threads or len(os.sched_getaffinity(0))
            torch.set_num_threads(threads)
            with tempfile.TemporaryDirectory() as tmp:
                rows = latency_of_model(model, batch, tmp, args.calls, args.warmup, threads=threads,
                                        torch_int8=args.torch_int8, dev=dev)
            report(label, threads, rows, batch, args, dev is not None, results)
        dev = None  # the dev metrics do not depend on the thread count: measured once
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0


def report(label: str, threads: int, rows: dict, batch, args, with_dev: bool, results: dict) -> None:
    """Print one model's latency table at one thread count and the goal's verdict; keep the figures."""
    lengths = length_summary(batch)
    print(f"\n## {label}, {threads} thread(s): {lengths['inputs']} inputs of {lengths['length_min']}-"
          f"{lengths['length_max']} tokens (median {lengths['length_median']:g}), {args.calls} timed calls each")
    print("| backend | size on disk | p50 ms | p95 ms | p50 speed-up |" + (" dev |" if with_dev else ""))
    print("|---|---:|---:|---:|---:|" + ("---:|" if with_dev else ""))
    for name, r in rows.items():
        print(f"| {name} | {r['bytes'] / 2**20:.1f} MiB | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
              f"{r['speedup_p50']:.2f}x |" + (f" {r['dev']:.4f} |" if with_dev else ""))
    speedup = rows["onnx int8"]["speedup_p50"]
    verdict = f"int8 p50 speed-up {speedup:.2f}x ({'meets' if speedup >= 2.0 else 'misses'} 2x)"
    if with_dev:
        delta = rows["onnx int8"]["dev"] - rows["pytorch fp32"]["dev"]
        verdict += f"; dev change {100 * delta:+.2f} points ({'within' if abs(delta) <= 0.01 else 'over'} 1)"
    print(f"goal: {verdict}")
    results["models"][f"{label}, {threads} threads"] = {"lengths": lengths, "rows": rows}


if __name__ == "__main__":
    from tinybert.errors import UserError

    try:
        raise SystemExit(main())
    except UserError as e:  # e.g. the export extra is not installed
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
