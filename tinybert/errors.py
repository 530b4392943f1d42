"""User-facing errors: one line, naming the file (and line) and what was expected.

Library code raises :class:`UserError` for anything the user can fix (bad path, malformed row, mismatched
vocab...). The CLI prints ``error: <message>`` and exits with status 2, without a traceback.
"""

from __future__ import annotations

import os


class UserError(Exception):
    """An error caused by user input; printed as one line by the CLI (exit status 2)."""

    exit_code = 2

    def __init__(self, message: str, field: str | None = None, also: tuple[str, ...] = ()) -> None:
        super().__init__(" ".join(str(message).split()))  # always one line
        self.field = field  # the config field the message names first (the CLI may show its flag instead)
        self.also = tuple(also)  # other config fields the message names (shown as flags too)

    @classmethod
    def of_field(cls, field: str, message: str, path: str | os.PathLike | None = None,
                 also: tuple[str, ...] = ()) -> UserError:
        """An error about config field ``field``: ``"[path: ]field message"``; ``also`` lists other fields the
        message names.

        Library code names config fields, never flags; :func:`tinybert.cli.run_command` shows ``--flag`` in place
        of each field name when the command has a flag for it."""
        where = f"{os.fspath(path)}: " if path is not None else ""
        return cls(f"{where}{field} {message}", field=field, also=also)

    @classmethod
    def at(cls, path: str | os.PathLike, message: str, line: int | None = None) -> UserError:
        """Build an error located at ``path`` (and 1-based ``line``)."""
        where = f"{os.fspath(path)}:{line}" if line is not None else os.fspath(path)
        return cls(f"{where}: {message}")


def require_file(path: str | os.PathLike, what: str = "file") -> str:
    """Return ``path`` as str if it is an existing file, else raise a :class:`UserError`."""
    p = os.fspath(path)
    if not os.path.isfile(p):
        raise UserError.at(p, f"{what} not found" if not os.path.exists(p) else f"expected a {what}, found a directory")
    return p


def require_dir(path: str | os.PathLike, what: str = "directory") -> str:
    """Return ``path`` as str if it is an existing directory, else raise a :class:`UserError`."""
    p = os.fspath(path)
    if not os.path.isdir(p):
        raise UserError.at(p, f"{what} not found" if not os.path.exists(p) else f"expected a {what}, found a file")
    return p
