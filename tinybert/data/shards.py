"""Pregenerated pretraining data on disk: compact binary shards and the original TinyBERT ``epoch_N.json``.

Layout of an output directory (one set of files per epoch ``N``)::

    epoch_N_metrics.json          {"num_training_examples", "max_seq_len", ...}  written last: marks the epoch finished
    epoch_N_shard_KKKKK.bin       binary format (default), one file per <= shard_size instances
    epoch_N.json                  --output_format json: the original TinyBERT JSON lines

A binary shard is eight ``.npy`` records written back to back (``numpy.lib.format``; no pickle, no zip timestamps,
so the bytes depend only on the data), in this order:

    tokens            token ids of all instances, concatenated (uint16 when the vocabulary fits, else int32);
                      [MASK]/random replacements already applied unless the data uses dynamic masking
    offsets           int64, n+1: instance i is tokens[offsets[i]:offsets[i+1]]
    segment_ids       uint8, parallel to tokens
    is_random_next    uint8, n
    mask_offsets      int64, n+1: instance i's predictions are masked_*[mask_offsets[i]:mask_offsets[i+1]]
    masked_positions  uint16, sorted within an instance
    masked_labels     the original token ids at those positions (token dtype)
    word_start        uint8 parallel to tokens (1 = a token starts a word), only with dynamic masking + whole-word
                      masking; empty otherwise

The metrics file also records ``format``, ``shards``, ``vocab_size``, ``dynamic_masking``, ``seed`` and the masking
parameters; readers of the original only need the first two keys.

:class:`PregeneratedDataset` reads both formats and gives identical items. ``lm_label_ids`` uses **-100** for positions
that are not predicted (the ignore index of ``torch.nn.CrossEntropyLoss`` and of transformers' heads; the original
TinyBERT used -1). ``is_next`` holds ``int(is_random_next)``, i.e. transformers' ``next_sentence_label`` (0: segment B
continues A, 1: B is random), the same value the original stored under that name.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinybert.data.masking import mask_batch, replacement_ids, special_ids
from tinybert.errors import UserError, require_dir
from tinybert.utils.io import atomic_open, atomic_write_json

IGNORE_INDEX = -100
ARRAY_NAMES = ("tokens", "offsets", "segment_ids", "is_random_next", "mask_offsets", "masked_positions",
               "masked_labels", "word_start")
_METRICS_RE = re.compile(r"^epoch_(\d+)_metrics\.json$")
_DATA_RE = re.compile(r"^(epoch_\d+_metrics\.json|epoch_\d+_shard_\d+\.bin|epoch_\d+\.json)$")


def metrics_name(epoch: int) -> str:
    return f"epoch_{epoch}_metrics.json"


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits, else int32."""
    return np.dtype(np.uint16) if vocab_size <= 65536 else np.dtype(np.int32)


@dataclass
class PackedInstances:
    """A batch of instances as flat arrays (what a worker returns and a writer appends)."""

    tokens: np.ndarray  # int32, concatenated
    lengths: np.ndarray  # int32, n
    segment_ids: np.ndarray  # uint8, concatenated
    is_random_next: np.ndarray  # uint8, n
    mask_counts: np.ndarray  # int32, n
    masked_positions: np.ndarray  # uint16, concatenated
    masked_labels: np.ndarray  # int32, concatenated
    word_start: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))  # uint8 or empty

    def __len__(self) -> int:
        return len(self.lengths)

    @staticmethod
    def concat(parts: Sequence[PackedInstances]) -> PackedInstances:
        return PackedInstances(*[np.concatenate([getattr(p, f) for p in parts]) for f in (
            "tokens", "lengths", "segment_ids", "is_random_next", "mask_counts", "masked_positions", "masked_labels",
            "word_start")])


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=out[1:])
    return out


