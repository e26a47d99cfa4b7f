"""The requests table: one row per HELM request state, with honest raw-runtime rules.

Works on HELM `RequestState` objects (in the metric) and on a `scenario_state.json`'s typed
partial decode (helm_json.py) or plain dicts (in rescore), so both paths share one set of rules:

- raw runtime = ``request_time``; for batched results ``batch_request_time / batch_size``
  (2022 HELM, as HELM itself computed its runtimes), flagged ``batched``;
- ``cached: true`` results carry a stale timing from an earlier run: never used as timings,
  except batched results, which 2022 HELM always marked cached (there it means "from the
  suite's own request cache", and the batch timing is the one measured when it was filled);
- failed results (``success: false``) and missing, NaN, zero or negative times are excluded;
- the cold start of a model served on this machine or of unknown serving (the run's first
  request, which pays for model loading, and requests started in the same second that visibly
  waited for it) is flagged and excluded from timings; an API's first request is not;
- output tokens = completion tokens summed over completions; a completion whose ``tokens``
  list is empty, or whose token list cannot be its text's tokenization (one "token" holding
  many words: HELM 0.5's Together client), is counted from its text; with ``echo_prompt`` the
  prompt is subtracted. Rows counted by the fallback counter (tokens.py) are flagged
  ``approximate_tokens``;
- prompt tokens count the prompt's text (a multimodal prompt's text objects, as HELM counts
  them); the images, audio or video a request carried, or the media it generated, are kept as
  ``media_kind`` and ``num_media`` (media.py), so that no price leaves them out.
"""

import json
import math
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Tuple, cast

import numpy as np
import pandas as pd

from helm_efficiency.helm_io.decoders import RequestState
from helm_efficiency.request_table.media import Media, field as _get, multimodal_text, request_media
from helm_efficiency.request_table.tokens import TokenCounter, approximate_token_count, is_approximate, merged_tokens

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# HELM's own prompt token counts are keyed (instance id, train trial index, perturbation name or None).
PromptKey = Tuple[str, int, Optional[str]]

STATUS_OK = "ok"
STATUS_CACHED = "cached"
STATUS_FAILED = "failed"
STATUS_MISSING_TIME = "missing_request_time"
STATUS_INVALID_TIME = "invalid_request_time"
STATUS_COLD = "cold_start"
EXCLUSION_STATUSES = (STATUS_CACHED, STATUS_FAILED, STATUS_MISSING_TIME, STATUS_INVALID_TIME, STATUS_COLD)

REQUEST_COLUMNS = [
    "model_deployment",
    "model",
    "instance_id",
    "train_trial_index",
    "split",
    "sub_split",
    "perturbation",
    "perturbation_description",
    "num_prompt_tokens",
    "num_output_tokens",
    "media_kind",
    "num_media",
    "raw_runtime_s",
    "batch_size",
    "batched",
    "approximate_tokens",
    "serving",
    "cached",
    "success",
    "request_datetime",
    "status",
]


def perturbation_description_json(perturbation: Any) -> Optional[str]:
    """HELM's PerturbationDescription (object or dict) as canonical JSON, None fields dropped the
    way HELM writes it (``asdict_without_nones``); None for an unperturbed instance."""
    if perturbation is None:
        return None
    fields = asdict(cast("DataclassInstance", perturbation)) if is_dataclass(perturbation) else dict(perturbation)
    return json.dumps({k: v for k, v in fields.items() if v is not None}, sort_keys=True)


def _prompt_text(request: Any) -> str:
    text = multimodal_text(request)
    if text is not None:
        return text
    prompt = _get(request, "prompt", "") or ""
    if not prompt and _get(request, "messages"):
        prompt = "\n".join(str(_get(m, "content", "")) for m in _get(request, "messages"))
    return prompt


def count_output_tokens(result: Any, echo_prompt: bool, num_prompt_tokens: int, count_tokens: TokenCounter) -> Tuple[int, bool]:
    """(generated tokens over all completions, approximate?). A completion without `tokens` is
    counted from its text with `count_tokens`; one whose token list cannot be its text's
    tokenization (tokens.merged_tokens) with the fallback counter. Approximate when the
    fallback counted any completion."""
    total, approximate = 0, False
    for completion in _get(result, "completions", []) or []:
        n, approximate = _completion_tokens(len(_get(completion, "tokens") or []), _get(completion, "text", "") or "",
                                            count_tokens, echo_prompt, num_prompt_tokens, approximate)
        total += n
    return total, approximate


