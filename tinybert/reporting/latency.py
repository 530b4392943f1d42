"""Latency at batch 1: one input at a time, as a CPU server answers requests, for PyTorch fp32 and the ONNX fp32
and int8 exports of a model (optionally ``torch.ao`` int8 too).

Every model sees the same inputs (real sentences at their own lengths, no padding) in the same order, the models
taking turns in blocks of calls so that a drift of the machine hits them alike; p50/p95 are over the timed calls.
ONNX Runtime gets as many intra-op threads as torch has.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tinybert.data.task_features import FEATURE_KEYS

BACKENDS = ("pytorch fp32", "onnx fp32", "onnx int8")


def single_inputs(batch: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of an encoded batch as batch-1 inputs cut to their own length (no padding)."""
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    return [{k: batch[k][i:i + 1, :int(n)].contiguous() for k in FEATURE_KEYS} for i, n in enumerate(lengths)]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between the closest ranks."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def torch_caller(model: Any) -> Callable[[Mapping[str, Any]], Any]:
    import torch

    def call(inputs: Mapping[str, Any]) -> Any:
        with torch.inference_mode():
            return model(**inputs)

    return call


def onnx_caller(session_model: Any) -> Callable[[Mapping[str, Any]], Any]:
    """Calls the ONNX session with numpy inputs directly (no torch conversion inside the timed call)."""
    return session_model.run


