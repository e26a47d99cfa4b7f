"""RUN/efficiency_metadata.json: what this project wrote into a run, live (the metric during
helm-run) or afterwards (rescore). One place reads and builds it, so the two agree.

Fields:
- scored_by: "helm-run" (the live metric) or "rescore";
- tables: the reference tables asked for ('+'-joined); reference_stacks: those the run's idealized
  numbers came from (empty when no request was estimated);
- helm_stats_filled: HELM's own efficiency stats (metric_names.HELM_FILLED_STATS) this project
  gave a value in this run, exactly those written with a count;
- helm_stats_from_helm: those HELM itself computed, never touched (rescore works it out once and
  keeps it, so later rescores need not guess from files it has already rewritten);
- local_path, served_sla, requests, approximate_token_requests;
- unestimated_reasons: {why a request got no idealized runtime: requests}, e.g. "closed-weight (HELM access)";
- served_methods: {how a request's served numbers were priced: requests} (tables/served.py's
  `served_method`: "simulated", or "transfer from" / "size_only from" the simulated models used);
- unserved_reasons: {why a request got no served numbers: requests};
- machine_load (live runs): whether other processes kept the machine busy while the run was
  timed (machine_load.py).
"""

import json
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import pandas as pd

from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.helm.metric_names import HELM_FILLED_STATS
from helm_efficiency.helm_io.runs import RUN_METADATA, STATS, read_json
from helm_efficiency.tables.sla import DEFAULT_SLA

SCORED_LIVE = "helm-run"
SCORED_BY_RESCORE = "rescore"


def read_metadata(run_dir: str) -> Dict[str, Any]:
    """The run's efficiency_metadata.json, or {} where it is missing or unreadable."""
    path = os.path.join(run_dir, RUN_METADATA)
    if not os.path.exists(path):
        return {}
    try:
        meta = read_json(path)
    except EfficiencyInputError:
        return {}
    return meta if isinstance(meta, dict) else {}


def build_metadata(rows: pd.DataFrame, tables: Sequence[str], helm_filled: Sequence[str], scored_by: str,
                   local_path: Optional[str] = None, sla: Optional[str] = None, helm_from_helm: Optional[Sequence[str]] = None,
                   machine_load: Optional[Dict[str, Any]] = None, pricing: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The record for one run scored from `rows` (its requests table with efficiency columns);
    `pricing`: the pricing options besides tables and SLA (EfficiencySpec.record())."""
    used = sorted({str(h) for h in rows.get("reference_hardware", pd.Series(dtype=object)).dropna()})
    meta: Dict[str, Any] = {"scored_by": scored_by, "tables": "+".join(tables), "reference_stacks": used, "helm_stats_filled": list(helm_filled)}
    if helm_from_helm is not None:
        meta["helm_stats_from_helm"] = sorted(helm_from_helm)
    meta.update({"local_path": local_path, "served_sla": sla or str(DEFAULT_SLA), "requests": int(len(rows)),
                 "approximate_token_requests": int(rows.get("approximate_tokens", pd.Series(dtype=bool)).fillna(False).astype(bool).sum())})
    meta["unestimated_reasons"] = _counts(rows, "unestimated_reason")
    meta["served_methods"] = _counts(rows, "served_method")
    meta["unserved_reasons"] = _counts(rows, "served_reason")
    if pricing is not None:
        meta["pricing"] = dict(pricing)
    if machine_load is not None:
        meta["machine_load"] = machine_load
    return meta


def _counts(rows: pd.DataFrame, column: str) -> Dict[str, int]:
    """{non-empty value of `column`: requests}, sorted by value ({} without the column)."""
    values = rows.get(column, pd.Series(dtype=object)).dropna().astype(str)
    return {value: int(n) for value, n in values[values != ""].value_counts().sort_index().items()}


def helm_stats_with_values(names_and_counts: Iterable[Tuple[str, Optional[float]]]) -> List[str]:
    """The HELM_FILLED_STATS names among (stat name, count) pairs that hold a value, in HELM_FILLED_STATS order."""
    valued = {name for name, count in names_and_counts if count}
    return [name for name in HELM_FILLED_STATS if name in valued]


def helm_stats_from_helm(run_dir: str, current_stats: List[Dict[str, Any]]) -> List[str]:
    """HELM_FILLED_STATS that HELM itself computed in this run (a value of ours never replaces one).

    Kept in the run's metadata from the first rescore on. Before that: the stats HELM's file
    holds a value for (`stats.json.orig` once rescore kept it, else `current_stats`), less those
    this project filled there: the ones the metadata lists, and, for runs scored live before the
    metric wrote metadata, a HELM stat equal to ours in every context (it was copied from ours)."""
    meta = read_metadata(run_dir)
    if isinstance(meta.get("helm_stats_from_helm"), list):
        return [name for name in HELM_FILLED_STATS if name in meta["helm_stats_from_helm"]]
    original_path = os.path.join(run_dir, STATS) + ".orig"
    original = read_json(original_path) if os.path.exists(original_path) else current_stats
    stats = [s for s in original if isinstance(s, dict) and isinstance(s.get("name"), dict)]
    written = set(helm_stats_with_values((str(s["name"].get("name")), s.get("count")) for s in stats))
    ours = set(meta.get("helm_stats_filled") or []) | _copies_of_ours(stats)
    return [name for name in HELM_FILLED_STATS if name in written - ours]


def _copies_of_ours(stats: List[Dict[str, Any]]) -> Set[str]:
    """HELM_FILLED_STATS whose every valued stat equals (count, sum) the stat of ours it is filled from, in the same context."""
    def context(stat: Dict[str, Any]) -> str:
        return json.dumps({k: v for k, v in stat["name"].items() if k != "name"}, sort_keys=True)

    moments: Dict[Tuple[str, str], Tuple[Any, Any]] = {(str(s["name"].get("name")), context(s)): (s.get("count"), s.get("sum")) for s in stats}
    copies = set()
    for helm_name, ours in HELM_FILLED_STATS.items():
        valued = [(key, value) for key, value in moments.items() if key[0] == helm_name and value[0]]
        if valued and all(moments.get((ours, key[1])) == value for key, value in valued):
            copies.add(helm_name)
    return copies
