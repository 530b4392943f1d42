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
from typing import Any

from tinybert.errors import UserError, require_dir, require_file

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
        if self.N < 0 or self.M < 1:
            raise UserError(f"--N must be >= 0 and --M >= 1, got N={self.N} M={self.M}")
        if not 0.0 <= self.p <= 1.0:
            raise UserError(f"--p must be within [0, 1], got {self.p}")
        if self.language not in ("en", "zh"):
            raise UserError(f"--language must be en or zh, got {self.language!r}")
        if self.max_seq_length < 5:
            raise UserError(f"--max_seq_length must be at least 5, got {self.max_seq_length}")
        if self.batch_size < 1:
            raise UserError(f"--batch_size must be positive, got {self.batch_size}")


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


# ----------------------------------------------------------------------------------------------------- models


def load_masked_lm(path: str | os.PathLike):
    """A BERT-family / NEZHA masked-LM from any folder the checkpoint module reads; no MLM head is a UserError."""
    from tinybert.models.checkpoint import load_model

    return load_model(require_dir(path, "masked-LM model folder"), head="mlm", require_head=True)


class MaskedLMCandidates:
    """Masked-LM candidates for single-piece words, computed in length-sorted padded batches."""

    def __init__(self, model: Any, tokenizer: Any, M: int, max_seq_length: int = 512, batch_size: int = 64,
                 device: str = "cpu") -> None:
        import torch

        vocab = len(tokenizer)
        if model.config.vocab_size != vocab:
            raise UserError(f"the masked-LM has a vocabulary of {model.config.vocab_size} tokens but its tokenizer "
                            f"(vocab.txt) has {vocab}; they must come from the same model")
        self.model = model.to(device).eval()
        self.tok = tokenizer
        self.M = M
        self.device = torch.device(device)
        self.batch_size = batch_size
        limit = getattr(model.config, "max_position_embeddings", None) or max_seq_length
        self.max_len = max(5, min(max_seq_length, limit))
        self.use_types = (getattr(model.config, "type_vocab_size", 2) or 0) >= 2
        self.cls_id, self.sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
        self.mask_id, self.pad_id = tokenizer.mask_token_id, tokenizer.pad_token_id or 0
        id_to_tok = tokenizer.convert_ids_to_tokens(list(range(vocab)))
        special = set(tokenizer.all_special_ids)
        # usable[i]: the token text if id i may be a candidate, else None
        self.usable: list[str | None] = [
            None if (i in special or t.startswith("##") or (t.startswith("[") and t.endswith("]"))) else t
            for i, t in enumerate(id_to_tok)
        ]
        base = getattr(model, getattr(model, "base_model_prefix", ""), None)
        head = getattr(getattr(model, "cls", None), "predictions", None)
        self._split = (base, head) if base is not None and head is not None else None
        self._bert_fast = self._split is not None and self._check_bert_fast()

    def build_input(self, ids: Sequence[int], k: int) -> tuple[list[int], list[int], int]:
        """Input ids, token types and mask position for masking piece ``k`` of a sentence's pieces ``ids``.

        ``[CLS] ids-with-k-masked [SEP] ids [SEP]``; when that exceeds the model's length both copies are cut to the
        same window of pieces around ``k``.
        """
        n = len(ids)
        if 2 * n + 3 > self.max_len:
            w = (self.max_len - 3) // 2
            start = min(max(0, k - w // 2), n - w)
            ids = ids[start:start + w]
            k -= start
            n = w
        masked = list(ids)
        masked[k] = self.mask_id
        input_ids = [self.cls_id, *masked, self.sep_id, *ids, self.sep_id]
        types = [0] * (n + 2) + [1] * (n + 1)
        return input_ids, types, k + 1

    def top_ids(self, jobs: Sequence[tuple[Sequence[int], int]]) -> list[list[int]]:
        """Top-``M`` vocabulary ids at the mask for each ``(sentence piece ids, piece index)`` job, in job order."""
        import torch

        built = [self.build_input(ids, k) for ids, k in jobs]
        order = sorted(range(len(built)), key=lambda j: len(built[j][0]))
        out: list[list[int]] = [[] for _ in built]
        batches: list[list[int]] = [[]]
        budget = self.batch_size * 128  # tokens per forward: long inputs go in smaller batches
        for j in order:  # ascending length, so the last one added sets the width
            if batches[-1] and (len(batches[-1]) >= self.batch_size
                                or (len(batches[-1]) + 1) * len(built[j][0]) > budget):
                batches.append([])
            batches[-1].append(j)
        for idx in batches:
            if not idx:
                continue
            width = max(len(built[j][0]) for j in idx)
            input_ids = torch.full((len(idx), width), self.pad_id, dtype=torch.long)
            types = torch.zeros((len(idx), width), dtype=torch.long)
            attn = torch.zeros((len(idx), width), dtype=torch.long)
            pos = torch.empty(len(idx), dtype=torch.long)
            for r, j in enumerate(idx):
                ids, tt, m = built[j]
                input_ids[r, : len(ids)] = torch.tensor(ids)
                types[r, : len(tt)] = torch.tensor(tt)
                attn[r, : len(ids)] = 1
                pos[r] = m
            for r, row in enumerate(self._forward(input_ids, types, attn, pos).tolist()):
                out[idx[r]] = row
        return out

    def _forward(self, input_ids, types, attn, pos):
        import torch

        kwargs = {"input_ids": input_ids.to(self.device), "attention_mask": attn.to(self.device)}
        if self.use_types:
            kwargs["token_type_ids"] = types.to(self.device)
        rows = torch.arange(len(pos), device=self.device)
        pos = pos.to(self.device)
        with torch.inference_mode():
            logits = self._masked_logits(kwargs, rows, pos, self._bert_fast)
            return logits.topk(min(self.M, logits.shape[-1]), dim=-1).indices.cpu()

    def _masked_logits(self, kwargs: dict, rows, pos, fast: bool):
        """Vocabulary logits at the masked positions only (the projection is never applied elsewhere)."""
        if self._split is None:
            return self.model(**kwargs).logits[rows, pos]
        base, head = self._split
        if fast:
            return head(self._bert_masked_hidden(base, kwargs, rows, pos))
        return head(base(**kwargs).last_hidden_state[rows, pos])

    @staticmethod
    def _bert_masked_hidden(base, kwargs: dict, rows, pos):
        """BERT's last hidden state at the masked positions, the last layer computed for those positions only.

        Layers before the last run in full; the last layer needs keys and values of every position but queries,
        attention output, feed-forward and LayerNorms only at the mask: about 1/6 of that layer's work.
        """
        import torch
        import torch.nn.functional as F

        h = base.embeddings(input_ids=kwargs["input_ids"], token_type_ids=kwargs.get("token_type_ids"))
        mask = (1.0 - kwargs["attention_mask"][:, None, None, :].to(h.dtype)) * torch.finfo(h.dtype).min
        layers = base.encoder.layer
        for layer in layers[:-1]:
            h = layer(h, mask)
            h = h[0] if isinstance(h, tuple) else h
        last = layers[-1]
        sa = last.attention.self
        b, t, _ = h.shape
        heads, d = sa.num_attention_heads, sa.attention_head_size
        x = h[rows, pos]
        q = sa.query(x).view(b, heads, 1, d)
        k = sa.key(h).view(b, t, heads, d).transpose(1, 2)
        v = sa.value(h).view(b, t, heads, d).transpose(1, 2)
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=d**-0.5).reshape(b, heads * d)
        a = last.attention.output(ctx, x)
        return last.output(last.intermediate(a), a)

    def _check_bert_fast(self) -> bool:
        """Use the last-layer shortcut only for plain BERT encoders, and only if it reproduces the full forward."""
        import torch

        base, _ = self._split  # type: ignore[misc]
        cfg = self.model.config
        if type(base).__name__ != "BertModel" or getattr(cfg, "is_decoder", False):
            return False
        g = torch.Generator().manual_seed(0)
        ids = torch.randint(0, cfg.vocab_size, (3, 9), generator=g).to(self.device)
        attn = torch.ones_like(ids)
        attn[1, 6:] = 0
        kwargs = {"input_ids": ids, "attention_mask": attn}
        if self.use_types:
            kwargs["token_type_ids"] = torch.zeros_like(ids)
        rows = torch.arange(3, device=self.device)
        pos = torch.tensor([1, 4, 8], device=self.device)
        try:
            with torch.inference_mode():
                full = self._masked_logits(kwargs, rows, pos, False)
                fast = self._masked_logits(kwargs, rows, pos, True)
        except Exception as e:  # noqa: BLE001 - an unexpected BERT variant: fall back to the full forward
            logger.debug("last-layer shortcut unavailable: %s", e)
            return False
        ok = torch.allclose(full, fast, atol=1e-4, rtol=1e-4)
        if not ok:
            logger.debug("last-layer shortcut disagrees with the full forward; not used")
        return ok

    def words_from_ids(self, top: Sequence[int], own_id: int) -> list[str]:
        """Candidate words from top ids: continuation pieces, special tokens and the word itself dropped."""
        return [t for i in top if i != own_id and (t := self.usable[i]) is not None]


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


def build_augmentor(res: Resources, options: AugmentOptions) -> Augmentor:
    """Load the masked-LM, its tokenizer and (English) the GloVe index."""
    import torch

    from tinybert.data.glove import GloveIndex
    from tinybert.models.tokenizer import load_tokenizer

    if res.threads:
        torch.set_num_threads(res.threads)
    tokenizer = load_tokenizer(res.model_path, res.do_lower_case)
    model = load_masked_lm(res.model_path)
    mlm = MaskedLMCandidates(model, tokenizer, options.M, options.max_seq_length, options.batch_size, res.device)
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
