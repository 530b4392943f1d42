"""Which student layer learns from which teacher layer: a plain, printable, JSON-able list.

Indices: attention entries use 0-based transformer layers (0..L-1); hidden entries use hidden-state indices
(0 = embedding output, i = output of layer i). ``uniform`` maps student attention layer i (1-based) to teacher layer
floor(i*T/S) and hidden state i to floor(i*T/S); when T is a multiple of S this is the paper's k, 2k, ..., T with
k = T/S (the original code used floor(T/S)*i, which ignores the top teacher layers when T is not a multiple).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from tinybert.config.base import parse_layer_list
from tinybert.errors import UserError
from tinybert.utils.io import read_json

KINDS = ("attention", "hidden")


@dataclass(frozen=True)
class LayerMatch:
    kind: str  # "attention" | "hidden"
    student: int
    teacher: int
    weight: float = 1.0


class LayerMap(list):
    """A list of :class:`LayerMatch`."""

    def of_kind(self, kind: str) -> list[LayerMatch]:
        return [m for m in self if m.kind == kind]

    def teacher_attention_layers(self) -> list[int]:
        return sorted({m.teacher for m in self.of_kind("attention")})

    def student_attention_layers(self) -> list[int]:
        return sorted({m.student for m in self.of_kind("attention")})

    def to_json(self) -> list[dict]:
        return [asdict(m) for m in self]

    def describe(self) -> str:
        return "; ".join(
            f"{m.kind} s{m.student}<-t{m.teacher}" + (f" x{m.weight:g}" if m.weight != 1 else "") for m in self
        )

    def validate(self, student_layers: int, teacher_layers: int, where: str = "layer map") -> LayerMap:
        for m in self:
            if m.kind not in KINDS:
                raise UserError(f"{where}: unknown kind {m.kind!r}; expected one of {KINDS}")
            top_s, top_t = (
                (student_layers, teacher_layers) if m.kind == "hidden" else (student_layers - 1, teacher_layers - 1)
            )
            if not (0 <= m.student <= top_s and 0 <= m.teacher <= top_t):
                raise UserError(
                    f"{where}: {m.kind} entry student={m.student} teacher={m.teacher} is out of range "
                    f"(student 0..{top_s}, teacher 0..{top_t})"
                )
        return self


def uniform_map(student_layers: int, teacher_layers: int) -> LayerMap:
    if student_layers > teacher_layers:
        raise UserError(f"the student has more layers ({student_layers}) than the teacher ({teacher_layers})")
    s, t = student_layers, teacher_layers
    att = [LayerMatch("attention", i - 1, (i * t) // s - 1) for i in range(1, s + 1)]
    hid = [LayerMatch("hidden", i, (i * t) // s) for i in range(0, s + 1)]
    return LayerMap(att + hid)


def last_map(student_layers: int, teacher_layers: int) -> LayerMap:
    """Student layers learn the teacher's last S layers; embeddings learn embeddings."""
    if student_layers > teacher_layers:
        raise UserError(f"the student has more layers ({student_layers}) than the teacher ({teacher_layers})")
    off = teacher_layers - student_layers
    att = [LayerMatch("attention", i, off + i) for i in range(student_layers)]
    hid = [LayerMatch("hidden", 0, 0)] + [LayerMatch("hidden", i, off + i) for i in range(1, student_layers + 1)]
    return LayerMap(att + hid)


def layers_map(layers: tuple[int, ...], student_layers: int, teacher_layers: int) -> LayerMap:
    """Student layer i (1-based) learns teacher layer ``layers[i-1]``; embeddings learn embeddings."""
    if len(layers) != student_layers:
        raise UserError.of_field("layer_map", f"names {len(layers)} teacher layers for a student of {student_layers}")
    if layers[-1] > teacher_layers:
        raise UserError.of_field("layer_map", f"teacher layer {layers[-1]} does not exist: the teacher has "
                                              f"{teacher_layers} layers")
    att = [LayerMatch("attention", i, t - 1) for i, t in enumerate(layers)]
    hid = [LayerMatch("hidden", 0, 0)] + [LayerMatch("hidden", i + 1, t) for i, t in enumerate(layers)]
    return LayerMap(att + hid)


def load_layer_map(spec: str, student_layers: int, teacher_layers: int) -> LayerMap:
    """``uniform``, ``last``, teacher layers such as ``3,6``, or the path of a JSON list of {kind, student, teacher,
    weight} objects."""
    if spec == "uniform":
        return uniform_map(student_layers, teacher_layers)
    if spec == "last":
        return last_map(student_layers, teacher_layers)
    if spec[:1].isdigit() and not os.path.isfile(spec):
        return layers_map(parse_layer_list(spec), student_layers, teacher_layers)
    if not os.path.isfile(spec):
        raise UserError.of_field("layer_map", f"{spec!r}: expected 'uniform', 'last', teacher layers such as 3,6, "
                                              "or the path of a JSON file")
    raw = read_json(spec, expect=None)
    if not isinstance(raw, list) or not raw:
        raise UserError.at(spec, "expected a non-empty JSON list of {kind, student, teacher, weight} objects")
    entries = []
    for i, item in enumerate(raw):
        try:
            entries.append(
                LayerMatch(
                    str(item["kind"]), int(item["student"]), int(item["teacher"]), float(item.get("weight", 1.0))
                )
            )
        except (KeyError, TypeError, ValueError):
            raise UserError.at(
                spec, f"entry {i}: expected an object with kind, student, teacher (and weight)"
            ) from None
    return LayerMap(entries).validate(student_layers, teacher_layers, where=spec)
