"""Documents -> masked-LM / next-sentence pretraining instances (BERT's construction, as TinyBERT's pregeneration).

Corpus: UTF-8 text, one sentence per line, documents separated by blank lines (a file boundary also ends one).
Construction per document, as BERT: segments (lines) are gathered up to a target length (``max_seq_len`` minus the
specials, or with probability ``short_seq_prob`` a random length from 2); a random split gives segment A and, with
probability 1/2 (always when the gathered part is a single line), segment B is taken from a random *other* document
(``is_random_next``) and the unused lines are put back; otherwise B is the rest of the gathered lines. The pair is
truncated to fit by removing tokens from the longer segment, each from its front or back at random. ``one_seq``
puts all gathered lines in a single segment (no NSP). Masking: ``min(max_predictions, max(1, round(len * p)))``
positions (never [CLS]/[SEP]), chosen over shuffled candidates — whole words when whole-word masking is on (``##``
continuation pieces, or words found by jieba for Chinese) — and each position becomes [MASK] 80%, stays 10%, or
becomes a random non-special token 10%.

The random-next document is drawn from the whole corpus, with probability proportional to its number of lines (the
original's ``sample_doc(sentence_weighted=True)``), and documents are used whole, as the original does.

Streaming and memory, in two passes. Pass 1 tokenizes the corpus in blocks of about ``chunk_chars`` characters into
a :class:`TokenStore`: token ids (and whole-word flags) of every line in a memory-mapped scratch file in or beside
the output folder, with the line and document offsets; it plays the role of the original's whole-corpus document
database (its ``--reduce_memory`` shelve) without holding the corpus in memory. Pass 2 turns groups of whole
documents (about ``chunk_chars / 4`` tokens each) into instances, reading any random-next document from the store.
Both passes run on ``num_workers`` processes with at most ``2 * num_workers + 2`` jobs in flight; one shard per epoch
is in memory in the parent.

Determinism: every random choice for document ``d`` of round (epoch) ``r`` comes from generators seeded with
``(seed, r, d)`` (the masking draws are per token of the document's instances), and results are written in corpus
order, so the bytes written depend neither on ``num_workers`` nor on ``chunk_chars``.
"""

from __future__ import annotations

import collections
import glob
import itertools
import logging
import os
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from tinybert.config.pregenerate import InstanceConfig
from tinybert.data.masking import instance_offsets, mask_with_draws, replacement_ids, special_ids
from tinybert.data.shards import EpochWriter, PackedInstances
from tinybert.errors import UserError

logger = logging.getLogger(__name__)



# ------------------------------------------------------------------------------------------------------------ corpus
def expand_inputs(patterns: Iterable[str], field: str = "input_file") -> list[str]:
    """Files named by paths, globs or comma-separated lists of them, in the order given (globs sorted).

    ``field`` is the config field the patterns came from (named in errors)."""
    files: list[str] = []
    for pat in patterns:
        for p in (x.strip() for x in str(pat).split(",")):
            if not p:
                continue
            hits = sorted(glob.glob(p)) if glob.has_magic(p) else [p]
            if not hits:
                raise UserError.of_field(field, "matches no file; check the pattern", path=p)
            for h in hits:
                if not os.path.isfile(h):
                    raise UserError.at(h, "corpus file not found" if not os.path.exists(h) else
                                       "expected a text file, found a directory")
                files.append(h)
    if not files:
        raise UserError.of_field(field, "names no corpus file")
    return files