# ----------------------------------------------------------------------------------------------------------- writing
class EpochWriter:
    """Appends instances of one epoch to shards (or to ``epoch_N.json``) incrementally; ``close`` writes the metrics.

    Memory holds at most ``shard_size`` instances; every file is written atomically.
    """

    def __init__(self, output_dir: str, epoch: int, *, vocab: Sequence[str], max_seq_len: int,
                 output_format: str = "binary", shard_size: int = 100_000, meta: dict[str, Any] | None = None) -> None:
        if output_format not in ("binary", "json"):
            raise ValueError(f"unknown output_format {output_format!r}")
        self.output_dir, self.epoch, self.vocab = output_dir, epoch, vocab
        self.max_seq_len, self.output_format, self.shard_size = max_seq_len, output_format, shard_size
        self.meta = dict(meta or {})
        self.dtype = token_dtype(len(vocab))
        self.pending: list[PackedInstances] = []
        self.pending_n = 0
        self.count = 0
        self.shards: list[str] = []
        self._json_stack: contextlib.ExitStack | None = None
        self._json_file = None

    def add(self, packed: PackedInstances) -> None:
        if not len(packed):
            return
        self.count += len(packed)
        if self.output_format == "json":
            self._write_json(packed)
            return
        self.pending.append(packed)
        self.pending_n += len(packed)
        while self.pending_n >= self.shard_size:
            self._flush(self.shard_size)

    def _flush(self, n: int) -> None:
        allp = PackedInstances.concat(self.pending)
        if n < len(allp):
            head, tail = _split(allp, n)
        else:
            head, tail = allp, None
        self.pending = [tail] if tail is not None else []
        self.pending_n = len(tail) if tail is not None else 0
        name = f"epoch_{self.epoch}_shard_{len(self.shards):05d}.bin"
        write_shard(os.path.join(self.output_dir, name), head, self.dtype)
        self.shards.append(name)

    def _write_json(self, p: PackedInstances) -> None:
        if self._json_file is None:
            self._json_stack = contextlib.ExitStack()
            self._json_file = self._json_stack.enter_context(
                atomic_open(os.path.join(self.output_dir, f"epoch_{self.epoch}.json"), "w"))
        vocab = self.vocab
        toks = p.tokens.tolist()
        segs = p.segment_ids.tolist()
        pos = p.masked_positions.tolist()
        labs = p.masked_labels.tolist()
        off, moff = _offsets(p.lengths), _offsets(p.mask_counts)
        lines = []
        for i in range(len(p)):
            a, b, c, d = int(off[i]), int(off[i + 1]), int(moff[i]), int(moff[i + 1])
            lines.append(json.dumps({
                "tokens": [vocab[t] for t in toks[a:b]],
                "segment_ids": segs[a:b],
                "is_random_next": bool(p.is_random_next[i]),
                "masked_lm_positions": pos[c:d],
                "masked_lm_labels": [vocab[t] for t in labs[c:d]],
            }, ensure_ascii=False))
        self._json_file.write("\n".join(lines) + "\n")

    def close(self) -> dict[str, Any]:
        """Write what is left and the epoch's metrics file; return the metrics."""
        if self.output_format == "json":
            if self._json_file is None:  # no instance: still write an empty file
                self._json_stack = contextlib.ExitStack()
                self._json_file = self._json_stack.enter_context(
                    atomic_open(os.path.join(self.output_dir, f"epoch_{self.epoch}.json"), "w"))
            self._json_stack.close()
            self._json_file = None
        elif self.pending_n or not self.shards:
            if not self.pending:
                self.pending = [_empty_packed()]
            self._flush(self.pending_n)
        metrics = {"num_training_examples": self.count, "max_seq_len": self.max_seq_len,
                   "format": self.output_format, "vocab_size": len(self.vocab), "token_dtype": self.dtype.name}
        if self.output_format == "binary":
            metrics["shards"] = self.shards
        metrics.update(self.meta)
        atomic_write_json(os.path.join(self.output_dir, metrics_name(self.epoch)), metrics)
        return metrics

    def abort(self) -> None:
        """Drop an unfinished JSON file (binary shards without metrics are simply not a finished epoch)."""
        if self._json_stack is not None:
            with contextlib.suppress(Exception):
                self._json_stack.__exit__(RuntimeError, RuntimeError("aborted"), None)
            self._json_stack = self._json_file = None


def _empty_packed() -> PackedInstances:
    z32, z8 = np.zeros(0, np.int32), np.zeros(0, np.uint8)
    return PackedInstances(z32, z32, z8, z8, z32, np.zeros(0, np.uint16), z32, z8)


