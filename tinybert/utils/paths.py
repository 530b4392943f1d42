"""The output-location policy every command that writes a folder or a file applies before any work.

An output may not be, contain or lie inside any input (paths resolved through symlinks): writing there would
replace or mix with what the job reads (a teacher's weights, a student config, a corpus folder).
``--overwrite_output_dir`` never makes that allowed; it only lets a job replace its own earlier output.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from tinybert.errors import UserError


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_output_location(output: str | os.PathLike, inputs: Mapping[str, str | os.PathLike | None], *,
                          output_field: str = "output_dir", is_dir: bool = True) -> None:
    """Refuse ``output`` when it is, contains or lies inside one of ``inputs`` ({config field: path}; None and
    empty entries skipped); with ``is_dir``, also refuse an output that is an existing file.

    The error names the output's config field and the input's (the CLI shows both as flags)."""
    out = os.path.realpath(os.fspath(output))
    if is_dir and os.path.isfile(out):
        raise UserError.of_field(output_field, f"{os.fspath(output)} is an existing file; expected a folder (new or "
                                               f"one this command wrote before)")
    for field, path in inputs.items():
        if not path:
            continue
        src = os.path.realpath(os.fspath(path))
        if _inside(out, src) or _inside(src, out):  # a file input inside the output folder counts as "contains"
            relation = ("is" if out == src else "lies inside" if _inside(out, src) else "contains")
            raise UserError.of_field(
                output_field, f"{os.fspath(output)} {relation} the input {field} ({os.fspath(path)}); writing there "
                              f"would overwrite or mix with what the job reads: give a separate folder",
                also=(field,))
