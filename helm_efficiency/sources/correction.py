"""The batch-1 correction: what real serving adds to the simulator's kernels, per framework and phase.

For a measured row (first token, or decode per output token) simulated at its own model, GPU,
framework, TP and precision (sources/anchor.py):

    measured = sim · (1 + scale + legacy · [older release]) + step + comm_g · layers · log2(TP)

- `scale`: a framework-wide factor (kernels and launches the simulator misses);
- `step`: a per-step framework overhead (seconds: scheduling, sampling, detokenization);
- `comm_g`: per-layer all-reduce latency at batch 1, growing with the log2(TP) dependent steps
  of a latency-bound all-reduce (`comm_steps`), for the row's interconnect g (its per-GPU NVLink bandwidth, hardware.json). Where
  the rows have TP > 1, every candidate correction has it (the all-reduce is there whether or
  not a held-out score could do without it; "none", no correction, stays a candidate). The
  per-interconnect values are shrunk toward the framework's shared value by an empirical-Bayes
  weight τ_c² / (τ_c² + se_g²): se_g is the interconnect's own term's standard error (WLS,
  clustered by source) and τ_c² the spread of the per-interconnect terms beyond that noise
  (method of moments); one shared term is the other candidate, and leave-one-source-out picks;
- `legacy`: the version term. Rows of releases older than the framework's current era
  (sources/measured.CURRENT_ERA) carry it; a table stands for the simulator's own (current)
  release, so it is priced with legacy = 0. It is a candidate only with VERSION_TERM on (see there).

Fitted as a weighted median regression (statsmodels QuantReg, q = 0.5: least absolute
deviations) on the relative error measured / sim − 1, each source weighted equally. Published
rows carry heavy-tailed harness effects (a first token 2–6× the kernels' in a few rows), which
least squares follows and a median does not (leave-one-source-out, with the all-reduce and
shrinkage rules above: 8.4% → 6.6% median |error|, docs/corrections.md). scale, step and the
shared comm are kept ≥ 0 (a negative one is dropped and the rest refitted). The form is chosen
per framework and phase by leave-one-source-out median |error|, never in-sample.

The 90% interval is predictive for a *new* source: the held-out log-ratios log(measured /
corrected) are split by statsmodels `MixedLM` (a random intercept per source) into the spread
between sources (τ²) and within them (σ²), and the interval is

    mean ± t(0.95; sources − 1) · sqrt(τ² + σ² + se(mean)²)

so a source never seen, with its own version, harness and clocks, falls inside it 9 times in 10
(bench/measured_accuracy.py checks this leave-one-source-out with nested refits).
"""

import warnings
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union, cast

import numpy as np
from numpy.typing import ArrayLike
import pandas as pd

PHASE_OF = {"ttft_s": "prefill", "tpot_s": "decode"}
BASE_FORMS = {"none": (), "scale": ("scale",), "scale+step": ("scale", "step"), "scale+step+comm": ("scale", "step", "comm"),
              "step+comm": ("step", "comm")}
# Shrinkage of the per-interconnect communication term toward the shared one: None = one shared
# term; "eb" = the empirical-Bayes weight (fit_phase); a number k = a fixed n_g / (n_g + k).
SHRINK_K: Tuple[Optional[Union[str, float]], ...] = (None, "eb")
# The estimator of the fit: "lad" (weighted median regression) or "wls" (weighted least squares).
ESTIMATOR = "lad"
# Where the rows have TP > 1, only forms with the all-reduce term are candidates.
REQUIRE_COMM = True
# The version term enters the candidate forms only when switched on: leave-one-source-out it did
# not pay for itself on the current rows (bench/measured_accuracy.py prints its share), because
# every 16-bit TensorRT-LLM row is of the legacy era, so nothing separates it from `scale` there.
VERSION_TERM = False
MIN_SOURCES = 2  # a framework's phase with fewer sources borrows the phase's pooled correction
MIN_INTERVAL_SOURCES = 4  # fewer sources: the interval's variance components come from the phase pooled over frameworks
MIN_QUANTILE_SOURCES = 5  # interval_from_held_out: with fewer sources, a 5th percentile would be one source's own rows
# TP > 1 rows on an interconnect that fewer sources measured at TP > 1 are reported (bench), not fitted: one source
# cannot tell that interconnect's communication apart from its own offset, and such a row's
# communication term (layers × log2(TP) steps) carries high leverage over the shared term.
MIN_LINK_SOURCES = 2


