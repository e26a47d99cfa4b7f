"""A request state, one typed shape: what the requests table reads of HELM's `RequestState`.

Every request state reaches the package as these frozen msgspec Structs, whatever it came from:

- rescore decodes a `scenario_state.json` straight into them (decoders.SCENARIO_STATE: msgspec
  skips the fields not declared here while parsing, at C speed; a completion token is kept only
  as a count); a file the strict decoder refuses (a number written as a string, say) is parsed
  in full and converted leniently (`from_json`), an entry of the wrong shape an error naming
  the file and the field;
- the live metric converts HELM's own objects once, at its boundary (`from_helm`).

Downstream (request_table/, denoise/, pricing/) reads attributes of these types only: no
probing of an object's attributes or a dict's keys. The fields are those HELM writes
(helm/benchmark/adaptation/request_state.py, helm/common/request.py, media_object.py), with
HELM's defaults where a file may leave one out.
"""

import dataclasses
from typing import Any, Dict, List, Optional, Sequence

import msgspec

from helm_efficiency.errors import EfficiencyInputError


class Present(msgspec.Struct, frozen=True):
    """A JSON object whose fields are not needed, only that it is there (a completion token, the
    image-generation parameters of a HEIM request)."""


class MediaObject(msgspec.Struct, frozen=True):
    """HELM's MediaObject: a MIME `content_type` ("image/jpeg", "text/plain") and, for text, its `text`."""

    content_type: Optional[str] = None
    text: Optional[str] = None


class MultimediaObject(msgspec.Struct, frozen=True):
    """HELM's MultimediaObject: a multimodal prompt, or a completion's generated media."""

    media_objects: List[MediaObject] = []


class Message(msgspec.Struct, frozen=True):
    """One chat message of a request (HELM's `messages`: role and content)."""

    role: Optional[str] = None
    content: Any = ""


class Completion(msgspec.Struct, frozen=True):
    text: Optional[str] = ""
    tokens: Optional[List[Present]] = None
    multimodal_content: Optional[MultimediaObject] = None  # generated media (HEIM)


class Result(msgspec.Struct, frozen=True):
    success: bool = False
    cached: bool = False
    request_time: Optional[float] = None
    request_datetime: Optional[float] = None
    batch_size: Optional[int] = None
    batch_request_time: Optional[float] = None
    completions: Optional[List[Completion]] = None


class Request(msgspec.Struct, frozen=True):
    model_deployment: Optional[str] = None
    model: Optional[str] = None
    prompt: Optional[str] = ""
    messages: Optional[List[Message]] = None
    multimodal_prompt: Optional[MultimediaObject] = None
    image_generation_parameters: Optional[Present] = None
    num_completions: int = 1
    echo_prompt: bool = False


class Instance(msgspec.Struct, frozen=True):
    id: Optional[str] = None
    split: Optional[str] = None
    sub_split: Optional[str] = None
    perturbation: Optional[Dict[str, Any]] = None  # HELM's PerturbationDescription as JSON (subclass fields kept)


class RequestState(msgspec.Struct, frozen=True):
    instance: Instance
    request: Request
    result: Optional[Result] = None
    train_trial_index: int = 0


class ScenarioState(msgspec.Struct, frozen=True):
    request_states: List[RequestState]


_STATES = List[RequestState]


def from_json(request_states: Any, path: str = "<request states>") -> List[RequestState]:
    """Request states parsed as plain JSON (a list of dicts, as helm-run saves them) converted
    leniently (numbers written as strings are read as numbers); an entry of the wrong shape is an
    EfficiencyInputError naming `path` and the field ($[i].result.request_time, say)."""
    if not isinstance(request_states, list):
        raise EfficiencyInputError(path, "request_states", "missing or not a list")
    try:
        return msgspec.convert(request_states, _STATES, strict=False)
    except msgspec.ValidationError as e:
        raise EfficiencyInputError(path, "request_states", f"not a list of request states ({e})")


def _without_nones(fields: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def from_helm(states: Sequence[Any]) -> List[RequestState]:
    """HELM's own RequestState objects (the live metric's scenario state), converted once: the
    same fields, read by attribute; an instance's PerturbationDescription becomes the dict HELM
    writes (its subclass's fields included, None fields dropped), so a state converted here equals
    the same state saved by helm-run and decoded."""
    out = []
    for state in states:
        instance, result = state.instance, state.result
        perturbation = instance.perturbation
        out.append(RequestState(
            instance=Instance(id=instance.id, split=instance.split, sub_split=instance.sub_split,
                              perturbation=None if perturbation is None else _without_nones(dataclasses.asdict(perturbation))),
            request=msgspec.convert(state.request, Request, from_attributes=True, strict=False),
            result=None if result is None else msgspec.convert(result, Result, from_attributes=True, strict=False),
            train_trial_index=state.train_trial_index,
        ))
    return out
