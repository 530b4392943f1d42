"""Checkpoint formats: the only door in and out for model weights.

Reads four kinds of model folder and always writes one:

- ``hf``: a Hugging Face folder (``config.json`` with a ``model_type`` other than ``nezha``, ``model.safetensors``,
  a sharded ``model.safetensors.index.json``, or ``pytorch_model.bin``).
- ``hf_nezha``: the same with ``model_type`` ``"nezha"`` (transformers 4.x NEZHA, keys ``nezha.*``).
- ``tinybert_original``: an original TinyBERT folder (``config.json`` or ``bert_config.json`` without ``model_type``,
  ``pytorch_model.bin``, ``vocab.txt``; keys ``bert.*``, maybe ``gamma``/``beta`` LayerNorm names, ``fit_dense.*`` or
  ``fit_denses.N.*`` projections, ``classifier.*`` for task students).
- ``nezha_pytorch``: a NEZHA-PyTorch release folder (``bert_config.json`` with ``max_relative_position`` /
  ``use_relative_position``, keys ``bert.*``, no position embeddings).

Key mapping (any format into a transformers model): a leading ``module.`` is dropped; a last name component ``gamma``
becomes ``weight`` and ``beta`` becomes ``bias``; a leading ``bert.`` or ``nezha.`` becomes the model's own base
prefix, and base keys stored without a prefix (``embeddings.*``, ``encoder.*``, ``pooler.*``) get it; ``fit_dense.*``
and ``fit_denses.*`` are kept apart (see :func:`load_extra_tensors`); stored buffers the model does not have
(``position_ids``, ``token_type_ids``, NEZHA ``positions_encoding`` tables) are dropped; a tied copy (e.g.
``cls.predictions.decoder.weight``) is dropped when its source is stored. Written folders are always ``hf`` /
``hf_nezha`` with safetensors, and load in plain transformers, silently: a student's projections go to a separate
``projections.safetensors`` that transformers never opens (folders written before keep them inside
``model.safetensors`` and are read as before).

``.bin`` files are read only with ``torch.load(..., weights_only=True)``; nothing is ever unpickled otherwise. A
``.bin`` whose pickle names Python callables beyond tensors (it would run code if unpickled) is refused with the
global it names; nothing in it is executed.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tinybert.errors import UserError, require_dir
from tinybert.models.tokenizer import VOCAB_NAME, read_vocab
from tinybert.utils.io import read_json

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from transformers import PretrainedConfig, PreTrainedModel

logger = logging.getLogger(__name__)


class CheckpointFormat(enum.StrEnum):
    """The kinds of model folder :func:`load_model` reads (compare equal to their names, e.g. ``"hf"``)."""

    HF = "hf"
    HF_NEZHA = "hf_nezha"
    TINYBERT_ORIGINAL = "tinybert_original"
    NEZHA_PYTORCH = "nezha_pytorch"


# head name -> class-name suffix (BertForX / NezhaForX / AutoModelForX)
HEADS: dict[str, str] = {
    "base": "Model",
    "pretraining": "ForPreTraining",
    "mlm": "ForMaskedLM",
    "sequence_classification": "ForSequenceClassification",
    "token_classification": "ForTokenClassification",
    "question_answering": "ForQuestionAnswering",
}
EXTRA_PREFIXES: tuple[str, ...] = ("fit_dense.", "fit_denses.")
CONFIG_NAMES = ("config.json", "bert_config.json")
SAFETENSORS_NAME = "model.safetensors"
PROJECTIONS_NAME = "projections.safetensors"  # a student's fit_dense* tensors, beside the model's own weights
SAFETENSORS_INDEX = "model.safetensors.index.json"
BIN_NAME = "pytorch_model.bin"
BIN_INDEX = "pytorch_model.bin.index.json"
_BASE_FIRST = ("embeddings", "encoder", "pooler")  # first key component of a base model's own keys
_SOURCE_PREFIXES = ("bert", "nezha")
_DROPPABLE_BUFFERS = ("position_ids", "token_type_ids", "positions_encoding", "embeddings_table")
_SAFETENSORS_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64", "I32": "int32",
    "I16": "int16", "I8": "int8", "U8": "uint8", "BOOL": "bool", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2",
}
_REQUIRED_LEGACY_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads")


@dataclass
class _Folder:
    path: str
    format: CheckpointFormat
    config_path: str
    config: dict[str, Any]
    weight_files: list[str]


# ----------------------------------------------------------------------------------------------- reading folders


def position_limit(config) -> int | None:
    """The longest input a model takes: ``max_position_embeddings``, or None for NEZHA (relative positions only)."""
    if getattr(config, "model_type", None) == "nezha":
        return None
    limit = getattr(config, "max_position_embeddings", None)
    return int(limit) if limit is not None else None


def check_sequence_length(max_seq_length: int, config, path: str | os.PathLike | None = None,
                          who: str = "the model") -> None:
    """Refuse ``max_seq_length`` beyond the positions of a model (``who``: "the teacher", ...) before any work:
    longer inputs would fail deep inside its embeddings. NEZHA (relative positions only) takes any length."""
    limit = position_limit(config)
    if limit is not None and max_seq_length > limit:
        raise UserError.of_field("max_seq_length", f"{max_seq_length} exceeds {who}'s max_position_embeddings {limit}",
                                 path=path)


def check_shared_vocabulary(teacher: str | os.PathLike, student: str | os.PathLike,
                            student_field: str = "student_model") -> None:
    """Teacher and student must share one vocabulary. When both folders carry a ``vocab.txt``, compare their tokens
    (the same size is not enough: the same id would mean another token) and name the first line that differs."""
    teacher_vocab, student_vocab = (os.path.join(os.fspath(p), VOCAB_NAME) for p in (teacher, student))
    if not (os.path.isfile(teacher_vocab) and os.path.isfile(student_vocab)):
        return
    teacher_tokens, student_tokens = read_vocab(teacher_vocab), read_vocab(student_vocab)
    if teacher_tokens == student_tokens:
        return
    if len(teacher_tokens) != len(student_tokens):
        what = f"has {len(student_tokens)} tokens, the teacher's {teacher_vocab} {len(teacher_tokens)}"
    else:
        line = next(number for number, (ours, theirs) in enumerate(zip(student_tokens, teacher_tokens, strict=True), 1)
                    if ours != theirs)
        what = (f"has the size of the teacher's {teacher_vocab} but differs at line {line} "
                f"({student_tokens[line - 1]!r} vs {teacher_tokens[line - 1]!r})")
    raise UserError(f"{student_vocab}: {what}; teacher and student must share one vocabulary (same tokens in the same "
                    f"order): give a {student_field} built with the teacher's vocab.txt", field=student_field)


def find_config(path: str) -> str | None:
    """The config file of a model folder (``config.json`` or ``bert_config.json``), or None."""
    return next((os.path.join(path, n) for n in CONFIG_NAMES if os.path.isfile(os.path.join(path, n))), None)


def find_weight_files(path: str, required: bool = True) -> list[str]:
    """The weight files of a folder (one file, or the shards an index names), then ``projections.safetensors`` when
    the folder has one; ``[]`` for none unless ``required``."""
    files = _model_weight_files(path, required)
    projections = os.path.join(path, PROJECTIONS_NAME)
    return files + [projections] if files and os.path.isfile(projections) else files


def _model_weight_files(path: str, required: bool) -> list[str]:
    for name in (SAFETENSORS_NAME, BIN_NAME):
        fp = os.path.join(path, name)
        if os.path.isfile(fp):
            return [fp]
    for name in (SAFETENSORS_INDEX, BIN_INDEX):
        fp = os.path.join(path, name)
        if os.path.isfile(fp):
            weight_map = read_json(fp).get("weight_map")
            if not isinstance(weight_map, dict) or not weight_map:
                raise UserError.at(fp, "expected a 'weight_map' object naming the shard of every tensor")
            shards = sorted({os.path.join(path, str(v)) for v in weight_map.values()})
            for shard in shards:
                if not os.path.isfile(shard):
                    raise UserError.at(shard, f"shard named in {name} not found")
            return shards
    if not required:
        return []
    raise UserError.at(
        path, f"no model weights found; expected {SAFETENSORS_NAME}, {SAFETENSORS_INDEX}, {BIN_NAME} or {BIN_INDEX}"
    )


def _inspect(path: str | os.PathLike) -> _Folder:
    path = os.fspath(path)
    if os.path.isfile(path):
        raise UserError.at(path, "expected a model folder (config.json + weights), found a file")
    path = require_dir(path, "model folder")
    config_path = find_config(path)
    if config_path is None:
        raise UserError.at(
            path,
            "no config.json or bert_config.json; expected a Hugging Face, original TinyBERT or NEZHA-PyTorch folder",
        )
    config = read_json(config_path)
    model_type = config.get("model_type")
    if model_type == "nezha":
        fmt = CheckpointFormat.HF_NEZHA
    elif model_type:
        fmt = CheckpointFormat.HF
    elif "max_relative_position" in config or "use_relative_position" in config:
        fmt = CheckpointFormat.NEZHA_PYTORCH
    elif "hidden_size" in config and "num_attention_heads" in config:
        fmt = CheckpointFormat.TINYBERT_ORIGINAL
    else:
        raise UserError.at(
            config_path,
            "unknown checkpoint format: no 'model_type' and no BERT fields (hidden_size, num_attention_heads); "
            "expected a Hugging Face, original TinyBERT or NEZHA-PyTorch config",
        )
    return _Folder(path, fmt, config_path, config, find_weight_files(path))


def detect_format(path: str | os.PathLike) -> CheckpointFormat:
    """Which kind of model folder ``path`` is (decided from its config file; weights must be present)."""
    return _inspect(path).format


# what a weights-only pickle may name: torch's tensor/storage rebuilders and a few plain containers
_SAFE_GLOBAL_MODULES = ("torch", "collections", "numpy.core.multiarray", "numpy._core.multiarray", "numpy", "_codecs")


def _pickle_streams(path: str) -> list[bytes]:
    """The pickles of a ``.bin``: ``*/data.pkl`` of a zip (torch >= 1.6), else the start of the legacy file."""
    import zipfile

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return [archive.read(name) for name in archive.namelist() if name.endswith(".pkl")]
    with open(path, "rb") as f:
        return [f.read(16 << 20)]  # the legacy format's pickles come first; the raw storages follow


def pickle_globals(path: str) -> list[str]:
    """The ``module.name`` globals the pickles of ``path`` would import, read with :mod:`pickletools` (which only
    parses opcodes: nothing is imported or executed). Unreadable parts are skipped."""
    import io
    import pickletools

    found: list[str] = []
    for stream in _pickle_streams(path):
        buffer = io.BytesIO(stream)
        for _ in range(8):  # the legacy format is several pickles in a row
            strings: list[str] = []  # the strings pushed so far (STACK_GLOBAL takes module and name from them)
            memo: dict[int, str | None] = {}
            top: str | None = None  # the string the previous opcode pushed, if it pushed one
            try:
                for opcode, arg, _pos in pickletools.genops(buffer):
                    name, pushed = opcode.name, None
                    if name == "GLOBAL":
                        found.append(str(arg).replace(" ", "."))
                    elif name == "STACK_GLOBAL" and len(strings) >= 2:
                        found.append(f"{strings[-2]}.{strings[-1]}")
                    elif isinstance(arg, str) and ("UNICODE" in name or name.endswith("STRING")):
                        pushed = arg
                    elif name == "MEMOIZE":
                        memo[len(memo)] = top
                        pushed = top  # memoizing leaves the stack as it was
                    elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                        memo[int(arg)] = top
                        pushed = top
                    elif name in ("BINGET", "LONG_BINGET", "GET"):
                        pushed = memo.get(int(arg))
                    if pushed is not None and name not in ("MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT"):
                        strings.append(pushed)
                    top = pushed
            except Exception:  # not (or no longer) a pickle: what was read so far counts
                break
            if buffer.tell() >= len(stream):
                break
    return list(dict.fromkeys(found))


def _unsafe_globals(path: str) -> list[str]:
    try:
        names = pickle_globals(path)
    except OSError:
        return []
    return [n for n in names if not n.startswith(tuple(f"{m}." for m in _SAFE_GLOBAL_MODULES))
            and n not in ("builtins.set", "builtins.frozenset", "builtins.slice", "builtins.bytearray")]


def _refused_pickle(path: str, unsafe: list[str]) -> UserError:
    return UserError.at(
        path, f"refused: the file holds pickled Python objects beyond tensors (it names {', '.join(unsafe[:3])}), "
              "which would run code when unpickled; nothing in it was executed. If you trust where it came from, "
              "convert it once in Python: sd = torch.load(FILE, weights_only=False); "
              "safetensors.torch.save_file({k: v.contiguous() for k, v in sd.items()}, 'model.safetensors') in "
              "the folder (then remove the .bin)")


def _load_bin(path: str) -> dict[str, torch.Tensor]:
    import pickle
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # torch's notes about pickle protocols are not the user's business
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        unsafe = _unsafe_globals(path)
        if unsafe:
            raise _refused_pickle(path, unsafe) from None
        text = str(e)
        detail = text.split("WeightsUnpickler error:", 1)[-1].strip().splitlines()[0] if text.strip() else ""
        if "global" in detail.lower() or "reduce" in detail.lower():
            raise _refused_pickle(path, [detail[:120]]) from None
        raise UserError.at(path, f"corrupted or not a PyTorch weights file ({detail[:160]})") from None
    except Exception as e:  # torch.load on garbage raises RuntimeError, EOFError, KeyError, ValueError, ...
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError.at(path, f"corrupted or unreadable PyTorch weights file ({type(e).__name__}: "
                                 f"{msg[:200]})") from None
    if isinstance(obj, Mapping):
        for wrapper in ("state_dict", "model"):
            inner = obj.get(wrapper)
            if isinstance(inner, Mapping) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
                obj = inner
                break
    if not isinstance(obj, Mapping):
        raise UserError.at(path, f"expected a state dict (name -> tensor), found {type(obj).__name__}")
    tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise UserError.at(path, "expected a state dict (name -> tensor), found no tensors")
    return tensors


def _load_safetensors(path: str, prefixes: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
    from safetensors import safe_open

    try:
        out = {}
        with safe_open(path, framework="pt", device="cpu") as f:
            for key in f.keys():
                if prefixes is None or key.startswith(prefixes):
                    out[key] = f.get_tensor(key)
        return out
    except Exception as e:  # safetensors raises its own error type (and OSError) for truncated/garbled files
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError.at(path, f"corrupted or unreadable safetensors file ({msg[:200]})") from None


def _read_tensors(files: Iterable[str], prefixes: tuple[str, ...] | None = None) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for fp in files:
        if fp.endswith(".safetensors"):
            out.update(_load_safetensors(fp, prefixes))
        else:
            part = _load_bin(fp)
            out.update(part if prefixes is None else {k: v for k, v in part.items() if k.startswith(prefixes)})
    return out


def _read_shapes(files: Iterable[str]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Shape and dtype name of every stored tensor (safetensors: from the header only)."""
    from safetensors import safe_open

    out: dict[str, tuple[tuple[int, ...], str]] = {}
    for fp in files:
        if fp.endswith(".safetensors"):
            try:
                with safe_open(fp, framework="pt", device="cpu") as f:
                    for key in f.keys():
                        sl = f.get_slice(key)
                        dt = str(sl.get_dtype())
                        out[key] = (tuple(sl.get_shape()), _SAFETENSORS_DTYPES.get(dt, dt.lower()))
            except Exception as e:
                msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise UserError.at(fp, f"corrupted or unreadable safetensors file ({msg[:200]})") from None
        else:
            for key, t in _load_bin(fp).items():
                out[key] = (tuple(t.shape), str(t.dtype).replace("torch.", ""))
    return out


