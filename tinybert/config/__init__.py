"""Typed configs of every job: plain dataclasses, no torch, no argparse.

A recipe (:mod:`tinybert.recipes`) takes one of these and returns a result; the CLI (:mod:`tinybert.cli`) only maps
flags onto them with :func:`tinybert.config.base.from_namespace`. Each config checks its own numbers in
``__post_init__`` and raises :class:`tinybert.errors.UserError` naming the field, so a bad value is refused before
any work starts, whether it came from a flag or from Python.
"""

from tinybert.config.base import from_namespace
from tinybert.config.task import TaskConfig
from tinybert.config.training import TrainingArguments

__all__ = ["TaskConfig", "TrainingArguments", "from_namespace"]
