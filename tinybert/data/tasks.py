"""Task data: the GLUE / CLUE task registry, file layouts, readers and label maps.

``get_task(name)`` gives a :class:`TaskSpec` describing a task's labels, metric and the column layout of its
distributed TSV files; ``read_examples(spec, data_dir, split)`` reads one split into :class:`InputExample` rows.
The same layouts serve augmentation (``spec.text_columns`` are the train-file columns holding text) and the
augmented ``train_aug.tsv`` (read like ``train.tsv``). A generic processor reads any TSV/CSV/JSONL given its text
and label columns. Features (tokenisation, datasets, collation) live in :mod:`tinybert.data.task_features`.

Rows are split on tabs with no quoting (as the original ``csv.reader(quotechar=None)``); blank lines are skipped.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tinybert.errors import UserError
from tinybert.utils.io import iter_jsonl

logger = logging.getLogger(__name__)

SPLITS = ("train", "train_aug", "dev", "dev_mismatched", "test", "test_mismatched", "unlabeled")
# splits read with the test layout, whose rows need no label: the test files, and ``unlabeled`` (inputs for
# distillation, which the teacher labels: ``task_distill.py --unlabeled_train``; a label cell there is ignored)
UNLABELED_LAYOUT = ("test", "test_mismatched", "unlabeled")
Column = int | str  # an index (TSV/CSV) or a name (header / JSON key)


@dataclass(frozen=True)
class InputExample:
    """One example: ``text_b`` is None for single-sentence tasks, ``label`` None for unlabelled test rows.

    ``label`` is the label's string (classification) or a float (regression).
    """

    guid: str
    text_a: str
    text_b: str | None = None
    label: str | float | None = None


@dataclass(frozen=True)
class Layout:
    """Where the fields of one file kind are: column indices (``-1`` = last column) or names, and the header."""

    text_a: Column
    text_b: Column | None = None
    label: Column | None = None
    header: bool | None = False  # None: skip the first row if its label cell is not a valid label
    id_column: Column | None = None  # test files: the row id used in guids (and submissions)
    skip_malformed: bool = False  # QQP: rows with too few columns are skipped and reported, not fatal

    @property
    def min_columns(self) -> int:
        """Fewest columns a row must have (label ``-1`` = last column needs one past the text columns)."""
        cols = [c for c in (self.text_a, self.text_b, self.label) if isinstance(c, int) and c >= 0]
        need = max(cols) + 1 if cols else 1
        if self.label == -1:
            need = max(need, max((c for c in (self.text_a, self.text_b) if isinstance(c, int)), default=-1) + 2)
        return need


@dataclass(frozen=True)
class TaskSpec:
    """A task: its labels (None for regression), metric, file names and column layouts."""

    name: str
    labels: list[str] | None
    output_mode: str  # "classification" | "regression"
    main_metric: str
    train: Layout  # train.tsv, train_aug.tsv and dev files
    test: Layout  # test files (usually unlabelled)
    files: dict[str, str]  # split -> file name inside data_dir
    text_columns: tuple[Column, ...]  # train-file columns holding text (augmentation rewrites these)
    dev_splits: tuple[str, ...] = ("dev",)  # every dev set to evaluate, each reported on its own
    language: str = "en"
    label_aliases: dict[str, str] = field(default_factory=dict)  # e.g. XNLI's "contradictory" -> "contradiction"
    file_format: str = "tsv"  # generic task only: "tsv" | "csv" | "jsonl"

    @property
    def num_labels(self) -> int:
        """Classifier outputs: the number of labels, 1 for regression."""
        return 1 if self.output_mode == "regression" else len(self.labels or [])

    @property
    def is_pair(self) -> bool:
        return self.train.text_b is not None

    def path(self, data_dir: str | os.PathLike, split: str) -> str:
        """The file of ``split`` inside ``data_dir``."""
        if split not in self.files:
            raise UserError(f"task {self.name} has no {split} split; it has: {', '.join(self.files)}")
        return os.path.join(os.fspath(data_dir), self.files[split])

    def layout(self, split: str) -> Layout:
        return self.test if split in UNLABELED_LAYOUT else self.train

    def eval_name(self, split: str) -> str:
        """The name a dev split's results are reported under (MNLI: ``mnli`` and ``mnli-mm``)."""
        return f"{self.name}-mm" if split == "dev_mismatched" else self.name


# ----------------------------------------------------------------------------------------------------- registry

_BIN = ["0", "1"]
_NLI3 = ["contradiction", "entailment", "neutral"]
_NLI2 = ["entailment", "not_entailment"]