def tensor_bytes(files: Iterable[str]) -> tuple[int, int, int]:
    """``(model tensor bytes, extra tensor bytes, extra parameters)`` of a folder's weight files, the extra tensors
    being the projections (:data:`EXTRA_PREFIXES`); safetensors sizes come from the header only."""
    import torch

    model = extra = extra_params = 0
    for key, (shape, dtype) in _read_shapes(files).items():
        numel = _numel(shape)
        nbytes = numel * getattr(torch, dtype).itemsize
        if _is_extra(key):
            extra += nbytes
            extra_params += numel
        else:
            model += nbytes
    return model, extra, extra_params


# ------------------------------------------------------------------------------------------------ key mapping


def _canonical_key(key: str, prefix: str) -> str:
    """Map one stored key into the "full" namespace of a ``{prefix}.*`` model (see the module docstring)."""
    if key.startswith("module."):
        key = key[len("module.") :]
    parts = key.split(".")
    if parts[-1] == "gamma":
        parts[-1] = "weight"
    elif parts[-1] == "beta":
        parts[-1] = "bias"
    if parts[0] in _SOURCE_PREFIXES:
        parts[0] = prefix
    elif parts[0] in _BASE_FIRST:
        parts.insert(0, prefix)
    return ".".join(parts)


def _is_extra(key: str, prefixes: tuple[str, ...] = EXTRA_PREFIXES) -> bool:
    return key.startswith(prefixes)


