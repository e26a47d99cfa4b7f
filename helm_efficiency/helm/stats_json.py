"""Our stats in HELM's JSON files, rendered column-wise: the bytes `orjson.dumps(..., OPT_INDENT_2)`
would write for the stat dicts, without building a dict per (instance, stat).

A run's per-instance stats are tens of thousands of small dicts; rescore instead formats each
Stat field of all of them at once (orjson's number formatting on numpy arrays, then Arrow's
string kernels) and hands each per-instance entry its stats as one `orjson.Fragment`, which
orjson inserts verbatim where the list elements would go. tests/test_rescore_golden.py checks
the files byte for byte against the dict path's.
"""

import re
from functools import lru_cache
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from helm_efficiency.helm.aggregate import MOMENT_FIELDS, STATS, RunStats, json_name, stat_dict
from helm_efficiency.helm.metric_names import HELM_FILLED_STATS

# A stat in per_instance_stats.json sits at depth 3 (list > entry > "stats" list > stat).
STAT_INDENT = "\n      "
SEPARATOR = "," + STAT_INDENT
_PLACEHOLDER = re.compile(r'"@@(\d)@@"')


@lru_cache(maxsize=4096)
def _name(stat: str, split, sub_split, description, computed_on) -> dict:
    """json_name, once per distinct name in a process (read only by orjson)."""
    return json_name(stat, split, sub_split, description, computed_on)


@lru_cache(maxsize=4096)
def _pieces(stat: str, split, sub_split, description) -> Tuple[str, ...]:
    """The text of a per-instance Stat of this name around its 8 numbers: (head, 7 separators, tail)."""
    template = {"name": _name(stat, split, sub_split, description, None)}
    template.update({field: f"@@{i}@@" for i, field in enumerate(MOMENT_FIELDS)})
    text = orjson.dumps(template, option=orjson.OPT_INDENT_2).decode("utf-8").replace("\n", STAT_INDENT)
    return tuple(_PLACEHOLDER.split(text)[::2])


def _bits_equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a.view(np.uint64) if a.dtype.kind == "f" else a,
                                                                              b.view(np.uint64) if b.dtype.kind == "f" else b))


def number_texts(values: np.ndarray) -> pa.Array:
    """Each number as orjson writes it (JSON numbers; NaN and infinities as null), as Arrow
    strings: one orjson call on the array, split at its commas."""
    raw = np.frombuffer(orjson.dumps(np.ascontiguousarray(values), option=orjson.OPT_SERIALIZE_NUMPY), np.uint8)[1:-1]
    commas = np.flatnonzero(raw == ord(","))
    data = np.delete(raw, commas)
    offsets = np.concatenate([[0], commas - np.arange(len(commas)), [len(data)]]).astype(np.int32)
    return pa.StringArray.from_buffers(len(values), pa.py_buffer(offsets), pa.py_buffer(data.tobytes()))


class _Texts:
    """number_texts of several arrays, each distinct array formatted once, a constant array as one scalar."""

    def __init__(self):
        self.done: List[Tuple[np.ndarray, Any]] = []

    def __call__(self, values: np.ndarray):
        for seen, text in self.done:
            if _bits_equal(seen, values):
                return text
        if len(values) and _bits_equal(values, np.full_like(values, values[0])):
            text = pa.scalar(orjson.dumps(values[:1], option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].decode("utf-8"))
        else:
            text = number_texts(values)
        self.done.append((values, text))
        return text


def filled_columns(helm_fill: Sequence[str]) -> List[Tuple[str, int]]:
    """(name, STATS column) of every per-instance stat written: ours, then the HELM stats filled."""
    position = {name: j for j, (name, _) in enumerate(STATS)}
    return [(name, j) for j, (name, _) in enumerate(STATS)] + [(h, position[HELM_FILLED_STATS[h]]) for h in HELM_FILLED_STATS if h in helm_fill]


def per_instance_fragments(stats: RunStats, helm_fill: Sequence[str] = ()) -> Dict[tuple, List[orjson.Fragment]]:
    """{(instance_id, trial, perturbation JSON): [one Fragment holding the entry's stats]}, in
    entry order: the same text, element for element, as RunStats.per_instance_stats rendered
    with json_name and dumped by orjson inside a per_instance_stats.json entry."""
    part = stats.per_instance
    if not len(part.run):
        return {}
    columns = filled_columns(helm_fill)
    source = np.array([j for _, j in columns])
    present = part.present()[:, source]
    rows, k = np.nonzero(present)  # entry by entry, stats in order
    contexts: Dict[tuple, int] = {}
    context = np.array([contexts.setdefault(c, len(contexts)) for c in zip(part.split.tolist(), part.sub_split.tolist(),
                                                                            part.description.tolist())])
    pieces = [_pieces(name, *c) for name, _ in columns for c in contexts]
    heads = pa.array([p[0] for p in pieces]).take(pa.array(k * len(contexts) + context[rows]))
    texts = _Texts()
    numbers = [texts(m[rows, source[k]]) for m in part.moments()]
    _, *separators, tail = pieces[0]
    parts = [heads]
    for number, separator in zip(numbers, separators + [tail]):
        parts += [number, separator]
    flat = pc.binary_join_element_wise(*parts, "")
    offsets = np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int32)
    joined = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), flat), SEPARATOR).to_pylist()
    out: Dict[tuple, List[str]] = {}
    for key, text in zip(part.keys(), joined):
        out.setdefault(key, []).append(text)
    return {key: [orjson.Fragment(SEPARATOR.join(texts))] for key, texts in out.items()}


def aggregated_dicts(stats: RunStats, helm_fill: Sequence[str] = ()) -> List[dict]:
    """The run's aggregated stats as the dicts HELM writes to stats.json."""
    return [stat_dict(name, moments) for name, moments in stats.aggregated_stats(_name, helm_fill)]
