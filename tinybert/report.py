"""The distillation report: compare a teacher and its students from their run directories.

A run directory is a model folder (``config.json``, weights, ``vocab.txt``) as the recipes leave it, with the
training log ``metrics.jsonl`` and the dev results ``eval_results.txt``. For every run :func:`make_report` gives
the parameter count (projections excluded; the embedding share apart), the bytes of the model weights on disk
(projection tensors excluded, read from the safetensors header), the dev metric, the inference throughput of all
models measured in this process on the same batch, and the share of the teacher's score and speed-up; it writes
``report.md``, ``report.json``, ``losses.png`` and ``dev_metric.png``.

- :func:`collect`: read the runs (:class:`Run`); :func:`read_metrics`, :func:`read_eval_results`, :func:`weight_bytes`.
- :func:`measure_throughput`: interleaved warmup and timed rounds over all models, samples/s from the median round.
- :func:`render_table`, :func:`plot_losses`, :func:`plot_dev_metric`: the outputs.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import math
import os
import platform
import statistics
import struct
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tinybert.errors import UserError, require_dir
from tinybert.evaluate import EVAL_RESULTS, pick_device, read_eval_results
from tinybert.models.checkpoint import EXTRA_PREFIXES, find_config, find_weight_files, position_limit
from tinybert.train.loop import METRICS_FILE
from tinybert.utils.io import atomic_open, atomic_write_json, atomic_write_text, iter_jsonl

logger = logging.getLogger(__name__)

REPORT_MD, REPORT_JSON, LOSSES_PNG, DEV_PNG = "report.md", "report.json", "losses.png", "dev_metric.png"
# metrics.jsonl keys that are not losses (the training loop also logs "epoch" and "lr")
NOT_LOSS_KEYS = frozenset({"step", "epoch", "lr", "learning_rate", "global_step"})
# eval_results.txt keys that are not a score
NOT_SCORE_KEYS = frozenset({"eval_loss", "loss", "global_step", "step", "epoch"})

# The built-in batch when no --data_dir is given: plain English sentences of mixed length (written for this file).
SAMPLE_SENTENCES: tuple[str, ...] = (
    "The film was a delight from the first scene to the last.",
    "I would not recommend this restaurant to anyone.",
    "The weather turned cold in the afternoon, so we went home early.",
    "Her second novel is longer, darker and much better than the first.",
    "The service was slow and the soup arrived cold.",
    "A quiet, thoughtful story about growing up in a small town.",
    "Prices went up again this quarter.",
    "The committee will meet on Tuesday to discuss the new budget and the hiring plan for next year.",
    "What a waste of two hours.",
    "The children played in the park until the street lights came on.",
    "He fixed the bicycle with a borrowed wrench and a lot of patience.",
    "The update made the phone noticeably faster.",
    "Nobody expected the small team to win the national championship.",
    "The instructions were confusing and several parts were missing from the box.",
    "She thanked the volunteers who had worked through the night.",
    "It is a beautiful, funny and moving picture.",
    "The train was delayed by forty minutes because of a signal failure near the station.",
    "This is the best coffee I have had in years.",
    "The plot makes little sense, and the actors seem bored.",
    "Researchers measured the temperature of the lake every morning for a month.",
    "The museum opens at nine and closes at five on weekdays.",
    "I loved the music but the dialogue was painfully flat.",
    "After the storm, the village repaired the bridge together.",
    "The battery lasts all day even with heavy use.",
    "Please send the signed contract back by Friday.",
    "An overlong and predictable thriller.",
    "The garden is full of roses, tulips and old apple trees.",
    "The new library has quiet rooms for study and a large section for children.",
    "Customer support never answered my emails.",
    "The speech was short, clear and well received.",
    "They walked along the river and talked about the old days.",
    "Every chapter ends with a surprise that keeps you reading late into the night.",
)


@dataclass
class Run:
    """One run directory and everything the report says about it."""

    name: str
    path: str
    is_teacher: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl
    eval_results: dict[str, Any] = field(default_factory=dict)  # eval_results.txt
    metric_name: str | None = None
    metric: float | None = None
    parameters: int | None = None
    embedding_parameters: int | None = None
    projection_parameters: int = 0
    weight_bytes: int | None = None  # model tensors only
    projection_bytes: int = 0
    weight_files_bytes: int = 0  # the weight files as they are on disk (header and projections included)
    batch_seconds: list[float] = field(default_factory=list)
    samples_per_s: float | None = None
    share_of_teacher_pct: float | None = None
    speedup: float | None = None

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "records"}
        out["series"] = {k: len(v[0]) for k, v in series(self.records).items()}
        return out


# ----------------------------------------------------------------------------------------------------- reading


def _is_extra(key: str) -> bool:
    return key.startswith(EXTRA_PREFIXES)


def safetensors_header(path: str) -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor name -> dtype, shape, data_offsets), metadata dropped."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) != 8:
                raise ValueError("file shorter than its 8-byte header length")
            (n,) = struct.unpack("<Q", head)
            if n > os.path.getsize(path) - 8:
                raise ValueError(f"header length {n} past the end of the file")
            header = json.loads(f.read(n))
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise UserError.at(path, f"not a safetensors file ({e})") from None
    if not isinstance(header, dict):
        raise UserError.at(path, "not a safetensors file (header is not a JSON object)")
    header.pop("__metadata__", None)
    return header


def _tensor_sizes(path: str) -> dict[str, tuple[int, int]]:
    """``name -> (bytes, elements)`` of every tensor in one weight file."""
    if path.endswith(".safetensors"):
        out = {}
        for name, info in safetensors_header(path).items():
            try:
                start, end = info["data_offsets"]
                numel = math.prod(int(d) for d in info["shape"])
            except (KeyError, TypeError, ValueError):
                raise UserError.at(path, f"tensor {name!r} has no valid data_offsets/shape in the header") from None
            out[name] = (int(end) - int(start), numel)
        return out
    import torch

    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # the legacy (pre-zip) format cannot be memory-mapped
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise UserError.at(path, f"cannot read the weights ({type(e).__name__}: {e})") from None
    return {k: (v.numel() * v.element_size(), v.numel()) for k, v in state.items() if hasattr(v, "numel")}


def weight_bytes(files: Iterable[str]) -> tuple[int, int, int]:
    """``(model tensor bytes, projection tensor bytes, projection parameters)`` over a folder's weight files."""
    model = extra = extra_params = 0
    for fp in files:
        for name, (nbytes, numel) in _tensor_sizes(fp).items():
            if _is_extra(name):
                extra += nbytes
                extra_params += numel
            else:
                model += nbytes
    return model, extra, extra_params