def _is_droppable_buffer(key: str) -> bool:
    parts = key.split(".")
    return parts[-1] in _DROPPABLE_BUFFERS or any("relative_positions" in p for p in parts[:-1])


def _detect_head(keys: Iterable[str], config: Mapping[str, Any]) -> str:
    keys = list(keys)
    has = lambda prefix: any(key.startswith(prefix) for key in keys)  # noqa: E731
    if has("cls.predictions."):
        return "pretraining" if has("cls.seq_relationship.") else "mlm"
    if has("qa_outputs."):
        return "question_answering"
    if has("classifier."):
        archs = " ".join(config.get("architectures") or [])
        return "token_classification" if "TokenClassification" in archs else "sequence_classification"
    return "base"


def _family(fmt: CheckpointFormat) -> str:
    return "nezha" if fmt in (CheckpointFormat.HF_NEZHA, CheckpointFormat.NEZHA_PYTORCH) else "bert"


def _config_class(folder: _Folder) -> type[PretrainedConfig]:
    if _family(folder.format) == "nezha":
        from tinybert.models.nezha import NezhaConfig

        return NezhaConfig
    model_type = folder.config.get("model_type")
    if model_type:
        from transformers import CONFIG_MAPPING

        try:
            return CONFIG_MAPPING[model_type]
        except KeyError:
            raise UserError.at(folder.config_path, f"unknown model_type {model_type!r}") from None
    from transformers import BertConfig

    return BertConfig


