"""Lower-envelope denoising on timings with known truth and non-negative noise."""

import numpy as np
import pandas as pd
import pytest

from helm_efficiency.denoise.envelope import QUALITY_NO_OUTPUT_SPREAD, QUALITY_OK, QUALITY_TOO_FEW, LowerEnvelopeDenoiser


def timings(n=300, seed=0, noise="exponential"):
    rng = np.random.default_rng(seed)
    p = rng.integers(10, 1000, n)
    o = rng.integers(1, 64, n)
    truth = 0.05 + 2e-4 * p + 0.02 * (o - 1)
    extra = rng.exponential(0.3 * truth) if noise == "exponential" else 0.0
    return pd.DataFrame({"num_prompt_tokens": p, "num_output_tokens": o, "runtime_s": truth + extra}), truth


def test_envelope_recovers_truth_under_heavy_positive_noise():
    data, truth = timings()
    model = LowerEnvelopeDenoiser(quantile=0.05).fit(data)
    assert model.quality_ == QUALITY_OK
    denoised = model.predict(data["num_prompt_tokens"], data["num_output_tokens"])
    raw_error = np.median(np.abs(data["runtime_s"] / truth - 1))
    denoised_error = np.median(np.abs(denoised / truth - 1))
    assert denoised_error < 0.05 < raw_error


def test_constant_output_length_is_flagged_not_guessed():
    data, _ = timings()
    data["num_output_tokens"] = 5
    model = LowerEnvelopeDenoiser().fit(data)
    assert model.quality_ == QUALITY_NO_OUTPUT_SPREAD
    out = model.predict([100, 100], [5, 20])
    assert np.isfinite(out[0]) and np.isnan(out[1])


def test_too_few_requests_gives_no_fit():
    data, _ = timings(n=3)
    model = LowerEnvelopeDenoiser().fit(data)
    assert model.quality_ == QUALITY_TOO_FEW
    assert np.isnan(model.predict([10], [2])).all()


def test_report_has_latencies_and_intervals():
    data, _ = timings()
    report = LowerEnvelopeDenoiser().fit(data).report()
    assert report["num_requests_used"] == 300
    assert 0.015 < report["time_per_output_token_s"] < 0.03
    assert set(report["params_interval"]) == {"overhead_s", "prefill_s_per_token", "decode_s_per_token"}


def test_relative_fit_keeps_short_requests_on_a_curved_surface():
    """Prefill grows with p² here, so no straight surface fits all scales. An absolute-loss
    envelope wants a negative overhead (constrained to zero, so far off for the shortest
    requests); the relative fit weighs a 10 ms request like a 1 s one and keeps them close."""
    rng = np.random.default_rng(0)
    p = rng.integers(8, 2000, 300)
    o = rng.integers(1, 32, 300)
    truth = 0.001 + 2.5e-8 * p**2 + 0.002 * (o - 1)
    data = pd.DataFrame({"num_prompt_tokens": p, "num_output_tokens": o, "runtime_s": truth * (1 + rng.exponential(0.3, 300))})
    short = truth < np.quantile(truth, 0.25)
    absolute = LowerEnvelopeDenoiser(relative_passes=0).fit(data).predict(p, o)
    relative = LowerEnvelopeDenoiser().fit(data).predict(p, o)
    assert np.isnan(relative).sum() == 0 and np.isnan(absolute).sum() == 0
    assert np.nanmedian(np.abs(relative[short] / truth[short] - 1)) < np.nanmedian(np.abs(absolute[short] / truth[short] - 1))


def test_small_samples_never_give_negative_costs_or_shrinking_runtimes():
    """A handful of noisy requests whose unconstrained envelope slopes down in output length:
    the constrained fit keeps every cost >= 0, so denoised runtime never falls as output grows,
    says so in its quality, and every request gets a value."""
    from helm_efficiency.denoise.envelope import QUALITY_CONSTRAINED

    p = np.array([200, 210, 190, 200, 205, 195, 200, 210, 190, 200])
    o = np.array([50, 40, 2, 3, 60, 10, 8, 30, 70, 1])
    t = np.array([0.9, 0.8, 1.6, 1.5, 0.7, 1.2, 1.1, 0.9, 0.6, 1.9])  # longer outputs ran faster: contention, not physics
    fit = LowerEnvelopeDenoiser().fit(pd.DataFrame({"num_prompt_tokens": p, "num_output_tokens": o, "runtime_s": t}))
    assert fit.quality_ == QUALITY_CONSTRAINED and (fit.params_ >= 0).all()
    grid = fit.predict(np.full(5, 200), np.array([1, 10, 100, 1000, 4000]))
    assert np.isfinite(fit.predict(p, o)).all() and (np.diff(grid) >= 0).all()


