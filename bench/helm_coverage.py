"""How many of the installed HELM's open-weight text models get an idealized number, and how.

    python bench/helm_coverage.py                  # the default stack (h100-trtllm)
    python bench/helm_coverage.py --table a100     # the paper's Megatron A100 table, for comparison

Every open-weight text model in crfm-helm's model_metadata.yaml (each name once) is estimated
at p = 512, o = 32 through the same resolution chain the metric, `estimate` and `rescore` use.
Prints the count and share per method, for all models and for those released since 2024, and
the leave-one-model-out error of the size_only fallback on this stack (the spread its 90%
interval is built from), and its error on the stack's simulated mixtures of experts priced from
their total and active sizes, against pricing them as dense models of their total size. The error of `calibrated` and `transfer` on the stack is measured by
bench/simulated_calibration.py. Then the served numbers of the same requests on the first table's
served stack, as the metric prices them (pricing/efficiency.served_columns): how many are priced,
by the stack's simulated models, or from them by transfer (a refused architecture) or by size (a
model known only by its parameter count; tables/served_transfer.py, whose errors are in
tables/data/served/served_transfer.json), against how many the simulated models alone price.
"""

import argparse
import datetime
import time
from typing import Any, Sequence

import numpy as np
import pandas as pd

from helm_efficiency.analytic.size_only import SizeOnlyModel
from helm_efficiency.pricing.estimate import estimate_idealized, load_tables
from helm_efficiency.tables.corrected_entry import simulated_entries
from helm_efficiency.helm_io.catalog import Catalog
from helm_efficiency.stacks import DEFAULT_TABLE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", action="append", help=f"tables searched in order (default: {DEFAULT_TABLE})")
    parser.add_argument("--show", action="store_true", help="list every model with its method")
    args = parser.parse_args()
    started = time.time()
    tables = load_tables(args.table or [DEFAULT_TABLE])
    models = Catalog().open_text_models()
    requests = pd.DataFrame({"model": [m["name"] for m in models], "num_prompt_tokens": 512, "num_output_tokens": 32})
    out = estimate_idealized(requests, tables, name_columns=("model",))
    out["method"] = out["method"].fillna("not estimated")
    out["since_2024"] = [str(m.get("release_date") or "") >= str(datetime.date(2024, 1, 1)) for m in models]
    if args.show:
        print(out[["model", "method", "idealized_runtime_s", "unestimated_reason"]].to_string(index=False))
    print(f"tables: {', '.join(t.name for t in tables)}; p = 512, o = 32")
    for label, rows in (("all", out), ("released since 2024", out[out["since_2024"]])):
        counts = rows["method"].value_counts()
        estimated = rows["idealized_runtime_s"].notna().sum()
        parts = ", ".join(f"{method} {n} ({n / len(rows):.0%})" for method, n in counts.items())
        print(f"{label}: {estimated} of {len(rows)} estimated ({estimated / len(rows):.1%}); {parts}")
    simulated = simulated_entries(tables[0].entries)  # what estimate.size_only_entry fits (the correction is applied after)
    size_only = SizeOnlyModel().fit(simulated, source=tables[0].name)
    errors = np.abs(np.exp(size_only.loo_log_errors_) - 1) * 100
    print(f"size_only on {tables[0].name}, leaving each of {len(size_only.models_)} dense models out: median {np.median(errors):.1f}%, "
          f"p90 {np.percentile(errors, 90):.1f}%; its 90% interval is x/÷ {np.exp(size_only.half_width_):.2f}")
    moe_view(size_only, simulated)
    served_view(out, tables[0].name)
    print(f"({time.time() - started:.0f} s)")


def moe_view(size_only: SizeOnlyModel, entries: Sequence[Any]) -> None:
    """size_only's error on the stack's simulated mixtures of experts, priced from their total and
    active sizes (what a mixture of experts known only by its sizes gets), against pricing them as
    dense models of their total size (what it got before active sizes were read)."""
    if not size_only.moe_models_:
        print("size_only for mixtures of experts: the stack simulates none")
        return
    as_dense = size_only.moe_errors([e for e in entries if e.model in size_only.moe_models_], as_dense=True)
    moe, dense = (np.abs(np.expm1(e)) * 100 for e in (size_only.moe_log_errors_, as_dense))
    band = f"x/÷ {np.exp(size_only.moe_half_width_):.2f}" if size_only.prices_moe() else "none (too few models: not priced)"
    print(f"size_only for mixtures of experts (total and active size), on {len(size_only.moe_models_)} simulated ones: median {np.median(moe):.1f}%, "
          f"p90 {np.percentile(moe, 90):.1f}%, signed median {np.median(np.expm1(size_only.moe_log_errors_)):+.1%}; 90% interval {band}; "
          f"as dense models of their total size: median {np.median(dense):.1f}%, p90 {np.percentile(dense, 90):.1f}%, "
          f"signed median {np.median(np.expm1(as_dense)):+.1%}")


def served_view(priced: pd.DataFrame, stack: str) -> None:
    """Served coverage of the requests priced at batch 1, on `stack`'s served table, by method."""
    from helm_efficiency.pricing.efficiency import served_columns
    from helm_efficiency.tables.served import has_served_table

    if not has_served_table(stack):
        print(f"served: {stack} has no served table")
        return
    served = served_columns(priced, stack)
    method = served["served_method"].where(served["served_gpu_s"].notna(), "not priced").str.replace(r"^(transfer|size_only) from .*", r"\1", regex=True)
    counts = method.value_counts()
    simulated = int(counts.get("simulated", 0))
    print(f"served on {stack} (p = 512, o = 32, default target): {int(served['served_gpu_s'].notna().sum())} of {len(served)} priced "
          f"({served['served_gpu_s'].notna().mean():.1%}); " + ", ".join(f"{m} {n}" for m, n in counts.items())
          + f"; by the simulated models alone: {simulated} ({simulated / len(served):.1%})")


if __name__ == "__main__":
    main()
