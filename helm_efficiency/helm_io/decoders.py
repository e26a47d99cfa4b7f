"""Typed partial decoders for HELM's run files: only the fields rescore uses, at C speed.

msgspec's Structs skip undeclared fields while parsing, so a scenario_state.json is decoded
without building its instances' inputs, references, or every completion token's dict (a
token is kept only as a count). The result objects are read by requests.request_rows through
attribute access, like HELM's own dataclasses. A file whose fields do not have the expected
types (a HELM version writing a number as a string, say) raises msgspec.ValidationError; the
caller then parses it in full (`runs.read_json`), so no run is lost to the fast path.
"""

from typing import Any, Dict, List, Optional

import msgspec

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.helm_io.runs import read_json


class _Skipped(msgspec.Struct):
    """A JSON object whose fields are not needed (a completion token): only its count is."""


class Completion(msgspec.Struct):
    text: Optional[str] = ""
    tokens: Optional[List[_Skipped]] = None
    multimodal_content: Optional[Dict[str, Any]] = None  # generated media (HEIM)


class Result(msgspec.Struct):
    success: bool = False
    cached: bool = False
    request_time: Optional[float] = None
    request_datetime: Optional[float] = None
    batch_size: Optional[int] = None
    batch_request_time: Optional[float] = None
    completions: Optional[List[Completion]] = None


class Request(msgspec.Struct):
    model_deployment: Optional[str] = None
    model: Optional[str] = None
    prompt: Optional[str] = ""
    messages: Optional[List[Dict[str, Any]]] = None
    multimodal_prompt: Optional[Dict[str, Any]] = None
    image_generation_parameters: Optional[Dict[str, Any]] = None
    num_completions: int = 1
    echo_prompt: bool = False


class Instance(msgspec.Struct):
    id: Optional[str] = None
    split: Optional[str] = None
    sub_split: Optional[str] = None
    perturbation: Optional[Dict[str, Any]] = None


class RequestState(msgspec.Struct):
    instance: Instance
    request: Request
    result: Optional[Result] = None
    train_trial_index: int = 0


class ScenarioState(msgspec.Struct):
    request_states: List[RequestState]


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


def decode(path: str, decoder: "msgspec.json.Decoder[Any]") -> Any:
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
