"""Run directories and arms: what the report reads, and the statistics over the runs of one arm.

A run directory is a model folder (``config.json``, weights, ``vocab.txt``) as the recipes leave it, with the
training log ``metrics.jsonl`` and the dev results ``eval_results.txt``. An *arm* is one setting run several times
(e.g. three seeds): runs given the same label form one arm, and the report shows its mean ± sample std.
"""

from __future__ import annotations

import logging
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tinybert.errors import UserError, require_dir
from tinybert.evaluate import EVAL_RESULTS, read_eval_results
from tinybert.models.checkpoint import find_config, find_weight_files
from tinybert.train.loop import METRICS_FILE
from tinybert.utils.io import iter_jsonl

logger = logging.getLogger(__name__)

# metrics.jsonl keys that are not losses (the training loop also logs "epoch" and "lr")
NOT_LOSS_KEYS = frozenset({"step", "epoch", "lr", "learning_rate", "global_step"})
# eval_results.txt keys that are not a score
NOT_SCORE_KEYS = frozenset({"eval_loss", "loss", "global_step", "step", "epoch"})


@dataclass
class Run:
    """One run directory and everything the report says about it. ``name`` is unique in a report (``arm [k]`` when
    an arm has several runs); ``arm`` is the arm's name."""

    name: str
    path: str
    arm: str = ""
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

    def __post_init__(self) -> None:
        self.arm = self.arm or self.name

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "records"}
        out["series"] = {k: len(v[0]) for k, v in series(self.records).items()}
        return out


@dataclass
class Stat:
    """Mean, sample standard deviation (None for one value) and count of a list of numbers."""

    mean: float | None
    std: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float | None]) -> Stat:
        xs = [float(v) for v in values if v is not None]
        if not xs:
            return cls(None, None, 0)
        return cls(statistics.fmean(xs), statistics.stdev(xs) if len(xs) > 1 else None, len(xs))


@dataclass
class Arm:
    """The runs of one setting (one or several seeds) and their statistics, filled by :func:`summarise_arms`."""

    name: str
    runs: list[Run]
    metric: Stat = field(default_factory=lambda: Stat(None, None, 0))
    samples_per_s: Stat = field(default_factory=lambda: Stat(None, None, 0))
    share_of_teacher_pct: float | None = None
    speedup: float | None = None

    @property
    def is_teacher(self) -> bool:
        return self.runs[0].is_teacher

    @property
    def first(self) -> Run:
        return self.runs[0]

    @property
    def metric_name(self) -> str | None:
        return self.first.metric_name

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "is_teacher": self.is_teacher, "runs": [r.name for r in self.runs],
                "metric_name": self.metric_name, "metric": self.metric.__dict__,
                "samples_per_s": self.samples_per_s.__dict__, "share_of_teacher_pct": self.share_of_teacher_pct,
                "speedup": self.speedup}


# ----------------------------------------------------------------------------------------------------- reading


