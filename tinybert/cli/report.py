"""``tinybert report RUN_DIRS... --output DIR``: teacher vs students, as a table and plots.

Writes ``report.md``, ``report.json``, ``losses.png`` and ``dev_metric.png`` into ``--output`` (a report already
there is replaced) and prints the table and the plot paths.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("run_dirs", nargs="*", metavar="RUN_DIR", help="run directories (model folders with metrics.jsonl and "
                                                     "eval_results.txt); the first is the teacher unless --teacher")
    a("--output", required=True, help="folder for report.md, report.json, losses.png, dev_metric.png")
    a("--labels", default=None, help="comma-separated names of the runs, one per RUN_DIR (default: folder names)")
    a("--teacher", default=None, help="the teacher's run directory (default: the first RUN_DIR)")
    a("--task_name", default=None, help="the task: its main metric is the dev score (default: the first metric "
                                        "in eval_results.txt)")
    a("--data_dir", default=None, help="time on the task's dev examples (needs --task_name; default: built-in "
                                       "English sentences)")
    a("--batch_size", type=int, default=32, help="examples in the timed batch (default %(default)s)")
    a("--max_seq_length", type=int, default=128, help="longer inputs are truncated (default %(default)s)")
    a("--warmup", type=int, default=3, help="untimed rounds before timing (default %(default)s)")
    a("--repeats", type=int, default=10, help="timed rounds; throughput from the median (default %(default)s)")
    a("--no_cuda", action="store_true", help="time on the CPU even when a GPU is available")
    a("--stages", nargs="*", default=[], metavar="DIR",
      help="more run directories whose training losses are plotted but that are not in the table "
           "(e.g. general distillation and task stage 1)")


def run(args: argparse.Namespace) -> int:
    from tinybert.errors import UserError
    from tinybert.report import make_report

    labels = None
    if args.labels is not None:
        labels = [s.strip() for s in args.labels.split(",")]
        if any(not s for s in labels):
            raise UserError(f"--labels {args.labels!r} has an empty name; expected NAME,NAME,...")
    report = make_report(args.run_dirs, args.output, labels=labels, teacher=args.teacher, data_dir=args.data_dir,
                         task_name=args.task_name, batch_size=args.batch_size, max_seq_length=args.max_seq_length,
                         warmup=args.warmup, repeats=args.repeats, no_cuda=args.no_cuda,
                         stage_dirs=args.stages)
    s, m = report["settings"], report["machine"]
    print(report["table"])
    print(f"\nthroughput on {s['device']} ({m['cpu']}, {m['cores']} cores, {m['torch_threads']} torch threads), "
          f"batch {s['batch_size']}, median of {s['repeats']} rounds; {report['date']}")
    for name, path in report["plots"].items():
        print(f"{name} plot: {path}")
    print(f"report: {args.output}/report.md, {args.output}/report.json")
    return 0
