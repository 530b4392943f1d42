"""Sequence-labelling (NER) data: the formats users have, read and written back in their own layout, and the
encoding of sentences into model windows.

Formats (``detect_format`` picks one from the file):

- ``char``: one token per line, ``token TAG`` (space or tab), a blank line between sentences: the Chinese NER sets
  (People's Daily, MSRA; each character a token).
- ``conll``: CoNLL-2003, four columns ``word POS chunk TAG`` (any number >= 3; the tag is the last), ``-DOCSTART-``
  lines between documents.
- ``cluener``: CLUENER2020 JSON lines ``{"text": ..., "label": {TYPE: {entity: [[start, end], ...]}}}`` with an
  inclusive ``end``; each character a token, BIO tags.
- ``jsonl``: JSON lines ``{"tokens": [...], "tags": [...]}``.

A file without tags (a test set: one column, no ``label``/``tags``) reads with ``tags`` None. Tag schemes BIO,
BIOES and BMES are accepted (see :mod:`tinybert.metrics_ner`). An ``I-X`` (or ``M-X``) that no ``B-X`` opened is
read as ``B-X``, as seqeval reads it, and counted (:attr:`NerFile.repaired`). :func:`write_ner_file` writes a file
back with new tags in the layout it was read from (extra columns, ``-DOCSTART-`` and blank lines kept).

Encoding (:func:`encode_ner`): every token is split into word pieces; the first piece carries the token's label,
the others get ``IGNORE_INDEX``; a sentence longer than the window is split into overlapping windows
(:mod:`tinybert.data.windows`) and every token's prediction comes from exactly one of them (``word_index``).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinybert.data.windows import max_context_owner, window_starts
from tinybert.errors import UserError, require_file
from tinybert.metrics_ner import get_entities, split_tag

logger = logging.getLogger(__name__)

FORMATS = ("char", "conll", "cluener", "jsonl")
PREFIXES = ("B", "I", "E", "S", "M")
IGNORE_INDEX = -100
DOCSTART = "-DOCSTART-"
# extensions of split files found in a data folder, most specific first
SPLIT_EXTENSIONS = (".txt", ".conll", ".bio", ".bmes", ".char", ".tsv", ".jsonl", ".json")


@dataclass
class NerSentence:
    """One sentence: its tokens, tags (None when unlabelled), the 1-based line it starts at, and what a
    write-back needs (the column rows, or the JSON record)."""

    tokens: list[str]
    tags: list[str] | None
    line: int
    rows: list[list[str]] | None = None  # column formats: every row's columns
    record: dict[str, Any] | None = None  # JSON formats: the record as read

    def token_line(self, k: int) -> int:
        """The line of token ``k`` (column formats: one line per token)."""
        return self.line + k if self.rows is not None else self.line


@dataclass
class NerFile:
    path: str
    format: str
    sentences: list[NerSentence]
    layout: list[str | int] = field(default_factory=list)  # column formats: raw lines and sentence indices
    separator: str = " "
    repaired: int = 0  # I- tags of a type never opened, read as B-

    @property
    def labelled(self) -> bool:
        return bool(self.sentences) and self.sentences[0].tags is not None

    def where(self, sentence: int, token: int = 0) -> str:
        return f"{self.path}:{self.sentences[sentence].token_line(token)}"


# ----------------------------------------------------------------------------------------------------- reading


def detect_format(path: str) -> str:
    """``cluener``/``jsonl`` for JSON lines (by their keys), ``conll`` for 3+ columns or ``-DOCSTART-``, else
    ``char``."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith("{"):
                try:
                    record = json.loads(stripped)
                except json.JSONDecodeError:
                    raise UserError.at(path, "starts like JSON lines but the first record is not JSON") from None
                if "tokens" in record:
                    return "jsonl"
                if "text" in record:
                    return "cluener"
                raise UserError.at(path, "JSON lines need 'tokens' (and 'tags') or 'text' (and CLUENER 'label')")
            if stripped.split()[0] == DOCSTART or len(stripped.split()) >= 3:
                return "conll"
            return "char"
    raise UserError.at(path, "is empty; expected NER sentences")


def check_tag(tag: str, where: str) -> str:
    prefix, kind = split_tag(tag)
    if tag != "O" and (tag.partition("-")[0] not in PREFIXES or not kind):
        raise UserError(f"{where}: tag {tag!r} is not O or B-/I-/E-/S-/M- followed by a type")
    return tag


def repair_tags(tags: list[str]) -> tuple[list[str], int]:
    """``I-X``/``M-X`` not continuing an open X -> ``B-X`` (seqeval's reading); returns the tags and the count."""
    out, fixed, open_type = [], 0, None
    for tag in tags:
        prefix, kind = split_tag(tag)
        if prefix == "I" and open_type != kind:
            tag, fixed = "B-" + kind, fixed + 1
            prefix = "B"
        out.append(tag)
        open_type = kind if prefix in ("B", "I") else None
    return out, fixed


def _read_columns(path: str, fmt: str) -> NerFile:
    ner = NerFile(path, fmt, [])
    rows: list[list[str]] = []
    start, width = 0, None

    def close() -> None:
        nonlocal rows
        if rows:
            tags = [check_tag(r[-1], f"{path}:{start + k}") for k, r in enumerate(rows)] if width and width > 1 \
                else None
            ner.layout.append(len(ner.sentences))
            ner.sentences.append(NerSentence([r[0] for r in rows], tags, start, rows=rows))
            rows = []

    with open(path, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            line = raw.rstrip("\r\n")
            cols = line.split()
            if not cols or cols[0] == DOCSTART:
                close()
                ner.layout.append(line)
                continue
            if width is None:
                width = len(cols)
                ner.separator = "\t" if "\t" in line else " "
            elif len(cols) != width:
                raise UserError.at(path, f"has {len(cols)} columns where the lines before have {width} "
                                         f"({'token TAG' if width == 2 else 'the same count'} expected): "
                                         f"token/tag count mismatch", line=number)
            if not rows:
                start = number
            rows.append(cols)
    close()
    return ner


def _read_json_lines(path: str, fmt: str) -> NerFile:
    from tinybert.utils.io import iter_jsonl

    ner = NerFile(path, fmt, [])
    for number, record in iter_jsonl(path):
        where = f"{path}:{number}"
        if fmt == "jsonl":
            tokens, tags = record.get("tokens"), record.get("tags")
            if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
                raise UserError(f"{where}: 'tokens' must be a list of strings")
            if tags is not None:
                if not isinstance(tags, list) or len(tags) != len(tokens):
                    n = len(tags) if isinstance(tags, list) else "no list of"
                    raise UserError(f"{where}: {len(tokens)} tokens but {n} tags: token/tag count mismatch")
                tags = [check_tag(str(t), where) for t in tags]
        else:
            text = record.get("text")
            if not isinstance(text, str):
                raise UserError(f"{where}: CLUENER records need a 'text' string")
            tokens = list(text)
            tags = _cluener_tags(text, record["label"], where) if record.get("label") is not None else None
        ner.sentences.append(NerSentence(tokens, tags, number, record=record))
    return ner


def _cluener_tags(text: str, label: Any, where: str) -> list[str]:
    if not isinstance(label, dict):
        raise UserError(f"{where}: 'label' must be {{type: {{entity: [[start, end], ...]}}}}")
    tags = ["O"] * len(text)
    for kind, entities in label.items():
        for entity, spans in (entities or {}).items():
            for span in spans:
                if not (isinstance(span, list) and len(span) == 2 and all(isinstance(x, int) for x in span)):
                    raise UserError(f"{where}: {kind} {entity!r}: spans are [start, end] pairs, got {span!r}")
                begin, end = span
                if not (0 <= begin <= end < len(text)) or text[begin:end + 1] != entity:
                    found = text[begin:end + 1] if 0 <= begin <= end else ""
                    raise UserError(f"{where}: {kind} {entity!r} at [{begin}, {end}] (inclusive end) does not match "
                                    f"the text there ({found!r})")
                if any(t != "O" for t in tags[begin:end + 1]):
                    raise UserError(f"{where}: {kind} {entity!r} at [{begin}, {end}] overlaps another entity")
                tags[begin:end + 1] = ["B-" + kind] + ["I-" + kind] * (end - begin)
    return tags


def read_ner_file(path: str, fmt: str = "auto") -> NerFile:
    """Read an NER file (``fmt`` one of :data:`FORMATS` or ``auto``); I- tags of a type never opened repaired."""
    require_file(path, "NER file")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise UserError(f"unknown NER format {fmt!r}; one of: auto, {', '.join(FORMATS)}", field="ner_format")
    try:
        ner = _read_columns(path, fmt) if fmt in ("char", "conll") else _read_json_lines(path, fmt)
    except UnicodeDecodeError as e:
        raise UserError.at(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not ner.sentences:
        raise UserError.at(path, "holds no sentences")
    first = None
    for k, sentence in enumerate(ner.sentences):
        if sentence.tags is not None:
            sentence.tags, fixed = repair_tags(sentence.tags)
            if fixed and first is None:
                first = ner.where(k)
            ner.repaired += fixed
    if ner.repaired:
        logger.warning("%s: %d I- tags continue no entity of their type (first in the sentence at %s); read as B- "
                       "(seqeval's reading)", path, ner.repaired, first)
    return ner


def find_split(data_dir: str, split: str) -> str | None:
    """``data_dir/<split>.<ext>`` for the first extension of :data:`SPLIT_EXTENSIONS` present, else None."""
    for ext in SPLIT_EXTENSIONS:
        path = os.path.join(data_dir, split + ext)
        if os.path.isfile(path):
            return path
    return None


# ----------------------------------------------------------------------------------------------------- labels


def _tag_order(tag: str) -> tuple[int, str, int]:
    prefix, kind = tag.partition("-")[0], tag.partition("-")[2]
    return (0, "", 0) if tag == "O" else (1, kind, PREFIXES.index(prefix))


def label_list(files: Sequence[NerFile]) -> list[str]:
    """The labels of the files, ``O`` first, then by type and prefix (B, I, E, S, M)."""
    tags = {t for ner in files for s in ner.sentences for t in (s.tags or [])}
    tags.add("O")
    return sorted(tags, key=_tag_order)


def read_label_file(path: str) -> list[str]:
    """A label list: one per line (or comma-separated on one line)."""
    require_file(path, "label file")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    labels = [x.strip() for x in text.replace(",", "\n").splitlines() if x.strip()]
    for k, tag in enumerate(labels):
        check_tag(tag, f"{path}:{k + 1}")
    if len(set(labels)) != len(labels):
        raise UserError.at(path, "lists a label twice")
    return labels


def check_labels(ner: NerFile, label2id: Mapping[str, int], where_from: str = "the training set") -> None:
    """Every gold tag of ``ner`` must be a known label: the first unknown one is named with its file:line."""
    for k, sentence in enumerate(ner.sentences):
        for j, tag in enumerate(sentence.tags or []):
            if tag not in label2id:
                raise UserError(f"{ner.where(k, j)}: label {tag!r} is not among the labels of {where_from} "
                                f"({', '.join(label2id)}); add it to the labels (--labels FILE) or fix the tag")


# ----------------------------------------------------------------------------------------------------- writing


def _entities_to_label(tokens: list[str], tags: list[str]) -> dict[str, dict[str, list[list[int]]]]:
    label: dict[str, dict[str, list[list[int]]]] = {}
    for kind, begin, end in get_entities(tags):
        entity = "".join(tokens[begin:end + 1])
        label.setdefault(kind, {}).setdefault(entity, []).append([begin, end])
    return label


def write_ner_file(path: str, ner: NerFile, tags: Sequence[Sequence[str]]) -> None:
    """Write ``ner`` with ``tags`` (one list per sentence) to ``path`` in the layout it was read from."""
    from tinybert.utils.io import atomic_open

    if len(tags) != len(ner.sentences):
        raise ValueError(f"{len(tags)} tag lists for {len(ner.sentences)} sentences")
    with atomic_open(path, "w") as f:
        if ner.format in ("char", "conll"):
            for item in ner.layout:
                if isinstance(item, str):
                    f.write(item + "\n")
                    continue
                sentence, new = ner.sentences[item], tags[item]
                for row, tag in zip(sentence.rows or [], new, strict=True):
                    cols = row[:-1] if sentence.tags is not None else row
                    f.write(ner.separator.join([*cols, tag]) + "\n")
        else:
            for sentence, new in zip(ner.sentences, tags, strict=True):
                record = dict(sentence.record or {})
                if ner.format == "jsonl":
                    record["tags"] = list(new)
                else:
                    record["label"] = _entities_to_label(sentence.tokens, list(new))
                f.write(json.dumps(record, ensure_ascii=False) + "\n")


# ----------------------------------------------------------------------------------------------------- encoding


def word_pieces(tokenizer: Any, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
    """Piece ids of every token of every sentence; a token with no pieces (whitespace, control characters) is
    ``[UNK]``, so each token has a first piece to carry its label."""
    out: list[list[list[int]]] = []
    unk = tokenizer.unk_token_id
    chunk = 2048
    for lo in range(0, len(sentences), chunk):
        batch = [list(s) for s in sentences[lo:lo + chunk]]
        enc = tokenizer(batch, is_split_into_words=True, add_special_tokens=False)
        for k, words in enumerate(batch):
            pieces: list[list[int]] = [[] for _ in words]
            for piece, word in zip(enc["input_ids"][k], enc.word_ids(k), strict=True):
                if word is not None:
                    pieces[word].append(piece)
            out.append([p or [unk] for p in pieces])
    return out


def encode_ner(sentences: Sequence[NerSentence], tokenizer: Any, label2id: Mapping[str, int], max_seq_length: int,
               stride: int | None = None) -> dict[str, np.ndarray]:
    """Windows of every sentence as arrays of shape (n_windows, max_seq_length): ``input_ids``, ``attention_mask``,
    ``token_type_ids``, ``labels`` (first pieces: the label id; else ``IGNORE_INDEX``), ``word_index`` (the token a
    position answers for, on the first piece and in its owning window only; else -1); and per window
    ``sentence`` and ``lengths``. ``stride`` (default: half a window) is the step between window starts."""
    capacity = max_seq_length - 2
    if capacity < 1:
        raise UserError.of_field("max_seq_length", f"must be at least 3 ([CLS] x [SEP]), got {max_seq_length}")
    stride = stride or max(1, capacity // 2)
    if stride > capacity:
        raise UserError.of_field("doc_stride", f"must be at most max_seq_length - 2 = {capacity} (the window), "
                                               f"got {stride}")
    pieces = word_pieces(tokenizer, [s.tokens for s in sentences])
    rows: list[tuple[int, list[int], list[int], list[int]]] = []
    for k, (sentence, words) in enumerate(zip(sentences, pieces, strict=True)):
        flat: list[int] = []
        first: dict[int, int] = {}  # piece position -> token index
        for j, word in enumerate(words):
            first[len(flat)] = j
            flat.extend(word)
        label_ids = [label2id[t] for t in sentence.tags] if sentence.tags is not None else None
        starts = window_starts(len(flat), capacity, stride)
        owner = max_context_owner(len(flat), capacity, starts)
        for w, start in enumerate(starts):
            span = range(start, min(start + capacity, len(flat)))
            labels = [IGNORE_INDEX] * (len(span) + 2)
            index = [-1] * (len(span) + 2)
            for pos in span:
                token = first.get(pos)
                if token is None:
                    continue
                if label_ids is not None:
                    labels[1 + pos - start] = label_ids[token]
                if owner[pos] == w:
                    index[1 + pos - start] = token
            ids = [tokenizer.cls_token_id, *flat[span.start:span.stop], tokenizer.sep_token_id]
            rows.append((k, ids, labels, index))
    n = len(rows)
    out = {key: np.zeros((n, max_seq_length), dtype=np.int64)
           for key in ("input_ids", "attention_mask", "token_type_ids")}
    out["input_ids"][:] = tokenizer.pad_token_id or 0
    out["labels"] = np.full((n, max_seq_length), IGNORE_INDEX, dtype=np.int64)
    out["word_index"] = np.full((n, max_seq_length), -1, dtype=np.int64)
    out["sentence"] = np.zeros(n, dtype=np.int64)
    for r, (k, ids, labels, index) in enumerate(rows):
        out["input_ids"][r, :len(ids)] = ids
        out["attention_mask"][r, :len(ids)] = 1
        out["labels"][r, :len(ids)] = labels
        out["word_index"][r, :len(ids)] = index
        out["sentence"][r] = k
    out["lengths"] = out["attention_mask"].sum(axis=1).astype(np.int64)
    return out


def assemble(features: Mapping[str, Any], predicted: Sequence[np.ndarray], sentence_lengths: Sequence[int]
             ) -> list[list[int]]:
    """Per-sentence label ids from per-window predicted ids (``predicted[r]`` over window ``r``'s positions):
    each token's id taken from the window that owns it. Raises if a token is missing or given twice."""
    out = [[-1] * n for n in sentence_lengths]
    word_index = np.asarray(features["word_index"])
    sentence = np.asarray(features["sentence"])
    for r, ids in enumerate(predicted):
        row = word_index[r, :len(ids)]
        k = int(sentence[r])
        for pos in np.nonzero(row >= 0)[0]:
            token = int(row[pos])
            if out[k][token] != -1:
                raise AssertionError(f"sentence {k} token {token} predicted by two windows")
            out[k][token] = int(ids[pos])
    for k, ids in enumerate(out):
        if -1 in ids:
            raise AssertionError(f"sentence {k} token {ids.index(-1)} has no prediction")
    return out