def read_metrics(path: str) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (blank lines skipped); a line that is not a JSON object is a UserError."""
    return [record for _, record in iter_jsonl(path)]


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def series(records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    """Every numeric key of the records as ``(steps, values)``, in file order; records without a step use their
    position (1-based)."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for i, record in enumerate(records, 1):
        step = _number(record.get("step"))
        step = float(i) if step is None else step
        for key, value in record.items():
            v = _number(value)
            if key == "step" or v is None:
                continue
            xs, ys = out.setdefault(key, ([], []))
            xs.append(step)
            ys.append(v)
    return out


def loss_series(records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    """The training series of a log: every numeric key but ``eval_*``, the step, epoch and learning rate."""
    return {k: v for k, v in series(records).items() if k not in NOT_LOSS_KEYS and not k.startswith("eval_")}


def metric_key(results: Mapping[str, Any], task_name: str | None = None) -> str | None:
    """The score that names a run: the task's main metric (first dev split's, e.g. ``mnli_acc``) when ``task_name``
    is given, else the first numeric key of the file that is not a loss or a step."""
    if task_name:
        from tinybert.data.tasks import get_task
        from tinybert.metrics import main_metric

        spec = get_task(task_name)
        main = main_metric(spec)
        for key in (main, f"{spec.eval_name(spec.dev_splits[0])}_{main}"):
            if _number(results.get(key)) is not None:
                return key
        return None
    return next((k for k, v in results.items() if k not in NOT_SCORE_KEYS and not k.endswith("_loss")
                 and _number(v) is not None), None)


def _label_of(path: str) -> str:
    return os.path.basename(os.path.normpath(os.path.abspath(path)))


def collect(run_dirs: Sequence[str], labels: Sequence[str] | None = None, teacher: str | None = None,
            task_name: str | None = None) -> tuple[list[Run], list[dict[str, str]]]:
    """Read the runs (the teacher first: ``teacher``, else the first run with a model); returns ``(runs, skipped)``.

    Runs without a model folder are skipped with a warning; a missing run directory, an unreadable
    ``metrics.jsonl`` or ``eval_results.txt`` is a UserError.
    """
    if not run_dirs:
        raise UserError("no run directories given; expected at least one RUN_DIR")
    if labels is not None and len(labels) != len(run_dirs):
        raise UserError(f"--labels has {len(labels)} names for {len(run_dirs)} run directories; expected one each")
    paths = [require_dir(p, "run directory") for p in run_dirs]
    names = list(labels) if labels is not None else [_label_of(p) for p in paths]
    teacher_index = None
    if teacher is not None:
        require_dir(teacher, "teacher run directory")
        real = [os.path.realpath(p) for p in paths]
        if os.path.realpath(teacher) in real:
            teacher_index = real.index(os.path.realpath(teacher))
        else:
            paths.insert(0, teacher)
            names.insert(0, _label_of(teacher))
            teacher_index = 0
    runs: list[Run] = []
    skipped: list[dict[str, str]] = []
    for i, (path, name) in enumerate(zip(paths, names, strict=True)):
        if find_config(path) is None or not find_weight_files(path, required=False):
            reason = "holds no model (config.json and model weights)"
            if i == teacher_index:
                raise UserError.at(path, f"the teacher run {reason}")
            logger.warning("skipping %s: %s", path, reason)
            skipped.append({"path": path, "reason": reason})
            continue
        run = Run(name=name, path=path, is_teacher=i == teacher_index)
        if os.path.isfile(os.path.join(path, METRICS_FILE)):
            run.records = read_metrics(os.path.join(path, METRICS_FILE))
        if os.path.isfile(os.path.join(path, EVAL_RESULTS)):
            run.eval_results = read_eval_results(os.path.join(path, EVAL_RESULTS))
        runs.append(run)
    if not runs:
        raise UserError("none of the run directories holds a model; expected model folders (config.json + weights)")
    if not any(r.is_teacher for r in runs):
        runs[0].is_teacher = True
    runs.sort(key=lambda r: not r.is_teacher)  # teacher first, the others in the order given
    if len({r.name for r in runs}) != len(runs):
        raise UserError(f"two runs share a name ({', '.join(r.name for r in runs)}); give distinct --labels")
    _pick_metrics(runs, task_name)
    return runs, skipped


def _pick_metrics(runs: list[Run], task_name: str | None) -> None:
    """Choose one metric for all runs (the teacher's, or the first run's that has results) and read it."""
    ordered = sorted(runs, key=lambda r: not r.is_teacher)
    common = next((k for r in ordered if (k := metric_key(r.eval_results, task_name)) is not None), None)
    for run in runs:
        key = common if common is not None and _number(run.eval_results.get(common)) is not None else None
        key = key or metric_key(run.eval_results, task_name)
        if run.eval_results and key is None:
            logger.warning("%s: no score found in %s", run.path, EVAL_RESULTS)
        run.metric_name = key
        run.metric = _number(run.eval_results.get(key)) if key else None


# ----------------------------------------------------------------------------------------------------- measuring


def load_classifier(path: str) -> Any:
    """A run's model with a sequence-classification head, eval mode, on the CPU (projections not loaded)."""
    try:
        from tinybert.models.checkpoint import load_model
    except ImportError:  # pragma: no cover - the checkpoint module is the normal door
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(path).eval()
    return load_model(path, head="sequence_classification")


def count_parameters(model: Any) -> tuple[int, int]:
    """``(all parameters, embedding parameters)`` of a transformers model (shared weights counted once)."""
    total = sum(p.numel() for p in model.parameters())
    base = getattr(model, "base_model", model)
    embeddings = getattr(base, "embeddings", None)
    if embeddings is None:
        embeddings = model.get_input_embeddings()
    return total, sum(p.numel() for p in embeddings.parameters())


def batch_texts(batch_size: int, data_dir: str | None = None,
                task_name: str | None = None) -> tuple[list[Any], Any, str]:
    """``(examples or sentences, task spec or None, source)``: the first ``batch_size`` dev examples of the task
    (repeated when the dev set is smaller), else the built-in sentences."""
    if batch_size < 1:
        raise UserError(f"--batch_size must be at least 1, got {batch_size}")
    if data_dir is not None:
        from tinybert.data.tasks import get_task, read_examples

        if not task_name:
            raise UserError("--data_dir needs --task_name (the task whose dev set gives the batch)")
        require_dir(data_dir, "--data_dir")
        spec = get_task(task_name)
        examples = read_examples(spec, data_dir, "dev")
        items = [examples[i % len(examples)] for i in range(batch_size)]
        return items, spec, f"{os.path.join(data_dir, spec.files.get('dev', 'dev'))} (first {batch_size})"
    items = [SAMPLE_SENTENCES[i % len(SAMPLE_SENTENCES)] for i in range(batch_size)]
    return items, None, "built-in English sentences"


def encode_batch(items: Sequence[Any], spec: Any, tokenizer: Any, max_seq_length: int) -> dict[str, Any]:
    """Tokenise the batch (dev examples through the task encoder, or plain sentences), cut to its longest row."""
    import torch

    if spec is not None:
        from tinybert.data.task_features import FEATURE_KEYS, encode_examples

        feats = encode_examples(items, tokenizer, max_seq_length, spec)
        width = int(feats["lengths"].max())
        return {k: torch.from_numpy(feats[k][:, :width]).clone() for k in FEATURE_KEYS}
    if max_seq_length < 3:
        raise UserError(f"--max_seq_length must be at least 3, got {max_seq_length}")
    enc = tokenizer(list(items), truncation=True, max_length=max_seq_length, padding="longest",
                    return_attention_mask=True, return_token_type_ids=True, return_tensors="pt")
    return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


def _check_inputs(run: Run, model: Any, inputs: Mapping[str, Any]) -> None:
    cfg = model.config
    top = int(inputs["input_ids"].max())
    if top >= cfg.vocab_size:
        raise UserError.at(run.path, f"the tokenizer gives token id {top} but the model has {cfg.vocab_size} "
                                     "tokens; expected the run's own vocab.txt")
    width = inputs["input_ids"].shape[1]
    limit = position_limit(cfg)
    if limit is not None and width > limit:
        raise UserError.at(run.path, f"the batch is {width} tokens long but the model takes at most {limit}; "
                                     "lower --max_seq_length")


def measure_throughput(models: Mapping[str, Any], inputs: Mapping[str, Mapping[str, Any]], warmup: int = 3,
                       repeats: int = 10, device: Any = "cpu",
                       min_round_s: float = 0.05) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Seconds per forward pass of each model on its batch: ``warmup`` untimed rounds, then ``repeats`` timed
    rounds, each running every model in turn (so slow drifts of the machine hit all models alike). A fast model
    runs several passes per round (at least ``min_round_s`` seconds in all, timer noise kept small); its time is
    the mean pass. Returns ``(seconds per pass of every round, passes per round)`` by model name."""
    import torch

    if repeats < 1 or warmup < 0:
        raise UserError(f"expected --repeats >= 1 and --warmup >= 0, got {repeats} and {warmup}")
    device = torch.device(device)

    def timed(model: Any, batch: Mapping[str, Any], passes: int) -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        for _ in range(passes):
            model(**batch)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return (time.perf_counter() - t0) / passes

    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.inference_mode():
        for _ in range(warmup):
            for name, model in models.items():
                timed(model, inputs[name], 1)
        passes = {name: max(1, min(1000, math.ceil(min_round_s / max(timed(m, inputs[name], 1), 1e-6))))
                  for name, m in models.items()}
        for _ in range(repeats):
            for name, model in models.items():
                times[name].append(timed(model, inputs[name], passes[name]))
    return times, passes


def measure(runs: Sequence[Run], batch_size: int = 32, max_seq_length: int = 128, data_dir: str | None = None,
            task_name: str | None = None, warmup: int = 3, repeats: int = 10, no_cuda: bool = True) -> dict[str, Any]:
    """Load every run's model, count its parameters and bytes, and time all of them on the same batch.

    Fills the runs' sizes, throughput, share of the teacher's score and speed-up; returns the measurement settings.
    """
    import torch

    from tinybert.models.tokenizer import load_tokenizer

    device = pick_device(no_cuda)
    items, spec, source = batch_texts(batch_size, data_dir, task_name)
    teacher = next(r for r in runs if r.is_teacher)
    models: dict[str, Any] = {}
    inputs: dict[str, dict[str, Any]] = {}
    tokenizers: dict[str, Any] = {}
    for run in runs:
        files = find_weight_files(run.path)
        run.weight_bytes, run.projection_bytes, run.projection_parameters = weight_bytes(files)
        run.weight_files_bytes = sum(os.path.getsize(f) for f in files)
        model = load_classifier(run.path)
        run.parameters, run.embedding_parameters = count_parameters(model)
        if os.path.isfile(os.path.join(run.path, "vocab.txt")):
            tokenizers[run.name] = load_tokenizer(run.path)
        models[run.name] = model.to(device).eval()
    fallback = tokenizers.get(teacher.name) or next(iter(tokenizers.values()), None)
    if fallback is None:
        raise UserError("no run holds a vocab.txt; expected one in at least the teacher's folder")
    for run in runs:
        if run.name not in tokenizers:
            logger.warning("%s has no vocab.txt; tokenising its batch with another run's vocabulary", run.path)
        batch = encode_batch(items, spec, tokenizers.get(run.name, fallback), max_seq_length)
        _check_inputs(run, models[run.name], batch)
        inputs[run.name] = {k: v.to(device) for k, v in batch.items()}
    logger.info("timing %d models on %s: batch %d, %d warmup + %d timed rounds", len(models), device, batch_size,
                warmup, repeats)
    times, passes = measure_throughput(models, inputs, warmup, repeats, device)
    for run in runs:
        run.batch_seconds = times[run.name]
        run.samples_per_s = batch_size / statistics.median(run.batch_seconds)
    for run in runs:
        if teacher.samples_per_s and run.samples_per_s:
            run.speedup = run.samples_per_s / teacher.samples_per_s
        if run.metric is not None and teacher.metric and run.metric_name == teacher.metric_name:
            run.share_of_teacher_pct = 100.0 * run.metric / teacher.metric
    widths = {name: int(v["input_ids"].shape[1]) for name, v in inputs.items()}
    return {"device": str(device), "batch_size": batch_size, "max_seq_length": max_seq_length,
            "sequence_length": widths, "batch_source": source, "warmup": warmup, "repeats": repeats,
            "passes_per_round": passes,
            "torch_threads": torch.get_num_threads()}


def machine() -> dict[str, Any]:
    """The CPU model, core count, torch threads and versions of this machine."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.lower().startswith("model name")), cpu)
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform()}
    if hasattr(os, "sched_getaffinity"):
        info["usable_cores"] = len(os.sched_getaffinity(0))
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


