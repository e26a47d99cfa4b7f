"""Names and metadata of the stats this plugin emits. All start with `efficiency_` so none
collides with HELM's own `inference_*`, `num_*_tokens` or `batch_size` stats."""

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

# The metric's dotted class name, as run specs and helm-summarize name it.
METRIC_CLASS = "helm_efficiency.helm.metric.InferenceEfficiencyMetric"

@dataclass(frozen=True)
class StatSpec:
    """One stat this plugin writes: its HELM name, how helm-server shows it, and where else it
    appears. Every list of stats (the metric's metadata, the aggregation, the schema's efficiency
    group, the leaderboard's columns and axis labels, the demo's table) derives from STATS."""

    name: str  # the HELM stat name (efficiency_*)
    display_name: str
    description: str
    column: Optional[str] = None  # the requests-table column of a per-request stat; None: a run-level count
    lower_is_better: Optional[bool] = None
    in_schema_group: bool = False  # a column of helm-server's "Efficiency (helm-efficiency)" group
    leaderboard: Optional[str] = None  # its `leaderboard --efficiency` choice
    axis_label: Optional[str] = None  # the leaderboard's label, with units
    short_display_name: Optional[str] = None  # helm-server's column header where display_name is longer than its 27 characters
    scale: float = 1.0  # a per-request stat's value is its column × scale (a unit helm-server's 3 decimals can show)


