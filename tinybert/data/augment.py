"""TinyBERT data augmentation: replace words with BERT masked-LM or GloVe candidates, batched and streamed.

The candidate rules are the original ``data_augmentation.py``'s:

- A sentence is split into words on whitespace, then every punctuation character (and CJK character) is a word of
  its own, as BERT's basic tokenizer does. A word is *eligible* when it is alphabetic and not a stop word.
- An eligible word that is a single word piece gets masked-LM candidates: the model reads
  ``[CLS] sentence-with-the-word-masked [SEP] original sentence [SEP]`` (segments 0 and 1) and the top-``M``
  predictions at the mask are kept, minus continuation pieces (``##...``), special/``[unused]`` tokens and the word
  itself. An eligible word of several pieces gets its ``M`` nearest GloVe neighbours by cosine similarity (itself
  excluded; looked up as written, else lowercased). No candidates: the word is kept.
- Each of up to ``N`` variants replaces every eligible word, independently with probability ``p``, by a uniformly
  chosen candidate; variants differ from each other and from the original (at most ``3 * N`` draws).
- ``language="zh"``: the eligible words are Chinese characters (character level); masked-LM candidates only.

Differences from the original, on purpose: candidates take the word's capitalisation (``Paris`` for ``london`` at
the start of a sentence stays ``Paris``; ``london`` -> ``paris`` for ``London`` becomes ``Paris``); a variant keeps
the original text and spacing and changes only the replaced words (the original re-joined lowercased tokens with
spaces); inputs longer than the model's positions are cut to a window around the masked word instead of crashing;
pair tasks augment each text column in turn (up to ``N`` variants per text column, the other columns as in the
original row) without the original's slip that carried the first column's last variant into the second column's
rows; rows are written without CSV quoting so ``train_aug.tsv`` reads back exactly like ``train.tsv``.

Speed: all masked positions of a block of rows go through the model in length-sorted, padded batches under
``torch.inference_mode()``, and only the masked positions reach the vocabulary projection. Identical sentences in a
block are computed once. GloVe neighbours are one matrix product + top-k per batch of words, cached per word.

Determinism: rows are processed in fixed blocks of :data:`BLOCK_LINES` lines and every row draws from its own RNG
seeded by ``(seed, line number)``, so the output is the same file for any number of workers.
"""

from __future__ import annotations

import logging
import os
import random
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tinybert.errors import UserError, require_file

if TYPE_CHECKING:
    from tinybert.models.masked_lm import MaskedLMCandidates

logger = logging.getLogger(__name__)

BLOCK_LINES = 256  # rows per block: the unit of batching, of worker chunks and of progress

# The original's per-task default N (smaller for the large datasets); everything else 30.
DEFAULT_N = {"cola": 30, "mnli": 10, "mnli-mm": 10, "mrpc": 30, "sst-2": 20, "sts-b": 30, "qqp": 10, "qnli": 20,
             "rte": 30}

# Standard English function words (pronouns, determiners, auxiliaries, prepositions, conjunctions, negations and
# their contracted forms), written for this project.
STOP_WORDS: frozenset[str] = frozenset("""
a about above after again against ain all am an and any are aren as at be because been before being below between
both but by can couldn d did didn do does doesn doing don down during each few for from further had hadn has hasn
have haven having he her here hers herself him himself his how i if in into is isn it its itself just ll m ma me
mightn more most mustn my myself needn no nor not now o of off on once only or other our ours ourselves out over own
re s same shan she should shouldn so some such t than that the their theirs them themselves then there these they
this those through to too under until up ve very was wasn we were weren what when where which while who whom why
will with won wouldn y you your yours yourself yourselves also could would shall may might must upon yet via
""".split())

# Common Chinese function characters (particles, pronouns, copulas, conjunctions, prepositions).
ZH_STOP_CHARS: frozenset[str] = frozenset(
    "的了是在和与及或也都就而且但并把被让给对从向于以为之其这那"
    "你我他她它们着过吗呢吧啊呀么"
)