# ----------------------------------------------------------------------------------------------------- rendering


def human_bytes(n: int | None) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _display_name(run: Run) -> str:
    return run.name + (" (teacher)" if run.is_teacher and "teacher" not in run.name.lower() else "")


def render_table(runs: Sequence[Run]) -> str:
    """The Markdown table: one row per run, the teacher first."""
    names = {r.metric_name for r in runs if r.metric_name}
    metric_header = f"dev {names.pop()}" if len(names) == 1 else "dev metric"
    header = ["run", "parameters", "embeddings", "size on disk", metric_header, "% of teacher", "samples/s",
              "speed-up"]
    rows = []
    for r in runs:
        metric = _fmt(r.metric, ".4f")
        if r.metric is not None and metric_header == "dev metric":
            metric = f"{r.metric_name} {metric}"
        emb = "-" if r.embedding_parameters is None else f"{r.embedding_parameters:,}"
        if r.embedding_parameters is not None and r.parameters:
            emb += f" ({100 * r.embedding_parameters / r.parameters:.0f}%)"
        rows.append([
            _display_name(r),
            "-" if r.parameters is None else f"{r.parameters:,}",
            emb,
            human_bytes(r.weight_bytes),
            metric,
            _fmt(r.share_of_teacher_pct, ".1f") + ("%" if r.share_of_teacher_pct is not None else ""),
            _fmt(r.samples_per_s, ".1f"),
            _fmt(r.speedup, ".2f") + ("x" if r.speedup is not None else ""),
        ])
    cells = [header] + rows
    width = [max(len(row[i]) for row in cells) for i in range(len(header))]
    right = [False] + [True] * (len(header) - 1)

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, width, right,
                                                                                    strict=True)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(width, right,
                                                                                          strict=True)) + "|"
    return "\n".join([line(header), rule] + [line(row) for row in rows])


