"""The served correction: what real schedulers add to the simulator's batched operating points.

`correct_points(stack, model, points)` maps a served table's stored points (simulated TTFT,
TPOT and tokens/s per GPU at one batch size and TP) to what measurement says that stack
reaches there. Identity until the correction is fitted (bench/served_accuracy.py).
"""

from typing import List


def correct_points(stack: str, model: str, points: List[dict]) -> List[dict]:
    """The stored `points` of `model` on `stack`, corrected (new dicts; the input is not changed)."""
    return [dict(q) for q in points]