@dataclass
class AugmentOptions:
    """What to generate: ``N`` variants, ``M`` candidates per word, replacement probability ``p``."""

    N: int = 30
    M: int = 15
    p: float = 0.4
    seed: int = 42
    language: str = "en"
    max_seq_length: int = 512
    batch_size: int = 64

    def check(self) -> None:
        if self.N < 0:
            raise UserError.of_field("N", f"must be >= 0, got {self.N}")
        if self.M < 1:
            raise UserError.of_field("M", f"must be >= 1, got {self.M}")
        if not 0.0 <= self.p <= 1.0:
            raise UserError.of_field("p", f"must be within [0, 1], got {self.p}")
        if self.language not in ("en", "zh"):
            raise UserError.of_field("language", f"must be en or zh, got {self.language!r}")
        if self.max_seq_length < 5:
            raise UserError.of_field("max_seq_length", f"must be at least 5, got {self.max_seq_length}")
        if self.batch_size < 1:
            raise UserError.of_field("batch_size", f"must be positive, got {self.batch_size}")


# ----------------------------------------------------------------------------------------------------- words


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True  # ASCII symbols count as punctuation, as in BERT
    return unicodedata.category(ch).startswith("P")


def _is_cjk(ch: str) -> bool:
    cp = ord(ch)
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def split_words(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` spans of the words of ``text``: whitespace-separated, punctuation and CJK characters apart.

    Every CJK character is a word of its own, which makes Chinese augmentation character-level.
    """
    spans: list[tuple[int, int]] = []
    start = -1
    for i, ch in enumerate(text):
        if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf"):
            if start >= 0:
                spans.append((start, i))
                start = -1
        elif _is_punctuation(ch) or _is_cjk(ch):
            if start >= 0:
                spans.append((start, i))
                start = -1
            spans.append((i, i + 1))
        elif start < 0:
            start = i
    if start >= 0:
        spans.append((start, len(text)))
    return spans


def is_eligible(word: str, language: str = "en") -> bool:
    """Alphabetic and not a stop word (English), or a non-stop Chinese character (zh)."""
    if language == "zh":
        return len(word) == 1 and _is_cjk(word) and word not in ZH_STOP_CHARS
    return word.isalpha() and word.lower() not in STOP_WORDS


def match_case(candidate: str, word: str) -> str:
    """``candidate`` with ``word``'s capitalisation: ALL CAPS stays all caps, Title stays title."""
    if len(word) > 1 and word.isupper():
        return candidate.upper()
    if word[:1].isupper() and candidate[:1].islower():
        return candidate[:1].upper() + candidate[1:]
    return candidate


@dataclass
class SentenceCandidates:
    """A sentence, its word spans and the candidates of each word (empty: the word is kept)."""

    text: str
    spans: list[tuple[int, int]]
    candidates: list[list[str]] = field(default_factory=list)

    def variants(self, N: int, p: float, rng: random.Random) -> list[str]:
        """Up to ``N`` distinct variants, each different from the sentence (at most ``3 * N`` draws)."""
        slots = [(i, c) for i, c in enumerate(self.candidates) if c]
        if not slots or N <= 0:
            return []
        seen = {self.text}
        out: list[str] = []
        for _ in range(3 * N):
            chosen: dict[int, str] = {}
            for i, cands in slots:
                pick = cands[rng.randrange(len(cands))]
                if rng.random() < p:
                    chosen[i] = pick
            if not chosen:
                continue
            parts: list[str] = []
            pos = 0
            for i in sorted(chosen):
                s, e = self.spans[i]
                parts.append(self.text[pos:s])
                parts.append(chosen[i])
                pos = e
            parts.append(self.text[pos:])
            variant = "".join(parts)
            if variant not in seen:
                seen.add(variant)
                out.append(variant)
                if len(out) >= N:
                    break
        return out


class Augmentor:
    """Candidates for every word of many sentences at once, and variants from them."""

    def __init__(self, mlm: MaskedLMCandidates, glove: Any | None, options: AugmentOptions) -> None:
        self.mlm = mlm
        self.glove = glove
        self.opt = options
        self.tok = mlm.tok

    def candidates(self, sentences: Sequence[str]) -> list[SentenceCandidates]:
        """Per-word candidates for each sentence (identical sentences are computed once)."""
        lang = self.opt.language
        unique = list(dict.fromkeys(sentences))
        result = {s: SentenceCandidates(s, split_words(s)) for s in unique}
        todo = [sc for sc in result.values() if sc.spans]
        for sc in result.values():
            sc.candidates = [[] for _ in sc.spans]
        if todo:
            enc = self.tok([[sc.text[a:b] for a, b in sc.spans] for sc in todo], is_split_into_words=True,
                           add_special_tokens=False)
        jobs: list[tuple[list[int], int]] = []
        owners: list[tuple[SentenceCandidates, int, str, int]] = []  # sentence, word index, word, own piece id
        glove_words: list[tuple[SentenceCandidates, int, str]] = []
        for n, sc in enumerate(todo):
            ids: list[int] = enc["input_ids"][n]
            pieces_of: dict[int, list[int]] = {}
            for k, w in enumerate(enc.word_ids(n)):
                if w is not None:
                    pieces_of.setdefault(w, []).append(k)
            for w, (a, b) in enumerate(sc.spans):
                word = sc.text[a:b]
                if not is_eligible(word, lang):
                    continue
                pieces = pieces_of.get(w, [])
                if len(pieces) == 1:
                    jobs.append((ids, pieces[0]))
                    owners.append((sc, w, word, ids[pieces[0]]))
                elif len(pieces) > 1 and lang == "en" and self.glove is not None:
                    glove_words.append((sc, w, word))
        if jobs:
            for (sc, w, word, own), top in zip(owners, self.mlm.top_ids(jobs)):
                sc.candidates[w] = _finish(self.mlm.words_from_ids(top, own), word)
        if glove_words:
            self.glove.prepare(word for _, _, word in glove_words)
            for sc, w, word in glove_words:
                sc.candidates[w] = _finish(self.glove.neighbours(word), word)
        return [result[s] for s in sentences]


def _finish(cands: Iterable[str], word: str) -> list[str]:
    """Cased like ``word``, without duplicates and without ``word`` itself."""
    low = word.lower()
    out = dict.fromkeys(c for c in (match_case(x, word) for x in cands) if c.lower() != low)
    return list(out)


def row_rng(seed: int, line: int) -> random.Random:
    """The RNG of one input row: a function of (seed, line number) only."""
    return random.Random(f"tinybert-augment:{seed}:{line}")


# ----------------------------------------------------------------------------------------------------- files


@dataclass
class FilePlan:
    """An input file cut into blocks of :data:`BLOCK_LINES` lines: the byte offset of each block's first line."""

    path: str
    offsets: list[int]
    num_lines: int
    block_lines: int = BLOCK_LINES


def plan_file(path: str, block_lines: int = BLOCK_LINES) -> FilePlan:
    """One pass over the file recording where each block starts (bounded memory: one int per block)."""
    offsets: list[int] = []
    pos = 0
    n = 0
    with open(path, "rb") as f:
        for line in f:
            if n % block_lines == 0:
                offsets.append(pos)
            pos += len(line)
            n += 1
    return FilePlan(path, offsets, n, block_lines)


def iter_block_lines(plan: FilePlan, first_block: int, end_block: int) -> Iterator[list[tuple[int, str]]]:
    """Blocks ``[first_block, end_block)`` as lists of ``(1-based line number, line without its newline)``."""
    if first_block >= end_block:
        return
    with open(plan.path, "rb") as f:
        f.seek(plan.offsets[first_block])
        line_no = first_block * plan.block_lines
        for _ in range(first_block, end_block):
            block: list[tuple[int, str]] = []
            for _ in range(plan.block_lines):
                raw = f.readline()
                if not raw:
                    break
                line_no += 1
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise UserError.at(plan.path, f"not UTF-8 text ({e.reason} at byte {e.start})",
                                       line=line_no) from None
                if line_no == 1:
                    text = text.removeprefix("\ufeff")
                block.append((line_no, text.rstrip("\r\n")))
            if block:
                yield block


@dataclass
class FileJob:
    """What to augment in a file: its text columns, whether line 1 is a header, the options."""

    path: str
    text_columns: tuple[int, ...]
    header_line: int | None  # the header's line number (copied, never augmented), None without a header
    options: AugmentOptions
    skip_malformed: bool = False  # copy rows with too few columns unchanged (QQP) instead of refusing them


def file_job(path: str, spec: Any | None, options: AugmentOptions, text_columns: Sequence[int | str] | None = None,
             header: bool = False) -> FileJob:
    """The :class:`FileJob` of a task's train file: the text columns (``text_columns``, else the task's; header
    names resolved against the first row) and whether the first row is a header (the task's layout; CLUE files are
    auto-detected; with ``text_columns`` and ``header`` the first row is one)."""
    from tinybert.data.tasks import is_header_row, iter_tsv

    first = next(iter_tsv(path), None)
    if first is None:
        raise UserError.at(path, "the training file is empty")
    header_line: int | None = None
    if spec is not None and not (text_columns and header):
        has_header = spec.train.header
        if has_header is None:  # CLUE files come with and without a header
            has_header = is_header_row(spec, first[1], "train")
        header_line = first[0] if has_header else None
    elif header:
        header_line = first[0]
    columns: list[int] = []
    for c in (text_columns or spec.text_columns):
        if isinstance(c, str):
            if header_line is None:
                raise UserError.of_field("text_columns", f"names {c!r} but the file has no header (set header or "
                                                         "give column indices)")
            names = [x.strip() for x in first[1]]
            if c not in names:
                raise UserError.at(path, f"no column named {c!r} in the header; columns: {', '.join(names)}",
                                   line=first[0])
            c = names.index(c)
        columns.append(c)
    return FileJob(path, tuple(dict.fromkeys(columns)), header_line, options,
                   skip_malformed=bool(spec is not None and spec.train.skip_malformed))


def check_output_file(output: str) -> None:
    """Refuse an output that is a folder or an existing read-only file (by its mode bits, so that a run as root does
    not replace a file nobody may write)."""
    import stat

    if os.path.isdir(output):
        raise UserError.of_field("output", f"{output} is a folder; expected a file name")
    if os.path.exists(output) and not os.stat(output).st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise UserError.of_field("output", f"{output} is a read-only file; give another output")


def augment_block(aug: Augmentor, job: FileJob, block: list[tuple[int, str]]) -> list[str]:
    """Output lines of one block: each row, then its variants (text column by text column)."""
    rows: list[tuple[int, list[str] | None, str]] = []
    need = max(job.text_columns) + 1
    sentences: list[str] = []
    for line_no, text in block:
        if line_no == job.header_line or not text.strip():
            rows.append((line_no, None, text))
            continue
        fields = text.split("\t")
        if len(fields) < need and job.skip_malformed:
            logger.warning("%s:%d: %d columns, expected at least %d; row copied without variants", job.path,
                           line_no, len(fields), need)
            rows.append((line_no, None, text))
            continue
        if len(fields) < need:
            raise UserError.at(job.path, f"expected at least {need} tab-separated columns (text in columns "
                                         f"{', '.join(map(str, job.text_columns))}), found {len(fields)}",
                               line=line_no)
        rows.append((line_no, fields, text))
        sentences.extend(fields[c] for c in job.text_columns)
    cands = iter(aug.candidates(sentences))
    opt = job.options
    out: list[str] = []
    for line_no, fields, text in rows:
        out.append(text)
        if fields is None:
            continue
        rng = row_rng(opt.seed, line_no)
        for c in job.text_columns:
            sc = next(cands)
            for variant in sc.variants(opt.N, opt.p, rng):
                new = list(fields)
                new[c] = variant
                out.append("\t".join(new))
    return out


@dataclass
class Resources:
    """Where the models come from (a worker process loads its own copies)."""

    model_path: str
    glove_path: str | None
    glove_limit: int | None = 100000
    do_lower_case: bool | None = None
    device: str = "cpu"
    threads: int | None = None
    bf16: bool = False  # the masked-LM encoder under bfloat16 autocast


def build_augmentor(res: Resources, options: AugmentOptions) -> Augmentor:
    """Load the masked-LM, its tokenizer and (English) the GloVe index."""
    import torch

    from tinybert.data.glove import GloveIndex
    from tinybert.models.masked_lm import MaskedLMCandidates, load_masked_lm
    from tinybert.models.tokenizer import load_tokenizer

    if res.threads:
        torch.set_num_threads(res.threads)
    tokenizer = load_tokenizer(res.model_path, res.do_lower_case)
    model = load_masked_lm(res.model_path)
    mlm = MaskedLMCandidates(model, tokenizer, options.M, options.max_seq_length, options.batch_size, res.device,
                             bf16=res.bf16)
    glove = None
    if options.language == "en" and res.glove_path:
        glove = GloveIndex.load(res.glove_path, options.M, res.glove_limit)
    return Augmentor(mlm, glove, options)


def _write_blocks(aug: Augmentor, job: FileJob, plan: FilePlan, first: int, end: int, out, progress=None) -> int:
    rows = 0
    for block in iter_block_lines(plan, first, end):
        lines = augment_block(aug, job, block)
        out.write("".join(line + "\n" for line in lines))
        rows += len(lines)
        if progress is not None:
            progress.update(len(block))
    return rows


def _worker(args: tuple[Resources, FileJob, FilePlan, int, int, str]) -> int:
    res, job, plan, first, end, part = args
    aug = build_augmentor(res, job.options)
    with open(part, "w", encoding="utf-8") as out:
        return _write_blocks(aug, job, plan, first, end, out)


def augment_file(res: Resources, job: FileJob, output: str, num_workers: int = 1,
                 augmentor: Augmentor | None = None, block_lines: int = BLOCK_LINES) -> int:
    """Augment ``job.path`` into ``output`` (written atomically); returns the number of rows written.

    ``num_workers > 1`` splits the blocks into contiguous chunks, one process each; the file is the same whatever
    the number of workers.
    """
    from tqdm.auto import tqdm

    from tinybert.utils.io import atomic_open

    require_file(job.path, "training file")
    if os.path.abspath(output) == os.path.abspath(job.path):
        raise UserError.at(output, "the output would overwrite the input; give another --output")
    plan = plan_file(job.path, block_lines)
    blocks = len(plan.offsets)
    workers = max(1, min(num_workers, blocks))
    if workers == 1:
        aug = augmentor or build_augmentor(res, job.options)
        bar = tqdm(total=plan.num_lines, unit="row", desc="augment", disable=None)
        with atomic_open(output, "w") as out, bar:
            return _write_blocks(aug, job, plan, 0, blocks, out, bar)
    import multiprocessing as mp
    import tempfile

    cuts = [blocks * w // workers for w in range(workers + 1)]
    threads = res.threads or max(1, (os.cpu_count() or 1) // workers)
    wres = Resources(**{**res.__dict__, "threads": threads})
    # fork skips re-importing torch/transformers per worker; it is safe for single-threaded CPU workers only
    # (an OpenMP pool or CUDA context does not survive a fork), so anything else spawns fresh interpreters.
    method = "fork" if threads == 1 and res.device == "cpu" and "fork" in mp.get_all_start_methods() else "spawn"
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{os.path.basename(output)}.", dir=directory) as tmp:
        parts = [os.path.join(tmp, f"part{w}.tsv") for w in range(workers)]
        tasks = [(wres, job, plan, cuts[w], cuts[w + 1], parts[w]) for w in range(workers)]
        with mp.get_context(method).Pool(workers) as pool:
            counts = pool.map(_worker, tasks, chunksize=1)
        with atomic_open(output, "w") as out:
            for part in parts:
                with open(part, encoding="utf-8") as f:
                    while chunk := f.read(1 << 20):
                        out.write(chunk)
    return sum(counts)