STATS: Tuple[StatSpec, ...] = (
    StatSpec("efficiency_num_prompt_tokens", "# prompt tokens (efficiency)", "Prompt tokens (HELM tokenizer).", column="num_prompt_tokens"),
    StatSpec("efficiency_num_output_tokens", "# output tokens (efficiency)", "Generated tokens, prompt echo excluded; re-tokenized when a client returns no tokens.", column="num_output_tokens"),
    StatSpec("efficiency_raw_runtime_s", "Raw runtime (s)", "Measured seconds per request (batched: batch time / batch size); cached, failed and cold-start requests excluded.", column="raw_runtime_s", lower_is_better=True, leaderboard="raw", axis_label="raw runtime (s / request)", in_schema_group=True),
    StatSpec("efficiency_denoised_runtime_s", "Denoised runtime (s)", "Seconds per request with contention removed: lower-envelope fit F(p)+g·(o−1) of this deployment's own timings.", column="denoised_runtime_s", lower_is_better=True, leaderboard="denoised", axis_label="denoised runtime (s / request)", in_schema_group=True),
    StatSpec("efficiency_idealized_runtime_s", "Idealized runtime (s)", "Seconds per request at batch size 1 on the reference stack (GPU, serving software, bf16): from the stack's table entry for the model (simulated, anchored to published measurements), else transferred from its architecture, else from its size; the method count stats say which.", column="idealized_runtime_s", lower_is_better=True, leaderboard="idealized", axis_label="idealized runtime (s / request)", in_schema_group=True),
    StatSpec("efficiency_idealized_runtime_lo_s", "Idealized runtime, 90% PI low (s)", "Lower end of the 90% prediction interval of idealized runtime.", column="idealized_runtime_lo_s", lower_is_better=True, in_schema_group=True, short_display_name="Idealized, 90% low (s)"),
    StatSpec("efficiency_idealized_runtime_hi_s", "Idealized runtime, 90% PI high (s)", "Upper end of the 90% prediction interval of idealized runtime.", column="idealized_runtime_hi_s", lower_is_better=True, in_schema_group=True, short_display_name="Idealized, 90% high (s)"),
    StatSpec("efficiency_idealized_energy_j", "Idealized energy (J)", "GPU energy of the idealized request (joules): its prefill seconds at the GPU's batch-1 prefill power plus its decode seconds at batch-1 decode power, times the GPUs; powers measured where published batch-1 measurements exist (analytic/hardware.json says which).", column="idealized_energy_j", lower_is_better=True, leaderboard="energy", axis_label="idealized energy (J / request)", in_schema_group=True),
    StatSpec("efficiency_idealized_energy_lo_j", "Idealized energy, low (J)", "Low end of idealized energy: the runtime interval's low end at the powers' low ends.", column="idealized_energy_lo_j", lower_is_better=True, in_schema_group=True),
    StatSpec("efficiency_idealized_energy_hi_j", "Idealized energy, high (J)", "High end of idealized energy: the runtime interval's high end at the powers' high ends.", column="idealized_energy_hi_j", lower_is_better=True, in_schema_group=True),
    StatSpec("efficiency_idealized_cost_usd", "Idealized cost (USD)", "Idealized runtime × GPUs × assumed price per GPU-hour (US dollars).", column="idealized_cost_usd", lower_is_better=True, leaderboard="cost", axis_label="idealized cost (USD / request)"),
    StatSpec("efficiency_idealized_cost_usd_per_1m", "Idealized cost (USD per 1M requests)", "Idealized cost of a million such requests (US dollars): efficiency_idealized_cost_usd × 10^6, a unit helm-server's three decimals can show.", column="idealized_cost_usd", scale=1e6, lower_is_better=True, in_schema_group=True, short_display_name="Idealized cost ($/1M req)"),
    StatSpec("efficiency_served_gpu_s", "Served GPU time (GPU-s)", "GPU-seconds the request costs when the reference stack serves it well: batched at the throughput-optimal point under the latency target in the run's metadata (default: 50 ms per output token, first token within 2 s), p / prefill tokens/s/GPU + o / decode tokens/s/GPU there (AIConfigurator's aggregated search; tables/served.py). A model the simulator refuses, or known only by its size, is priced from the nearest simulated models, with a wider interval (tables/served_transfer.py).", column="served_gpu_s", lower_is_better=True, leaderboard="served", axis_label="served GPU time (GPU-s / request)", in_schema_group=True),
    StatSpec("efficiency_served_gpu_s_lo", "Served GPU time, low (GPU-s)", "Low end of served GPU time (90% interval from bench/served_accuracy.py).", column="served_gpu_s_lo", lower_is_better=True),
    StatSpec("efficiency_served_gpu_s_hi", "Served GPU time, high (GPU-s)", "High end of served GPU time (90% interval from bench/served_accuracy.py).", column="served_gpu_s_hi", lower_is_better=True),
    StatSpec("efficiency_served_cost_usd", "Served cost (USD)", "Served GPU time × the GPU's price per GPU-hour (US dollars).", column="served_cost_usd", lower_is_better=True, leaderboard="served_cost", axis_label="served cost (USD / request)"),
    StatSpec("efficiency_served_cost_usd_per_1m", "Served cost (USD per 1M requests)", "Served cost of a million such requests (US dollars): efficiency_served_cost_usd × 10^6.", column="served_cost_usd", scale=1e6, lower_is_better=True, in_schema_group=True, short_display_name="Served cost ($/1M req)"),
    StatSpec("efficiency_served_cost_usd_lo", "Served cost, low (USD)", "Low end of served cost.", column="served_cost_usd_lo", lower_is_better=True),
    StatSpec("efficiency_served_cost_usd_hi", "Served cost, high (USD)", "High end of served cost.", column="served_cost_usd_hi", lower_is_better=True),
    StatSpec("efficiency_served_energy_j", "Served energy (J)", "Served GPU time × per-GPU power under load (joules).", column="served_energy_j", lower_is_better=True, in_schema_group=True),
    StatSpec("efficiency_served_energy_j_lo", "Served energy, low (J)", "Low end of served energy.", column="served_energy_j_lo", lower_is_better=True),
    StatSpec("efficiency_served_energy_j_hi", "Served energy, high (J)", "High end of served energy.", column="served_energy_j_hi", lower_is_better=True),
    StatSpec("efficiency_num_requests", "# requests (efficiency)", "Requests seen by the efficiency metric.", in_schema_group=True),
    StatSpec("efficiency_num_cached_requests", "# cached requests", "Requests answered from cache (stale timing, excluded from runtime stats).", in_schema_group=True),
    StatSpec("efficiency_num_cold_requests", "# cold-start requests", "The run's first request (model loading) and requests that waited for it, excluded from timings."),
    StatSpec("efficiency_num_failed_requests", "# failed requests", "Requests with success=false, excluded from timings."),
    StatSpec("efficiency_num_untimed_requests", "# untimed requests", "Requests with a missing, NaN, zero or negative request_time."),
    StatSpec("efficiency_num_unestimated_requests", "# requests without idealized runtime", "Requests with no idealized runtime: no reference table covers the model, or their media are not priced (no number is made up).", in_schema_group=True, short_display_name="# unestimated requests"),
    StatSpec("efficiency_num_extrapolated_requests", "# extrapolated requests", "Requests outside the reference table's profiled (p, o) range."),
    StatSpec("efficiency_num_denoise_fit_requests", "# requests in denoise fit", "Requests of this run used in the deployment's lower-envelope fit."),
    StatSpec("efficiency_num_undenoised_requests", "# requests without denoised runtime", "Requests of a fitted deployment with no denoised runtime: a prompt or output length the fit could not identify, outside the one observed."),
    StatSpec("efficiency_num_denoised_above_raw_requests", "# requests denoised above raw", "Requests whose measured runtime is below the fitted envelope (a low quantile, so a few are): their denoised runtime exceeds the raw one."),
    StatSpec("efficiency_num_approximate_token_requests", "# requests with approximate tokens", "Requests whose prompt or output tokens were counted by the offline fallback counter (no HELM count, no tokenizer offline, or a completion's token list unusable); their idealized interval is widened by its measured error.", in_schema_group=True, short_display_name="# approx. token requests"),
    StatSpec("efficiency_num_unserved_requests", "# requests without served cost", "Requests with no served numbers: the stack has no served table, the model none, or no operating point meets the latency target."),
    StatSpec("efficiency_num_media_requests", "# requests with media", "Requests that carried images, audio or video (HELM's multimodal prompt) or generated media; each is priced with its media (image tokens in the prompt, the vision encoder in prefill) where its model's registry entry states the image rule, else gets no idealized or served number and counts as unestimated (reason: media not priced).", in_schema_group=True),
    StatSpec("efficiency_num_batched_requests", "# batched requests", "Requests timed as part of a batch (2022 HELM): raw runtime is the batch's time divided by its size."),
    StatSpec("efficiency_num_calibrated_requests", "# requests from a calibrated entry", "Idealized runtime from a cost-table entry calibrated on this model's own profile."),
    StatSpec("efficiency_num_transfer_requests", "# requests by transfer", "Idealized runtime transferred from other profiled models through this model's architecture."),
    StatSpec("efficiency_num_size_only_requests", "# requests by size only", "Idealized runtime from the model's parameter count alone (no architecture known)."),
    StatSpec("efficiency_num_helm_table_requests", "# requests from HELM's table", "Idealized runtime from HELM's bundled efficiency_data."),
    StatSpec("efficiency_num_served_transfer_requests", "# requests served by transfer", "Served numbers priced from the two nearest models the stack simulates, its simulator refusing this architecture; their band is wider (docs/served.md)."),
    StatSpec("efficiency_num_served_size_only_requests", "# requests served by size", "Served numbers priced from the simulated models nearest in size (and active size, for a mixture of experts), the architecture unknown; their band is wider (docs/served.md)."),
    StatSpec("efficiency_concurrency", "Concurrency", "Mean requests in flight at once for this deployment (busy time / wall span, from HELM's timestamps; whole-second starts, so a lower bound, and only over spans of 2 s or more). Above 1.5 on a local model the denoised runtime is corrected and flagged."),
    # Written by `helm-efficiency leaderboard --write-stats` (report/uncertainty_stats.py), per run, for its scenario.
    StatSpec("efficiency_capability_lo", "Capability, 90% low", "Low end of the 90% interval of the scenario's main metric: bootstrap over its instances (helm-efficiency leaderboard --write-stats).", lower_is_better=False, in_schema_group=True),
    StatSpec("efficiency_capability_hi", "Capability, 90% high", "High end of the 90% interval of the scenario's main metric: bootstrap over its instances (helm-efficiency leaderboard --write-stats).", lower_is_better=False, in_schema_group=True),
    StatSpec("efficiency_capability_rank_lo", "Capability rank, 90% best", "Best end of the 90% interval of the model's rank on the scenario's main metric among the suite's models (1 = best; paired bootstrap over instances).", lower_is_better=True, in_schema_group=True, short_display_name="Capability rank, 90% best"),
    StatSpec("efficiency_capability_rank_hi", "Capability rank, 90% worst", "Worst end of the 90% interval of the model's rank on the scenario's main metric among the suite's models (1 = best).", lower_is_better=True, in_schema_group=True, short_display_name="Capability rank, 90% worst"),
    StatSpec("efficiency_pareto_probability", "P(on Pareto frontier)", "Share of joint draws (instances resampled, reference-stack error drawn) in which the model lies on the scenario's capability-vs-efficiency Pareto frontier; efficiency as chosen with leaderboard --efficiency.", lower_is_better=False, in_schema_group=True, short_display_name="P(on Pareto frontier)"),
    StatSpec("efficiency_cost_per_correct_usd", "Idealized cost per correct answer (USD)", "Idealized cost of all the scenario's requests divided by the number answered correctly (0/1 metrics only).", lower_is_better=True, in_schema_group=True, short_display_name="Cost per correct (USD)"),
    StatSpec("efficiency_cost_per_correct_lo_usd", "Idealized cost per correct, 90% low (USD)", "Low end of the 90% interval of idealized cost per correct answer (joint draws).", lower_is_better=True, in_schema_group=True, short_display_name="Cost per correct, low (USD)"),
    StatSpec("efficiency_cost_per_correct_hi_usd", "Idealized cost per correct, 90% high (USD)", "High end of the 90% interval of idealized cost per correct answer (joint draws).", lower_is_better=True, in_schema_group=True, short_display_name="Cost per correct, high"),
    StatSpec("efficiency_served_cost_per_correct_usd", "Served cost per correct answer (USD)", "Served cost of all the scenario's requests divided by the number answered correctly (0/1 metrics only).", lower_is_better=True),
    StatSpec("efficiency_served_cost_per_correct_lo_usd", "Served cost per correct, 90% low (USD)", "Low end of the 90% interval of served cost per correct answer.", lower_is_better=True),
    StatSpec("efficiency_served_cost_per_correct_hi_usd", "Served cost per correct, 90% high (USD)", "High end of the 90% interval of served cost per correct answer.", lower_is_better=True),
    StatSpec("efficiency_denoise_underdetermined", "Denoise underdetermined", "1 if the denoising fit was attempted but is not ok: too few usable timings, prompt or output length not identified, or a cost came out negative and was refitted with costs >= 0 (constrained). No value (count 0) when no timing was usable (all cached, failed or untimed).", in_schema_group=True),
)
PER_REQUEST_STATS: Tuple[StatSpec, ...] = tuple(s for s in STATS if s.column)
RUN_COUNT_STATS: Tuple[StatSpec, ...] = tuple(s for s in STATS if not s.column)
STAT_BY_NAME: Dict[str, StatSpec] = {s.name: s for s in STATS}
LEADERBOARD_STATS: Tuple[StatSpec, ...] = tuple(s for s in STATS if s.leaderboard)
SCHEMA_GROUP_STATS: Tuple[StatSpec, ...] = tuple(s for s in STATS if s.in_schema_group)

# HELM's own efficiency stats (helm/benchmark/metrics/efficiency_metrics.py) that the bundled
# schema_classic.yaml shows in its "efficiency" group, and the stat of ours each is filled from
# where HELM wrote none (never over a value HELM wrote): plain helm-summarize + helm-server then
# show our numbers in HELM's own columns.
HELM_FILLED_STATS: Dict[str, str] = {
    "inference_denoised_runtime": "efficiency_denoised_runtime_s",
    "inference_idealized_runtime": "efficiency_idealized_runtime_s",
}

# How idealized runtime was obtained, as the `method` column and the efficiency_num_<method>_requests stats say.
METHODS = ("calibrated", "transfer", "size_only", "helm_table")

GROUP = "efficiency"


def metadata_fields() -> List[Dict[str, object]]:
    """Plain dicts (name, display_name, short_display_name, description, lower_is_better, group) for all stats: HELM's MetricMetadata fields."""
    return [{"name": s.name, "display_name": s.display_name, "short_display_name": s.short_display_name, "description": s.description,
             "lower_is_better": s.lower_is_better, "group": GROUP} for s in STATS]
