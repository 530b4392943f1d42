"""Windows over a sequence longer than the model's positions, and which window speaks for each position.

Used by sequence labelling (a long sentence's pieces) and reading comprehension (a long context's pieces). Windows
hold ``capacity`` positions and start every ``stride`` positions (the original BERT ``--doc_stride``: the step between
window starts); the last window ends at the end of the sequence. A position seen by several windows is answered by
the one where it has the most context on both sides (BERT's "max context" rule, ties to the earlier window), so
reassembling the windows gives each position exactly once.
"""

from __future__ import annotations

from tinybert.errors import UserError


def window_starts(length: int, capacity: int, stride: int) -> list[int]:
    """Start offsets of the windows covering ``range(length)``: 0, stride, 2*stride, ... until one reaches the end."""
    if capacity < 1:
        raise UserError(f"a window must hold at least one position, got {capacity}")
    if not 1 <= stride <= capacity:
        raise UserError(f"the window stride must be in [1, {capacity}] (the window size), got {stride}")
    starts = [0]
    while starts[-1] + capacity < length:
        starts.append(starts[-1] + stride)
    return starts


def max_context_owner(length: int, capacity: int, starts: list[int]) -> list[int]:
    """For each position, the index of the window (in ``starts``) that answers for it."""
    owner = [-1] * length
    best = [-1.0] * length
    for w, start in enumerate(starts):
        end = min(start + capacity, length)
        for pos in range(start, end):
            score = min(pos - start, end - 1 - pos) + 0.01 * (end - start)
            if score > best[pos]:
                best[pos], owner[pos] = score, w
    return owner
