"""Regenerate the shipped CPU reference table for the demo's models by profiling them here.

    python -m helm_efficiency.builders.cpu

Equivalent to running `helm-efficiency profile --arch NAME --device cpu --hardware cpu ...`
for each demo model, then `helm-efficiency calibrate` on the result.
"""

import argparse
import os

import pandas as pd

from helm_efficiency.profiling.profile_cmd import demo_model_configs, profile
from helm_efficiency.tables.calibrate import calibrate_table
from helm_efficiency.util.data_paths import DATA_DIR, table_path

PROMPTS = (1, 128, 256, 512, 768, 1024, 1536)
OUTPUTS = (1, 16, 64, 256)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default=DATA_DIR)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    frames = [
        profile(None, name, device="cpu", dtype="fp32", prompts=PROMPTS, outputs=OUTPUTS, repeats=args.repeats, warmup=2, hardware="cpu")
        for name in demo_model_configs()
    ]
    measurements = pd.concat(frames, ignore_index=True)
    measurements.to_csv(os.path.join(args.out_dir, "cpu_measurements.csv"), index=False)
    aliases = {f"huggingface/{name}": name for name in demo_model_configs()}
    table = calibrate_table(
        measurements,
        name="cpu",
        source="helm-efficiency profile on a 2-core x86-64 CPU (fp32, batch 1), demo models",
        aliases=aliases,
        description="CPU reference stack for the demo's random-weight models (torch inference_mode, SDPA, KV cache)",
        command=["python", "-m", "helm_efficiency.builders.cpu"],
    )
    table.save(table_path("cpu", args.out_dir))
    print(f"wrote cpu.json with {len(table.entries)} entries")


if __name__ == "__main__":
    main()
