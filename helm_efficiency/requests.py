"""The requests table: one row per HELM request state, with honest raw-runtime rules.

Works on HELM `RequestState` objects (in the metric) and on the plain dicts of a
`scenario_state.json` (in rescore), so both paths share one set of rules:

- raw runtime = ``request_time``; for batched results ``batch_request_time / batch_size``;
- ``cached: true`` results carry a stale timing from an earlier run: never used as timings;
- failed results (``success: false``) and missing, NaN, zero or negative times are excluded;
- the cold start (the run's first request, which pays for model loading, and requests started
  in the same second that visibly waited for it) is flagged and excluded from timings;
- output tokens = completion tokens summed over completions; a completion whose ``tokens``
  list is empty is re-tokenized from its text; with ``echo_prompt`` the prompt is subtracted.
"""

import json
import math
from dataclasses import asdict, is_dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional

import numpy as np
import pandas as pd

TokenCounter = Callable[[str], int]

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
    "raw_runtime_s",
    "batch_size",
    "cached",
    "success",
    "request_datetime",
    "status",
]


def _get(obj: Any, name: str, default=None):
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def perturbation_description_json(perturbation: Any) -> Optional[str]:
    """HELM's PerturbationDescription (object or dict) as canonical JSON, None fields dropped the
    way HELM writes it (``asdict_without_nones``); None for an unperturbed instance."""
    if perturbation is None:
        return None
    fields = asdict(perturbation) if is_dataclass(perturbation) else dict(perturbation)
    return json.dumps({k: v for k, v in fields.items() if v is not None}, sort_keys=True)


def _prompt_text(request: Any) -> str:
    multimodal = _get(request, "multimodal_prompt")
    if multimodal is not None:
        return _get(multimodal, "text", "") or ""
    prompt = _get(request, "prompt", "") or ""
    if not prompt and _get(request, "messages"):
        prompt = "\n".join(str(_get(m, "content", "")) for m in _get(request, "messages"))
    return prompt


def count_output_tokens(result: Any, echo_prompt: bool, num_prompt_tokens: int, count_tokens: TokenCounter) -> int:
    """Generated tokens over all completions; re-tokenizes text when `tokens` is empty."""
    total = 0
    for completion in _get(result, "completions", []) or []:
        tokens = _get(completion, "tokens") or []
        n = len(tokens) if tokens else count_tokens(_get(completion, "text", "") or "")
        if echo_prompt:
            n = max(n - num_prompt_tokens, 0)
        total += n
    return total


def raw_runtime_s(result: Any) -> Optional[float]:
    """Per-request measured seconds (batched: the batch's time divided by its size), or None."""
    batch_time, batch_size = _get(result, "batch_request_time"), _get(result, "batch_size")
    if batch_time is not None and batch_size:
        return float(batch_time) / float(batch_size)
    request_time = _get(result, "request_time")
    return None if request_time is None else float(request_time)


def _status(result: Any, runtime: Optional[float]) -> str:
    if result is None or not _get(result, "success", False):
        return STATUS_FAILED
    if _get(result, "cached", False):
        return STATUS_CACHED
    if runtime is None:
        return STATUS_MISSING_TIME
    if not math.isfinite(runtime) or runtime <= 0:
        return STATUS_INVALID_TIME
    return STATUS_OK


def request_rows(
    request_states: Iterable[Any],
    count_tokens: TokenCounter,
    prompt_token_counts: Optional[Dict[tuple, int]] = None,
) -> pd.DataFrame:
    """Build the requests table from request states (objects or dicts).

    prompt_token_counts: optional {(instance_id, train_trial_index, perturbation): n} that
    HELM already computed (its per-instance ``num_prompt_tokens`` stat); used before tokenizing.
    """
    rows: List[dict] = []
    for state in request_states:
        request, result, instance = _get(state, "request"), _get(state, "result"), _get(state, "instance")
        description = _get(instance, "perturbation")
        perturbation = _get(description, "name")
        key = (_get(instance, "id"), _get(state, "train_trial_index", 0), perturbation)
        if prompt_token_counts is not None and key in prompt_token_counts:
            num_prompt_tokens = int(prompt_token_counts[key])
        else:
            num_prompt_tokens = int(count_tokens(_prompt_text(request)))
        runtime = raw_runtime_s(result) if result is not None else None
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
                "num_output_tokens": (
                    count_output_tokens(result, bool(_get(request, "echo_prompt")), num_prompt_tokens, count_tokens)
                    if result is not None
                    else 0
                ),
                "raw_runtime_s": np.nan if runtime is None else runtime,
                "batch_size": _get(result, "batch_size") or 1,
                "cached": bool(_get(result, "cached", False)),
                "success": bool(_get(result, "success", False)),
                "request_datetime": _get(result, "request_datetime"),
                "status": _status(result, runtime),
            }
        )
    table = pd.DataFrame(rows, columns=REQUEST_COLUMNS)
    return flag_cold_start(table)


def flag_cold_start(table: pd.DataFrame, slowdown: float = 3.0) -> pd.DataFrame:
    """Mark cold-start requests per deployment: the first usable request (earliest
    `request_datetime`, then table order), plus any other request that started in that same
    second and took more than `slowdown`× the median of the later requests (it waited for the
    model to load). Without later requests only the first is marked."""
    table = table.copy()
    for _, rows in table[table["status"] == STATUS_OK].groupby("model_deployment", sort=False):
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
