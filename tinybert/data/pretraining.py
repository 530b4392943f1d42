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

Streaming and memory: the corpus is read document by document and cut into *chunks* (consecutive documents of about
``chunk_chars`` characters, at least two documents each). A chunk is the unit of work of a worker process, and
the random-next document is drawn from the other documents of the same chunk: a bounded window that plays the
role of the original's whole-corpus document database (its ``--reduce_memory`` shelve). Documents longer than
``max_document_chars`` are cut into pieces at line boundaries (pieces keep their document id, so a random next is
never drawn from the same document). At most ``2 * num_workers + 2`` chunks and one shard per epoch are in memory.

Determinism: every random choice for chunk ``c`` of round (epoch) ``r`` comes from generators seeded with
``(seed, r, c)``; workers return results that the parent writes in chunk order, so the bytes written do not
depend on ``num_workers``.
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
from tinybert.data.masking import instance_offsets, mask_batch, replacement_ids, special_ids
from tinybert.data.shards import EpochWriter, PackedInstances
from tinybert.errors import UserError

logger = logging.getLogger(__name__)

Chunk = list[tuple[int, list[str]]]  # (document id, lines)


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


def iter_documents(paths: Sequence[str], max_document_chars: int = 1 << 22) -> Iterator[tuple[int, list[str], int]]:
    """Yield ``(document id, lines, characters)`` streaming the files; blank lines separate documents.

    Undecodable bytes raise a :class:`UserError` naming the file and line.
    """
    doc_id = 0
    for path in paths:
        lines: list[str] = []
        nchars = 0
        started = False  # the current document has text (some of it possibly yielded already as a piece)
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
                    lines.append(line)
                    nchars += len(line)
                    started = True
                    if nchars >= max_document_chars:
                        yield doc_id, lines, nchars
                        lines, nchars = [], 0
                elif started:
                    if lines:
                        yield doc_id, lines, nchars
                    doc_id += 1
                    lines, nchars, started = [], 0, False
        if lines:
            yield doc_id, lines, nchars
        doc_id += 1


def iter_chunks(docs: Iterable[tuple[int, list[str], int]], chunk_chars: int, *, need_pairs: bool,
                corpus_name: str) -> Iterator[Chunk]:
    """Group documents into chunks of >= ``chunk_chars`` characters and >= 2 documents (the last one merged back).

    Raises the empty-corpus and single-document errors before the first chunk is handed out.
    """
    pending: Chunk | None = None
    cur: Chunk = []
    cur_chars = 0
    doc_ids: set[int] = set()
    for doc_id, lines, nchars in docs:
        if len(doc_ids) < 2:
            doc_ids.add(doc_id)
        cur.append((doc_id, lines))
        cur_chars += nchars
        if cur_chars >= chunk_chars and len({d for d, _ in cur}) >= 2:
            if pending is not None:
                yield pending
            pending, cur, cur_chars = cur, [], 0
    if not doc_ids:
        raise UserError.at(corpus_name, "the corpus holds no text; expected UTF-8 text, one sentence per line, "
                                        "documents separated by blank lines")
    if need_pairs and len(doc_ids) < 2:
        raise UserError(f"{corpus_name}: the corpus holds a single document, but next-sentence pairs need at "
                        "least two (separate documents with blank lines), or set one_seq", field="one_seq")
    if cur:
        if pending is not None and len({d for d, _ in cur}) < 2:
            pending = pending + cur
        else:
            if pending is not None:
                yield pending
            pending = cur
    if pending is not None:
        yield pending


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

    def tokenize(self, chunk: Chunk) -> list[tuple[int, list[tuple[list[int], list[bool] | None]]]]:
        flat = [line for _, lines in chunk for line in lines]
        all_ids, encs = self.encode(flat)
        wwm = self.cfg.whole_word_mask or self.cfg.chinese_wwm
        sub = self.info.is_subword
        docs = []
        k = 0
        for doc_id, lines in chunk:
            segs = []
            for line in lines:
                ids = all_ids[k]
                k += 1
                if not ids:
                    continue
                cont = None
                if wwm:
                    flags = sub[ids]
                    if self.jieba is not None:
                        flags = flags | self._jieba_cont(line, encs[k - 1].offsets)
                    flags[0] = False
                    cont = flags.tolist()
                segs.append((ids, cont))
            if segs:
                docs.append((doc_id, segs))
        return docs

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
    def process(self, chunk_index: int, chunk: Chunk) -> list[PackedInstances]:
        docs = self.tokenize(chunk)
        out = []
        for r in self.rounds:
            ss = np.random.SeedSequence([self.seed, r, chunk_index])
            py = random.Random(int(ss.generate_state(2, np.uint64)[0]))
            rng = np.random.default_rng(ss)
            out.append(self._round(docs, py, rng))
        return out

    def _round(self, docs, py: random.Random, rng: np.random.Generator) -> PackedInstances:
        cfg, info = self.cfg, self.info
        wwm = cfg.whole_word_mask or cfg.chinese_wwm
        one_seq = cfg.one_seq
        max_tokens = cfg.max_seq_len - (2 if one_seq else 3)
        unique = len({d[0] for d in docs}) == len(docs)
        toks: list[int] = []  # all instances, concatenated, with [CLS]/[SEP]
        conts: list[bool] = []  # continuation flags parallel to toks (whole-word masking)
        lens: list[int] = []
        len_a: list[int] = []
        rnd: list[int] = []

        def emit(seg_a, seg_b, is_random: bool) -> None:
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

        for di in range(len(docs)):
            doc = docs[di][1]
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
                        emit(current, [], False)
                    else:
                        a_end = py.randint(1, len(current) - 1) if len(current) >= 2 else 1
                        seg_a = current[:a_end]
                        rdoc = None
                        if len(current) == 1 or py.random() < 0.5:
                            rdoc = self._random_doc(docs, di, unique, py)
                        if rdoc is not None:
                            target_b = target - sum(len(seg[0]) for seg in seg_a)
                            seg_b = []
                            b_len = 0
                            for j in range(py.randint(0, len(rdoc) - 1), len(rdoc)):
                                seg_b.append(rdoc[j])
                                b_len += len(rdoc[j][0])
                                if b_len >= target_b:
                                    break
                            i -= len(current) - a_end  # put the unused lines back
                            emit(seg_a, seg_b, True)
                        elif len(current) >= 2:  # no other document to draw from: keep the actual next
                            emit(seg_a, current[a_end:], False)
                    current, cur_len = [], 0
                i += 1
        return self._pack(toks, conts, lens, len_a, rnd, rng)

    def _pack(self, toks, conts, lens, len_a, rnd, rng: np.random.Generator) -> PackedInstances:
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
        if cfg.dynamic_masking:
            return PackedInstances(ids, lengths, segs, np.array(rnd, np.uint8), np.zeros(len(lengths), np.int32),
                                   np.zeros(0, np.uint16), np.zeros(0, np.int32),
                                   ws.astype(np.uint8) if ws is not None else empty8)
        masked, counts, positions, labels = mask_batch(
            ids, lengths, specials, ws, masked_lm_prob=cfg.masked_lm_prob,
            max_predictions=cfg.max_predictions_per_seq, mask_id=info.mask_id, random_ids=info.random_ids, rng=rng)
        return PackedInstances(masked, lengths, segs, np.array(rnd, np.uint8), counts.astype(np.int32),
                               positions.astype(np.uint16), labels.astype(np.int32), empty8)

    @staticmethod
    def _random_doc(docs, di: int, unique: bool, py: random.Random):
        """A random document of the chunk other than ``docs[di]`` (None if there is none)."""
        if unique:
            if len(docs) < 2:
                return None
            j = py.randrange(len(docs) - 1)
            return docs[j + (j >= di)][1]
        own = docs[di][0]  # pieces of one long document share an id
        others = [j for j in range(len(docs)) if docs[j][0] != own]
        return docs[others[py.randrange(len(others))]][1] if others else None


