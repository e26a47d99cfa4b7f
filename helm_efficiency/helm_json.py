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