def _word_embedding_key(keys: Iterable[str]) -> str | None:
    return next((k for k in keys if k.endswith("embeddings.word_embeddings.weight")), None)


def _validate_config(folder: _Folder) -> None:
    cfg, where = folder.config, folder.config_path
    if folder.format in (CheckpointFormat.TINYBERT_ORIGINAL, CheckpointFormat.NEZHA_PYTORCH):
        for field in _REQUIRED_LEGACY_FIELDS:
            if field not in cfg:
                fields = ", ".join(_REQUIRED_LEGACY_FIELDS)
                raise UserError.at(where, f"missing {field!r}; expected a BERT config with {fields}")
    for field in _REQUIRED_LEGACY_FIELDS + ("intermediate_size",):
        if field in cfg and (not isinstance(cfg[field], int) or isinstance(cfg[field], bool) or cfg[field] <= 0):
            raise UserError.at(where, f"{field} must be a positive integer, found {cfg[field]!r}")
    hidden, heads = cfg.get("hidden_size"), cfg.get("num_attention_heads")
    if isinstance(hidden, int) and isinstance(heads, int) and hidden % heads:
        raise UserError.at(
            where, f"hidden_size {hidden} is not divisible by num_attention_heads {heads}; expected a multiple"
        )


def _validate_vocab(folder: _Folder, shapes: Mapping[str, tuple[tuple[int, ...], str]]) -> int | None:
    """Check ``vocab.txt`` (if present) against the word-embedding rows; return the vocabulary size."""
    vocab_file = os.path.join(folder.path, VOCAB_NAME)
    if not os.path.isfile(vocab_file):
        return None
    num_tokens = len(read_vocab(vocab_file))
    key = _word_embedding_key(shapes)
    if key is not None:
        rows = shapes[key][0][0]
        files = ", ".join(os.path.basename(f) for f in folder.weight_files)
        if rows != num_tokens:
            raise UserError.at(vocab_file, f"has {num_tokens} tokens but the word-embedding matrix {key} in {files} "
                                           f"has {rows} rows; expected equal")
    return num_tokens


