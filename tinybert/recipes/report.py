"""``run_report``: compare a teacher and its students (one or several runs each) as tables and plots.

For every run: the parameter count (projections excluded; the embedding share apart), the bytes of the model
weights (projection tensors excluded, read from the safetensors header), the dev metric, the inference throughput
of all models measured in this process on the same batch, the share of the teacher's score and the speed-up. Runs of
one arm (several seeds) are shown as mean ± sample std. Writes ``report.md``, ``report.json``, ``losses.png`` and
``dev_metric.png`` into the output folder (a report already there is replaced). With ``latency``: the batch-1
latency of every student as PyTorch fp32, ONNX fp32 and ONNX int8, exported into ``output/onnx/``.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

from tinybert.config.report import ReportConfig
from tinybert.reporting import measure, render, runs
from tinybert.utils.io import atomic_write_json, atomic_write_text
from tinybert.utils.paths import check_output_location

REPORT_MD, REPORT_JSON = "report.md", "report.json"
ONNX_DIR = "onnx"  # the students' ONNX exports of the latency rows


@dataclass
class ReportResult:
    """What :func:`run_report` wrote: ``report`` is ``report.json``'s content, ``table`` the Markdown table."""

    report: dict[str, Any]
    table: str
    markdown_path: str
    json_path: str
    latency_table: str | None = None


def run_report(cfg: ReportConfig) -> ReportResult:
    check_output_location(cfg.output, cfg.inputs(), output_field="output")
    if cfg.latency:
        from tinybert.export import require_export_extra

        require_export_extra()
    found, skipped = runs.collect(cfg.entries(), cfg.teacher, cfg.task_name)
    settings = measure.measure(found, cfg.batch_size, cfg.max_seq_length, cfg.data_dir, cfg.task_name, cfg.warmup,
                               cfg.repeats, cfg.no_cuda)
    arms = runs.summarise_arms(found)

    os.makedirs(cfg.output, exist_ok=True)
    plots = {"losses": os.path.join(cfg.output, render.LOSSES_PNG),
             "dev_metric": os.path.join(cfg.output, render.DEV_PNG)}
    stages = [stage for stage in map(runs.read_stage, cfg.stages) if stage is not None]
    drawn_losses = render.plot_losses(stages + found, plots["losses"])
    drawn_dev = render.plot_dev_metric(found, plots["dev_metric"])
    table = render.render_table(arms)
    report: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": measure.machine(),
        "settings": settings,
        "teacher": next(a.name for a in arms if a.is_teacher),
        "metric": next((r.metric_name for r in found if r.is_teacher), None),
        "runs": [r.to_json() for r in found],
        "arms": [a.to_json() for a in arms],
        "plots": plots,
        "plotted": {"losses": drawn_losses, "dev_metric": drawn_dev},
        "skipped": skipped,
    }
    latency_table = None
    if cfg.latency:
        from tinybert.reporting.latency import students_latency

        items, spec, _ = measure.batch_texts(cfg.batch_size, cfg.data_dir, cfg.task_name)
        students = [a.first for a in arms if not a.is_teacher] or [arms[0].first]
        report["latency"] = students_latency(students, items, spec, cfg.max_seq_length,
                                             os.path.join(cfg.output, ONNX_DIR), cfg.latency_calls,
                                             threads=cfg.latency_threads, task_name=cfg.task_name,
                                             data_dir=cfg.data_dir)
        latency_table = render.render_latency_table(report["latency"])
    json_path, md_path = os.path.join(cfg.output, REPORT_JSON), os.path.join(cfg.output, REPORT_MD)
    atomic_write_json(json_path, report)
    atomic_write_text(md_path, render.render_markdown(table, report, latency_table))
    return ReportResult(report, table, md_path, json_path, latency_table)
