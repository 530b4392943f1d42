"""Inputs to predict on: rows of a TSV/CSV/JSONL file, or plain text lines, from a file or standard input.

Columns are chosen as for the generic task (``text_columns``: one or two 0-based indices or names; names need a
header row, which is then read from the first line). Each row keeps an id: the ``id_column`` when given, else a
JSON record's ``"id"`` when it has one, else the row's 0-based position among the inputs.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tinybert.data.tasks import Column, iter_csv, iter_tsv
from tinybert.errors import UserError, require_file
from tinybert.utils.io import iter_jsonl

FORMATS = ("tsv", "csv", "jsonl", "lines")
_EXTENSIONS = {".tsv": "tsv", ".csv": "csv", ".jsonl": "jsonl", ".json": "jsonl", ".txt": "lines"}


@dataclass(frozen=True)
class InputRow:
    """One input: its id (a string, or a JSON record's own id value as it was: a number stays a number), its text
    and, for sentence pairs, the second text."""

    id: Any
    text_a: str
    text_b: str | None = None


def detect_format(path: str, file_format: str | None = None) -> str:
    """``file_format`` when given, else from the extension (``.tsv .csv .jsonl/.json``; ``.txt`` and ``-``: lines)."""
    if file_format:
        if file_format not in FORMATS:
            raise UserError.of_field("input_format", f"must be one of: {', '.join(FORMATS)}; got {file_format!r}")
        return file_format
    if path == "-":
        return "lines"
    ext = os.path.splitext(path)[1].lower()
    if ext not in _EXTENSIONS:
        raise UserError.at(path, "cannot tell the input format from the extension; expected .tsv, .csv, .jsonl or "
                                 ".txt, or give input_format")
    return _EXTENSIONS[ext]


def parse_columns(value: str | Sequence[Column] | None) -> list[Column]:
    """``"0,1"`` / ``"question,answer"`` / ``[0]`` -> columns (digits become indices)."""
    if value is None:
        return []
    items = [c.strip() for c in value.split(",")] if isinstance(value, str) else list(value)
    cols: list[Column] = [int(c) if isinstance(c, str) and c.lstrip("-").isdigit() else c for c in items if c != ""]
    if not 1 <= len(cols) <= 2:
        raise UserError.of_field("text_columns", f"takes one or two columns, got {len(cols)}")
    return cols


def _iter_lines(path: str) -> Iterator[tuple[int, list[str]]]:
    try:
        with open(path, encoding="utf-8-sig") as f:
            for n, line in enumerate(f, 1):
                text = line.rstrip("\r\n")
                if text.strip():
                    yield n, [text]
    except UnicodeDecodeError as e:
        raise UserError.at(path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None


def _rows(path: str, fmt: str) -> Iterator[tuple[int, Any]]:
    return {"tsv": iter_tsv, "csv": iter_csv, "jsonl": iter_jsonl, "lines": _iter_lines}[fmt](path)


def _cell(row: Any, col: Column, path: str, line: int, what: str) -> str:
    if isinstance(row, dict):
        if col not in row:
            raise UserError.at(path, f"missing field {col!r} ({what}); fields: {', '.join(map(str, row))}", line=line)
        return str(row[col])
    if not isinstance(col, int) or not -len(row) <= col < len(row):
        raise UserError.at(path, f"expected column {col} ({what}), found {len(row)} columns", line=line)
    return row[col]


def read_inputs(path: str, file_format: str | None = None, text_columns: str | Sequence[Column] | None = None,
                id_column: Column | None = None, header: bool | None = None) -> list[InputRow]:
    """Every input row of ``path`` (``-``: standard input) in order; see the module docstring for columns and ids.

    ``header`` None: a header row is read when a column is given by name (TSV/CSV)."""
    if path == "-":
        return _read_stdin(file_format, text_columns, id_column, header)
    require_file(path, "input file")
    fmt = detect_format(path, file_format)
    cols = parse_columns(text_columns) or (["text"] if fmt == "jsonl" else [0])
    if isinstance(id_column, str) and id_column.lstrip("-").isdigit():
        id_column = int(id_column)
    named = any(isinstance(c, str) for c in (*cols, id_column))
    if fmt == "lines":
        cols, id_column, named = [0], None, False
    elif fmt != "jsonl" and header is None:
        header = named
    rows: list[InputRow] = []
    names: list[str] | None = None
    for line, row in _rows(path, fmt):
        if header and fmt in ("tsv", "csv") and names is None:
            names = [c.strip() for c in row]
            cols = [_resolve(c, names, path) for c in cols]
            id_column = _resolve(id_column, names, path) if id_column is not None else None
            continue
        if fmt in ("tsv", "csv") and any(isinstance(c, str) for c in cols):
            raise UserError.at(path, f"column {cols} given by name but the file has no header row; pass header")
        text_a = _cell(row, cols[0], path, line, "text")
        text_b = _cell(row, cols[1], path, line, "second text") if len(cols) > 1 else None
        if id_column is not None:
            row_id = row[id_column] if isinstance(row, dict) and id_column in row else _cell(row, id_column, path,
                                                                                             line, "id")
        elif isinstance(row, dict) and "id" in row:
            row_id = row["id"]
        else:
            row_id = str(len(rows))
        rows.append(InputRow(row_id, text_a, text_b))
    if not rows:
        raise UserError.at(path, "no inputs; expected at least one non-blank row")
    return rows


def _resolve(col: Column, names: list[str], path: str) -> Column:
    if isinstance(col, int):
        return col
    if col not in names:
        raise UserError.at(path, f"no column named {col!r} in the header; columns: {', '.join(names)}", line=1)
    return names.index(col)


def _read_stdin(file_format: str | None, text_columns: Any, id_column: Any, header: bool | None) -> list[InputRow]:
    """Standard input spooled to a temporary file, then read like a file of ``file_format`` (default: lines)."""
    fmt = detect_format("-", file_format)
    with tempfile.TemporaryDirectory() as tmp:
        spooled = os.path.join(tmp, f"stdin.{fmt}")
        with open(spooled, "w", encoding="utf-8") as f:
            shutil.copyfileobj(sys.stdin, f)
        try:
            return read_inputs(spooled, fmt, text_columns, id_column, header)
        except UserError as e:
            raise UserError(str(e).replace(spooled, "<stdin>"), field=e.field) from None
