"""Benchmark: data augmentation throughput (sentences/s) and peak RSS, N=20 M=15 p=0.4, on this machine's CPU.

Model: a 4-layer, 256-hidden BertForMaskedLM (4 heads, FFN 1024) with the uncased 30522-token vocabulary of
all-MiniLM-L6-v2 (``.cache/models/minilm/vocab.txt``, else a generated vocabulary), **randomly initialised**: speed
does not depend on the weights, only the candidates do. GloVe: the real glove.6B 50d at
``.cache/models/glove.6B.50d.kv`` (``python examples/fetch_models.py --only glove``), first 100000 words as the
original's default; without it, random vectors over the vocabulary's whole words (stated in the output).

Sentences (real, fixed): ``--source sotu`` (default) takes the first ``--sentences`` lines of
``examples/data/corpus_en.txt`` (State of the Union sentences, one per line) with at most ``--max_words`` words
(default 25, SST-2-like sentence lengths); ``--source spam`` the text column of ``examples/data/spam/train.tsv``
(e-mail snippets of up to 60 words; a "sentence" there is a whole row).

Also measured: the original's design, one masked-LM forward per word (batch of one, the whole vocabulary scored at
every position) and a full GloVe scan per word without a cache, on the first ``--reference_sentences`` sentences;
its candidates are compared with the batched ones (they must agree).

    python bench/augment.py [--source sotu|spam] [--sentences 400] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import gemm_flops_per_second, peak_rss_gib  # noqa: E402

from tinybert.data.augment import (  # noqa: E402
    STOP_WORDS,
    AugmentOptions,
    FileJob,
    Resources,
    _finish,
    augment_file,
    build_augmentor,
    is_eligible,
    split_words,
)

MINILM_VOCAB = os.path.join(ROOT, ".cache", "models", "minilm", "vocab.txt")
GLOVE_KV = os.path.join(ROOT, ".cache", "models", "glove.6B.50d.kv")


def load_sentences(source: str, count: int, max_words: int) -> list[str]:
    if source == "spam":
        with open(os.path.join(ROOT, "examples", "data", "spam", "train.tsv"), encoding="utf-8") as f:
            rows = [line.rstrip("\n").split("\t")[0] for line in f][1:]
        return rows[:count]
    out = []
    with open(os.path.join(ROOT, "examples", "data", "corpus_en.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and len(line.split()) <= max_words:
                out.append(line)
                if len(out) == count:
                    break
    return out


def vocab_tokens() -> tuple[list[str], str]:
    if os.path.isfile(MINILM_VOCAB):
        with open(MINILM_VOCAB, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f], "all-MiniLM-L6-v2 vocab.txt (30522, uncased)"
    words = sorted({w.lower() for s in load_sentences("sotu", 5000, 1000) for w in s.split() if w.isalpha()})
    toks = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words[:20000]]
    toks += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"] + list("abcdefghijklmnopqrstuvwxyz.,;:!?'\"()-")
    return toks, f"generated from corpus_en.txt ({len(toks)} tokens)"


def write_model(folder: str, tokens: list[str]) -> None:
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tokens), hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                     intermediate_size=1024, max_position_embeddings=512)
    BertForMaskedLM(cfg).save_pretrained(folder)
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")


def write_glove(path: str, tokens: list[str]) -> None:
    rng = np.random.default_rng(0)
    words = [t for t in tokens if t.isalpha()]
    with open(path, "w", encoding="utf-8") as f:
        for w in words:
            f.write(w + " " + " ".join(f"{x:.4f}" for x in rng.standard_normal(50)) + "\n")


def reference(aug, sentences: list[str]) -> list[list[list[str]]]:
    """The original's design: one forward per word, full-vocabulary logits, a full GloVe scan per word."""
    model, tok, M = aug.mlm.model, aug.tok, aug.opt.M
    glove = aug.glove
    out = []
    for s in sentences:
        spans = split_words(s)
        words = [s[a:b] for a, b in spans]
        pieces_per_word = [tok.tokenize(w) for w in words]
        pieces = [p for ps in pieces_per_word for p in ps]
        cands: list[list[str]] = []
        start = 0
        for w, ps in zip(words, pieces_per_word):
            got: list[str] = []
            if w.isalpha() and w.lower() not in STOP_WORDS and len(ps) == 1:
                masked = list(pieces)
                masked[start] = "[MASK]"
                toks = ["[CLS]", *masked, "[SEP]", *pieces, "[SEP]"][:512]
                types = ([0] * (len(pieces) + 2) + [1] * (len(pieces) + 1))[:512]
                with torch.inference_mode():
                    logits = model(input_ids=torch.tensor([tok.convert_tokens_to_ids(toks)]),
                                   token_type_ids=torch.tensor([types])).logits[0, start + 1]
                top = torch.argsort(logits, descending=True)[:M].tolist()
                got = [t for i, t in zip(top, tok.convert_ids_to_tokens(top))
                       if not t.startswith("##") and aug.mlm.usable[i] is not None and t != ps[0]]
            elif w.isalpha() and w.lower() not in STOP_WORDS and len(ps) > 1 and glove is not None:
                key = glove.key(w)
                if key is not None:
                    q = glove.vectors[glove.index[key]].numpy()
                    dist = glove.vectors.numpy() @ q
                    dist[glove.index[key]] = -np.inf
                    got = [glove.words[j] for j in np.argsort(-dist)[:M]]
            cands.append(_finish(got, w))  # the same capitalisation rule as the batched path
            start += len(ps)
        out.append(cands)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", choices=("sotu", "spam"), default="sotu")
    ap.add_argument("--sentences", type=int, default=400)
    ap.add_argument("--max_words", type=int, default=25)
    ap.add_argument("--reference_sentences", type=int, default=25)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--batch_size", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    base_rss_mb = peak_rss_gib() * 1024  # python + torch + transformers
    gflops_before = gemm_flops_per_second(seconds=1.0) / 1e9
    sentences = load_sentences(args.source, args.sentences, args.max_words)
    tokens, vocab_note = vocab_tokens()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = os.path.join(tmp, "mlm")
        write_model(model_dir, tokens)
        glove_path, glove_note = GLOVE_KV, "glove.6B.50d (real), first 100000 words"
        if not os.path.isfile(GLOVE_KV):
            glove_path, glove_note = os.path.join(tmp, "glove.txt"), "random 50d vectors over the vocabulary's words"
            write_glove(glove_path, tokens)
        opts = AugmentOptions(N=20, M=15, p=0.4, seed=42, batch_size=args.batch_size)
        t0 = time.perf_counter()
        aug = build_augmentor(Resources(model_dir, glove_path, 100000, True), opts)
        load_s = time.perf_counter() - t0
        data = os.path.join(tmp, "train.tsv")
        with open(data, "w", encoding="utf-8") as f:
            f.write("sentence\tlabel\n" + "".join(f"{s}\t0\n" for s in sentences))
        job = FileJob(data, (0,), 1, opts)
        out = os.path.join(tmp, "train_aug.tsv")
        t0 = time.perf_counter()
        rows = augment_file(Resources(model_dir, glove_path), job, out, augmentor=aug)
        fast_s = time.perf_counter() - t0
        rss_mb = peak_rss_gib() * 1024

        words = [[s[a:b] for a, b in split_words(s)] for s in sentences]
        n_words = sum(map(len, words))
        n_eligible = sum(is_eligible(w) for ws in words for w in ws)
        ref_set = sentences[: args.reference_sentences]
        t0 = time.perf_counter()
        ref = reference(aug, ref_set)
        ref_s = time.perf_counter() - t0
        fast = [sc.candidates for sc in aug.candidates(ref_set)]
        agree = sum(a == b for x, y in zip(ref, fast) for a, b in zip(x, y))
        total = sum(len(x) for x in ref)

    gflops_after = gemm_flops_per_second(seconds=1.0) / 1e9
    print(f"augment bench ({torch.get_num_threads()} threads, {os.cpu_count()} CPUs; N=20 M=15 p=0.4); fp32 matmul "
          f"{gflops_before:.0f} GFLOP/s before, {gflops_after:.0f} after (load average {os.getloadavg()[0]:.1f})")
    print(f"  model: 4-layer 256-hidden BertForMaskedLM, random init; vocab: {vocab_note}")
    print(f"  glove: {glove_note}; loaded model + glove in {load_s:.1f}s")
    print(f"  sentences: {len(sentences)} from {args.source} ({n_words / len(sentences):.1f} words, "
          f"{n_eligible / len(sentences):.1f} eligible per sentence); {rows} rows written")
    print(f"  batched:   {len(sentences) / fast_s:7.1f} sentences/s  ({fast_s:.2f}s)  peak RSS {rss_mb:.0f} MB "
          f"({base_rss_mb:.0f} MB after imports)")
    print(f"  reference: {len(ref_set) / ref_s:7.1f} sentences/s  (one forward per word, {len(ref_set)} sentences)")
    print(f"  speed-up:  {(len(sentences) / fast_s) / (len(ref_set) / ref_s):.1f}x; candidates equal for "
          f"{agree}/{total} words")


if __name__ == "__main__":
    main()
