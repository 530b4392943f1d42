"""The Chinese demo's table: entity F1 on People's Daily dev, size and CPU speed of the NER teacher, the distilled
student and a label-only student of the same size, beside a trivial tagger.

    python examples/demo_zh_report.py --data_dir examples/data/peoples_daily_ner --output demo_zh_runs/report.md \
        "teacher=demo_zh_runs/teacher_ner" "TinyBERT student=demo_zh_runs/td_stage2" \
        "label-only=demo_zh_runs/label_only"

Entity F1 is read from each folder's ``eval_results.txt`` (written when its dev score was best). Speed: sentences/s
of a batch of 32 dev windows, median of 10 rounds after a warm-up, in this process, on the CPU. Two baselines without
a model: the trivial tagger gives every character its most frequent training tag; the gazetteer tags the longest
matches of the training set's entity strings (names recur in a month of one newspaper, so it is a strong one).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter, defaultdict


def trivial_tagger_f1(train, dev) -> float:
    from tinybert.metrics_ner import entity_scores

    counts: dict[str, Counter] = defaultdict(Counter)
    for sentence in train.sentences:
        for char, tag in zip(sentence.tokens, sentence.tags, strict=True):
            counts[char][tag] += 1
    guess = {char: c.most_common(1)[0][0] for char, c in counts.items()}
    pred = [[guess.get(char, "O") for char in s.tokens] for s in dev.sentences]
    return entity_scores([s.tags for s in dev.sentences], pred)["f1"]


def gazetteer_f1(train, dev) -> float:
    """Tag the longest matches (2+ characters) of the training set's entity strings with their training type."""
    from tinybert.metrics_ner import entity_scores, get_entities

    names = {}
    for sentence in train.sentences:
        for kind, begin, end in get_entities(sentence.tags):
            names["".join(sentence.tokens[begin:end + 1])] = kind
    longest = max(map(len, names), default=0)
    pred = []
    for sentence in dev.sentences:
        text, tags, i = "".join(sentence.tokens), ["O"] * len(sentence.tokens), 0
        while i < len(text):
            for size in range(min(longest, len(text) - i), 1, -1):
                kind = names.get(text[i:i + size])
                if kind:
                    tags[i:i + size] = ["B-" + kind] + ["I-" + kind] * (size - 1)
                    i += size
                    break
            else:
                i += 1
        pred.append(tags)
    return entity_scores([s.tags for s in dev.sentences], pred)["f1"]


def measure(path: str, dev, batch_size: int = 32, rounds: int = 10) -> dict[str, float]:
    import torch

    from tinybert.data.ner import encode_ner
    from tinybert.data.task_features import TaskDataset, collate, model_inputs
    from tinybert.evaluate import read_eval_results
    from tinybert.models.checkpoint import load_model
    from tinybert.models.tokenizer import load_tokenizer

    model = load_model(path, head="token_classification", require_head=True).eval()
    tokenizer = load_tokenizer(path)
    label2id = {v: k for k, v in model.config.id2label.items()}
    feats = encode_ner(dev.sentences[:batch_size], tokenizer, label2id, 64)
    windows = TaskDataset({k: v for k, v in feats.items() if k != "sentence"})
    batch = model_inputs(collate([windows[i] for i in range(batch_size)]))
    times = []
    with torch.inference_mode():
        model(**batch)
        for _ in range(rounds):
            t0 = time.perf_counter()
            model(**batch)
            times.append(time.perf_counter() - t0)
    size = sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path) if f.endswith(".safetensors"))
    params = sum(p.numel() for p in model.parameters())
    embeddings = sum(p.numel() for n, p in model.named_parameters() if "embeddings" in n)
    f1 = read_eval_results(os.path.join(path, "eval_results.txt")).get("f1", float("nan"))
    return {"params": params, "embeddings": embeddings, "size": size, "f1": f1,
            "speed": batch_size / statistics.median(times)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="LABEL=FOLDER, the teacher first")
    parser.add_argument("--data_dir", required=True)
    parser.add_argument("--output", required=True, help="the Markdown table")
    args = parser.parse_args(argv)
    import torch

    from tinybert.data.ner import read_ner_file

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    train = read_ner_file(os.path.join(args.data_dir, "train.txt"))
    dev = read_ner_file(os.path.join(args.data_dir, "dev.txt"))
    rows = [(label, measure(path, dev)) for label, path in (r.split("=", 1) for r in args.runs)]
    teacher = rows[0][1]
    lines = ["| run | parameters | embeddings | size on disk | dev entity F1 | % of teacher | sentences/s | speed-up |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for label, m in rows:
        share = f"{100 * m['f1'] / teacher['f1']:.1f}%" if teacher["f1"] > 0 else "-"
        lines.append(f"| {label} | {m['params']:,} | {m['embeddings']:,} ({m['embeddings'] / m['params']:.0%}) | "
                     f"{m['size'] / 2**20:.1f} MiB | {m['f1']:.4f} | {share} | "
                     f"{m['speed']:.1f} | {m['speed'] / teacher['speed']:.2f}x |")
    lines.append(f"| trivial tagger (each character's most frequent training tag) | - | - | - | "
                 f"{trivial_tagger_f1(train, dev):.4f} | - | - | - |")
    lines.append(f"| gazetteer (the training set's entity strings, longest match) | - | - | - | "
                 f"{gazetteer_f1(train, dev):.4f} | - | - | - |")
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