def _completion_tokens(num_tokens: int, text: str, count_tokens: TokenCounter, echo_prompt: bool, num_prompt_tokens: int,
                       approximate: bool) -> Tuple[int, bool]:
    """(one completion's generated tokens, approximate so far): its token list's length, unless
    the list cannot be its text's tokenization (then the fallback counter), or its text counted
    where it has no token list; an echoed prompt is taken off."""
    if num_tokens and not merged_tokens(num_tokens, text):
        n = num_tokens
    elif num_tokens:
        n, approximate = approximate_token_count(text), True
    else:
        n = count_tokens(text)
        approximate = approximate or is_approximate(count_tokens)
    if echo_prompt:
        n = max(n - num_prompt_tokens, 0)
    return n, approximate


def raw_runtime_s(result: Any) -> Optional[float]:
    """Per-request measured seconds (batched: the batch's time divided by its size), or None."""
    batch_time, batch_size = _get(result, "batch_request_time"), _get(result, "batch_size")
    if batch_time is not None and batch_size:
        return float(batch_time) / float(batch_size)
    request_time = _get(result, "request_time")
    return None if request_time is None else float(request_time)


def batched(result: Any) -> bool:
    """The result carries a batch timing (2022 HELM's `batch_request_time` and `batch_size`)."""
    return _get(result, "batch_request_time") is not None and bool(_get(result, "batch_size"))


def _status(result: Any, runtime: Optional[float]) -> str:
    if result is None or not _get(result, "success", False):
        return STATUS_FAILED
    if _get(result, "cached", False) and not batched(result):
        return STATUS_CACHED
    if runtime is None:
        return STATUS_MISSING_TIME
    if not math.isfinite(runtime) or runtime <= 0:
        return STATUS_INVALID_TIME
    return STATUS_OK


def request_rows(
    request_states: Iterable[Any],
    count_tokens: TokenCounter,
    prompt_token_counts: Optional[Dict[PromptKey, int]] = None,
    serving: str = "unknown",
) -> pd.DataFrame:
    """Build the requests table from request states (objects or dicts).

    prompt_token_counts: optional {(instance_id, train_trial_index, perturbation): n} that
    HELM already computed (its per-instance ``num_prompt_tokens`` stat); used before tokenizing.
    serving: "local", "remote" or "unknown" (helm/local_models.serving): no cold start for remote.
    """
    request_states = request_states if isinstance(request_states, list) else list(request_states)
    if request_states and all(type(state) is RequestState for state in request_states):
        return flag_cold_start(pd.DataFrame(_typed_rows(request_states, count_tokens, prompt_token_counts, serving), columns=REQUEST_COLUMNS))
    rows: List[Dict[str, Any]] = []
    for state in request_states:
        request, result, instance = _get(state, "request"), _get(state, "result"), _get(state, "instance")
        description = _get(instance, "perturbation")
        perturbation = _get(description, "name")
        key = (_get(instance, "id"), _get(state, "train_trial_index", 0), perturbation)
        approximate = False
        if prompt_token_counts is not None and key in prompt_token_counts:
            num_prompt_tokens = int(prompt_token_counts[key])
        else:
            num_prompt_tokens = int(count_tokens(_prompt_text(request)))
            approximate = is_approximate(count_tokens)
        num_output_tokens = 0
        if result is not None:
            num_output_tokens, approximate_output = count_output_tokens(result, bool(_get(request, "echo_prompt")), num_prompt_tokens, count_tokens)
            approximate = approximate or approximate_output
        runtime = raw_runtime_s(result) if result is not None else None
        media = request_media(request, result)
        rows.append(
            {
                "model_deployment": _get(request, "model_deployment") or _get(request, "model"),
                "model": _get(request, "model"),
                "instance_id": key[0],
                "train_trial_index": key[1],
                "split": _get(instance, "split"),
                "sub_split": _get(instance, "sub_split"),
                "perturbation": perturbation,
                "perturbation_description": perturbation_description_json(description),
                "num_prompt_tokens": num_prompt_tokens,
                "num_output_tokens": num_output_tokens,
                "media_kind": media.kind,
                "num_media": media.count,
                "raw_runtime_s": np.nan if runtime is None else runtime,
                "batch_size": _get(result, "batch_size") or 1,
                "batched": batched(result),
                "approximate_tokens": approximate,
                "serving": serving,
                "cached": bool(_get(result, "cached", False)),
                "success": bool(_get(result, "success", False)),
                "request_datetime": _get(result, "request_datetime"),
                "status": _status(result, runtime),
            }
        )
    table = pd.DataFrame(rows, columns=REQUEST_COLUMNS)
    return flag_cold_start(table)


