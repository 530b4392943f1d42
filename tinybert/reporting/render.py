"""The report's outputs: the Markdown tables (one row per arm; mean ± std where an arm has several runs), the plots
``losses.png`` and ``dev_metric.png``, and ``report.md``."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from tinybert.reporting.runs import NOT_SCORE_KEYS, Arm, Run, Stat, loss_series, series
from tinybert.utils.io import atomic_open

LOSSES_PNG, DEV_PNG = "losses.png", "dev_metric.png"


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


def format_stat(stat: Stat, spec: str, show_n: bool = False) -> str:
    """``0.9000`` for one value; ``0.9000 ± 0.0100`` (and `` (n=3)`` with ``show_n``) for several."""
    if stat.mean is None:
        return "-"
    if stat.n < 2:
        return format(stat.mean, spec)
    text = f"{format(stat.mean, spec)} ± {format(stat.std, spec)}"
    return text + (f" (n={stat.n})" if show_n else "")


def display_name(item: Run | Arm) -> str:
    return item.name + (" (teacher)" if item.is_teacher and "teacher" not in item.name.lower() else "")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    """A Markdown table with padded columns (``right``: which are right-aligned)."""
    cells = [list(header)] + [list(r) for r in rows]
    width = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, width, right,
                                                                                    strict=True)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(width, right,
                                                                                          strict=True)) + "|"
    return "\n".join([line(header), rule] + [line(row) for row in rows])


def render_table(arms: Sequence[Arm]) -> str:
    """The Markdown table: one row per arm, the teacher first. An arm of several runs shows the mean ± sample std
    of its dev metric (with n) and of its throughput; sizes are its first run's."""
    names = {a.metric_name for a in arms if a.metric_name}
    metric_header = f"dev {names.pop()}" if len(names) == 1 else "dev metric"
    header = ["run", "parameters", "embeddings", "size on disk", metric_header, "% of teacher", "samples/s",
              "speed-up"]
    rows = []
    for arm in arms:
        r = arm.first
        metric = format_stat(arm.metric, ".4f", show_n=True)
        if arm.metric.mean is not None and metric_header == "dev metric":
            metric = f"{arm.metric_name} {metric}"
        emb = "-" if r.embedding_parameters is None else f"{r.embedding_parameters:,}"
        if r.embedding_parameters is not None and r.parameters:
            emb += f" ({100 * r.embedding_parameters / r.parameters:.0f}%)"
        rows.append([
            display_name(arm),
            "-" if r.parameters is None else f"{r.parameters:,}",
            emb,
            human_bytes(r.weight_bytes),
            metric,
            _fmt(arm.share_of_teacher_pct, ".1f") + ("%" if arm.share_of_teacher_pct is not None else ""),
            format_stat(arm.samples_per_s, ".1f"),
            _fmt(arm.speedup, ".2f") + ("x" if arm.speedup is not None else ""),
        ])
    return markdown_table(header, rows, [False] + [True] * (len(header) - 1))


def render_latency_table(latency: Mapping[str, Any]) -> str:
    """The batch-1 latency table: one row per student and backend (PyTorch fp32, ONNX fp32, ONNX int8)."""
    with_dev = latency.get("metric") is not None
    header = ["run", "backend", "size on disk", "p50 ms", "p95 ms", "p50 speed-up"]
    header += [f"dev {latency['metric']}"] if with_dev else []
    rows = []
    for run, backends in latency["models"].items():
        for backend, r in backends.items():
            row = [run, backend, human_bytes(r["bytes"]), f"{r['p50_ms']:.2f}", f"{r['p95_ms']:.2f}",
                   f"{r['speedup_p50']:.2f}x"]
            rows.append(row + ([_fmt(r.get("dev"), ".4f")] if with_dev else []))
    return markdown_table(header, rows, [False, False] + [True] * (len(header) - 2))


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
            ax.set_title(display_name(run))
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


def render_markdown(table: str, report: Mapping[str, Any], latency_table: str | None = None) -> str:
    """``report.md``: the table, how it was measured, the latency table (if measured), the plots, the machine."""
    m, s = report["machine"], report["settings"]
    several = any(len(a["runs"]) > 1 for a in report.get("arms", []))
    lines = ["# Distillation report", "", table, "",
             f"Teacher: {report['teacher']}. Size on disk: the model tensors' bytes (projections excluded). "
             f"Throughput: {s['device']}, batch {s['batch_size']} of {s['batch_source']}, "
             f"{s['warmup']} warmup + {s['repeats']} timed rounds (median), all models in one process, "
             f"{m['torch_threads']} torch threads."
             + (" Arms of several runs: mean ± sample standard deviation over their runs (n runs), sizes of the "
                "first run." if several else ""), ""]
    if latency_table is not None:
        lat = report["latency"]
        lines += ["## Latency at batch 1", "", latency_table, "",
                  f"One input at a time, {lat['calls']} calls per model over {lat['inputs']} inputs of "
                  f"{lat['length_min']}-{lat['length_max']} tokens (median {lat['length_median']}), after "
                  f"{lat['warmup']} warmup calls; {lat['threads']} threads for PyTorch and ONNX Runtime alike. "
                  f"Size on disk: the weight tensors (PyTorch) or the .onnx file.", ""]
    lines += ["## Plots", ""]
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
