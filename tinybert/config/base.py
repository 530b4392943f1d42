"""What every config shares: filling one from parsed flags, and the checks of single fields."""

from __future__ import annotations

import dataclasses
import functools
import math
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from tinybert.errors import UserError

C = TypeVar("C")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def nested_config_fields(cls: type) -> dict[str, type]:
    """Fields of ``cls`` whose type is itself a config dataclass (e.g. ``training``, ``task``)."""
    hints = _hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)
            if isinstance(hints.get(f.name), type) and dataclasses.is_dataclass(hints[f.name])}


def from_namespace(cls: type[C], ns: Any, **overrides: Any) -> C:
    """Build config ``cls`` from parsed flags: every field found in ``ns`` by name (``None`` means "the config's
    default"), nested config fields filled from the same namespace, then ``overrides``.

    Flags and fields share names (the original scripts' flag names), so this is the whole of the CLI's mapping.
    """
    values = dict(ns if isinstance(ns, Mapping) else vars(ns))  # parsed flags (a Namespace) or a plain mapping
    nested = nested_config_fields(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.name in nested and f.name not in overrides:
            sub = nested[f.name]
            default = (f.default_factory() if f.default_factory is not dataclasses.MISSING  # type: ignore[misc]
                       else None)
            sub_values = {**(dataclasses.asdict(default) if default is not None else {}),
                          **{k: v for k, v in values.items() if v is not None}}
            kwargs[f.name] = from_namespace(sub, sub_values)
        elif f.name in values and values[f.name] is not None:
            kwargs[f.name] = values[f.name]
    kwargs.update(overrides)
    return cls(**kwargs)


def field_defaults(cls: type, name: str) -> dict[str, Any]:
    """The values of nested config ``name`` in a default ``cls`` (e.g. a recipe's training defaults), as a dict."""
    f = {x.name: x for x in dataclasses.fields(cls)}[name]
    if f.default_factory is dataclasses.MISSING:  # type: ignore[misc]
        raise ValueError(f"{cls.__name__}.{name} has no default factory")
    return dataclasses.asdict(f.default_factory())  # type: ignore[misc]


# ----------------------------------------------------------------------------------------------------- checks


def check_positive(name: str, value: float, *, allow_zero: bool = False, path: str | None = None) -> None:
    """``value`` must be a finite number > 0 (>= 0 with ``allow_zero``)."""
    ok = isinstance(value, int | float) and math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise UserError.of_field(name, f"must be {'>= 0' if allow_zero else '> 0'}, got {value}", path)


def check_range(name: str, value: float, lo: float, hi: float, *, hi_open: bool = False,
                path: str | None = None) -> None:
    """``lo <= value <= hi`` (``< hi`` with ``hi_open``)."""
    ok = isinstance(value, int | float) and math.isfinite(value) and lo <= value and (
        value < hi if hi_open else value <= hi)
    if not ok:
        raise UserError.of_field(name, f"must be in [{lo}, {hi}{')' if hi_open else ']'}, got {value}", path)


def check_choice(name: str, value: Any, choices: typing.Iterable[Any]) -> None:
    choices = tuple(choices)
    if value not in choices:
        raise UserError.of_field(name, f"must be one of: {', '.join(map(str, choices))}; got {value!r}")


def parse_layer_list(text: str, field: str = "layer_map") -> tuple[int, ...]:
    """``"3,6"`` as (3, 6): 1-based layer numbers, strictly increasing (a :class:`UserError` on ``field`` else)."""
    try:
        layers = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        raise UserError.of_field(field, f"{text!r}: expected comma-separated layer numbers such as 1,2") from None
    if any(n < 1 for n in layers) or any(b <= a for a, b in zip(layers, layers[1:])):
        raise UserError.of_field(field, f"{text!r}: layer numbers start at 1 and must increase (e.g. 2,4,6)")
    return layers