def _save_png(fig: Any, path: str) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    with atomic_open(path, "wb") as f:
        f.write(buf.getvalue())


def plot_losses(runs: Sequence[Run], path: str) -> dict[str, list[str]]:
    """``losses.png``: one panel per run with every training loss series over steps; returns what was drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncols = min(len(runs), 3)
    nrows = math.ceil(len(runs) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.6 * nrows), squeeze=False)
    drawn: dict[str, list[str]] = {}
    try:
        for ax, run in zip(axes.flat, runs, strict=False):
            data = loss_series(run.records)
            data = dict(sorted(data.items(), key=lambda kv: kv[0] != "loss"))  # the total first
            drawn[run.name] = list(data)
            for key, (xs, ys) in data.items():
                ax.plot(xs, ys, label=key, linewidth=2.0 if key == "loss" else 1.3,
                        marker="." if len(xs) < 30 else None)
            ax.set_title(_display_name(run))
            ax.set_xlabel("step")
            ax.set_ylabel("loss")
            ax.grid(True, alpha=0.3)
            values = [y for _, ys in data.values() for y in ys]
            if not values:
                ax.text(0.5, 0.5, "no training log", ha="center", va="center", transform=ax.transAxes)
                continue
            if min(values) > 0 and max(values) / min(values) > 50:
                ax.set_yscale("log")
            ax.legend(fontsize=8)
        for ax in list(axes.flat)[len(runs):]:
            ax.set_visible(False)
        fig.suptitle("training losses")
        fig.tight_layout()
        _save_png(fig, path)
    finally:
        plt.close(fig)
    return drawn


def dev_series_key(run: Run) -> str | None:
    """The ``metrics.jsonl`` key of the run's dev metric: ``eval_<metric>``, else its first ``eval_*`` score."""
    keys = series(run.records)
    if run.metric_name and f"eval_{run.metric_name}" in keys:
        return f"eval_{run.metric_name}"
    return next((k for k in keys if k.startswith("eval_") and k[5:] not in NOT_SCORE_KEYS
                 and not k.endswith("_loss")), None)