def interconnect(gpu: Optional[str]) -> str:
    """The interconnect a GPU's all-reduce runs over: its per-GPU NVLink bandwidth (hardware.json)."""
    from helm_efficiency.analytic.hardware import hardware_spec

    spec = hardware_spec(str(gpu)) if gpu else None
    if spec is None or not spec.interconnect_bandwidth:
        return str(gpu)
    return f"{spec.interconnect_bandwidth / 1e9:g}GB/s"


def link_bandwidth(link: str) -> Optional[float]:
    """Bytes/s of an interconnect as `interconnect` names it ('450GB/s'); None for a bare GPU key."""
    return float(link[: -len("GB/s")]) * 1e9 if link.endswith("GB/s") else None


def flags(values: ArrayLike) -> np.ndarray:
    """Truth values (1.0/0.0) of a column that may hold True/False/None/NaN; missing is False."""
    return np.array([1.0 if (v is not None and v == v and bool(v)) else 0.0 for v in np.atleast_1d(np.asarray(values, dtype=object))])


def comm_steps(tp: ArrayLike) -> np.ndarray:
    """Dependent steps of one all-reduce over `tp` GPUs: log2(TP) (zero without tensor parallelism).

    A decode step's all-reduces carry a few kB per GPU, so they are latency-bound, and the
    kernels the frameworks use for such messages (one-shot and two-shot all-reduce, NCCL's tree)
    take a number of dependent steps that grows like log2(TP), not the TP − 1 of a bandwidth-bound
    ring. Leave-one-source-out (bench/measured_accuracy.py): 6.6% -> 6.3% median |error|, and
    h100-vllm's TP 1 bias +10.3% -> +5.1% (CHANGELOG 2026-12-07, third session). The served
    correction, whose messages are batch × hidden, keeps the ring (served_correction.ring_steps)."""
    return cast(np.ndarray, np.log2(np.maximum(np.asarray(tp, float), 1.0)))


@dataclass(frozen=True)
class PhaseCorrection:
    """One framework's correction for one phase.

    coefficients: scale, step, comm (shared), legacy (missing = 0); comm_by_link: the shrunk
    per-interconnect communication terms; interval: (lo, hi) of log(measured / corrected) for a
    new source (90%); variance: the components behind it; fitted_links: the interconnects of the
    TP > 1 rows it was fitted on (`comm` extrapolates beyond them)."""

    form: str
    coefficients: Dict[str, float]
    comm_by_link: Dict[str, float] = field(default_factory=dict)
    interval: Tuple[float, float] = (0.0, 0.0)
    variance: Dict[str, float] = field(default_factory=dict)
    sources: Tuple[str, ...] = ()
    rows: int = 0
    fitted_links: Tuple[str, ...] = ()

    @property
    def spread(self) -> Tuple[float, float]:
        """The interval (lo, hi) in log space; kept under the name tables and benches read."""
        return self.interval

    def comm(self, gpu: Optional[str]) -> float:
        """Seconds per layer and all-reduce step on `gpu`'s interconnect: its own shrunk term where
        it was fitted; on an interconnect faster (slower) than every fitted one, the fastest
        (slowest) fitted one's term times the ratio of their bandwidths; else the shared term.
        The messages are latency-bound at batch 1, so the bandwidth ratio is an empirical proxy for
        the link generation, not a bandwidth model: the fitted terms fall about as it rises
        (A100's 300 GB/s 1.6x H100's 450 GB/s; CHANGELOG 2026-12-07, sixth session)."""
        link, shared = interconnect(gpu), self.coefficients.get("comm", 0.0)
        if link in self.comm_by_link:
            return max(0.0, self.comm_by_link[link])
        bandwidth = link_bandwidth(link)
        fitted = sorted((b, g) for g in self.fitted_links if (b := link_bandwidth(g)) is not None)
        if bandwidth is not None and fitted and not fitted[0][0] <= bandwidth <= fitted[-1][0]:
            edge_bandwidth, edge = fitted[-1] if bandwidth > fitted[-1][0] else fitted[0]
            return max(0.0, self.comm_by_link.get(edge, shared)) * edge_bandwidth / bandwidth
        return max(0.0, shared)

    def apply(self, sim: ArrayLike, layers: ArrayLike, tp: ArrayLike, gpu: Union[None, str, Iterable[Optional[str]]] = None,
              legacy: Optional[ArrayLike] = None) -> np.ndarray:
        """Corrected seconds. `gpu`: one GPU key or an array of them (per-interconnect comm);
        `legacy`: the rows' version flags (None or False: the current release, as tables are)."""
        sim, layers, tp = (np.asarray(x, float) for x in (sim, layers, tp))
        c = self.coefficients
        old: Union[float, np.ndarray] = 0.0
        if legacy is not None:
            values = flags(legacy)
            old = values if values.size > 1 else float(values[0])
        if gpu is None or isinstance(gpu, str):
            comm: Union[float, np.ndarray] = self.comm(gpu)
        else:
            comm = np.array([self.comm(g) for g in gpu], float)
        return cast(np.ndarray, sim * (1 + c.get("scale", 0.0) + c.get("legacy", 0.0) * old) + c.get("step", 0.0) + comm * layers * comm_steps(tp))

    def predict_rows(self, rows: pd.DataFrame) -> np.ndarray:
        """Corrected seconds for fit-shaped rows (sim, num_layers, tp, gpu, legacy)."""
        return self.apply(rows["sim"], rows["num_layers"], rows["tp"], rows["gpu"].tolist(), rows["legacy"] if "legacy" in rows else None)


