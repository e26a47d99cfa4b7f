"""Measure the offline fallback token counter against the counts HELM's own tokenizers wrote.

Ground truth: every request in the real suites of tests/data/wild whose instance has a
per-instance `num_prompt_tokens` stat (HELM tokenized the prompt with the deployment's own
tokenizer: OpenAI, Anthropic, Gemini, Llama, ...), paired with the prompt text in
scenario_state.json. The counter's scale is fitted leave-one-suite-out (median of HELM count /
raw piece count over the other suites) and judged on the held-out suite, so no suite is
scored with a scale fitted on itself.

    python bench/fallback_tokens.py            # prints per-suite errors and the pooled p50 / p90

The p90 of |fallback / HELM − 1| (held out) is what helm_efficiency/request_table/tokens.py's
FALLBACK_RELATIVE_ERROR should be; the scale fitted on all suites is its SCALE.
"""

import argparse
import json
import os

import numpy as np
import pandas as pd

from helm_efficiency.request_table.table import _prompt_text
from helm_efficiency.rescore import _prompt_token_counts
from helm_efficiency.helm_io.decoders import read_scenario_state
from helm_efficiency.helm_io.runs import SCENARIO_STATE, list_run_dirs, model_deployment_of, run_spec_of
from helm_efficiency.request_table.tokens import FALLBACK_RELATIVE_ERROR, SCALE, raw_piece_count

WILD = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "wild")


def pairs(wild: str) -> pd.DataFrame:
    """(suite, deployment, HELM prompt tokens, raw piece count) for every request HELM counted."""
    rows = []
    for suite in json.load(open(os.path.join(wild, "suites.json"))):
        for run_dir in list_run_dirs(os.path.join(wild, suite["suite_dir"])):
            counts = _prompt_token_counts(run_dir)
            deployment = model_deployment_of(run_spec_of(run_dir))
            for state in read_scenario_state(os.path.join(run_dir, SCENARIO_STATE)):
                instance = state.instance
                key = (instance.id, state.train_trial_index, (instance.perturbation or {}).get("name"))
                text = _prompt_text(state.request)
                if key in counts and counts[key] > 0 and text:
                    rows.append({"suite": suite["name"], "deployment": deployment, "helm": counts[key], "pieces": raw_piece_count(text)})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wild", default=WILD, help="folder of real suites with suites.json (default: tests/data/wild)")
    args = parser.parse_args()
    data = pairs(args.wild)
    if data.empty:
        raise SystemExit("no request with both a prompt and HELM's per-instance num_prompt_tokens")
    errors = []
    print(f"{len(data)} prompts with HELM's own counts, {data['suite'].nunique()} suites, {data['deployment'].nunique()} deployments\n")
    print(f"{'held-out suite':28s} {'n':>4s} {'scale (others)':>15s} {'median |err|':>13s} {'p90 |err|':>10s}")
    for suite, held in data.groupby("suite"):
        others = data[data["suite"] != suite]
        scale = float(np.median(others["helm"] / others["pieces"]))
        err = np.abs(np.round(held["pieces"] * scale) / held["helm"] - 1)
        errors.append(err)
        print(f"{suite:28s} {len(held):4d} {scale:15.3f} {np.median(err):13.1%} {np.quantile(err, 0.9):10.1%}")
    pooled = np.concatenate(errors)
    print(f"\nleave-one-suite-out, pooled: median |err| {np.median(pooled):.1%}, p90 {np.quantile(pooled, 0.9):.1%}")
    print(f"scale fitted on all suites: {np.median(data['helm'] / data['pieces']):.3f}")
    print(f"shipped in helm_efficiency/request_table/tokens.py: SCALE = {SCALE}, FALLBACK_RELATIVE_ERROR = {FALLBACK_RELATIVE_ERROR}")
    print("\nper deployment (all suites, shipped scale):")
    data["err"] = np.round(data["pieces"] * SCALE) / data["helm"] - 1
    print(data.groupby("deployment")["err"].agg(n="size", median="median", p90=lambda e: np.quantile(np.abs(e), 0.9)).to_string(float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