def plot_dev_metric(runs: Sequence[Run], path: str) -> dict[str, str]:
    """``dev_metric.png``: each run's dev metric over steps (one line per run); returns run -> series drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    drawn: dict[str, str] = {}
    try:
        for run in runs:
            key = dev_series_key(run)
            if key is None:
                continue
            xs, ys = series(run.records)[key]
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.6, label=f"{run.name} ({key[5:]})")
            drawn[run.name] = key
        ax.set_xlabel("step")
        ax.set_ylabel("dev metric")
        ax.set_title("dev metric over training")
        ax.grid(True, alpha=0.3)
        if drawn:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no evaluation logged", ha="center", va="center", transform=ax.transAxes)
        fig.tight_layout()
        _save_png(fig, path)
    finally:
        plt.close(fig)
    return drawn


def render_markdown(table: str, report: Mapping[str, Any]) -> str:
    m, s = report["machine"], report["settings"]
    lines = ["# Distillation report", "", table, "",
             f"Teacher: {report['teacher']}. Size on disk: the model tensors' bytes (projections excluded). "
             f"Throughput: {s['device']}, batch {s['batch_size']} of {s['batch_source']}, "
             f"{s['warmup']} warmup + {s['repeats']} timed rounds (median), all models in one process, "
             f"{m['torch_threads']} torch threads.", "",
             "## Plots", ""]
    lines += [f"- {name}: `{p}`" for name, p in report["plots"].items()]
    lines += ["", "## Machine", "",
              f"- CPU: {m['cpu']}, {m['cores']} cores"
              + (f" ({m['usable_cores']} usable)" if "usable_cores" in m else "")
              + f", torch threads {m['torch_threads']}",
              f"- torch {m['torch']}, Python {m['python']}, {m['platform']}" + (f", GPU {m['gpu']}" if "gpu" in m
                                                                                 else ""),
              f"- date: {report['date']}"]
    if report["skipped"]:
        lines += ["", "Skipped: " + "; ".join(f"{x['path']} ({x['reason']})" for x in report["skipped"])]
    return "\n".join(lines) + "\n"


def check_output_dir(output: str, run_dirs: Iterable[str]) -> str:
    """Refuse an output folder that is a file or one of the run directories; return it."""
    if os.path.exists(output) and not os.path.isdir(output):
        raise UserError.at(output, "expected an output folder, found a file")
    real = os.path.realpath(output)
    for path in run_dirs:
        if os.path.realpath(path) == real:
            raise UserError.at(output, "--output is one of the run directories; give a separate folder")
    return output


def make_report(run_dirs: Sequence[str], output: str, labels: Sequence[str] | None = None,
                teacher: str | None = None, data_dir: str | None = None, task_name: str | None = None,
                batch_size: int = 32, max_seq_length: int = 128, warmup: int = 3, repeats: int = 10,
                no_cuda: bool = False, stage_dirs: Sequence[str] = ()) -> dict[str, Any]:
    """Collect, measure and render; write the report files into ``output``; return ``report.json``'s content
    (with the table under ``"table"``). ``stage_dirs`` are runs whose losses are plotted but that are not in the
    table (intermediate stages: general distillation, task stage 1)."""
    if not run_dirs:
        raise UserError("no run directories given; expected at least one RUN_DIR")
    check_output_dir(output, list(run_dirs) + ([teacher] if teacher else []))
    if data_dir is not None and not task_name:
        raise UserError("--data_dir needs --task_name (the task whose dev set gives the batch)")
    runs, skipped = collect(run_dirs, labels, teacher, task_name)
    settings = measure(runs, batch_size, max_seq_length, data_dir, task_name, warmup, repeats, no_cuda)
    os.makedirs(output, exist_ok=True)
    plots = {"losses": os.path.join(output, LOSSES_PNG), "dev_metric": os.path.join(output, DEV_PNG)}
    stages = [Run(name=_label_of(p), path=p, records=read_metrics(os.path.join(p, METRICS_FILE)))
              for p in (require_dir(d, "stage run directory") for d in stage_dirs)
              if os.path.isfile(os.path.join(p, METRICS_FILE))]
    drawn_losses = plot_losses(stages + runs, plots["losses"])
    drawn_dev = plot_dev_metric(runs, plots["dev_metric"])
    table = render_table(runs)
    report: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": settings,
        "teacher": next(r.name for r in runs if r.is_teacher),
        "metric": next((r.metric_name for r in runs if r.is_teacher), None),
        "runs": [r.to_json() for r in runs],
        "plots": plots,
        "plotted": {"losses": drawn_losses, "dev_metric": drawn_dev},
        "skipped": skipped,
    }
    atomic_write_json(os.path.join(output, REPORT_JSON), report)
    atomic_write_text(os.path.join(output, REPORT_MD), render_markdown(table, report))
    return {**report, "table": table}