def _files(ext: str = "tsv", mnli: str | None = None) -> dict[str, str]:
    f = {"train": f"train.{ext}", "train_aug": f"train_aug.{ext}", "dev": f"dev.{ext}", "test": f"test.{ext}",
         "unlabeled": f"unlabeled.{ext}"}
    if mnli == "matched":
        f.update(dev="dev_matched.tsv", dev_mismatched="dev_mismatched.tsv", test="test_matched.tsv",
                 test_mismatched="test_mismatched.tsv")
    elif mnli == "mismatched":
        f.update(dev="dev_mismatched.tsv", test="test_mismatched.tsv")
    return f


def _glue_pair(name: str, labels: list[str], metric: str = "acc") -> TaskSpec:
    # QNLI, RTE, WNLI: index <tab> sentence1 <tab> sentence2 <tab> label, with a header; test lacks the label.
    return TaskSpec(name, labels, "classification", metric, Layout(1, 2, 3, header=True),
                    Layout(1, 2, None, header=True, id_column=0), _files(), (1, 2))


def _mnli(name: str, which: str) -> TaskSpec:
    return TaskSpec(name, _NLI3, "classification", "acc", Layout(8, 9, -1, header=True),
                    Layout(8, 9, None, header=True, id_column=0), _files(mnli=which), (8, 9),
                    dev_splits=("dev", "dev_mismatched") if which == "matched" else ("dev",))


def _clue(name: str, labels: list[str], layout: Layout, text_columns: tuple[int, ...], **kw: Any) -> TaskSpec:
    return TaskSpec(name, labels, "classification", "acc", layout, layout, _files(), text_columns, language="zh",
                    **kw)


_TASKS: dict[str, TaskSpec] = {
    t.name: t
    for t in [
        # CoLA: source <tab> label <tab> original-annotation <tab> sentence, no header; test: index, sentence.
        TaskSpec("cola", _BIN, "classification", "mcc", Layout(3, None, 1, header=False),
                 Layout(1, None, None, header=True, id_column=0), _files(), (3,)),
        # SST-2: header "sentence label"; test: index, sentence.
        TaskSpec("sst-2", _BIN, "classification", "acc", Layout(0, None, 1, header=True),
                 Layout(1, None, None, header=True, id_column=0), _files(), (0,)),
        # MRPC: Quality, #1 ID, #2 ID, #1 String, #2 String; test: index, #1 ID, #2 ID, #1 String, #2 String.
        TaskSpec("mrpc", _BIN, "classification", "acc", Layout(3, 4, 0, header=True),
                 Layout(3, 4, None, header=True, id_column=0), _files(), (3, 4)),
        # STS-B: index genre filename year old_index source1 source2 sentence1 sentence2 score.
        TaskSpec("sts-b", None, "regression", "corr", Layout(7, 8, 9, header=True),
                 Layout(7, 8, None, header=True, id_column=0), _files(), (7, 8)),
        # QQP: id qid1 qid2 question1 question2 is_duplicate; test: id question1 question2. Short rows skipped.
        TaskSpec("qqp", _BIN, "classification", "acc", Layout(3, 4, 5, header=True, skip_malformed=True),
                 Layout(1, 2, None, header=True, id_column=0, skip_malformed=True), _files(), (3, 4)),
        _mnli("mnli", "matched"),
        _mnli("mnli-mm", "mismatched"),
        _glue_pair("qnli", _NLI2),
        _glue_pair("rte", _NLI2),
        _glue_pair("wnli", _BIN),
        _clue("lcqmc", _BIN, Layout(0, 1, 2, header=None), (0, 1)),
        _clue("chnsenticorp", _BIN, Layout(1, None, 0, header=None), (1,)),
        _clue("xnli", _NLI3, Layout(0, 1, 2, header=None), (0, 1), label_aliases={"contradictory": "contradiction"}),
    ]
}
_ALIASES = {"sst2": "sst-2", "stsb": "sts-b", "sts": "sts-b", "mnli-m": "mnli", "mnli_mm": "mnli-mm",
            "xnli-zh": "xnli", "xnli_zh": "xnli", "chnsenti": "chnsenticorp"}
KNOWN_TASKS: tuple[str, ...] = (*_TASKS, "generic")