def _build_config(
    folder: _Folder,
    head: str,
    keys_shapes: Mapping[str, tuple[int, ...]],
    num_labels: int | None,
    id2label: Mapping[Any, str] | None,
    label2id: Mapping[str, int] | None,
) -> PretrainedConfig:
    cls = _config_class(folder)
    data = dict(folder.config)
    if folder.format in (CheckpointFormat.TINYBERT_ORIGINAL, CheckpointFormat.NEZHA_PYTORCH):
        known = set(cls().to_dict())
        data = {k: v for k, v in data.items() if k in known}
    try:
        config = cls.from_dict(data)
    except (TypeError, ValueError, KeyError) as e:
        raise UserError.at(folder.config_path, f"invalid config ({e})") from None
    if head in ("sequence_classification", "token_classification"):
        if id2label is not None:
            id2label = {int(k): str(v) for k, v in id2label.items()}
            if num_labels is not None and num_labels != len(id2label):
                raise ValueError(f"num_labels={num_labels} but id2label has {len(id2label)} entries")
            config.id2label = id2label
            config.label2id = dict(label2id) if label2id is not None else {v: k for k, v in id2label.items()}
        elif num_labels is not None:
            if num_labels != config.num_labels:
                config.num_labels = num_labels
        else:
            stored = keys_shapes.get("classifier.weight")
            if stored is not None and stored[0] != config.num_labels:
                config.num_labels = stored[0]
    return config


def model_class(config: PretrainedConfig, head: str = "base") -> type[PreTrainedModel]:
    """The transformers class for ``config`` with ``head`` (``Nezha*`` for model_type nezha, else the Auto mapping)."""
    if head not in HEADS:
        raise UserError(f"unknown head {head!r}; expected one of {', '.join(HEADS)}")
    suffix = HEADS[head]
    if config.model_type == "nezha":
        from tinybert.models import nezha

        return getattr(nezha, "Nezha" + suffix)
    import transformers

    auto = getattr(transformers, "AutoModel" + ("" if suffix == "Model" else suffix))
    try:
        return auto._model_mapping[type(config)]
    except KeyError:
        raise UserError(f"model_type {config.model_type!r} has no {head} model in transformers") from None


