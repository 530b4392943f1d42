"""Pregeneration throughput: instances/s with 1 and 2 worker processes at max_seq_len 128 (target: >= 5,000/s with 2).

Corpus (real text, no synthetic sentences), the first that exists:
  1. ``--corpus`` if given;
  2. ``examples/data/corpus_en.txt`` (State of the Union addresses; see examples/data/SOURCES.md);
  3. Vim's own manual, ``/usr/share/vim/vim*/doc/*.txt`` (paragraphs separated by blank lines);
  4. the licence texts in ``/usr/share/common-licenses/``.
The text is repeated ``--repeat`` times so that the run lasts long enough to time. Vocabulary: ``--vocab`` (a model
folder or vocab.txt), else an 8,000-piece WordPiece vocabulary learnt from the corpus with ``tinybert build-vocab``.
Times cover the whole command work: reading, tokenizing, building and masking instances and writing shards.

    .venv/bin/python bench/pregenerate.py [--repeat 4] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import sys
import tempfile
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_corpus() -> list[str]:
    cands = [os.path.join(ROOT, "examples", "data", "corpus_en.txt")]
    for c in cands:
        if os.path.isfile(c):
            return [c]
    for pattern in ("/usr/share/vim/vim*/doc/*.txt", "/usr/share/common-licenses/*"):
        files = sorted(f for f in glob.glob(pattern) if os.path.isfile(f))
        if files:
            return files
    sys.exit("no real text found; pass --corpus FILE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", nargs="+")
    ap.add_argument("--vocab")
    ap.add_argument("--repeat", type=int, default=4, help="copies of the corpus (documents repeat, masks differ)")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--max_seq_len", type=int, default=128)
    ap.add_argument("--whole_word_mask", action="store_true")
    args = ap.parse_args()

    from tinybert.data.pretraining import InstanceConfig, generate_pretraining_data
    from tinybert.data.vocab import build_vocab
    from tinybert.data.wordpiece import load_wordpiece
    from tinybert.models.tokenizer import save_vocab

    files = args.corpus or find_corpus()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as out:
            text = ""
            for f in files:
                with open(f, encoding="utf-8", errors="replace") as fh:
                    text += fh.read().strip() + "\n\n"
            for _ in range(args.repeat):
                out.write(text)
        vocab = args.vocab
        if vocab is None:
            vocab = os.path.join(tmp, "vocab.txt")
            save_vocab(build_vocab(files, 8000, 2, True), vocab)
        tok = load_wordpiece(vocab, do_lower_case=True)
        size = os.path.getsize(corpus)
        print(f"corpus: {', '.join(files[:3])}{' ...' if len(files) > 3 else ''} x{args.repeat} "
              f"({size / 1e6:.1f} MB), vocab {len(tok.get_vocab())}, max_seq_len {args.max_seq_len}, "
              f"cpus {os.cpu_count()}")
        cfg = InstanceConfig(max_seq_len=args.max_seq_len, whole_word_mask=args.whole_word_mask)
        print(f"load average before: {os.getloadavg()[0]:.2f} (other processes share these cores: wall-clock rates "
              "below fall as the load rises; the CPU-time columns do not)")
        for i, w in enumerate(args.workers):
            outdir = os.path.join(tmp, f"out{i}")
            r0, c0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            m = generate_pretraining_data([corpus], tok, outdir, config=cfg, seed=42, num_workers=w, progress=False)
            secs = time.perf_counter() - start
            r1, c1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
            parent = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime
            children = c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime
            n = m[0]["num_training_examples"]
            # on idle cores the run takes as long as its busiest process: the parent alone, or each of w workers
            ideal = n / max(parent if w == 1 else max(parent, children / w), 1e-9)
            print(f"workers={w}: {n} instances in {secs:.2f}s wall = {n / secs:,.0f} instances/s "
                  f"({size / secs / 1e6:.2f} MB/s); CPU parent {parent:.2f}s + workers {children:.2f}s "
                  f"-> {ideal:,.0f} instances/s on {w} idle core(s)")


if __name__ == "__main__":
    main()