def test_retries_and_an_unflagged_cold_start_do_not_lift_the_envelope():
    """A 20 s model load on the first request and 10% retries (a failed attempt plus a 1–4 s
    backoff) are huge upper outliers; the envelope, at the automatic quantile, ignores them."""
    data, truth = timings()
    rng = np.random.default_rng(1)
    retried = rng.random(len(data)) < 0.1
    data.loc[retried, "runtime_s"] += truth[retried] + rng.uniform(1.0, 4.0, retried.sum())
    data.loc[0, "runtime_s"] += 20.0
    clean = LowerEnvelopeDenoiser().fit(timings()[0]).predict(data["num_prompt_tokens"], data["num_output_tokens"])
    noisy = LowerEnvelopeDenoiser().fit(data).predict(data["num_prompt_tokens"], data["num_output_tokens"])
    assert np.median(np.abs(noisy / truth - 1)) < 0.05 < np.median(np.abs(data["runtime_s"] / truth - 1))
    assert np.median(np.abs(noisy / clean - 1)) < 0.01


def _overlapping_requests(serving: str, threads: int, n: int = 40, solo_s: float = 0.5) -> pd.DataFrame:
    """n requests on `threads` workers in FIFO order; each takes solo × threads while all overlap."""
    rng = np.random.default_rng(0)
    p = rng.integers(10, 500, n)
    o = rng.integers(1, 40, n)
    solo = solo_s * (0.2 + p / 500 + o / 40)
    runtime = solo * threads
    free = np.zeros(threads)
    start = np.zeros(n)
    for i in range(n):
        worker = int(np.argmin(free))
        start[i], free[worker] = free[worker], free[worker] + runtime[i]
    return pd.DataFrame({"model_deployment": "local/model", "num_prompt_tokens": p, "num_output_tokens": o,
                         "raw_runtime_s": runtime, "request_datetime": 1_700_000_000 + np.floor(start), "status": "ok",
                         "serving": serving}), solo


def test_concurrency_is_measured_and_corrected_only_for_local_models():
    from helm_efficiency.denoise.envelope import QUALITY_CONTENDED
    from helm_efficiency.denoise.requests import denoise_requests

    local, solo = _overlapping_requests("local", threads=4)
    corrected, reports = denoise_requests(local)
    assert reports["local/model"]["concurrency"] == pytest.approx(4, rel=0.1)
    assert set(corrected["denoise_quality"]) == {QUALITY_CONTENDED}
    assert np.median(corrected["denoised_runtime_s"] / solo) == pytest.approx(1, rel=0.15)
    remote, _ = _overlapping_requests("remote", threads=4)
    reported, reports = denoise_requests(remote)
    assert reports["local/model"]["concurrency"] == pytest.approx(4, rel=0.1)
    assert np.median(reported["denoised_runtime_s"] / solo) > 3  # APIs: reported, not corrected
    single, _ = _overlapping_requests("local", threads=1)
    alone, reports = denoise_requests(single)
    assert reports["local/model"]["concurrency"] <= 1.05 and "contended" not in set(alone["denoise_quality"])


def test_cap_by_repeats_never_predicts_above_the_fastest_repeat():
    rng = np.random.default_rng(5)
    p = np.repeat([32, 128, 512], 20)
    o = np.tile(np.repeat([1, 8], 10), 3)
    truth = 0.05 + 2e-4 * p + 0.02 * (o - 1)
    timings = pd.DataFrame({"num_prompt_tokens": p, "num_output_tokens": o, "runtime_s": truth * (1 + rng.exponential(0.3, len(p)))})
    capped = LowerEnvelopeDenoiser(cap_by_repeats=True).fit(timings).predict(p, o)
    fastest = timings.groupby(["num_prompt_tokens", "num_output_tokens"])["runtime_s"].transform("min").to_numpy()
    assert (capped <= fastest + 1e-12).all()
    plain = LowerEnvelopeDenoiser().fit(timings).predict(p, o)
    assert (plain > fastest).any()  # the cap changed something, so the check above could fail


def test_a_large_deployment_is_fitted_on_a_fixed_sample_with_bounded_work():
    """Above max_fit_requests usable timings the regression sees a fixed-seed sample of that many
    (same fit every time); spread, ranges and the count still come from all, predictions stay
    close to the full fit, and only the sampled requests count as used in it."""
    from helm_efficiency.denoise.requests import denoise_requests

    data, truth = timings(n=4000)
    full = LowerEnvelopeDenoiser().fit(data)
    sampled = LowerEnvelopeDenoiser(max_fit_requests=1000).fit(data)
    again = LowerEnvelopeDenoiser(max_fit_requests=1000).fit(data)
    assert full.fitted_rows_ is None and len(sampled.fitted_rows_) == 1000
    assert sampled.params_.equals(again.params_)
    assert sampled.n_ == 4000 and sampled.report()["num_requests_fitted"] == 1000
    assert sampled.observed_prompt_ == full.observed_prompt_
    p, o = data["num_prompt_tokens"], data["num_output_tokens"]
    assert np.median(np.abs(sampled.predict(p, o) / full.predict(p, o) - 1)) < 0.02
    requests = data.rename(columns={"runtime_s": "raw_runtime_s"}).assign(model_deployment="m", status="ok")
    out, reports = denoise_requests(requests, max_fit_requests=1000)
    assert out["used_in_denoise_fit"].sum() == 1000 and reports["m"]["num_requests_fitted"] == 1000
    assert out["denoised_runtime_s"].notna().all()