def read_metrics(path: str) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` (blank lines skipped); a line that is not a JSON object is a UserError."""
    return [record for _, record in iter_jsonl(path)]


def number(v: Any) -> float | None:
    """``v`` as a float when it is a finite number (not a bool), else None."""
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def series(records: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    """Every numeric key of the records as ``(steps, values)``, in file order; records without a step use their
    position (1-based)."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for i, record in enumerate(records, 1):
        step = number(record.get("step"))
        step = float(i) if step is None else step
        for key, value in record.items():
            v = number(value)
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
            if number(results.get(key)) is not None:
                return key
        return None
    return next((k for k, v in results.items() if k not in NOT_SCORE_KEYS and not k.endswith("_loss")
                 and number(v) is not None), None)


def label_of(path: str) -> str:
    """A run's default name: its folder's name."""
    return os.path.basename(os.path.normpath(os.path.abspath(path)))


def read_stage(path: str) -> Run | None:
    """An intermediate stage's run (losses plotted, not tabled), or None when it has no ``metrics.jsonl``."""
    path = require_dir(path, "stage run directory")
    log = os.path.join(path, METRICS_FILE)
    return Run(name=label_of(path), path=path, records=read_metrics(log)) if os.path.isfile(log) else None


def collect(entries: Sequence[tuple[str | None, str]], teacher: str | None = None,
            task_name: str | None = None) -> tuple[list[Run], list[dict[str, str]]]:
    """Read the runs ``[(arm name or None for the folder's name, path), ...]``, the teacher first (``teacher``,
    else the first run with a model); returns ``(runs, skipped)``.

    Runs given the same arm name form one arm (their names become ``arm [1]``, ``arm [2]``, ...); two runs whose
    folder names collide without a name given are refused. Runs without a model folder are skipped with a warning;
    a missing run directory, an unreadable ``metrics.jsonl`` or ``eval_results.txt`` is a UserError.
    """
    if not entries:
        raise UserError("no run directories given; expected at least one RUN_DIR")
    paths = [require_dir(p, "run directory") for _, p in entries]
    names = [name if name is not None else label_of(p) for (name, _), p in zip(entries, paths, strict=True)]
    explicit = [name is not None for name, _ in entries]
    teacher_index = None
    if teacher is not None:
        require_dir(teacher, "teacher run directory")
        real = [os.path.realpath(p) for p in paths]
        if os.path.realpath(teacher) in real:
            teacher_index = real.index(os.path.realpath(teacher))
        else:
            paths.insert(0, teacher)
            names.insert(0, label_of(teacher))
            explicit.insert(0, False)
            teacher_index = 0
    for i, name in enumerate(names):
        if not explicit[i] and names.count(name) > 1:
            raise UserError(f"two runs share a name ({', '.join(names)}); give distinct --labels "
                            "(or the same label to runs of one arm)")
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
        run = Run(name=name, path=path, arm=name, is_teacher=i == teacher_index)
        if os.path.isfile(os.path.join(path, METRICS_FILE)):
            run.records = read_metrics(os.path.join(path, METRICS_FILE))
        if os.path.isfile(os.path.join(path, EVAL_RESULTS)):
            run.eval_results = read_eval_results(os.path.join(path, EVAL_RESULTS))
        runs.append(run)
    if not runs:
        raise UserError("none of the run directories holds a model; expected model folders (config.json + weights)")
    if not any(r.is_teacher for r in runs):
        runs[0].is_teacher = True
    teacher_arm = next(r.arm for r in runs if r.is_teacher)
    for run in runs:  # every run of the teacher's arm is a teacher
        run.is_teacher = run.arm == teacher_arm
    arm_order = list(dict.fromkeys(r.arm for r in runs))
    runs.sort(key=lambda r: (not r.is_teacher, arm_order.index(r.arm)))  # teacher first, then arms as given
    for arm in arm_order:
        members = [r for r in runs if r.arm == arm]
        if len(members) > 1:
            for k, run in enumerate(members, 1):
                run.name = f"{arm} [{k}]"
    _pick_metrics(runs, task_name)
    return runs, skipped


def _pick_metrics(runs: list[Run], task_name: str | None) -> None:
    """Choose one metric for all runs (the teacher's, or the first run's that has results) and read it."""
    ordered = sorted(runs, key=lambda r: not r.is_teacher)
    common = next((k for r in ordered if (k := metric_key(r.eval_results, task_name)) is not None), None)
    for run in runs:
        key = common if common is not None and number(run.eval_results.get(common)) is not None else None
        key = key or metric_key(run.eval_results, task_name)
        if run.eval_results and key is None:
            logger.warning("%s: no score found in %s", run.path, EVAL_RESULTS)
        run.metric_name = key
        run.metric = number(run.eval_results.get(key)) if key else None


# ----------------------------------------------------------------------------------------------------- arms


def group_arms(runs: Sequence[Run]) -> list[Arm]:
    """The runs grouped by arm, in the runs' order (the teacher's arm first)."""
    arms: dict[str, Arm] = {}
    for run in runs:
        arms.setdefault(run.arm, Arm(run.arm, [])).runs.append(run)
    for arm in arms.values():
        sizes = {(r.parameters, r.weight_bytes) for r in arm.runs}
        if len(sizes) > 1:
            logger.warning("arm %s: its runs differ in size (%s); the table shows the first run's", arm.name,
                           ", ".join(f"{p} parameters" for p, _ in sorted(sizes, key=str)))
    return list(arms.values())


def summarise_arms(runs: Sequence[Run]) -> list[Arm]:
    """Group the measured runs into arms and fill every run's and arm's share of the teacher's score and speed-up
    (relative to the teacher arm's means; one teacher run: its own figures)."""
    arms = group_arms(runs)
    for arm in arms:
        name = arm.metric_name
        arm.metric = Stat.of([r.metric for r in arm.runs if r.metric_name == name])
        arm.samples_per_s = Stat.of([r.samples_per_s for r in arm.runs])
    teacher = next(a for a in arms if a.is_teacher)
    t_metric, t_speed = teacher.metric.mean, teacher.samples_per_s.mean
    for arm in arms:
        for run in arm.runs:
            if t_speed and run.samples_per_s:
                run.speedup = run.samples_per_s / t_speed
            if run.metric is not None and t_metric and run.metric_name == teacher.metric_name:
                run.share_of_teacher_pct = 100.0 * run.metric / t_metric
        if t_speed and arm.samples_per_s.mean:
            arm.speedup = arm.samples_per_s.mean / t_speed
        if arm.metric.mean is not None and t_metric and arm.metric_name == teacher.metric_name:
            arm.share_of_teacher_pct = 100.0 * arm.metric.mean / t_metric
    return arms