def get_task(name: str, **generic_options: Any) -> TaskSpec:
    """The spec of a task by (case-insensitive) name; ``generic`` takes :func:`generic_task`'s options."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key == "generic":
        return generic_task(**generic_options)
    if key not in _TASKS:
        raise UserError(f"unknown task {name!r}; known tasks: {', '.join(KNOWN_TASKS)}")
    return _TASKS[key]


def generic_task(text_columns: list[Column] | tuple[Column, ...] | str | None = None,
                 label_column: Column | None = None, labels: list[str] | str | None = None,
                 output_mode: str = "classification", file_format: str | None = None, header: bool | None = None,
                 name: str = "generic") -> TaskSpec:
    """A task over any TSV/CSV/JSONL with one or two text columns and a label column (names or 0-based indices).

    Files are ``train``/``train_aug``/``dev``/``test`` with the format's extension (``file_format`` None: whichever
    exists, looked for as .tsv, .csv, .jsonl). ``header`` defaults to True when columns are given by name. Labels,
    when not given, are inferred from the train file (sorted; numerically when all are integers), see
    :func:`resolve_task`. ``text_columns`` and ``labels`` may be comma-separated strings ("0,1", "neg,pos").
    """
    if text_columns is None or label_column is None:
        raise UserError("the generic task needs --text_columns (one or two) and --label_column")
    if isinstance(text_columns, str):
        text_columns = [c.strip() for c in text_columns.split(",") if c.strip()]
    cols = tuple(_as_column(c) for c in text_columns)
    if not 1 <= len(cols) <= 2:
        raise UserError(f"--text_columns takes one or two columns, got {len(cols)}")
    label = _as_column(label_column)
    if isinstance(labels, str):
        labels = [x.strip() for x in labels.split(",") if x.strip()]
    if output_mode not in ("classification", "regression"):
        raise UserError(f"output mode must be classification or regression, got {output_mode!r}")
    if file_format not in (None, "tsv", "csv", "jsonl"):
        raise UserError(f"file format must be tsv, csv or jsonl, got {file_format!r}")
    if header is None:
        header = any(isinstance(c, str) for c in (*cols, label))
    layout = Layout(cols[0], cols[1] if len(cols) > 1 else None, label, header=header)
    metric = "corr" if output_mode == "regression" else "acc"
    return TaskSpec(name, list(labels) if labels is not None else None, output_mode, metric, layout, layout,
                    _files(file_format or "tsv"), cols, file_format=file_format or "auto")


def _as_column(c: Column) -> Column:
    if isinstance(c, str) and c.lstrip("-").isdigit():
        return int(c)
    return c


# ----------------------------------------------------------------------------------------------------- reading


def iter_tsv(path: str) -> Iterator[tuple[int, list[str]]]:
    """(1-based line number, fields) for every non-blank line of a tab-separated file, with no quoting."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\r\n")
                if line.strip():
                    yield n, line.split("\t")
    except UnicodeDecodeError as e:
        raise UserError.at(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None


def iter_csv(path: str) -> Iterator[tuple[int, list[str]]]:
    """(1-based line number of the row's start, fields) for every non-blank row of a comma-separated file."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            start = 1
            for row in reader:
                if any(cell.strip() for cell in row):
                    yield start, row
                start = reader.line_num + 1
    except UnicodeDecodeError as e:
        raise UserError.at(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise UserError.at(path, f"malformed CSV ({e})") from None


def _locate(spec: TaskSpec, data_dir: str | os.PathLike, split: str) -> tuple[str, str]:
    """(path, format) of a split's file; missing file -> UserError naming the path."""
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; expected one of: {', '.join(SPLITS)}")
    if spec.file_format == "auto":
        stem = os.path.join(os.fspath(data_dir), split)
        for ext in ("tsv", "csv", "jsonl"):
            if os.path.isfile(f"{stem}.{ext}"):
                return f"{stem}.{ext}", ext
        raise UserError.at(f"{stem}.tsv", f"{split} file for task {spec.name} not found (nor {split}.csv, "
                                          f"{split}.jsonl)")
    path = spec.path(data_dir, split)
    if not os.path.isfile(path):
        what = "not found" if not os.path.exists(path) else "is not a file"
        raise UserError.at(path, f"{split} file for task {spec.name} {what}")
    return path, spec.file_format


def _rows(path: str, fmt: str) -> Iterator[tuple[int, list[str] | dict[str, Any]]]:
    if fmt == "jsonl":
        return iter_jsonl(path)
    return iter_csv(path) if fmt == "csv" else iter_tsv(path)


def _index(layout: Layout, header: list[str] | None, path: str) -> dict[str, Column | None]:
    """Resolve named columns against the header row (JSONL keeps names)."""
    out: dict[str, Column | None] = {}
    for key in ("text_a", "text_b", "label", "id_column"):
        col = getattr(layout, key)
        if isinstance(col, str) and header is not None:
            if col not in header:
                raise UserError.at(path, f"no column named {col!r} in the header; columns: {', '.join(header)}",
                                   line=1)
            col = header.index(col)
        out[key] = col
    return out


def _cell(row: list[str] | dict[str, Any], col: Column, path: str, line: int) -> Any:
    if isinstance(row, dict):
        if col not in row:
            raise UserError.at(path, f"missing field {col!r}", line=line)
        return row[col]
    if isinstance(col, str):
        raise UserError.at(path, f"column {col!r} is a name but the file has no header; give a column index")
    return row[col]


def _normalise_label(spec: TaskSpec, raw: Any, path: str, line: int) -> str | float:
    if spec.output_mode == "regression":
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise UserError.at(path, f"label {raw!r} is not a number (task {spec.name} is a regression)",
                               line=line) from None
    label = str(raw).strip() if not isinstance(raw, bool) else str(int(raw))
    label = spec.label_aliases.get(label, label)
    if spec.labels is not None and label not in spec.labels:
        raise UserError.at(path, f"label {label!r} is not one of the {spec.name} labels {spec.labels}", line=line)
    return label


def read_examples(spec: TaskSpec, data_dir: str | os.PathLike, split: str) -> list[InputExample]:
    """Read one split (train, train_aug, dev, dev_mismatched, test, test_mismatched) of a task.

    Errors (UserError, one line): missing file; a row with too few columns (``path:line: expected at least N
    tab-separated columns, found M``), except QQP whose short rows are skipped and reported in one warning as the
    original skips them; a label outside the task's list; an empty split. Test rows carry a label when the file has
    the label column (CLUE test files do) and guids ``test-<id column>`` when the layout has an id column.
    """
    return _read(resolve_task(spec, data_dir), data_dir, split)


def _read(spec: TaskSpec, data_dir: str | os.PathLike, split: str) -> list[InputExample]:
    path, fmt = _locate(spec, data_dir, split)
    layout = spec.layout(split)
    sep = {"csv": "comma-separated", "tsv": "tab-separated"}.get(fmt, "")
    rows = _rows(path, fmt)
    header: list[str] | None = None
    cols: dict[str, Column | None] | None = None
    examples: list[InputExample] = []
    skipped: list[int] = []
    is_test = split in UNLABELED_LAYOUT
    first = True
    for line, row in rows:
        if first and fmt != "jsonl":
            first = False
            if _is_header(spec, layout, row, is_test):
                header = [c.strip() for c in row]  # type: ignore[union-attr]
                continue
        first = False
        if cols is None:
            cols = _index(layout, header, path)
        if isinstance(row, list):
            need = _min_columns({**cols, "label": None} if is_test else cols)  # test rows may lack the label
            if len(row) < need:
                if layout.skip_malformed:
                    skipped.append(line)
                    continue
                raise UserError.at(path, f"expected at least {need} {sep} columns, found {len(row)}", line=line)
            has_label = cols["label"] is not None and len(row) >= _min_columns(cols)
        else:
            has_label = cols["label"] is not None and (not is_test or cols["label"] in row)
        text_a = _cell(row, cols["text_a"], path, line)  # type: ignore[arg-type]
        text_b = _cell(row, cols["text_b"], path, line) if cols["text_b"] is not None else None
        label: str | float | None = None
        if has_label and split != "unlabeled":  # the unlabeled split's label cells (CLUE layouts have one) are ignored
            label = _normalise_label(spec, _cell(row, cols["label"], path, line), path, line)  # type: ignore[arg-type]
        if is_test and cols["id_column"] is not None:
            guid = f"{split}-{_cell(row, cols['id_column'], path, line)}"
        else:
            guid = f"{split}-{line}"
        examples.append(InputExample(guid, str(text_a), None if text_b is None else str(text_b), label))
    if skipped:
        shown = ", ".join(map(str, skipped[:5])) + (", ..." if len(skipped) > 5 else "")
        logger.warning("%s: skipped %d malformed row(s) with fewer than %d columns (lines %s)", path, len(skipped),
                       _min_columns(cols) if cols else layout.min_columns, shown)
    if not examples:
        raise UserError.at(path, f"{split} set is empty; expected at least one example")
    return examples


def _min_columns(cols: Mapping[str, Column | None]) -> int:
    return Layout(cols["text_a"], cols["text_b"], cols["label"]).min_columns  # type: ignore[arg-type]


def _is_header(spec: TaskSpec, layout: Layout, row: list[str] | dict[str, Any], is_test: bool) -> bool:
    if layout.header is not None:
        return layout.header
    # auto (CLUE files come with and without a header): a first row whose label cell is not a label is a header
    if not isinstance(layout.label, int) or not isinstance(row, list) or len(row) <= layout.label:
        return is_test and isinstance(row, list) and bool(row) and row[0].strip().lower() in ("id", "index", "label")
    cell = spec.label_aliases.get(row[layout.label].strip(), row[layout.label].strip())
    return spec.labels is not None and cell not in spec.labels


def is_header_row(spec: TaskSpec, row: list[str], split: str = "train") -> bool:
    """Whether ``row``, the first non-blank row of a ``split`` file, is a header (CLUE files: auto-detected)."""
    return _is_header(spec, spec.layout(split), row, split in UNLABELED_LAYOUT)


def _needs_labels(spec: TaskSpec) -> bool:
    return spec.output_mode == "classification" and spec.labels is None


def resolve_task(spec: TaskSpec, data_dir: str | os.PathLike) -> TaskSpec:
    """A spec with its labels filled in: a generic classification task with no labels gets the train file's labels.

    Labels are sorted (numerically when all are integers), so the same train file always gives the same map.
    """
    if not _needs_labels(spec):
        return spec
    found = {str(ex.label) for ex in _read(spec, data_dir, "train")}  # labels unchecked while spec.labels is None
    ints = all(x.lstrip("-").isdigit() for x in found)
    labels = sorted(found, key=lambda x: (int(x), x) if ints else (0, x))
    logger.info("task %s: labels inferred from train: %s", spec.name, labels)
    return replace(spec, labels=labels)


def read_train(spec: TaskSpec, data_dir: str | os.PathLike, aug_train: bool = False) -> list[InputExample]:
    """The training set: ``train_aug.tsv`` with ``aug_train`` (as the original's ``--aug_train``), else train."""
    return read_examples(spec, data_dir, "train_aug" if aug_train else "train")


# ----------------------------------------------------------------------------------------------------- label maps


def label_maps(spec: TaskSpec) -> tuple[dict[int, str], dict[str, int]]:
    """``(id2label, label2id)`` for a model config; regression gets transformers' default ``LABEL_0``."""
    if spec.output_mode == "regression":
        return {0: "LABEL_0"}, {"LABEL_0": 0}
    if spec.labels is None:
        raise UserError(f"task {spec.name} has no label list yet; read its train file first")
    id2label = dict(enumerate(spec.labels))
    return id2label, {v: k for k, v in id2label.items()}


def _config_id2label(model_config: Any) -> dict[int, str]:
    raw = model_config.get("id2label") if isinstance(model_config, Mapping) else getattr(model_config, "id2label",
                                                                                         None)
    if not raw:
        n = (model_config.get("num_labels") if isinstance(model_config, Mapping)
             else getattr(model_config, "num_labels", None)) or 2
        return {i: f"LABEL_{i}" for i in range(int(n))}
    return {int(k): str(v) for k, v in raw.items()}


def check_label_map(model_config: Any, spec: TaskSpec, who: str = "model") -> None:
    """Refuse a model whose labels disagree with the task's (count, names or order: the MNLI label-order trap).

    ``model_config`` is a transformers config or its dict. Generic ``LABEL_0..`` names with the right count are
    accepted with a warning; names are compared case-insensitively.
    """
    id2label = _config_id2label(model_config)
    names = [id2label[i] for i in sorted(id2label)]
    n = spec.num_labels
    if len(names) != n:
        want = "1 output (regression)" if spec.output_mode == "regression" else f"{n} labels {spec.labels}"
        raise UserError(f"{who} has {len(names)} labels {names} but task {spec.name} needs {want}")
    if spec.output_mode == "regression":
        return
    assert spec.labels is not None
    if all(name == f"LABEL_{i}" for i, name in enumerate(names)):
        logger.warning("%s has generic label names %s; assuming they mean the %s labels %s in that order", who, names,
                       spec.name, spec.labels)
        return
    got = [x.lower() for x in names]
    want_l = [x.lower() for x in spec.labels]
    if got == want_l:
        return
    if sorted(got) == sorted(want_l):
        raise UserError(f"{who} orders its labels {names} but task {spec.name} uses {spec.labels}; "
                        f"its predictions would be scored against the wrong labels")
    raise UserError(f"{who} has labels {names} but task {spec.name} has labels {spec.labels}")