def _split(p: PackedInstances, n: int) -> tuple[PackedInstances, PackedInstances]:
    t = int(p.lengths[:n].sum())
    m = int(p.mask_counts[:n].sum())
    ws = len(p.word_start) > 0

    def cut(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return x[:k], x[k:]

    parts = [cut(p.tokens, t), cut(p.lengths, n), cut(p.segment_ids, t), cut(p.is_random_next, n),
             cut(p.mask_counts, n), cut(p.masked_positions, m), cut(p.masked_labels, m),
             cut(p.word_start, t) if ws else (p.word_start, p.word_start)]
    return PackedInstances(*[a for a, _ in parts]), PackedInstances(*[b for _, b in parts])


def write_shard(path: str, p: PackedInstances, dtype: np.dtype) -> None:
    """Write one binary shard atomically (see the module docstring for the record order)."""
    arrays = [p.tokens.astype(dtype), _offsets(p.lengths), p.segment_ids.astype(np.uint8),
              p.is_random_next.astype(np.uint8), _offsets(p.mask_counts), p.masked_positions.astype(np.uint16),
              p.masked_labels.astype(dtype), p.word_start.astype(np.uint8)]
    with atomic_open(path, "wb") as f:
        for a in arrays:
            np.lib.format.write_array(f, np.ascontiguousarray(a), version=(1, 0), allow_pickle=False)


def read_shard(path: str, mmap: bool = False) -> dict[str, np.ndarray]:
    """Read a binary shard into a dict of arrays (memory-mapped with ``mmap=True``)."""
    out: dict[str, np.ndarray] = {}
    try:
        with open(path, "rb") as f:
            for name in ARRAY_NAMES:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                start = f.tell()
                count = int(np.prod(shape))
                if mmap and count:
                    out[name] = np.memmap(path, dtype=dtype, mode="r", offset=start, shape=shape)
                    f.seek(start + count * dtype.itemsize)
                else:
                    out[name] = np.fromfile(f, dtype=dtype, count=count).reshape(shape)
                    if len(out[name]) != count:
                        raise ValueError("truncated")
    except (ValueError, OSError) as e:
        raise UserError.at(path, f"not a readable pregenerated shard ({e}); regenerate the data") from None
    return out


def remove_pregenerated(output_dir: str) -> None:
    """Delete the files a pregeneration writes (metrics first, so a half-removed dir is never 'finished')."""
    if not os.path.isdir(output_dir):
        return
    names = sorted(n for n in os.listdir(output_dir) if _DATA_RE.match(n))
    for n in sorted(names, key=lambda n: not n.endswith("_metrics.json")):
        os.remove(os.path.join(output_dir, n))


def finished_epochs(output_dir: str) -> list[int]:
    if not os.path.isdir(output_dir):
        return []
    return sorted(int(m.group(1)) for n in os.listdir(output_dir) if (m := _METRICS_RE.match(n)))


# ----------------------------------------------------------------------------------------------------------- reading
def check_pregenerated(data_dir: str | os.PathLike, vocab_size: int | None = None,
                       max_seq_len: int | None = None) -> list[dict[str, Any]]:
    """Validate a pregenerated-data directory against a model; return each epoch's metrics (epoch 0 first).

    Raises a one-line :class:`UserError` when the directory holds no finished epoch, when a file is missing, when the
    data was generated with a vocabulary of another size than ``vocab_size``, or with sequences longer than
    ``max_seq_len``.
    """
    data_dir = require_dir(data_dir, "pregenerated data directory")
    epochs = finished_epochs(data_dir)
    if not epochs:
        raise UserError.at(data_dir, "holds no pregenerated data (no epoch_0_metrics.json); "
                                     "create it with `tinybert pregenerate` or `tinybert pretrain-data`")
    if epochs != list(range(len(epochs))):
        raise UserError.at(data_dir, f"pregenerated epochs {epochs} are not numbered 0..{len(epochs) - 1}; "
                                     "regenerate the data into an empty directory")
    out = []
    for ep in epochs:
        mpath = os.path.join(data_dir, metrics_name(ep))
        try:
            with open(mpath, encoding="utf-8") as f:
                m = json.load(f)
            n, seq = int(m["num_training_examples"]), int(m["max_seq_len"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UserError.at(mpath, f"unreadable metrics ({type(e).__name__}: {e}); expected JSON with "
                                      "num_training_examples and max_seq_len") from None
        if max_seq_len is not None and seq > max_seq_len:
            raise UserError.at(mpath, f"data was generated with max_seq_len {seq}, longer than the model's "
                                      f"{max_seq_len}; regenerate with --max_seq_len {max_seq_len} "
                                      "or raise --max_seq_length")
        if vocab_size is not None and m.get("vocab_size") is not None and int(m["vocab_size"]) != vocab_size:
            raise UserError.at(mpath, f"data was generated with a {m['vocab_size']}-token vocabulary but the model "
                                      f"has {vocab_size}; regenerate it with the model's vocab.txt (--bert_model)")
        fmt = m.get("format") or ("binary" if "shards" in m else "json")
        files = m.get("shards", []) if fmt == "binary" else [f"epoch_{ep}.json"]
        for name in files:
            if not os.path.isfile(os.path.join(data_dir, name)):
                raise UserError.at(os.path.join(data_dir, name), "missing pregenerated data file; regenerate the data")
        m = dict(m, format=fmt, num_training_examples=n, max_seq_len=seq, epoch=ep)
        out.append(m)
    return out


def _vocab_dict(vocab: Any) -> dict[str, int]:
    if isinstance(vocab, dict):
        return dict(vocab)
    if isinstance(vocab, (str, os.PathLike)):
        from tinybert.models.tokenizer import read_vocab, vocab_path

        return {t: i for i, t in enumerate(read_vocab(vocab_path(vocab)))}
    if hasattr(vocab, "get_vocab"):
        return dict(vocab.get_vocab())
    return {t: i for i, t in enumerate(vocab)}


class PregeneratedDataset:
    """A map-style dataset over one epoch of pregenerated data (binary shards or the original JSON lines).

    ``epoch`` is the training epoch: the data of ``epoch_{epoch % num_epochs}`` is read (as the original
    general_distill does when it runs more epochs than were pregenerated). ``vocab`` is a tokenizer, a token list, a
    ``{token: id}`` dict, or a ``vocab.txt`` / model folder path. Items are dicts of ``torch.long`` tensors:
    ``input_ids``, ``attention_mask`` (the original's input_mask), ``token_type_ids`` (all ``max_seq_len`` long),
    ``lm_label_ids`` (the original token id at predicted positions, -100 elsewhere) and ``is_next`` (a scalar,
    ``int(is_random_next)``). Data stored with dynamic masking is masked afresh for every ``(seed, epoch, index)``
    (``seed`` defaults to the one recorded at generation). ``reduce_memory`` memory-maps binary shards.
    """

    def __init__(self, data_dir: str | os.PathLike, epoch: int, vocab: Any, max_seq_len: int, *,
                 reduce_memory: bool = False, seed: int | None = None) -> None:
        self.vocab = _vocab_dict(vocab)
        self.data_dir = os.fspath(data_dir)
        metrics = check_pregenerated(self.data_dir, len(self.vocab), max_seq_len)
        self.epoch = int(epoch)
        self.data_epoch = self.epoch % len(metrics)
        self.metrics = metrics[self.data_epoch]
        self.max_seq_len = int(max_seq_len)
        sp = special_ids(self.vocab)
        self.pad_id, self.mask_id = sp["[PAD]"], sp["[MASK]"]
        self.dynamic = bool(self.metrics.get("dynamic_masking", False))
        self.seed = int(self.metrics.get("seed", 0) if seed is None else seed)
        if self.metrics["format"] == "binary":
            self.shards = [read_shard(os.path.join(self.data_dir, n), mmap=reduce_memory)
                           for n in self.metrics["shards"]]
        else:
            self.shards = [self._read_json(os.path.join(self.data_dir, f"epoch_{self.data_epoch}.json"))]
        counts = [len(s["offsets"]) - 1 for s in self.shards]
        self.starts = _offsets(np.array(counts, np.int64))
        if int(self.starts[-1]) != self.metrics["num_training_examples"]:
            raise UserError.at(os.path.join(self.data_dir, metrics_name(self.data_epoch)),
                               f"says {self.metrics['num_training_examples']} examples but the data holds "
                               f"{int(self.starts[-1])}; regenerate the data")
        if self.dynamic:
            self._random_ids = replacement_ids(self.vocab)
            self._masking = dict(masked_lm_prob=float(self.metrics["masked_lm_prob"]),
                                 max_predictions=int(self.metrics["max_predictions_per_seq"]))
            self._whole_word = bool(self.metrics.get("whole_word_mask", False))

    def _read_json(self, path: str) -> dict[str, np.ndarray]:
        vocab = self.vocab
        toks: list[int] = []
        segs: list[int] = []
        lens: list[int] = []
        rnd: list[int] = []
        mpos: list[int] = []
        mlab: list[int] = []
        mcnt: list[int] = []
        try:
            f = open(path, encoding="utf-8")
        except OSError as e:
            raise UserError.at(path, f"cannot read ({e.strerror})") from None
        with f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                    t, s = d["tokens"], d["segment_ids"]
                    p, lab = d["masked_lm_positions"], d["masked_lm_labels"]
                    ids = [vocab[x] for x in t]
                    lab_ids = [vocab[x] for x in lab]
                except KeyError as e:
                    raise UserError.at(path, f"unknown token or missing field {e}; expected the original TinyBERT "
                                             "fields with tokens of the model's vocabulary", line=lineno) from None
                except (ValueError, TypeError) as e:
                    raise UserError.at(path, f"not a JSON object ({e})", line=lineno) from None
                if len(t) != len(s) or len(t) > self.max_seq_len or len(p) != len(lab) or \
                        any(not 0 <= q < len(t) for q in p):
                    raise UserError.at(path, f"inconsistent instance (length {len(t)}, max_seq_len "
                                             f"{self.max_seq_len}, positions/labels mismatch)", line=lineno)
                toks += ids
                segs += s
                lens.append(len(ids))
                rnd.append(int(bool(d.get("is_random_next", False))))
                mpos += p
                mlab += lab_ids
                mcnt.append(len(p))
        return {"tokens": np.array(toks, np.int32), "offsets": _offsets(np.array(lens, np.int64)),
                "segment_ids": np.array(segs, np.uint8), "is_random_next": np.array(rnd, np.uint8),
                "mask_offsets": _offsets(np.array(mcnt, np.int64)),
                "masked_positions": np.array(mpos, np.int64), "masked_labels": np.array(mlab, np.int32),
                "word_start": np.zeros(0, np.uint8)}

    def __len__(self) -> int:
        return int(self.starts[-1])

    def arrays(self, index: int) -> dict[str, np.ndarray]:
        """Item ``index`` as int64 numpy arrays (what ``__getitem__`` turns into tensors)."""
        n_items = len(self)
        if index < 0:
            index += n_items
        if not 0 <= index < n_items:
            raise IndexError(index)
        s = int(np.searchsorted(self.starts, index, side="right")) - 1
        sh, j = self.shards[s], index - int(self.starts[s])
        a, b = int(sh["offsets"][j]), int(sh["offsets"][j + 1])
        n, L = b - a, self.max_seq_len
        ids = np.full(L, self.pad_id, np.int64)
        ids[:n] = sh["tokens"][a:b]
        seg = np.zeros(L, np.int64)
        seg[:n] = sh["segment_ids"][a:b]
        att = np.zeros(L, np.int64)
        att[:n] = 1
        labels = np.full(L, IGNORE_INDEX, np.int64)
        if self.dynamic:
            specials = np.zeros(n, bool)
            specials[0] = True  # [CLS]; the [SEP]s end each segment
            specials[np.flatnonzero(np.diff(seg[:n]) != 0)] = True
            specials[n - 1] = True
            ws = np.asarray(sh["word_start"][a:b], bool) if self._whole_word and len(sh["word_start"]) else None
            rng = np.random.default_rng([self.seed, self.epoch, index, 7])
            masked, _, pos, lab = mask_batch(ids[:n], np.array([n]), specials, ws, mask_id=self.mask_id,
                                             random_ids=self._random_ids, rng=rng, **self._masking)
            ids[:n] = masked
            labels[pos] = lab
        else:
            c, d = int(sh["mask_offsets"][j]), int(sh["mask_offsets"][j + 1])
            labels[np.asarray(sh["masked_positions"][c:d], np.int64)] = sh["masked_labels"][c:d]
        return {"input_ids": ids, "attention_mask": att, "token_type_ids": seg, "lm_label_ids": labels,
                "is_next": np.array(int(sh["is_random_next"][j]), np.int64)}

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        return {k: torch.from_numpy(v) for k, v in self.arrays(int(index)).items()}


def iter_epochs(data_dir: str) -> Iterable[int]:
    """The finished epochs of a pregenerated-data directory."""
    return finished_epochs(data_dir)


def prepare_output_dir(output_dir: str, overwrite: bool) -> None:
    """Refuse a directory that holds finished pregenerated data unless ``overwrite`` (then remove that data).

    Shards without a metrics file (an interrupted run) are not finished and are replaced silently.
    """
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise UserError.at(output_dir, "expected an output directory, found a file; choose another --output_dir")
    done = finished_epochs(output_dir)
    if done and not overwrite:
        raise UserError.at(output_dir, f"already holds pregenerated data ({metrics_name(done[0])}); pass "
                                       "--overwrite_output_dir to replace it, or choose another --output_dir")
    remove_pregenerated(output_dir)
