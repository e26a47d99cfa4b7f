"""Build the served tables (read by `helm_efficiency/tables/served.py`, which describes them) with
AIConfigurator's aggregated (in-flight batching) search of every registry model on each
simulated stack, at the stored grid of request shapes (`sources/served.py`).

    python -m helm_efficiency.builders.served --stack h100-trtllm -j 2            # build one stack
    python -m helm_efficiency.builders.served --stack h100-trtllm --models meta/llama-3-8b --out-dir /tmp/t

Needs the `build` extra (aiconfigurator-core). A rebuild is byte-identical (tests/test_served.py).
"""

import argparse
import io
import json
import os
import re
import time
import zipfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

from helm_efficiency.analytic.architecture import architecture_from_config
from helm_efficiency.analytic.architecture import context_window as config_context_window
from helm_efficiency.analytic.hardware import require_hardware_spec
from helm_efficiency.analytic.registry import load_registry, registry_name
from helm_efficiency.analytic.transfer import tensor_parallel_for
from helm_efficiency.errors import EfficiencyInputError
from helm_efficiency.sources.served import (MAX_GPU_FACTOR, MAX_STORED_TPOT_MS, MAX_STORED_TTFT_MS, NODE_GPUS, SEARCH,
                                            SERVED_OUTPUT_TOKENS, SERVED_PROMPT_TOKENS, STORED_FIELDS, THIN_TOLERANCE, best_point,
                                            parse_shape_key, placement_label, point_from_row, served_shapes, simulate_served)
from helm_efficiency.tables.served import HEADER_MEMBER, SCHEMA_VERSION, entry_member
from helm_efficiency.tables.sla import DEFAULT_SLA
from helm_efficiency.util.atomic import write_bytes_atomic
from helm_efficiency.util.data_paths import SERVED_DIR, served_table_path
from helm_efficiency.util.executors import map_ordered

CREDIT = "NVIDIA AIConfigurator (aiconfigurator-core, Apache-2.0) measured-kernel simulation, aggregated (in-flight batching) search"


Simulated = Tuple[str, str, Optional[Dict[str, Any]], Optional[str]]  # what `_simulate` returns for one pair


def _simulate(job: Tuple[str, str]) -> Simulated:
    """(stack, model, entry or None, reason or None) for one pair: the simulator's aggregated
    search at every stored shape and placement."""
    from helm_efficiency.sources.aiconfigurator import STACKS  # the simulator (the `build` extra)

    stack_name, key = job
    reference = STACKS[stack_name]
    entry = load_registry()[key]
    window = config_context_window(entry["config"])
    try:
        arch = architecture_from_config(entry["config"], f"registry {key}")
        base = int(tensor_parallel_for(arch, require_hardware_spec(reference.hardware)))
        points, provenance, refused, tried = simulate_served(
            entry["config"], key, reference, base, entry.get("hf_id"), f"registry {key}", moe=bool(arch.get("num_experts")),
            shapes=served_shapes(context_window=window[1] if window else None))
    except EfficiencyInputError as e:
        return stack_name, key, None, e.problem
    except Exception as e:  # the simulator failing in a way it does not name
        return stack_name, key, None, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
    if not any(points.values()):
        return stack_name, key, None, "the aggregated search found no point that fits in memory: " + "; ".join(f"{k}: {v}" for k, v in refused.items())
    operating = {}
    for shape, rows in points.items():
        best = best_point([point_from_row(r, *parse_shape_key(shape)) for r in rows], DEFAULT_SLA.ttft_s, DEFAULT_SLA.tpot_ms)
        operating[shape] = (f"no point meets {DEFAULT_SLA}" if best is None else
                            placement_label(best["tp"], best["pp"], best["ep"]) + f": batch {best['batch_size']}, "
                            f"{best['gpu_s_per_request']:.5g} GPU-s per request")
    return stack_name, key, {
        "gpus_batch1": base,
        "placements_tried": tried,
        "refused": refused,
        "context_window": window[1] if window else None,
        "config": provenance["config"],
        "mapped_from": provenance["mapped_from"],
        "operating_points": operating,
        "points": points,
    }, None