def _resolve_dtype(dtype: Any, tensors: Mapping[str, torch.Tensor]) -> torch.dtype | None:
    import torch

    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    name = str(dtype).replace("torch.", "")
    if name == "auto":
        floats = [t.dtype for t in tensors.values() if t.is_floating_point()]
        return max(set(floats), key=floats.count) if floats else None
    name = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16"}.get(name, name)
    result = getattr(torch, name, None)
    if not isinstance(result, torch.dtype) or not result.is_floating_point:
        raise UserError(f"unknown dtype {dtype!r}; expected float32, float16, bfloat16 or auto")
    return result


def _sample(keys: Iterable[str], n: int = 4) -> str:
    keys = sorted(keys)
    return ", ".join(keys[:n]) + (f", ... ({len(keys)} in all)" if len(keys) > n else "")


def load_model(
    path: str | os.PathLike,
    head: str = "base",
    num_labels: int | None = None,
    id2label: Mapping[Any, str] | None = None,
    label2id: Mapping[str, int] | None = None,
    dtype: Any = None,
    require_head: bool = False,
) -> PreTrainedModel:
    """Load any supported model folder as a transformers model (``Bert*`` / ``Nezha*``) with the requested head.

    ``head`` is one of :data:`HEADS` or ``"auto"`` (the head the stored weights carry). Head weights missing from the
    folder are freshly initialised with a warning (the normal finetuning case) unless ``require_head``, which makes
    that a :class:`UserError`. Missing encoder weights are always an error. ``num_labels`` / ``id2label`` /
    ``label2id`` set the classification labels (default: the config's, or the stored classifier's size; a stored
    classifier of another size is re-initialised). ``dtype``: ``None`` (float32), a torch dtype, a name, or
    ``"auto"`` (the stored dtype). Returns the model in eval mode, on the CPU.
    """
    folder = _inspect(path)
    if head != "auto" and head not in HEADS:
        raise UserError(f"unknown head {head!r}; expected one of auto, {', '.join(HEADS)}")
    _validate_config(folder)
    raw = _read_tensors(folder.weight_files)
    if head == "auto":
        head = _detect_head((_canonical_key(k, "bert") for k in raw if not _is_extra(k)), folder.config)
    prefix_guess = "nezha" if _family(folder.format) == "nezha" else "bert"
    full_shapes = {_canonical_key(k, prefix_guess): tuple(v.shape) for k, v in raw.items() if not _is_extra(k)}
    _validate_vocab(folder, {k: (tuple(v.shape), "") for k, v in raw.items()})
    config = _build_config(folder, head, full_shapes, num_labels, id2label, label2id)
    try:
        cls = model_class(config, head)
    except UserError as e:
        raise UserError.at(folder.config_path, str(e)) from None
    model = cls(config)
    _load_into(model, raw, folder, head, require_head)
    torch_dtype = _resolve_dtype(dtype, raw)
    if torch_dtype is not None:
        model.to(torch_dtype)
    model.eval()
    return model


