"""``tinybert report RUN_DIRS... --output DIR``: teacher vs students, as a table and plots.

Writes ``report.md``, ``report.json``, ``losses.png`` and ``dev_metric.png`` into ``--output`` (a report already
there is replaced) and prints the table and the plot paths. Several runs of one setting (seeds) form an arm when
they share a label (``--labels teacher,kd,kd,kd``) or come from one ``--arm NAME=DIR1,DIR2,DIR3``; the table shows
their mean ± sample std.
"""

from __future__ import annotations

import argparse
import dataclasses

from tinybert.config.report import ReportConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = {f.name: f.default for f in dataclasses.fields(ReportConfig)}
    a = parser.add_argument
    a("run_dirs", nargs="*", metavar="RUN_DIR", help="run directories (model folders with metrics.jsonl and "
                                                     "eval_results.txt); the first is the teacher unless --teacher")
    a("--output", required=True, help="folder for report.md, report.json, losses.png, dev_metric.png")
    a("--labels", default=None, help="comma-separated names of the runs, one per RUN_DIR (default: folder names); "
                                     "runs with the same name form one arm (mean ± std)")
    a("--arm", dest="arms", action="append", default=None, metavar="NAME=DIR[,DIR...]",
      help="an arm of several runs (e.g. seeds), shown as mean ± sample std; repeatable")
    a("--teacher", default=None, help="the teacher's run directory (default: the first RUN_DIR)")
    a("--task_name", default=None, help="the task: its main metric is the dev score (default: the first metric "
                                        "in eval_results.txt)")
    a("--data_dir", default=None, help="time on the task's dev examples (needs --task_name; default: built-in "
                                       "English sentences)")
    a("--batch_size", type=int, default=d["batch_size"], help="examples in the timed batch (default %(default)s)")
    a("--max_seq_length", type=int, default=d["max_seq_length"],
      help="longer inputs are truncated (default %(default)s)")
    a("--warmup", type=int, default=d["warmup"], help="untimed rounds before timing (default %(default)s)")
    a("--repeats", type=int, default=d["repeats"],
      help="timed rounds; throughput from the median (default %(default)s)")
    a("--no_cuda", action="store_true", help="time on the CPU even when a GPU is available")
    a("--stages", nargs="*", default=[], metavar="DIR",
      help="more run directories whose training losses are plotted but that are not in the table "
           "(e.g. general distillation and task stage 1)")
    a("--latency", action="store_true",
      help="also batch-1 latency (p50/p95) and size of every student as PyTorch fp32, ONNX fp32 and ONNX int8 "
           "(needs the export extra: pip install -e '.[export]')")
    a("--latency_calls", type=int, default=d["latency_calls"], help="timed batch-1 calls per model "
                                                                    "(default %(default)s)")
    a("--latency_threads", type=int, default=d["latency_threads"],
      help="threads of PyTorch and ONNX Runtime alike for the latency rows (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    from tinybert.config.base import from_namespace
    from tinybert.recipes.report import run_report

    cfg = from_namespace(ReportConfig, args)
    result = run_report(cfg)
    report = result.report
    s, m = report["settings"], report["machine"]
    print(result.table)
    print(f"\nthroughput on {s['device']} ({m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads), "
          f"batch {s['batch_size']}, median of {s['repeats']} rounds; {report['date']}")
    if result.latency_table:
        lat = report["latency"]
        print(f"\nlatency at batch 1 ({lat['calls']} calls per model, {lat['threads']} thread(s)):")
        print(result.latency_table)
    for name, path in report["plots"].items():
        print(f"{name} plot: {path}")
    print(f"report: {cfg.output}/report.md, {cfg.output}/report.json")
    return 0