def iter_lines(paths: Sequence[str]) -> Iterator[tuple[int, str]]:
    """``(document number, line)`` for every non-blank line of the files, streamed; blank lines separate documents
    (runs of them count once) and a file boundary ends one. Undecodable bytes raise a :class:`UserError` naming the
    file and line."""
    doc = 0
    for path in paths:
        started = False  # the current document has text
        with open(path, "rb") as f:
            for lineno, raw in enumerate(f, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise UserError.at(path, f"undecodable bytes (not UTF-8 at byte {e.start} of the line); "
                                             "re-encode the corpus as UTF-8, e.g. with iconv", line=lineno) from None
                if lineno == 1:
                    line = line.lstrip("\ufeff")
                line = line.strip()
                if line:
                    yield doc, line
                    started = True
                elif started:
                    doc += 1
                    started = False
        if started:
            doc += 1


def iter_blocks(lines: Iterable[tuple[int, str]], block_chars: int) -> Iterator[tuple[list[int], list[str]]]:
    """Consecutive lines in blocks of about ``block_chars`` characters: ``(document numbers, lines)``. Blocks are
    units of tokenization only; documents may span blocks."""
    docs: list[int] = []
    text: list[str] = []
    chars = 0
    for doc, line in lines:
        docs.append(doc)
        text.append(line)
        chars += len(line)
        if chars >= block_chars:
            yield docs, text
            docs, text, chars = [], [], 0
    if text:
        yield docs, text


class TokenStore:
    """The tokenized corpus on disk, memory-mapped: token ids of every line back to back (``tokens``), the
    continuation flags of whole-word masking (``cont``, uint8, or None), line offsets into them (``line_offsets``,
    n_lines + 1) and the first line of every document (``doc_lines``, n_docs + 1). Any document, e.g. a random-next
    one drawn from the whole corpus, is read in O(its length) without holding the corpus in memory."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        meta = np.load(os.path.join(folder, "meta.npy"))
        # plain ndarray views of the mappings (slicing a np.memmap costs ~10x more)
        self.line_offsets = np.load(os.path.join(folder, "line_offsets.npy"), mmap_mode="r").view(np.ndarray)
        self.doc_lines = np.load(os.path.join(folder, "doc_lines.npy"), mmap_mode="r").view(np.ndarray)
        n_tokens = int(self.line_offsets[-1])
        dtype = np.dtype(np.uint16) if meta[0] == 2 else np.dtype(np.int32)
        self.tokens = (np.memmap(os.path.join(folder, "tokens.bin"), dtype, "r", shape=(n_tokens,)).view(np.ndarray)
                       if n_tokens else np.zeros(0, dtype))
        self.cont = (np.memmap(os.path.join(folder, "cont.bin"), np.uint8, "r", shape=(n_tokens,)).view(np.ndarray)
                     if meta[1] and n_tokens else None)
        self.doc_ends = self.doc_lines[1:]  # exclusive cumulative line counts, as the original's doc_cumsum
        self.num_docs = len(self.doc_lines) - 1
        self.num_lines = int(self.doc_lines[-1])

    def line(self, index: int) -> tuple[list[int], list[bool] | None]:
        """Token ids of a line and (whole-word masking) its continuation flags."""
        a, b = int(self.line_offsets[index]), int(self.line_offsets[index + 1])
        return self.tokens[a:b].tolist(), (self.cont[a:b].astype(bool).tolist() if self.cont is not None else None)

    def document(self, doc: int) -> list[tuple[list[int], list[bool] | None]]:
        first, end = int(self.doc_lines[doc]), int(self.doc_lines[doc + 1])
        offsets = self.line_offsets[first:end + 1].tolist()
        ids = self.tokens[offsets[0]:offsets[-1]].tolist()
        cont = self.cont[offsets[0]:offsets[-1]].astype(bool).tolist() if self.cont is not None else None
        base = offsets[0]
        return [(ids[a - base:b - base], cont[a - base:b - base] if cont is not None else None)
                for a, b in zip(offsets[:-1], offsets[1:])]

    def random_document(self, doc: int, py: random.Random) -> int:
        """Another document, drawn with probability proportional to its number of lines (the original's
        ``sample_doc(sentence_weighted=True)``): a uniform line outside ``doc``, and the document holding it."""
        total = self.num_lines
        start = int(self.doc_ends[doc])
        own = start - int(self.doc_lines[doc])
        line = py.randrange(start, start + total - own) % total
        return int(np.searchsorted(self.doc_ends, line, side="right"))


class _StoreWriter:
    """Builds a :class:`TokenStore` folder from tokenized blocks, in order (dropping lines with no tokens and
    documents with no lines). Streaming: tokens, flags and line lengths go to files as they come; memory holds one
    8-byte entry per document."""

    def __init__(self, folder: str, vocab_size: int, whole_word: bool) -> None:
        import array

        self.folder = folder
        self.dtype = np.dtype(np.uint16) if vocab_size <= 65536 else np.dtype(np.int32)
        self.tokens = open(os.path.join(folder, "tokens.bin"), "wb")  # noqa: SIM115 - closed in finish()
        self.cont = open(os.path.join(folder, "cont.bin"), "wb") if whole_word else None  # noqa: SIM115
        self.lengths = open(os.path.join(folder, "line_lengths.bin"), "wb")  # noqa: SIM115
        self.num_lines = 0
        self.doc_starts = array.array("q")  # the first line of every document with text
        self.last_doc = -1

    def add(self, docs: list[int], ids: np.ndarray, lengths: np.ndarray, cont: np.ndarray | None) -> None:
        self.tokens.write(ids.astype(self.dtype).tobytes())
        if self.cont is not None and cont is not None:
            self.cont.write(cont.astype(np.uint8).tobytes())
        keep = lengths > 0
        kept_docs = np.asarray(docs, np.int64)[keep]
        starts = np.flatnonzero(np.diff(kept_docs, prepend=self.last_doc) != 0)
        self.doc_starts.extend((starts + self.num_lines).tolist())
        if len(kept_docs):
            self.last_doc = int(kept_docs[-1])
        self.lengths.write(lengths[keep].astype(np.int64).tobytes())
        self.num_lines += int(keep.sum())

    def finish(self) -> tuple[int, int]:
        """Write the offsets; return (documents, lines)."""
        for f in (self.tokens, self.cont, self.lengths):
            if f is not None:
                f.close()
        offsets = np.lib.format.open_memmap(os.path.join(self.folder, "line_offsets.npy"), mode="w+",
                                            dtype=np.int64, shape=(self.num_lines + 1,))
        offsets[0] = total = 0
        done = 0
        with open(os.path.join(self.folder, "line_lengths.bin"), "rb") as f:
            while len(part := np.fromfile(f, np.int64, count=1 << 20)):
                part = np.cumsum(part) + total
                offsets[done + 1:done + 1 + len(part)] = part
                done += len(part)
                total = int(part[-1])
        offsets.flush()
        del offsets
        os.remove(os.path.join(self.folder, "line_lengths.bin"))
        doc_lines = np.append(np.frombuffer(self.doc_starts, np.int64), self.num_lines).astype(np.int64)
        np.save(os.path.join(self.folder, "doc_lines.npy"), doc_lines)
        np.save(os.path.join(self.folder, "meta.npy"), np.array([self.dtype.itemsize, self.cont is not None]))
        return len(self.doc_starts), self.num_lines


# ------------------------------------------------------------------------------------------------------------ workers
@dataclass
class _TokenInfo:
    cls_id: int
    sep_id: int
    mask_id: int
    random_ids: np.ndarray
    is_subword: np.ndarray  # bool per id: a "##" continuation piece


# ASCII characters BERT's normaliser deletes: controls other than tab, newline and carriage return
_ASCII_CONTROL = {c: None for c in [*range(0, 9), 11, 12, *range(14, 32), 127]}
# BERT's pre-tokenizer on ASCII: runs of letters/digits, and every other non-space character on its own
_WORD_RE_LOWER = re.compile(r"[a-z0-9]+|[^a-z0-9\s]")
_WORD_RE_CASED = re.compile(r"[A-Za-z0-9]+|[^A-Za-z0-9\s]")
_WORD_CACHE_SIZE = 1 << 20


def _ascii_backend(backend: Any) -> tuple[Any, bool]:
    """A copy of a BERT tokenizer without its normaliser, and whether to lower-case; (None, False) if the
    normaliser is not BERT's (then every line goes through the full tokenizer)."""
    import copy

    from tokenizers import normalizers

    norm = backend.normalizer
    if not isinstance(norm, normalizers.BertNormalizer):
        return None, False
    probe = "Hello\x01 \tWORLD\x7f!"
    lower = norm.normalize_str("A") == "a"
    fast = copy.deepcopy(backend)
    fast.normalizer = None
    expected = backend.encode(probe, add_special_tokens=False).ids
    t = probe.translate(_ASCII_CONTROL)
    words = (_WORD_RE_LOWER if lower else _WORD_RE_CASED).findall(t.lower() if lower else t)
    got = [i for e in fast.encode_batch(words, add_special_tokens=False) for i in e.ids]
    if got != expected:
        return None, False
    return fast, lower


class _Worker:
    """Everything a worker needs; built once per process."""

    def __init__(self, backend: Any, info: _TokenInfo, config: InstanceConfig, seed: int,
                 rounds: Sequence[int]) -> None:
        self.backend, self.info, self.cfg, self.seed, self.rounds = backend, info, config, seed, list(rounds)
        self.jieba = None
        if config.chinese_wwm:
            self.jieba = import_jieba()
        self.fast_backend, self.lower = _ascii_backend(backend) if self.jieba is None else (None, False)
        self.word_cache: dict[str, list[int]] = {}
        self.store: TokenStore | None = None

    def run(self, job: tuple) -> Any:
        """A job of either pass: ``("tokenize", lines)`` or ``("instances", store folder, first doc, end doc)``."""
        if job[0] == "tokenize":
            return self.tokenize_block(job[1])
        return self.instances(*job[1:])

    # -- tokenization (batched) ------------------------------------------------------------------------------------
    def encode(self, lines: list[str]) -> tuple[list[list[int]], list[Any] | None]:
        """Token ids of ``lines`` (no specials) and, for jieba, the ``tokenizers`` encodings (for their offsets).

        The full tokenizer runs as one batched call. When the tokenizer is BERT's, ASCII lines take a faster route
        with the same result: BERT's normaliser (which tracks alignments character by character and costs more than
        WordPiece) reduces to deleting control characters and lower-casing, done by ``str.translate``/``str.lower``;
        BERT's pre-tokenizer reduces to a regular expression (runs of letters/digits, single punctuation marks); and
        WordPiece is applied once per distinct word, with the words not seen before sent to the tokenizer in one
        batched call and kept in a bounded cache.
        """
        if self.fast_backend is None:
            encs = self.backend.encode_batch(lines, add_special_tokens=False)
            return [e.ids for e in encs], encs
        lower, cache = self.lower, self.word_cache
        ascii_idx, other_idx, ascii_words, other_text = [], [], [], []
        find = _WORD_RE_LOWER.findall if lower else _WORD_RE_CASED.findall
        for i, line in enumerate(lines):
            if line.isascii():
                ascii_idx.append(i)
                t = line.translate(_ASCII_CONTROL)
                ascii_words.append(find(t.lower() if lower else t))
            else:
                other_idx.append(i)
                other_text.append(line)
        out: list[list[int]] = [[]] * len(lines)
        if ascii_words:
            missing = list(set(itertools.chain.from_iterable(ascii_words)).difference(cache.keys()))
            if len(cache) + len(missing) > _WORD_CACHE_SIZE:
                cache.clear()
                missing = list(set(itertools.chain.from_iterable(ascii_words)))
            if missing:
                cache.update(zip(missing, (e.ids for e in self.fast_backend.encode_batch(
                    missing, add_special_tokens=False))))
            get, chain = cache.__getitem__, itertools.chain.from_iterable
            for i, words in zip(ascii_idx, ascii_words):
                out[i] = list(chain(map(get, words)))
        if other_text:
            for i, e in zip(other_idx, self.backend.encode_batch(other_text, add_special_tokens=False)):
                out[i] = e.ids
        return out, None

    def tokenize_block(self, lines: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Token ids of the lines back to back, the token count of each line and (whole-word masking) the
        continuation flags (a ``##`` piece, or inside a jieba word; never a line's first token)."""
        all_ids, encs = self.encode(lines)
        lengths = np.fromiter((len(x) for x in all_ids), np.int64, len(all_ids))
        ids = np.fromiter(itertools.chain.from_iterable(all_ids), np.int64, int(lengths.sum()))
        if not (self.cfg.whole_word_mask or self.cfg.chinese_wwm):
            return ids, lengths, None
        cont = self.info.is_subword[ids]
        if self.jieba is not None:
            parts = [self._jieba_cont(line, enc.offsets) for line, enc in zip(lines, encs)]
            cont = cont | (np.concatenate(parts) if parts else np.zeros(0, bool))
        starts = instance_offsets(lengths)[:-1][lengths > 0]
        cont[starts] = False
        return ids, lengths, cont

    def _jieba_cont(self, line: str, offsets: list[tuple[int, int]]) -> np.ndarray:
        word_of = np.zeros(len(line) + 1, np.int64)
        for w, (_, start, end) in enumerate(self.jieba.tokenize(line)):
            word_of[start:end] = w
        starts = np.fromiter((s for s, _ in offsets), np.int64, len(offsets))
        w = word_of[np.minimum(starts, len(line))]
        cont = np.zeros(len(offsets), bool)
        cont[1:] = w[1:] == w[:-1]
        return cont

    # -- instances ------------------------------------------------------------------------------------------------
    def instances(self, store_dir: str, first_doc: int, end_doc: int) -> list[PackedInstances]:
        """The instances of documents ``[first_doc, end_doc)`` for every round; document ``d`` of round ``r`` draws
        from generators seeded with ``(seed, r, d)`` only, so the result does not depend on how documents are
        grouped into jobs, nor on the number of workers."""
        if self.store is None or self.store.folder != store_dir:
            self.store = TokenStore(store_dir)
        docs = [self.store.document(d) for d in range(first_doc, end_doc)]
        return [self._round(r, first_doc, docs) for r in self.rounds]

    def _round(self, round_index: int, first_doc: int, docs: list) -> PackedInstances:
        cfg, info, store = self.cfg, self.info, self.store
        wwm = cfg.whole_word_mask or cfg.chinese_wwm
        one_seq = cfg.one_seq
        max_tokens = cfg.max_seq_len - (2 if one_seq else 3)
        toks: list[int] = []  # all instances, concatenated, with [CLS]/[SEP]
        conts: list[bool] = []  # continuation flags parallel to toks (whole-word masking)
        lens: list[int] = []
        len_a: list[int] = []
        rnd: list[int] = []
        doc_tokens: list[int] = []  # tokens emitted per document (its masking draws)

        def emit(seg_a, seg_b, is_random: bool, py: random.Random) -> None:
            a: list[int] = []
            b: list[int] = []
            for seg in seg_a:
                a += seg[0]
            for seg in seg_b:
                b += seg[0]
            la, lb = len(a), len(b)
            # truncate: remove from the longer segment (B on ties), each removal from its front or back at random
            cut_a = cut_b = fa = fb = 0
            excess = la + lb - max_tokens
            if excess > 0:
                diff = min(excess, abs(la - lb))
                if la > lb:
                    cut_a = diff
                else:
                    cut_b = diff
                cut_b += (excess - diff + 1) // 2
                cut_a += (excess - diff) // 2
                fa = bin(py.getrandbits(cut_a)).count("1") if cut_a else 0
                fb = bin(py.getrandbits(cut_b)).count("1") if cut_b else 0
                a = a[fa:la - (cut_a - fa)]
                b = b[fb:lb - (cut_b - fb)]
            if not a or (not one_seq and not b):
                return
            toks.append(info.cls_id)
            toks.extend(a)
            toks.append(info.sep_id)
            if not one_seq:
                toks.extend(b)
                toks.append(info.sep_id)
            lens.append(len(a) + len(b) + (2 if one_seq else 3))
            len_a.append(len(a))
            rnd.append(is_random)
            if wwm:
                ca: list[bool] = []
                for seg in seg_a:
                    ca += seg[1]
                conts.append(False)
                conts.extend(ca[fa:fa + len(a)])
                conts.append(False)
                if not one_seq:
                    cb: list[bool] = []
                    for seg in seg_b:
                        cb += seg[1]
                    conts.extend(cb[fb:fb + len(b)])
                    conts.append(False)

        for k, doc in enumerate(docs):
            doc_id = first_doc + k
            py = random.Random(f"tinybert-pregenerate:{self.seed}:{round_index}:{doc_id}")
            before = len(toks)
            target = max_tokens
            if py.random() < cfg.short_seq_prob:
                target = py.randint(2, max_tokens)
            current: list = []
            cur_len = 0
            i = 0
            while i < len(doc):
                current.append(doc[i])
                cur_len += len(doc[i][0])
                if i == len(doc) - 1 or cur_len >= target:
                    if one_seq:
                        emit(current, [], False, py)
                    else:
                        a_end = py.randint(1, len(current) - 1) if len(current) >= 2 else 1
                        seg_a = current[:a_end]
                        if len(current) == 1 or py.random() < 0.5:
                            other = store.random_document(doc_id, py)
                            lo, hi = int(store.doc_lines[other]), int(store.doc_lines[other + 1])
                            target_b = target - sum(len(seg[0]) for seg in seg_a)
                            seg_b = []
                            b_len = 0
                            for j in range(lo + py.randrange(hi - lo), hi):
                                seg_b.append(store.line(j))
                                b_len += len(seg_b[-1][0])
                                if b_len >= target_b:
                                    break
                            i -= len(current) - a_end  # put the unused lines back
                            emit(seg_a, seg_b, True, py)
                        else:
                            emit(seg_a, current[a_end:], False, py)
                    current, cur_len = [], 0
                i += 1
            doc_tokens.append(len(toks) - before)
        draws = None
        if not cfg.dynamic_masking:
            draws = np.concatenate(
                [np.random.default_rng([self.seed, round_index, first_doc + k, 1]).random((3, n))
                 for k, n in enumerate(doc_tokens) if n] or [np.zeros((3, 0))], axis=1)
        return self._pack(toks, conts, lens, len_a, rnd, draws)

    def _pack(self, toks, conts, lens, len_a, rnd, draws: np.ndarray | None) -> PackedInstances:
        """Instances as flat arrays: segment ids, specials and masking computed for the whole round at once."""
        cfg, info = self.cfg, self.info
        ids = np.array(toks, np.int32)
        lengths = np.array(lens, np.int32)
        la = np.array(len_a, np.int64)
        off = instance_offsets(lengths)
        start = off[:-1]
        inst_of = np.repeat(np.arange(len(lengths)), lengths)
        pos = np.arange(len(ids)) - start[inst_of]
        segs = (pos >= (la + 2)[inst_of]).astype(np.uint8) if not cfg.one_seq else np.zeros(len(ids), np.uint8)
        specials = np.zeros(len(ids), bool)
        if len(lengths):
            specials[start] = True
            specials[start + la + 1] = True
            specials[off[1:] - 1] = True
        ws = ~np.array(conts, bool) if (cfg.whole_word_mask or cfg.chinese_wwm) else None
        empty8 = np.zeros(0, np.uint8)
        if draws is None:
            return PackedInstances(ids, lengths, segs, np.array(rnd, np.uint8), np.zeros(len(lengths), np.int32),
                                   np.zeros(0, np.uint16), np.zeros(0, np.int32),
                                   ws.astype(np.uint8) if ws is not None else empty8)
        masked, counts, positions, labels = mask_with_draws(
            ids, lengths, specials, ws, masked_lm_prob=cfg.masked_lm_prob,
            max_predictions=cfg.max_predictions_per_seq, mask_id=info.mask_id, random_ids=info.random_ids,
            draws=draws)
        return PackedInstances(masked, lengths, segs, np.array(rnd, np.uint8), counts.astype(np.int32),
                               positions.astype(np.uint16), labels.astype(np.int32), empty8)


_WORKER: _Worker | None = None


def _init_worker(*args: Any) -> None:
    global _WORKER
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _WORKER = _Worker(*args)


def _work(job: tuple) -> Any:
    assert _WORKER is not None
    return _WORKER.run(job)


def import_jieba():
    """jieba, initialised quietly; a :class:`UserError` if it is not installed."""
    try:
        import jieba
    except ImportError:
        raise UserError("Chinese whole-word masking needs jieba: pip install jieba (or pip install tinybert[zh])") \
            from None
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def token_info(tokenizer: Any) -> _TokenInfo:
    vocab = tokenizer.get_vocab()
    sp = special_ids(vocab)
    sub = np.zeros(max(vocab.values()) + 1, bool)
    for t, i in vocab.items():
        if t.startswith("##") and len(t) > 2:
            sub[i] = True
    return _TokenInfo(sp["[CLS]"], sp["[SEP]"], sp["[MASK]"], replacement_ids(vocab), sub)

# ------------------------------------------------------------------------------------------------------------ driver
def generate_pretraining_data(corpus_files: Sequence[str], tokenizer: Any, output_dir: str, *,
                              config: InstanceConfig, seed: int, num_epochs: int = 1, num_workers: int = 1,
                              output_format: str = "binary", shard_size: int = 100_000,
                              chunk_chars: int = 200_000, progress: bool = True) -> list[dict[str, Any]]:
    """Build ``num_epochs`` epochs of instances from the corpus and write them to ``output_dir``; return metrics.

    Two streaming passes: the corpus is tokenized once, in blocks of ``chunk_chars`` characters, into a memory-mapped
    :class:`TokenStore` (a hidden scratch folder in ``output_dir`` or beside it, removed at the end); then whole
    documents, in groups of about ``chunk_chars / 4`` tokens, become instances, a random next drawn from the whole
    corpus. Both passes run on ``num_workers`` processes and are written in corpus order; every random choice for
    document ``d`` of epoch ``e`` comes from ``(seed, e, d)``, so neither ``num_workers`` nor ``chunk_chars``
    changes a byte.
    Output files are written atomically; each epoch's ``epoch_N_metrics.json`` is written last.
    """
    import shutil
    import tempfile

    config.validate()
    if config.dynamic_masking and output_format != "binary":
        raise UserError.of_field("dynamic_masking", "stores unmasked instances, which only the binary format can "
                                                    "hold; set output_format to binary")
    if config.chinese_wwm:
        import_jieba()
    info = token_info(tokenizer)
    vocab_map = tokenizer.get_vocab()
    id_to_token = [""] * (max(vocab_map.values()) + 1)
    for t, i in vocab_map.items():
        id_to_token[i] = t
    corpus_name = corpus_files[0] if len(corpus_files) == 1 else ", ".join(corpus_files)
    worker_args = (tokenizer.backend_tokenizer, info, config, seed, list(range(num_epochs)))
    scratch = tempfile.mkdtemp(prefix=f".{os.path.basename(os.path.abspath(output_dir))}.tokens-",
                               dir=_existing_parent(output_dir))
    writers: list[EpochWriter] = []
    try:
        with _Jobs(worker_args, num_workers) as jobs:
            store = _StoreWriter(scratch, len(id_to_token), config.whole_word_mask or config.chinese_wwm)
            bar = _progress(progress, sum(os.path.getsize(p) for p in corpus_files), "tokenize", "char")
            blocks = iter_blocks(iter_lines(corpus_files), chunk_chars)
            for (docs, lines), (ids, lengths, cont) in jobs.ordered(
                    (block, ("tokenize", block[1])) for block in blocks):
                store.add(docs, ids, lengths, cont)
                if bar is not None:
                    bar.update(sum(len(x) + 1 for x in lines))
            num_docs, _ = store.finish()
            if bar is not None:
                bar.close()
            if not num_docs:
                raise UserError.at(corpus_name, "the corpus holds no text; expected UTF-8 text, one sentence per "
                                                "line, documents separated by blank lines")
            if not config.one_seq and num_docs < 2:
                raise UserError(f"{corpus_name}: the corpus holds a single document, but next-sentence pairs need "
                                "at least two (separate documents with blank lines), or set one_seq",
                                field="one_seq")
            os.makedirs(output_dir, exist_ok=True)
            meta = {"dynamic_masking": config.dynamic_masking, "masked_lm_prob": config.masked_lm_prob,
                    "max_predictions_per_seq": config.max_predictions_per_seq,
                    "whole_word_mask": config.whole_word_mask or config.chinese_wwm, "seed": seed,
                    "instance_config": asdict(config)}
            writers = [EpochWriter(output_dir, e, vocab=id_to_token, max_seq_len=config.max_seq_len,
                                   output_format=output_format, shard_size=shard_size, meta=meta)
                       for e in range(num_epochs)]
            groups = _document_groups(TokenStore(scratch), max(1, chunk_chars // 4))
            bar = _progress(progress, num_docs, "instances", "doc")
            for (first, end), results in jobs.ordered(
                    ((first, end), ("instances", scratch, first, end)) for first, end in groups):
                for w, packed in zip(writers, results):
                    w.add(packed)
                if bar is not None:
                    bar.update(end - first)
                    bar.set_postfix(instances=writers[0].count)
            if bar is not None:
                bar.close()
        return [w.close() for w in writers]
    except BaseException:
        for w in writers:
            w.abort()
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _existing_parent(path: str) -> str:
    """``path`` if it is a folder, else the nearest existing folder above it: the scratch folder goes there, so an
    error before any output leaves no new folder behind."""
    parent = os.path.abspath(path)
    while not os.path.isdir(parent):
        parent = os.path.dirname(parent)
    return parent


def _document_groups(store: TokenStore, group_tokens: int) -> Iterator[tuple[int, int]]:
    """Consecutive documents in groups of at least ``group_tokens`` tokens (the unit of work of pass 2)."""
    doc_tokens = store.line_offsets[np.asarray(store.doc_lines)]
    first = 0
    while first < store.num_docs:
        end = int(np.searchsorted(doc_tokens, doc_tokens[first] + group_tokens, side="left"))
        end = min(max(end, first + 1), store.num_docs)
        yield first, end
        first = end


@dataclass
class ShardsWritten:
    """What a corpus job wrote: each epoch's metrics, the instances in all epochs, and the seconds it took."""

    output_dir: str
    epochs: list[dict[str, Any]]
    num_instances: int
    seconds: float


def write_corpus_shards(files: Sequence[str], vocab: str, output_dir: str, *, do_lower_case: bool | None,
                        overwrite: bool, config: InstanceConfig, seed: int, num_epochs: int, **options: Any
                        ) -> ShardsWritten:
    """Tokenize ``files`` with ``vocab`` (a vocab.txt or a model folder), refuse or clear finished data in
    ``output_dir`` (``overwrite``), and write ``num_epochs`` epochs of instances; ``options`` go to
    :func:`generate_pretraining_data` (num_workers, output_format, shard_size, chunk_chars, progress)."""
    import time

    from tinybert.data.shards import prepare_output_dir
    from tinybert.data.wordpiece import load_wordpiece

    tokenizer = load_wordpiece(vocab, do_lower_case=do_lower_case)  # the tokenizers library only: a fast start
    prepare_output_dir(output_dir, overwrite)
    start = time.perf_counter()
    metrics = generate_pretraining_data(files, tokenizer, output_dir, config=config, seed=seed,
                                        num_epochs=num_epochs, **options)
    return ShardsWritten(output_dir, metrics, sum(m["num_training_examples"] for m in metrics),
                         time.perf_counter() - start)


def _progress(enabled: bool, total: int, desc: str, unit: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit=unit, unit_scale=True, desc=desc)


class _Jobs:
    """Runs worker jobs in this process (``num_workers <= 1``) or in a pool, results in submission order, at most
    ``2 * num_workers + 2`` jobs in flight."""

    def __init__(self, worker_args: tuple, num_workers: int) -> None:
        self.worker_args, self.num_workers = worker_args, num_workers
        self.pool = None
        self.worker: _Worker | None = None

    def __enter__(self) -> _Jobs:
        if self.num_workers <= 1:
            self.worker = _Worker(*self.worker_args)
        else:
            import multiprocessing as mp

            ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
            self.pool = ctx.Pool(self.num_workers, initializer=_init_worker, initargs=self.worker_args)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.pool is not None:
            self.pool.terminate() if exc[0] is not None else self.pool.close()
            self.pool.join()

    def ordered(self, jobs: Iterable[tuple[Any, tuple]]) -> Iterator[tuple[Any, Any]]:
        """``(tag, result)`` for each ``(tag, job)``, in order."""
        if self.worker is not None:
            for tag, job in jobs:
                yield tag, self.worker.run(job)
            return
        inflight: collections.deque = collections.deque()
        for tag, job in jobs:
            inflight.append((tag, self.pool.apply_async(_work, (job,))))
            if len(inflight) >= 2 * self.num_workers + 2:
                tag0, res = inflight.popleft()
                yield tag0, res.get()
        while inflight:
            tag0, res = inflight.popleft()
            yield tag0, res.get()