def build_stack(stack_name: str, results: Sequence[Simulated], out_dir: str = SERVED_DIR) -> str:
    from helm_efficiency.sources.aiconfigurator import STACKS, backend_version, simulator_version  # the simulator

    reference = STACKS[stack_name]
    entries = {key: e for stack, key, e, _ in results if stack == stack_name and e is not None}
    not_served = {key: r for stack, key, _, r in results if stack == stack_name and r is not None}
    table = {
        "schema_version": SCHEMA_VERSION,
        "kind": "served",
        "name": stack_name,
        "description": (f"{reference.system} {reference.software} bf16, aggregated in-flight batching: the throughput-optimal "
                        f"operating points per model and request shape under a latency target, simulated by AIConfigurator"),
        "source": f"{CREDIT}: {reference.system}, {reference.backend}",
        "provenance": {
            "package": "aiconfigurator-core",
            "package_version": simulator_version(),
            "system": reference.system,
            "hardware": reference.hardware,
            "backend": reference.backend,
            "backend_version": backend_version(reference.system, reference.backend),
            "dtype": "bf16",
            "database_mode": "measured kernels",
            "serving": (f"aggregated (in-flight batching), one replica; GPUs per replica: the batch-1 count and up to "
                        f"{MAX_GPU_FACTOR}x it, tensor parallel within a {NODE_GPUS}-GPU node, pipeline parallel across nodes "
                        f"(at most twice the nodes the weights need); disaggregated prefill/decode not searched"),
            "kv_cache": "each request in flight holds its whole KV cache (p + o tokens), which limits the batch",
            "search": {k: (str(v) if isinstance(v, float) else v) for k, v in SEARCH.items()},
            "command": ["python", "-m", "helm_efficiency.builders.served", "--stack", stack_name],
        },
        "prompt_tokens": list(SERVED_PROMPT_TOKENS),
        "output_tokens": list(SERVED_OUTPUT_TOKENS),
        "default_sla": {"tpot_ms": DEFAULT_SLA.tpot_ms, "ttft_s": DEFAULT_SLA.ttft_s},
        "stored": {"thin_tolerance": THIN_TOLERANCE, "max_ttft_ms": MAX_STORED_TTFT_MS, "max_tpot_ms": MAX_STORED_TPOT_MS,
                   "note": "points[shape 'PxO']: per placement tried, the Pareto set (GPU-s per request, TTFT, TPOT, running "
                           "batch), thinned so any latency target and batch cap is answered on each placement within "
                           "thin_tolerance of the full sweep's best there, never below it; shapes: every grid (P, O) a cell "
                           "of which holds requests within the model's context window"},
        "columns": list(STORED_FIELDS),
        "not_served": dict(sorted(not_served.items())),
        "entries": dict(sorted(entries.items())),
    }
    os.makedirs(out_dir, exist_ok=True)
    path = served_table_path(stack_name, out_dir)
    write_bytes_atomic(path, encode_table(table))
    return f"{stack_name}: {len(entries)} models served, {len(not_served)} not placed -> {path} ({os.path.getsize(path) / 1e6:.2f} MB)"


def encode_table(table: Dict[str, Any]) -> bytes:
    """The table's bytes: a zip archive (data_paths.SERVED_TABLE_SUFFIX) of HEADER_MEMBER,
    the table with `entries` as the list of model names, and `entry_member(model)` per model,
    each `dumps_table` JSON, deflated, with fixed times and permissions in a fixed order (so a
    rebuild is byte-identical)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        def add(name: str, obj: Any) -> None:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type, info.external_attr, info.create_system = zipfile.ZIP_DEFLATED, 0o644 << 16, 3  # 3: Unix, on any OS
            archive.writestr(info, dumps_table(obj).encode("utf-8"), compresslevel=9)

        add(HEADER_MEMBER, dict(table, entries=list(table["entries"])))
        for model, entry in table["entries"].items():
            add(entry_member(model), entry)
    return buffer.getvalue()


def dumps_table(table: Dict[str, Any]) -> str:
    """JSON with one line per stored point (before compression: readable when decompressed)."""
    text = json.dumps(table, indent=1, sort_keys=False)
    # collapse innermost lists of numbers onto one line
    text = re.sub(r"\[\s*([-0-9.eE+,\s]+?)\s*\]", lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    return text + "\n"


def build(stacks: Sequence[str], out_dir: str = SERVED_DIR, models: Optional[Sequence[str]] = None, jobs: int = 1,
          progress: bool = True) -> List[str]:
    registry = load_registry()
    if models:
        keys = []
        for m in models:
            k = registry_name(m)
            if k is None:
                raise EfficiencyInputError("--models", "models", f"{m!r} is not in the architecture registry")
            keys.append(k)
        keys = sorted(set(keys))
    else:
        keys = [k for k in sorted(registry) if not k.startswith("test/")]
    pairs = [(stack, key) for stack in stacks for key in keys]
    results: List[Simulated] = map_ordered(_simulate, pairs, jobs, "simulating served points" if progress else "", unit="model")
    return [build_stack(stack, results, out_dir) for stack in stacks]


def main(argv: Optional[Sequence[str]] = None) -> None:
    from helm_efficiency.sources.aiconfigurator import STACKS  # the simulator

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", action="append", choices=sorted(STACKS), help="stack to build (repeatable; default: every simulated stack)")
    parser.add_argument("--models", nargs="+", help="registry keys, HELM names or HF ids (default: every registry model)")
    parser.add_argument("--out-dir", default=SERVED_DIR)
    parser.add_argument("-j", "--jobs", type=int, default=1, help="worker processes")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    started = time.time()
    for stack_name in args.stack or list(STACKS):
        t0 = time.time()
        for line in build([stack_name], args.out_dir, args.models, args.jobs, progress=not args.no_progress):
            print(f"{line} ({time.time() - t0:.0f} s)", flush=True)
    print(f"all done in {time.time() - started:.0f} s")


if __name__ == "__main__":
    from helm_efficiency.util.reproducible import rerun_with_float_env

    rerun_with_float_env()  # the same bytes on x86-64 CPUs with AVX2 (util/reproducible.py)
    main()