def _plan(
    model: PreTrainedModel,
    shapes: Mapping[str, tuple[int, ...]],
    folder: _Folder,
    head: str,
    require_head: bool,
    log: bool = True,
) -> dict[str, str]:
    """Map stored keys (with their shapes) onto ``model``'s state dict: model name -> stored key.

    Raises :class:`UserError` for missing encoder weights, encoder shapes that disagree with the config and (with
    ``require_head``) missing head weights; logs what is initialised or ignored when ``log``.
    """
    from collections import defaultdict

    prefix = model.base_model_prefix
    is_base = getattr(model, prefix, None) is None
    where = folder.weight_files[0] if len(folder.weight_files) == 1 else folder.path
    target = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    buffers = {n for n, _ in model.named_buffers()}

    # alias groups of tied parameters, in the model's own namespace; the first name is the canonical one
    groups: dict[int, list[str]] = defaultdict(list)
    for name, p in model.named_parameters(remove_duplicate=False):
        groups[id(p)].append(name)
    canonical = {n: names[0] for names in groups.values() for n in names}

    plan: dict[str, str] = {}
    unused_head: list[str] = []
    unexpected: list[str] = []
    for key in shapes:
        if _is_extra(key):
            continue
        full = _canonical_key(key, prefix)
        if is_base:
            if not full.startswith(prefix + "."):
                unused_head.append(full)
                continue
            name = full[len(prefix) + 1 :]
        else:
            name = full
        if name not in target:
            if _is_droppable_buffer(name):
                continue
            own = (name.startswith(prefix + ".") or is_base) and ".pooler." not in f".{name}"
            (unexpected if own else unused_head).append(name)  # a pooler is absent from MLM models by design
            continue
        if name in plan:
            raise UserError.at(where, f"two stored tensors map to {name} ({plan[name]} and {key}); expected one")
        plan[name] = key

    # tied copies: keep the canonical one (the embeddings over the decoder copy)
    for name in list(plan):
        first = canonical.get(name, name)
        if first != name:
            plan.setdefault(first, plan[name])
            del plan[name]

    in_base = (lambda name: True) if is_base else (lambda name: name.startswith(prefix + "."))
    for name, key in list(plan.items()):
        have, want = tuple(shapes[key]), target[name]
        if have == want:
            continue
        if in_base(name):
            raise UserError.at(
                where,
                f"{key} has shape {list(have)} but {os.path.basename(folder.config_path)} implies "
                f"{list(want)}; expected weights matching the config",
            )
        if log:
            logger.warning("%s: %s has shape %s, the %s head needs %s; re-initialising it",
                           folder.path, name, list(have), head, list(want))
        del plan[name]

    missing = [n for n in target if n not in plan and n not in buffers and canonical.get(n, n) == n]
    missing_base = [n for n in missing if in_base(n) and ".pooler." not in f".{n}"]
    missing_pooler = [n for n in missing if in_base(n) and ".pooler." in f".{n}"]
    missing_head = [n for n in missing if not in_base(n)]
    if missing_base:
        raise UserError.at(
            where, f"missing {len(missing_base)} encoder weights ({_sample(missing_base)}); expected a complete "
            f"{type(model).__name__} checkpoint"
        )
    if missing_head and require_head:
        if head in ("mlm", "pretraining") and any(n.startswith("cls.predictions.") for n in missing_head):
            raise UserError.at(folder.path, "has no masked-LM head (cls.predictions.*)")
        heads = sorted({n.split(".")[0] + ".*" for n in missing_head})
        raise UserError.at(folder.path, f"has no {head} head ({', '.join(heads)})")
    if log:
        if missing_head:
            logger.warning("%s: no stored weights for the %s head (%s); initialised them (normal before finetuning)",
                           folder.path, head, _sample(missing_head))
        if missing_pooler:
            logger.warning("%s: no stored pooler weights; initialised them", folder.path)
        if unexpected:
            logger.warning("%s: ignored %d stored tensors the model does not have: %s",
                           folder.path, len(unexpected), _sample(unexpected))
        if unused_head:
            logger.info("%s: ignored %d stored head tensors (loading head %r): %s",
                        folder.path, len(unused_head), head, _sample(unused_head))
    return plan