def source_weights(sources: pd.Series) -> np.ndarray:
    """1 / (rows of the same source): each source counts as much in total, however many rows it has."""
    return cast(np.ndarray, (1.0 / sources.map(sources.value_counts())).to_numpy(float))


def _features(rows: pd.DataFrame, terms: Sequence[str]) -> np.ndarray:
    sim = rows["sim"].to_numpy(float)
    comm = rows["num_layers"].to_numpy(float) * comm_steps(rows["tp"]) / sim
    legacy = flags(rows["legacy"]) if "legacy" in rows else np.zeros_like(sim)
    columns = {"scale": np.ones_like(sim), "step": 1.0 / sim, "comm": comm, "legacy": legacy}
    for term in terms:
        if term.startswith("comm@"):
            columns[term] = comm * (rows["link"].to_numpy() == term[5:])
    return np.column_stack([columns[t] for t in terms])


def _params(y: np.ndarray, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Coefficients of y on x with row weights, by ESTIMATOR: "lad" minimizes Σ w·|y − x·b|
    (statsmodels QuantReg at the median on the w-scaled rows, which is exactly that); "wls"
    minimizes Σ w·(y − x·b)²."""
    import statsmodels.api as sm

    with warnings.catch_warnings():  # rows that cannot tell two terms apart: the refit drops one
        warnings.simplefilter("ignore")
        if ESTIMATOR == "lad":
            try:
                return np.asarray(sm.QuantReg(y * weights, x * weights[:, None]).fit(q=0.5, max_iter=5000).params)
            except (ValueError, np.linalg.LinAlgError):
                pass  # a design QuantReg cannot solve: least squares instead
        elif ESTIMATOR != "wls":
            raise ValueError(f"ESTIMATOR is {ESTIMATOR!r}; 'lad' or 'wls'")
        return np.asarray(sm.WLS(y, x, weights=weights).fit().params)


def _regress(rows: pd.DataFrame, terms: List[str], free: Sequence[str] = ("legacy",)) -> Dict[str, float]:
    """The ESTIMATOR's fit of measured/sim − 1 on `terms`, each source weighted equally; a negative
    term not in `free` is dropped and the rest refitted (real serving only adds to the kernels)."""
    y = (rows["value"] / rows["sim"] - 1).to_numpy(float)
    weights = source_weights(rows["source_id"])
    terms = list(terms)
    while terms:
        params = _params(y, _features(rows, terms), weights)
        negative = [t for t, v in zip(terms, params) if v < 0 and t not in free and not t.startswith("comm@")]
        if not negative:
            return {t: float(v) for t, v in zip(terms, params)}
        terms.remove(negative[0])
    return {}


def _with_links(rows: pd.DataFrame) -> pd.DataFrame:
    if "link" in rows:
        return rows
    return rows.assign(link=[interconnect(g) for g in rows["gpu"]])


def identifiable(rows: pd.DataFrame, term: str) -> bool:
    """Whether the rows can tell `term` apart from the others."""
    if term == "comm":
        return bool((rows["tp"] > 1).any())
    if term == "legacy":
        old = flags(rows["legacy"]) if "legacy" in rows else np.zeros(len(rows))
        return bool(old.any() and (old == 0).any())
    return True


def _link_spread(rows: pd.DataFrame, split: List[str], links: List[str]) -> Tuple[float, Dict[str, float]]:
    """τ_c² (the spread of the per-interconnect communication terms beyond their sampling noise,
    method of moments) and each term's se² (WLS, clustered by source), from the split fit."""
    import statsmodels.api as sm

    if len(links) < 2 or rows["source_id"].nunique() < 2:  # nothing to spread, or no clusters to estimate the noise from
        return 0.0, {g: 0.0 for g in links}
    y = (rows["value"] / rows["sim"] - 1).to_numpy(float)
    groups = pd.factorize(rows["source_id"], sort=True)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            fit = sm.WLS(y, _features(rows, split), weights=source_weights(rows["source_id"])).fit(
                cov_type="cluster", cov_kwds={"groups": groups})
        except (ZeroDivisionError, ValueError, np.linalg.LinAlgError):  # as many terms as rows: no noise estimate
            return 0.0, {g: 0.0 for g in links}
    params, bse = np.asarray(fit.params), np.asarray(fit.bse)
    estimates = np.array([params[split.index(f"comm@{g}")] for g in links])
    se2 = {g: float(bse[split.index(f"comm@{g}")]) ** 2 for g in links}
    if not np.all(np.isfinite(estimates)) or not all(np.isfinite(v) for v in se2.values()):
        return 0.0, se2
    return max(0.0, float(np.var(estimates, ddof=1)) - float(np.mean(list(se2.values())))), se2


def fit_phase(rows: pd.DataFrame, form: str) -> PhaseCorrection:
    """The correction of `form` (a BASE_FORMS key, optionally '+legacy' and '/k=<shrink>', the
    shrink 'eb' or a number) fitted on `rows`."""
    rows = _with_links(rows)
    base, _, shrink = form.partition("/k=")
    base, legacy = (base[: -len("+legacy")], True) if base.endswith("+legacy") else (base, False)
    terms = [t for t in BASE_FORMS[base] if identifiable(rows, t)]
    if legacy and identifiable(rows, "legacy"):
        terms.append("legacy")
    coefficients = _regress(rows, terms)
    comm_by_link: Dict[str, float] = {}
    if shrink and "comm" in coefficients:
        tp_rows = rows[rows["tp"] > 1]
        links = sorted(tp_rows["link"].unique())
        split = [t for t in coefficients if t != "comm"] + [f"comm@{g}" for g in links]
        free = _regress(rows, split, free=("legacy",))
        if shrink == "eb":
            tau2, se2 = _link_spread(rows, split, links)
            weight = {g: tau2 / (tau2 + se2[g]) if tau2 + se2[g] > 0 else 0.0 for g in links}
        else:
            k = float(shrink)
            counts = tp_rows["link"].value_counts()
            weight = {g: float(counts[g]) / (float(counts[g]) + k) for g in links}
        for g in links:
            w = weight[g]
            comm_by_link[g] = (1 - w) * coefficients["comm"] + w * free.get(f"comm@{g}", coefficients["comm"])
    return PhaseCorrection(form, coefficients, comm_by_link, sources=tuple(sorted(rows["source_id"].unique())), rows=len(rows),
                           fitted_links=tuple(sorted(rows.loc[rows["tp"] > 1, "link"].unique())) if "comm" in coefficients else ())


def candidate_forms(rows: pd.DataFrame) -> List[str]:
    """The forms the leave-one-source-out choice compares on `rows` (with TP > 1 rows and
    REQUIRE_COMM, only those with the all-reduce term, and no correction at all)."""
    forms = []
    with_comm = identifiable(rows, "comm")
    for base in BASE_FORMS:
        if REQUIRE_COMM and with_comm and BASE_FORMS[base] and "comm" not in BASE_FORMS[base]:
            continue
        shrinks = SHRINK_K if "comm" in BASE_FORMS[base] and with_comm else (None,)
        for legacy in ((False, True) if VERSION_TERM and identifiable(rows, "legacy") else (False,)):
            for k in shrinks:
                suffix = "" if k is None else f"/k={k}" if isinstance(k, str) else f"/k={k:g}"
                forms.append(base + ("+legacy" if legacy else "") + suffix)
    return forms


def held_out_predictions(rows: pd.DataFrame, form: str) -> pd.Series:
    """Each row predicted by the form fitted without the row's source (NaN where no other source)."""
    rows = _with_links(rows)
    out = pd.Series(np.nan, index=rows.index)
    for source, held in rows.groupby("source_id"):
        train = rows[rows["source_id"] != source]
        if train.empty:
            continue
        out[held.index] = fit_phase(train, form).predict_rows(held)
    return out


def choose_form(rows: pd.DataFrame) -> Tuple[str, pd.Series]:
    """The form with the best leave-one-source-out median |error| (ties: fewer terms), and its held-out predictions."""
    rows = _with_links(rows)
    scores, held = {}, {}
    for form in candidate_forms(rows):
        predicted = held_out_predictions(rows, form)
        err = np.abs(predicted / rows["value"] - 1).dropna()
        if len(err):
            scores[form] = (round(float(err.median()), 4), len(form))
            held[form] = predicted
    if not scores:
        return "none", pd.Series(np.nan, index=rows.index)
    best = min(scores, key=scores.__getitem__)
    return best, held[best]


def variance_components(log_ratio: pd.Series, sources: pd.Series) -> Dict[str, float]:
    """mean, between-source variance τ², within-source variance σ² and se(mean)² of held-out
    log-ratios: statsmodels MixedLM with a random intercept per source (method of moments when
    the mixed model cannot be fitted, e.g. with fewer than three sources)."""
    data = pd.DataFrame({"y": log_ratio.to_numpy(float), "g": sources.to_numpy()}).dropna()
    n_sources = data["g"].nunique()
    if len(data) == 0:
        return {"mean": 0.0, "between": 0.0, "within": 0.0, "se2": 0.0, "sources": 0, "rows": 0}
    out = None
    if n_sources >= 3:
        import statsmodels.formula.api as smf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit = smf.mixedlm("y ~ 1", data, groups=data["g"]).fit(reml=True)
                out = {"mean": float(fit.fe_params.iloc[0]), "between": float(np.asarray(fit.cov_re)[0, 0]),
                       "within": float(fit.scale), "se2": float(fit.bse.iloc[0]) ** 2}
            except (ValueError, np.linalg.LinAlgError):
                out = None
        if out is not None and not all(np.isfinite(v) for v in out.values()):
            out = None
    if out is None:
        means = data.groupby("g")["y"].mean()
        within = float(data.groupby("g")["y"].var(ddof=1).fillna(0).mean())
        between = float(means.var(ddof=1)) if n_sources >= 2 else 0.0
        out = {"mean": float(means.mean()), "between": between, "within": within,
               "se2": (between + within / max(1, len(data) / n_sources)) / n_sources}
    out.update(sources=int(n_sources), rows=int(len(data)))
    return out


def interval_from(variance: Dict[str, float], level: float = 0.90) -> Tuple[float, float]:
    """(lo, hi) of log(measured / corrected) for a new source: the mean ± a Student t quantile
    (`level`, two-sided; sources − 1 degrees of freedom: the between-source variance is estimated
    from that many sources) times sqrt(τ² + σ² + se(mean)²)."""
    from scipy.stats import t as student_t

    quantile = float(student_t.ppf((1.0 + level) / 2.0, max(1, int(variance.get("sources", 2)) - 1)))
    half = quantile * float(np.sqrt(max(0.0, variance["between"]) + max(0.0, variance["within"]) + max(0.0, variance["se2"])))
    return variance["mean"] - half, variance["mean"] + half


def interval_from_held_out(log_ratio: pd.Series, sources: pd.Series, level: float = 0.90) -> Tuple[float, float]:
    """(lo, hi) of log(measured / corrected) for a new source by another rule than interval_from:
    the (1 − level)/2 and (1 + level)/2 quantiles of held-out log-ratios, each source weighing one
    (a row: 1 / its source's rows), with no normal model. No finite-sample correction: over K
    exchangeable sources such an interval covers a new source's rows about level · K / (K + 1) of
    the time (the correction that would fix it makes the interval the sources' range or wider). Not
    shipped: the served correction stores it for inspection, and `bench/served_accuracy.py`
    compares the two rules' held-out coverage (CHANGELOG 2026-12-08, twelfth session). With fewer
    than MIN_QUANTILE_SOURCES sources it is interval_from's, at the same level."""
    data = pd.DataFrame({"y": np.asarray(log_ratio, float), "g": np.asarray(sources)}).dropna()
    if data["g"].nunique() < MIN_QUANTILE_SOURCES:
        return interval_from(variance_components(data["y"], data["g"]), level)
    weights = source_weights(data["g"])
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(data["y"].to_numpy(), [tail, 1.0 - tail], weights=weights, method="inverted_cdf")
    return float(lo), float(hi)


def fit_rows(simulated: pd.DataFrame, fp8: bool = False, unfitted: bool = False) -> pd.DataFrame:
    """The rows a correction is fitted on: first-token or decode rows simulated at their own
    precision (16-bit in bf16; FP8 in FP8 when `fp8`: off, since leave-one-source-out the FP8
    rows, mostly of legacy releases, made 16-bit predictions worse: 16.5% vs 9.0% median |error|). A whole-request measurement (e2e, or
    batch-1 tok/s) of a long generation (o ≥ 64) whose source gave no per-token number for the
    same shape becomes a decode row: (e2e − simulated first token) / (o − 1), when the first
    token is under a fifth of it. Rows on an interconnect measured by fewer than MIN_LINK_SOURCES
    sources at TP > 1 are left out (`unfitted`: those rows instead); a TP 1 row runs no
    all-reduce, so its GPU's interconnect does not matter and it is always fitted."""
    own = simulated["sim_dtype"] if "sim_dtype" in simulated else pd.Series("bf16", index=simulated.index)
    sixteen = simulated["precision16"].astype(bool) & (own == "bf16")
    eight = simulated.get("precision_fp8", pd.Series(False, index=simulated.index)).fillna(False).astype(bool) & (own == "fp8")
    rows = simulated[(sixteen | (eight if fp8 else False)) & simulated["sim"].notna() & (simulated["sim"] > 0)].copy()
    shape = ["source_id", "hf_id", "gpu", "backend", "tp", "p", "o"]
    direct = rows[rows["quantity"].isin(list(PHASE_OF))]
    e2e = rows[(rows["quantity"] == "e2e_s") & (rows["o"] >= 64) & (rows["sim_ttft_s"] < 0.2 * rows["value"])]
    have = set(map(tuple, direct[direct["quantity"] == "tpot_s"][shape].astype(str).to_numpy()))
    e2e = e2e[[tuple(k) not in have for k in e2e[shape].astype(str).to_numpy()]].copy()
    e2e["value"] = (e2e["value"] - e2e["sim_ttft_s"]) / (e2e["o"] - 1)
    e2e["sim"] = e2e["sim_tpot_s"]
    e2e["quantity"] = "tpot_s"
    out = pd.concat([direct, e2e], ignore_index=True)
    if "legacy" not in out:
        out["legacy"] = False
    out = _with_links(out[out["value"] > 0].reset_index(drop=True))
    sharded = out["tp"] > 1
    link_sources = out[sharded].groupby("link")["source_id"].nunique()
    enough = ~sharded | (out["link"].map(link_sources).fillna(0) >= MIN_LINK_SOURCES)
    return out[~enough if unfitted else enough].reset_index(drop=True)


def fit_correction(rows: pd.DataFrame, frameworks: Sequence[str] = ("trtllm", "vllm", "sglang")) -> Dict[str, Dict[str, PhaseCorrection]]:
    """{framework: {phase: PhaseCorrection}} from fit rows (`fit_rows`): each phase's form chosen
    leave-one-source-out; a framework whose phase has rows from fewer than MIN_SOURCES sources
    gets the phase's pooled correction (all frameworks' rows). The interval's variance components
    are the framework's own where it has MIN_INTERVAL_SOURCES sources, else the phase's pooled ones."""
    out: Dict[str, Dict[str, PhaseCorrection]] = {}
    pooled_variance: Dict[str, Dict[str, float]] = {}
    for quantity, phase in PHASE_OF.items():
        pool = rows[rows["quantity"] == quantity]
        if pool.empty:
            continue
        form, held = choose_form(pool)
        pooled_variance[phase] = variance_components(np.log(pool["value"] / held), pool["source_id"])
        for backend in frameworks:
            group = pool[pool["backend"] == backend]
            own = group["source_id"].nunique() >= MIN_SOURCES
            if own:
                g_form, g_held = choose_form(group)
            else:
                group, g_form, g_held = pool, form, held
            correction = fit_phase(group, g_form)
            variance = variance_components(np.log(group["value"] / g_held), group["source_id"])
            if variance["sources"] < MIN_INTERVAL_SOURCES:
                variance = dict(pooled_variance[phase], pooled=1.0)
            out.setdefault(backend, {})[phase] = PhaseCorrection(
                g_form, correction.coefficients, correction.comm_by_link, interval_from(variance),
                {k: round(float(v), 8) for k, v in variance.items()}, correction.sources, correction.rows, correction.fitted_links)
    return out
