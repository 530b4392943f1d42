"""GloVe / word2vec vectors and their nearest neighbours, for augmentation's multi-piece words.

:func:`load_vectors` reads, through gensim :class:`~gensim.models.KeyedVectors`, the standard GloVe text format (with
or without a word2vec ``count dim`` header line), word2vec binary, and gensim's native ``KeyedVectors.save`` format
(which is pickle-based: load only files you made or trust). ``limit`` keeps the first rows (GloVe files are sorted by
frequency; the original kept 100000).

:class:`GloveIndex` holds the vectors normalised once (float32) and answers neighbour queries for a batch of words
with one matrix product and a top-k, caching the answer per word.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence

import numpy as np

from tinybert.errors import UserError, require_file

logger = logging.getLogger(__name__)

_PICKLE_MAGIC = b"\x80"


def _parse_header(line: bytes) -> tuple[int, int] | None:
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _looks_like_text(path: str, header: tuple[int, int] | None) -> bool:
    """True when the rows after an optional header are text (``word f1 f2 ...``), False for word2vec binary."""
    with open(path, "rb") as f:
        if header is not None:
            f.readline()
        chunk = f.read(4096)
    if not chunk:
        return True
    line = chunk.split(b"\n", 1)[0]
    try:
        fields = line.decode("utf-8").split()
        [float(x) for x in fields[1:]]
    except (UnicodeDecodeError, ValueError):
        return False
    return len(fields) > 1


def _read_text(path: str, limit: int | None) -> tuple[list[str], np.ndarray]:
    """Parse a text vector file; every row must have the same dimension (the header's, else the first row's)."""
    words: list[str] = []
    rows: list[np.ndarray] = []
    dim: int | None = None
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                fields = line.rstrip("\r\n").rstrip(" ").split(" ")
                if n == 1:
                    head = _parse_header(line.encode())
                    if head is not None:
                        dim = head[1]
                        continue
                if len(fields) == 1 and not fields[0].strip():
                    continue  # blank line
                if dim is None:
                    dim = len(fields) - 1
                    if dim < 1:
                        raise UserError.at(path, "expected a word followed by its vector components", line=n)
                extra = len(fields) - 1 - dim
                if extra < 0:
                    raise UserError.at(path, f"vector of dimension {len(fields) - 1}, expected {dim} (as the rows "
                                             f"before it)", line=n)
                if extra > 0 and _all_floats(fields[1:extra + 1]):
                    raise UserError.at(path, f"vector of dimension {len(fields) - 1}, expected {dim} (as the rows "
                                             f"before it)", line=n)
                word = " ".join(fields[: extra + 1])  # glove.840B has a few words containing spaces
                try:
                    vec = np.array(fields[extra + 1:], dtype=np.float32)
                except ValueError:
                    raise UserError.at(path, "vector components must be numbers", line=n) from None
                words.append(word)
                rows.append(vec)
                if limit is not None and len(words) >= limit:
                    break
    except UnicodeDecodeError as e:
        raise UserError.at(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    if not words:
        raise UserError.at(path, "no word vectors in the file; expected lines of 'word v1 v2 ...'")
    return words, np.stack(rows)


def _all_floats(fields: Sequence[str]) -> bool:
    try:
        [float(x) for x in fields]
    except ValueError:
        return False
    return True


def load_vectors(path: str | os.PathLike, limit: int | None = 100000):
    """Load word vectors as a gensim ``KeyedVectors`` (text with/without header, word2vec binary, gensim native)."""
    from gensim.models import KeyedVectors

    path = require_file(path, "word vectors file")
    if os.path.getsize(path) == 0:
        raise UserError.at(path, "empty word vectors file; expected GloVe text, word2vec or gensim KeyedVectors")
    if limit is not None and limit < 1:
        raise UserError(f"--glove_limit must be positive, got {limit}")
    with open(path, "rb") as f:
        first = f.readline()
    if first.startswith(_PICKLE_MAGIC):
        try:
            kv = KeyedVectors.load(path, mmap="r")
        except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad file
            raise UserError.at(path, f"not a gensim KeyedVectors file ({type(e).__name__}: {e})") from None
        if not isinstance(kv, KeyedVectors):
            raise UserError.at(path, f"expected gensim KeyedVectors, found {type(kv).__name__}")
        if len(kv) == 0:
            raise UserError.at(path, "no word vectors in the file")
        if limit is not None and len(kv) > limit:
            small = KeyedVectors(kv.vector_size, dtype=np.float32)
            small.add_vectors(kv.index_to_key[:limit], np.asarray(kv.vectors[:limit], dtype=np.float32))
            kv = small
        return kv
    header = _parse_header(first)
    if _looks_like_text(path, header):
        words, vectors = _read_text(path, limit)
        kv = KeyedVectors(vectors.shape[1], dtype=np.float32)
        kv.add_vectors(words, vectors)
        return kv
    if header is None:
        raise UserError.at(path, "not GloVe text, word2vec (text or binary) or gensim KeyedVectors", line=1)
    try:
        return KeyedVectors.load_word2vec_format(path, binary=True, limit=limit, unicode_errors="replace")
    except (ValueError, EOFError, UnicodeDecodeError) as e:
        raise UserError.at(path, f"malformed word2vec binary file ({e})") from None


class GloveIndex:
    """Nearest neighbours by cosine similarity over vectors normalised once; answers cached per word."""

    CACHE_LIMIT = 1_000_000

    def __init__(self, words: Sequence[str], vectors: np.ndarray, M: int) -> None:
        import torch

        v = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
        norms = v.norm(dim=1, keepdim=True)
        self.vectors = v / norms.clamp_min(1e-12)  # zero vectors stay zero (similar to nothing)
        self.words = list(words)
        self.index = {w: i for i, w in enumerate(self.words)}
        self.M = M
        self._cache: dict[str, list[str]] = {}

    @classmethod
    def from_keyed_vectors(cls, kv, M: int) -> GloveIndex:
        return cls(kv.index_to_key, np.asarray(kv.vectors), M)

    @classmethod
    def load(cls, path: str | os.PathLike, M: int, limit: int | None = 100000) -> GloveIndex:
        return cls.from_keyed_vectors(load_vectors(path, limit), M)

    def key(self, word: str) -> str | None:
        """The vocabulary entry for ``word``: itself, else its lowercase form (GloVe 6B is lowercase), else None."""
        if word in self.index:
            return word
        low = word.lower()
        return low if low in self.index else None

    def prepare(self, words: Iterable[str]) -> None:
        """Compute (one matrix product + top-k) and cache the neighbours of every not yet cached word."""
        import torch

        todo = list(dict.fromkeys(w for w in words if w not in self._cache))
        if len(self._cache) + len(todo) > self.CACHE_LIMIT:  # bounded memory on endless streams of new words
            self._cache.clear()
        keyed = [(w, self.key(w)) for w in todo]
        for w, k in keyed:
            if k is None:
                self._cache[w] = []
        keyed = [(w, k) for w, k in keyed if k is not None]
        k_top = min(self.M + 1, len(self.words))
        for start in range(0, len(keyed), 32):  # 32 x vocabulary similarities at a time
            part = keyed[start:start + 32]
            ids = torch.tensor([self.index[k] for _, k in part])
            with torch.inference_mode():
                sims = self.vectors[ids] @ self.vectors.T
                sims[torch.arange(len(part)), ids] = float("-inf")  # the word itself is never its own neighbour
                top = sims.topk(k_top, dim=1).indices.tolist()
            for (w, _), row in zip(part, top):
                self._cache[w] = [self.words[j] for j in row[: self.M]]

    def neighbours(self, word: str) -> list[str]:
        """The ``M`` nearest words to ``word`` (most similar first), excluding itself; [] when not in the vocabulary."""
        if word not in self._cache:
            self.prepare([word])
        return self._cache[word]
