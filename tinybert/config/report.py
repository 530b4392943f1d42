"""The report's config: which runs (grouped into arms), where the report goes, and how the models are timed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tinybert.config.base import check_positive
from tinybert.errors import UserError


def _names(value: str | Sequence[str], field_name: str) -> list[str]:
    """A comma-separated string or a list of names, stripped; an empty name is refused."""
    names = [s.strip() for s in value.split(",")] if isinstance(value, str) else [str(s).strip() for s in value]
    if any(not s for s in names):
        raise UserError.of_field(field_name, f"{value!r} has an empty name; expected NAME,NAME,...")
    return names


def _arms(value: Mapping[str, Sequence[str]] | Sequence[str]) -> dict[str, list[str]]:
    """``{"name": [dir, ...]}`` from a mapping or from ``["NAME=DIR1,DIR2", ...]`` (the ``--arm`` flag)."""
    if isinstance(value, Mapping):
        items = [(str(k), list(v) if not isinstance(v, str) else [v]) for k, v in value.items()]
    else:
        items = []
        for spec in value:
            name, sep, dirs = str(spec).partition("=")
            if not sep or not name.strip() or not dirs.strip():
                raise UserError.of_field("arms", f"{spec!r} is not NAME=DIR[,DIR...]")
            items.append((name.strip(), _names(dirs, "arms")))
    out: dict[str, list[str]] = {}
    for name, dirs in items:
        if not dirs:
            raise UserError.of_field("arms", f"{name!r} has no run directories")
        out.setdefault(name, []).extend(dirs)
    return out


@dataclass
class ReportConfig:
    """Compare a teacher and its students from their run directories.

    ``run_dirs`` are named by ``labels`` (one each; default: the folder names); runs given the same label, or the
    directories of one ``arms`` entry (``{"distilled": [seed1, seed2, seed3]}``, or ``"NAME=DIR,DIR"`` strings),
    form one arm, shown as mean ± sample std. The teacher is ``teacher`` (added when it is not among the runs), else
    the first run. ``stages`` are runs whose losses are plotted but that are not in the table. The timed batch is
    the task's first dev examples when ``data_dir`` (and ``task_name``) are given, else built-in sentences.
    ``latency``: also the batch-1 latency (p50/p95 over ``latency_calls`` calls at ``latency_threads`` threads) and
    size on disk of every student as PyTorch fp32, ONNX fp32 and ONNX int8 (exported into ``output/onnx/``), with
    their dev metric when ``data_dir`` is given.
    """

    output: str
    run_dirs: list[str] = field(default_factory=list)
    labels: list[str] | None = None
    arms: dict[str, list[str]] = field(default_factory=dict)
    teacher: str | None = None
    task_name: str | None = None
    data_dir: str | None = None
    batch_size: int = 32
    max_seq_length: int = 128
    warmup: int = 3
    repeats: int = 10
    no_cuda: bool = False
    stages: list[str] = field(default_factory=list)
    latency: bool = False  # batch-1 p50/p95 of every student: PyTorch fp32, ONNX fp32, ONNX int8 (export extra)
    latency_calls: int = 200
    latency_threads: int = 1

    def __post_init__(self) -> None:
        self.run_dirs = [str(p) for p in self.run_dirs]
        self.arms = _arms(self.arms or {})
        if not self.run_dirs and not self.arms:
            raise UserError("no run directories given; expected at least one RUN_DIR (or an arm)")
        if not self.output:
            raise UserError.of_field("output", "is required: the folder for the report")
        if self.labels is not None:
            self.labels = _names(self.labels, "labels")
            if len(self.labels) != len(self.run_dirs):
                raise UserError.of_field("labels", f"has {len(self.labels)} names for {len(self.run_dirs)} run "
                                                   "directories; expected one each")
        if self.data_dir is not None and not self.task_name:
            raise UserError.of_field("data_dir", "needs task_name (the task whose dev set gives the batch)")
        check_positive("batch_size", self.batch_size)
        check_positive("max_seq_length", self.max_seq_length)
        check_positive("warmup", self.warmup, allow_zero=True)
        check_positive("repeats", self.repeats)
        self.stages = [str(p) for p in self.stages or []]
        check_positive("latency_calls", self.latency_calls)
        check_positive("latency_threads", self.latency_threads)

    def entries(self) -> list[tuple[str | None, str]]:
        """Every run as ``(arm name or None for its folder's name, path)``: the run directories, then the arms."""
        names: list[str | None] = list(self.labels) if self.labels is not None else [None] * len(self.run_dirs)
        out = list(zip(names, self.run_dirs, strict=True))
        out += [(name, path) for name, dirs in self.arms.items() for path in dirs]
        return out

    def inputs(self) -> dict[str, str | None]:
        """Every folder the report reads, by field (for the output-location policy)."""
        found: dict[str, str | None] = {f"run_dirs[{i}]": p for i, p in enumerate(self.run_dirs)}
        found.update({f"arms[{name}][{i}]": p for name, dirs in self.arms.items() for i, p in enumerate(dirs)})
        found.update({f"stages[{i}]": p for i, p in enumerate(self.stages)})
        found.update({"teacher": self.teacher, "data_dir": self.data_dir})
        return found