def _typed_rows(request_states: List[Any], count_tokens: TokenCounter, prompt_token_counts: Optional[Dict[PromptKey, int]],
                serving: str) -> List[Tuple[Any, ...]]:
    """request_rows' rows (tuples in REQUEST_COLUMNS order) for the typed partial decode of a
    scenario_state.json (helm_json.RequestState): the same rules with attribute access, and
    the media rules (media.request_media) only for a request that has media fields. The
    DataFrame is built from tuples as from dicts (one object column each, then inferred)."""
    counts = prompt_token_counts if prompt_token_counts is not None else {}
    no_media = Media()
    # One string object per distinct name, split or perturbation in the run (the decoder makes one
    # per request): about 200 bytes less per request in a suite's table, the same values.
    shared = cast(Dict[Optional[str], Optional[str]], {}).setdefault
    rows: List[Tuple[Any, ...]] = []
    for state in request_states:
        request, result, instance = state.request, state.result, state.instance
        description = instance.perturbation
        perturbation = shared(description.get("name"), description.get("name")) if description is not None else None
        key = (instance.id, state.train_trial_index, perturbation)
        approximate = False
        if key in counts:
            num_prompt_tokens = int(counts[key])
        else:
            num_prompt_tokens = int(count_tokens(_prompt_text(request)))
            approximate = is_approximate(count_tokens)  # after the call: a counter may fall back as it counts
        num_output_tokens = 0
        runtime = None
        media_in_result = False
        if result is not None:
            echo = bool(request.echo_prompt)
            for completion in result.completions or ():
                if completion.multimodal_content is not None:
                    media_in_result = True
                n, approximate = _completion_tokens(len(completion.tokens or ()), completion.text or "", count_tokens, echo,
                                                    num_prompt_tokens, approximate)
                num_output_tokens += n
            batch_time, batch_size = result.batch_request_time, result.batch_size
            is_batched = batch_time is not None and bool(batch_size)
            if is_batched:
                runtime = float(batch_time) / float(batch_size)
            elif result.request_time is not None:
                runtime = float(result.request_time)
            if not result.success:
                status = STATUS_FAILED
            elif result.cached and not is_batched:
                status = STATUS_CACHED
            elif runtime is None:
                status = STATUS_MISSING_TIME
            elif not math.isfinite(runtime) or runtime <= 0:
                status = STATUS_INVALID_TIME
            else:
                status = STATUS_OK
            row_end = (batch_size or 1, is_batched, approximate, serving, bool(result.cached), bool(result.success),
                       result.request_datetime, status)
        else:
            row_end = (1, False, approximate, serving, False, False, None, STATUS_FAILED)
        if media_in_result or request.multimodal_prompt is not None or request.image_generation_parameters is not None:
            media = request_media(request, result)
        else:
            media = no_media
        model, deployment, split = request.model, request.model_deployment or request.model, instance.split
        description_json = perturbation_description_json(description)
        rows.append((shared(deployment, deployment), shared(model, model), key[0], key[1], shared(split, split), instance.sub_split,
                     perturbation, shared(description_json, description_json), num_prompt_tokens, num_output_tokens, media.kind,
                     media.count, np.nan if runtime is None else runtime) + row_end)
    return rows


def flag_cold_start(table: pd.DataFrame, slowdown: float = 3.0) -> pd.DataFrame:
    """Mark cold-start requests per deployment: the first usable request (earliest
    `request_datetime`, then table order), plus any other request that started in that same
    second and took more than `slowdown`× the median of the later requests (it waited for the
    model to load). Without later requests only the first is marked. Deployments served
    remotely (`serving == "remote"`: an API, whose model is loaded already) are left alone."""
    table = table.copy()
    candidates = table["status"] == STATUS_OK
    if "batched" in table:  # a batch's time is shared by its requests: no one of them paid a load alone
        candidates &= ~table["batched"].fillna(False).astype(bool)
    if "serving" in table:
        candidates &= table["serving"] != "remote"
    for _, rows in table[candidates].groupby("model_deployment", sort=False):
        times = pd.to_numeric(rows["request_datetime"], errors="coerce")
        if times.notna().any():
            first_second = times == times.min()
            first = rows.index[first_second.to_numpy()][0]
            later = rows.loc[~first_second.to_numpy(), "raw_runtime_s"]
            cold = [first]
            if len(later):
                waited = rows.loc[first_second.to_numpy(), "raw_runtime_s"] > slowdown * later.median()
                cold += [i for i in waited.index[waited.to_numpy()] if i != first]
        else:
            cold = [rows.index[0]]
        table.loc[cold, "status"] = STATUS_COLD
    return table


def usable_timings(table: pd.DataFrame) -> pd.DataFrame:
    """Rows whose raw runtime may be used as a timing (not cached, failed, invalid or cold)."""
    return table[table["status"] == STATUS_OK]
