"""The requests table: one row per HELM request state, with honest raw-runtime rules.

Reads request states of one typed shape (helm_io/states.RequestState): rescore decodes a
`scenario_state.json` straight into it, the live metric converts HELM's objects into it once
(states.from_helm), so both paths share one loop and one set of rules:

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
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from helm_efficiency.helm_io.states import Request, RequestState
from helm_efficiency.request_table.media import Media, multimodal_text, request_media
from helm_efficiency.request_table.tokens import TokenCounter, approximate_token_count, is_approximate, merged_tokens

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
    """A PerturbationDescription (the dict a typed request state holds, or HELM's object, which the
    metric's stat names keep) as canonical JSON, None fields dropped the way HELM writes it
    (``asdict_without_nones``); None for an unperturbed instance."""
    if perturbation is None:
        return None
    fields = dict(perturbation) if isinstance(perturbation, dict) else asdict(perturbation)
    return json.dumps({k: v for k, v in fields.items() if v is not None}, sort_keys=True)


def _prompt_text(request: Request) -> str:
    text = multimodal_text(request)
    if text is not None:
        return text
    prompt = request.prompt or ""
    if not prompt and request.messages:
        prompt = "\n".join(str(m.content) for m in request.messages)
    return prompt


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


def request_rows(
    request_states: Sequence[RequestState],
    count_tokens: TokenCounter,
    prompt_token_counts: Optional[Dict[Tuple[Any, ...], int]] = None,
    serving: str = "unknown",
) -> pd.DataFrame:
    """Build the requests table from request states (helm_io/states.RequestState).

    prompt_token_counts: optional {(instance_id, train_trial_index, perturbation): n} that
    HELM already computed (its per-instance ``num_prompt_tokens`` stat); used before tokenizing.
    serving: "local", "remote" or "unknown" (helm/local_models.serving): no cold start for remote.
    """
    for state in request_states:
        if type(state) is not RequestState:
            raise TypeError(f"request_rows reads helm_io.states.RequestState Structs, not {type(state).__name__}: convert "
                            "HELM's objects with states.from_helm, parsed JSON with states.from_json")
    counts = prompt_token_counts if prompt_token_counts is not None else {}
    no_media = Media()
    # The media rules (media.request_media) run only for a request that has media fields.
    # One string object per distinct name, split or perturbation in the run (the decoder makes one
    # per request): about 200 bytes less per request in a suite's table, the same values.
    interned: Dict[Any, Any] = {}
    shared = interned.setdefault
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
            is_batched = False
            if batch_time is not None and batch_size:
                is_batched = True
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
    # The DataFrame is built from tuples in REQUEST_COLUMNS order (one object column each, then inferred).
    return flag_cold_start(pd.DataFrame(rows, columns=REQUEST_COLUMNS))


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
