"""What the report measures: model sizes, and the throughput of all models in one process on the same batch.

- :func:`batch_texts` / :func:`encode_batch`: the timed batch (the task's first dev examples, or built-in sentences).
- :func:`measure_throughput`: interleaved warmup and timed rounds over all models, seconds per pass of every round.
- :func:`measure`: load every run's model (through :func:`tinybert.models.classifier.load_classifier`), count its
  parameters and bytes, and time all of them.
- :func:`machine`: the CPU, cores, threads and versions the figures were measured with.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tinybert.errors import UserError, require_dir
from tinybert.models.checkpoint import find_weight_files, position_limit, tensor_bytes
from tinybert.reporting.runs import Run

logger = logging.getLogger(__name__)

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
        raise UserError.of_field("batch_size", f"must be at least 1, got {batch_size}")
    if data_dir is not None:
        from tinybert.data.tasks import get_task, read_examples

        if not task_name:
            raise UserError.of_field("data_dir", "needs task_name (the task whose dev set gives the batch)")
        require_dir(data_dir, "data_dir")
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
        raise UserError.of_field("max_seq_length", f"must be at least 3, got {max_seq_length}")
    enc = tokenizer(list(items), truncation=True, max_length=max_seq_length, padding="longest",
                    return_attention_mask=True, return_token_type_ids=True, return_tensors="pt")
    return {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids")}


def check_inputs(run: Run, model: Any, inputs: Mapping[str, Any]) -> None:
    """The batch's token ids and length fit the run's model."""
    cfg = model.config
    top = int(inputs["input_ids"].max())
    if top >= cfg.vocab_size:
        raise UserError.at(run.path, f"the tokenizer gives token id {top} but the model has {cfg.vocab_size} "
                                     "tokens; expected the run's own vocab.txt")
    width = inputs["input_ids"].shape[1]
    limit = position_limit(cfg)
    if limit is not None and width > limit:
        raise UserError.at(run.path, f"the batch is {width} tokens long but the model takes at most {limit}; "
                                     "lower max_seq_length")


def measure_throughput(models: Mapping[str, Any], inputs: Mapping[str, Mapping[str, Any]], warmup: int = 3,
                       repeats: int = 10, device: Any = "cpu",
                       min_round_s: float = 0.05) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Seconds per forward pass of each model on its batch: ``warmup`` untimed rounds, then ``repeats`` timed
    rounds, each running every model in turn (so slow drifts of the machine hit all models alike). A fast model
    runs several passes per round (at least ``min_round_s`` seconds in all, timer noise kept small); its time is
    the mean pass. Returns ``(seconds per pass of every round, passes per round)`` by model name."""
    import torch

    if repeats < 1 or warmup < 0:
        raise UserError(f"expected repeats >= 1 and warmup >= 0, got {repeats} and {warmup}", field="repeats")
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


def load_run_models(runs: Sequence[Run]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every run's classifier (CPU, eval mode) with its parameter count and bytes filled in, and the tokenizers of
    the runs that hold a ``vocab.txt``, by run name."""
    from tinybert.models.classifier import load_classifier
    from tinybert.models.tokenizer import load_tokenizer

    models: dict[str, Any] = {}
    tokenizers: dict[str, Any] = {}
    for run in runs:
        files = find_weight_files(run.path)
        run.weight_bytes, run.projection_bytes, run.projection_parameters = tensor_bytes(files)
        run.weight_files_bytes = sum(os.path.getsize(f) for f in files)
        model = load_classifier(run.path, who="run", require_head=False)
        run.parameters, run.embedding_parameters = count_parameters(model)
        if os.path.isfile(os.path.join(run.path, "vocab.txt")):
            tokenizers[run.name] = load_tokenizer(run.path)
        models[run.name] = model
    return models, tokenizers


def encode_for_runs(runs: Sequence[Run], models: Mapping[str, Any], tokenizers: Mapping[str, Any],
                    items: Sequence[Any], spec: Any, max_seq_length: int) -> dict[str, dict[str, Any]]:
    """The batch tokenised for every run (its own vocabulary, else the teacher's), checked against its model."""
    teacher = next(r for r in runs if r.is_teacher)
    fallback = tokenizers.get(teacher.name) or next(iter(tokenizers.values()), None)
    if fallback is None:
        raise UserError("no run holds a vocab.txt; expected one in at least the teacher's folder")
    inputs = {}
    for run in runs:
        if run.name not in tokenizers:
            logger.warning("%s has no vocab.txt; tokenising its batch with another run's vocabulary", run.path)
        batch = encode_batch(items, spec, tokenizers.get(run.name, fallback), max_seq_length)
        check_inputs(run, models[run.name], batch)
        inputs[run.name] = batch
    return inputs


def measure(runs: Sequence[Run], batch_size: int = 32, max_seq_length: int = 128, data_dir: str | None = None,
            task_name: str | None = None, warmup: int = 3, repeats: int = 10, no_cuda: bool = True) -> dict[str, Any]:
    """Load every run's model, count its parameters and bytes, and time all of them on the same batch.

    Fills the runs' sizes and throughput; returns the measurement settings.
    """
    import torch

    from tinybert.evaluate import pick_device

    device = pick_device(no_cuda)
    items, spec, source = batch_texts(batch_size, data_dir, task_name)
    models, tokenizers = load_run_models(runs)
    models = {name: model.to(device).eval() for name, model in models.items()}
    batches = encode_for_runs(runs, models, tokenizers, items, spec, max_seq_length)
    inputs = {name: {k: v.to(device) for k, v in batch.items()} for name, batch in batches.items()}
    logger.info("timing %d models on %s: batch %d, %d warmup + %d timed rounds", len(models), device, batch_size,
                warmup, repeats)
    times, passes = measure_throughput(models, inputs, warmup, repeats, device)
    for run in runs:
        run.batch_seconds = times[run.name]
        run.samples_per_s = batch_size / statistics.median(run.batch_seconds)
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