_WORKER: _Worker | None = None


def _init_worker(*args: Any) -> None:
    global _WORKER
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    _WORKER = _Worker(*args)


def _work(job: tuple[int, Chunk]) -> list[PackedInstances]:
    assert _WORKER is not None
    return _WORKER.process(*job)


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

    The corpus is read (and tokenized) once; epoch ``e`` of chunk ``c`` draws from ``(seed, e, c)``. Output files
    are written atomically; each epoch's ``epoch_N_metrics.json`` is written last.
    """
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
    chunks = iter_chunks(iter_documents(corpus_files, max_document_chars=max(chunk_chars * 4, 1 << 16)),
                         chunk_chars, need_pairs=not config.one_seq, corpus_name=corpus_name)
    first = next(chunks)  # raises the empty / single-document errors before anything is written
    os.makedirs(output_dir, exist_ok=True)
    meta = {"dynamic_masking": config.dynamic_masking, "masked_lm_prob": config.masked_lm_prob,
            "max_predictions_per_seq": config.max_predictions_per_seq,
            "whole_word_mask": config.whole_word_mask or config.chinese_wwm, "seed": seed,
            "instance_config": asdict(config)}
    writers = [EpochWriter(output_dir, e, vocab=id_to_token, max_seq_len=config.max_seq_len,
                           output_format=output_format, shard_size=shard_size, meta=meta) for e in range(num_epochs)]
    worker_args = (tokenizer.backend_tokenizer, info, config, seed, list(range(num_epochs)))
    jobs = ((i, c) for i, c in enumerate(_prepend(first, chunks)))
    total_bytes = sum(os.path.getsize(p) for p in corpus_files)
    bar = _progress(progress, total_bytes)
    try:
        for chunk, results in _run_jobs(jobs, worker_args, num_workers):
            for w, packed in zip(writers, results):
                w.add(packed)
            if bar is not None:
                bar.update(sum(len(x) + 1 for _, lines in chunk for x in lines))
                bar.set_postfix(instances=writers[0].count)
        return [w.close() for w in writers]
    except BaseException:
        for w in writers:
            w.abort()
        raise
    finally:
        if bar is not None:
            bar.close()


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


def _prepend(first: Chunk, rest: Iterator[Chunk]) -> Iterator[Chunk]:
    yield first
    yield from rest


def _progress(enabled: bool, total: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="char", unit_scale=True, desc="pregenerate")


def _run_jobs(jobs: Iterator[tuple[int, Chunk]], worker_args: tuple, num_workers: int
              ) -> Iterator[tuple[Chunk, list[PackedInstances]]]:
    """Run ``jobs`` in order, in this process (``num_workers <= 1``) or in a pool with bounded jobs in flight."""
    if num_workers <= 1:
        worker = _Worker(*worker_args)
        for i, chunk in jobs:
            yield chunk, worker.process(i, chunk)
        return
    import multiprocessing as mp

    ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
    with ctx.Pool(num_workers, initializer=_init_worker, initargs=worker_args) as pool:
        inflight: collections.deque = collections.deque()
        for job in jobs:
            inflight.append((job[1], pool.apply_async(_work, (job,))))
            if len(inflight) >= 2 * num_workers + 2:
                chunk, res = inflight.popleft()
                yield chunk, res.get()
        while inflight:
            chunk, res = inflight.popleft()
            yield chunk, res.get()