def time_latency(callers: Mapping[str, Callable[[Mapping[str, Any]], Any]],
                 inputs: Mapping[str, Sequence[Mapping[str, Any]]], calls: int = 200, warmup: int = 20,
                 rounds: int = 5) -> dict[str, dict[str, float]]:
    """``{name: {"p50_ms", "p95_ms", "mean_ms", "calls"}}`` of every caller over ``calls`` timed calls, cycling
    through its inputs. The calls run in ``rounds`` blocks per caller, the callers taking turns block by block (a
    drift of the machine hits them alike; within a block a runtime's thread pool stays warm, as in a server
    answering one request after another, and one runtime's spinning threads do not steal the other's cores);
    each block starts with ``warmup / rounds`` untimed calls."""
    seconds: dict[str, list[float]] = {name: [] for name in callers}
    per_round = [calls // rounds + (1 if r < calls % rounds else 0) for r in range(rounds)]
    position = dict.fromkeys(callers, 0)
    for count in per_round:
        for name, call in callers.items():
            feeds = inputs[name]
            for _ in range(max(1, warmup // rounds)):
                call(feeds[0])
            for _ in range(count):
                row = feeds[position[name] % len(feeds)]
                position[name] += 1
                t0 = time.perf_counter()
                call(row)
                seconds[name].append(time.perf_counter() - t0)
    return {name: {"p50_ms": 1e3 * percentile(s, 50), "p95_ms": 1e3 * percentile(s, 95),
                   "mean_ms": 1e3 * statistics.fmean(s), "calls": len(s)} for name, s in seconds.items()}


def export_variants(model: Any, sample: Mapping[str, Any], folder: str) -> dict[str, str]:
    """Export ``model`` to ``folder/model.onnx`` and its dynamic int8 quantization to ``folder/model.int8.onnx``;
    returns ``{"onnx fp32": path, "onnx int8": path}``."""
    from tinybert.export.onnx_model import INT8_NAME, ONNX_NAME, export_onnx
    from tinybert.export.quantize import quantize_onnx_int8

    fp32 = export_onnx(model, os.path.join(folder, ONNX_NAME), sample)
    return {"onnx fp32": fp32, "onnx int8": quantize_onnx_int8(fp32, os.path.join(folder, INT8_NAME))}


def latency_of_model(model: Any, batch: Mapping[str, Any], folder: str, calls: int = 200, warmup: int = 20,
                     threads: int | None = None, torch_int8: bool = False,
                     dev: Callable[[Any], float] | None = None) -> dict[str, dict[str, Any]]:
    """Batch-1 latency of ``model`` (PyTorch fp32) and of its ONNX fp32 and int8 exports (written into ``folder``),
    with ``torch.ao`` int8 too when ``torch_int8``; each with its size on disk (bytes of the weight tensors, or of
    the .onnx file) and, with ``dev`` (a function model -> dev metric), its dev metric."""
    import torch

    from tinybert.export.onnx_model import OnnxClassifier

    model = model.cpu().eval()
    rows = single_inputs(batch)
    paths = export_variants(model, batch, folder)
    sessions = {name: OnnxClassifier(path, threads or torch.get_num_threads()) for name, path in paths.items()}
    models: dict[str, Any] = {"pytorch fp32": model, **sessions}
    callers: dict[str, Callable] = {"pytorch fp32": torch_caller(model)}
    inputs: dict[str, list] = {"pytorch fp32": rows}
    sizes: dict[str, int] = {"pytorch fp32": sum(p.numel() * p.element_size() for p in model.state_dict().values())}
    if torch_int8:
        from tinybert.export.quantize import quantize_torch_int8

        models["pytorch int8"] = quantize_torch_int8(model)
        callers["pytorch int8"] = torch_caller(models["pytorch int8"])
        inputs["pytorch int8"] = rows
        sizes["pytorch int8"] = _torch_size(models["pytorch int8"], folder)
    numpy_rows = [{k: v.numpy() for k, v in row.items()} for row in rows]
    for name, session in sessions.items():
        callers[name] = onnx_caller(session)
        inputs[name] = numpy_rows
        sizes[name] = os.path.getsize(paths[name])
    timings = time_latency(callers, inputs, calls, warmup)
    out: dict[str, dict[str, Any]] = {}
    base = timings["pytorch fp32"]["p50_ms"]
    for name, timing in timings.items():
        out[name] = {**timing, "bytes": sizes[name], "speedup_p50": base / timing["p50_ms"]}
        if dev is not None:
            out[name]["dev"] = dev(models[name])
    return out


def _torch_size(model: Any, folder: str) -> int:
    """Bytes of a quantized PyTorch model's state dict as ``torch.save`` writes it (packed int8 weights)."""
    import torch

    path = os.path.join(folder, "pytorch_int8.pt")
    torch.save(model.state_dict(), path)
    try:
        return os.path.getsize(path)
    finally:
        os.remove(path)


def length_summary(batch: Mapping[str, Any]) -> dict[str, float]:
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    return {"inputs": len(lengths), "length_min": int(min(lengths)), "length_max": int(max(lengths)),
            "length_median": float(statistics.median(lengths))}


def students_latency(runs: Sequence[Any], items: Sequence[Any], spec: Any, max_seq_length: int, folder: str,
                     calls: int = 200, warmup: int = 20, threads: int = 1, task_name: str | None = None,
                     data_dir: str | None = None) -> dict[str, Any]:
    """The report's latency rows: for every student ``run`` (its model folder exported into ``folder/<name>/``),
    :func:`latency_of_model` at ``threads`` threads on the batch's sentences one at a time, with the dev metric of
    every variant when ``task_name`` and ``data_dir`` are given. Returns ``{"models": {run: rows}, ...settings}``."""
    import torch

    from tinybert.models.classifier import load_classifier
    from tinybert.models.tokenizer import load_tokenizer
    from tinybert.reporting.measure import encode_batch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    out: dict[str, Any] = {"models": {}, "calls": calls, "warmup": warmup, "threads": threads}
    try:
        for run in runs:
            tokenizer = load_tokenizer(run.path)
            batch = encode_batch(items, spec, tokenizer, max_seq_length)
            dev = None
            metric = None
            if task_name and data_dir:
                from tinybert.config.task import TaskConfig
                from tinybert.evaluate import DevEvaluator, best_metric_key, dev_sets

                task = TaskConfig(task_name, data_dir, max_seq_length).spec()
                evaluator = DevEvaluator(task, dev_sets(task, data_dir, tokenizer, max_seq_length), 32)
                metric = best_metric_key(task)
                dev = lambda model, ev=evaluator, key=metric: ev.evaluate(model)[key]  # noqa: E731
            target = os.path.join(folder, "".join(c if c.isalnum() or c in "-_." else "_" for c in run.name))
            rows = latency_of_model(load_classifier(run.path, who="run", require_head=False), batch, target, calls,
                                    warmup, threads, dev=dev)
            out["models"][run.name] = rows
            out["metric"] = metric
            out.update(length_summary(batch))
    finally:
        torch.set_num_threads(previous)
    return out