def _load_into(model: PreTrainedModel, raw: Mapping[str, torch.Tensor], folder: _Folder, head: str,
               require_head: bool) -> None:
    """Map ``raw`` into ``model`` (see :func:`_plan`) and load it."""
    plan = _plan(model, {k: tuple(v.shape) for k, v in raw.items()}, folder, head, require_head)
    result = model.load_state_dict({name: raw[key] for name, key in plan.items()}, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys


def load_extra_tensors(
    path: str | os.PathLike, prefixes: tuple[str, ...] | str = EXTRA_PREFIXES
) -> dict[str, torch.Tensor]:
    """Tensors stored beside the model weights whose key starts with one of ``prefixes`` (keys as stored)."""
    if isinstance(prefixes, str):
        prefixes = (prefixes,)
    folder = _inspect(path)
    return _read_tensors(folder.weight_files, tuple(prefixes))


# ----------------------------------------------------------------------------------------------- writing


def save_model(
    model: PreTrainedModel,
    path: str | os.PathLike,
    tokenizer: Any = None,
    extra_tensors: Mapping[str, torch.Tensor] | None = None,
    overwrite: bool = True,
) -> None:
    """Write ``model`` as a Hugging Face folder (config.json, model.safetensors) atomically.

    ``extra_tensors`` (e.g. ``fit_dense.*`` projections) are stored under their own keys in a separate
    ``projections.safetensors``, which plain transformers never reads (so it loads the folder silently).
    ``tokenizer`` (a tokenizer, or a folder / ``vocab.txt`` path)
    adds ``vocab.txt`` and the tokenizer files. ``overwrite=False`` refuses an existing non-empty ``path``.
    """
    from safetensors.torch import save_file

    path = os.fspath(path)
    if not overwrite and os.path.isdir(path) and os.listdir(path):
        raise UserError.at(path, "output folder exists and is not empty; expected a new or empty folder")
    if os.path.exists(path) and not os.path.isdir(path):
        raise UserError.at(path, "expected an output folder, found a file")
    if tokenizer is not None and isinstance(tokenizer, (str, os.PathLike)):
        from tinybert.models.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(tokenizer)
    extras = {k: v.detach().to("cpu").contiguous().clone() for k, v in (extra_tensors or {}).items()}
    from tinybert.utils.io import atomic_dir

    with atomic_dir(path) as tmp:
        model.save_pretrained(tmp)
        if extras:
            clash = sorted(set(model.state_dict()) & set(extras))
            if clash:
                raise ValueError(f"extra tensors clash with model weights: {clash[:4]}")
            save_file(extras, os.path.join(tmp, PROJECTIONS_NAME), metadata={"format": "pt"})
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
            vocab_file = os.path.join(tmp, VOCAB_NAME)
            if not os.path.isfile(vocab_file):
                vocab = tokenizer.get_vocab()
                with open(vocab_file, "w", encoding="utf-8") as f:
                    f.writelines(t + "\n" for t, _ in sorted(vocab.items(), key=lambda kv: kv[1]))


# ----------------------------------------------------------------------------------------------- summary


def model_summary(path: str | os.PathLike) -> dict[str, Any]:
    """What a model folder holds, without building the model: format, architecture, sizes, parameters, files."""
    folder = _inspect(path)
    _validate_config(folder)
    shapes = _read_shapes(folder.weight_files)
    vocab_tokens = _validate_vocab(folder, shapes)
    cfg = folder.config
    family = _family(folder.format)
    prefix = family
    model_keys = {_canonical_key(k, prefix): v for k, v in shapes.items() if not _is_extra(k)}
    model_keys = {k: v for k, v in model_keys.items() if not _is_droppable_buffer(k)}
    head = _detect_head(model_keys, cfg)
    _check_structure(folder, head, shapes)
    tie = cfg.get("tie_word_embeddings", True)
    word_key = f"{prefix}.embeddings.word_embeddings.weight"
    params = 0
    for key, (shape, _) in model_keys.items():
        if tie and key == "cls.predictions.decoder.weight" and word_key in model_keys:
            continue
        if key == "cls.predictions.decoder.bias" and "cls.predictions.bias" in model_keys:
            continue
        params += _numel(shape)
    projections = {k: list(s) for k, (s, _) in shapes.items() if _is_extra(k)}
    dtypes = [d for k, (_, d) in model_keys.items()]
    archs = cfg.get("architectures") or []
    if folder.format in (CheckpointFormat.HF, CheckpointFormat.HF_NEZHA) and archs:
        architecture = archs[0]
    else:
        architecture = ("Nezha" if family == "nezha" else "Bert") + HEADS[head]
    emb = model_keys.get(word_key)
    return {
        "path": folder.path,
        "format": folder.format.value,
        "architecture": architecture,
        "head": head,
        "model_type": cfg.get("model_type") or family,
        "num_hidden_layers": cfg.get("num_hidden_layers"),
        "hidden_size": cfg.get("hidden_size"),
        "num_attention_heads": cfg.get("num_attention_heads"),
        "intermediate_size": cfg.get("intermediate_size"),
        "vocab_size": emb[0][0] if emb else cfg.get("vocab_size"),
        "vocab_txt_tokens": vocab_tokens,
        "max_position_embeddings": None if family == "nezha" else cfg.get("max_position_embeddings"),
        "max_relative_position": cfg.get("max_relative_position") if family == "nezha" else None,
        "parameters": params,
        "projections": projections,
        "projection_parameters": sum(_numel(s) for s in projections.values()),
        "dtype": max(set(dtypes), key=dtypes.count) if dtypes else None,
        "config_file": os.path.basename(folder.config_path),
        "weight_files": [os.path.basename(f) for f in folder.weight_files],
        "file_size_bytes": sum(os.path.getsize(f) for f in folder.weight_files),
    }


def _check_structure(folder: _Folder, head: str, shapes: Mapping[str, tuple[tuple[int, ...], str]]) -> None:
    """Build the model on the meta device and check the stored keys and shapes against it (as loading would)."""
    import torch

    prefix = "nezha" if _family(folder.format) == "nezha" else "bert"
    full = {_canonical_key(k, prefix): s for k, (s, _) in shapes.items() if not _is_extra(k)}
    config = _build_config(folder, head, full, None, None, None)
    try:
        cls = model_class(config, head)
    except UserError as e:
        raise UserError.at(folder.config_path, str(e)) from None
    with torch.device("meta"):
        model = cls(config)
    _plan(model, {k: s for k, (s, _) in shapes.items()}, folder, head, require_head=False, log=False)


def _numel(shape: Iterable[int]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count
