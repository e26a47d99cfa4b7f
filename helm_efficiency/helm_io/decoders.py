"""Typed partial decoders for HELM's run files: only the fields rescore uses, at C speed.

msgspec's Structs skip undeclared fields while parsing, so a scenario_state.json is decoded
without building its instances' inputs, references, or every completion token's dict (a
token is kept only as a count), straight into the request-state Structs every downstream
function reads (states.py). A file whose fields do not have the expected types (a HELM version
writing a number as a string, say) raises msgspec.ValidationError; it is then parsed in full
(`runs.read_json`) and converted leniently, so no run is lost to the fast path.
"""

from typing import Any, Dict, List, Optional

import msgspec

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.helm_io.runs import read_json
from helm_efficiency.helm_io.states import RequestState, ScenarioState, from_json


class StatName(msgspec.Struct):
    name: str = ""
    split: Optional[str] = None
    sub_split: Optional[str] = None
    perturbation: Optional[Dict[str, Any]] = None


class Stat(msgspec.Struct):
    name: StatName
    count: float = 0
    sum: Optional[float] = 0.0


class PerInstanceStats(msgspec.Struct):
    instance_id: Optional[str] = None
    train_trial_index: int = 0
    perturbation: Optional[Dict[str, Any]] = None
    stats: List[Stat] = []


SCENARIO_STATE = msgspec.json.Decoder(ScenarioState)
PER_INSTANCE_STATS = msgspec.json.Decoder(List[PerInstanceStats])


def decode(path: str, decoder: msgspec.json.Decoder[Any]) -> Any:
    """A HELM JSON file through its typed partial decoder, else parsed in full (`runs.read_json`)
    where a field has an unexpected type; a missing, invalid or truncated file is an
    EfficiencyInputError naming it."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise EfficiencyInputError(path, "<file>", "file is missing")
    try:
        return decoder.decode(data)
    except msgspec.ValidationError:
        return read_json(path)  # unexpected types somewhere: the full parse, and the caller's own checks
    except msgspec.DecodeError as e:
        raise EfficiencyInputError(path, "<file>", f"invalid or truncated JSON ({e})")


def read_scenario_state(path: str) -> List[RequestState]:
    """A scenario_state.json's request states, typed (states.RequestState): decoded straight into
    the Structs, or, where a field has an unexpected type, parsed in full and converted leniently;
    an entry of the wrong shape is an error naming the file and the field."""
    parsed = decode(path, SCENARIO_STATE)
    if isinstance(parsed, ScenarioState):
        return parsed.request_states
    return from_json(parsed.get("request_states") if isinstance(parsed, dict) else None, path)


def read_per_instance_stats(path: str) -> List[PerInstanceStats]:
    """A per_instance_stats.json's entries, typed. A file the strict decoder refuses is parsed in
    full and each entry converted leniently (numbers written as strings, say); a non-object entry
    is skipped, an entry of the wrong shape is an error naming it."""
    parsed = decode(path, PER_INSTANCE_STATS)
    if isinstance(parsed, list) and all(isinstance(e, PerInstanceStats) for e in parsed):
        return parsed
    if not isinstance(parsed, list):
        raise EfficiencyInputError(path, "<file>", "not a list of per-instance entries")
    entries = []
    for i, entry in enumerate(parsed):
        if not isinstance(entry, dict):
            continue
        try:
            entries.append(msgspec.convert(entry, PerInstanceStats, strict=False))
        except msgspec.ValidationError as e:
            raise EfficiencyInputError(path, f"[{i}]", f"not a per-instance entry ({e})")
    return entries
